#!/usr/bin/env bash
# Starts N rollout workers against the learner of a run directory; run it again to add more while
# training runs. Workers find the coordinator through DIR/rendezvous.json.
#   launch/rollout_pool.sh --run-dir DIR [--workers N] [--threads T] [-- extra rollout args]
#   launch/rollout_pool.sh --run-dir DIR --stop        (SIGTERM every worker started from DIR)
set -euo pipefail
source "$(dirname "$0")/common.sh"
dir="" n=1 threads=1 stop=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) dir="$2"; shift 2 ;;
    --workers) n="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --stop) stop=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "rollout_pool.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$dir" ] || { echo "rollout_pool.sh: --run-dir DIR is required" >&2; exit 2; }
mkdir -p "$dir/workers" "$dir/logs"
if [ $stop -eq 1 ]; then
  for f in "$dir"/workers/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  exit 0
fi
rlvr_ensure_built
rlvr_wait_rendezvous "$dir" 300
for i in $(seq 1 "$n"); do
  id="$(hostname -s)-$$-$i"
  OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 \
    nohup "$RLVR_BIN/rollout" --run-dir "$dir" --id "$id" "${extra[@]}" >> "$dir/logs/rollout-$id.log" 2>&1 &
  echo $! > "$dir/workers/$id.pid"
  echo "started rollout worker $id (pid $!, log $dir/logs/rollout-$id.log)"
done
