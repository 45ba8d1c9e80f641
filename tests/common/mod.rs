//! Helpers shared by the integration tests.

/// metrics.csv without the wall-clock columns (`wall_time`, `sps`): what must reproduce exactly.
pub fn metrics_without_clock(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            [&cells[..1], &cells[3..]].concat().join(",")
        })
        .collect()
}
