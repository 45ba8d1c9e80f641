//! The crate's error type: every variant carries what a user needs to act on it.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// An environment, algorithm or config key that polyak does not know.
    UnknownName { kind: &'static str, name: String, available: Vec<String> },
    /// A configuration value that is out of range or of the wrong type.
    Config { key: String, message: String },
    /// A file could not be read or written.
    Io { path: PathBuf, source: std::io::Error },
    /// A checkpoint that is truncated, corrupt, or does not fit the run.
    Checkpoint { path: PathBuf, message: String },
    /// A run directory that cannot be used as asked: it does not exist, is not a run, already
    /// holds one, or cannot continue.
    RunDir { dir: PathBuf, message: String },
    /// Another process is writing the run directory (its pid, where known).
    InUse { dir: PathBuf, holder: Option<u32> },
    /// A request for more memory than the machine has (`needed` is `None` when the figure
    /// itself overflows).
    TooLarge { what: String, needed: Option<u64>, available: u64, hint: String },
    /// An environment failed: a model that does not load, a physics error, a snapshot that does
    /// not fit.
    Env(String),
    /// A command-line flag with a bad value (not a config key).
    Flag { flag: &'static str, message: String },
    /// Training produced a NaN/Inf; continuing would train on garbage.
    NonFinite { step: u64, quantity: String },
    /// Anything else, with its explanation.
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), message: message.into() }
    }

    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { key: key.into(), message: message.into() }
    }

    pub fn flag(flag: &'static str, message: impl Into<String>) -> Self {
        Error::Flag { flag, message: message.into() }
    }

    pub fn run_dir(dir: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::RunDir { dir: dir.into(), message: message.into() }
    }

    pub fn env(message: impl Into<String>) -> Self {
        Error::Env(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownName { kind, name, available } => {
                write!(f, "unknown {kind} `{name}`")?;
                if let Some(close) = closest(name, available) {
                    write!(f, "; did you mean `{close}`?")?;
                }
                write!(f, " (available: {})", available.join(", "))
            }
            Error::Config { key, message } => write!(f, "config `{key}`: {message}"),
            Error::Flag { flag, message } => write!(f, "{flag}: {message}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Checkpoint { path, message } => {
                write!(f, "checkpoint {}: {message}", path.display())
            }
            Error::RunDir { dir, message } => write!(f, "{} {message}", dir.display()),
            Error::InUse { dir, holder } => {
                let holder = holder.map(|pid| format!("process {pid}")).unwrap_or_else(|| "another process".into());
                write!(
                    f,
                    "{} is in use by {holder} (a polyak run writing there); wait for it to end or stop it — two \
                     writers would mix their runs",
                    dir.display()
                )
            }
            Error::TooLarge { what, needed: Some(b), available, hint } => write!(
                f,
                "{what} needs {} of memory; this machine has {} in all — {hint}",
                crate::rundir::human_bytes(*b),
                crate::rundir::human_bytes(*available)
            ),
            Error::TooLarge { what, needed: None, hint, .. } => {
                write!(f, "{what} needs more memory than any machine has (over 16 EB) — {hint}")
            }
            Error::Env(msg) => write!(f, "environment: {msg}"),
            Error::NonFinite { step, quantity } => {
                write!(f, "non-finite {quantity} at step {step}; training stopped so it does not continue on garbage")
            }
            Error::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Levenshtein edit distance, case-insensitive (names differ mostly in case and typos).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known name, if it is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    if !lower.is_empty() {
        if let Some(c) = candidates.iter().find(|c| c.to_lowercase().starts_with(&lower)) {
            return Some(c);
        }
    }
    let (best, dist) = candidates.iter().map(|c| (c, edit_distance(name, c))).min_by_key(|&(_, d)| d)?;
    (dist <= (best.len() / 3).max(2)).then_some(best.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let envs: Vec<String> = ["Pendulum-v1", "MountainCarContinuous-v0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(closest("pendulum-v1", &envs), Some("Pendulum-v1"));
        assert_eq!(closest("Pendulum-v0", &envs), Some("Pendulum-v1"));
        assert_eq!(closest("Mountain", &envs), Some("MountainCarContinuous-v0"));
        assert_eq!(closest("CartPole-v1", &envs), None);
        let e = Error::UnknownName { kind: "environment", name: "Pendulm-v1".into(), available: envs };
        let msg = e.to_string();
        assert!(msg.contains("did you mean `Pendulum-v1`") && msg.contains("MountainCarContinuous-v0"), "{msg}");
    }

    #[test]
    fn edit_distance_hand_values() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("TD3", "td3"), 0);
    }
}
