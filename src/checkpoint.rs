//! Checkpoints: an agent's learned state — and, for resume files, a whole run's — in one
//! safetensors file.
//!
//! Format (version 1): a standard safetensors file (readable by the `safetensors` Python
//! package), every tensor 1-D, `F32` for numbers and `U8` for opaque bytes. An agent's tensors
//! are named as the agent names them — `actor`, `actor_target`, `critic{i}`, `critic{i}_target`,
//! `log_alpha`, and `<net>.adam_m` / `<net>.adam_v` for the Adam moments. A network tensor is the
//! MLP's flat parameter vector: per layer `W` (`in × out`, row-major) then `b`. The string
//! metadata holds `format = "polyak-checkpoint"`, `format_version`, the run's `config` (TOML),
//! `step`, `episodes`, integer state as `counter.<name>` (update count, Adam step counts, the
//! update-noise generator), and `crc32`, a checksum over all tensors and metadata, verified on
//! load. Names starting with `run.` or `replay.` belong to the training loop's resume state
//! (see [`crate::train`]); restoring an agent ignores them.

use crate::algo::{Agent, StateVisitor};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const FORMAT: &str = "polyak-checkpoint";
pub const FORMAT_VERSION: u32 = 1;

/// A checkpoint read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Metadata other than the format, counters and checksum (e.g. `config`, `step`).
    pub info: BTreeMap<String, String>,
    pub counters: BTreeMap<String, u64>,
    pub tensors: BTreeMap<String, Vec<f32>>,
    /// `U8` tensors: opaque state such as an env snapshot or text.
    pub bytes: BTreeMap<String, Vec<u8>>,
}

/// Entries of the training loop's resume state, which an agent does not own.
fn is_loop_state(name: &str) -> bool {
    name.starts_with("run.") || name.starts_with("replay.")
}

impl Checkpoint {
    /// Captures an agent's state, with run information (`config`, `step`, …).
    pub fn from_agent(agent: &mut dyn Agent, info: BTreeMap<String, String>) -> Self {
        let (tensors, counters) = crate::algo::state_of(agent);
        Checkpoint { info, counters, tensors, bytes: BTreeMap::new() }
    }

