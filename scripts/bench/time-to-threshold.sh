#!/usr/bin/env bash
# Opt-in: wall-clock to Gymnasium's HalfCheetah-v5 threshold (evaluation mean >= 4,800) for SAC and
# TD3, polyak against Stable-Baselines3 2.9.2 on this machine, the same settings on both sides (see
# time_to_threshold.py). Two runs at a time, one thread each. Needs MuJoCo (scripts/setup/mujoco.sh).
# Long: each SB3 run takes about half an hour per 100k steps on a 2-core machine. Usage:
#   scripts/bench/time-to-threshold.sh [seeds=2] [max_steps=150000] [sb3_seeds=seeds]
#   (SB3_PYTHON=/venv/bin/python reuses a venv; SETTINGS=zoo runs each library's tuned
#   HalfCheetah settings instead of the pinned 256-256 ones; seeds=0 runs only SB3's side, e.g. to
#   stand beside a `polyak sweep` made with the same settings)
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-2}
MAX=${2:-150000}
SB3_SEEDS=${3:-$SEEDS}
source scripts/bench/sb3-setup.sh
cp scripts/bench/time_to_threshold.py "$WORK"
cd "$WORK"
"$PY" time_to_threshold.py "$SEEDS" "$MAX" "$BIN" "$SB3_SEEDS" 2>/dev/null
