#!/usr/bin/env bash
# Side by side on one machine: env steps/s of polyak's MuJoCo envs and of Gymnasium's own
# (same MuJoCo build), alternating ROUNDS times. Uses the fixture venv (see
# scripts/fixtures/mujoco.sh); run scripts/setup/mujoco.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
VENV=${POLYAK_FIXTURE_VENV:-.venv-fixtures}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "gymnasium[mujoco]==1.4.0" "mujoco-core==4.0.0" "numpy>=2,<3"
cargo build --release --quiet --bin polyak
for round in $(seq "$ROUNDS"); do
  echo "== round $round: polyak"
  target/release/polyak bench --envs | grep -- "-v5"
  echo "== round $round: Gymnasium 1.4.0"
  "$VENV/bin/python" scripts/bench/gymnasium_envs.py "${GYM_STEPS:-10000}" 2>/dev/null
done
