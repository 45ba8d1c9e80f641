//! Nothing lost under misuse: every case here once lost a user's run, gave a wrong answer or
//! panicked (issue 10). Each drives the `polyak` binary as a user would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

const SMALL: [&str; 7] = [
    "learning_starts=100",
    "hidden=[16, 16]",
    "batch_size=32",
    "eval_every=300",
    "eval_episodes=1",
    "checkpoint_every=300",
    "threads=1",
];

fn polyak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polyak")).args(args).env_remove("POLYAK_FAILPOINT").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `polyak train` of a small TD3 run on Pendulum into `out`, with `extra` settings.
fn train_args(out: &Path, steps: u64, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "-q", "--algo", "td3", "--steps", &steps.to_string(), "--out"].map(String::from).to_vec();
    args.push(out.display().to_string());
    for s in SMALL.iter().chain(extra) {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args
}

fn train(out: &Path, steps: u64, extra: &[&str]) -> Output {
    let args = train_args(out, steps, extra);
    polyak(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every file under `dir` with its bytes: what "left as it was" compares.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if e.is_dir() {
                stack.push(e.clone());
                out.insert(e, b"<dir>".to_vec());
            } else {
                out.insert(e.clone(), std::fs::read(&e).unwrap());
            }
        }
    }
    out
}

/// A one-run TD3 sweep (600 steps, one job unless `extra` says otherwise).
fn sweep_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["sweep", "-q", "--algos", "td3", "--seeds", "1"].map(String::from).to_vec();
    for (flag, default) in [("--steps", "600"), ("--jobs", "1")] {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), default.to_string()]);
        }
    }
    for s in SMALL {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--out".to_string(), out.display().to_string()]);
    args
}

fn sweep(out: &Path, extra: &[&str]) -> Output {
    let args = sweep_args(out, extra);
    polyak(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_sweep_rerun_never_deletes_a_run_whose_resume_file_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    assert!(sweep(&out, &[]).status.success());
    let run = out.join("Pendulum-v1/td3/seed0");
    std::fs::write(run.join("my-notes.txt"), "the user's own file").unwrap();
    // One flipped byte, as a bad disk would leave it.
    let resume = run.join("checkpoints/resume.safetensors");
    let mut bytes = std::fs::read(&resume).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 1;
    std::fs::write(&resume, bytes).unwrap();
    let before = snapshot(&run);
    let o = sweep(&out, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("FAILED Pendulum-v1/td3/s0") && text(&o).contains("checksum mismatch"), "{}", text(&o));
    assert!(text(&o).contains("0 completed now, 1 failed"), "{}", text(&o));
    assert_eq!(snapshot(&run), before, "the run directory was changed");
}

#[test]
fn a_second_writer_of_a_run_directory_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = train_args(&run, 200_000, &["checkpoint_every=100000"]);
    let mut first = Command::new(env!("CARGO_BIN_EXE_polyak")).args(&args).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !run.join("metrics.csv").exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let holder = format!("in use by process {}", first.id());
    let second = train(&run, 600, &[]);
    assert!(!second.status.success() && text(&second).contains(&holder), "{}", text(&second));
    let resume = polyak(&["train", "-q", "--resume", run.to_str().unwrap()]);
    assert!(!resume.status.success() && text(&resume).contains(&holder), "{}", text(&resume));
    first.kill().unwrap();
    first.wait().unwrap();
}

#[test]
fn a_killed_sweep_takes_its_running_child_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let args = sweep_args(&out, &["--steps", "200000"]);
    let mut parent = Command::new(env!("CARGO_BIN_EXE_polyak")).args(&args).spawn().unwrap();
    let run = out.join("Pendulum-v1/td3/seed0");
    let start = Instant::now();
    while !run.join("metrics.csv").exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(polyak::rundir::RunLock::acquire(&run).is_err(), "the child should hold the run");
    parent.kill().unwrap(); // SIGKILL to the sweep alone, not its process group
    parent.wait().unwrap();
    let start = Instant::now();
    while polyak::rundir::RunLock::acquire(&run).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "the child outlived the sweep");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_failed_resume_leaves_every_byte_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert!(train(&run, 900, &["buffer_size=200"]).status.success());
    // A replay file named by the resume file goes missing.
    let replay = run.join("checkpoints/replay");
    let seg = std::fs::read_dir(&replay).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(seg).unwrap();
    let before = snapshot(&run);
    let o = polyak(&["train", "-q", "--resume", run.to_str().unwrap(), "--steps", "1200"]);
    assert!(!o.status.success() && text(&o).contains("replay"), "{}", text(&o));
    assert_eq!(snapshot(&run), before);
    // Refused changes too.
    let o = polyak(&["train", "-q", "--resume", run.to_str().unwrap(), "--set", "tau=0.1"]);
    assert!(!o.status.success() && text(&o).contains("`tau`"), "{}", text(&o));
    assert_eq!(snapshot(&run), before);
}