    /// Writes the checkpoint atomically (see [`write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// The file's bytes: the same state always gives the same bytes (metadata and tensors in
    /// name order), so identical runs leave identical checkpoint files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let floats: Vec<Vec<u8>> =
            self.tensors.values().map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
        let f32s = self.tensors.keys().zip(&floats).map(|(n, b)| (n.as_str(), "F32", b.len() / 4, b.as_slice()));
        let u8s = self.bytes.iter().map(|(n, b)| (n.as_str(), "U8", b.len(), b.as_slice()));
        let entries: Vec<(&str, &str, usize, &[u8])> = f32s.chain(u8s).collect();
        let mut meta = self.metadata();
        let crc = checksum(&meta, entries.iter().map(|&(n, _, _, b)| (n, b)));
        meta.insert("crc32".into(), format!("{crc:08x}"));
        encode_safetensors(&meta, &entries)
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        let mut meta = self.info.clone();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("format_version".into(), FORMAT_VERSION.to_string());
        for (k, v) in &self.counters {
            meta.insert(format!("counter.{k}"), v.to_string());
        }
        meta
    }

    /// Reads and verifies a checkpoint; a truncated, corrupt or foreign file is a clear error.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses checkpoint bytes (read from `path`, which errors name). Never panics on malformed
    /// input.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::checkpoint(path, msg);
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a valid safetensors file (truncated or corrupt?): {e}")))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
        let mut meta: BTreeMap<String, String> =
            header.metadata().clone().unwrap_or_default().into_iter().collect::<HashMap<_, _>>().into_iter().collect();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad("not a polyak checkpoint (no `format = polyak-checkpoint` metadata)".into()));
        }
        let version = meta.get("format_version").cloned().unwrap_or_default();
        if version != FORMAT_VERSION.to_string() {
            return Err(bad(format!("format version {version:?}; this build reads version {FORMAT_VERSION}")));
        }
        let stored_crc = meta.remove("crc32").ok_or_else(|| bad("no crc32 checksum in metadata".into()))?;
        let (mut raw_f32, mut raw_u8) = (BTreeMap::new(), BTreeMap::new());
        for (name, view) in st.tensors() {
            match view.dtype() {
                Dtype::F32 => raw_f32.insert(name, view.data()),
                Dtype::U8 => raw_u8.insert(name, view.data()),
                other => return Err(bad(format!("tensor `{name}` has dtype {other:?}, expected F32 or U8"))),
            };
        }
        let raw = raw_f32.iter().chain(&raw_u8).map(|(n, b)| (n.as_str(), *b));
        let crc = format!("{:08x}", checksum(&meta, raw));
        if crc != stored_crc {
            return Err(bad(format!("checksum mismatch (stored {stored_crc}, computed {crc}): the file is corrupt")));
        }
        let to_f32 = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let tensors = raw_f32.into_iter().map(|(n, b)| (n, to_f32(b))).collect();
        let bytes_map = raw_u8.into_iter().map(|(n, b)| (n, b.to_vec())).collect();
        let mut counters = BTreeMap::new();
        let mut info = BTreeMap::new();
        for (k, v) in meta {
            if let Some(name) = k.strip_prefix("counter.") {
                let value = v.parse().map_err(|_| bad(format!("counter `{name}` is not an integer: {v:?}")))?;
                counters.insert(name.to_string(), value);
            } else if k != "format" && k != "format_version" {
                info.insert(k, v);
            }
        }
        Ok(Checkpoint { info, counters, tensors, bytes: bytes_map })
    }

    /// Loads this state into `agent`, which must have been built with the same shapes. Every
    /// name and size is checked before anything is written: on an error the agent is unchanged.
    pub fn restore(&self, agent: &mut dyn Agent, path: &Path) -> Result<()> {
        let err = |msg: String| Error::checkpoint(path, msg);
        let (tensors, counters) = crate::algo::state_of(agent);
        if let Some(name) = self.tensors.keys().find(|n| !is_loop_state(n) && !tensors.contains_key(*n)) {
            return Err(err(format!("unexpected tensor `{name}`: a different algorithm?")));
        }
        if let Some(name) = self.counters.keys().find(|n| !is_loop_state(n) && !counters.contains_key(*n)) {
            return Err(err(format!("unknown counter `{name}`")));
        }
        for (name, dst) in &tensors {
            let src = self
                .tensors
                .get(name)
                .ok_or_else(|| err(format!("missing tensor `{name}`: a different algorithm?")))?;
            if src.len() != dst.len() {
                return Err(err(format!(
                    "tensor `{name}` has {} values, the network {}: a different network shape?",
                    src.len(),
                    dst.len()
                )));
            }
        }
        if let Some(name) = counters.keys().find(|n| !self.counters.contains_key(*n)) {
            return Err(err(format!("missing counter `{name}`")));
        }
        struct Write<'a>(&'a Checkpoint);
        impl StateVisitor for Write<'_> {
            fn tensor(&mut self, name: &str, values: &mut [f32]) {
                values.copy_from_slice(&self.0.tensors[name]);
            }
            fn counter(&mut self, name: &str, value: &mut u64) {
                *value = self.0.counters[name];
            }
        }
        agent.visit_state(&mut Write(self));
        Ok(())
    }
}

