//! The `polyak` binary end to end: a short run, its run directory, eval, and bad input.

use std::path::Path;
use std::process::{Command, Output};

fn polyak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_polyak")).args(args).output().expect("run polyak")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn more_threads_than_cpus_train_with_a_warning_that_says_so() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let dir = tempfile::tempdir().unwrap();
    let train = |threads: usize, name: &str| {
        let out = dir.path().join(name);
        let threads = format!("threads={threads}");
        let args = ["--set", "learning_starts=200", "--set", "hidden=[16]", "--set", threads.as_str()];
        let o = polyak(&[&["train", "--steps", "300", "-q", "--out", out.to_str().unwrap()][..], &args].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let over = train(cpus + 1, "over");
    let want = format!("warning: threads = {} is more than the {cpus} CPU", cpus + 1);
    assert!(over.contains(&want) && over.contains(&format!("set threads to at most {cpus}")), "{over}");
    let fits = train(cpus, "fits");
    assert!(!fits.contains("warning"), "{fits}");
}

#[test]
fn train_writes_a_run_directory_and_eval_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let o = polyak(&[
        "train",
        "--algo",
        "td3",
        "--steps",
        "600",
        "--seed",
        "3",
        "--out",
        run_s,
        "-q",
        "--set",
        "learning_starts=200",
        "--set",
        "hidden=[32, 32]",
        "--set",
        "eval_every=300",
        "--set",
        "eval_episodes=2",
        "--set",
        "checkpoint_every=300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("done: 600 steps, 3 episodes"), "{}", stdout(&o));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("algo = \"td3\"") && config.contains("seed = 3") && config.contains("[td3]"), "{config}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert!(lines[0].starts_with("step,wall_time,sps,episode,episode_return,episode_length,eval_mean,eval_std"));
    // 3 episode rows (200 steps each) and 2 eval rows (steps 300, 600).
    assert_eq!(lines.len(), 1 + 3 + 2, "{metrics}");
    assert!(Path::new(&run).join("checkpoints/step_000000300.safetensors").exists());
    assert!(Path::new(&run).join("checkpoints/final.safetensors").exists());

    let o = polyak(&["eval", "--run", run_s, "--episodes", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("eval over 3 episodes:"), "{}", stdout(&o));
    // Same checkpoint, same seed: identical returns.
    assert_eq!(stdout(&o), stdout(&polyak(&["eval", "--run", run_s, "--episodes", "3"])));

    // A run directory is never overwritten.
    let o = polyak(&["train", "--steps", "2000", "--out", run_s, "-q"]);
    assert!(!o.status.success() && stderr(&o).contains("already holds a run"), "{}", stderr(&o));

    // Its policy as ONNX (python/tests/test_export.py runs it), never over a file.
    let o = polyak(&["export", "--run", run_s, "--checkpoint", "300"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let onnx = run.join("exports/step_000000300.onnx");
    assert!(stdout(&o).contains(&format!("wrote {}", onnx.display())), "{}", stdout(&o));
    assert!(stdout(&o).contains("[batch, 3] -> action: float32 [batch, 1], in low [-2], high [2]"), "{}", stdout(&o));
    let exported = std::fs::read(&onnx).unwrap();
    let o = polyak(&["export", "--run", run_s, "--checkpoint", "300"]);
    assert!(!o.status.success() && stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&onnx).unwrap(), exported);
    let o = polyak(&["export", "--run", run_s, "--checkpoint", "301"]);
    assert!(!o.status.success() && stderr(&o).contains("step_000000300"), "{}", stderr(&o));
    let o = polyak(&["export", "--run", run_s, "--out", dir.path().join("policy.txt").to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains(".onnx"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(run.join("exports")).unwrap().count(), 1, "nothing else written");

    // A corrupt checkpoint is a clear error naming the file.
    let ckpt = run.join("checkpoints/final.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let o = polyak(&["eval", "--run", run_s]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("final.safetensors") && stderr(&o).contains("truncated or corrupt"), "{}", stderr(&o));
}

#[test]
fn bad_names_and_values_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let out_s = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--env", "Pendulum-v0"], "did you mean `Pendulum-v1`"),
        (&["--algo", "sca"], "did you mean `sac`"),
        (&["--set", "gama=0.9"], "did you mean `gamma`"),
        (&["--set", "gamma=2"], "config `gamma`: expected a discount in [0, 1], got 2"),
        (&["--config", "/nonexistent.toml"], "/nonexistent.toml"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["train", "--out", out_s, "-q", "--steps", "2000"];
        full.extend_from_slice(args);
        let o = polyak(&full);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} created the run directory");
    }
}

#[test]
fn list_names_presets_and_envs() {
    let o = polyak(&["list"]);
    let text = stdout(&o);
    for name in [
        "sac",
        "td3",
        "ddpg",
        "td3-no-twin",
        "td3-no-delay",
        "td3-no-smoothing",
        "Pendulum-v1",
        "MountainCarContinuous-v0",
    ] {
        assert!(text.contains(name), "{text}");
    }
}

/// `polyak bench --cores N`: the CPU, then N readings of how fast two threads run at once
/// against one, each with its verdict; it takes no other bench option.
#[test]
fn bench_cores_reads_whether_two_threads_get_two_cores() {
    let o = polyak(&["bench", "--cores", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("CPU: "), "{text}");
    for line in &lines[1..] {
        let number = |after: &str, until: char| -> f64 {
            let rest = line.split_once(after).unwrap_or_else(|| panic!("{line}")).1;
            rest.split(until).next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
        };
        let share = number("two threads at once: ", '%');
        // A round trip that never came back says so in words (a busy host may not run the thread).
        let trip = if line.contains("there and back not at all (") {
            f64::INFINITY
        } else {
            number("there and back in ", ' ')
        };
        // The verdict is on the unrounded readings: at a printed 90% or 200 ns it may go either way.
        let verdict = if share < 90.0 {
            "(NOT two whole cores: "
        } else if trip > 200.0 && share > 90.0 {
            "(two cores, but NOT near each other: "
        } else if share > 90.0 && trip < 200.0 {
            "(two whole cores)"
        } else {
            ""
        };
        assert!(line.contains(verdict), "{line}");
    }
    let o = polyak(&["bench", "--cores", "--algo", "sac"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

/// `polyak bench | head -1`: the reader goes away, and polyak ends quietly (no panic, exit 0),
/// as Unix tools do. Also: a bad POLYAK_SIMD is a clear error, not a silent fallback.
#[test]
fn bench_into_a_closed_pipe_ends_quietly_and_a_bad_simd_level_is_refused() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyak"))
        .args(["bench", "--envs", "--quick"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut first, mut second) = (String::new(), String::new());
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    assert!(first.starts_with("CPU: ") && first.len() > "CPU: \n".len(), "{first}");
    assert!(second.starts_with("env steps/s"), "{second}");
    // The reader is dropped here: the next line polyak prints meets a closed pipe.
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    let o = Command::new(env!("CARGO_BIN_EXE_polyak")).args(["list"]).env("POLYAK_SIMD", "sse9").output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("POLYAK_SIMD=sse9: expected one of scalar, avx2, avx512"), "{}", stderr(&o));
}

#[test]
fn log_episodes_prints_the_mean_of_each_n_episodes_as_metrics_csv_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let sets = ["learning_starts=100", "hidden=[16]", "eval_every=0", "checkpoint_every=0"];
    let mut args = vec!["train", "--algo", "ddpg", "--steps", "1000", "--log-episodes", "2", "--out"];
    args.push(run.to_str().unwrap());
    args.extend(sets.iter().flat_map(|s| ["--set", s]));
    let o = polyak(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let head: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let col = head.iter().position(|c| *c == "episode_return").unwrap();
    let returns: Vec<f64> = metrics.lines().skip(1).filter_map(|l| l.split(',').nth(col)?.parse().ok()).collect();
    assert_eq!(returns.len(), 5, "five Pendulum episodes of 200 steps");
    // Pendulum's episodes are 200 steps: lines after episodes 2 and 4, none after the fifth.
    let log = stderr(&o);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" episodes ")).map(str::trim).collect();
    assert_eq!(lines.len(), 2, "{log}");
    for (k, line) in lines.iter().enumerate() {
        let mean = (returns[2 * k] + returns[2 * k + 1]) / 2.0;
        let step = 400 * (k + 1);
        let want = format!("step {step:>8}  episodes {:>6}  return {mean:9.2}  length  200.0", 2 * (k + 1));
        assert!(line.starts_with(&want), "{line:?} against {want:?}");
    }
    let o = polyak(&["train", "--steps", "10", "--log-episodes", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("--log-episodes"), "{}", stderr(&o));
}
