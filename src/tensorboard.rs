//! TensorBoard event files (scalars), written next to `metrics.csv` so `tensorboard --logdir`
//! works on a run or a sweep directory.
//!
//! No maintained Rust crate writes the format without pulling in a protobuf toolchain, and it
//! is small: a file of records, each `u64 length (LE) · u32 masked CRC32C of the length · the
//! bytes · u32 masked CRC32C of the bytes`, where the bytes are a serialised
//! `tensorflow.Event { double wall_time = 1; int64 step = 2; string file_version = 3;
//! Summary summary = 5 }` with `Summary { repeated Value value = 1 }` and
//! `Value { string tag = 1; float simple_value = 2 }`. `scripts/checks/tensorboard.sh` reads
//! polyak's files back with TensorBoard's own reader.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// CRC-32C (Castagnoli), reflected, as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    !data.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8))
}

/// TFRecord's masking of stored CRCs.
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xA282_EAD8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u64, wire: u64, out: &mut Vec<u8>) {
    varint((field << 3) | wire, out);
}

fn bytes_field(field: u64, data: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// A serialised `Event` with scalar summaries (or the file-version header when `scalars` is
/// empty and `version` is given).
pub fn event(wall_time: f64, step: i64, scalars: &[(String, f32)], version: Option<&str>) -> Vec<u8> {
    let mut e = Vec::new();
    key(1, 1, &mut e);
    e.extend_from_slice(&wall_time.to_le_bytes());
    key(2, 0, &mut e);
    varint(step as u64, &mut e);
    if let Some(v) = version {
        bytes_field(3, v.as_bytes(), &mut e);
    }
    if !scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in scalars {
            let mut v = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut v);
            key(2, 5, &mut v);
            v.extend_from_slice(&value.to_le_bytes());
            bytes_field(1, &v, &mut summary);
        }
        bytes_field(5, &summary, &mut e);
    }
    e
}

/// One TFRecord.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut r = Vec::with_capacity(data.len() + 16);
    r.extend_from_slice(&len);
    r.extend_from_slice(&masked_crc(&len).to_le_bytes());
    r.extend_from_slice(data);
    r.extend_from_slice(&masked_crc(data).to_le_bytes());
    r
}

/// The TensorBoard tag of a `metrics.csv` column.
fn tag(column: &str) -> Option<String> {
    Some(match column {
        "step" | "wall_time" | "episode" => return None,
        "sps" => "perf/env_steps_per_s".into(),
        "episode_return" => "train/episode_return".into(),
        "episode_length" => "train/episode_length".into(),
        "eval_mean" => "eval/mean_return".into(),
        "eval_std" => "eval/std_return".into(),
        "critic_loss" => "loss/critic".into(),
        "actor_loss" => "loss/actor".into(),
        "alpha" => "train/alpha".into(),
        "mean_q" => "train/mean_q".into(),
        term => format!("reward_terms/{term}"),
    })
}

/// The scalars of one `metrics.csv` row: (step, [(tag, value)]) for its non-empty cells.
pub fn scalars_of_row(header: &[&str], line: &str) -> (i64, Vec<(String, f32)>) {
    let mut step = 0;
    let mut out = Vec::new();
    for (col, cell) in header.iter().zip(line.split(',')) {
        let Ok(v) = cell.parse::<f64>() else { continue };
        if *col == "step" {
            step = v as i64;
        } else if let Some(t) = tag(col) {
            out.push((t, v as f32));
        }
    }
    (step, out)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Appends events to one file in a run directory.
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// Starts the event file `path` (a run's [`crate::rundir::RunDir::tensorboard`]) afresh from
    /// the metrics text written so far (a resumed run rewrites it, so rows the interrupted
    /// process logged after its last checkpoint do not appear twice).
    pub fn create(path: &Path, metrics_text: &str) -> Result<Self> {
        let path = path.to_path_buf();
        let mut bytes = record(&event(unix_now(), 0, &[], Some("brain.Event:2")));
        let mut lines = metrics_text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        for line in lines {
            let (step, scalars) = scalars_of_row(&header, line);
            bytes.extend(record(&event(unix_now(), step, &scalars, None)));
        }
        crate::fsutil::write_atomic(&path, &bytes)?;
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(EventWriter { path, file })
    }

    /// Logs one `metrics.csv` row.
    pub fn row(&mut self, header: &[&str], line: &str) -> Result<()> {
        let (step, scalars) = scalars_of_row(header, line);
        let r = record(&event(unix_now(), step, &scalars, None));
        self.file.write_all(&r).and_then(|_| self.file.flush()).map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // RFC 3720 / the CRC catalogue: CRC-32C("123456789") = 0xE3069283.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn event_encoding_matches_hand_assembled_protobuf() {
        let e = event(1.5, 300, &[("a".into(), 2.0)], None);
        let mut want = vec![0x09];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 0xAC, 0x02]); // step 300 as a varint
                                                     // summary (field 5) { value (field 1) { tag "a"; simple_value 2.0 } }
                                                     // Value = tag (3 bytes) + float (5 bytes) = 8; Summary = 2 + 8 = 10.
        want.extend_from_slice(&[0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, b'a', 0x15]);
        want.extend_from_slice(&2.0f32.to_le_bytes());
        assert_eq!(e, want);
    }

    #[test]
    fn records_frame_with_masked_crcs_and_rows_map_to_tags() {
        let r = record(b"xyz");
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), masked_crc(&3u64.to_le_bytes()));
        assert_eq!(&r[12..15], b"xyz");
        let header = ["step", "wall_time", "episode_return", "eval_mean", "reward_ctrl"];
        let (step, s) = scalars_of_row(&header, "500,1.2,-3.5,,0.25");
        assert_eq!(step, 500);
        assert_eq!(s, vec![("train/episode_return".to_string(), -3.5), ("reward_terms/reward_ctrl".to_string(), 0.25)]);
    }
}
