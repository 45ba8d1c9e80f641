//! Property tests of every reader that takes a file from disk: config TOML, sweep files,
//! checkpoints, resume files, replay files and metrics.csv. Each gets mutated or random input and
//! must answer with `Ok` or an error — never a panic, never an allocation the input does not
//! justify. Resume and replay files are mutated *structurally* and saved with a valid checksum,
//! so the mutations reach the checks behind the CRC.
//!
//! `POLYAK_FUZZ_ROUNDS` multiplies the rounds (CI runs 1; `scripts/checks/fuzz-readers.sh` runs many).

use polyak::checkpoint::Checkpoint;
use polyak::config::TrainConfig;
use polyak::rng::Rng;
use polyak::sweep::SweepSpec;
use polyak::train::{resume, train, TrainOptions};
use std::path::Path;

fn rounds(base: u64) -> u64 {
    base * std::env::var("POLYAK_FUZZ_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1)
}

/// A seed per test run: fixed in CI (reproducible), varied by the long script.
fn rng(stream: u64) -> Rng {
    let seed = std::env::var("POLYAK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    Rng::stream(seed, stream)
}

/// Flips, overwrites, inserts and truncates bytes; mostly characters that keep text parseable.
fn mutate(good: &[u8], rng: &mut Rng, alphabet: &[u8]) -> Vec<u8> {
    let mut b = good.to_vec();
    for _ in 0..1 + rng.below(6) {
        let i = rng.below(b.len() as u64 + 1) as usize;
        let byte =
            if rng.below(3) == 0 { rng.next_u64() as u8 } else { alphabet[rng.below(alphabet.len() as u64) as usize] };
        match rng.below(4) {
            0 if i < b.len() => b[i] = byte,
            1 => b.insert(i, byte),
            2 if i < b.len() => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

const TEXT: &[u8] = b" =[]{}\"'0123456789.-+eE,\n#abcdefghijklmnopqrstuvwxyz_";

#[test]
fn config_files() {
    let good = TrainConfig::resolve(Some("td3"), None, &[]).unwrap().to_toml().into_bytes();
    let mut rng = rng(1);
    for _ in 0..rounds(3000) {
        let text = String::from_utf8_lossy(&mutate(&good, &mut rng, TEXT)).into_owned();
        let _ = TrainConfig::from_toml(&text);
        let _ = TrainConfig::resolve(None, None, &[text.replace('\n', "")]);
    }
}

#[test]
fn sweep_files() {
    let good = b"algos = [\"td3\", \"sac\"]\nenvs = [\"Pendulum-v1\"]\nseeds = [0, 3]\nsteps = 2000\n\
                 set = [\"learning_starts=100\"]\n[grid]\n\"td3.policy_delay\" = [1, 2]\n";
    let mut rng = rng(2);
    let mut planned = 0;
    for _ in 0..rounds(3000) {
        let text = String::from_utf8_lossy(&mutate(good, &mut rng, TEXT)).into_owned();
        if let Ok(spec) = SweepSpec::from_toml(&text) {
            planned += spec.plan(Path::new("/nonexistent/sweep")).map_or(0, |r| r.len());
        }
    }
    assert!(planned > 0, "some mutants should still plan");
}

#[test]
fn metrics_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&small(&run), &run, &quiet(None)).unwrap();
    let good = std::fs::read(run.join("metrics.csv")).unwrap();
    let mut rng = rng(3);
    for _ in 0..rounds(2000) {
        std::fs::write(run.join("metrics.csv"), mutate(&good, &mut rng, b"0123456789.,-e\ninfa")).unwrap();
        if let Ok(r) = polyak::results::read_run(&run) {
            assert!(r.wall_time.is_finite() && r.evals.iter().all(|(_, v)| v.is_finite()));
        }
    }
}

#[test]
fn checkpoint_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let cfg = small(&run);
    train(&cfg, &run, &quiet(None)).unwrap();
    let good = std::fs::read(run.join("checkpoints/final.safetensors")).unwrap();
    let mut agent = polyak::train::build_agent(&cfg, 3, 1);
    let mut rng = rng(4);
    for _ in 0..rounds(2000) {
        if let Ok(c) = Checkpoint::from_bytes(&mutate(&good, &mut rng, b"{}[]\":,0123456789"), Path::new("x")) {
            let _ = c.restore(agent.as_mut(), Path::new("x"));
        }
    }
}

/// Resume and replay files with valid checksums and structurally mutated content.
#[test]
fn resume_and_replay_files() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    train(&small(&template), &template, &quiet(Some(450))).unwrap();
    let mut rng = rng(5);
    let (mut resumed, mut refused) = (0, 0);
    for round in 0..rounds(150) {
        let run = dir.path().join(format!("r{round}"));
        copy_dir(&template, &run);
        let target = if rng.below(3) == 0 {
            let replay = run.join("checkpoints/replay");
            std::fs::read_dir(&replay).unwrap().next().unwrap().unwrap().path()
        } else {
            run.join("checkpoints/resume.safetensors")
        };
        let mut c = Checkpoint::load(&target).unwrap();
        mutate_structure(&mut c, &mut rng);
        c.save(&target).unwrap();
        match resume(&run, &[], &quiet(Some(460))) {
            Ok(_) => resumed += 1,
            Err(_) => refused += 1,
        }
        std::fs::remove_dir_all(&run).unwrap();
    }
    assert!(resumed > 0 && refused > 0, "both outcomes: {resumed} resumed, {refused} refused");
}

fn mutate_structure(c: &mut Checkpoint, rng: &mut Rng) {
    let pick = |n: usize, rng: &mut Rng| rng.below(n.max(1) as u64) as usize;
    let values = [0, 1, 7, 399, 400, 401, u32::MAX as u64, i64::MAX as u64, u64::MAX, f64::NAN.to_bits()];
    match rng.below(4) {
        0 => {
            let Some(key) = c.counters.keys().nth(pick(c.counters.len(), rng)).cloned() else { return };
            if rng.below(4) == 0 {
                c.counters.remove(&key);
            } else {
                c.counters.insert(key, values[pick(values.len(), rng)]);
            }
        }
        1 => {
            let Some(key) = c.info.keys().nth(pick(c.info.len(), rng)).cloned() else { return };
            let junk = ["", "0-400", "400-0", "5", "a-b,c", "99999999999999999999", "0-1,1-2"];
            c.info.insert(key, junk[pick(junk.len(), rng)].to_string());
        }
        2 => {
            let Some(key) = c.tensors.keys().nth(pick(c.tensors.len(), rng)).cloned() else { return };
            let t = c.tensors.get_mut(&key).unwrap();
            match rng.below(3) {
                0 => t.truncate(pick(t.len(), rng)),
                1 => t.push(f32::NAN),
                _ => {
                    c.tensors.remove(&key);
                }
            }
        }
        _ => {
            let Some(key) = c.bytes.keys().nth(pick(c.bytes.len(), rng)).cloned() else { return };
            let b = c.bytes.get_mut(&key).unwrap();
            match rng.below(3) {
                0 => b.truncate(pick(b.len(), rng)),
                1 => b.iter_mut().for_each(|x| *x = rng.next_u64() as u8),
                _ => {
                    c.bytes.remove(&key);
                }
            }
        }
    }
}

fn small(_dir: &Path) -> TrainConfig {
    let sets = [
        "total_steps=600",
        "learning_starts=100",
        "hidden=[8]",
        "batch_size=16",
        "buffer_size=400",
        "eval_every=300",
        "eval_episodes=1",
        "checkpoint_every=150",
        "threads=1",
    ];
    TrainConfig::resolve(Some("sac"), None, &sets.map(String::from)).unwrap()
}

fn quiet(stop_after: Option<u64>) -> TrainOptions {
    TrainOptions { quiet: true, stop_after, ..Default::default() }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(|e| e.unwrap().path()) {
        let dest = to.join(e.file_name().unwrap());
        if e.is_dir() {
            copy_dir(&e, &dest);
        } else {
            std::fs::copy(&e, &dest).unwrap();
        }
    }
}
