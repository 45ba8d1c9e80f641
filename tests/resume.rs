//! Exact resume: a run interrupted anywhere — at a checkpoint, by SIGKILL, inside a checkpoint
//! write, by a full disk — continues to the same weights and metrics as a run never stopped.

use polyak::checkpoint::Checkpoint;
use polyak::config::TrainConfig;
use polyak::train::{resume, train, TrainOptions};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A small, fast Pendulum run whose 400-transition replay ring wraps (so replay files are
/// dropped as the ring overwrites them) and which checkpoints three times.
const SETS: [&str; 9] = [
    "total_steps=900",
    "learning_starts=100",
    "hidden=[16, 16]",
    "batch_size=32",
    "buffer_size=400",
    "eval_every=300",
    "eval_episodes=1",
    "checkpoint_every=300",
    "threads=1",
];

fn sets(extra: &[&str]) -> Vec<String> {
    SETS.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn polyak(args: &[&str], failpoint: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyak"));
    cmd.args(args);
    match failpoint {
        Some(f) => cmd.env("POLYAK_FAILPOINT", f),
        None => cmd.env_remove("POLYAK_FAILPOINT"),
    };
    cmd.output().expect("run polyak")
}

fn train_args<'a>(out: &'a str, extra: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["train", "-q", "--algo", "sac", "--out", out];
    for s in extra {
        args.extend(["--set", s.as_str()]);
    }
    args
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

mod common;
use common::metrics_without_clock as metrics;

/// What must match: metrics rows, and the final agent (weights, optimiser state, counters).
fn outcome(dir: &Path) -> (Vec<String>, Checkpoint) {
    let ckpt = Checkpoint::load(&dir.join("checkpoints/final.safetensors")).unwrap();
    (metrics(dir), ckpt)
}

fn reference(extra: &[&str]) -> (Vec<String>, Checkpoint) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig::resolve(Some("sac"), None, &sets(extra)).unwrap();
    train(&cfg, dir.path(), &TrainOptions { quiet: true, ..Default::default() }).unwrap();
    outcome(dir.path())
}

fn assert_same(got: (Vec<String>, Checkpoint), want: &(Vec<String>, Checkpoint), what: &str) {
    assert_eq!(got.0, want.0, "{what}: metrics differ");
    assert!(got.1.tensors == want.1.tensors, "{what}: final weights differ");
    assert_eq!(got.1.counters, want.1.counters, "{what}: counters differ");
}

#[test]
fn stopping_at_any_step_and_resuming_is_bitwise_identical() {
    let want = reference(&[]);
    assert!(want.0.len() > 6, "too few rows: {:?}", want.0);
    // At a checkpoint boundary, mid-episode between checkpoints, and twice in one run.
    for stops in [vec![300], vec![437], vec![150, 640]] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve(Some("sac"), None, &sets(&[])).unwrap();
        let first = TrainOptions { quiet: true, stop_after: Some(stops[0]), ..Default::default() };
        let s = train(&cfg, dir.path(), &first).unwrap();
        assert!(!s.complete && s.steps == stops[0]);
        for &stop in &stops[1..] {
            resume(dir.path(), &[], &TrainOptions { quiet: true, stop_after: Some(stop), ..Default::default() })
                .unwrap();
        }
        let s = resume(dir.path(), &[], &TrainOptions { quiet: true, ..Default::default() }).unwrap();
        assert!(s.complete && s.steps == 900);
        assert_same(outcome(dir.path()), &want, &format!("stopped at {stops:?}"));
    }
}

#[test]
fn a_step_hook_sees_each_step_copies_the_run_as_it_stands_and_stops_it_for_an_exact_resume() {
    use polyak::train::{StepContext, StepHook};
    use std::sync::{Arc, Mutex};
    let want = reference(&[]);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy_at_437");
    let run = dir.path().join("run");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook = {
        let (seen, copy) = (seen.clone(), copy.clone());
        StepHook(Arc::new(move |ctx: &mut StepContext<'_>| {
            seen.lock().unwrap().push((ctx.step(), ctx.episode.map(|e| e.1)));
            if ctx.step() == 437 {
                ctx.copy_run(&copy).unwrap();
            }
            ctx.step() < 650
        }))
    };
    let cfg = TrainConfig::resolve(Some("sac"), None, &sets(&[])).unwrap();
    let s = train(&cfg, &run, &TrainOptions { quiet: true, on_step: Some(hook), ..Default::default() }).unwrap();
    // Stopped by the hook at 650, with a resume checkpoint there
    assert!(s.interrupted && !s.complete && s.steps == 650);
    assert!(run.join("checkpoints/step_000000650.safetensors").is_file());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), (1..=650).collect::<Vec<_>>());
    // Pendulum's episodes end every 200 steps, and the hook hears of each one
    let ends: Vec<_> = seen.iter().filter_map(|&(step, len)| len.map(|l| (step, l))).collect();
    assert_eq!(ends, vec![(200, 200), (400, 200), (600, 200)]);
    // The run, and the copy made during it (a run of its own, at step 437), each resume to the
    // outcome of a run never stopped
    assert_eq!(polyak::train::state::steps_done(&copy).unwrap(), 437);
    for dir in [&run, &copy] {
        let s = resume(dir, &[], &TrainOptions { quiet: true, ..Default::default() }).unwrap();
        assert!(s.complete && s.steps == 900);
        assert_same(outcome(dir), &want, &dir.display().to_string());
    }
}

