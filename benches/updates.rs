//! `cargo bench`: gradient updates/s and env steps/s — the same report as `polyak bench`.
//! Figures: README, "Speed"; how they compare with PyTorch: docs/speed.md, "Earlier measurements".

/// As the `polyak` binary: large buffers on cache lines (`polyak::alloc`), so the timings match.
#[global_allocator]
static ALLOCATOR: polyak::alloc::CacheAligned = polyak::alloc::CacheAligned;

fn main() -> polyak::Result<()> {
    polyak::bench::print_report(std::env::args().any(|a| a == "--quick"), false)
}
