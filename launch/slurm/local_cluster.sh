#!/usr/bin/env bash
# A private Slurm test cluster on this machine, for testing the sbatch scripts in launch/slurm/.
# It runs its own munged, one slurmctld and N slurmd (default 2: nodes rlvr0 and rlvr1, both on
# 127.0.0.1 with ports of their own, so heterogeneous jobs, whose components need separate nodes,
# start too). Everything it writes (slurm.conf, munge key, spool, state, logs, pid files) lives under
# one directory and the daemons listen on non-default ports, so it touches neither /etc/slurm nor
# /etc/munge nor a Slurm that the machine already runs.
#
#   launch/slurm/local_cluster.sh start    start the daemons (a no-op if they already run), wait until
#                                          every node is idle, print `export SLURM_CONF=...` on stdout
#   launch/slurm/local_cluster.sh status   exit 0 if the cluster is up (and print sinfo), 1 if not
#   launch/slurm/local_cluster.sh stop     cancel every job, shut the daemons down, stop munged
#   launch/slurm/local_cluster.sh env      print `export SLURM_CONF=...` (for eval)
#
# Typical use:  eval "$(launch/slurm/local_cluster.sh start)"; sbatch ...; launch/slurm/local_cluster.sh stop
# Environment:
#   RLVR_SLURM_DIR    the cluster's directory (default ${TMPDIR:-/tmp}/rlvr-slurm-$UID)
#   RLVR_SLURM_PORT   slurmctld port; node i uses the port after it plus i (default: the first free
#                     range from 16817)
#   RLVR_SLURM_NODES  number of nodes (default 2)
#   RLVR_SLURM_CPUS   CPUs each node advertises (default max(8, nproc)): more than the machine has, so
#                     a learner job and a rollout array fit side by side on a 2-core box
# A running cluster keeps its configuration: `stop` before changing these. The daemons start with -c,
# so a cluster started again after `stop` begins with an empty queue.
# Exit status: 0 ok, 1 failure (daemon logs are printed), 77 this machine cannot run a cluster (not
# root, or slurm-wlm/munge not installed: `apt-get install slurm-wlm munge`). See docs/slurm.md.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"

dir="${RLVR_SLURM_DIR:-${TMPDIR:-/tmp}/rlvr-slurm-$(id -u)}"
conf="$dir/slurm.conf"
nnodes="${RLVR_SLURM_NODES:-2}"
nodes=()
for ((i = 0; i < nnodes; i++)); do nodes+=("rlvr$i"); done

say() { echo "local_cluster: $*" >&2; }

need_tools() {
  local t missing=()
  for t in munged mungekey slurmctld slurmd scontrol sinfo squeue scancel; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "cannot start: ${missing[*]} not found (install with: apt-get install slurm-wlm munge)"
    exit 77
  fi
  if [ "$(id -u)" -ne 0 ]; then
    say "cannot start: slurmd must run as root to launch jobs (run as root, or use a real cluster)"
    exit 77
  fi
  case "$nnodes" in ''|*[!0-9]*|0) say "RLVR_SLURM_NODES must be a positive integer, not '$nnodes'"; exit 1 ;; esac
}

# True if the process named by pid file $1 runs. A zombie does not count: in some containers nobody
# reaps the daemons once they exit.
pid_alive() {
  local p
  p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
  ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$p/stat" 2>/dev/null
}

# Sends signal $2 to the process of pid file $1, if it still has one.
pid_kill() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill "-$2" "$p" 2>/dev/null; return 0; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if any of the nnodes+1 ports from $1 is taken.
ports_busy() {
  local i
  for ((i = 0; i <= nnodes; i++)); do port_busy $(($1 + i)) && return 0; done
  return 1
}

pick_ports() {
  local p="${RLVR_SLURM_PORT:-16817}" tries=0
  while ports_busy "$p"; do
    if [ -n "${RLVR_SLURM_PORT:-}" ]; then say "a port in $p-$((p + nnodes)) is in use (RLVR_SLURM_PORT)"; exit 1; fi
    p=$((p + nnodes + 1)); tries=$((tries + 1))
    [ $tries -lt 100 ] || { say "no free range of $((nnodes + 1)) ports from 16817"; exit 1; }
  done
  echo "$p"
}

