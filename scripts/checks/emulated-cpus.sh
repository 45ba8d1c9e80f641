#!/usr/bin/env bash
# Runs polyak on CPU classes this project has no machine of, emulated by QEMU in user mode
# (`qemu-x86_64 -cpu MODEL`), and checks the two promises that hang on the CPU: the kernels'
# runtime dispatch picks the level the CPU has (and only that: an instruction the CPU lacks
# stops the process under emulation, as on the real CPU), and the same seed gives the same
# numbers as on this machine. Emulation says nothing about speed (it runs 100–500× slower).
#   EPYC-Rome    AMD Zen 2: AVX2 and FMA, no AVX-512 (the AVX2-only AMD class)   → AVX2
#   Haswell      Intel's first CPU with AVX2 and FMA                              → AVX2
#   Opteron_G5   AMD Piledriver: FMA and AVX without AVX2                          → scalar
#   SandyBridge  AVX without FMA                                                  → scalar
#   Nehalem      neither AVX nor FMA (SSE4.2)                                     → scalar
# On each: short runs of SAC, TD3 and DDPG on Pendulum-v1 (64-64 networks, batch 64, two
# threads) and SAC on HalfCheetah-v5 where MuJoCo is set up, each compared with the same run on
# this machine by scripts/bench/fingerprint.py (metrics.csv without its clock columns, and the
# final weights) and by the level its machine.toml records; and TD3 on Pendulum-v1 stopped here at
# step 250 and resumed there, which must end with the numbers of the run that never stopped and
# warn exactly where the CPU lacks AVX2 or FMA. On EPYC-Rome also tests/determinism.rs's
# recorded bits at HalfCheetah's sizes (SAC, TD3, DDPG; AVX2; 1 and 2 threads; about 2 minutes).
# HalfCheetah without AVX2 and FMA is reported, not required: MuJoCo's physics calls the C
# library's `exp`, `sin`, `pow`…, and glibc picks other code for them on a CPU without both (the
# README's "Same numbers on every CPU"). Opteron_G5 runs polyak's scalar kernels with the FMA
# instruction behind `f32::mul_add` (glibc's `fmaf`), where SandyBridge's is glibc's software
# one; its HalfCheetah is left out, as QEMU lacks the FMA4 a real Piledriver has, and glibc's
# math would take paths that the real CPU does not. Without AVX, TD3 on Pendulum-v1 alone, and
# HalfCheetah-v5 must stop with polyak's error, not SIGILL: the MuJoCo library is compiled for
# AVX. About 6 minutes in all. Needs QEMU 7.2 or later, whose emulation has AVX2 and FMA (not AVX-512); as
# root it installs Debian's qemu-user if missing. CI runs it.
#   scripts/checks/emulated-cpus.sh [path/to/polyak]     (default: target/release/polyak, built)
# CPUS="EPYC-Rome …" limits the models; DETERMINISM_BIN gives a prebuilt tests/determinism binary
# (`cargo test --release --test determinism --no-run` prints its path).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ -n "${1:-}" ]; then
  polyak=$(realpath "$1")
else
  cargo build --release --quiet --bin polyak
  polyak=$root/target/release/polyak
