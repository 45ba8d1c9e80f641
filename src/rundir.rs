//! A run directory: its layout ([`RunDir`], every path spelled once), one writer at a time
//! ([`RunLock`]), and no allocation a machine cannot hold ([`check_memory`]).
//!
//! Every command that writes a run directory (`train`, `train --resume`, a sweep's runs) holds an
//! exclusive `flock` on the directory itself for the life of the process. A second writer is
//! refused with the holder's pid; the lock goes away with the process, however it ends (`kill
//! -9` included), so a stale lock cannot block a resume. Locking the directory rather than a lock
//! file means a refused command leaves no file behind.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The layout of a run directory:
///
/// ```text
/// <run>/config.toml                      the resolved config
/// <run>/metrics.csv                      one row per training episode and per evaluation
/// <run>/machine.toml                     the machine of each process that trained it
/// <run>/events.out.tfevents.polyak       the same rows as TensorBoard scalars
/// <run>/checkpoints/step_<N>.safetensors the agent every checkpoint_every steps
/// <run>/checkpoints/final.safetensors    the agent at the end
/// <run>/checkpoints/resume.safetensors   everything else a resume needs
/// <run>/checkpoints/replay/<first>-<end>.safetensors   replay transitions
/// <run>/python_env.toml                  a Python env's spaces (the Python package's runs)
/// <run>/videos/, <run>/exports/          polyak render's videos, polyak export's ONNX policies
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    pub fn machine(&self) -> PathBuf {
        self.root.join("machine.toml")
    }
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("events.out.tfevents.polyak")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn resume_file(&self) -> PathBuf {
        self.checkpoints().join("resume.safetensors")
    }
    pub fn final_agent(&self) -> PathBuf {
        self.checkpoints().join("final.safetensors")
    }
    pub fn step_agent(&self, step: u64) -> PathBuf {
        self.checkpoints().join(format!("step_{step:09}.safetensors"))
    }
    /// Videos of the agent: training's `video_every` ones, and `polyak render`'s default place.
    pub fn videos(&self) -> PathBuf {
        self.root.join("videos")
    }
    /// `polyak export`'s default place for the ONNX policies.
    pub fn exports(&self) -> PathBuf {
        self.root.join("exports")
    }
    pub fn step_video(&self, step: u64) -> PathBuf {
        self.videos().join(format!("step_{step:09}.gif"))
    }
    pub fn replay_dir(&self) -> PathBuf {
        self.checkpoints().join("replay")
    }
    /// The replay file of transitions `first..end`.
    pub fn segment(&self, first: u64, end: u64) -> PathBuf {
        self.replay_dir().join(format!("{first:012}-{end:012}.safetensors"))
    }
    /// The spaces of the Python env a run trains on ([`write_env_spaces`]).
    pub fn python_env(&self) -> PathBuf {
        self.root.join("python_env.toml")
    }
    /// Whether a run was started here (it has a config or metrics).
    pub fn holds_run(&self) -> bool {
        self.config().exists() || self.metrics().exists()
    }
    /// What a new run would write here that exists already: its files at the top, and a
    /// `checkpoints` that is not an empty folder. A run is started only where this is empty, so
    /// that no file of anyone else's is written over.
    pub fn taken(&self) -> Vec<PathBuf> {
        let files = [self.config(), self.metrics(), self.machine(), self.tensorboard(), self.python_env()];
        let mut taken: Vec<PathBuf> = files.into_iter().filter(|f| f.symlink_metadata().is_ok()).collect();
        let checkpoints = self.checkpoints();
        if checkpoints.symlink_metadata().is_ok()
            && std::fs::read_dir(&checkpoints).map_or(true, |mut entries| entries.next().is_some())
        {
            taken.push(checkpoints);
        }
        taken
    }
}

/// An exclusive lock on a run directory, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    dir: File,
}

impl Drop for RunLock {
    /// Unlocks before the descriptor closes. An `flock` belongs to the open file description, which
    /// a child forked meanwhile shares until it execs (or for good, if it never does: Python's
    /// multiprocessing): closing our descriptor alone would leave the lock held by the child.
    fn drop(&mut self) {
        let _ = self.dir.unlock();
    }
}

impl RunLock {
    /// Locks `dir`, which must exist. Fails at once, naming the holder, if another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let file = File::open(dir).map_err(|e| Error::io(dir, e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { dir: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(Error::InUse { dir: dir.to_path_buf(), holder: lock_holder(dir) })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(dir, e)),
        }
    }
}

