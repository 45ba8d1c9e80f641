//! `polyak report` and `polyak plot` on a small synthetic set of runs whose numbers are worked
//! out by hand; and the TensorBoard files a real run writes, read back frame by frame.

use polyak::config::TrainConfig;
use polyak::results::find_runs;
use std::path::Path;
use std::process::Command;

const HEADER: &str =
    "step,wall_time,sps,episode,episode_return,episode_length,eval_mean,eval_std,critic_loss,actor_loss,alpha,mean_q";

/// A run directory with a config and hand-written eval rows (step, eval_mean) and wall time.
fn fake_run(dir: &Path, algo: &str, env: &str, seed: u64, evals: &[(u64, f64)], wall: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let sets = [format!("env=\"{env}\""), format!("seed={seed}")];
    let cfg = TrainConfig::resolve(Some(algo), None, &sets).unwrap();
    std::fs::write(dir.join("config.toml"), cfg.to_toml()).unwrap();
    let mut csv = format!("{HEADER}\n");
    for (i, &(step, v)) in evals.iter().enumerate() {
        csv += &format!("{step},{:.3},0,0,{},200,,,,,,\n", wall * (i as f64 + 0.5) / evals.len() as f64, v - 50.0);
        let t = wall * (i + 1) as f64 / evals.len() as f64;
        csv += &format!("{step},{t:.3},0,0,,,{v},1,,,,\n");
    }
    std::fs::write(dir.join("metrics.csv"), csv).unwrap();
}

fn synthetic_sweep(root: &Path) {
    let td3 = root.join("Pendulum-v1/td3");
    fake_run(
        &td3.join("seed0"),
        "td3",
        "Pendulum-v1",
        0,
        &[(1000, -1000.0), (2000, -500.0), (3000, -300.0), (4000, -150.0)],
        40.0,
    );
    fake_run(
        &td3.join("seed1"),
        "td3",
        "Pendulum-v1",
        1,
        &[(1000, -800.0), (2000, -400.0), (3000, -250.0), (4000, -170.0)],
        60.0,
    );
    let ddpg = root.join("Pendulum-v1/ddpg/seed0");
    fake_run(&ddpg, "ddpg", "Pendulum-v1", 0, &[(1000, -1200.0), (2000, -1100.0)], 10.0);
    let car = root.join("MountainCarContinuous-v0/sac/seed0");
    fake_run(&car, "sac", "MountainCarContinuous-v0", 0, &[(1000, -10.0), (2000, 95.0)], 20.0);
}

#[test]
fn report_numbers_match_the_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_sweep(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_polyak")).args(["report"]).arg(dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    // td3: finals (last 3 evals) −316.67 and −273.33 → −295.0 ± 21.7; seed-mean curve −900, −450,
    // −275, −160 → best −160, AUC (−675k − 362.5k − 217.5k)/3000 = −418.3; reaches −200 at 4k;
    // wall 40 and 60 s → 50 s; 4000/40 and 4000/60 steps/s → 83.
    // The IQM of two runs is their mean; a resample of two runs is one of them twice (¼ each) or
    // both (½), so the 95% interval spans the two scores.
    let td3 = "| td3 | 2 | -295.0 ± 21.7 | -295.0 [-316.7, -273.3] | -160.0 | -418.3 | 50 s | 83 | – |";
    assert!(md.contains(td3), "{md}");
    // Both runs reach −200 at their 4k evaluation, after 40 and 60 s: median 50 s.
    assert!(md.contains("| td3 | 2 of 2 | 4k | 50 s [40 s, 60 s] |"), "{md}");
    // ddpg: one seed, two evals: final −1150.0 ± 0.0, best −1100, AUC −1150, never at −200. One
    // run has no interval.
    assert!(md.contains("| ddpg | 1 | -1150.0 ± 0.0 | -1150.0 | -1100.0 | -1150.0 | 10 s | 200 | – |"), "{md}");
    assert!(md.contains("| ddpg | 0 of 1 | not reached | not reached |"), "{md}");
    // MountainCar's threshold is Gymnasium's 90: reached at the 2k evaluation, the run's last.
    assert!(md.contains("## MountainCarContinuous-v0") && md.contains("| algorithm | reached 90 |"), "{md}");
    assert!(md.contains("| sac | 1 | 42.5 ± 0.0 | 42.5 | 95.0 | 42.5 | 20 s | 100 | – |"), "{md}");
    assert!(md.contains("| sac | 1 of 1 | 2k | 20 s |"), "{md}");
    assert!(md.contains("![evaluation return](eval_return.png)"), "{md}");
    // Normalised (score − random) / (reference − random): td3 (−295 + 1207.555) / (−200 + 1207.555)
    // = 0.906, its runs 0.884 and 0.927; sac on MountainCar (42.5 + 33.252) / (90 + 33.252) = 0.615.
    assert!(md.contains("| Pendulum-v1 | -1207.555 | -200 | reward_threshold (solved) |"), "{md}");
    let td3 =
        "| td3 | 1 | 2 | 0.906 [0.884, 0.927] | 0.906 [0.884, 0.927] | 0.906 [0.884, 0.927] | 0.094 [0.073, 0.116] |";
    assert!(md.contains(td3), "{md}");
    assert!(md.contains("| sac | 1 | 1 | 0.615 | 0.615 | 0.615 | 0.385 |"), "{md}");
    // ddpg and td3 share Pendulum, where ddpg's one run is below both of td3's; sac shares no env.
    assert!(md.contains("| ddpg | td3 | 1 | 0.00 |") && !md.contains("| ddpg | sac |"), "{md}");
    // Hand-written runs have no machine.toml.
    assert!(md.contains("| not recorded (trained by a polyak from before machine.toml) | ddpg on Pendulum-v1 ×1,"));
    for picture in ["performance_profile", "sample_efficiency"] {
        assert!(md.contains(&format!("]({picture}.png)")), "{md}");
        let svg = std::fs::read_to_string(dir.path().join(format!("{picture}.svg"))).unwrap();
        // A line (width 2) and band per algorithm.
        assert_eq!(svg.split("<polyline").filter(|p| p.contains("stroke-width=\"2\"")).count(), 3, "{picture}");
        assert_eq!(svg.matches("<polygon").count(), 3, "{picture}");
    }
}

