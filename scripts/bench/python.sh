#!/usr/bin/env bash
# Opt-in side-by-side benchmarks of the Python package (figures in the README's Python section):
#   1. env.step from Python: polyak.make vs gymnasium.make, make_vec vs Sync/AsyncVectorEnv;
#   2. SAC training env-steps/s: polyak.SAC on Gymnasium's Python env and on the built-in env vs
#      Stable-Baselines3 (2.9.2, with torch from PyPI: a large download).
# Both alternate ROUNDS times in one run and print medians. Usage:
#   scripts/bench/python.sh [rounds] [threads]      (SB3_PYTHON=/venv/bin/python reuses a venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
THREADS=${2:-2}
source scripts/bench/sb3-setup.sh
install_polyak_wheel
cp scripts/bench/python_envs.py scripts/bench/python_training.py scripts/bench/sb3_training.py "$WORK"
cd "$WORK"
"$PY" python_envs.py "$ROUNDS" "${ENV_STEPS:-20000}" 2>/dev/null
"$PY" python_training.py "$ROUNDS" "$THREADS" 2>/dev/null
