#!/usr/bin/env bash
# Opt-in: how two sweep jobs share the machine. Runs the same 2-seed sweep (SAC, HalfCheetah-v5,
# 1,000 warm-up steps then STEPS - 1,000 updates, one thread per run) with --jobs 1 and with
# --jobs 2, alternating ROUNDS times, and prints each wall time and the medians' ratio:
# 2.0x would be two jobs that never slow each other down. Needs MuJoCo (scripts/setup/mujoco.sh).
#   scripts/bench/sweep-jobs.sh [rounds=3] [steps=3000]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
STEPS=${2:-3000}
cargo build --release --quiet --bin polyak
BIN=$PWD/target/release/polyak
WORK=$(mktemp -d)
one=() two=()
for r in $(seq "$ROUNDS"); do
  for jobs in 1 2; do
    out="$WORK/r$r-j$jobs"
    start=$(date +%s.%N)
    "$BIN" sweep --algos sac --env HalfCheetah-v5 --seeds 2 --steps "$STEPS" --jobs "$jobs" --out "$out" \
      --set learning_starts=1000 --set "hidden=[256, 256]" --set eval_every=0 --set checkpoint_every=0 --set threads=1 >/dev/null 2>&1
    secs=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
    echo "round $r, --jobs $jobs: $secs s"
    if [ "$jobs" = 1 ]; then one+=("$secs"); else two+=("$secs"); fi
  done
done
python3 - "${one[*]}" "${two[*]}" <<'PY'
import statistics, sys
one, two = (statistics.median(float(x) for x in a.split()) for a in sys.argv[1:3])
print(f"medians: --jobs 1 {one:.1f} s, --jobs 2 {two:.1f} s: two jobs do {one / two:.2f}x the work of one per second")
PY
rm -rf "$WORK"