/// Copies the run in `src` into `dst`, a new (or empty) directory (its missing parents made): a
/// run of its own, which `polyak train --resume` and `polyak.load` continue exactly as they would
/// continue `src` (the Python package's `save`). Checkpoint files, which polyak never changes once written, are
/// hard-linked where the filesystem allows and copied otherwise; every other file is copied. The
/// copy is built under a temporary name beside `dst`, each file and folder fsynced, and renamed
/// into place last, so `dst` is either untouched or complete. `src` is locked meanwhile, so a run
/// another process is training is refused rather than copied half-written.
pub fn copy_run(src: &Path, dst: &Path) -> Result<()> {
    if !RunDir::new(src).holds_run() {
        return Err(Error::run_dir(src, "holds no run (no config.toml or metrics.csv)"));
    }
    let _lock = RunLock::acquire(src)?;
    copy_locked_run(src, dst)
}

/// [`copy_run`] of a run whose lock the caller holds: the training loop's own, between two steps
/// ([`crate::train::StepContext::copy_run`]).
pub(crate) fn copy_locked_run(src: &Path, dst: &Path) -> Result<()> {
    let replaced = made_here(dst);
    let replace = replaced.is_some();
    match std::fs::read_dir(dst).map(|mut entries| entries.next().is_none()) {
        Ok(true) => {}
        Ok(false) if replace => {}
        Ok(false) => return Err(Error::run_dir(dst, DESTINATION_TAKEN)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Err(Error::run_dir(dst, DESTINATION_TAKEN)),
        Err(e) => return Err(Error::io(dst, e)),
    }
    if dst.file_name().and_then(|n| n.to_str()).is_none() {
        return Err(Error::run_dir(dst, "is not a folder name"));
    }
    let parent = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // The nearest folder of `dst`'s that exists, to see whether `dst` is inside `src` before
    // creating anything.
    let existing = parent.ancestors().find(|a| a.exists()).unwrap_or(Path::new("."));
    let real = |dir: &Path| std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e));
    if real(existing)?.starts_with(real(src)?) {
        return Err(Error::run_dir(dst, format!("is inside the run it would copy, {}", src.display())));
    }
    // A copy being replaced may be a run someone now trains (or the one being copied): locked,
    // it is refused
    let _replaced = if replace { Some(RunLock::acquire(dst)?) } else { None };
    // Missing folders on the way are made, as SB3's `save` makes them.
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = crate::fsutil::temporary_for(dst);
    // `create_dir`, not `create_dir_all`: the temporary is this process's own, so removing it on
    // failure removes nothing else.
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let made = copy_tree(src, &tmp, false).and_then(|()| {
        if replace {
            // The earlier copy goes to the temporary's name, and is removed from there
            exchange(&tmp, dst)?;
        } else {
            std::fs::rename(&tmp, dst).map_err(|e| Error::io(dst, e))?;
        }
        File::open(parent).and_then(|d| d.sync_all()).map_err(|e| Error::io(parent, e))
    });
    // The temporary: the copy after a failure, or the replaced earlier copy
    let _ = std::fs::remove_dir_all(&tmp);
    made?;
    let mut made_here = MADE.lock().unwrap_or_else(|p| p.into_inner());
    made_here.retain(|id| Some(*id) != replaced);
    made_here.extend(folder_id(dst));
    Ok(())
}

/// The folders [`copy_run`] made in this process, as [`folder_id`] saw them when made. A later
/// copy to the same path replaces one of these (Stable-Baselines3's `EvalCallback` saves its
/// best model under one name each time it improves); anything else there is refused, as polyak
/// writes over nothing it did not make in the same process.
static MADE: std::sync::Mutex<Vec<FolderId>> = std::sync::Mutex::new(Vec::new());

/// Device, inode and change time of a folder: another folder put at the same path since (which
/// may get the freed inode number) has another change time, and so does the same folder once
/// anything in it was added, removed or renamed — such as a run trained in it. (Within the clock
/// tick of the copy, a few milliseconds on some filesystems, a change may keep the time.)
type FolderId = (u64, u64, i64, i64);

fn folder_id(dir: &Path) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir())?;
    Some((meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()))
}

/// `dst`'s id when it is a folder [`copy_run`] made in this process, as it left it.
fn made_here(dst: &Path) -> Option<FolderId> {
    folder_id(dst).filter(|id| MADE.lock().unwrap_or_else(|p| p.into_inner()).contains(id))
}

/// Swaps folders `a` and `b` in one step (`renameat2`'s `RENAME_EXCHANGE`), so `b`'s path never
/// lacks a whole run. A filesystem that cannot is an error, and nothing moves: moving `b` aside
/// first would leave its path empty for a moment, and without the run should we crash then.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::run_dir(p, "has a NUL byte"));
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths, relative to the working directory.
    let done =
        unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
    if done == 0 {
        return Ok(());
    }
    let why = std::io::Error::last_os_error();
    Err(Error::run_dir(
        b,
        format!("cannot be replaced in one step here ({why}); the earlier copy is kept: save under a new path"),
    ))
}

