#!/usr/bin/env bash
# Installs what `polyak render` and `video_every` need beyond polyak itself, from Debian (as
# root): Mesa's headless OpenGL for MuJoCo's renderer — EGL (libegl1, libegl-mesa0,
# libgl1-mesa-dri) and OSMesa (libosmesa6), the two backends of MUJOCO_GL — and ffmpeg, for MP4
# videos (GIFs need nothing). Pendulum and MountainCar are drawn without any of them.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 ffmpeg >/dev/null
echo "installed Mesa's EGL and OSMesa, and ffmpeg"
