# shellcheck shell=bash
# Sourced by the benchmark scripts of tests/bench: paths, the CPU environment of the launch scripts,
# the machine header, the check that the PyTorch peers are installed, and running one program with
# its output kept (an error prints the output's tail and stops the benchmark: never a silent half).
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# RLVR_ROOT, and rlvr_cpu_env (run on sourcing): OPENBLAS_CORETYPE from the CPU flags unless already
# set, OMP_WAIT_POLICY=passive, OPENBLAS_THREAD_TIMEOUT=4, as for every process the launch scripts start.
# shellcheck source=launch/common.sh
source "$BENCH_ROOT/launch/common.sh"
BENCH_VENV="${RLVR_BENCH_VENV:-$BENCH_ROOT/.venv-bench}"
BENCH_PEERS_REQ="$BENCH_ROOT/tests/bench/requirements-peers.txt"
BENCH_SETUP_CMD="tests/bench/setup_peers.sh"

bench_die() { printf 'ERROR: %b\n' "$*" >&2; exit 1; }

# The build directory (argument or build/; relative paths are taken from the repository root) and
# its bench/ programs.
bench_build_dir() {
  local b="${1:-$BENCH_ROOT/build}"
  case "$b" in /*) ;; *) b="$BENCH_ROOT/$b" ;; esac
  echo "$b"
}
bench_need() {  # bench_need FILE...: every file exists, else say how to build it
  local f
  for f in "$@"; do
    [ -e "$f" ] || bench_die "$f is missing: build first with launch/build.sh build -DRLVR_CUDA=OFF (or pass your build directory)"
  done
}

# Sets BENCH_PY (the peers' interpreter) and BENCH_PEER_VERSIONS, or stops with what to run.
bench_find_peers() {
  BENCH_PY="$BENCH_VENV/bin/python"
  [ -x "$BENCH_PY" ] || bench_die "no PyTorch peer environment at $BENCH_VENV.\n  Run $BENCH_SETUP_CMD once (it installs the pinned torch and transformers of tests/bench/requirements-peers.txt there)."
  local out
  out="$("$BENCH_PY" "$BENCH_ROOT/tests/bench/peers_check.py" "$BENCH_PEERS_REQ" 2>&1)" ||
    bench_die "the PyTorch peer environment at $BENCH_VENV is not usable:\n$out\n  Run $BENCH_SETUP_CMD to repair it."
  BENCH_PEER_VERSIONS="$out"
}

# bench_threads LIST: every entry a positive integer, else an error naming the variable.
bench_threads() {
  local t
  for t in $1; do
    case "$t" in ''|*[!0-9]*|0*) bench_die "THREADS='$1': each entry must be a positive integer" ;; esac
  done
}

# One line naming the machine, the threads and the CPU settings the figures depend on.
bench_header() {  # bench_header WHAT THREADS
  local cpu
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)"
  echo "# $1"
  echo "# machine: ${cpu:-unknown CPU}, $(nproc) cores; threads used: $2; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto)}" \
       "OMP_WAIT_POLICY=$OMP_WAIT_POLICY; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(date -u +%FT%TZ), commit $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)${BENCH_PEER_VERSIONS:+; peers: $BENCH_PEER_VERSIONS}"
}

# bench_run LOG HINT CMD...: runs CMD with stdout and stderr into LOG; a failure stops the benchmark
# with the tail of LOG and HINT.
bench_run() {
  local log="$1" hint="$2" rc=0; shift 2
  "$@" > "$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "ERROR: this command failed (exit $rc):" >&2
    echo "  $*" >&2
    tail -n 15 "$log" | sed 's/^/  | /' >&2
    [ -n "$hint" ] && echo "  $hint" >&2
    exit 1
  fi
}

# bench_field LOG SED_EXPR WHAT: the value SED_EXPR (sed -n with p) prints from LOG, or an error.
bench_field() {
  local v
  v="$(sed -n "$2" "$1" | tail -n 1)"
  [ -n "$v" ] || { echo "ERROR: no $3 in the output of a benchmark program (its output format changed?):" >&2; tail -n 15 "$1" | sed 's/^/  | /' >&2; exit 1; }
  echo "$v"
}

# bench_ratio A B: A / B with two decimals.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
