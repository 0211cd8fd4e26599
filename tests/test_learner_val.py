#!/usr/bin/env python3
"""Validation inside the learner (trainer.test_freq, trainer.val_before_train), with real processes:
  - val_metrics.jsonl gets the initial policy (step 0) and every test_freq-th step plus the last, each
    over data.arith.heldout_size problems x eval.n samples; the same figures appear as val_* keys in
    that step's metrics.jsonl line and in no other line;
  - the last validation is reproduced exactly by `rlvr export` of the final checkpoint followed by
    `rlvr eval --config ... --seed <trainer.seed>` (same problems, same seeds, same engine);
  - trainer.test_freq > 0 with an empty data.val_files is refused at start, naming both keys.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import BASE, BIN, LEARNER, ROOT, check, done, env, finish, log_text, metrics, start_learner, start_worker, stop

# the committed SFT base policy, so the figures are not all zero and the reproduction check has teeth
VAL = ["model.path=configs/base/arith_base.h5", "trainer.total_training_steps=5", "trainer.test_freq=2", "trainer.val_before_train=true",
       "data.arith.heldout_size=24", "eval.n=3", "eval.temperature=1.0", "eval.top_p=1.0"]


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def main(tmp):
    run = os.path.join(tmp, "val")
    learner = start_learner(run, 1, VAL)
    ws = [start_worker(run, "v%d" % i) for i in range(2)]
    rc = finish(learner, 120)
    stop(ws)
    check(rc == 0, "learner with validation exits 0 (got %s)" % rc)
    vals = read_jsonl(os.path.join(run, "val_metrics.jsonl"))
    check([v["step"] for v in vals] == [0, 2, 4, 5], "validated at steps 0, 2, 4 and the last (5): %s" % [v["step"] for v in vals])
    for v in vals:
        check(v["val_problems"] == 24 and v["val_n"] == 3, "step %d: 24 problems x 3 samples (%s)" % (v["step"], v))
        for k in ("val_acc", "val_maj", "val_pass"):
            check(0.0 <= v[k] <= 1.0, "step %d: %s in [0, 1]" % (v["step"], k))
        check(v["val_acc"] <= v["val_pass"] + 1e-12, "step %d: Acc@n <= Pass@n" % v["step"])
        check(v["val_response_length_mean"] > 0, "step %d: responses were sampled" % v["step"])
    m = {r["step"]: r for r in metrics(run)}
    check(sorted(m) == [1, 2, 3, 4, 5], "5 metrics lines")
    by_step = {v["step"]: v for v in vals}
    for s, r in m.items():
        if s in by_step:
            for k in ("val_acc", "val_maj", "val_pass", "val_problems"):
                check(k in r and abs(r[k] - by_step[s][k]) < 1e-9, "step %d: metrics.jsonl %s equals val_metrics.jsonl" % (s, k))
        else:
            check("val_acc" not in r, "step %d: no validation keys" % s)
    check("val   step 4: acc@3" in log_text(run), "a validation status line is printed")

    # the last validation, reproduced from the final checkpoint with rlvr export + rlvr eval
    ckpt = os.path.join(run, "checkpoints", "ckpt_000005.h5")
    hf = os.path.join(tmp, "hf")
    out = subprocess.run([os.path.join(BIN, "rlvr"), "export", ckpt, hf], capture_output=True, text=True, env=env())
    check(out.returncode == 0, "rlvr export of the final checkpoint: %s" % out.stderr[-500:])
    ev = os.path.join(tmp, "eval")
    cmd = [os.path.join(BIN, "rlvr"), "eval", "--model", hf, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml")] + BASE + VAL + \
          ["--data", "arith:heldout:24", "--seed", "1", "--quiet", "--out", ev]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=ROOT)
    check(out.returncode == 0, "rlvr eval of the exported policy: %s" % out.stderr[-800:])
    if out.returncode == 0 and 5 in by_step:
        with open(os.path.join(ev, "summary.json")) as f:
            b = json.load(f)["benchmarks"]["arith_heldout"]
        v = by_step[5]
        check(b["problems"] == 24 and b["samples"] == 3, "rlvr eval: 24 problems x 3 samples (%s)" % b)
        check(v["val_acc"] > 0, "the base policy solves some held-out problems (val_acc %.3f)" % v["val_acc"])
        rows = [json.loads(l) for l in open(os.path.join(ev, "arith_heldout.jsonl")) if l.strip()]
        mean_len = sum(sum(r["n_tokens"]) for r in rows) / (24.0 * 3)
        check(abs(mean_len - v["val_response_length_mean"]) < 1e-3, "rlvr eval mean length %.3f equals the learner's %.3f" %
              (mean_len, v["val_response_length_mean"]))
        for k in ("acc", "maj", "pass"):
            check(abs(b[k] - v["val_" + k]) < 1e-6, "rlvr eval %s %.6f equals the learner's val_%s %.6f" % (k, b[k], k, v["val_" + k]))

    # test_freq without a validation set: refused at start, naming the keys
    bad = subprocess.run(["mpirun", "-np", "1", "--allow-run-as-root", "--oversubscribe", LEARNER, "--config",
                          os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir", os.path.join(tmp, "bad")] + BASE +
                         ["trainer.test_freq=2", "data.val_files="], capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    text = bad.stdout + bad.stderr
    check(bad.returncode != 0 and "trainer.test_freq" in text and "data.val_files" in text,
          "test_freq with empty data.val_files refused (rc %d): %s" % (bad.returncode, text[-400:]))
    return done(tmp)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        sys.exit(main(d))
