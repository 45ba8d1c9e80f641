//! Crash-safe file writes, and the fault injection that tests them.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Test hook, read once from the `POLYAK_FAILPOINT` environment variable (unset in normal use):
/// `crash:N` aborts the process at the N-th crash point — the moments inside a checkpoint write
/// where a `kill -9` or power cut could land — and `enospc:N` makes the N-th atomic write fail
/// with "No space left on device" after half of its bytes. The resume tests loop N over every
/// point of a run.
fn failpoint() -> Option<(&'static str, u64)> {
    static PARSED: OnceLock<Option<(&'static str, u64)>> = OnceLock::new();
    *PARSED.get_or_init(|| {
        let spec = std::env::var("POLYAK_FAILPOINT").ok()?;
        let (kind, n) = spec.split_once(':')?;
        let kind = ["crash", "enospc"].into_iter().find(|k| *k == kind)?;
        Some((kind, n.parse().ok()?))
    })
}

/// Counts this point if the `kind` failpoint is armed; true when it is the N-th.
fn hits(kind: &str, counter: &AtomicU64) -> bool {
    match failpoint() {
        Some((k, n)) if k == kind => counter.fetch_add(1, Ordering::SeqCst) + 1 == n,
        _ => false,
    }
}

/// A moment where a crash must leave the run resumable (see [`failpoint`]).
pub fn crash_point() {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    if hits("crash", &COUNT) {
        std::process::abort();
    }
}

fn injected_enospc() -> std::io::Result<()> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    if hits("enospc", &COUNT) {
        return Err(std::io::Error::from_raw_os_error(28));
    }
    Ok(())
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the complete new one,
/// never a torn one: write a temporary file in the same directory, fsync it, rename it over
/// `path`, then fsync the directory so the rename itself survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        f.write_all(head)?;
        injected_enospc()?;
        crash_point();
        f.write_all(tail)?;
        crash_point();
        f.sync_all()?;
        drop(f);
        crash_point();
        std::fs::rename(&tmp, path)?;
        crash_point();
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Removes the temporaries of checkpoint writes a crash interrupted in `dir`:
/// `.<name>.safetensors.tmp-<pid>`, as [`write_atomic`] names them, and nothing else (a user's
/// `.notes.tmp-1` stays). Only a run's own `checkpoints/` folders are cleaned, by the process
/// that holds the run's lock.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(is_checkpoint_temporary) && path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Whether `name` is `.<name>.safetensors.tmp-<pid>`.
pub(crate) fn is_checkpoint_temporary(name: &str) -> bool {
    let Some((file, pid)) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-")) else { return false };
    let stem = file.strip_suffix(".safetensors").unwrap_or("");
    !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_checkpoint_temporaries_count_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let stale = [".resume.safetensors.tmp-4242", ".000000000000-000000001000.safetensors.tmp-7"];
        let kept = [
            ".notes.tmp-1",
            "resume.safetensors.tmp-12",
            ".resume.safetensors.tmp-",
            ".resume.safetensors.tmp-12x",
            "..safetensors.tmp-3",
            "final.safetensors",
        ];
        for name in stale.iter().chain(&kept) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join(".d.safetensors.tmp-5")).unwrap();
        remove_stale_temporaries(dir.path());
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).chain([".d.safetensors.tmp-5".into()]).collect();
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.bin"), b"x").unwrap_err().to_string();
        assert!(err.contains("/nonexistent-dir/x.bin"), "{err}");
    }
}
