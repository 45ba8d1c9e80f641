//! `cargo bench`: gradient updates/s and env steps/s — the same report as `polyak bench`.
//! Figures and how they compare with PyTorch: README, "Speed".

fn main() -> polyak::Result<()> {
    polyak::bench::print_report(std::env::args().any(|a| a == "--quick"), false)
}