#[test]
fn extending_a_finished_run_keeps_the_agent_its_last_evaluation_measured() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert!(train(&run, 600, &[]).status.success());
    let old_final = std::fs::read(run.join("checkpoints/final.safetensors")).unwrap();
    let o = polyak(&["train", "-q", "--resume", run.to_str().unwrap(), "--steps", "900"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(run.join("checkpoints/step_000000600.safetensors")).unwrap(), old_final);
    assert_ne!(std::fs::read(run.join("checkpoints/final.safetensors")).unwrap(), old_final);
}

#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_step_zero_in_place() {
    // The defaults checkpoint a tenth of the way through.
    let cfg = polyak::config::TrainConfig::resolve(None, None, &["total_steps=20000".into()]).unwrap();
    assert_eq!(cfg.checkpoint_every, 2000);
    let explicit = polyak::config::TrainConfig::resolve(None, None, &["checkpoint_every=0".into()]).unwrap();
    assert_eq!(explicit.checkpoint_every, 0);

    let dir = tempfile::tempdir().unwrap();
    let (run, reference) = (dir.path().join("run"), dir.path().join("reference"));
    assert!(train(&reference, 600, &["checkpoint_every=100000"]).status.success());
    // A long run killed with SIGKILL after its first episodes, long before its first checkpoint.
    let args = train_args(&run, 200_000, &["checkpoint_every=100000"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyak")).args(&args).spawn().unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(run.join("metrics.csv")).map_or(0, |t| t.lines().count()) < 3 {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("checkpoints/resume.safetensors").exists() && run.join("config.toml").exists());
    let o = train(&run, 600, &[]);
    assert!(!o.status.success() && text(&o).contains("--resume"), "train --out points to --resume: {}", text(&o));
    // total_steps may change on resume: finish it as the 600-step reference.
    let o = polyak(&["train", "--resume", run.to_str().unwrap(), "--steps", "600"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no checkpoint yet") && text(&o).contains("from step 0"), "{}", text(&o));
    assert_eq!(common::metrics_without_clock(&run), common::metrics_without_clock(&reference));
    let o = train(&dir.path().join("zero"), 600, &[]);
    assert!(o.status.success());
    let o = polyak(&["train", "-q", "--stop-after", "0", "--out", dir.path().join("z").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("--stop-after"), "{}", text(&o));
    assert!(!dir.path().join("z").exists());
}

#[test]
fn identical_runs_leave_byte_identical_agent_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(train(&a, 600, &[]).status.success() && train(&b, 600, &[]).status.success());
    for name in ["step_000000300.safetensors", "final.safetensors"] {
        let (x, y) = (std::fs::read(a.join("checkpoints").join(name)), std::fs::read(b.join("checkpoints").join(name)));
        assert!(x.unwrap() == y.unwrap(), "{name} differs");
    }
}

#[test]
fn a_sweep_rerun_with_other_settings_is_refused_naming_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    assert!(sweep(&out, &[]).status.success());
    let before = snapshot(&out);
    let o = sweep(&out, &["--set", "gamma=0.9"]);
    // 0.98: Pendulum-v1's γ for TD3 (rl-baselines3-zoo's, a per-env default).
    assert!(!o.status.success() && text(&o).contains("gamma: 0.98 → 0.9"), "{}", text(&o));
    assert_eq!(snapshot(&out), before);
    // What a resume may change is passed on: a longer sweep extends the finished run.
    let o = sweep(&out, &["--steps", "900"]);
    assert!(o.status.success() && text(&o).contains("1 completed now"), "{}", text(&o));
    let o = sweep(&out, &["--set", "env=MountainCarContinuous-v0"]);
    assert!(!o.status.success() && text(&o).contains("chosen by the sweep"), "{}", text(&o));
}

#[test]
fn slurm_scripts_run_the_sweep_command_once_whatever_flags_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = sweep(&out, &["--jobs", "2", "--only", "0", "--emit", "slurm"]);
    assert!(o.status.success(), "{}", text(&o));
    let script = std::fs::read_to_string(out.join("sweep.slurm")).unwrap();
    let cmd = script.lines().last().unwrap();
    assert_eq!(cmd.matches("--jobs").count(), 1, "{cmd}");
    assert_eq!(cmd.matches("--only").count(), 1, "{cmd}");
    assert!(!cmd.contains("--emit"), "{cmd}");
}

#[test]
fn reports_pictures_and_slurm_scripts_replace_only_polyaks_own_unchanged_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    assert!(sweep(&out, &[]).status.success());
    let (out_s, pics) = (out.to_str().unwrap(), dir.path().join("pics"));
    let pics_s = pics.to_str().unwrap();
    let emit = || sweep(&out, &["--emit", "slurm"]);
    // Made again on request, each replacing what polyak wrote before.
    for _ in 0..2 {
        for o in [polyak(&["report", out_s]), polyak(&["plot", out_s, "--train", "--out", pics_s]), emit()] {
            assert!(o.status.success(), "{}", text(&o));
        }
    }
    // An edited report and Slurm script, and a user's picture under polyak's name: each command
    // is refused naming the file, and writes nothing, its other files included.
    let mine = |path: &Path, bytes: &str| {
        let mut old = std::fs::read(path).unwrap_or_default();
        old.extend(bytes.as_bytes());
        std::fs::write(path, old).unwrap();
    };
    mine(&out.join("report.md"), "\nmy notes\n");
    mine(&out.join("sweep.slurm"), "\n#SBATCH --account=mine\n");
    mine(&pics.join("train_return.svg"), "<!-- my note -->");
    let figures = dir.path().join("paper");
    std::fs::create_dir(&figures).unwrap();
    std::fs::write(figures.join("eval_return.png"), "my own figure").unwrap();
    let before = [&out, &pics, &figures].map(|d| snapshot(d));
    for (o, file, why) in [
        (polyak(&["report", out_s]), "report.md", "was changed since polyak wrote it"),
        (emit(), "sweep.slurm", "was changed since polyak wrote it"),
        (polyak(&["plot", out_s, "--train", "--out", pics_s]), "train_return.svg", "was changed since polyak wrote it"),
        (
            polyak(&["plot", out_s, "--out", figures.to_str().unwrap()]),
            "eval_return.png",
            "already exists, and polyak did not write it",
        ),
    ] {
        assert!(!o.status.success() && text(&o).contains(&format!("{file}: {why}")), "{}", text(&o));
    }
    assert_eq!([&out, &pics, &figures].map(|d| snapshot(d)), before);
}

