//! Pictures of an environment and videos of an agent.
//!
//! - [`Frame`]: one RGB picture, what Gymnasium's `render()` returns with
//!   `render_mode="rgb_array"`. An env draws itself ([`crate::env::Env::render`]): MuJoCo envs
//!   through MuJoCo's own renderer in a headless OpenGL context ([`gl`]), the classic-control
//!   envs with a small 2-D rasteriser ([`Canvas`]) as Gymnasium's pygame code draws them.
//! - [`Video`]: frames into an animated GIF (pure Rust) or an MP4 (H.264, through the `ffmpeg`
//!   program), written atomically.
//!
//! Playing an agent into a video is the training layer's ([`crate::train::record`]).

mod canvas;
pub mod gl;
mod video;

pub use canvas::Canvas;
pub use video::{Format, Video};

use crate::error::{Error, Result};

/// Bundled so pictures and captions look the same everywhere and need no system fonts (DejaVu
/// Sans; its licence is `assets/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
pub(crate) const FONT_FAMILY: &str = "polyak-sans";

/// Registers the bundled font with plotters (once).
pub(crate) fn font_ready() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE
        .get_or_init(|| plotters::style::register_font(FONT_FAMILY, plotters::style::FontStyle::Normal, FONT).is_ok());
    ok.then_some(()).ok_or_else(|| Error::Invalid("the bundled font could not be loaded".into()))
}

/// An RGB picture: `height` rows of `width` pixels, top row first, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A frame of one colour.
    pub fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Frame {
        Frame { width, height, rgb: rgb.repeat(width * height) }
    }

    /// A frame from rows stored bottom to top (OpenGL's order, and a canvas drawn with y up).
    pub fn from_bottom_up(width: usize, height: usize, rgb: &[u8]) -> Frame {
        let rows: Vec<u8> = rgb.chunks_exact(3 * width).rev().flatten().copied().collect();
        Frame { width, height, rgb: rows }
    }

    /// The colour at column `x`, row `y` (row 0 at the top).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Resampled to `width` × `height` by nearest neighbour (the classic envs draw at
    /// Gymnasium's fixed sizes).
    pub fn resized(&self, width: usize, height: usize) -> Frame {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let mut rgb = Vec::with_capacity(3 * width * height);
        for y in 0..height {
            let sy = (y * self.height / height).min(self.height - 1);
            for x in 0..width {
                let sx = (x * self.width / width).min(self.width - 1);
                rgb.extend_from_slice(&self.pixel(sx, sy));
            }
        }
        Frame { width, height, rgb }
    }

    /// Writes `lines` of text in the top-left corner, white on a dark band, so that a caption
    /// (the episode's return) stays readable over any scene.
    pub fn caption(&mut self, lines: &[String]) -> Result<()> {
        use plotters::prelude::*;
        if lines.is_empty() || self.width < 8 || self.height < 8 {
            return Ok(());
        }
        font_ready()?;
        let size = (self.height as f64 / 24.0).clamp(11.0, 28.0);
        let line_h = (size * 1.25).ceil() as i32;
        let (w, h) = (self.width as u32, self.height as u32);
        let text_w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * size * 0.52;
        let band = ((text_w + size) as i32).min(w as i32);
        let bottom = (line_h * lines.len() as i32 + (size * 0.5) as i32).min(h as i32);
        let fail = |e: String| Error::Invalid(format!("drawing the caption: {e}"));
        let root = BitMapBackend::with_buffer(&mut self.rgb, (w, h)).into_drawing_area();
        // Darken the band under the text by half, so the scene still shows through.
        let shade = RGBAColor(0, 0, 0, 0.55);
        root.draw(&Rectangle::new([(0, 0), (band, bottom)], shade.filled())).map_err(|e| fail(e.to_string()))?;
        let style = (FONT_FAMILY, size).into_font().color(&WHITE);
        for (i, line) in lines.iter().enumerate() {
            let at = ((size * 0.4) as i32, (size * 0.3) as i32 + line_h * i as i32);
            root.draw(&Text::new(line.as_str(), at, style.clone())).map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))
    }
}

/// Which camera draws a MuJoCo env.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Camera {
    /// The model's `track` camera where it has one (the locomotion envs: it follows the body,
    /// as Gymnasium before 1.0 drew them), otherwise [`Camera::Free`].
    #[default]
    Default,
    /// Gymnasium 1.4.0's default for `render_mode="rgb_array"`: a free camera set by the env's
    /// `default_camera_config`. It does not follow a running agent.
    Free,
    /// A camera of the model by name (Gymnasium's `camera_name`).
    Name(String),
    /// A camera of the model by id; −1 is the free camera (Gymnasium's `camera_id`).
    Id(i32),
}

impl std::str::FromStr for Camera {
    type Err = Error;
    fn from_str(s: &str) -> Result<Camera> {
        let s = s.trim();
        Ok(match s {
            "" => return Err(Error::flag("--camera", "expected a camera name, an id, `free` or `default`")),
            "default" => Camera::Default,
            "free" => Camera::Free,
            _ => match s.parse::<i32>() {
                Ok(id) => Camera::Id(id),
                Err(_) => Camera::Name(s.to_string()),
            },
        })
    }
}

/// How to draw a frame: its size (`None`: the env's default, Gymnasium's) and camera.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub width: Option<usize>,
    pub height: Option<usize>,
    pub camera: Camera,
}

impl View {
    /// The size to draw, given the env's default.
    pub fn size(&self, default: (usize, usize)) -> Result<(usize, usize)> {
        let (w, h) = (self.width.unwrap_or(default.0), self.height.unwrap_or(default.1));
        if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
            return Err(Error::flag("--width/--height", format!("{w}×{h}: each side must be 1 to 4096 pixels")));
        }
        Ok((w, h))
    }
}
