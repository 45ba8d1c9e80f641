#!/usr/bin/env bash
# Opt-in: every speed figure the README's "Speed" section states for a CPU class, measured in one
# run on the machine at hand, then each target of the performance work beside it, met or not:
# end to end ≥ 3× Stable-Baselines3 (≥ 3.5× on a CPU without AVX-512), training ≥ 95% of the
# update-only rate (in separate runs and in one process), two threads ≥ 1.8× one (end to end, in
# separate runs and in one process, and update-only), one update's useful GFLOP/s ≥ 60% of the
# FMA peak a core, two 1-thread sweep jobs ≥ 1.9× one, and the same bits at every SIMD level the
# CPU has. Run it on each new class of machine and put its table in the README. Needs MuJoCo
# (scripts/setup/mujoco.sh); SB3_PYTHON reuses a venv with Stable-Baselines3
# (scripts/bench/sb3-setup.sh makes one otherwise). 15–35 minutes on 2 cores; nothing else
# should run meanwhile. Usage:
#   scripts/bench/cpu-class.sh [folder=cpu-class-<date>]    (each part's output is kept there)
# SIMD=avx2 holds every part to AVX2 on a CPU with AVX-512 (polyak's POLYAK_SIMD; vs-sb3.sh holds
# torch too), the stand-in for an AVX2-only CPU: the summary then asks 3.5× of Stable-Baselines3.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${SIMD:-}" = avx2 ]; then
  export POLYAK_SIMD=avx2
elif [ -n "${SIMD:-}" ]; then
  echo "SIMD=$SIMD: only SIMD=avx2 is known" >&2
  exit 2
fi
OUT=${1:-cpu-class-$(date +%Y%m%d-%H%M)}
if [ -e "$OUT" ]; then
  echo "$OUT already exists: name another folder" >&2
  exit 2
fi
cargo build --release --quiet --bin polyak --example env_beside
# What the parts need, checked before anything is measured: MuJoCo's envs, and a Python with
# Stable-Baselines3 (made now if missing, so that no install runs between the measurements).
envs=$(target/release/polyak bench --envs --quick)
if ! grep -q "HalfCheetah-v5" <<<"$envs"; then
  echo "HalfCheetah-v5 is not available: run scripts/setup/mujoco.sh first" >&2
  exit 2
fi
export SB3_PYTHON=${SB3_PYTHON:-$PWD/.venv-sb3/bin/python}
if [ ! -x "$SB3_PYTHON" ]; then
  (source scripts/bench/sb3-setup.sh && rm -rf "$WORK")
fi
mkdir -p "$OUT"
grep -m1 -E "^flags" /proc/cpuinfo > "$OUT/cpu.txt"
grep -m3 -E "^(model name|cpu family|model)\s" /proc/cpuinfo >> "$OUT/cpu.txt"
part() {
  local name=$1
  shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$OUT/$name.txt"
}
part bench target/release/polyak bench
part threads scripts/bench/threads.sh 3
part sweep-jobs scripts/bench/sweep-jobs.sh 3
part vs-sb3 scripts/bench/vs-sb3.sh 2 2
# Training's share of the update-only rate, and training on two threads against one, again in one
# process (rounds rotating among updates alone and training steps on two threads and on one),
# where the separate runs behind vs-sb3's and threads.sh's figures fall minutes apart in this
# host's drift.
part env-beside bash -c 'for a in sac td3 ddpg; do target/release/examples/env_beside "$a" 2 20; done'
part determinism cargo test --release --test determinism
python3 scripts/bench/cpu_class_summary.py "$OUT" | tee "$OUT/summary.md"
