#!/usr/bin/env bash
# Side by side: polyak's SAC update against the same update written in burn 0.22.1 (flex backend
# with autodiff, scripts/bench/burn-reference), alternating ROUNDS times in one run so drift in the
# machine's speed hits both. Opt-in: the burn build takes ≈ 4 min from clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
cargo build --release --quiet --bin polyak
cargo build --release --quiet --manifest-path scripts/bench/burn-reference/Cargo.toml
burn=scripts/bench/burn-reference/target/release/burn-reference
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  RAYON_NUM_THREADS=1 "$burn" 2>/dev/null
  RAYON_NUM_THREADS=2 "$burn" 2>/dev/null
  target/release/polyak bench | grep "HalfCheetah sizes.*sac"
done
