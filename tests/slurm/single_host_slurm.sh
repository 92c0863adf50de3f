#!/usr/bin/env bash
# A throw-away single-host Slurm cluster (munge + slurmctld + slurmd) for the Slurm tests.
#
#   single_host_slurm.sh start <dir>   starts the daemons; writes <dir>/env.sh (export SLURM_CONF=...)
#   single_host_slurm.sh stop <dir>    stops exactly the daemons started in <dir> (their pid files)
#
# Everything lives under <dir>: munge key and socket, slurm.conf, state, spool, logs, pid files. Nothing
# in /etc is read or changed, so it runs beside a real installation. Needs root (slurmd runs jobs as the
# submitting user; munged and slurmd would need setuid helpers otherwise).
# Exit codes: 0 started/stopped, 77 Slurm cannot run here (the caller skips), other: a real failure.
set -euo pipefail

usage() { echo "usage: $0 start|stop <dir>" >&2; exit 2; }
(($# == 2)) || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

say() { echo "[single_host_slurm] $*"; }
skip() { say "SKIP: $*"; exit 77; }

stop_pid_file() {  # $1: pid file of a daemon this script started; TERM, then KILL after 10 s
  local file=$1 pid
  [[ -s $file ]] || return 0
  pid=$(<"$file")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "pid $pid ignored SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$file"
}

stop_cluster() {
  # Jobs first (slurmd's step daemons are its children and end with it), then slurmd, slurmctld, munged.
  if [[ -f $dir/slurm.conf ]] && [[ -s $dir/run/slurmctld.pid ]]; then
    export SLURM_CONF=$dir/slurm.conf
    timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
    no_jobs() { [[ -z $(squeue --noheader --format=%i 2>/dev/null) ]]; }
    wait_for 15 no_jobs || say "jobs still listed after scancel: $(squeue --noheader 2>&1 | head -5)"
  fi
  stop_pid_file "$dir/run/slurmd.pid"
  # Step daemons (slurmstepd) are not slurmd's children once started; any left by a job that ignored the
  # cancel carry this cluster's SLURM_CONF in their environment, which picks them out exactly.
  local pid
  for pid in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$dir/slurm.conf"; then
      say "killing leftover slurmstepd $pid"; kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  stop_pid_file "$dir/run/slurmctld.pid"
  stop_pid_file "$dir/munge/munged.pid"
  say "stopped the daemons of $dir"
}

# A TCP port nobody listens on (bash's /dev/tcp connect fails), from a per-directory pseudo-random start
# so that concurrent test runs on one host do not collide.
free_port() {
  local start=$1 port
  for ((port = start; port < start + 200; port++)); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free TCP port in [$start, $((start + 200)))" >&2; return 1
}

wait_for() {  # $1: seconds, $2...: command that succeeds once ready
  local seconds=$1; shift
  for _ in $(seq $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_cluster() {
  [[ $(id -u) -eq 0 ]] || skip "needs root (slurmd and munged run as root in this single-host setup)"
  local b
  for b in munged slurmctld slurmd sbatch scontrol sinfo srun scancel; do
    command -v "$b" >/dev/null || skip "'$b' not found (apt-get install slurm-wlm munge)"
  done
  mkdir -p "$dir"/{munge,state,spool,log,run}
  chmod 700 "$dir/munge"

  # munge: own key, socket, pid and log under $dir. --force: the temp dir's parents may be world-writable.
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" || { say "munged failed:"; cat "$dir/munge/munged.log" >&2; return 1; }
  wait_for 10 test -S "$dir/munge/munge.socket" || { say "munged socket never appeared"; return 1; }

  local node ctld_port slurmd_port seed cpus memory
  node=$(hostname -s)
  seed=$(( (16#$(echo -n "$dir" | md5sum | cut -c1-4) % 2000) * 10 + 20000 ))
  ctld_port=$(free_port "$seed")
  slurmd_port=$(free_port $((ctld_port + 1)))
  # The node's real CPUs and memory, as slurmd itself detects them.
  cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
  memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  [[ -n $cpus && -n $memory ]] || { say "slurmd -C printed no CPUs/RealMemory"; return 1; }

  cat > "$dir/slurm.conf" <<EOF
# Single-host test cluster written by $0
ClusterName=fqtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobRequeue=1
ReturnToService=2
MinJobAge=60
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE OverSubscribe=FORCE:4 State=UP
EOF
  printf 'export SLURM_CONF=%q\n' "$dir/slurm.conf" > "$dir/env.sh"
  export SLURM_CONF=$dir/slurm.conf

  slurmctld || { say "slurmctld failed:"; tail -20 "$dir/log/slurmctld.log" >&2; return 1; }
  wait_for 20 scontrol ping || { say "slurmctld does not answer:"; tail -20 "$dir/log/slurmctld.log" >&2; return 1; }
  slurmd -N "$node" || { say "slurmd failed:"; tail -20 "$dir/log/slurmd.log" >&2; return 1; }
  node_idle() { sinfo --noheader --nodes="$node" --format=%t | grep -Eq '^(idle|mix|alloc)'; }
  wait_for 30 node_idle || {
    say "node $node never became idle: $(sinfo --noheader --format='%t %E' 2>&1)"
    tail -20 "$dir/log/slurmd.log" >&2; return 1; }
  say "up: node $node ($cpus CPUs, $memory MB), slurmctld port $ctld_port, SLURM_CONF=$dir/slurm.conf"
}

case $action in
  start)
    # A failed start leaves nothing running.
    start_cluster || { rc=$?; ((rc == 77)) && exit 77; stop_cluster; exit "$rc"; } ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
