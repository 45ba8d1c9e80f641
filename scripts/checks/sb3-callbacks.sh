#!/usr/bin/env bash
# Opt-in: Stable-Baselines3's own callbacks (EvalCallback with a stop on a reward threshold,
# CheckpointCallback, EveryNTimesteps, StopTrainingOnMaxEpisodes, a BaseCallback subclass) in
# polyak's learn(callback=...), with assertions (scripts/checks/sb3_callbacks.py). SB3 brings
# torch from PyPI, a large download, so CI leaves this out. Usage:
#   scripts/checks/sb3-callbacks.sh        (SB3_PYTHON=/venv/bin/python reuses a venv with SB3)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${SB3_PYTHON:-.venv-sb3/bin/python}
if [ ! -x "$PY" ]; then
  python3 -m venv .venv-sb3
  .venv-sb3/bin/pip install -q "stable-baselines3==2.9.2" "gymnasium[mujoco]==1.4.0" "mujoco-core==4.0.0" maturin==1.16.0
  PY=.venv-sb3/bin/python
fi
"$(dirname "$PY")/pip" install -q maturin==1.16.0
"$(dirname "$PY")/maturin" build --release -m python/Cargo.toml -o target/check-wheels --quiet
"$(dirname "$PY")/pip" install -q --force-reinstall --no-deps target/check-wheels/polyak-*.whl
WORK=$(mktemp -d)
cp scripts/checks/sb3_callbacks.py "$WORK"
cd "$WORK"
"$PY" sb3_callbacks.py