fi
if [ -z "${DETERMINISM_BIN:-}" ]; then
  DETERMINISM_BIN=$(cargo test --release --quiet --test determinism --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "determinism" and m.get("executable"):
        print(m["executable"])')
fi
if ! command -v qemu-x86_64 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
  else
    echo "emulated-cpus: qemu-x86_64 is missing (Debian: apt-get install qemu-user)" >&2
    exit 2
  fi
fi
version=$(qemu-x86_64 --version | sed -n '1s/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r major minor <<<"$version"
if [ "${major:-0}" -lt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -lt 2 ]; }; then
  echo "emulated-cpus: QEMU ${major:-?}.${minor:-?} does not emulate AVX2 and FMA (7.2 or later does)" >&2
  exit 2
fi
echo "QEMU $major.$minor, emulating:"

work=$(mktemp -d /tmp/polyak-emulated.XXXXXX)
trap 'rm -rf "$work"' EXIT
# One short run: NAME ALGO ENV [runner…]. Two threads, small networks: the tiles, their edges and
# the batch's split between threads all take part, at a few seconds a run under emulation.
settings=(--steps 400 --seed 3 --set learning_starts=200 --set eval_every=200 --set eval_episodes=1
  --set checkpoint_every=0 --set threads=2 --set "hidden=[64,64]" --set batch_size=64)
run() {
  local name=$1 algo=$2 env=$3
  shift 3
  "$@" "$polyak" train -q --algo "$algo" --env "$env" "${settings[@]}" --out "$work/$name" \
    2> >(grep -v "warning: TCG" >&2) >/dev/null
}
fingerprint() { python3 scripts/bench/fingerprint.py "$work/$1" | awk '{print $3, $5}'; }
recorded_level() { sed -n 's/^simd = "\(.*\)"/\1/p' "$work/$1/machine.toml" | tail -1; }

classic=("sac Pendulum-v1" "td3 Pendulum-v1" "ddpg Pendulum-v1")
for r in "${classic[@]}"; do
  set -- $r
  run "here-$1-$2" "$1" "$2"
done
mujoco=()
if run here-sac-HalfCheetah-v5 sac HalfCheetah-v5 2>/dev/null; then
  mujoco=("sac HalfCheetah-v5")
elif [ "${CI:-}" = true ]; then
  echo "emulated-cpus: HalfCheetah-v5 does not run here (scripts/setup/mujoco.sh first)" >&2
  exit 2
else
  echo "MuJoCo is not set up (scripts/setup/mujoco.sh): HalfCheetah-v5 left out"
fi

failed=0
for cpu in ${CPUS:-EPYC-Rome Haswell Opteron_G5 SandyBridge Nehalem}; do
  # What the model has: AVX2 and FMA; FMA and AVX without AVX2; AVX alone; or neither (SSE4.2 at
  # most). glibc's math takes its FMA paths only with both AVX2 and FMA (`avx2_fma`).
  case $cpu in
    Opteron_G5*) expected=scalar avx2_fma=no avx=yes runs=("${classic[@]}") ;;
    SandyBridge* | IvyBridge*) expected=scalar avx2_fma=no avx=yes runs=("${classic[@]}" "${mujoco[@]}") ;;
    Nehalem* | Westmere* | Penryn* | Conroe*) expected=scalar avx2_fma=no avx=no runs=("td3 Pendulum-v1") ;;
    *) expected=AVX2 avx2_fma=yes avx=yes runs=("${classic[@]}" "${mujoco[@]}") ;;
  esac
  emulate=(qemu-x86_64 -cpu "$cpu")
  echo "== $cpu"
  for r in "${runs[@]}"; do
    set -- $r
    start=$SECONDS
    status=0
    run "$cpu-$1-$2" "$1" "$2" "${emulate[@]}" || status=$?
    if [ $status != 0 ]; then
      # 132 is SIGILL: an instruction this CPU lacks.
      printf '  %-4s %-15s FAILED: the run stopped with status %d\n' "$1" "$2" $status
      failed=1
      continue
    fi
    level=$(recorded_level "$cpu-$1-$2")
    if [ "$(fingerprint "$cpu-$1-$2")" = "$(fingerprint "here-$1-$2")" ]; then same="the same numbers as here"; else same="OTHER NUMBERS than here"; fi
    verdict=ok
    if [ "$level" != "$expected" ]; then
      verdict="FAILED (expected the $expected kernels)"
    elif [ "$same" != "the same numbers as here" ]; then
      if [ $avx2_fma = no ] && [ "$2" != Pendulum-v1 ]; then
        verdict="reported, not required: MuJoCo's physics through the C library's math without both AVX2 and FMA"
      else
        verdict=FAILED
      fi
    fi
    printf '  %-4s %-15s %-6s kernels, %s (%ds): %s\n' "$1" "$2" "$level" "$same" $((SECONDS - start)) "$verdict"
    if [ "$r" = "${runs[0]}" ]; then
      echo "       (its machine.toml: $(sed -n 's/^cpu = "\(.*\)"/\1/p' "$work/$cpu-$1-$2/machine.toml"))"
    fi
    case $verdict in FAILED*) failed=1 ;; esac
  done
  # A run stopped here resumes there: the numbers of one that never stopped (on Pendulum-v1, as
  # above), and a warning where the C library's math may round otherwise (not both AVX2 and FMA).
  "$polyak" train -q --algo td3 --env Pendulum-v1 "${settings[@]}" --out "$work/stop-$cpu" --stop-after 250 >/dev/null
  status=0
  "${emulate[@]}" "$polyak" train -q --resume "$work/stop-$cpu" 2>"$work/resume.txt" >/dev/null || status=$?
  warned=no
  if grep -q "may not match bit for bit one that never stopped" "$work/resume.txt"; then warned=yes; fi
  # The warning is due where the CPU lacks AVX2 or FMA, if this machine ran AVX2 or AVX-512 kernels.
  due=no
  if [ $avx2_fma = no ] && [ "$(recorded_level here-td3-Pendulum-v1)" != scalar ]; then due=yes; fi
  if [ $status = 0 ] && [ "$(fingerprint "stop-$cpu")" = "$(fingerprint here-td3-Pendulum-v1)" ] && [ $warned = $due ]; then
    echo "  td3  Pendulum-v1     stopped here at step 250, resumed there: the numbers of a run that never stopped, $([ $warned = yes ] && echo "with" || echo "no") warning: ok"
  else
    grep -v "warning: TCG" "$work/resume.txt" || true
    echo "  td3  Pendulum-v1     stopped here, resumed there: FAILED (status $status, warned: $warned)"
    failed=1
  fi
  # Without AVX the MuJoCo library (compiled for it) would die of SIGILL: polyak refuses to load
  # it there, with an error that says why.
  if [ $avx = no ] && [ ${#mujoco[@]} -gt 0 ]; then
    status=0
    "${emulate[@]}" "$polyak" train -q --env HalfCheetah-v5 --steps 400 --set learning_starts=200 \
      --out "$work/$cpu-no-avx" 2>"$work/no-avx.txt" >/dev/null || status=$?
    if [ $status = 1 ] && grep -q "this CPU has no AVX" "$work/no-avx.txt"; then
      echo "  HalfCheetah-v5 refused with polyak's error, not SIGILL: ok"
    else
      grep -v "warning: TCG" "$work/no-avx.txt"
      echo "  HalfCheetah-v5: FAILED (status $status, expected polyak's error naming AVX)"
      failed=1
    fi
  fi
  if [ "$cpu" = EPYC-Rome ]; then
    start=$SECONDS
    if (cd "$work" && POLYAK_SIMD=avx2 "${emulate[@]}" "$DETERMINISM_BIN" --exact updates_give_the_recorded_bits_on_any_cpu \
      2> >(grep -v "warning: TCG" >&2) > "$work/recorded.txt"); then
      echo "  the recorded bits at HalfCheetah's sizes, AVX2, 1 and 2 threads ($((SECONDS - start))s): ok"
    else
      cat "$work/recorded.txt"
      echo "  the recorded bits at HalfCheetah's sizes: FAILED"
      failed=1
    fi
  fi
done
exit $failed
