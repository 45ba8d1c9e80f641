//! Frames into a video file: an animated GIF (the `gif` crate, pure Rust; a palette of 256
//! colours per frame, chosen by NeuQuant) or an MP4 (H.264 by the `ffmpeg` program, fed raw
//! frames on a pipe).
//!
//! A video is written beside its destination under a temporary name and renamed into place
//! when complete (after an fsync), so a crash never leaves half a video under the real name; an
//! existing file is never replaced.

use super::Frame;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A video container, chosen by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Gif,
    Mp4,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("gif") => Ok(Format::Gif),
            Some("mp4") => Ok(Format::Mp4),
            _ => Err(Error::flag("--out", format!("{}: name a .gif or an .mp4 file", path.display()))),
        }
    }
}

/// GIF stores each frame's duration in hundredths of a second, and browsers show delays below
/// 2/100 s as 10/100 s: above 50 frames per second, only every k-th frame is kept.
const GIF_MAX_FPS: f64 = 50.0;

enum Sink {
    Gif { encoder: Option<gif::Encoder<BufWriter<File>>>, stride: usize },
    Mp4 { child: Child, stdin: Option<ChildStdin> },
}

/// A video being written.
pub struct Video {
    path: PathBuf,
    tmp: PathBuf,
    fps: f64,
    size: (usize, usize),
    sink: Sink,
    /// Frames given to [`Video::push`], and frames stored in the file.
    pushed: usize,
    stored: usize,
    /// Hundredths of a second of the GIF so far (rounded per frame so the total stays exact).
    centis: u64,
    finished: bool,
}

