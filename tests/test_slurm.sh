#!/usr/bin/env bash
# The Slurm batch scripts (launch/slurm/*.sbatch) against a real Slurm: a private 3-node cluster on
# this machine (launch/slurm/local_cluster.sh; its own munged, slurm.conf, ports and directories).
#  1. learner.sbatch (2 ranks, srun --mpi=pmix) and rollout_pool.sbatch (a 2-task array, submitted
#     first) train a few steps of configs/demo_cpu.yaml; metrics.jsonl has every step; the workers'
#     logs show groups sent; cancelling one array task mid-run does not stop training; USR1 to the
#     batch shell reaches the ranks (checkpoint); a resubmitted learner resumes and the surviving
#     worker serves it; a job chained with --dependency cancels the pool.
#  2. hetjob.sbatch: `sbatch --test-only` accepts it as written, and a small instance of it (sizes
#     given on the command line) trains to the end with its own workers.
# Exit 77 (skipped) when the cluster cannot run here (not root, no slurm-wlm/munge) or the programs
# are not built. The cluster is stopped on every exit.
set -euo pipefail
root="${RLVR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="${RLVR_BIN:-$root/build/bin}"
cd "$root"
skip() { echo "SKIP test_slurm: $*"; exit 77; }
fail() { echo "FAIL test_slurm: $*" >&2; exit 1; }
t_start=$(date +%s)
say() { echo "[$(( $(date +%s) - t_start ))s] $*"; }

# Syntax first: a batch script that does not parse fails only once the job starts, with the error
# buried in its output file.
for f in launch/slurm/*.sbatch launch/slurm/local_cluster.sh; do
  bash -n "$f" || fail "$f does not parse"
done
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs jobs as root here)"
for p in learner rollout; do [ -x "$bin/$p" ] || skip "$bin/$p is not built"; done
# The learner binds 0.0.0.0 and names this host in the rendezvous file, as on a real cluster.
getent hosts "$(hostname)" >/dev/null || skip "this host's name '$(hostname)' does not resolve (add it to /etc/hosts)"

tmp=$(mktemp -d /tmp/rlvr-slurm-test.XXXXXX)   # short path: munged's socket lives under it
chmod 755 "$tmp"                                 # munged wants its socket's directories searchable by all
export RLVR_SLURM_DIR="$tmp/cluster" RLVR_SLURM_NODES=3 RLVR_SLURM_CPUS=64
unset RLVR_SLURM_PORT SLURM_CONF SLURM_JOB_ID SLURM_JOBID
export RLVR_BIN="$bin" RLVR_ROOT="$root"
# The jobs inherit this environment (sbatch --export=ALL): keep the machine's cores for two ranks and
# two workers, and let Open MPI run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

watchdog=""
keep_logs="${RLVR_SLURM_TEST_KEEP:-0}"   # 1: keep the temporary directory (logs) for inspection
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  kill "$watchdog" 2>/dev/null || true
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    for f in "$tmp"/run*/logs/*.out "$tmp"/run*/metrics.jsonl; do
      [ -f "$f" ] && { echo "---- $f (last 30 lines)"; tail -n 30 "$f"; }
    done
    for f in "$tmp"/cluster/log/*.log; do
      [ -f "$f" ] && { echo "---- $f (last 15 lines)"; tail -n 15 "$f"; }
    done
  fi
  "$root/launch/slurm/local_cluster.sh" stop || true
  [ $keep_logs -eq 1 ] || rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# ctest's TIMEOUT (tests/CMakeLists.txt: 180 s) kills with no chance to clean up: stop ourselves first.
# (The subshell ends its own sleep when cleanup stops it, so nothing is left behind.)
( trap 'kill $s 2>/dev/null; exit 0' TERM
  sleep 150 & s=$!
  wait $s && { echo "test_slurm: 150 s watchdog fired" >&2; kill -TERM $$; } ) &
watchdog=$!

set +e
env_line=$("$root/launch/slurm/local_cluster.sh" start)
rc=$?
set -e
[ $rc -eq 77 ] && skip "the local Slurm cluster cannot run here (see the message above)"
[ $rc -eq 0 ] || fail "launch/slurm/local_cluster.sh start failed ($rc)"
eval "$env_line"
say "cluster up: $SLURM_CONF"

# job_state JOBID -> PENDING/RUNNING/COMPLETED/CANCELLED/FAILED/... (finished jobs stay MinJobAge s).
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1; }
job_exit() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*[^a-zA-Z]ExitCode=\([0-9:]*\).*/\1/p' | head -1; }
finished() { case "$(job_state "$1")" in COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE) return 0 ;; *) return 1 ;; esac; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local limit="$1" what="$2" i=0
  shift 2
  until "$@"; do
    sleep 0.2; i=$((i + 1))
    [ $i -lt $((limit * 5)) ] || fail "timed out after ${limit}s waiting for $what"
  done
}
metric_steps() { [ -f "$1/metrics.jsonl" ] && grep -c '"step"' "$1/metrics.jsonl" || echo 0; }
has_steps() { [ "$(metric_steps "$1")" -ge "$2" ]; }

