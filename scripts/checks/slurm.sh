#!/usr/bin/env bash
# Runs a `polyak sweep --emit slurm` script on a real Slurm: a single-node cluster (munged,
# slurmctld and slurmd on this machine) started here, the script submitted with sbatch, and every
# run of the sweep checked. Needs root: it installs Debian's Slurm packages if they are missing and
# starts the daemons, which it stops again at the end. CI runs it.
#   scripts/checks/slurm.sh [path/to/polyak]     (default: target/release/polyak)
set -euo pipefail
cd "$(dirname "$0")/../.."
polyak=$(realpath "${1:-target/release/polyak}")

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
fi

work=$(mktemp -d /tmp/polyak-slurm.XXXXXX)
chmod 755 "$work"
host=$(hostname -s)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

# munge: Slurm's authentication, with a key of this cluster's own.
mkdir -p "$work/munge" /run/munge
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$work/munge" /run/munge
chmod 700 "$work/munge"
chmod 400 "$work/munge/munge.key"
runuser -u munge -- munged --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" --force
pids+=("$(cat "$work/munge/munged.pid")")

mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=polyak-check
SlurmctldHost=$host
SlurmctldPort=6917
SlurmdPort=6918
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -i
slurmd
sleep 1
pids+=("$(cat "$work/slurmctld.pid")" "$(cat "$work/slurmd.pid")")
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o %T | grep -qx idle || { echo "slurm did not come up:"; tail -20 "$work"/slurm*.log; exit 1; }

# A small sweep, emitted with flags the script must not repeat (--jobs, --only).
sweep=(sweep --algos td3,ddpg --seeds 2 --steps 600 --set "hidden=[16, 16]" --set learning_starts=100
  --set eval_every=300 --set eval_episodes=1 --set batch_size=32 --out "$work/sweep" -q)
(cd "$work" && "$polyak" "${sweep[@]}" --jobs 2 --only 0 --emit slurm)
sbatch --wait "$work/sweep/sweep.slurm"

failed=0
for algo in td3 ddpg; do
  for seed in 0 1; do
    run="$work/sweep/Pendulum-v1/$algo/seed$seed"
    if [ -f "$run/checkpoints/final.safetensors" ]; then
      echo "ok: $algo seed $seed"
    else
      echo "MISSING: $run"; failed=1
    fi
  done
done
# Re-running the same sweep finds everything done.
out=$(cd "$work" && "$polyak" "${sweep[@]}" --jobs 1)
echo "$out"
grep -q "4 already finished, 0 completed now, 0 failed" <<<"$out" || failed=1
if [ "$failed" -ne 0 ]; then
  cat "$work"/sweep/logs/* || true
  exit 1
fi
echo "slurm check passed: all 4 runs of the emitted sweep finished under sbatch"