impl Video {
    /// Starts `path` (`.gif` or `.mp4`) at `fps` frames per second of `width` × `height`
    /// frames. An existing `path` is an error: polyak does not replace files.
    pub fn create(path: &Path, fps: f64, width: usize, height: usize) -> Result<Video> {
        let format = Format::of(path)?;
        crate::fsutil::refuse_existing(path)?;
        if !(fps.is_finite() && fps > 0.0) {
            return Err(Error::flag("--fps", format!("{fps}: expected a positive number")));
        }
        if width > u16::MAX as usize || height > u16::MAX as usize || width == 0 || height == 0 {
            return Err(Error::Invalid(format!("a {width}×{height} frame cannot be stored in a video")));
        }
        let dir = crate::fsutil::parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = crate::fsutil::temporary_for(path);
        let sink = match format {
            Format::Gif => {
                let file = File::create_new(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let start = || -> std::result::Result<_, gif::EncodingError> {
                    let mut encoder = gif::Encoder::new(BufWriter::new(file), width as u16, height as u16, &[])?;
                    encoder.set_repeat(gif::Repeat::Infinite)?;
                    Ok(encoder)
                };
                let encoder = start().map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    Error::Invalid(format!("GIF: {e}"))
                })?;
                Sink::Gif { encoder: Some(encoder), stride: (fps / GIF_MAX_FPS).ceil().max(1.0) as usize }
            }
            Format::Mp4 => {
                // Claimed first, so the temporary ffmpeg overwrites (-y) is certainly ours.
                File::create_new(&tmp).map_err(|e| Error::io(&tmp, e))?;
                let mut child = Command::new("ffmpeg")
                    .args([
                        "-hide_banner",
                        "-loglevel",
                        "error",
                        "-nostdin",
                        "-y",
                        "-f",
                        "rawvideo",
                        "-pixel_format",
                        "rgb24",
                    ])
                    .args([
                        "-video_size",
                        &format!("{width}x{height}"),
                        "-framerate",
                        &format!("{fps}"),
                        "-i",
                        "pipe:0",
                    ])
                    // yuv420p (what players expect) needs even sides: pad by one pixel if odd.
                    .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
                    .args(["-movflags", "+faststart", "-f", "mp4"])
                    .arg(&tmp)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&tmp);
                    })
                    .map_err(|e| {
                        match e.kind() {
                        std::io::ErrorKind::NotFound => Error::Invalid(
                            "writing MP4 needs the `ffmpeg` program (Debian: apt-get install ffmpeg); or write a .gif, \
                             which needs nothing"
                                .into(),
                        ),
                        _ => Error::io("ffmpeg", e),
                    }
                    })?;
                let stdin = child.stdin.take();
                Sink::Mp4 { child, stdin }
            }
        };
        Ok(Video {
            path: path.to_path_buf(),
            tmp,
            fps,
            size: (width, height),
            sink,
            pushed: 0,
            stored: 0,
            centis: 0,
            finished: false,
        })
    }

    /// Adds the next frame (of the size the video was created with).
    pub fn push(&mut self, frame: &Frame) -> Result<()> {
        if (frame.width, frame.height) != self.size {
            return Err(Error::Invalid(format!(
                "a {}×{} frame in a {}×{} video",
                frame.width, frame.height, self.size.0, self.size.1
            )));
        }
        let index = self.pushed;
        self.pushed += 1;
        match &mut self.sink {
            Sink::Gif { encoder, stride } => {
                if !index.is_multiple_of(*stride) {
                    return Ok(());
                }
                // This frame lasts until the next kept one: `stride` frames of the source.
                let end = ((self.stored + 1) as f64 * *stride as f64 * 100.0 / self.fps).round() as u64;
                let delay = end.saturating_sub(self.centis).clamp(2, u16::MAX as u64);
                self.centis += delay;
                // NeuQuant at speed 10 (of 1–30): gif's balance of palette quality and time.
                let mut f = gif::Frame::from_rgb_speed(self.size.0 as u16, self.size.1 as u16, &frame.rgb, 10);
                f.delay = delay as u16;
                let encoder = encoder.as_mut().ok_or_else(|| Error::Invalid("the GIF is already finished".into()))?;
                encoder.write_frame(&f).map_err(|e| Error::Invalid(format!("GIF: {e}")))?;
            }
            Sink::Mp4 { stdin, .. } => {
                let pipe = stdin.as_mut().ok_or_else(|| Error::Invalid("ffmpeg's input is closed".into()))?;
                if let Err(e) = pipe.write_all(&frame.rgb) {
                    return Err(self.ffmpeg_failed(Some(e)));
                }
            }
        }
        self.stored += 1;
        Ok(())
    }

    /// Frames given so far.
    pub fn frames(&self) -> usize {
        self.pushed
    }

    /// Completes the file and moves it into place; returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.pushed == 0 {
            return Err(Error::Invalid(format!("{}: no frames to write", self.path.display())));
        }
        match &mut self.sink {
            Sink::Gif { encoder, .. } => {
                let encoder = encoder.take().ok_or_else(|| Error::Invalid("the GIF is already finished".into()))?;
                let writer = encoder.into_inner().map_err(|e| Error::io(&self.tmp, e))?;
                let file = writer.into_inner().map_err(|e| Error::io(&self.tmp, e.into_error()))?;
                file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
            }
            Sink::Mp4 { child, stdin } => {
                drop(stdin.take());
                let status = child.wait().map_err(|e| Error::io("ffmpeg", e))?;
                if !status.success() {
                    return Err(self.ffmpeg_failed(None));
                }
                std::fs::File::open(&self.tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.tmp, e))?;
            }
        }
        // Nothing is ever replaced: if something appeared under the name meanwhile, the
        // temporary goes with this Video's drop.
        crate::fsutil::publish_new(&self.tmp, &self.path)?;
        self.finished = true;
        Ok(self.path.clone())
    }

    /// ffmpeg's own message, once it has exited.
    fn ffmpeg_failed(&mut self, io: Option<std::io::Error>) -> Error {
        let mut why = io.map(|e| e.to_string()).unwrap_or_default();
        if let Sink::Mp4 { child, stdin } = &mut self.sink {
            drop(stdin.take());
            let _ = child.wait();
            if let Some(mut err) = child.stderr.take() {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut text);
                if !text.trim().is_empty() {
                    why = text.trim().to_string();
                }
            }
        }
        Error::Invalid(format!("ffmpeg could not write {}: {why}", self.path.display()))
    }
}

impl Drop for Video {
    fn drop(&mut self) {
        if let Sink::Mp4 { child, stdin } = &mut self.sink {
            drop(stdin.take());
            let _ = child.wait();
        }
        if !self.finished {
            // Our own temporary, from this process: an unfinished video is not kept.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