write_conf() {
  local port="$1" cpus="${RLVR_SLURM_CPUS:-}" i
  if [ -z "$cpus" ]; then cpus=$(nproc); [ "$cpus" -ge 8 ] || cpus=8; fi
  # linuxproc/none plugins: no cgroups, which containers and CI runners rarely delegate.
  # config_overrides lets a node advertise more CPUs than the machine has. Accounting is off; finished
  # jobs stay visible to scontrol for MinJobAge seconds so tests can read their exit codes.
  # Heterogeneous jobs are started only by the backfill scheduler, hence its 1 s interval (default 30).
  {
    echo "# Written by launch/slurm/local_cluster.sh: a private test cluster on one machine."
    echo "ClusterName=rlvrtest"
    echo "SlurmctldHost=localhost(127.0.0.1)"
    echo "SlurmctldPort=$port"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$dir/munge/munge.sock"
    echo "StateSaveLocation=$dir/state"
    echo "SlurmdSpoolDir=$dir/slurmd-%n"
    echo "SlurmctldPidFile=$dir/run/slurmctld.pid"
    echo "SlurmdPidFile=$dir/run/slurmd-%n.pid"
    echo "SlurmctldLogFile=$dir/log/slurmctld.log"
    echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
    echo "SlurmctldDebug=info"
    echo "SlurmdDebug=info"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "SchedulerType=sched/backfill"
    echo "SchedulerParameters=bf_interval=1"
    echo "MpiDefault=pmix"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "MailProg=/bin/true"
    echo "ReturnToService=2"
    echo "SlurmdParameters=config_overrides"
    echo "KillWait=5"
    echo "MinJobAge=600"
    echo "InactiveLimit=0"
    for ((i = 0; i < nnodes; i++)); do
      echo "NodeName=${nodes[i]} NodeAddr=127.0.0.1 Port=$((port + 1 + i)) CPUs=$cpus State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP"
  } > "$conf.tmp"
  mv "$conf.tmp" "$conf"
}

# Node states, one word per node, e.g. "idle mixed".
node_states() { SLURM_CONF="$conf" sinfo -h -N -o %T 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }

