use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = polyak::cli::Cli::parse();
    match polyak::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
