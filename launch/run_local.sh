#!/usr/bin/env bash
# Runs a whole training job on this machine: the learner on N MPI ranks plus M rollout workers.
# Everything it started is stopped on exit or Ctrl-C (the learner gets SIGTERM and checkpoints).
#   launch/run_local.sh --config FILE --run-dir DIR [--np N] [--workers M] [--resume] [key=value ...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
config="" dir="" np=2 workers=2 threads=1 resume=() overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --run-dir) dir="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --resume) resume=(--resume); shift ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "run_local.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && [ -n "$dir" ] || { echo "run_local.sh: --config FILE and --run-dir DIR are required" >&2; exit 2; }
rlvr_ensure_built
mkdir -p "$dir/logs"
rm -f "$dir/rendezvous.json"
learner_pid="" tee_pid="" interrupted=0
# The learner's verdict (RUN_DIR/exit_status.json) when it left one, else $1: mpirun exits 1 after
# forwarding a signal even when every rank stopped in order and wrote its checkpoint.
learner_code() {
  local code=""
  [ -f "$dir/exit_status.json" ] && code=$(sed -n 's/.*"exit_code": *\([0-9][0-9]*\).*/\1/p' "$dir/exit_status.json")
  echo "${code:-$1}"
}
cleanup() {
  local rc=$? code
  trap - EXIT INT TERM
  "$RLVR_ROOT/launch/rollout_pool.sh" --run-dir "$dir" --stop || true
  if [ -n "$learner_pid" ] && kill -0 "$learner_pid" 2>/dev/null; then
    # SIGTERM straight to the ranks: mpirun would forward it only after odls_base_sigkill_timeout and
    # SIGKILL them soon after, too early for a checkpoint. The ranks checkpoint and exit 0.
    pkill -TERM -P "$learner_pid" -x learner 2>/dev/null || kill -TERM "$learner_pid" 2>/dev/null || true
    wait "$learner_pid" 2>/dev/null || true
  fi
  # the log pipe outlives the learner (it ignores SIGINT / SIGTERM): wait until its last lines are written
  exec 3>&-
  [ -n "$tee_pid" ] && wait "$tee_pid" 2>/dev/null
  if [ $interrupted -eq 1 ]; then
    code=$(learner_code 1)
    # stopped in order on Ctrl-C: 130 as usual; a failed stop checkpoint keeps its own code
    if [ "$code" = 0 ]; then exit 130; else exit "$code"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted: stopping workers and checkpointing the learner" >&2; interrupted=1; exit 130' INT TERM
rm -f "$dir/exit_status.json"
# The log pipe ignores SIGINT / SIGTERM: Ctrl-C reaches the whole process group, and a tee that died
# first would lose the learner's last lines (its checkpoint, its counters, "stopped by signal").
exec 3> >(trap '' INT TERM; exec tee -a "$dir/logs/learner.log")
tee_pid=$!
# shellcheck disable=SC2046
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 \
  mpirun -np "$np" $(rlvr_mpirun_flags "$np") "$RLVR_BIN/learner" --config "$config" --run-dir "$dir" \
  "${resume[@]}" "${overrides[@]}" >&3 2>&3 &
# $! is mpirun itself, so the cleanup's SIGTERM reaches the learner and it checkpoints.
learner_pid=$!
if ! rlvr_wait_rendezvous "$dir" 300 "$learner_pid"; then
  rc=0
  wait "$learner_pid" || rc=$?
  learner_pid=""
  code=$(learner_code "$rc")
  [ "$code" = 0 ] && code=1
  exit "$code"
fi
# The workers read the same file and overrides: rollout.device / precision / gpu_memory_fraction /
# max_batch say how they generate (e.g. rollout.device=cuda next to trainer.device=cuda).
"$RLVR_ROOT/launch/rollout_pool.sh" --run-dir "$dir" --workers "$workers" --threads "$threads" \
  -- --config "$config" "${overrides[@]}"
rc=0
wait "$learner_pid" || rc=$?
learner_pid=""
exit "$(learner_code "$rc")"