#[test]
fn sigkill_at_an_arbitrary_moment_then_resume_is_bitwise_identical() {
    let extra = [
        "total_steps=6000",
        "checkpoint_every=500",
        "eval_every=1000",
        "buffer_size=100000",
        "hidden=[64, 64]",
        "batch_size=64",
    ];
    let want = reference(&extra);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let all = sets(&extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyak"))
        .args(train_args(out.to_str().unwrap(), &all))
        .env_remove("POLYAK_FAILPOINT")
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then kill at a moment unrelated to the checkpoint schedule.
    let resume_file = out.join("checkpoints/resume.safetensors");
    let start = Instant::now();
    while !resume_file.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(337));
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(killed, "the run finished before it could be killed; make it longer");
    let o = polyak(&["train", "-q", "--resume", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same(outcome(&out), &want, "killed with SIGKILL");
}

#[test]
fn a_crash_at_every_point_of_every_checkpoint_write_is_recoverable() {
    let want = reference(&[]);
    let all = sets(&[]);
    let mut points = 0;
    for n in 1.. {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let out_s = out.to_str().unwrap();
        let o = polyak(&train_args(out_s, &all), Some(&format!("crash:{n}")));
        if o.status.success() {
            break; // past the last crash point of the run
        }
        points += 1;
        if !out.join("checkpoints/resume.safetensors").exists() {
            // Killed before the first checkpoint was complete: `--resume` starts the run again in
            // place — unless it died before its config.toml existed, when there is no run to name.
            let started = out.join("config.toml").exists();
            let o = polyak(&["train", "-q", "--resume", out_s], None);
            if started {
                assert!(o.status.success(), "crash point {n}: {}", stderr(&o));
                assert_same(outcome(&out), &want, &format!("crash point {n}, restarted in place"));
            } else {
                assert!(!o.status.success() && stderr(&o).contains("not a polyak run"), "{n}: {}", stderr(&o));
            }
            continue;
        }
        let o = polyak(&["train", "-q", "--resume", out_s], None);
        // Killed after the final checkpoint was committed: the run is complete as it stands.
        let complete = stderr(&o).contains("is complete (900 steps)");
        assert!(o.status.success() || complete, "crash point {n}: {}", stderr(&o));
        assert_same(outcome(&out), &want, &format!("crash point {n}"));
        // No temporaries or orphaned replay files are left behind.
        for sub in ["checkpoints", "checkpoints/replay"] {
            for e in std::fs::read_dir(out.join(sub)).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                assert!(!name.contains(".tmp-"), "crash point {n}: leftover {sub}/{name}");
            }
        }
    }
    assert!(points >= 40, "only {points} crash points: are checkpoints written?");
}

#[test]
fn a_full_disk_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint() {
    let want = reference(&[]);
    let all = sets(&[]);
    // Atomic writes: config.toml, metrics.csv, the TensorBoard file, machine.toml, then per
    // checkpoint a replay file, the agent, the resume file.
    for n in 3..=11 {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let out_s = out.to_str().unwrap();
        let o = polyak(&train_args(out_s, &all), Some(&format!("enospc:{n}")));
        let err = stderr(&o);
        if n == 4 {
            // machine.toml records where the run trained; without it the run is whole, so a full
            // disk there is a warning and training goes on.
            assert!(o.status.success() && err.contains("warning") && err.contains("machine.toml"), "{err}");
            assert_same(outcome(&out), &want, "enospc:4");
            continue;
        }
        assert!(!o.status.success(), "enospc:{n} should fail the run");
        assert!(err.contains("No space left on device") && err.contains(out_s), "enospc:{n}: {err}");
        if n <= 7 {
            continue; // the first checkpoint never completed
        }
        assert!(err.contains("last good checkpoint"), "enospc:{n}: {err}");
        let o = polyak(&["train", "-q", "--resume", out_s], None);
        assert!(o.status.success(), "enospc:{n}: {}", stderr(&o));
        assert_same(outcome(&out), &want, &format!("enospc:{n}"));
    }
}

/// A run stopped at step 450 of 900, ready to resume.
fn stopped_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig::resolve(Some("sac"), None, &sets(&[])).unwrap();
    train(&cfg, dir.path(), &TrainOptions { quiet: true, stop_after: Some(450), ..Default::default() }).unwrap();
    dir
}