/// What [`copy_run`] says of a destination that already holds something.
pub const DESTINATION_TAKEN: &str = "exists and is not empty: polyak writes over nothing; choose a new path";

/// Copies the contents of folder `src` into the existing folder `dst` (see [`copy_run`]); files
/// under `checkpoints/` (`in_checkpoints`) are linked, and the temporaries of interrupted
/// checkpoint writes there left out.
fn copy_tree(src: &Path, dst: &Path, in_checkpoints: bool) -> Result<()> {
    for entry in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
        let entry = entry.map_err(|e| Error::io(src, e))?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| Error::io(&from, e))?;
        let name = entry.file_name();
        if in_checkpoints && name.to_str().is_some_and(crate::fsutil::is_checkpoint_temporary) {
            // A checkpoint write a crash interrupted: not part of the run (a resume removes it)
            continue;
        }
        if kind.is_dir() {
            std::fs::create_dir(&to).map_err(|e| Error::io(&to, e))?;
            copy_tree(&from, &to, in_checkpoints || name == "checkpoints")?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| Error::io(&from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| Error::io(&to, e))?;
        } else {
            let immutable = in_checkpoints && from.extension().is_some_and(|x| x == "safetensors");
            if !(immutable && std::fs::hard_link(&from, &to).is_ok()) {
                std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
                File::open(&to).and_then(|f| f.sync_all()).map_err(|e| Error::io(&to, e))?;
            }
        }
    }
    File::open(dst).and_then(|d| d.sync_all()).map_err(|e| Error::io(dst, e))
}

/// The pid holding a `flock` on `dir`, from `/proc/locks` (Linux); `None` where unknown.
fn lock_holder(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).ok()?;
    let device = (libc::major(meta.dev()), libc::minor(meta.dev()));
    // The holder cannot leave the table while we read it unless it let go, so a miss is a torn
    // read (below) and worth another look.
    (0..5).find_map(|_| flock_holder(&proc_locks()?, device, meta.ino()))
}

/// The pid of the `flock` on inode `inode` of device `device` (major, minor) in the text of
/// `/proc/locks`. The same inode number on another device is another file; but a filesystem may
/// name another device there than `stat` does (btrfs subvolumes), so a lone match on the inode
/// number alone still counts.
fn flock_holder(locks: &str, device: (u32, u32), inode: u64) -> Option<u32> {
    let held: Vec<(u32, bool)> = locks
        .lines()
        .filter_map(|line| {
            // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": pid, then major:minor:inode (hex, hex, decimal)
            let f: Vec<&str> = line.split_whitespace().collect();
            let mut id = f.get(5)?.split(':');
            let (major, minor, ino) = (id.next()?, id.next()?, id.next()?.parse::<u64>().ok()?);
            if f.get(1) != Some(&"FLOCK") || ino != inode {
                return None;
            }
            let hex = |x: &str| u32::from_str_radix(x, 16).ok();
            Some((f.get(4)?.parse().ok()?, (hex(major), hex(minor)) == (Some(device.0), Some(device.1))))
        })
        .collect();
    let exact = held.iter().find(|(_, same_device)| *same_device);
    exact.or(if held.len() == 1 { held.first() } else { None }).map(|(pid, _)| *pid)
}

