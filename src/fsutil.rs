//! Crash-safe file writes, and the fault injection that tests them.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
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
    let (dir, tmp) = (parent_dir(path), temporary_for(path));
    // `create_new`: the temporary is this call's own, so removing it on failure removes nothing
    // else, and a file already under that name is never truncated
    let mut f = std::fs::File::create_new(&tmp).map_err(|e| Error::io(path, e))?;
    let result = (|| {
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

/// The directory `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Where a write to `path` is made before it takes the name: `.<name>.tmp-<pid>-<n>` beside it
/// (what [`is_checkpoint_temporary`] recognises), `n` counting this process's temporaries, so
/// that two writes to one name at once (two threads saving one model) never share one.
pub fn temporary_for(path: &Path) -> PathBuf {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    parent_dir(path).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// The error for a destination that is already taken: polyak writes new files there only.
pub fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        let why = "already exists; polyak does not replace it: name another file";
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::AlreadyExists, why)));
    }
    Ok(())
}

/// Gives the complete, fsynced temporary `tmp` the name `path` without ever replacing a file
/// there: a hard link, which fails if anything appeared under the name meanwhile (the temporary
/// is then left to its owner); where the file system has no hard links, a rename after a last
/// check. Then the directory is fsynced, so that the name survives a power cut.
pub fn publish_new(tmp: &Path, path: &Path) -> Result<()> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.exists() => return Err(Error::io(path, e)),
        Err(_) => std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?,
    }
    let _ = std::fs::File::open(parent_dir(path)).and_then(|d| d.sync_all());
    Ok(())
}

/// Writes `bytes` as the new file `path` (its directories created), crash-safe: a temporary
/// beside it, fsynced, then [`publish_new`]. An error if `path` exists, which is left as it is.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    refuse_existing(path)?;
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = temporary_for(path);
    // Errors name `path`, the file the user asked for, not its temporary
    let mut file = std::fs::File::create_new(&tmp).map_err(|e| Error::io(path, e))?;
    // From here the temporary is this process's own, to remove if the write fails.
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| Error::io(path, e));
    drop(file);
    let result = written.and_then(|()| publish_new(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporaries of checkpoint writes a crash interrupted in `dir`:
/// `.<name>.safetensors.tmp-<pid>-<n>`, as [`write_atomic`] names them, and nothing else (a user's
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

/// Whether `name` is `.<name>.safetensors.tmp-<pid>-<n>` (or `.tmp-<pid>`, as builds before
/// 2026-12-03 named them).
pub(crate) fn is_checkpoint_temporary(name: &str) -> bool {
    let Some((file, tag)) = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-")) else { return false };
    let stem = file.strip_suffix(".safetensors").unwrap_or("");
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    !stem.is_empty() && tag.split_once('-').map_or(number(tag), |(pid, n)| number(pid) && number(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_gets_its_own_temporary() {
        let path = Path::new("dir/a.txt");
        assert_ne!(temporary_for(path), temporary_for(path));
        assert_eq!(temporary_for(path).parent(), Some(Path::new("dir")));
    }

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
        let ours = temporary_for(&dir.path().join("resume.safetensors"));
        let ours = ours.file_name().unwrap().to_str().unwrap().to_string();
        let stale = [&ours, ".resume.safetensors.tmp-4242", ".000000000000-000000001000.safetensors.tmp-7-12"];
        let kept = [
            ".notes.tmp-1",
            "resume.safetensors.tmp-12",
            ".resume.safetensors.tmp-",
            ".resume.safetensors.tmp-12x",
            ".resume.safetensors.tmp-12-",
            ".resume.safetensors.tmp--3",
            ".resume.safetensors.tmp-1-2-3",
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
    fn a_new_file_never_replaces_one_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/policy.onnx");
        write_new(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let err = write_new(&path, b"two").unwrap_err().to_string();
        assert!(err.contains("already exists") && err.contains("policy.onnx"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one", "left as it was");
        // Taken between the check and the link: still refused, the newcomer kept.
        let raced = dir.path().join("raced.bin");
        let tmp = dir.path().join(".raced.bin.tmp-1");
        std::fs::write(&tmp, b"mine").unwrap();
        std::fs::write(&raced, b"theirs").unwrap();
        assert!(publish_new(&tmp, &raced).is_err());
        assert_eq!(std::fs::read(&raced).unwrap(), b"theirs");
        let names = |d: &Path| std::fs::read_dir(d).unwrap().count();
        assert_eq!(names(&dir.path().join("sub")), 1, "no temporary left");
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.bin"), b"x").unwrap_err().to_string();
        assert!(err.contains("/nonexistent-dir/x.bin"), "{err}");
    }
}
