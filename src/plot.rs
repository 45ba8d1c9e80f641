//! Learning-curve pictures (PNG and SVG) with plotters: one panel per env, one line per
//! algorithm/preset — the mean over seeds — with a shaded band of ± one standard deviation over
//! seeds (population std of the seeds that logged that step).

use crate::error::{Error, Result};
use crate::results::{binned_episodes, curve, group, Curve, RunData};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Bundled so pictures look the same everywhere and need no system fonts (DejaVu Sans; its
/// licence is `assets/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "polyak-sans";

const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Which quantity a picture shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Deterministic evaluation return (`eval_mean`).
    Eval,
    /// Training-episode return, averaged in 50 windows of env steps.
    Train,
}

impl Metric {
    pub fn file_stem(self) -> &'static str {
        match self {
            Metric::Eval => "eval_return",
            Metric::Train => "train_return",
        }
    }
    pub fn axis(self) -> &'static str {
        match self {
            Metric::Eval => "eval return (deterministic)",
            Metric::Train => "training episode return",
        }
    }
}

/// What was drawn: per panel (env), the labels of its lines.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSummary {
    pub files: Vec<PathBuf>,
    pub panels: Vec<(String, Vec<String>)>,
}

fn font_ready() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(()).ok_or_else(|| Error::Invalid("the bundled font could not be loaded".into()))
}

/// Every (env → label → curve) of a metric.
fn curves(runs: &[RunData], metric: Metric) -> Vec<(String, Vec<(String, Curve)>)> {
    group(runs)
        .into_iter()
        .map(|(env, labels)| {
            let total = labels.values().flatten().map(|r| r.last_step).max().unwrap_or(1);
            let lines = labels
                .into_iter()
                .map(|(label, rs)| {
                    let c = match metric {
                        Metric::Eval => curve(&rs, |r| r.evals.clone()),
                        Metric::Train => curve(&rs, |r| binned_episodes(r, total, 50)),
                    };
                    let seeds = rs.len();
                    (format!("{label} ({seeds} seed{})", if seeds == 1 { "" } else { "s" }), c)
                })
                .filter(|(_, c)| !c.points.is_empty())
                .collect();
            (env, lines)
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[(String, Vec<(String, Curve)>)],
    metric: Metric,
    file: &Path,
) -> Result<()> {
    let e = |x: &dyn std::fmt::Display| Error::Invalid(format!("{}: {x}", file.display()));
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let title = format!("{} — mean over seeds, band ± 1 std", metric.axis());
    let root = root.titled(&title, (FAMILY, 22)).map_err(|x| e(&x))?;
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    for (area, (env, lines)) in root.split_evenly((rows, cols)).iter().zip(panels) {
        let pts = lines.iter().flat_map(|(_, c)| c.points.iter());
        let xmax = pts.clone().map(|p| p.step as f64).fold(1.0, f64::max);
        let (lo, hi) = pts
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.mean - p.std), hi.max(p.mean + p.std)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0) };
        let pad = 0.05 * (hi - lo);
        let mut chart = ChartBuilder::on(area)
            .caption(env, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..xmax, (lo - pad)..(hi + pad))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("env steps")
            .y_desc(metric.axis())
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .x_label_formatter(&|x| if *x >= 1000.0 { format!("{:.0}k", x / 1000.0) } else { format!("{x:.0}") })
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (label, c)) in lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let upper = c.points.iter().map(|p| (p.step as f64, p.mean + p.std));
            let lower = c.points.iter().rev().map(|p| (p.step as f64, p.mean - p.std));
            let band: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.18)))).map_err(|x| e(&x))?;
            let line = c.points.iter().map(|p| (p.step as f64, p.mean));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

/// Whether any run has logged the quantity `metric` pictures.
pub fn has_data(runs: &[RunData], metric: Metric) -> bool {
    runs.iter().any(|r| match metric {
        Metric::Eval => !r.evals.is_empty(),
        Metric::Train => !r.episodes.is_empty(),
    })
}

/// Writes `<out>/<metric>.png` and `.svg` for the runs.
pub fn plot(runs: &[RunData], out: &Path, metric: Metric) -> Result<PlotSummary> {
    font_ready()?;
    let panels = curves(runs, metric);
    if panels.iter().all(|(_, l)| l.is_empty()) {
        return Err(Error::Invalid(format!("nothing to plot: no run has logged a {}", metric.axis())));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let cols = panels.len().min(2) as u32;
    let size = (720 * cols, 60 + 480 * panels.len().div_ceil(2) as u32);
    let png = out.join(format!("{}.png", metric.file_stem()));
    let svg = out.join(format!("{}.svg", metric.file_stem()));
    draw(BitMapBackend::new(&png, size).into_drawing_area(), &panels, metric, &png)?;
    draw(SVGBackend::new(&svg, size).into_drawing_area(), &panels, metric, &svg)?;
    let summary = panels.into_iter().map(|(env, lines)| (env, lines.into_iter().map(|(l, _)| l).collect())).collect();
    Ok(PlotSummary { files: vec![png, svg], panels: summary })
}