# The node names of the configuration on disk (a running cluster may have another RLVR_SLURM_NODES).
conf_nodes() { sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$conf" 2>/dev/null; }

up() {
  local n
  [ -f "$conf" ] && pid_alive "$dir/run/slurmctld.pid" && pid_alive "$dir/munge/munged.pid" || return 1
  for n in $(conf_nodes); do pid_alive "$dir/run/slurmd-$n.pid" || return 1; done
}

show_logs() {
  local f
  for f in "$dir/log/munged.log" "$dir/log/slurmctld.log" "$dir"/log/slurmd-*.log; do
    [ -f "$f" ] && { echo "---- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
  done
  return 0
}

start() {
  need_tools
  if up && node_states | grep -qE '^((idle|mixed|allocated|completing)( |$))+$'; then
    say "already running ($conf)"
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  # Half-started (a daemon died): stop what is left, then start afresh.
  stop_daemons quiet
  # munged insists that every directory above its socket be searchable by all and that its key be
  # private, hence the modes.
  mkdir -p "$dir"/{munge,key,state,run,log}
  chmod 755 "$dir" "$dir/munge"
  local a
  a=$(cd "$dir" && pwd -P)
  while a=$(dirname "$a"); [ "$a" != / ]; do
    [ "$(( 8#$(stat -c %a "$a") & 1 ))" -eq 1 ] \
      || { say "munged needs every directory above its socket searchable by all: chmod o+x $a, or set RLVR_SLURM_DIR elsewhere"; exit 1; }
  done
  [ ${#dir} -le 80 ] || { say "RLVR_SLURM_DIR '$dir' is too long for a Unix socket path (keep it under 80 characters)"; exit 1; }
  chmod 700 "$dir/key"
  [ -s "$dir/key/munge.key" ] || mungekey --create --keyfile="$dir/key/munge.key"
  local port n
  port=$(pick_ports)
  write_conf "$port"
  munged --socket="$dir/munge/munge.sock" --key-file="$dir/key/munge.key" --pid-file="$dir/munge/munged.pid" \
    --seed-file="$dir/key/munged.seed" --log-file="$dir/log/munged.log" \
    || { say "munged failed to start"; show_logs; exit 1; }
  # -c: start from an empty job state; -N: which NodeName of slurm.conf this slurmd is.
  SLURM_CONF="$conf" slurmctld -c -f "$conf" || { say "slurmctld failed to start"; show_logs; stop_daemons quiet; exit 1; }
  for n in "${nodes[@]}"; do
    mkdir -p "$dir/slurmd-$n"
    SLURM_CONF="$conf" slurmd -c -f "$conf" -N "$n" || { say "slurmd $n failed to start"; show_logs; stop_daemons quiet; exit 1; }
  done
  local t=0 s=""
  while :; do
    s=$(node_states)
    echo "$s" | grep -qE '^(idle( |$))+$' && [ "$(echo "$s" | wc -w)" -eq "$nnodes" ] && break
    if [ $t -ge 300 ]; then
      say "nodes not idle after 30 s (states '${s:-unknown}')"; show_logs; stop_daemons quiet; exit 1
    fi
    sleep 0.1; t=$((t + 1))
  done
  say "up: nodes ${nodes[*]} idle, ports $port-$((port + nnodes)), conf $conf"
  echo "export SLURM_CONF=$conf"
}

# Waits up to $2 tenths of a second for the process of pid file $1 to exit.
wait_gone() {
  local f="$1" n="$2" i=0
  while pid_alive "$f" && [ $i -lt "$n" ]; do sleep 0.1; i=$((i + 1)); done
  ! pid_alive "$f"
}

# The slurmstepd processes of this cluster (one per running job step): they inherit SLURM_CONF from
# our slurmd, which tells them apart from those of another Slurm on the machine. Plain /proc reads:
# pgrep (procps) is not in every container image.
our_stepds() {
  local d p
  for d in /proc/[0-9]*; do
    p="${d#/proc/}"
    [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
    { tr '\0' '\n' < "$d/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && echo "$p"
  done
  return 0
}

# Every descendant of the processes given.
descendants() {
  local d p ppid
  [ $# -gt 0 ] || return 0
  for d in /proc/[0-9]*; do
    p="${d#/proc/}"
    # Field 4 of /proc/PID/stat, counted after the ")" that closes the command name.
    ppid=$({ sed 's/.*) [A-Za-z] \([0-9]*\).*/\1/' "$d/stat"; } 2>/dev/null) || continue
    case " $* " in *" $ppid "*) echo "$p"; descendants "$p" ;; esac
  done
}

stop_daemons() {
  local quiet="${1:-}" f jobs i=0 left
  if [ -f "$conf" ] && pid_alive "$dir/run/slurmctld.pid"; then
    # Cancel every job first, and wait until their steps are gone: `scontrol shutdown` would leave the
    # jobs' processes running. Tasks get TERM, then KILL after KillWait (5 s).
    jobs=$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null || true)   # 12_3 form: scancel rejects raw array task ids
    # shellcheck disable=SC2086
    [ -z "$jobs" ] || SLURM_CONF="$conf" scancel $jobs 2>/dev/null || true
    while { [ -n "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ] || [ -n "$(our_stepds)" ]; } && [ $i -lt 100 ]; do
      sleep 0.1; i=$((i + 1))
    done
    SLURM_CONF="$conf" scontrol shutdown >/dev/null 2>&1 || true
  fi
  # Steps that outlived their slurmd (it was stopped or died mid-job): end them and their tasks.
  left=$(our_stepds)
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086
    left="$left $(descendants $left)"
    say "ending job processes left behind: $(echo $left)"
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    sleep 1
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
  fi
  for f in "$dir"/run/slurmd-*.pid "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
    pid_alive "$f" || continue
    [ "$f" = "$dir/munge/munged.pid" ] && pid_kill "$f" TERM
    wait_gone "$f" 100 || { pid_kill "$f" TERM; wait_gone "$f" 30; } || { pid_kill "$f" KILL; wait_gone "$f" 10; } || true
  done
  [ -n "$quiet" ] || say "stopped ($dir)"
}

stop() {
  [ -d "$dir" ] || { say "nothing to stop ($dir does not exist)"; return 0; }
  stop_daemons
}

status() {
  if up; then
    SLURM_CONF="$conf" sinfo -N || true
    return 0
  fi
  say "not running ($dir)"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $0 start|stop|status|env   (see the header of this script)" >&2; exit 2 ;;
esac
