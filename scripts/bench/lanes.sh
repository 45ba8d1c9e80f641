#!/usr/bin/env bash
# Opt-in: cpu-class.sh's measurements on a machine of many cores, in about 6 minutes instead of
# 20-35. Each part runs in a lane of its own, a pair of CPUs on two distinct cores (a 2-core
# machine's worth, as the project's machines are, held there by `taskset`), and the lanes run at
# once. They share the L3 cache, memory bandwidth and the power budget, so a figure here can read
# lower than on a 2-core machine with the socket to itself; the side-by-side ratios are taken
# within one lane, alternating, as elsewhere. Then cpu_class_summary.py's table. Up to 8 lanes,
# fewer parts where the machine has fewer than 16 cores (at least 2 lanes):
#   0 vs-SB3 (1 round)  1 polyak bench  2 tests/determinism.rs, then runs to compare across
#   machines (fingerprint.py)  3 threads.sh 2  4 sweep-jobs.sh 2  5 env_beside, then
#   examples/phases.rs into phases.txt (where two threads' time goes, hand-off by hand-off)
#   6 vs-SB3 with both held to AVX2 (on a CPU with AVX-512)  7 vs-SB3, a second round
# Needs MuJoCo (scripts/setup/mujoco.sh, or POLYAK_MUJOCO_DIR) and SB3_PYTHON, a Python with
# Stable-Baselines3 2.9.2 and Gymnasium 1.4.0 (scripts/bench/sb3-setup.sh makes one). On a
# machine without Rust, prebuilt programs stand in for cargo's: POLYAK_BIN (the CLI), BESIDE_BIN
# (examples/env_beside), PHASES_BIN (examples/phases; optional) and DETERMINISM_BIN (`cargo test
# --release --test determinism --no-run` prints its path). LIMIT caps each part (seconds,
# default 400); LANE_CPUS="0 2 4 6" names the CPUs to pair up instead of one of each core.
# AT_ONCE=k runs the parts in waves of k lanes, each wave on the first k pairs once the one
# before has ended: fewer parts crowd the machine (on an Intel Xeon, eight lanes of AVX-512 work
# at once cut the FMA peak a core from 154 to 129 GFLOP/s and read lower ratios; docs/speed.md,
# "An Intel Xeon at last, in lanes"), for about LIMIT more seconds a wave. Usage:
#   scripts/bench/lanes.sh [folder=lanes-<date>]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-lanes-$(date +%Y%m%d-%H%M)}
LIMIT=${LIMIT:-400}
if [ -e "$OUT" ]; then
  echo "$OUT already exists: name another folder" >&2
  exit 2
fi
if [ -z "${POLYAK_BIN:-}" ]; then
  cargo build --release --quiet --bin polyak --example env_beside --example phases
  POLYAK_BIN=$PWD/target/release/polyak BESIDE_BIN=$PWD/target/release/examples/env_beside
  PHASES_BIN=$PWD/target/release/examples/phases
fi
POLYAK_BIN=$(realpath "$POLYAK_BIN")
export POLYAK_BIN
if ! "$POLYAK_BIN" bench --envs --quick | grep -q "HalfCheetah-v5 .*[0-9]$"; then
  echo "HalfCheetah-v5 is not available: run scripts/setup/mujoco.sh or set POLYAK_MUJOCO_DIR" >&2
  exit 2
fi
export SB3_PYTHON=${SB3_PYTHON:?set SB3_PYTHON to a Python with Stable-Baselines3 (scripts/bench/sb3-setup.sh)}
"$SB3_PYTHON" -c "import stable_baselines3, gymnasium" || exit 2
# One CPU of each core, in the order the kernel numbers them (or LANE_CPUS, a list of CPUs to
# use); lane i is the pair 2i, 2i + 1.
if [ -n "${LANE_CPUS:-}" ]; then
  read -r -a CPUS <<<"$LANE_CPUS"
else
  mapfile -t CPUS < <(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | awk -F, '!seen[$2 "," $3]++ {print $1}')
