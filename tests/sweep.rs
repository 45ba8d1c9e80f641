//! `polyak sweep` end to end: a pool of runs, failures isolated, and resumption after a kill.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// checkpoint_every < steps: a run killed mid-way has a resume checkpoint and is resumed.
const ARGS: [&str; 18] = [
    "sweep",
    "--algos",
    "td3,ddpg",
    "--seeds",
    "2",
    "--steps",
    "2500",
    "--set",
    "hidden=[64, 64]",
    "--set",
    "eval_every=1250",
    "--set",
    "eval_episodes=1",
    "--set",
    "learning_starts=200",
    "--set",
    "checkpoint_every=500",
    "-q",
];

fn sweep(out: &Path, jobs: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyak"));
    cmd.args(ARGS).args(["--jobs", jobs, "--out"]).arg(out);
    cmd
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn finals(out: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    let mut found = Vec::new();
    for algo in ["td3", "ddpg"] {
        for seed in 0..2 {
            let p = out.join(format!("Pendulum-v1/{algo}/seed{seed}/checkpoints/final.safetensors"));
            if let Ok(bytes) = std::fs::read(&p) {
                found.push((p.display().to_string(), bytes, std::fs::metadata(&p).unwrap().modified().unwrap()));
            }
        }
    }
    found
}

#[test]
fn a_killed_sweep_resumes_and_leaves_finished_runs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    // One run at a time; kill the whole sweep (and its worker) once the first run has finished.
    let mut child = sweep(&out, "1").process_group(0).spawn().unwrap();
    let start = Instant::now();
    while finals(&out).is_empty() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status().unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    let before = finals(&out);
    assert!(!before.is_empty() && before.len() < 4, "kill the sweep part-way: {} runs finished", before.len());

    let o = sweep(&out, "2").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("{} already finished", before.len())), "{}", text(&o));
    let after = finals(&out);
    assert_eq!(after.len(), 4);
    for (path, bytes, mtime) in &before {
        let (_, b, m) = after.iter().find(|(p, _, _)| p == path).unwrap();
        assert!(b == bytes && m == mtime, "{path} was rewritten");
    }
    // A third run has nothing left to do.
    let o = sweep(&out, "2").output().unwrap();
    assert!(text(&o).contains("4 already finished, 0 completed now"), "{}", text(&o));
}

/// A two-run sweep of short TD3 runs, two at a time.
fn short_sweep(out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyak"));
    cmd.args(["sweep", "--algos", "td3", "--seeds", "2", "--steps", "400", "--jobs", "2", "-q", "--out"]).arg(out);
    for set in ["hidden=[32, 32]", "learning_starts=100", "eval_every=400", "eval_episodes=1"] {
        cmd.args(["--set", set]);
    }
    cmd
}

#[test]
fn a_run_held_by_another_process_is_waited_for_and_fails_only_past_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let held = out.join("Pendulum-v1/td3/seed0");
    std::fs::create_dir_all(&held).unwrap();

    // Released a moment after the sweep starts (as a killed sweep's run ends): the run waits for it.
    let lock = polyak::rundir::RunLock::acquire(&held).unwrap();
    let child = short_sweep(&out).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn();
    std::thread::sleep(Duration::from_millis(1500));
    drop(lock);
    let o = child.unwrap().wait_with_output().unwrap();
    assert!(o.status.success() && text(&o).contains("0 already finished, 2 completed now"), "{}", text(&o));
    assert!(held.join("checkpoints/final.safetensors").exists());

    // Held throughout (another writer): that run fails after the grace, naming it; its directory
    // is left as it was and the other run finishes.
    let out = dir.path().join("sweep2");
    let held = out.join("Pendulum-v1/td3/seed1");
    std::fs::create_dir_all(&held).unwrap();
    let _lock = polyak::rundir::RunLock::acquire(&held).unwrap();
    let start = Instant::now();
    let o = short_sweep(&out).output().unwrap();
    let t = text(&o);
    assert!(!o.status.success() && t.contains("1 completed now, 1 failed"), "{t}");
    assert!(t.contains("FAILED Pendulum-v1/td3/s1") && t.contains("is in use by"), "{t}");
    assert!(start.elapsed() >= Duration::from_secs(5), "failed before the grace: {:?}", start.elapsed());
    assert_eq!(std::fs::read_dir(&held).unwrap().count(), 0, "the held directory was written to");
    assert!(out.join("Pendulum-v1/td3/seed0/checkpoints/final.safetensors").exists());
}

#[test]
fn a_failing_run_is_reported_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    // ddpg's runs cannot create their directories: a file stands where the folder goes.
    std::fs::create_dir_all(out.join("Pendulum-v1")).unwrap();
    std::fs::write(out.join("Pendulum-v1/ddpg"), "in the way").unwrap();
    let o = sweep(&out, "2").output().unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("FAILED Pendulum-v1/ddpg/s0") && t.contains("FAILED Pendulum-v1/ddpg/s1"), "{t}");
    assert!(t.contains("Pendulum-v1/ddpg/seed0"), "the error names the path: {t}");
    assert!(t.contains("2 completed now, 2 failed"), "{t}");
    assert_eq!(finals(&out).len(), 2);
    // Out of the way, a re-run finishes them, and each log keeps the failed attempt's error.
    std::fs::remove_file(out.join("Pendulum-v1/ddpg")).unwrap();
    let o = sweep(&out, "2").output().unwrap();
    assert!(o.status.success() && text(&o).contains("2 already finished, 2 completed now"), "{}", text(&o));
    assert_eq!(finals(&out).len(), 4);
    for seed in 0..2 {
        let log = std::fs::read_to_string(out.join(format!("logs/Pendulum-v1_ddpg_s{seed}.log"))).unwrap();
        let attempts: Vec<&str> = log.split("── polyak sweep, ").skip(1).collect();
        assert_eq!(attempts.len(), 2, "{log}");
        assert!(attempts.iter().all(|a| a.contains("UTC: this attempt starts the run")), "{log}");
        assert!(attempts[0].contains("Pendulum-v1/ddpg/seed"), "the first attempt's error is kept: {log}");
        assert!(!attempts[1].contains("error"), "{log}");
    }
}

#[test]
fn slurm_emission_writes_an_array_script_with_the_same_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = sweep(&out, "2").args(["--emit", "slurm"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let script = std::fs::read_to_string(out.join("sweep.slurm")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3"), "{script}");
    assert!(script.contains("sweep --algos td3,ddpg --seeds 2") && script.contains("--only \"$SLURM_ARRAY_TASK_ID\""));
    assert!(!script.contains("--emit"), "{script}");
    // What one array task runs: exactly one run of the sweep.
    let o = sweep(&out, "1").args(["--only", "3"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(finals(&out).len(), 1);
    assert!(out.join("Pendulum-v1/ddpg/seed1/checkpoints/final.safetensors").exists());
}