# Tiny run from a freshly initialised model (a fresh clone has no SFT checkpoint). Such a model has no
# file the workers could read its architecture from, so weights go as HDF5 snapshots in the run
# directory (--weights-via-file), which carry it.
steps=5
overrides=(--weights-via-file trainer.total_training_steps=$steps trainer.save_freq=0 trainer.test_freq=0
           model.path= data.train_batch_size=4 actor.ppo_mini_batch_size=4 rollout.n=4)

# Sum of the "groups" of the final stats lines of the rollout logs given.
groups_sent() { sed -n 's/.*stats {"groups": \([0-9]*\),.*/\1/p' "$@" | awk '{s += $1} END {print s + 0}'; }

# ---- 1. learner job + rollout array ---------------------------------------------------------------
run="$tmp/run1"
mkdir -p "$run/logs"
# The pool first: its workers wait for the rendezvous file the learner writes. --gen-delay slows the
# workers down (~0.5 s a step instead of ~0.1 s) so that the signals below arrive mid-run.
pool=$(RUN_DIR="$run" sbatch --parsable --array=0-1 --cpus-per-task=1 --output="$run/logs/rollout-%A_%a.out" \
  launch/slurm/rollout_pool.sbatch --status-interval 1 --gen-delay 0.4)
learner=$(RUN_DIR="$run" CONFIG=configs/demo_cpu.yaml sbatch --parsable --ntasks-per-node=2 --cpus-per-task=1 \
  --output="$run/logs/learner-%j.out" launch/slurm/learner.sbatch "${overrides[@]}")
say "submitted rollout array $pool and learner $learner"
wait_for 30 "the learner's rendezvous file" test -s "$run/rendezvous.json"
wait_for 40 "the first training step" has_steps "$run" 1
[ "$(metric_steps "$run")" -lt $((steps - 1)) ] || fail "training ran too fast to cancel a worker mid-run"
# One worker leaves mid-run (as when the pool is shrunk): training must go on with the other.
scancel "${pool}_1"
# The time-limit warning (--signal=B:USR1@300) goes to the batch shell only; the script must pass it
# on to the ranks, which then checkpoint at the next step boundary.
scancel --batch --signal=USR1 "$learner"
say "after step 1: cancelled array task ${pool}_1, sent USR1 to the learner's batch shell"
wait_for 60 "job $learner to end" finished "$learner"
[ "$(job_state "$learner")" = COMPLETED ] || fail "learner job $learner ended $(job_state "$learner") (exit $(job_exit "$learner"))"
n=$(metric_steps "$run")
[ "$n" -eq $steps ] || fail "metrics.jsonl has $n steps, expected $steps"
log="$run/logs/learner-$learner.out"
grep -q "written (SIGUSR1" "$log" || fail "no SIGUSR1 checkpoint in $log: USR1 did not reach the ranks"
grep -q "worker '[^']*-$pool-1' left" "$log" || fail "$log does not show worker $pool-1 leaving"
say "learner COMPLETED: $n steps in metrics.jsonl, a SIGUSR1 checkpoint, worker $pool-1 left mid-run"
wait_for 15 "array task ${pool}_1 to end" finished "${pool}_1"
[ "$(job_state "${pool}_1")" = CANCELLED ] || fail "array task ${pool}_1 is $(job_state "${pool}_1"), expected CANCELLED"
# Workers outlive the learner: the remaining one serves a resubmitted learner, which resumes from the
# final checkpoint (learner.sbatch always passes --resume) and trains 2 more steps. A job chained
# after it cancels the pool, as docs/slurm.md suggests.
[ "$(job_state "${pool}_0")" = RUNNING ] || fail "array task ${pool}_0 is $(job_state "${pool}_0"), expected RUNNING"
learner2=$(RUN_DIR="$run" CONFIG=configs/demo_cpu.yaml sbatch --parsable --ntasks-per-node=2 --cpus-per-task=1 \
  --output="$run/logs/learner-%j.out" launch/slurm/learner.sbatch "${overrides[@]}" trainer.total_training_steps=$((steps + 2)))
