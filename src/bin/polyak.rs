use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = polyak::cli::Cli::parse();
    match polyak::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Output piped into `head` that stopped reading: end quietly, as Unix tools do.
        Err(e) if polyak::cli::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
