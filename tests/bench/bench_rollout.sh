#!/usr/bin/env bash
# Rollout throughput: groups/s and sampled tokens/s for 1 and 2 workers on this machine, and each
# worker's time split (generation / scoring / messaging), against the real coordinator
# (tests/coord_harness). Not a ctest test.
#   tests/bench/bench_rollout.sh [BUILD_DIR] [PROMPTS]
# Env: SHAPES="demo wide" (default both), G (8), CREDITS (2), THREADS (1 per worker), EXTRA (more rollout args).
#   demo: configs/demo_cpu.yaml's model (hidden 64, I 192, 2 layers, 4 heads / 2 KV, vocab 128), 16 new
#         tokens, 300 prompts unless PROMPTS is given
#   wide: hidden 256, I 768, 4 layers, 8 heads / 4 KV, 128 new tokens, 64 prompts unless PROMPTS is given
#         (a wide group takes ~0.5 s: 64 prompts keep each run under a minute)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"; case "$build" in /*) ;; *) build="$root/$build" ;; esac
prompts_arg="${2:-}"
G="${G:-8}" credits="${CREDITS:-2}" threads="${THREADS:-1}" shapes="${SHAPES:-demo wide}"
harness="$build/tests/coord_harness" rollout="$build/bin/rollout"
[ -x "$harness" ] && [ -x "$rollout" ] || { echo "build first: launch/build.sh $build" >&2; exit 1; }
tmp="$(mktemp -d /tmp/bench-rollout-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); G=$G credits=$credits threads/worker=$threads"
printf "%-5s %-8s %7s %9s %10s %7s %7s %7s %7s\n" shape workers prompts groups/s tokens/s gen% score% msg% other%
for shape in $shapes; do
  case "$shape" in
    demo) margs=(--hidden 64 --intermediate 192 --layers 2 --heads 4 --kv-heads 2); maxt=16 prompts=300 ;;
    wide) margs=(--hidden 256 --intermediate 768 --layers 4 --heads 8 --kv-heads 4); maxt=128 prompts=64 ;;
    *) echo "unknown shape $shape" >&2; exit 2 ;;
  esac
  prompts="${prompts_arg:-$prompts}"
  "$harness" --make-model "$tmp/$shape.h5" "${margs[@]}" --init-std 0.3 > /dev/null
  for W in 1 2; do
    d="$tmp/$shape-$W"; mkdir -p "$d"
    "$harness" --run-dir "$d" --model "$tmp/$shape.h5" --prompts "$prompts" --group "$G" --max-tokens "$maxt" \
      --weights path --timeout 600 > "$d/harness.out" 2> "$d/harness.err" &
    hp=$!
    while [ ! -s "$d/rendezvous.json" ]; do
      kill -0 "$hp" 2> /dev/null || { echo "ERROR: the coordinator harness exited before it was ready:" >&2; tail -5 "$d/harness.err" >&2; exit 1; }
      sleep 0.05
    done
    pids=()
    for i in $(seq 1 "$W"); do
      OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 "$rollout" --run-dir "$d" --id "b$i" --credits "$credits" \
        ${EXTRA:-} --status-interval 0 --stats "$d/stats-$i.json" 2> "$d/worker-$i.log" &
      pids+=($!)
    done
    hrc=0; wait "$hp" || hrc=$?
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" || true; done
    if [ "$hrc" -ne 0 ]; then
      echo "ERROR: the coordinator harness failed (exit $hrc); its last lines, then the first worker's:" >&2
      tail -5 "$d/harness.err" >&2; tail -5 "$d/worker-1.log" >&2
      exit 1
    fi
    /usr/bin/python3 - "$d" "$W" "$shape" "$prompts" <<'PY'
import json, sys, glob
d, W, shape, prompts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
final = [json.loads(l[6:]) for l in open(d + "/harness.out") if l.startswith("FINAL ")][0]
span = final["first_to_last_s"]
n = final["taken"]
gps = (n - 1) / span if span > 0 else float("nan")
tps = final["tokens"] * (n - 1) / n / span if span > 0 else float("nan")
g = s = m = ww = act = 0.0
for f in glob.glob(d + "/stats-*.json"):
    st = json.load(open(f))
    a = st["active_s"]
    act += a
    g += st["share_gen"] * a; s += st["share_score"] * a; m += st["share_msg"] * a; ww += st["share_weights_wait"] * a
other = max(act - g - s - m - ww, 0.0)
print("%-5s %-8d %7d %9.2f %10.0f %6.1f%% %6.2f%% %6.1f%% %6.1f%%" % (shape, W, prompts, gps, tps, 100 * g / act, 100 * s / act, 100 * m / act, 100 * (other + ww) / act))
PY
  done
done
