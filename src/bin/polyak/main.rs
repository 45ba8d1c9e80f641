//! The `polyak` binary: a thin client of the library (flag parsing and printing in `cli`).

mod cli;

use clap::Parser;

/// Large buffers on cache lines (`polyak::alloc`): the same numbers, faster updates.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Output piped into `head` that stopped reading: end quietly, as Unix tools do.
        Err(e) if cli::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
