#!/usr/bin/env bash
# Trains a short run and reads its TensorBoard events back with TensorBoard's own reader
# (pip-installed into the fixture venv), checking every metrics.csv cell is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${POLYAK_FIXTURE_VENV:-.venv-fixtures}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q tensorboard "numpy>=2,<3"
cargo build --release --quiet --bin polyak
RUN=$(mktemp -d)/run
target/release/polyak train -q --steps 3000 --set learning_starts=500 --set eval_every=1000 --set eval_episodes=2 --out "$RUN"
"$VENV/bin/python" scripts/checks/read_tensorboard.py "$RUN"
