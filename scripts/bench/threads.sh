#!/usr/bin/env bash
# Opt-in: `polyak train` end to end on 1 and on 2 threads, alternating ROUNDS times: steady-state
# env-steps/s on HalfCheetah-v5 (steps 2,000-5,000 after 1,000 random warm-up steps) for SAC, TD3
# and DDPG, medians and the 2-thread/1-thread ratio. Needs MuJoCo (scripts/setup/mujoco.sh).
# Every run is bracketed by `polyak bench --cores 1`: a pair of runs (1 and 2 threads) counts as
# on two whole cores when the three checks around it all say so (a VM's two vCPUs sometimes
# share one core, or sit far apart; docs/speed.md, "Two whole cores" and "Far cores"), and those
# pairs get their own median ratio.
#   scripts/bench/threads.sh [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
source scripts/bench/polyak-bin.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$BIN" "$WORK" "$ROUNDS" <<'PY'
import statistics, subprocess, sys
from pathlib import Path

sys.path.insert(0, "scripts/bench")
from bench_runs import steady_rate, two_whole_cores

binary, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
START, END = 2000, 5000
rates, whole = {}, {}

for r in range(rounds):
    for algo in ("sac", "td3", "ddpg"):
        checks = [two_whole_cores(binary)]
        pair = []
        for threads in (1, 2):
            out = f"{work}/{algo}-{threads}-{r}"
            sets = ["learning_starts=1000", "hidden=[256, 256]", "eval_every=0", "checkpoint_every=0"]
            sets.append(f"threads={threads}")
            cmd = [binary, "train", "-q", "--algo", algo, "--env", "HalfCheetah-v5", "--steps", str(END)]
            cmd += ["--out", out] + [x for s in sets for x in ("--set", s)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            checks.append(two_whole_cores(binary))
            rate = steady_rate(Path(out) / "metrics.csv", START, END)
            rates.setdefault((algo, threads), []).append(rate)
            pair.append(rate)
            print(f"round {r + 1} {algo} {threads} thread(s): {rate:.1f} env-steps/s", flush=True)
        if all(checks):
            whole.setdefault(algo, []).append(pair[1] / pair[0])
        print(f"round {r + 1} {algo}: {pair[1] / pair[0]:.2f}x, checks {checks}", flush=True)
print(f"\nmedians (env-steps/s, HalfCheetah-v5 steps {START}-{END}):")
for algo in ("sac", "td3", "ddpg"):
    one, two = (statistics.median(rates[(algo, t)]) for t in (1, 2))
    w = whole.get(algo, [])
    on_whole = f"{statistics.median(w):.2f}x in {len(w)} of {rounds} pairs on two whole cores" if w else "no pair on two whole cores"
    print(f"  {algo:<5} 1 thread {one:7.1f}   2 threads {two:7.1f}   {two / one:.2f}x   ({on_whole})")
PY
