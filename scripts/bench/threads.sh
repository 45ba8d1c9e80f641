#!/usr/bin/env bash
# Opt-in: `polyak train` end to end on 1 and on 2 threads, alternating ROUNDS times: steady-state
# env-steps/s on HalfCheetah-v5 (steps 2,000-5,000 after 1,000 random warm-up steps) for SAC, TD3
# and DDPG, medians and the 2-thread/1-thread ratio. Needs MuJoCo (scripts/setup/mujoco.sh).
#   scripts/bench/threads.sh [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
cargo build --release --quiet --bin polyak
BIN=$PWD/target/release/polyak
WORK=$(mktemp -d)
python3 - "$BIN" "$WORK" "$ROUNDS" <<'PY'
import csv, statistics, subprocess, sys

binary, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
START, END = 2000, 5000
rates = {}
for r in range(rounds):
    for algo in ("sac", "td3", "ddpg"):
        for threads in (1, 2):
            out = f"{work}/{algo}-{threads}-{r}"
            sets = ["learning_starts=1000", "hidden=[256, 256]", "eval_every=0", "checkpoint_every=0"]
            sets.append(f"threads={threads}")
            cmd = [binary, "train", "-q", "--algo", algo, "--env", "HalfCheetah-v5", "--steps", str(END)]
            cmd += ["--out", out] + [x for s in sets for x in ("--set", s)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            with open(out + "/metrics.csv") as f:
                rows = [row for row in csv.DictReader(f) if row["episode_return"]]
            wall = {int(row["step"]): float(row["wall_time"]) for row in rows}
            rate = (END - START) / (wall[END] - wall[START])
            rates.setdefault((algo, threads), []).append(rate)
            print(f"round {r + 1} {algo} {threads} thread(s): {rate:.1f} env-steps/s", flush=True)
print(f"\nmedians (env-steps/s, HalfCheetah-v5 steps {START}-{END}):")
for algo in ("sac", "td3", "ddpg"):
    one, two = (statistics.median(rates[(algo, t)]) for t in (1, 2))
    print(f"  {algo:<5} 1 thread {one:7.1f}   2 threads {two:7.1f}   {two / one:.2f}x")
PY
rm -rf "$WORK"
