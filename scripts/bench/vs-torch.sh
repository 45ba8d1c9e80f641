#!/usr/bin/env bash
# Side-by-side update speed: polyak vs the same updates in PyTorch, alternating in one run
# (the machine's speed drifts; compare only figures taken together). Opt-in: needs torch.
#   TORCH_PYTHON=/path/to/venv/bin/python scripts/bench/vs-torch.sh [repeats]
# Without TORCH_PYTHON it creates .venv-torch and pip-installs torch (large download).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${TORCH_PYTHON:-.venv-torch/bin/python}
if [ ! -x "$PY" ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install -q torch numpy
  PY=.venv-torch/bin/python
fi
cargo build --release -q
for i in $(seq 1 "${1:-3}"); do
  echo "== round $i"
  ./target/release/polyak bench | grep -E "HalfCheetah"
  "$PY" scripts/bench/torch_reference.py --threads 1
  "$PY" scripts/bench/torch_reference.py --threads 2
done