#[test]
fn pictures_can_be_made_again_after_a_crash_at_any_point_of_their_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, pics) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("pics"));
    assert!(sweep(&a, &[]).status.success() && sweep(&b, &["--steps", "700"]).status.success());
    let args =
        |runs: &Path| ["plot", runs.to_str().unwrap(), "--train", "--out", pics.to_str().unwrap()].map(String::from);
    let plot_crashing_at = |n: usize| {
        let mut plot = Command::new(env!("CARGO_BIN_EXE_polyak"));
        plot.args(args(&a)).env("POLYAK_FAILPOINT", format!("crash:{n}")).output().unwrap()
    };
    // A crash at each point of each write (the record, four pictures, the record again) while
    // the pictures of `a` replace those of `b`; then `b`'s again, which must find every name
    // still polyak's to replace.
    let plot_b = || polyak(&args(&b).each_ref().map(String::as_str));
    assert!(plot_b().status.success());
    let mut n = 1;
    while !plot_crashing_at(n).status.success() {
        let o = plot_b();
        assert!(o.status.success(), "after a crash at point {n}: {}", text(&o));
        n += 1;
    }
    assert_eq!(n, 6 * 4 + 1, "crash points passed");
}

#[test]
fn a_new_run_is_not_started_over_anyone_elses_files() {
    let dir = tempfile::tempdir().unwrap();
    // Files a fresh run writes, each here as a user's own (the folder otherwise fit for a run).
    for name in ["machine.toml", "events.out.tfevents.polyak", "python_env.toml", "metrics.csv", "checkpoints/mine"] {
        let out = dir.path().join(name.replace(['/', '.'], "_"));
        std::fs::create_dir_all(out.join("checkpoints")).unwrap();
        std::fs::write(out.join(name), "mine").unwrap();
        let before = snapshot(&out);
        let o = train(&out, 600, &[]);
        let shown = name.split('/').next().unwrap();
        assert!(!o.status.success() && text(&o).contains(&format!("holds `{shown}`")), "{name}: {}", text(&o));
        assert_eq!(snapshot(&out), before, "{name}");
    }
    // An empty checkpoints folder takes nothing.
    let out = dir.path().join("empty");
    std::fs::create_dir_all(out.join("checkpoints")).unwrap();
    assert!(train(&out, 600, &[]).status.success());
}

