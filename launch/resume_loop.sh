#!/usr/bin/env bash
# Restarts a crashed learner from the newest complete checkpoint, up to --max-restarts times.
# Any launcher command works; --resume is appended after the first attempt.
#   launch/resume_loop.sh [--max-restarts K] -- launch/run_local.sh --config F --run-dir D ...
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
attempt=0
"$@"; rc=$?
while [ $rc -ne 0 ] && [ $rc -ne 130 ] && [ $attempt -lt "$max" ]; do
  attempt=$((attempt + 1))
  echo "resume_loop: exit code $rc; restart $attempt/$max from the newest checkpoint" >&2
  sleep 2
  "$@" --resume; rc=$?
done
exit $rc
