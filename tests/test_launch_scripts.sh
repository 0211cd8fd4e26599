#!/usr/bin/env bash
# The launch scripts: syntax, argument errors, and the resume loop's restart logic (with a stand-in
# command, so no training runs here; the real learner under run_local.sh is exercised by
# test_learner_e2e.py and under Slurm by test_slurm.sh).
set -uo pipefail
root="${RLVR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
pass=0 fail=0
ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }

for f in "$root"/launch/*.sh "$root"/launch/slurm/*.sbatch; do
  ok "bash -n $f" "bash -n '$f'"
done

out=$("$root/launch/run_local.sh" --bogus 2>&1); rc=$?
ok "run_local rejects unknown args (rc $rc)" "[ $rc -eq 2 ] && grep -q \"unknown argument '--bogus'\" <<<\"\$out\""
out=$("$root/launch/run_local.sh" --config x.yaml 2>&1); rc=$?
ok "run_local needs --run-dir (rc $rc)" "[ $rc -eq 2 ] && grep -q 'run-dir' <<<\"\$out\""
# A learner that stops at its config stops the launch at once (not after the 300 s rendezvous wait).
if [ -x "${RLVR_BIN:-$root/build/bin}/learner" ]; then
  rdir=$(mktemp -d)
  t0=$(date +%s)
  out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 "$root/launch/run_local.sh" \
        --config "$root/configs/demo_cpu.yaml" --run-dir "$rdir/run" --np 1 --workers 1 trainer.no_such_key=1 2>&1); rc=$?
  dt=$(( $(date +%s) - t0 ))
  ok "run_local stops when the learner rejects its config (rc $rc, ${dt}s)" \
     "[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $dt -lt 60 ] && grep -q \"unknown key 'trainer.no_such_key'\" <<<\"\$out\" && grep -q 'exited before it published' <<<\"\$out\""
  rm -rf "$rdir"
fi
# A worker reads the run's config and overrides (run_local.sh passes them), flags winning.
if [ -x "${RLVR_BIN:-$root/build/bin}/rollout" ]; then
  R="${RLVR_BIN:-$root/build/bin}/rollout"
  out=$("$R" --config "$root/configs/demo_cpu.yaml" rollout.precision=bf16 --run-dir /nonexistent 2>&1); rc=$?
  ok "rollout --config: rollout.precision=bf16 on the cpu device is refused (rc $rc)" "[ $rc -eq 2 ] && grep -q 'bf16 needs device cuda' <<<\"\$out\""
  out=$("$R" --config "$root/configs/demo_cpu.yaml" rollout.precision=bf16 --precision fp32 --run-dir /nonexistent --rendezvous-timeout 0.2 2>&1); rc=$?
  ok "rollout: a flag overrides the config (rc $rc)" "! grep -q 'bf16 needs device cuda' <<<\"\$out\" && grep -q 'rendezvous' <<<\"\$out\""
  out=$("$R" --config "$root/configs/demo_cpu.yaml" rollout.devicee=cuda 2>&1); rc=$?
  ok "rollout: a mistyped key names the right one (rc $rc)" "[ $rc -eq 2 ] && grep -q \"did you mean 'rollout.device'\" <<<\"\$out\""
  out=$("$R" --config /nonexistent.yaml 2>&1); rc=$?
  ok "rollout: a missing --config file is named (rc $rc)" "[ $rc -eq 2 ] && grep -q 'nonexistent.yaml' <<<\"\$out\""
fi
out=$("$root/launch/demo_smollm2.sh" --bogus 2>&1); rc=$?
ok "demo_smollm2 rejects unknown args (rc $rc)" "[ $rc -eq 2 ] && grep -q \"unknown argument '--bogus'\" <<<\"\$out\""
out=$("$root/launch/rollout_pool.sh" --workers 2 2>&1); rc=$?
ok "rollout_pool needs --run-dir (rc $rc)" "[ $rc -eq 2 ] && grep -q 'run-dir' <<<\"\$out\""

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# A stand-in that fails twice, then succeeds, and records its arguments.
cat > "$tmp/flaky.sh" <<'EOS'
#!/usr/bin/env bash
n=$(cat "$STATE/count" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$STATE/count"
echo "$*" >> "$STATE/args"
[ $n -ge 3 ]
EOS
chmod +x "$tmp/flaky.sh"
STATE="$tmp" "$root/launch/resume_loop.sh" --max-restarts 5 -- "$tmp/flaky.sh" --config c.yaml 2>"$tmp/err"; rc=$?
ok "resume_loop ends with the command's success (rc $rc)" "[ $rc -eq 0 ]"
ok "three attempts" "[ \"\$(cat $tmp/count)\" = 3 ]"
ok "first attempt without --resume" "[ \"\$(sed -n 1p $tmp/args)\" = '--config c.yaml' ]"
ok "restarts add --resume" "[ \"\$(sed -n 2p $tmp/args)\" = '--config c.yaml --resume' ] && [ \"\$(sed -n 3p $tmp/args)\" = '--config c.yaml --resume' ]"
ok "restarts are announced" "grep -q 'restart 2/5' $tmp/err"

# The SmolLM2 demo's task files: the same for the same seed, the held-out split disjoint from training,
# every answer right.
python3 "$root/launch/smollm2_task.py" "$tmp/t1" --train 300 --heldout 50 > /dev/null &&
  python3 "$root/launch/smollm2_task.py" "$tmp/t2" --train 300 --heldout 50 > /dev/null
ok "smollm2_task is deterministic" "cmp -s $tmp/t1/train.jsonl $tmp/t2/train.jsonl && cmp -s $tmp/t1/heldout.jsonl $tmp/t2/heldout.jsonl"
ok "smollm2_task splits: sizes, disjoint, answers" "python3 - '$tmp/t1' <<'PY'
import json, re, sys
d = sys.argv[1]
tr = [json.loads(l) for l in open(d + '/train.jsonl')]
ho = [json.loads(l) for l in open(d + '/heldout.jsonl')]
assert len(tr) == 300 and len(ho) == 50, (len(tr), len(ho))
assert not {r['problem'] for r in tr} & {r['problem'] for r in ho}
for r in tr + ho:
    a, b = map(int, re.findall(r'\d+', r['problem']))
    add = '+' in r['problem'] or 'plus' in r['problem'] or 'more' in r['problem']
    assert int(r['answer']) == (a + b if add else a - b) >= 0, r
PY"

rm -f "$tmp/count" "$tmp/args"
printf '#!/usr/bin/env bash\necho x >> "$STATE/args"; exit 4\n' > "$tmp/bad.sh"; chmod +x "$tmp/bad.sh"
STATE="$tmp" "$root/launch/resume_loop.sh" --max-restarts 2 -- "$tmp/bad.sh" 2>/dev/null; rc=$?
ok "gives up after --max-restarts with the last exit code (rc $rc)" "[ $rc -eq 4 ] && [ \$(wc -l < $tmp/args) -eq 3 ]"
# the learner's verdict in RUN_DIR/exit_status.json outranks the launcher's status (mpirun exits 1
# after forwarding SIGTERM even when every rank stopped in order); exit codes 2 and 3 are not restarted
for v in "0 stopped_by_signal 1" "2 config_error 2" "3 checkpoint_failed 1"; do
  set -- $v
  rm -f "$tmp/args"; mkdir -p "$tmp/run"
  printf '#!/usr/bin/env bash\necho x >> "$STATE/args"\necho "{\\"exit_code\\":%s,\\"state\\":\\"%s\\",\\"step\\":13}" > "$STATE/run/exit_status.json"\nexit %s\n' "$1" "$2" "$3" > "$tmp/verdict.sh"
  chmod +x "$tmp/verdict.sh"
  STATE="$tmp" "$root/launch/resume_loop.sh" --max-restarts 3 -- "$tmp/verdict.sh" --run-dir "$tmp/run" 2>"$tmp/err"; rc=$?
  ok "learner verdict $1 ($2, launcher exit $3): one attempt, exit $1 (rc $rc, $(wc -l < "$tmp/args") attempts)" \
     "[ $rc -eq $1 ] && [ \$(wc -l < $tmp/args) -eq 1 ]"
done
# a stale verdict of an earlier run does not stop a crashed attempt from being restarted
rm -f "$tmp/args"; echo '{"exit_code":0,"state":"done"}' > "$tmp/run/exit_status.json"
printf '#!/usr/bin/env bash\necho x >> "$STATE/args"; exit 137\n' > "$tmp/killed.sh"; chmod +x "$tmp/killed.sh"
STATE="$tmp" "$root/launch/resume_loop.sh" --max-restarts 1 -- "$tmp/killed.sh" trainer.run_dir="$tmp/run" 2>/dev/null; rc=$?
ok "a SIGKILLed attempt is restarted despite an old exit_status.json (rc $rc)" "[ $rc -eq 137 ] && [ \$(wc -l < $tmp/args) -eq 2 ]"
rm -f "$tmp/args"
printf '#!/usr/bin/env bash\necho x >> "$STATE/args"; exit 130\n' > "$tmp/int.sh"; chmod +x "$tmp/int.sh"
STATE="$tmp" "$root/launch/resume_loop.sh" -- "$tmp/int.sh" 2>/dev/null; rc=$?
ok "Ctrl-C (exit 130) is not restarted (rc $rc)" "[ $rc -eq 130 ] && [ \$(wc -l < $tmp/args) -eq 1 ]"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
