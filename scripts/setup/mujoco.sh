#!/usr/bin/env bash
# Installs what polyak's MuJoCo environments need into .mujoco/ (or $MUJOCO_DIR), from PyPI,
# pinned: the official MuJoCo C library and headers (`mujoco-core` wheel: mujoco/libmujoco.so.4.0.0
# and mujoco/include/) and Gymnasium 1.4.0, whose v5 MJCF models
# (gymnasium/envs/mujoco/assets/) polyak loads. A few seconds; no compiler, no root.
# Afterwards `cargo build` links MuJoCo (build.rs finds it; this script touches build.rs so cargo
# notices).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${MUJOCO_DIR:-.mujoco}
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade --target "$DEST" \
  "mujoco-core==4.0.0" "gymnasium==1.4.0"
ls "$DEST"/mujoco/libmujoco.so.* >/dev/null
touch build.rs
echo "MuJoCo 4.0.0 and Gymnasium 1.4.0 assets installed in $DEST"
