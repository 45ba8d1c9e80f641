//! Helpers shared by the integration tests.

/// metrics.csv without the wall-clock columns (`wall_time`, `sps`): what must reproduce exactly.
pub fn metrics_without_clock(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap_or("").split(',').collect();
    let clock: Vec<usize> =
        header.iter().enumerate().filter(|(_, h)| ["wall_time", "sps"].contains(h)).map(|(i, _)| i).collect();
    assert_eq!(clock.len(), 2, "metrics.csv header {header:?}");
    text.lines()
        .map(|l| {
            l.split(',').enumerate().filter(|(i, _)| !clock.contains(i)).map(|(_, c)| c).collect::<Vec<_>>().join(",")
        })
        .collect()
}
