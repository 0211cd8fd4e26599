#!/usr/bin/env bash
# The CPU demo's spread: runs launch/demo.sh N times (optionally next to K busy processes that each
# keep one core busy) and summarises the held-out gains and wall times.
#   launch/demo_spread.sh [--runs 5] [--busy K] [--run-dir DIR] [demo.sh key=value ...]
# Each run goes to DIR/run_I (default DIR: runs/demo_spread, runs/demo_spread_busyK with --busy K);
# runs already finished there (demo_summary.json present) are kept, so a second call continues.
# DIR/spread.json: per run the gain, accuracies, wall time and the 1-minute load average before and
# after; min / median / max of the gain and the wall time. The busy processes are `yes > /dev/null`,
# started before the first run and stopped at the end.
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs=5 busy=0 dir="" overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --busy) busy="$2"; shift 2 ;;
    --run-dir) dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "demo_spread.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ -z "$dir" ]; then
  dir="$RLVR_ROOT/runs/demo_spread"
  [ "$busy" -gt 0 ] && dir="${dir}_busy$busy"
fi
mkdir -p "$dir"
busy_pids=()
stop_busy() { for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_busy EXIT
for _ in $(seq 1 "$busy"); do
  yes > /dev/null &
  busy_pids+=($!)
done
for i in $(seq 1 "$runs"); do
  run="$dir/run_$i"
  [ -s "$run/demo_summary.json" ] && continue
  rm -rf "$run"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  echo "== demo run $i/$runs (busy processes: $busy) -> $run"
  "$RLVR_ROOT/launch/demo.sh" --run-dir "$run" "${overrides[@]}" > "$dir/run_$i.log" 2>&1 ||
    { tail -20 "$dir/run_$i.log" >&2; echo "demo_spread.sh: run $i failed (log: $dir/run_$i.log)" >&2; exit 1; }
  l1=$(cut -d' ' -f1 /proc/loadavg)
  printf '{"load1_before": %s, "load1_after": %s, "busy": %d, "at": "%s"}\n' "$l0" "$l1" "$busy" "$(date -u +%FT%TZ)" > "$run/load.json"
  tail -2 "$dir/run_$i.log" | head -1
done
/usr/bin/python3 - "$dir" "$runs" <<'PY'
import json, os, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    s = json.load(open(f"{d}/run_{i}/demo_summary.json"))
    ld = json.load(open(f"{d}/run_{i}/load.json"))
    rows.append({"run": i, **{k: s[k] for k in ("acc_before", "acc_after", "gain_points", "run_seconds")}, **ld})
g = [r["gain_points"] for r in rows]
t = [r["run_seconds"] for r in rows]
out = {"runs": rows, "gain_points": {"min": min(g), "median": statistics.median(g), "max": max(g)},
       "run_seconds": {"min": min(t), "median": statistics.median(t), "max": max(t)}}
json.dump(out, open(f"{d}/spread.json", "w"), indent=2)
print("gain %+.1f .. %+.1f points (median %+.1f), wall %.0f .. %.0f s over %d runs -> %s/spread.json"
      % (min(g), max(g), statistics.median(g), min(t), max(t), len(rows), d))
PY