#[test]
fn settings_of_the_wrong_type_or_family_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let out_s = out.to_str().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "algo = 7\n").unwrap();
    let cases: [(&[&str], &str); 9] = [
        (&["--set", "algo=5"], "config `algo`: expected a string"),
        (&["--config", file.to_str().unwrap()], "config `algo`: expected a string"),
        (&["--algo", "sac", "--set", "td3.policy_delay=3"], "`td3.policy_delay`: is a setting of td3"),
        (&["--algo", "ddpg", "--set", "sac.alpha_lr=0.1"], "`sac.alpha_lr`: is a setting of sac"),
        (&["--set", "td3.exploration_noise=inf", "--algo", "td3"], "`td3.exploration_noise`"),
        (&["--set", "td3.target_noise_clip=inf", "--algo", "td3"], "`td3.target_noise_clip`"),
        (&["--set", "learning_starts=5000", "--steps", "2000"], "`learning_starts`: expected fewer than total_steps"),
        (&["--set", "=5"], "--set: expected key=value"),
        (&["--set", "seed=9223372036854775808"], "beyond the largest integer"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["train", "--out", out_s, "-q"];
        full.extend_from_slice(args);
        let o = polyak(&full);
        assert!(!o.status.success() && text(&o).contains(expected), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?} created the run directory");
    }
    let o = polyak(&["train", "--seed", "9223372036854775808", "--out", out_s]);
    assert!(!o.status.success() && text(&o).contains("9223372036854775807"), "{}", text(&o));
}

#[test]
fn impossible_sizes_are_refused_before_anything_is_allocated_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    for set in ["buffer_size=1000000000000000000", "batch_size=1000000000000000000", "hidden=[100000000000]"] {
        let o = polyak(&["train", "-q", "--out", out.to_str().unwrap(), "--set", set]);
        assert!(
            !o.status.success() && text(&o).contains("of memory") || text(&o).contains("16 EB"),
            "{set}: {}",
            text(&o)
        );
        assert_eq!(o.status.code(), Some(1), "{set}: not a crash");
        assert!(!out.exists(), "{set} left a directory");
    }
    let run = dir.path().join("run");
    assert!(train(&run, 600, &[]).status.success());
    let o = polyak(&["eval", "--run", run.to_str().unwrap(), "--episodes", "100000000000000000"]);
    assert!(o.status.code() == Some(1) && text(&o).contains("of memory"), "{}", text(&o));
}

