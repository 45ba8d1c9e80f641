#!/usr/bin/env bash
# Regenerates fixtures/mujoco/*.txt from Gymnasium's own MuJoCo v5 environments, in a local venv,
# on the same MuJoCo build polyak links (mujoco-core 4.0.0). The fixtures are committed: the Rust
# tests need no Python.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${POLYAK_FIXTURE_VENV:-.venv-fixtures}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "gymnasium[mujoco]==1.4.0" "mujoco-core==4.0.0" "numpy>=2,<3"
"$VENV/bin/python" scripts/record_mujoco_fixtures.py fixtures/mujoco