#[test]
fn damaged_or_foreign_checkpoints_are_named_errors_and_are_not_overwritten() {
    let resume_of = |dir: &Path| polyak(&["train", "-q", "--resume", dir.to_str().unwrap()], None);

    let dir = stopped_run();
    let path = dir.path().join("checkpoints/resume.safetensors");
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let err = stderr(&resume_of(dir.path()));
    assert!(err.contains("resume.safetensors") && err.contains("truncated or corrupt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap().len(), good.len() / 2, "the damaged file was touched");

    let mut flipped = good.clone();
    let i = flipped.len() - 10;
    flipped[i] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let err = stderr(&resume_of(dir.path()));
    assert!(err.contains("checksum mismatch"), "{err}");

    // A file from a future format version.
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("format_version".into(), "99".into());
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    std::fs::write(&path, safetensors::serialize(st.tensors(), &Some(meta)).unwrap()).unwrap();
    let err = stderr(&resume_of(dir.path()));
    assert!(err.contains("format version \"99\""), "{err}");

    // A damaged replay file is named too.
    std::fs::write(&path, &good).unwrap();
    let replay = dir.path().join("checkpoints/replay");
    let seg = std::fs::read_dir(&replay).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let err = stderr(&resume_of(dir.path()));
    assert!(err.contains(seg.file_name().unwrap().to_str().unwrap()) && err.contains("checksum"), "{err}");
}

#[test]
fn resume_rejects_changes_to_what_the_run_means_and_allows_the_rest() {
    let dir = stopped_run();
    let d = dir.path().to_str().unwrap();
    for (flag, key) in [
        (vec!["--set", "hidden=[32, 32]"], "hidden"),
        (vec!["--env", "MountainCarContinuous-v0"], "env"),
        (vec!["--seed", "5"], "seed"),
        (vec!["--set", "sac.alpha_lr=0.1"], "sac.alpha_lr"),
        (vec!["--steps", "100"], "total_steps"),
    ] {
        let o = polyak(&[&["train", "-q", "--resume", d][..], &flag].concat(), None);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(&format!("`{key}`")), "{flag:?}: {err}");
    }
    let o = polyak(&["train", "-q", "--resume", d, "--algo", "td3"], None);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"), "{}", stderr(&o));

    // Editing the run's config.toml is checked the same way.
    let config = dir.path().join("config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, original.replace("gamma = 0.99", "gamma = 0.9")).unwrap();
    let err = stderr(&polyak(&["train", "-q", "--resume", d], None));
    assert!(err.contains("config.toml") && err.contains("`gamma`"), "{err}");
    std::fs::write(&config, &original).unwrap();

    // Allowed: more steps, other eval settings. Then a finished run says how to extend it.
    let o = polyak(&["train", "-q", "--resume", d, "--steps", "1000", "--set", "eval_episodes=2"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg = TrainConfig::load(&config).unwrap();
    assert_eq!((cfg.total_steps, cfg.eval_episodes), (1000, 2));
    let err = stderr(&polyak(&["train", "-q", "--resume", d], None));
    assert!(err.contains("is complete (1000 steps)") && err.contains("--steps"), "{err}");
}

#[test]
fn unwritable_run_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("run");
    let o = polyak(&train_args(out.to_str().unwrap(), &sets(&[])), None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(file.to_str().unwrap()), "{}", stderr(&o));
}

#[test]
fn inspect_reports_progress_and_flags_a_corrupt_file() {
    let dir = stopped_run();
    let d = dir.path().to_str().unwrap();
    let o = polyak(&["inspect", d], None);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("step 450") && text.contains("resume.safetensors") && text.contains("ok, step 300"),
        "{text}"
    );
    let path = dir.path().join("checkpoints/step_000000300.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..100]).unwrap();
    let o = polyak(&["inspect", d], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("INVALID"), "{}", String::from_utf8_lossy(&o.stdout));
}

/// MuJoCo's full physics state (and the derived body positions the next reward reads) resumes
/// exactly too. Ant's forward reward differentiates a body position, not a coordinate.
#[cfg(mujoco)]
#[test]
fn mujoco_runs_resume_bitwise() {
    for env in ["HalfCheetah-v5", "Ant-v5"] {
        let extra = [format!("env={env}"), "total_steps=600".into(), "checkpoint_every=200".into()];
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let want = reference(&extra);
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::resolve(Some("sac"), None, &sets(&extra)).unwrap();
        train(&cfg, dir.path(), &TrainOptions { quiet: true, stop_after: Some(333), ..Default::default() }).unwrap();
        resume(dir.path(), &[], &TrainOptions { quiet: true, ..Default::default() }).unwrap();
        assert_same(outcome(dir.path()), &want, env);
    }
}