#[test]
fn eval_and_inspect_check_that_checkpoints_belong_to_the_run_and_can_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(train(&a, 600, &[]).status.success());
    assert!(train(&b, 600, &["gamma=0.9"]).status.success());
    let foreign = b.join("checkpoints/final.safetensors");
    let o = polyak(&["eval", "--run", a.to_str().unwrap(), "--checkpoint", foreign.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("belongs to another run"), "{}", text(&o));
    assert!(polyak(&["inspect", a.to_str().unwrap()]).status.success());
    std::fs::copy(&foreign, a.join("checkpoints/step_000000300.safetensors")).unwrap();
    let o = polyak(&["inspect", a.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("belongs to another run"), "{}", text(&o));

    // Not resumable: a replay file gone; the resume file replaced by a directory.
    let replay = b.join("checkpoints/replay");
    for e in std::fs::read_dir(&replay).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let o = polyak(&["inspect", b.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("resumable: NO") && text(&o).contains("missing"), "{}", text(&o));
    let c = dir.path().join("c");
    assert!(train(&c, 600, &[]).status.success());
    let resume = c.join("checkpoints/resume.safetensors");
    std::fs::remove_file(&resume).unwrap();
    std::fs::create_dir(&resume).unwrap();
    let o = polyak(&["inspect", c.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("a directory"), "{}", text(&o));
    let o = polyak(&["inspect", dir.path().join("nonexistent").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("does not exist"), "{}", text(&o));
}

#[test]
fn a_nan_actor_is_named_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let o = train(&dir.path().join("run"), 2000, &["actor_lr=1e30"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("actor") && !text(&o).contains("from the environment"), "{}", text(&o));
}

#[test]
fn closed_or_full_standard_output_is_handled_like_a_unix_tool() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    assert!(train(&run, 600, &[]).status.success());
    let bin = env!("CARGO_BIN_EXE_polyak");
    for cmd in [format!("{bin} list | head -0"), format!("{bin} inspect {} | head -1", run.display())] {
        let o = Command::new("bash").args(["-c", &format!("set -o pipefail; {cmd}")]).output().unwrap();
        assert!(o.status.success() && !text(&o).contains("panicked"), "{cmd}: {}", text(&o));
    }
    let o = Command::new("bash").args(["-c", &format!("{bin} list > /dev/full")]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("No space left") && !text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn report_and_plot_survive_a_bad_run_and_refuse_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    assert!(sweep(&out, &[]).status.success());
    // A run the user trained into the sweep's root is found without hiding the sweep's runs.
    assert!(train(&out, 600, &[]).status.success());
    let bad = out.join("Pendulum-v1/broken/seed0");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(out.join("config.toml"), bad.join("config.toml")).unwrap();
    std::fs::write(bad.join("metrics.csv"), "step,wall_time,episode_return,eval_mean\n-5,1,2,3\n").unwrap();
    let o = polyak(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| 2 |") || md.contains("2 runs"), "both good runs: {md}");
    assert!(md.contains("broken/seed0") && md.contains("\"-5\""), "{md}");
    for (args, expected) in [
        (vec!["--threshold", "Pendulm-v1=-200"], "did you mean `Pendulum-v1`"),
        (vec!["--threshold", "Pendulum-v1=nan"], "finite number"),
        (vec!["--out", out.join("config.toml").to_str().unwrap().to_string().leak()], "is a file"),
    ] {
        let mut full = vec!["report", out.to_str().unwrap()];
        full.extend(args.iter().copied());
        let o = polyak(&full);
        assert!(!o.status.success() && text(&o).contains(expected), "{full:?}: {}", text(&o));
    }
    // Huge step values are an error for that run, not nonsense figures.
    std::fs::write(bad.join("metrics.csv"), "step,wall_time,episode_return,eval_mean\n184467440737095516,1,2,3\n")
        .unwrap();
    let o = polyak(&["report", out.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("beyond the run's total_steps"), "{}", text(&o));

    // A run that has not evaluated yet still gets a report, and plot --train draws what exists.
    let young = dir.path().join("young");
    let o = polyak(&[
        "train",
        "-q",
        "--algo",
        "td3",
        "--steps",
        "900",
        "--stop-after",
        "450",
        "--out",
        young.to_str().unwrap(),
        "--set",
        "eval_every=0",
        "--set",
        "hidden=[16]",
        "--set",
        "learning_starts=100",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = polyak(&["report", young.to_str().unwrap()]);
    assert!(
        o.status.success() && std::fs::read_to_string(young.join("report.md")).unwrap().contains("no evaluation yet")
    );
    let o = polyak(&["plot", young.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("nothing to plot"), "{}", text(&o));
    let o = polyak(&["plot", young.to_str().unwrap(), "--train"]);
    assert!(o.status.success() && text(&o).contains("eval_return not drawn"), "{}", text(&o));
    assert!(young.join("train_return.png").exists() && !young.join("eval_return.png").exists());
}