/// `/proc/locks`, read with a large buffer. The kernel walks the lock table anew at each `read`
/// call, by position, so a lock released between two calls shifts the rest up a line and one of
/// them is skipped. `read_to_string` starts with a 32-byte probe, so every read was split after
/// the first line: the holder's line went missing once in 360 to 1,700 reads while other
/// processes took and released locks (measured; never in 200,000 large reads). A large read
/// takes a page of the table (about 60 locks) at a time; with more locks a split can still skip
/// a line, which [`lock_holder`]'s further looks cover.
fn proc_locks() -> Option<String> {
    let mut file = File::open("/proc/locks").ok()?;
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match std::io::Read::read(&mut file, &mut chunk).ok()? {
            0 => return String::from_utf8(text).ok(),
            n => text.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Physical memory of this machine in bytes (`/proc/meminfo`), if known.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// Where a run goes when no directory is given: `runs/<algo>_<env>_s<seed>_<unix time>` (the
/// env's name with anything but letters, digits, `-`, `_` and `.` replaced by `-`).
pub fn default_run_dir(cfg: &crate::config::TrainConfig) -> PathBuf {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let env: String =
        cfg.env.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    PathBuf::from("runs").join(format!("{}_{env}_s{}_{now}", cfg.algo, cfg.seed))
}

/// Refuses, before anything is allocated or written, a request for more memory than the machine
/// has. `bytes` is `None` when the figure itself overflows.
pub fn check_memory(what: &str, bytes: Option<u64>, hint: &str) -> Result<()> {
    let available = physical_memory().unwrap_or(u64::MAX);
    match bytes {
        Some(b) if b <= available => Ok(()),
        needed => Err(Error::TooLarge { what: what.to_string(), needed, available, hint: hint.to_string() }),
    }
}

/// Records the spaces of the Python env a run trains on (the Python package does, at each
/// `learn`), so that `polyak.load` of the run predicts without the env: the observation size and
/// the action bounds, which actions are scaled to.
pub fn write_env_spaces(dir: &RunDir, obs_dim: usize, action: &crate::env::BoxSpace) -> Result<()> {
    let floats = |v: &[f32]| toml::Value::Array(v.iter().map(|&x| toml::Value::Float(x.into())).collect());
    let mut table = toml::Table::new();
    table.insert("observation_dim".into(), toml::Value::Integer(obs_dim as i64));
    table.insert("action_low".into(), floats(&action.low));
    table.insert("action_high".into(), floats(&action.high));
    let text = toml::to_string(&table).map_err(|e| Error::Invalid(format!("python_env.toml: {e}")))?;
    let head = "# The spaces of the Python env this run trains on: polyak.load predicts from them without it.\n";
    crate::fsutil::write_atomic(&dir.python_env(), format!("{head}{text}").as_bytes())
}

/// The spaces [`write_env_spaces`] recorded: (observation size, action bounds).
pub fn read_env_spaces(dir: &RunDir) -> Result<(usize, crate::env::BoxSpace)> {
    let path = dir.python_env();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let bad = |what: &str| Error::checkpoint(&path, format!("damaged: {what}"));
    let table: toml::Table = text.parse().map_err(|e| Error::checkpoint(&path, format!("damaged: {e}")))?;
    let floats = |key: &str| -> Result<Vec<f32>> {
        let values = table.get(key).and_then(|v| v.as_array()).ok_or_else(|| bad(key))?;
        values.iter().map(|v| v.as_float().map(|x| x as f32).ok_or_else(|| bad(key))).collect()
    };
    let obs_dim = table.get("observation_dim").and_then(|v| v.as_integer()).filter(|&n| n > 0);
    let (low, high) = (floats("action_low")?, floats("action_high")?);
    if low.is_empty() || low.len() != high.len() {
        return Err(bad("action bounds"));
    }
    Ok((obs_dim.ok_or_else(|| bad("observation_dim"))? as usize, crate::env::BoxSpace::new(low, high)))
}

/// `secs` after the Unix epoch as `YYYY-MM-DD hh:mm:ss` in UTC (the proleptic Gregorian
/// calendar, by Howard Hinnant's `civil_from_days`).
pub fn utc_time(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Now, as [`utc_time`] writes it.
pub fn utc_now() -> String {
    utc_time(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// The machine a process trained a run on: `machine.toml` holds one per process (the first, then
/// one per resume), so the wall-clock figures `polyak report` gives name their hardware.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// The run's step when this process started.
    pub from_step: u64,
    /// The CPU's model name and generation ([`cpu_model`]), or `unknown`.
    pub cpu: String,
    /// Logical CPUs this process could use.
    pub logical_cpus: usize,
    /// Threads per update.
    pub threads: usize,
    /// The SIMD level of the matrix products (`AVX-512`, `AVX2` or `scalar`).
    pub simd: String,
    /// The C library ([`libc_version`]); empty in the files of polyak from before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub libc: String,
}

/// The C library this process runs on, `glibc 2.36`, or `unknown`. The envs' dynamics call its
/// math functions (MuJoCo's physics, the classic envs' `sin` and `cos`), so runs on them agree
/// bit for bit only under C libraries that round those alike (the README's "Reproducibility");
/// polyak's own arithmetic does not call them (`nn::elementary`).
pub fn libc_version() -> String {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn gnu_get_libc_version() -> *const std::ffi::c_char;
        }
        // SAFETY: glibc returns its version as a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
        format!("glibc {}", version.to_string_lossy())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        "unknown".to_string()
    }
}

/// This CPU's name with its family and model numbers: `AMD EPYC (family 26, model 2)`. A virtual
/// machine often shows only the brand (`AMD EPYC`), and the numbers are what tell one generation
/// from the next (family 25 is Zen 3 and Zen 4, 26 is Zen 5; most of Intel's are family 6, told
/// apart by model), so speed figures can say which CPU made them. On x86-64 the CPU itself says
/// (`cpuid`, as Linux's `/proc/cpuinfo` reads it), so an emulated CPU is named as the one the
/// process runs on, not the host's, and a system without `/proc` is named too; elsewhere
/// `/proc/cpuinfo`, or `unknown` without it.
pub fn cpu_model() -> String {
    #[cfg(target_arch = "x86_64")]
    if let Some(name) = cpu_model_from_cpuid() {
        return name;
    }
    cpu_model_from(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// [`cpu_model`] from `cpuid`: the brand string (leaves 0x8000_0002–4, trimmed as Linux trims
/// it) and the numbers of leaf 1. `None` on a CPU without a brand string.
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` is safe in today's Rust, unsafe in the 1.89 this crate allows
fn cpu_model_from_cpuid() -> Option<String> {
    use std::arch::x86_64::__cpuid;
    // SAFETY: every x86-64 CPU has `cpuid`, leaf 1 and leaf 0x8000_0000; the brand leaves are
    // read only where the last says they exist.
    let (highest, signature) = unsafe { (__cpuid(0x8000_0000).eax, __cpuid(1).eax) };
    if highest < 0x8000_0004 {
        return None;
    }
    let mut brand = Vec::with_capacity(48);
    for leaf in 0x8000_0002..=0x8000_0004 {
        let r = unsafe { __cpuid(leaf) };
        for register in [r.eax, r.ebx, r.ecx, r.edx] {
            brand.extend_from_slice(&register.to_le_bytes());
        }
    }
    let brand = String::from_utf8_lossy(&brand);
    let name = brand.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if name.is_empty() {
        return None;
    }
    let (family, model) = family_and_model(signature);
    Some(format!("{name} (family {family}, model {model})"))
}

/// The family and model of a CPU signature (`cpuid` leaf 1's EAX), as Linux counts them: family
/// 15 adds the extended family, and families from 6 on take the extended model as the high digit.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn family_and_model(signature: u32) -> (u32, u32) {
    let family = (signature >> 8) & 0xf;
    let model = (signature >> 4) & 0xf;
    let family = if family == 0xf { family + ((signature >> 20) & 0xff) } else { family };
    let model = if family >= 6 { model | ((signature >> 16) & 0xf) << 4 } else { model };
    (family, model)
}

/// [`cpu_model`] from the text of a `/proc/cpuinfo` (its first processor).
fn cpu_model_from(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == name).then(|| value.trim())
        })
    };
    let name = field("model name").unwrap_or("unknown");
    match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name.to_string(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MachineFile {
    process: Vec<Machine>,
}

impl Machine {
    /// This process, training with `threads` threads from `from_step`.
    pub fn here(from_step: u64, threads: usize) -> Machine {
        Machine {
            from_step,
            cpu: cpu_model(),
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            simd: crate::nn::simd().name().to_string(),
            libc: libc_version(),
        }
    }

    /// One line: `AMD EPYC (family 26, model 2), 2 logical CPUs, 2 threads, AVX-512, glibc 2.36`
    /// (no C library for a process from before polyak recorded it).
    pub fn describe(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let libc = if self.libc.is_empty() { String::new() } else { format!(", {}", self.libc) };
        format!(
            "{}, {}, {}, {}{libc}",
            self.cpu,
            plural(self.logical_cpus, "logical CPU"),
            plural(self.threads, "thread"),
            self.simd
        )
    }

    /// The machines recorded in a run directory, oldest first (none for a run from before
    /// polyak recorded them). A damaged file is an error naming it.
    pub fn read(dir: &RunDir) -> Result<Vec<Machine>> {
        let path = dir.machine();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let file: MachineFile = toml::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: not a polyak machine.toml: {e}", path.display())))?;
        Ok(file.process)
    }

    /// Adds this machine to the run's `machine.toml` (atomically). The entries of processes after
    /// `from_step` belong to a history a resume has rewound, and are dropped with it, like their
    /// metrics rows. A damaged file is left as it is, and the error says so.
    pub fn record(&self, dir: &RunDir) -> Result<()> {
        let mut process = Machine::read(dir)
            .map_err(|e| Error::Invalid(format!("{e}; left as it is, and this process's machine not recorded")))?;
        process.retain(|m| m.from_step < self.from_step);
        process.push(self.clone());
        let text = toml::to_string(&MachineFile { process }).map_err(|e| Error::Invalid(e.to_string()))?;
        let head = "# The machine of each process that trained this run (polyak writes this file).\n";
        crate::fsutil::write_atomic(&dir.machine(), format!("{head}{text}").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_run_has_every_file_with_checkpoints_linked_and_nothing_else_shared() {
        use std::os::unix::fs::MetadataExt;
        let top = tempfile::tempdir().unwrap();
        let src = top.path().join("run");
        let files = [
            ("config.toml", "algo = \"td3\""),
            ("metrics.csv", "step,episode_return\n"),
            ("notes.txt", "mine"),
            ("checkpoints/resume.safetensors", "resume"),
            ("checkpoints/final.safetensors", "final"),
            ("checkpoints/replay/000000000000-000000000500.safetensors", "replay"),
            ("videos/step_000000500.gif", "gif"),
        ];
        for (name, text) in files {
            std::fs::create_dir_all(src.join(name).parent().unwrap()).unwrap();
            std::fs::write(src.join(name), text).unwrap();
        }
        // A checkpoint write a crash interrupted stays where it is and is not copied.
        let stale = "checkpoints/replay/.000000000500-000000001000.safetensors.tmp-4242";
        std::fs::write(src.join(stale), "half").unwrap();
        let dst = top.path().join("saved");
        copy_run(&src, &dst).unwrap();
        assert!(src.join(stale).exists() && !dst.join(stale).exists());
        for (name, text) in files {
            assert_eq!(std::fs::read_to_string(dst.join(name)).unwrap(), text, "{name}");
            let (a, b) = (std::fs::metadata(src.join(name)).unwrap(), std::fs::metadata(dst.join(name)).unwrap());
            let linked = name.starts_with("checkpoints/");
            assert_eq!(a.ino() == b.ino(), linked, "{name}: linked only if a checkpoint");
        }
        let beside = || -> Vec<_> { std::fs::read_dir(top.path()).unwrap().map(|e| e.unwrap().file_name()).collect() };
        assert_eq!(beside().len(), 2, "no temporary left: {:?}", beside());
        // A copy this process made is replaced by the next one to the same path, whole
        std::fs::write(src.join("notes.txt"), "mine, later").unwrap();
        copy_run(&src, &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("notes.txt")).unwrap(), "mine, later");
        assert_eq!(std::fs::read_to_string(dst.join("videos/step_000000500.gif")).unwrap(), "gif");
        assert_eq!(beside().len(), 2, "the replaced copy is gone: {:?}", beside());
        // ... unless someone holds it (training it, say)
        let held = RunLock::acquire(&dst).unwrap();
        assert!(matches!(copy_run(&src, &dst), Err(Error::InUse { .. })));
        drop(held);
        // ... or it changed since (a run trained in it, say), or it is no longer that folder:
        // what stands at the path now is not polyak's to replace. (Change times may tick only
        // every few milliseconds: a change within the tick of the copy would go unseen.)
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::fs::write(dst.join("added.txt"), "added").unwrap();
        let err = copy_run(&src, &dst).unwrap_err().to_string();
        assert!(err.contains(DESTINATION_TAKEN), "{err}");
        assert_eq!(std::fs::read_to_string(dst.join("notes.txt")).unwrap(), "mine, later");
        std::fs::remove_dir_all(&dst).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(dst.join("theirs.txt"), "theirs").unwrap();
        let err = copy_run(&src, &dst).unwrap_err().to_string();
        assert!(err.contains(DESTINATION_TAKEN), "{err}");
        assert_eq!(std::fs::read_to_string(dst.join("theirs.txt")).unwrap(), "theirs");
        std::fs::write(src.join("notes.txt"), "mine").unwrap();
        // An empty folder may take the copy; nothing else is written over.
        let empty = top.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        copy_run(&src, &empty).unwrap();
        assert_eq!(std::fs::read_to_string(empty.join("notes.txt")).unwrap(), "mine");
        let file = top.path().join("file");
        std::fs::write(&file, "keep").unwrap();
        for taken in [&dst, &file] {
            let err = copy_run(&src, taken).unwrap_err().to_string();
            assert!(err.contains(DESTINATION_TAKEN), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        let err = copy_run(&src, &src.join("inner")).unwrap_err().to_string();
        assert!(err.contains("is inside the run"), "{err}");
        let err = copy_run(&src, &src.join("deep/er/inner")).unwrap_err().to_string();
        assert!(err.contains("is inside the run") && !src.join("deep").exists(), "{err}");
        // Folders on the way to a new place are made.
        copy_run(&src, &top.path().join("models/sac/saved")).unwrap();
        assert_eq!(std::fs::read_to_string(top.path().join("models/sac/saved/notes.txt")).unwrap(), "mine");
        std::fs::remove_dir_all(top.path().join("models")).unwrap();
        let err = copy_run(&top.path().join("file"), &top.path().join("x")).unwrap_err().to_string();
        assert!(err.contains("holds no run"), "{err}");
        // A run another writer holds is refused, and leaves nothing behind.
        let held = RunLock::acquire(&src).unwrap();
        assert!(matches!(copy_run(&src, &top.path().join("busy")), Err(Error::InUse { .. })));
        drop(held);
        let names: Vec<_> = std::fs::read_dir(top.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn a_python_envs_spaces_read_back_exactly_and_damage_is_reported() {
        let top = tempfile::tempdir().unwrap();
        let dir = RunDir::new(top.path());
        let space = crate::env::BoxSpace::new(vec![-2.0, f32::NEG_INFINITY, 0.1], vec![2.0, f32::INFINITY, 0.7]);
        write_env_spaces(&dir, 17, &space).unwrap();
        assert_eq!(read_env_spaces(&dir).unwrap(), (17, space));
        std::fs::write(dir.python_env(), "observation_dim = 3\naction_low = [1.0]\n").unwrap();
        let err = read_env_spaces(&dir).unwrap_err().to_string();
        assert!(err.contains("python_env.toml") && err.contains("action_high"), "{err}");
        assert!(std::fs::read_to_string(dir.python_env()).unwrap().contains("action_low"), "left as it was");
    }

    #[test]
    fn utc_times_match_pythons_datetime() {
        // datetime.fromtimestamp(s, timezone.utc): the epoch, a leap day, a day's last second.
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_796_329_815), "2026-12-03 20:30:15");
        assert_eq!(utc_time(4_102_444_799), "2099-12-31 23:59:59");
    }

    #[test]
    fn the_cpu_is_named_with_its_family_and_model_from_the_first_processor() {
        let two = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n\
                   model name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\n\
                   model name\t: Other\n";
        assert_eq!(cpu_model_from(two), "AMD EPYC (family 26, model 2)");
        // Without the numbers (another architecture, say), the name alone; without a file, unknown.
        assert_eq!(cpu_model_from("model name : Neoverse\n"), "Neoverse");
        assert_eq!(cpu_model_from(""), "unknown");
    }

    #[test]
    fn a_cpu_signature_gives_the_family_and_model_linux_shows() {
        // Zen 4 (Genoa), Zen 5 (Turin), Emerald Rapids, Sandy Bridge, a Pentium 4, a 486.
        assert_eq!(family_and_model(0x00a1_0f11), (25, 17));
        assert_eq!(family_and_model(0x00b0_0f21), (26, 2));
        assert_eq!(family_and_model(0x000c_06f2), (6, 207));
        assert_eq!(family_and_model(0x0002_06a7), (6, 42));
        assert_eq!(family_and_model(0x0000_0f29), (15, 2));
        assert_eq!(family_and_model(0x0001_0480), (4, 8));
    }

    /// Where Linux gives the numbers, `cpuid` names the CPU as `/proc/cpuinfo` does.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn cpuid_names_the_cpu_as_proc_cpuinfo_does() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        assert!(cpuinfo.contains("cpu family"), "no family in /proc/cpuinfo");
        assert_eq!(cpu_model_from_cpuid().unwrap(), cpu_model_from(&cpuinfo));
    }

    #[test]
    fn the_holder_is_the_lock_on_the_same_inode_of_the_same_device() {
        let locks = "1: POSIX  ADVISORY  WRITE 11 fd:01:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 22 08:02:77 0 EOF\n\
                     3: -> FLOCK  ADVISORY  WRITE 33 fd:01:77 0 EOF\n\
                     4: FLOCK  ADVISORY  WRITE 44 fd:01:77 0 EOF\n\
                     5: FLOCK  ADVISORY  WRITE 55 fd:01:78 0 EOF\n";
        // Not the POSIX lock, the waiter (->) or the same inode number on device 8:2.
        assert_eq!(flock_holder(locks, (0xfd, 1), 77), Some(44));
        assert_eq!(flock_holder(locks, (8, 2), 77), Some(22));
        // One lock on the inode, under another device number than stat's: still the holder; two: unknown.
        assert_eq!(flock_holder(locks, (0, 40), 78), Some(55));
        assert_eq!(flock_holder(locks, (0, 40), 77), None);
        assert_eq!(flock_holder(locks, (0xfd, 1), 79), None);
    }

    #[test]
    fn the_holder_is_named_while_other_locks_come_and_go() {
        // Other runs locking and unlocking (tests in parallel, a sweep's jobs) once hid the
        // holder from `/proc/locks` in 1 of 360 to 1,700 reads (55 of these 20,000).
        let dir = tempfile::tempdir().unwrap();
        let _held = RunLock::acquire(dir.path()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn: Vec<_> = (0..2)
            .map(|i| {
                let (file, stop) = (File::create(dir.path().join(format!("other{i}"))).unwrap(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        file.lock().unwrap();
                        file.unlock().unwrap();
                    }
                })
            })
            .collect();
        let misses = (0..20_000).filter(|_| lock_holder(dir.path()) != Some(std::process::id())).count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(misses, 0);
    }

    #[test]
    fn a_second_lock_is_refused_naming_this_process_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        // flock conflicts between two open file descriptions, even in one process.
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("in use by process {}", std::process::id())), "{err}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "locking wrote a file");
    }

    #[test]
    fn a_dropped_lock_is_free_while_a_forked_child_still_holds_its_descriptor() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        // A child forked while the lock is held shares its open file description until the child
        // execs (another thread spawning a process: tests in parallel, a Python user's
        // subprocesses), or for its whole life if it never execs (Python's multiprocessing
        // forks). Closing our descriptor then left the lock held: a resume right after a
        // finished run was refused (CI, 2026-12-04: `InUse`, holder unknown). Here another
        // thread's child, between fork and exec, says it is there and waits to be let go.
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let ((mut ready, ready_w), (go_r, mut go)) = (std::io::pipe().unwrap(), std::io::pipe().unwrap());
        let (ready_w, go_r) = (ready_w.as_raw_fd(), go_r.as_raw_fd());
        let spawner = std::thread::spawn(move || {
            let mut cmd = std::process::Command::new("true");
            // SAFETY: `write` and `read` are async-signal-safe, and the descriptors outlive the
            // child's wait (the pipes' other ends are closed by exec: they are close-on-exec).
            unsafe {
                cmd.pre_exec(move || {
                    let mut byte = [0u8];
                    libc::write(ready_w, byte.as_ptr().cast(), 1);
                    libc::read(go_r, byte.as_mut_ptr().cast(), 1);
                    Ok(())
                });
            }
            // `spawn` returns once the child has exec'd.
            cmd.spawn().unwrap().wait().unwrap();
        });
        // The child holds the lock's descriptor from here until it is let go.
        ready.read_exact(&mut [0u8]).unwrap();
        drop(lock);
        let again = RunLock::acquire(dir.path());
        go.write_all(&[1]).unwrap();
        spawner.join().unwrap();
        again.unwrap();
    }

    #[test]
    fn impossible_sizes_are_refused_with_the_figure() {
        let err = check_memory("the replay buffer", Some(1 << 62), "lower buffer_size").unwrap_err().to_string();
        assert!(err.contains("4611686018.4 GB") && err.contains("lower buffer_size"), "{err}");
        assert!(check_memory("x", None, "h").unwrap_err().to_string().contains("over 16 EB"));
        check_memory("x", Some(1 << 20), "h").unwrap();
    }

    #[test]
    fn machine_records_keep_earlier_processes_and_leave_a_damaged_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let at = |from_step, threads| Machine { from_step, threads, ..Machine::here(0, 1) };
        for m in [at(0, 1), at(500, 2), at(900, 1)] {
            m.record(&run).unwrap();
        }
        // A resume from step 700 rewinds the process that started at 900.
        at(700, 2).record(&run).unwrap();
        let steps: Vec<(u64, usize)> = Machine::read(&run).unwrap().iter().map(|m| (m.from_step, m.threads)).collect();
        assert_eq!(steps, [(0, 1), (500, 2), (700, 2)]);
        std::fs::write(run.machine(), "not [toml").unwrap();
        let e = at(1000, 1).record(&run).unwrap_err().to_string();
        assert!(e.contains("machine.toml") && e.contains("left as it is"), "{e}");
        assert_eq!(std::fs::read_to_string(run.machine()).unwrap(), "not [toml");
    }

    #[test]
    fn a_machine_names_its_c_library_and_older_records_without_one_still_read() {
        let here = Machine::here(0, 2);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let version = here.libc.strip_prefix("glibc ").expect(&here.libc);
            assert!(version.split('.').all(|n| n.parse::<u32>().is_ok()), "{version}");
        }
        assert!(here.describe().ends_with(&format!("threads, {}, {}", here.simd, here.libc)), "{}", here.describe());
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        here.record(&run).unwrap();
        assert_eq!(Machine::read(&run).unwrap(), [here]);
        // A file from a polyak that did not record the C library.
        let old = "[[process]]\nfrom_step = 0\ncpu = \"AMD EPYC\"\nlogical_cpus = 2\nthreads = 2\nsimd = \"AVX2\"\n";
        std::fs::write(run.machine(), old).unwrap();
        let read = Machine::read(&run).unwrap();
        assert_eq!(read[0].libc, "");
        assert_eq!(read[0].describe(), "AMD EPYC, 2 logical CPUs, 2 threads, AVX2");
    }
}
