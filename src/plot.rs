//! Learning-curve pictures (PNG and SVG) with plotters: one panel per env, one line per
//! algorithm/preset — the mean over seeds — with a shaded band of ± one standard deviation over
//! seeds (population std of the seeds that logged that step).

use crate::error::{Error, Result};
use crate::outputs::Outputs;
use crate::render::{font_ready, FONT_FAMILY as FAMILY};
use crate::results::{binned_episodes, curve, group, Curve, RunData};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::PathBuf;

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

/// One line of a picture with its shaded band: (x, value, band's low, band's high).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A picture: a title, axis names, and panels of lines (one panel per env, say).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    /// Whether x counts env steps (labelled 10k, 20k, …).
    pub x_steps: bool,
    pub panels: Vec<(String, Vec<Line>)>,
}

/// Every (env → label → curve) of a metric, as lines with ± 1 std bands.
fn curves(runs: &[RunData], metric: Metric) -> Vec<(String, Vec<Line>)> {
    group(runs)
        .into_iter()
        .map(|(env, labels)| {
            let total = labels.values().flatten().map(|r| r.last_step).max().unwrap_or(1);
            let lines = labels
                .into_iter()
                .map(|(label, rs)| {
                    let c: Curve = match metric {
                        Metric::Eval => curve(&rs, |r| r.evals.clone()),
                        Metric::Train => curve(&rs, |r| binned_episodes(r, total, 50)),
                    };
                    let seeds = rs.len();
                    let points = c.points.iter().map(|p| (p.step as f64, p.mean, p.mean - p.std, p.mean + p.std));
                    Line {
                        label: format!("{label} ({seeds} seed{})", if seeds == 1 { "" } else { "s" }),
                        points: points.collect(),
                    }
                })
                .filter(|l| !l.points.is_empty())
                .collect();
            (env, lines)
        })
        .collect()
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &Figure, file: &str) -> Result<()> {
    let e = |x: &dyn std::fmt::Display| Error::Invalid(format!("{file}: {x}"));
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(&fig.title, (FAMILY, 22)).map_err(|x| e(&x))?;
    let panels = &fig.panels;
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    for (area, (caption, lines)) in root.split_evenly((rows, cols)).iter().zip(panels) {
        let pts = lines.iter().flat_map(|l| l.points.iter());
        let (xmin, xmax) = pts.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (xmin, xmax) = if fig.x_steps { (0.0, xmax.max(1.0)) } else { (xmin, xmax.max(xmin + 1e-9)) };
        let (lo, hi) = pts.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.2), hi.max(p.3)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0) };
        let pad = 0.05 * (hi - lo);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xmin..xmax, (lo - pad)..(hi + pad))
            .map_err(|x| e(&x))?;
        // 1.5k, not 2k: axis ticks fall between thousands on short runs.
        let steps = |x: &f64| match x / 1000.0 {
            k if k < 1.0 => format!("{x:.0}"),
            k if (k - k.round()).abs() < 1e-9 => format!("{k:.0}k"),
            k => format!("{k:.1}k"),
        };
        let plain = |x: &f64| format!("{x:.2}");
        chart
            .configure_mesh()
            .x_desc(&fig.x_desc)
            .y_desc(&fig.y_desc)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .x_label_formatter(if fig.x_steps { &steps } else { &plain })
            .draw()
            .map_err(|x| e(&x))?;
        for (i, line) in lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let upper = line.points.iter().map(|p| (p.0, p.3));
            let lower = line.points.iter().rev().map(|p| (p.0, p.2));
            let band: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.18)))).map_err(|x| e(&x))?;
            chart
                .draw_series(LineSeries::new(line.points.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(&line.label)
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

/// Draws a figure as `<stem>.png` and `<stem>.svg` among `out`'s files; returns their paths.
pub fn draw_figure(fig: &Figure, out: &mut Outputs, stem: &str) -> Result<Vec<PathBuf>> {
    font_ready()?;
    let cols = fig.panels.len().clamp(1, 2) as u32;
    let (w, h) = (720 * cols, 60 + 480 * fig.panels.len().div_ceil(2).max(1) as u32);
    let (png, svg) = (format!("{stem}.png"), format!("{stem}.svg"));
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(), fig, &png)?;
    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(), fig, &svg)?;
    let png_bytes = encode_png(&rgb, (w, h)).map_err(|e| Error::Invalid(format!("{png}: {e}")))?;
    Ok(vec![out.add(&png, png_bytes), out.add(&svg, text.into_bytes())])
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Flat colours and lines: per-row filters chosen by the encoder make files a third the size.
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    encoder.write_header()?.write_image_data(rgb)?;
    Ok(bytes)
}

/// Whether any run has logged the quantity `metric` pictures.
pub fn has_data(runs: &[RunData], metric: Metric) -> bool {
    runs.iter().any(|r| match metric {
        Metric::Eval => !r.evals.is_empty(),
        Metric::Train => !r.episodes.is_empty(),
    })
}

/// Draws `<metric>.png` and `.svg` of the runs among `out`'s files.
pub fn plot(runs: &[RunData], out: &mut Outputs, metric: Metric) -> Result<PlotSummary> {
    let panels = curves(runs, metric);
    if panels.iter().all(|(_, l)| l.is_empty()) {
        return Err(Error::Invalid(format!("nothing to plot: no run has logged a {}", metric.axis())));
    }
    let fig = Figure {
        title: format!("{} — mean over seeds, band ± 1 std", metric.axis()),
        x_desc: "env steps".into(),
        y_desc: metric.axis().into(),
        x_steps: true,
        panels,
    };
    let files = draw_figure(&fig, out, metric.file_stem())?;
    let panels =
        fig.panels.into_iter().map(|(env, lines)| (env, lines.into_iter().map(|l| l.label).collect())).collect();
    Ok(PlotSummary { files, panels })
}
