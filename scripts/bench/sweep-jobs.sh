#!/usr/bin/env bash
# Opt-in: how two sweep jobs share the machine. Runs the same 2-seed sweep (SAC, HalfCheetah-v5,
# 1,000 warm-up steps then STEPS - 1,000 updates, one thread per run) with --jobs 1 and with
# --jobs 2, alternating ROUNDS times. For each it prints the wall time and the work per second in
# steady state: the env-steps/s of each run over steps 2,000-STEPS (from its metrics.csv, as
# scripts/bench/threads.sh reads them), summed over the runs that ran at once. Then the medians'
# ratios: 2.0x would be two jobs that never slow each other down. The wall time of a 2-seed
# sweep also holds each run's start and end, and with two jobs it waits for the slower of two
# runs; the steady-state rate measures only how the two jobs share the cores. Every sweep is
# bracketed by `polyak bench --cores 1`, and a round counts as on two whole cores when the three
# checks around it all say so, near each other or not: separate runs share no data (docs/speed.md,
# "Two whole cores"). Needs MuJoCo
# (scripts/setup/mujoco.sh).
#   scripts/bench/sweep-jobs.sh [rounds=3] [steps=5000]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
STEPS=${2:-5000}
source scripts/bench/polyak-bin.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$BIN" "$WORK" "$ROUNDS" "$STEPS" <<'PY'
import pathlib, statistics, subprocess, sys, time

sys.path.insert(0, "scripts/bench")
from bench_runs import EPISODE, steady_rate, two_whole_cores

binary, work, rounds, steps = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
START = 2000
if steps % EPISODE or steps <= START:
    sys.exit(f"steps = {steps}: a multiple of {EPISODE} (HalfCheetah's episode) above {START}")
SETS = ["learning_starts=1000", "hidden=[256, 256]", "eval_every=0", "checkpoint_every=0", "threads=1"]

walls, rates, whole = {1: [], 2: []}, {1: [], 2: []}, []
for r in range(rounds):
    checks, pair = [two_whole_cores(binary, near=False)], {}
    for jobs in (1, 2):
        out = work / f"r{r}-j{jobs}"
        cmd = [binary, "sweep", "--algos", "sac", "--env", "HalfCheetah-v5", "--seeds", "2", "--steps", str(steps)]
        cmd += ["--jobs", str(jobs), "--out", str(out)] + [x for s in SETS for x in ("--set", s)]
        start = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - start
        checks.append(two_whole_cores(binary, near=False))
        runs = [steady_rate(m, START, steps) for m in sorted(out.rglob("metrics.csv"))]
        assert len(runs) == 2, f"{out}: {len(runs)} runs"
        # One job: the runs took turns, so its work per second is one run's rate (their mean);
        # two jobs: the two runs' rates add up.
        rate = statistics.mean(runs) if jobs == 1 else sum(runs)
        walls[jobs].append(wall)
        rates[jobs].append(rate)
        pair[jobs] = rate
        print(f"round {r + 1}, --jobs {jobs}: {wall:.1f} s, runs at {', '.join(f'{x:.1f}' for x in runs)} env-steps/s")
    if all(checks):
        whole.append(pair[2] / pair[1])
    print(f"round {r + 1}: two jobs {pair[2] / pair[1]:.2f}x one in steady state, checks {checks}", flush=True)
one, two = statistics.median(walls[1]), statistics.median(walls[2])
print(f"medians: --jobs 1 {one:.1f} s, --jobs 2 {two:.1f} s: by wall time two jobs do {one / two:.2f}x the work of one")
one, two = statistics.median(rates[1]), statistics.median(rates[2])
on_whole = f"{statistics.median(whole):.2f}x in {len(whole)} of {rounds} rounds on two whole cores" if whole else "no round on two whole cores"
print(f"steady state (steps {START}-{steps}): --jobs 1 {one:.1f}, --jobs 2 {two:.1f} env-steps/s: two jobs do {two / one:.2f}x the work of one per second ({on_whole})")
PY
