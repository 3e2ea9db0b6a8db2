#!/usr/bin/env bash
# A real one-node SLURM on this machine, for tests of `fathom submit`; recipe and pitfalls in
# ../shared/design/SLURM_LOCAL.md. Everything lives in DIR: munge key and socket, slurm.conf,
# state, spool, logs and pid files, so it neither reads nor disturbs a system SLURM or munge.
#
#   local_cluster.sh start DIR   installs slurm-wlm and munge when missing (apt), starts munged,
#                                slurmctld and slurmd, waits for the node to be idle, and writes
#                                DIR/env.sh (`. DIR/env.sh` points sbatch, squeue, ... at it)
#   local_cluster.sh stop DIR    cancels its jobs and stops exactly the daemons it started
#   local_cluster.sh logs DIR    prints the daemons' logs
#
# Needs root (munged, slurmctld and slurmd run as root, as SlurmUser). A failed start stops
# whatever it had started before returning non-zero.
set -euo pipefail

die() { echo "local_cluster: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop|logs DIR"
ACTION=$1
DIR=$2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF=$DIR/slurm.conf
SOCKET=$DIR/munge/munge.socket
# Set in the daemons' environment only (and so in slurmstepd's): how `stop` recognises what this
# cluster started, without matching the caller's own processes.
MARK="FATHOM_LOCAL_CLUSTER=$DIR"

install_packages() {
  local missing=0 tool
  for tool in munged munge slurmctld slurmd sbatch squeue scontrol sinfo srun; do
    command -v "$tool" >/dev/null || missing=1
  done
  [ $missing -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "slurm-wlm and munge are missing and installing them needs root"
  echo "local_cluster: installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 300 apt-get install -y --no-install-recommends slurm-wlm munge >"$DIR/apt.log" 2>&1; then
    timeout 300 apt-get update >>"$DIR/apt.log" 2>&1 || true
    timeout 300 apt-get install -y --no-install-recommends slurm-wlm munge >>"$DIR/apt.log" 2>&1 ||
      { tail -20 "$DIR/apt.log" >&2; die "apt-get install slurm-wlm munge failed (log: $DIR/apt.log)"; }
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Two consecutive free ports, so that clusters of several engineers or CI jobs can run side by side.
pick_ports() {
  local attempt base
  for attempt in $(seq 1 50); do
    base=$((20000 + (RANDOM % 2000) * 2))
    if ! port_in_use "$base" && ! port_in_use "$((base + 1))"; then
      CTLD_PORT=$base
      SLURMD_PORT=$((base + 1))
      return 0
    fi
  done
  die "no two free ports found"
}

# Whether the NUL-separated /proc FILE has an entry equal to one of the patterns (grep -e ...).
# Read whole first: `tr | grep -q` under pipefail fails when grep stops reading early.
proc_has() {
  local file=$1 text
  shift
  text=$({ tr '\0' '\n' <"$file"; } 2>/dev/null) || return 1
  grep -qxF "$@" <<<"$text"
}

# pid from FILE when that process is still running and its command line or environment names
# this cluster (a recycled pid is left alone).
our_pid() {
  local file=$1 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  if proc_has "/proc/$pid/cmdline" -e "$CONF" -e "--socket=$SOCKET" || proc_has "/proc/$pid/environ" "$MARK"; then
    echo "$pid"
    return 0
  fi
  return 1
}

# Sends TERM, waits up to 10 s, then KILL.
stop_pid() {
  local pid=$1 name=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.1
  done
  echo "local_cluster: $name (pid $pid) ignored SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

# Processes started by this cluster's slurmd that outlived it (slurmstepd) and their children.
leftover_pids() {
  local marked=() p
  for p in /proc/[0-9]*; do
    proc_has "$p/environ" "$MARK" && marked+=("${p#/proc/}")
  done
  [ ${#marked[@]} -eq 0 ] && return 0
  # Every descendant of a marked process, by walking parent pids.
  local all=" ${marked[*]} " changed=1 pid ppid
  while [ $changed -eq 1 ]; do
    changed=0
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      [[ $all == *" $pid "* ]] && continue
      ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null) || continue
      if [[ $all == *" $ppid "* ]]; then
        all+="$pid "
        changed=1
      fi
    done
  done
  echo $all
}

print_logs() {
  local log
  for log in "$DIR"/log/*.log "$DIR"/munge/munged.log; do
    [ -f "$log" ] || continue
    echo "----- $log (last 60 lines)"
    tail -60 "$log"
  done
}

stop_cluster() {
  local pid name
  if [ -f "$CONF" ] && our_pid "$DIR/slurmctld.pid" >/dev/null; then
    export SLURM_CONF=$CONF
    # Jobs first, so slurmd ends their tasks itself; then the daemons.
    local jobs
    jobs=$(timeout 20 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      timeout 20 scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 30); do
        [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] && break
        sleep 1
      done
    fi
  fi
  for name in slurmd slurmctld; do
    if pid=$(our_pid "$DIR/$name.pid"); then stop_pid "$pid" "$name"; fi
  done
  for pid in $(leftover_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  if pid=$(our_pid "$DIR/munge/munged.pid"); then stop_pid "$pid" munged; fi
  return 0
}

start_cluster() {
  [ "$(id -u)" -eq 0 ] || die "needs root: munged, slurmctld and slurmd run as root here"
  install_packages
  if our_pid "$DIR/slurmctld.pid" >/dev/null; then die "a cluster is already running in $DIR"; fi
  # munged wants every directory on its socket's path searchable by all.
  chmod 755 "$DIR"
  local up=$DIR
  while up=$(dirname "$up") && [ "$up" != / ]; do
    [ "$(( $(stat -c '%a' "$up" | sed 's/.*\(.\)$/\1/') & 1 ))" -eq 1 ] ||
      die "munged needs $up to be searchable by all (chmod o+x), or another DIR"
  done
  mkdir -p "$DIR/munge" "$DIR/munge-key" "$DIR/state" "$DIR/spool" "$DIR/log"
  chmod 755 "$DIR/munge"
  chmod 700 "$DIR/munge-key"
  local key=$DIR/munge-key/munge.key
  if [ ! -f "$key" ]; then
    head -c 1024 /dev/urandom >"$key"
    chmod 400 "$key"
  fi
  munged --key-file="$key" --socket="$SOCKET" --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" ||
    { print_logs >&2; die "munged did not start"; }
  munge -S "$SOCKET" -n | unmunge -S "$SOCKET" >/dev/null || { print_logs >&2; stop_cluster; die "munge round trip failed"; }

  pick_ports
  local node_line node
  node_line=$(slurmd -C | head -1)  # NodeName=HOST CPUs=... RealMemory=...
  node=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node_line")
  [ -n "$node" ] || die "slurmd -C printed no node line: $node_line"
  cat >"$CONF" <<EOF
# Written by tests/slurm/local_cluster.sh: a one-node cluster private to $DIR.
ClusterName=fathomtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays the restart of a requeued job (default 120 s).
AuthInfo=socket=$SOCKET,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$(printf '%q' "$CONF")" >"$DIR/env.sh"
  export SLURM_CONF=$CONF
  env "$MARK" slurmctld -f "$CONF" || { print_logs >&2; stop_cluster; die "slurmctld did not start"; }
  env "$MARK" slurmd -f "$CONF" || { print_logs >&2; stop_cluster; die "slurmd did not start"; }
  local state=""
  for _ in $(seq 1 60); do
    state=$(timeout 10 sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
  done
  if [ "$state" != idle ]; then
    print_logs >&2
    stop_cluster
    die "the node did not become idle within 60 s (sinfo: '$state')"
  fi
  echo "local_cluster: up in $DIR (node $node, ports $CTLD_PORT/$SLURMD_PORT); . $DIR/env.sh"
}

case $ACTION in
  start) start_cluster ;;
  stop) stop_cluster ;;
  logs) print_logs ;;
  *) die "usage: $0 start|stop|logs DIR" ;;
esac
