#!/usr/bin/env bash
# Opt-in side by side, end to end: `polyak train` (built-in HalfCheetah-v5) against
# Stable-Baselines3 2.9.2 (PyPI's torch) on Gymnasium's env, SAC, TD3 and DDPG, steady-state
# env-steps/s (steps 2,000-5,000 after 1,000 random warm-up steps), alternating ROUNDS times in
# one run. Needs MuJoCo (scripts/setup/mujoco.sh). Usage:
#   scripts/bench/vs-sb3.sh [rounds=2] [threads=2]      (SB3_PYTHON=/venv/bin/python reuses a venv;
#   both sides use 256-256 networks, or SB3's own defaults with SB3_NETS=defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
THREADS=${2:-2}
source scripts/bench/sb3-setup.sh
cp scripts/bench/sb3_training.py "$WORK"
cd "$WORK"
"$PY" sb3_training.py "$ROUNDS" "$THREADS" "$BIN" 2>/dev/null