fi
LANES=$((${#CPUS[@]} / 2))
if [ "$LANES" -lt 2 ]; then
  echo "${#CPUS[@]} cores: too few for lanes; scripts/bench/cpu-class.sh measures a 2-core machine" >&2
  exit 2
fi
# Without AT_ONCE, one wave of as many parts as there are pairs; with it, all eight parts in waves.
if [ -n "${AT_ONCE:-}" ]; then
  if ! [[ "$AT_ONCE" =~ ^[1-9][0-9]*$ ]]; then
    echo "AT_ONCE=$AT_ONCE: expected a whole number of lanes, 1 or more" >&2
    exit 2
  fi
  [ "$AT_ONCE" -le "$LANES" ] || AT_ONCE=$LANES
  LANES=8
else
  AT_ONCE=$LANES
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
grep -m1 -E "^flags" /proc/cpuinfo >"$OUT/cpu.txt"
grep -m3 -E "^(model name|cpu family|model)\s" /proc/cpuinfo >>"$OUT/cpu.txt"
{
  lscpu
  getconf GNU_LIBC_VERSION
  echo "lanes (CPU pairs): $LANES, $AT_ONCE at a time, of ${CPUS[*]}"
} >"$OUT/machine.txt"
tail -n 3 "$OUT/cpu.txt"
echo "$LANES lanes, $AT_ONCE at a time, on CPUs ${CPUS[*]}; each part's output goes to $OUT"
# Each part, on lane $1's pair of CPUs (the pair of lane $1 mod AT_ONCE, once the wave before has
# ended), with its output in $OUT/$2.txt, cut off after LIMIT seconds.
part() {
  local lane=$1 name=$2
  shift 2
  [ "$lane" -lt "$LANES" ] || return 0
  if [ "$lane" -gt 0 ] && [ $((lane % AT_ONCE)) -eq 0 ]; then
    wait
  fi
  local pair=$((lane % AT_ONCE))
  (taskset -c "${CPUS[$((2 * pair))]},${CPUS[$((2 * pair + 1))]}" timeout "$LIMIT" "$@" >"$OUT/$name.txt" 2>&1 ||
    echo "(exit $?)" >>"$OUT/$name.txt") &
}
# The determinism tests, then SAC and TD3 on HalfCheetah-v5 at this CPU's best level and at AVX2:
# fingerprint.py's hashes match across the levels, and against another machine's for the same
# build.
same_bits() {
  if [ -n "${DETERMINISM_BIN:-}" ]; then
    (cd /tmp && "$DETERMINISM_BIN" --test-threads 1)
  else
    cargo test --release --test determinism
  fi
  local runs
  runs=$(mktemp -d)
  for algo in sac td3; do
    for level in best avx2; do
      (
        if [ $level = avx2 ]; then export POLYAK_SIMD=avx2; else unset POLYAK_SIMD; fi
        "$POLYAK_BIN" train -q --algo $algo --env HalfCheetah-v5 --steps 3000 --out "$runs/$algo-$level" \
          --set learning_starts=1000 --set eval_every=1000 --set eval_episodes=2 --set checkpoint_every=0 \
          --set threads=2 --set seed=3 >/dev/null
      )
    done
  done
  local rc=0
  python3 scripts/bench/fingerprint.py "$runs"/* || rc=$?
  rm -rf "$runs"
  return $rc
}
beside() {
  for algo in sac td3 ddpg; do "${BESIDE_BIN:?}" $algo 2 6; done
  if [ -n "${PHASES_BIN:-}" ]; then
    for algo in sac td3 ddpg; do "$PHASES_BIN" $algo 50 20; done >"$LANES_OUT/phases.txt" 2>&1
  fi
}
export -f same_bits beside
export BESIDE_BIN PHASES_BIN DETERMINISM_BIN PYTHONUNBUFFERED=1 LANES_OUT=$OUT
START=$(date +%s)
part 0 vs-sb3 scripts/bench/vs-sb3.sh 1 2
part 1 bench "$POLYAK_BIN" bench
part 2 determinism bash -c same_bits
part 3 threads scripts/bench/threads.sh 2
part 4 sweep-jobs scripts/bench/sweep-jobs.sh 2
part 5 env-beside bash -c beside
if grep -q -w avx512f "$OUT/cpu.txt"; then
  part 6 vs-sb3-avx2 env SIMD=avx2 scripts/bench/vs-sb3.sh 1 2
fi
part 7 vs-sb3-round2 scripts/bench/vs-sb3.sh 1 2
wait
echo "all lanes done in $(($(date +%s) - START)) s"
for f in "$OUT"/vs-sb3*.txt "$OUT"/determinism.txt; do
  if [ -e "$f" ]; then
    echo "== $(basename "$f")"
    tail -n 8 "$f"
  fi
done
python3 scripts/bench/cpu_class_summary.py "$OUT" | tee "$OUT/summary.md"
