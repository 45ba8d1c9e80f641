#!/usr/bin/env bash
# Opt-in: Stable-Baselines3's own callbacks (EvalCallback with a stop on a reward threshold,
# CheckpointCallback, EveryNTimesteps, StopTrainingOnMaxEpisodes, a BaseCallback subclass) in
# polyak's learn(callback=...), with assertions (scripts/checks/sb3_callbacks.py). SB3 brings
# torch from PyPI, a large download, so CI leaves this out. Usage:
#   scripts/checks/sb3-callbacks.sh        (SB3_PYTHON=/venv/bin/python reuses a venv with SB3)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/bench/sb3-setup.sh
install_polyak_wheel
cp scripts/checks/sb3_callbacks.py "$WORK"
cd "$WORK"
"$PY" sb3_callbacks.py
