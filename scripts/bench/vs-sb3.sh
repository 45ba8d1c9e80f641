#!/usr/bin/env bash
# Opt-in side by side, end to end: `polyak train` (built-in HalfCheetah-v5) against
# Stable-Baselines3 2.9.2 (PyPI's torch) on Gymnasium's env, SAC, TD3 and DDPG, steady-state
# env-steps/s (steps 2,000-5,000 after 1,000 random warm-up steps), alternating ROUNDS times in
# one run. Needs MuJoCo (scripts/setup/mujoco.sh). Usage:
#   scripts/bench/vs-sb3.sh [rounds=2] [threads=2]      (SB3_PYTHON=/venv/bin/python reuses a venv;
#   both sides use 256-256 networks, or SB3's own defaults with SB3_NETS=defaults)
# SIMD=avx2 holds both libraries to AVX2 on a CPU with AVX-512 (polyak's POLYAK_SIMD, and torch's,
# MKL's and oneDNN's own switches), to stand in for an AVX2-only CPU of the same generation.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
THREADS=${2:-2}
if [ "${SIMD:-}" = avx2 ]; then
  export POLYAK_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
elif [ -n "${SIMD:-}" ]; then
  echo "SIMD=$SIMD: only SIMD=avx2 is known" >&2
  exit 2
fi
source scripts/bench/sb3-setup.sh
cp scripts/bench/sb3_training.py "$WORK"
cd "$WORK"
"$PY" sb3_training.py "$ROUNDS" "$THREADS" "$BIN" 2>/dev/null