sbatch --parsable --dependency="afterany:$learner2" --output=/dev/null --wrap "scancel $pool" >/dev/null
say "resubmitted the learner ($learner2) for 2 more steps, pool cancellation chained after it"
wait_for 60 "job $learner2 to end" finished "$learner2"
[ "$(job_state "$learner2")" = COMPLETED ] || fail "learner job $learner2 ended $(job_state "$learner2") (exit $(job_exit "$learner2"))"
grep -q "resum.*step $steps" "$run/logs/learner-$learner2.out" || fail "learner $learner2 did not resume from step $steps"
n=$(metric_steps "$run")
[ "$n" -eq $((steps + 2)) ] || fail "metrics.jsonl has $n steps after the resumed run, expected $((steps + 2))"
wait_for 20 "array task ${pool}_0 to be cancelled by the chained job" finished "${pool}_0"
[ "$(job_state "${pool}_0")" = CANCELLED ] || fail "array task ${pool}_0 is $(job_state "${pool}_0"), expected CANCELLED"
say "resumed learner COMPLETED at step $n; the chained job cancelled the pool"
for t in 0 1; do
  f="$run/logs/rollout-${pool}_$t.out"
  grep -q '"stop_reason": "signal"' "$f" || fail "$f: the worker did not stop cleanly on scancel's SIGTERM"
done
g=$(groups_sent "$run"/logs/rollout-*.out)
[ "$g" -ge $((steps * 4)) ] || fail "the workers sent $g groups in all, expected >= $((steps * 4))"
say "both workers stopped cleanly on scancel; $g groups sent"

# ---- 2. heterogeneous job -------------------------------------------------------------------------
# As written it asks for 1 + 2 nodes of 64 CPUs: only validated (the machine could not run it).
out=$(RUN_DIR="$tmp/run2" CONFIG=configs/demo_cpu.yaml sbatch --test-only launch/slurm/hetjob.sbatch 2>&1) \
  || fail "sbatch --test-only rejected hetjob.sbatch: $out"
echo "$out" | grep -q "to start" || fail "unexpected sbatch --test-only answer: $out"
say "hetjob.sbatch as written accepted by sbatch --test-only"
# A small instance runs for real: 2 learner ranks on one node, 2 workers on another.
run="$tmp/run2"
mkdir -p "$run/logs"
het=$(RUN_DIR="$run" CONFIG=configs/demo_cpu.yaml sbatch --parsable --output="$run/logs/het-%j.out" \
  --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 : --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
  launch/slurm/hetjob.sbatch "${overrides[@]}")
het="${het%%+*}"
say "submitted heterogeneous job $het"
wait_for 70 "heterogeneous job $het to end" finished "$het"
[ "$(job_state "$het")" = COMPLETED ] || fail "heterogeneous job $het ended $(job_state "$het") (exit $(job_exit "$het"))"
n=$(metric_steps "$run")
[ "$n" -eq $steps ] || fail "heterogeneous job: metrics.jsonl has $n steps, expected $steps"
nodes=$(scontrol show job "$het" | sed -n 's/^ *NodeList=//p' | sort -u | tr '\n' ' ')
[ "$(echo "$nodes" | wc -w)" -eq 2 ] || fail "heterogeneous job: components on nodes '$nodes', expected two nodes"
f="$run/logs/het-$het.out"
[ "$(grep -c '"stop_reason": "signal"' "$f")" -eq 2 ] || fail "$f: the 2 workers did not both stop cleanly after training"
g=$(groups_sent "$f")
[ "$g" -ge $((steps * 4)) ] || fail "heterogeneous job: the workers sent $g groups, expected >= $((steps * 4))"
say "heterogeneous job COMPLETED: $n steps, components on nodes $nodes, workers sent $g groups and stopped cleanly"
say "PASS"
