#!/usr/bin/env bash
# Opt-in: frames per second of `polyak render` against Gymnasium's `env.render()` on this machine
# (HalfCheetah-v5, 480 x 480, MuJoCo's renderer through Mesa's EGL; see render_fps.py). Needs
# MuJoCo (scripts/setup/mujoco.sh) and Mesa (scripts/setup/render.sh); trains a 2,000-step run to
# have an agent (its quality does not change the drawing). Usage:
#   scripts/bench/render-vs-gymnasium.sh [rounds=3] [frames=200]   (SB3_PYTHON reuses a venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
FRAMES=${2:-200}
source scripts/bench/sb3-setup.sh
"$BIN" train -q --algo sac --env HalfCheetah-v5 --steps 2000 --set learning_starts=1000 --set eval_episodes=1 \
  --out "$WORK/run"
cp scripts/bench/render_fps.py "$WORK"
cd "$WORK"
"$PY" render_fps.py "$BIN" "$WORK/run" "$ROUNDS" "$FRAMES" 2>/dev/null
