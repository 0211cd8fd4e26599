#!/usr/bin/env bash
# The Slurm batch scripts (launch/slurm/*.sbatch) against a real Slurm: a private 3-node cluster on
# this machine (launch/slurm/local_cluster.sh; its own munged, slurm.conf, ports and directories).
#  1. learner.sbatch (2 ranks, srun --mpi=pmix) and rollout_pool.sbatch (a 2-task array, submitted
#     first) train a few steps of configs/demo_cpu.yaml; metrics.jsonl has every step; the workers'
#     logs show groups sent; cancelling one array task mid-run does not stop training.
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

[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs jobs as root here)"
for p in learner rollout; do [ -x "$bin/$p" ] || skip "$bin/$p is not built"; done

tmp=$(mktemp -d /tmp/rlvr-slurm-test.XXXXXX)   # short path: munged's socket lives under it
export RLVR_SLURM_DIR="$tmp/cluster" RLVR_SLURM_NODES=3 RLVR_SLURM_CPUS=64
unset RLVR_SLURM_PORT SLURM_CONF SLURM_JOB_ID SLURM_JOBID
export RLVR_BIN="$bin" RLVR_ROOT="$root"
# The jobs inherit this environment (sbatch --export=ALL): keep the machine's cores for two ranks and
# two workers, and let Open MPI run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

keep_logs=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
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

# Tiny run: few short prompts, a freshly initialised model (no SFT checkpoint in a fresh clone).
steps=3
overrides=(trainer.total_training_steps=$steps trainer.save_freq=0 trainer.test_freq=0 model.path=
           data.train_batch_size=4 actor.ppo_mini_batch_size=4 data.max_response_length=8
           rollout.max_new_tokens=8 rollout.n=2)

# ---- 1. learner job + rollout array ---------------------------------------------------------------
run="$tmp/run1"
mkdir -p "$run/logs"
# The pool first: its workers wait for the rendezvous file the learner writes.
pool=$(RUN_DIR="$run" sbatch --parsable --array=0-1 --cpus-per-task=1 --output="$run/logs/rollout-%A_%a.out" \
  launch/slurm/rollout_pool.sbatch --status-interval 1)
learner=$(RUN_DIR="$run" CONFIG=configs/demo_cpu.yaml sbatch --parsable --ntasks-per-node=2 --cpus-per-task=1 \
  --output="$run/logs/learner-%j.out" launch/slurm/learner.sbatch "${overrides[@]}")
say "submitted rollout array $pool and learner $learner"
wait_for 30 "the learner's rendezvous file" test -s "$run/rendezvous.json"
wait_for 40 "the first training step" has_steps "$run" 1
# One worker leaves mid-run (as when the pool is shrunk): training must go on with the other.
scancel "${pool}_1"
say "cancelled array task ${pool}_1 after step 1"
wait_for 60 "job $learner to end" finished "$learner"
[ "$(job_state "$learner")" = COMPLETED ] || fail "learner job $learner ended $(job_state "$learner") (exit $(job_exit "$learner"))"
[ "$(job_state "${pool}_1")" = CANCELLED ] || fail "array task ${pool}_1 is $(job_state "${pool}_1"), expected CANCELLED"
n=$(metric_steps "$run")
[ "$n" -ge $steps ] || fail "metrics.jsonl has $n steps, expected $steps"
say "learner COMPLETED with $n steps in metrics.jsonl"
