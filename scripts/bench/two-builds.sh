#!/usr/bin/env bash
# Two polyak builds side by side, alternating in one run (this machine drifts ±20% within
# minutes, so only ratios measured together count): `polyak bench --quick` update rates, then
# steady-state training env-steps/s on HalfCheetah-v5 (steps 2,000–4,000 after 1,000 random
# warm-up steps) for SAC, TD3 and DDPG. Needs MuJoCo (scripts/setup/mujoco.sh) in both builds.
#   scripts/bench/two-builds.sh OLD_BINARY NEW_BINARY [ROUNDS=2]
set -euo pipefail
old=$1 new=$2 rounds=${3:-2}
steady() { # binary algo -> env-steps/s between steps 2000 and 4000
  local d
  d=$(mktemp -d)
  "$1" train -q --algo "$2" --env HalfCheetah-v5 --steps 5000 --out "$d/r" --set learning_starts=1000 --set "hidden=[256, 256]" \
    --set eval_every=0 --set eval_episodes=1 --set checkpoint_every=0 >/dev/null
  awk -F, 'NR==1 {for (i=1;i<=NF;i++) c[$i]=i} NR>1 && $c["episode_return"]!="" {w[$c["step"]]=$c["wall_time"]}
           END {printf "%.1f", 2000/(w[4000]-w[2000])}' "$d/r/metrics.csv"
  rm -rf "$d"
}
for r in $(seq "$rounds"); do
  for b in "$old" "$new"; do
    echo "== round $r: $b bench --quick (updates/s)"
    "$b" bench --quick | grep -E "HalfCheetah sizes"
  done
done
for r in $(seq "$rounds"); do
  for a in sac td3 ddpg; do
    for b in "$old" "$new"; do
      echo "round $r  $a  $(steady "$b" "$a") env-steps/s  $b"
    done
  done
done
