//! `metrics.csv`: one row per finished training episode and per evaluation.
//!
//! Columns: `step` (env steps so far), `wall_time` (s since start), `sps` (env steps/s since
//! start), `episode` (episodes finished), `episode_return`, `episode_length`, `eval_mean`,
//! `eval_std`, `critic_loss`, `actor_loss`, `alpha`, `mean_q`. An episode row carries the means
//! of the update statistics since the previous episode row; columns that do not apply are empty.
//! Envs that report reward terms (the MuJoCo suite: `reward_forward`, `reward_ctrl`, …) add one
//! column per term after these: its sum over the episode, on episode rows.
//! With one thread the same seed reproduces every column but `wall_time` and `sps` byte for byte.

use crate::error::{Error, Result};
use crate::fsutil::parent_dir;
use crate::rundir::RunDir;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const COLUMNS: [&str; 12] = [
    "step",
    "wall_time",
    "sps",
    "episode",
    "episode_return",
    "episode_length",
    "eval_mean",
    "eval_std",
    "critic_loss",
    "actor_loss",
    "alpha",
    "mean_q",
];

/// One row; `None` cells are written empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub step: u64,
    pub wall_time: f64,
    pub sps: f64,
    pub episode: u64,
    pub episode_return: Option<f64>,
    pub episode_length: Option<u64>,
    pub eval_mean: Option<f64>,
    pub eval_std: Option<f64>,
    pub critic_loss: Option<f64>,
    pub actor_loss: Option<f64>,
    pub alpha: Option<f64>,
    pub mean_q: Option<f64>,
    /// Episode sums of the env's reward terms (one per extra column).
    pub terms: Vec<Option<f64>>,
}

fn cell<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl Row {
    pub fn to_csv(&self) -> String {
        [
            self.step.to_string(),
            format!("{:.3}", self.wall_time),
            format!("{:.1}", self.sps),
            self.episode.to_string(),
            cell(self.episode_return),
            cell(self.episode_length),
            cell(self.eval_mean),
            cell(self.eval_std),
            cell(self.critic_loss),
            cell(self.actor_loss),
            cell(self.alpha),
            cell(self.mean_q),
        ]
        .into_iter()
        .chain(self.terms.iter().map(|t| cell(*t)))
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// Appends rows to `metrics.csv`, flushed row by row so a crash loses at most the row in flight.
/// It also keeps the text written so far: resume checkpoints embed it, and a resumed run rewrites
/// the file from it, so rows written after the checkpoint by the interrupted process vanish.
pub struct MetricsWriter {
    path: PathBuf,
    text: String,
    header: Vec<String>,
    /// The open CSV file and the same rows as TensorBoard scalars next to it; `None` until
    /// [`MetricsWriter::open`] (a resume touches no file before everything has loaded).
    files: Option<(BufWriter<File>, crate::tensorboard::EventWriter)>,
}

impl MetricsWriter {
    /// A new file with the standard columns and one per reward term.
    pub fn create(path: &Path, reward_terms: &[&str]) -> Result<Self> {
        let header: Vec<&str> = COLUMNS.iter().chain(reward_terms).copied().collect();
        let mut w = Self::resume(path, &format!("{}\n", header.join(",")));
        w.open()?;
        Ok(w)
    }

    /// A writer that continues from `text`, as saved by [`MetricsWriter::text`]. Nothing is
    /// written until [`MetricsWriter::open`].
    pub fn resume(path: &Path, text: &str) -> Self {
        let header = text.lines().next().unwrap_or("").split(',').map(str::to_string).collect();
        MetricsWriter { path: path.to_path_buf(), text: text.to_string(), header, files: None }
    }

    /// Rewrites the file (atomically) and the TensorBoard file with the text so far, and appends
    /// from there.
    pub fn open(&mut self) -> Result<()> {
        let path = &self.path;
        crate::fsutil::write_atomic(path, self.text.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        let events = crate::tensorboard::EventWriter::create(&RunDir::new(parent_dir(path)).tensorboard(), &self.text)?;
        self.files = Some((BufWriter::new(file), events));
        Ok(())
    }

    /// Everything written so far, header included.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn write(&mut self, row: &Row) -> Result<()> {
        let line = row.to_csv();
        let Some((out, events)) = self.files.as_mut() else {
            return Err(Error::Invalid(format!("{}: written before it was opened", self.path.display())));
        };
        self.text.push_str(&line);
        self.text.push('\n');
        writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| Error::io(&self.path, e))?;
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        events.row(&header, &line)
    }
}

/// Mean of the statistics of the updates since the last episode row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateAverager {
    n: u64,
    critic: f64,
    n_actor: u64,
    actor: f64,
    alpha: Option<f64>,
    q: f64,
}

impl UpdateAverager {
    pub fn add(&mut self, s: &crate::algo::UpdateStats) {
        self.n += 1;
        self.critic += s.critic_loss;
        self.q += s.mean_q;
        if let Some(a) = s.actor_loss {
            self.n_actor += 1;
            self.actor += a;
        }
        if s.alpha.is_some() {
            self.alpha = s.alpha;
        }
    }

    /// The running sums as integers (floats as their bits), for resume checkpoints.
    pub fn to_counters(&self) -> [(&'static str, u64); 6] {
        [
            ("n", self.n),
            ("critic", self.critic.to_bits()),
            ("n_actor", self.n_actor),
            ("actor", self.actor.to_bits()),
            ("alpha", self.alpha.unwrap_or(f64::NAN).to_bits()),
            ("q", self.q.to_bits()),
        ]
    }

    /// Inverse of [`UpdateAverager::to_counters`]; `get` returns `None` for a missing entry.
    pub fn from_counters(get: impl Fn(&str) -> Option<u64>) -> Option<Self> {
        let alpha = f64::from_bits(get("alpha")?);
        Some(UpdateAverager {
            n: get("n")?,
            critic: f64::from_bits(get("critic")?),
            n_actor: get("n_actor")?,
            actor: f64::from_bits(get("actor")?),
            alpha: (!alpha.is_nan()).then_some(alpha),
            q: f64::from_bits(get("q")?),
        })
    }

    /// Fills the loss columns of `row` and starts a new window.
    pub fn drain_into(&mut self, row: &mut Row) {
        if self.n > 0 {
            row.critic_loss = Some(self.critic / self.n as f64);
            row.mean_q = Some(self.q / self.n as f64);
            row.alpha = self.alpha;
        }
        if self.n_actor > 0 {
            row.actor_loss = Some(self.actor / self.n_actor as f64);
        }
        *self = UpdateAverager::default();
    }
}
