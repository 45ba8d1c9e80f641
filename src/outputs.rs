//! Files polyak makes again whenever it is asked — a report, learning-curve pictures, a sweep's
//! Slurm script — and the one rule for writing them: polyak replaces such a file only where it
//! wrote those very bytes itself. A user's file under the same name, a report someone edited, a
//! Slurm script given an account line: each is refused with an error naming it, and then nothing
//! at all is written.
//!
//! What polyak wrote into a folder is recorded there in [`RECORD`], a file's length and CRC-32
//! under its name. A file whose bytes match is polyak's own and is replaced; anything else under
//! the name (a different file, a link, a folder) is left as it is. A damaged record is an error
//! too, and stays as it is.

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The record of what polyak wrote in a folder, beside the files.
pub const RECORD: &str = ".polyak-outputs.toml";

const HEADER: &str = "# Files polyak wrote in this folder and may write again, each as <bytes>:<CRC-32>.\n\
                      # A file whose bytes differ (one you edited) is never replaced.\n";

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    written: BTreeMap<String, Vec<String>>,
}

/// A file's length and CRC-32, as the record holds it.
fn stamp(bytes: &[u8]) -> String {
    format!("{}:{:08x}", bytes.len(), crc32fast::hash(bytes))
}

/// The files one command writes into one folder, held in memory until [`Outputs::write`] writes
/// all of them, or none.
pub struct Outputs {
    dir: PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

impl Outputs {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Outputs { dir: dir.into(), files: Vec::new() }
    }

    /// Adds the file `name` (a plain file name in the folder); returns the path it will have.
    /// A second file of the same name takes the first one's place.
    pub fn add(&mut self, name: &str, bytes: Vec<u8>) -> PathBuf {
        self.files.retain(|(n, _)| n != name);
        self.files.push((name.to_string(), bytes));
        self.dir.join(name)
    }

    /// Writes every file added, each atomically, after checking that none of their names holds
    /// anything but polyak's own unchanged output; returns their paths. On a refusal nothing is
    /// written.
    pub fn write(self) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let record_path = self.dir.join(RECORD);
        let mut record = read_record(&record_path)?;
        for (name, _) in &self.files {
            refuse_unless_ours(&self.dir.join(name), record.written.get(name).map(Vec::as_slice))?;
        }
        // The new stamps join the old ones first, so that a crash among the writes below leaves
        // every name holding bytes the record knows.
        let stamps: Vec<String> = self.files.iter().map(|(_, bytes)| stamp(bytes)).collect();
        for ((name, _), new) in self.files.iter().zip(&stamps) {
            record.written.entry(name.clone()).or_default().push(new.clone());
        }
        save_record(&record_path, &record)?;
        for (name, bytes) in &self.files {
            write_atomic(&self.dir.join(name), bytes)?;
        }
        for ((name, _), new) in self.files.iter().zip(stamps) {
            record.written.insert(name.clone(), vec![new]);
        }
        save_record(&record_path, &record)?;
        Ok(self.files.iter().map(|(name, _)| self.dir.join(name)).collect())
    }
}

fn read_record(path: &Path) -> Result<Record> {
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Record::default()),
        other => other.map_err(|e| Error::io(path, e))?,
    };
    toml::from_str(&text).map_err(|e| {
        let why = format!(
            "not a record of polyak's outputs ({}); it is left as it is: move it away, and polyak will \
             then replace none of the files here",
            e.message()
        );
        Error::io(path, std::io::Error::new(ErrorKind::InvalidData, why))
    })
}

fn save_record(path: &Path, record: &Record) -> Result<()> {
    let body = toml::to_string(record).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    write_atomic(path, format!("{HEADER}{body}").as_bytes())
}

