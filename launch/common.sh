# Sourced by the launch scripts: paths and the mpirun flags this machine needs.
RLVR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RLVR_BUILD="${RLVR_BUILD:-$RLVR_ROOT/build}"
RLVR_BIN="${RLVR_BIN:-$RLVR_BUILD/bin}"

# mpirun refuses to run as root without these, and refuses more ranks than cores without
# --oversubscribe (Open MPI counts cores, and a laptop or CI box has few).
rlvr_mpirun_flags() {
  local np="$1" flags=()
  if [ "$(id -u)" -eq 0 ]; then flags+=(--allow-run-as-root); fi
  if [ "$np" -gt "$(nproc)" ] || [ "$np" -gt 1 ]; then flags+=(--oversubscribe); fi
  # Shared-memory + self transports: no network interfaces are probed on one machine.
  flags+=(--mca btl self,vader --mca pml ob1 --bind-to none)
  echo "${flags[@]}"
}

rlvr_ensure_built() {
  if [ ! -x "$RLVR_BIN/learner" ] || [ ! -x "$RLVR_BIN/rollout" ] || [ ! -x "$RLVR_BIN/rlvr" ]; then
    "$RLVR_ROOT/launch/setup.sh"
    "$RLVR_ROOT/launch/build.sh" "$RLVR_BUILD"
  fi
}

# Waits up to $2 seconds for the learner's rendezvous file in run dir $1.
rlvr_wait_rendezvous() {
  # pid (optional): the learner's launcher; when it exits first (a config error, a bad model path)
  # there is nothing to wait for, and its log already says why.
  local dir="$1" timeout="${2:-120}" pid="${3:-}" t=0
  while [ ! -s "$dir/rendezvous.json" ]; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "the learner exited before it published $dir/rendezvous.json (its error is above and in $dir/logs/learner.log)" >&2
      return 1
    fi
    sleep 0.2; t=$((t + 1))
    if [ $t -ge $((timeout * 5)) ]; then echo "no rendezvous file in $dir after ${timeout}s (is the learner running? see $dir/logs/learner.log)" >&2; return 1; fi
  done
}

# CPU threading environment for every rlvr process started by these scripts.
# - OpenBLAS 0.3.21 (Debian 12) does not recognise some recent Xeons by model and falls back to its
#   slowest SSE3 kernels (4-10x slower sgemm); name the kernel family from the CPU's flags unless the
#   user or the machine already chose one (some machines set it on purpose: we never override that).
# - Passive OpenMP waiting and a short OpenBLAS thread timeout stop idle threads of one process from
#   spinning on cores that the learner ranks and rollout workers share.
rlvr_cpu_env() {
  if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    local flags
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    case " $flags " in
      *" avx512f "*" avx512bw "*|*" avx512bw "*" avx512f "*) export OPENBLAS_CORETYPE=SkylakeX ;;
      *" avx2 "*) export OPENBLAS_CORETYPE=Haswell ;;
    esac
  fi
  export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
  export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
}
rlvr_cpu_env
