#!/usr/bin/env bash
# A long run of the file-reader property tests (tests/fuzz_readers.rs): ROUNDS times the rounds CI
# runs, once per generator seed 1..SEEDS, so each run tries inputs CI never saw.
#   scripts/checks/fuzz-readers.sh [ROUNDS=100] [SEEDS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-100}
seeds=${2:-3}
start=$(date +%s)
for seed in $(seq 1 "$seeds"); do
  POLYAK_FUZZ_SEED=$seed POLYAK_FUZZ_ROUNDS=$rounds cargo test --release -q --test fuzz_readers
done
echo "fuzz-readers: $seeds seeds × $rounds× rounds clean in $(( $(date +%s) - start )) s"