/// An error unless `path` is free or a plain file holding bytes of one of `stamps`.
fn refuse_unless_ours(path: &Path, stamps: Option<&[String]>) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| Error::io(path, e))?,
    };
    let stamps = stamps.unwrap_or_default();
    // The length first, so that a large file of someone else's is not read through.
    let length = format!("{}:", meta.len());
    if meta.is_file() && stamps.iter().any(|s| s.starts_with(&length)) {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if stamps.contains(&stamp(&bytes)) {
            return Ok(());
        }
    }
    let why = if stamps.is_empty() {
        "already exists, and polyak did not write it; polyak does not replace it: move it away, or write elsewhere (--out)"
    } else {
        "was changed since polyak wrote it; polyak does not replace it: move it away, or write elsewhere (--out)"
    };
    Err(Error::io(path, std::io::Error::new(ErrorKind::AlreadyExists, why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) -> Result<Vec<PathBuf>> {
        let mut out = Outputs::new(dir);
        for (name, text) in files {
            out.add(name, text.as_bytes().to_vec());
        }
        out.write()
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn its_own_unchanged_output_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(dir.path(), &[("report.md", "first"), ("a.svg", "<svg/>")]).unwrap();
        assert_eq!(paths, [dir.path().join("report.md"), dir.path().join("a.svg")]);
        write(dir.path(), &[("report.md", "second, longer")]).unwrap();
        assert_eq!(read(dir.path().join("report.md")), "second, longer");
        // Each name keeps the stamp of its last write only.
        let record = read(dir.path().join(RECORD));
        assert!(record.contains("\"report.md\" = [\"14:") && record.contains("\"a.svg\" = [\"6:"), "{record}");
    }

    #[test]
    fn a_users_file_or_an_edited_one_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("report.md", "polyak's"), ("a.png", "picture")]).unwrap();
        std::fs::write(dir.path().join("notes.md"), "mine").unwrap();
        let record = read(dir.path().join(RECORD));
        let e = write(dir.path(), &[("report.md", "new"), ("notes.md", "new")]).unwrap_err();
        assert!(e.to_string().contains("notes.md: already exists, and polyak did not write it"), "{e}");
        // Same length, other bytes: an edit that a length check alone would miss.
        std::fs::write(dir.path().join("a.png"), "pictuRe").unwrap();
        let e = write(dir.path(), &[("report.md", "new"), ("a.png", "new")]).unwrap_err();
        assert!(e.to_string().contains("a.png: was changed since polyak wrote it"), "{e}");
        let e = match e {
            Error::Io { source, .. } => source.kind(),
            other => panic!("{other}"),
        };
        assert_eq!(e, ErrorKind::AlreadyExists);
        assert_eq!(read(dir.path().join("report.md")), "polyak's");
        assert_eq!(read(dir.path().join("notes.md")), "mine");
        assert_eq!(read(dir.path().join("a.png")), "pictuRe");
        assert_eq!(read(dir.path().join(RECORD)), record);
    }

    #[test]
    fn links_and_folders_under_the_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("report.md", "polyak's")]).unwrap();
        // A link to polyak's own bytes is still not polyak's file: writing would replace the link.
        std::os::unix::fs::symlink(dir.path().join("report.md"), dir.path().join("link.md")).unwrap();
        std::fs::create_dir(dir.path().join("folder.md")).unwrap();
        for name in ["link.md", "folder.md"] {
            let e = write(dir.path(), &[(name, "polyak's")]).unwrap_err();
            assert!(e.to_string().contains("polyak did not write it"), "{e}");
        }
        assert!(std::fs::symlink_metadata(dir.path().join("link.md")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_crash_between_the_record_and_the_files_leaves_them_replaceable() {
        let dir = tempfile::tempdir().unwrap();
        // A crash after the first phase leaves both stamps recorded, and the old bytes or the
        // new ones in place: either is replaced.
        for in_place in ["old", "newer"] {
            write(dir.path(), &[("report.md", "old")]).unwrap();
            let mut record = read_record(&dir.path().join(RECORD)).unwrap();
            record.written.get_mut("report.md").unwrap().push(stamp(b"newer"));
            save_record(&dir.path().join(RECORD), &record).unwrap();
            std::fs::write(dir.path().join("report.md"), in_place).unwrap();
            write(dir.path(), &[("report.md", "again")]).unwrap();
        }
        // A finished write keeps the last stamp only.
        std::fs::write(dir.path().join("report.md"), "old").unwrap();
        assert!(write(dir.path(), &[("report.md", "again")]).is_err());
    }

    #[test]
    fn a_damaged_record_is_an_error_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        for damaged in ["written = 5\n", "[written]\n\"a\" = [\"1:0\"]\nmine = 1\n", "\u{0}\u{1}"] {
            std::fs::write(dir.path().join(RECORD), damaged).unwrap();
            let e = write(dir.path(), &[("a", "x")]).unwrap_err();
            assert!(e.to_string().contains("not a record of polyak's outputs"), "{e}");
            assert_eq!(read(dir.path().join(RECORD)), damaged);
            assert!(!dir.path().join("a").exists());
        }
    }
}