#[test]
fn the_same_runs_and_seed_give_the_same_report_and_another_seed_other_intervals() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_sweep(dir.path());
    fake_run(&dir.path().join("Pendulum-v1/td3/seed2"), "td3", "Pendulum-v1", 2, &[(4000, -190.0)], 30.0);
    let report = |seed: &str, out: &str| {
        let out = dir.path().join(out);
        let o = Command::new(env!("CARGO_BIN_EXE_polyak"))
            .args(["report", "--reps", "2000", "--seed", seed, "--out", out.to_str().unwrap()])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("report.md")).unwrap()
    };
    let (a, b, c) = (report("5", "a"), report("5", "b"), report("6", "c"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.contains("2000 resamples, seed 5"), "{a}");
}

#[test]
fn plots_have_one_line_and_band_per_algorithm_and_a_panel_per_env() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_sweep(dir.path());
    let out = dir.path().join("pictures");
    let o = Command::new(env!("CARGO_BIN_EXE_polyak"))
        .args(["plot", "--train", "--out", out.to_str().unwrap()])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for stem in ["eval_return", "train_return"] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"), "{stem}.png");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        // 3 series in all (td3 and ddpg on Pendulum, sac on MountainCar): a width-2 line, a
        // width-3 legend sample and a band each; two panel captions.
        let data_lines = svg.split("<polyline").filter(|p| p.contains("stroke-width=\"2\"")).count();
        assert_eq!(data_lines, 3, "{stem}: data lines");
        assert_eq!(svg.split("<polyline").filter(|p| p.contains("stroke-width=\"3\"")).count(), 3);
        assert_eq!(svg.matches("<polygon").count(), 3, "{stem}: bands");
        assert!(
            svg.contains("Pendulum-v1") && svg.contains("MountainCarContinuous-v0") && svg.contains("td3 (2 seeds)")
        );
    }
    assert_eq!(find_runs(&[dir.path().to_path_buf()]).unwrap().runs.len(), 4);
}

/// Reads a TFRecord file: every frame's masked CRCs must verify; returns the event payloads.
fn read_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(crc, polyak::tensorboard::masked_crc(len_bytes), "length CRC at {at}");
        let data = &bytes[at + 12..at + 12 + len];
        let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(crc, polyak::tensorboard::masked_crc(data), "data CRC at {at}");
        out.push(data.to_vec());
        at += 16 + len;
    }
    out
}

#[test]
fn a_run_writes_tensorboard_events_for_every_metrics_row() {
    let dir = tempfile::tempdir().unwrap();
    let sets: Vec<String> =
        ["total_steps=1000", "learning_starts=200", "hidden=[16, 16]", "eval_every=500", "eval_episodes=1"]
            .map(String::from)
            .to_vec();
    let cfg = TrainConfig::resolve(Some("td3"), None, &sets).unwrap();
    let opts = polyak::train::TrainOptions { quiet: true, ..Default::default() };
    polyak::train::train(&cfg, dir.path(), &opts).unwrap();
    let events = read_records(&std::fs::read(dir.path().join("events.out.tfevents.polyak")).unwrap());
    let rows = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap().lines().count() - 1;
    // The file-version header, then one event per row.
    assert_eq!(events.len(), 1 + rows);
    assert!(events[0].windows(13).any(|w| w == b"brain.Event:2"));
    let with_eval = events.iter().filter(|e| e.windows(16).any(|w| w == b"eval/mean_return")).count();
    assert_eq!(with_eval, 2, "evaluations at 500 and 1000");
}

#[test]
fn a_run_records_each_process_machine_and_the_report_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let sets: Vec<String> =
        ["total_steps=1000", "learning_starts=200", "hidden=[16, 16]", "eval_every=500", "threads=1"]
            .map(String::from)
            .to_vec();
    let cfg = TrainConfig::resolve(Some("td3"), None, &sets).unwrap();
    let quiet = polyak::train::TrainOptions { quiet: true, ..Default::default() };
    let first = polyak::train::TrainOptions { stop_after: Some(500), ..quiet.clone() };
    polyak::train::train(&cfg, &run, &first).unwrap();
    polyak::train::resume(&run, &["threads=2".to_string()], &quiet).unwrap();
    let machines = polyak::rundir::Machine::read(&polyak::rundir::RunDir::new(&run)).unwrap();
    let steps_threads: Vec<(u64, usize)> = machines.iter().map(|m| (m.from_step, m.threads)).collect();
    assert_eq!(steps_threads, [(0, 1), (500, 2)]);
    let here = polyak::rundir::Machine::here(0, 1);
    assert!(machines.iter().all(|m| m.cpu == here.cpu && m.simd == here.simd && m.logical_cpus == here.logical_cpus));
    let o = Command::new(env!("CARGO_BIN_EXE_polyak")).args(["report", "--reps", "200"]).arg(&run).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let (one, two) = (polyak::rundir::Machine { threads: 2, ..here.clone() }, here);
    let line = format!("| {}, then {} | td3 on Pendulum-v1 ×1 |", two.describe(), one.describe());
    assert!(md.contains(&line), "{line}\n{md}");
}