/// A safetensors file (8-byte little-endian header length, JSON header, data), written here
/// rather than by the `safetensors` crate, whose metadata map has no fixed order. F32 tensors
/// come first, so with the header padded to 8 bytes every tensor is aligned.
fn encode_safetensors(meta: &BTreeMap<String, String>, entries: &[(&str, &str, usize, &[u8])]) -> Vec<u8> {
    let mut header = String::from("{\"__metadata__\":{");
    let pairs: Vec<String> = meta.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect();
    header.push_str(&pairs.join(","));
    header.push('}');
    let mut offset = 0;
    for &(name, dtype, len, data) in entries {
        let end = offset + data.len();
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"{dtype}\",\"shape\":[{len}],\"data_offsets\":[{offset},{end}]}}",
            json_string(name)
        ));
        offset = end;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = Vec::with_capacity(8 + header.len() + offset);
    file.extend((header.len() as u64).to_le_bytes());
    file.extend(header.as_bytes());
    for &(_, _, _, data) in entries {
        file.extend(data);
    }
    file
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// CRC32 over metadata (sorted `key=value` lines), then the tensors — `F32` ones sorted by
/// name, then `U8` ones sorted by name — each as its name and raw little-endian bytes.
fn checksum<'a>(meta: &BTreeMap<String, String>, tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (k, v) in meta.iter().filter(|(k, _)| k.as_str() != "crc32") {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    for (name, data) in tensors {
        h.update(name.as_bytes());
        h.update(data);
    }
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::{ActMode, CommonConfig, Sac, SacConfig, Td3, Td3Config};
    use crate::bench::random_batch;
    use crate::rng::Rng;
    use safetensors::tensor::TensorView;

    fn trained_sac() -> Sac {
        let common = CommonConfig { hidden: vec![32, 32], ..Default::default() };
        let mut sac = Sac::new(3, 2, &common, SacConfig::default(), 1);
        let b = random_batch(16, 3, 2, &mut Rng::new(0));
        for _ in 0..5 {
            sac.update(&b);
        }
        sac
    }

    #[test]
    fn round_trip_restores_identical_actions_and_updates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let mut sac = trained_sac();
        let info = BTreeMap::from([("step".to_string(), "5".to_string())]);
        Checkpoint::from_agent(&mut sac, info.clone()).save(&path).unwrap();
        let ckpt = Checkpoint::load(&path).unwrap();
        assert_eq!(ckpt.info, info);
        let common = CommonConfig { hidden: vec![32, 32], ..Default::default() };
        let mut fresh = Sac::new(3, 2, &common, SacConfig::default(), 99);
        ckpt.restore(&mut fresh, &path).unwrap();
        let obs = [0.3, -0.2, 0.9];
        let (mut a, mut b) = ([0.0f32; 2], [0.0f32; 2]);
        sac.act(&obs, ActMode::Deterministic, &mut Rng::new(0), &mut a);
        fresh.act(&obs, ActMode::Deterministic, &mut Rng::new(0), &mut b);
        assert_eq!(a, b);
        // Optimiser state and noise generator came along: the next update is identical too.
        let batch = random_batch(16, 3, 2, &mut Rng::new(7));
        assert_eq!(sac.update(&batch), fresh.update(&batch));
        assert_eq!(crate::algo::state_of(&mut sac), crate::algo::state_of(&mut fresh));
    }

    #[test]
    fn truncated_corrupt_and_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        Checkpoint::from_agent(&mut trained_sac(), BTreeMap::new()).save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();

        let truncated = &good[..good.len() - 100];
        let from = |b: &[u8]| Checkpoint::from_bytes(b, Path::new("c.safetensors")).map_err(|e| e.to_string());
        let err = from(truncated).unwrap_err();
        assert!(err.contains("truncated or corrupt"), "{err}");

        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        let err = from(&flipped).unwrap_err();
        assert!(err.contains("checksum mismatch"), "{err}");

        assert!(from(b"hello").is_err());
        let plain = safetensors::serialize(Vec::<(&str, TensorView)>::new(), &None).unwrap();
        assert!(from(&plain).unwrap_err().contains("not a polyak checkpoint"));

        std::fs::write(&path, truncated).unwrap();
        let err = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn restoring_into_a_different_shape_or_algorithm_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let ckpt = Checkpoint::from_agent(&mut trained_sac(), BTreeMap::new());
        let wide = CommonConfig { hidden: vec![64, 64], ..Default::default() };
        let err = ckpt.restore(&mut Sac::new(3, 2, &wide, SacConfig::default(), 0), &path).unwrap_err().to_string();
        assert!(err.contains("network shape"), "{err}");
        let small = CommonConfig { hidden: vec![32, 32], ..Default::default() };
        let mut td3 = Td3::new(3, 2, &small, Td3Config::default(), 0);
        let err = ckpt.restore(&mut td3, &path).unwrap_err().to_string();
        assert!(err.contains("different algorithm"), "{err}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = Rng::new(5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        Checkpoint::from_agent(&mut trained_sac(), BTreeMap::new()).save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for _ in 0..2000 {
            let mut bytes = good.clone();
            let n = 1 + rng.below(8) as usize;
            for _ in 0..n {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = rng.next_u64() as u8;
            }
            bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize);
            let _ = Checkpoint::from_bytes(&bytes, &path);
        }
    }
}
