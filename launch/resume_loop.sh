#!/usr/bin/env bash
# Restarts a crashed learner from the newest complete checkpoint, up to --max-restarts times.
# Any launcher command works; --resume is appended after the first attempt.
#   launch/resume_loop.sh [--max-restarts K] -- launch/run_local.sh --config F --run-dir D ...
# What ended the run decides (docs/operations.md, "Exit codes"): the learner's own verdict in
# D/exit_status.json (D from the command's --run-dir or trainer.run_dir=) outranks the launcher's exit
# status, because mpirun exits 1 after forwarding SIGTERM even when every rank stopped in order.
#   0 state on disk (done, or stopped by a signal)  -> stop
#   2 bad arguments or config                        -> stop (restarting cannot help)
#   3 the last checkpoint failed (e.g. disk full)    -> stop (free space, then resume by hand)
#   130 interrupted (Ctrl-C on run_local.sh)         -> stop
#   anything else (a crash, SIGKILL, exit 1)         -> restart with --resume
# SIGINT / SIGTERM to this script also ends the loop after the current attempt.
set -uo pipefail
max=10
while [ $# -gt 0 ]; do
  case "$1" in
    --max-restarts) max="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "resume_loop.sh: give the launch command after --" >&2; exit 2; }
run_dir="" prev=""
for a in "$@"; do
  case "$a" in
    --run-dir=*) run_dir="${a#--run-dir=}" ;;
    trainer.run_dir=*) run_dir="${a#trainer.run_dir=}" ;;
  esac
  [ "$prev" = "--run-dir" ] && run_dir="$a"
  prev="$a"
done
[ -n "$run_dir" ] || echo "resume_loop: no --run-dir in the command: going by the launcher's exit status alone" >&2
status_file="${run_dir:+$run_dir/exit_status.json}"
stop_loop=0
trap 'stop_loop=1' INT TERM

# Runs one attempt; sets rc to the learner's verdict when it left one, else to the launcher's status.
attempt_once() {
  [ -n "$status_file" ] && rm -f "$status_file"
  "$@"; rc=$?
  if [ -n "$status_file" ] && [ -f "$status_file" ]; then
    local code state
    code=$(sed -n 's/.*"exit_code": *\([0-9][0-9]*\).*/\1/p' "$status_file")
    state=$(sed -n 's/.*"state": *"\([a-z_]*\)".*/\1/p' "$status_file")
    if [ -n "$code" ]; then
      [ "$code" != "$rc" ] && echo "resume_loop: launcher exit status $rc; the learner says '$state', exit code $code" >&2
      rc=$code
    fi
  fi
}

attempt=0
attempt_once "$@"
while :; do
  case $rc in
    0) exit 0 ;;
    2) echo "resume_loop: bad arguments or config (exit code 2); not restarting" >&2; exit 2 ;;
    3) echo "resume_loop: the run's last checkpoint failed (exit code 3; disk full?); not restarting: free space, then resume" >&2; exit 3 ;;
    130) exit 130 ;;
  esac
  if [ $stop_loop -eq 1 ]; then echo "resume_loop: interrupted; not restarting (exit code $rc)" >&2; exit "$rc"; fi
  if [ $attempt -ge "$max" ]; then echo "resume_loop: exit code $rc after $max restarts; giving up" >&2; exit "$rc"; fi
  attempt=$((attempt + 1))
  echo "resume_loop: exit code $rc; restart $attempt/$max from the newest checkpoint" >&2
  sleep 2
  attempt_once "$@" --resume
done
