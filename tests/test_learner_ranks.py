#!/usr/bin/env python3
"""Learner: one rank vs two ranks on the same batches give the same update (float tolerance); SFT mode
makes a policy that GRPO mode starts from; errors for a bad config key and unusable checkpoints;
a SIGTERM through mpirun checkpoints before the job is torn down."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import (LEARNER, ROOT, check, done, env, finish, log_text, metrics, mpirun_flags, start_learner,
                              start_worker, stop, wait_for)


def params(path):
    with h5py.File(path, "r") as f:
        out = {}
        f["model"].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out


def run_grpo(run, np_, extra=()):
    learner = start_learner(run, np_, ["trainer.total_training_steps=2", "trainer.save_freq=2",
                                       "actor.optim.warmup_steps=0", "actor.optim.lr=1e-3"] + list(extra))
    ws = [start_worker(run, "w%d" % i) for i in range(2)]
    rc = finish(learner, 60)
    stop(ws)
    return rc


def learner_cmd(np_, *args):
    return ["mpirun", "-np", str(np_)] + mpirun_flags(np_) + [LEARNER] + list(args)


def main(tmp):
    # ---- one rank vs two ranks: same prompts, same deterministic responses -> same parameters
    r1, r2 = os.path.join(tmp, "np1"), os.path.join(tmp, "np2")
    check(run_grpo(r1, 1) == 0, "1-rank run exits 0")
    check(run_grpo(r2, 2, ["actor.ppo_micro_batch_size_per_gpu=3"]) == 0, "2-rank run exits 0")
    m1, m2 = metrics(r1), metrics(r2)
    check(len(m1) == 2 and len(m2) == 2, "both runs log 2 steps")
    for a, b in zip(m1, m2):
        check(a["accuracy"] == b["accuracy"] and a["sequences"] == b["sequences"], "same batch in both runs (step %d)" % a["step"])
        check(abs(a["grad_norm"] - b["grad_norm"]) <= 1e-4 * max(1.0, a["grad_norm"]),
              "grad norm %.9g vs %.9g (step %d)" % (a["grad_norm"], b["grad_norm"], a["step"]))
        check(abs(a["pg_loss"] - b["pg_loss"]) <= 1e-5, "pg_loss %.9g vs %.9g" % (a["pg_loss"], b["pg_loss"]))
        check(abs(a["clipfrac"] - b["clipfrac"]) <= 1e-9, "clipfrac equal")
    c = "checkpoints/ckpt_000002.h5"
    if check(os.path.exists(os.path.join(r1, c)) and os.path.exists(os.path.join(r2, c)), "both final checkpoints exist"):
        p1, p2 = params(os.path.join(r1, c)), params(os.path.join(r2, c))
        check(sorted(p1) == sorted(p2), "same tensors")
        diff = max(float(np.max(np.abs(p1[k] - p2[k]))) for k in p1)
        moved = max(float(np.max(np.abs(p1[k]))) for k in p1)
        # AdamW divides by sqrt(v): summation-order differences of the gradients (1 rank vs 2, other
        # micro-batch sizes) reach the parameters at ~1e-3 of the step size lr = 1e-3
        check(diff < 1e-5, "1 vs 2 ranks: parameters differ by %g after 2 steps (4 AdamW updates)" % diff)
        check(moved > 0, "parameters are non-zero")

    # ---- SFT makes a base policy; GRPO starts from it
    sft = os.path.join(tmp, "sft")
    os.makedirs(sft)
    with open(os.path.join(sft, "learner.log"), "wb") as log:
        rc = subprocess.run(learner_cmd(2, "--config", os.path.join(ROOT, "configs/sft_arith.yaml"), "--run-dir", sft,
                                        "trainer.total_training_steps=12", "trainer.save_freq=0", "data.train_batch_size=16",
                                        "actor.ppo_mini_batch_size=8", "actor.ppo_micro_batch_size_per_gpu=4",
                                        "actor.optim.warmup_steps=2", "model.init.hidden_size=32", "model.init.num_layers=1",
                                        "model.init.intermediate_size=64", "model.init.num_heads=2", "model.init.num_kv_heads=1"),
                            stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=ROOT, timeout=120).returncode
    check(rc == 0, "sft run exits 0")
    ms = metrics(sft)
    check(len(ms) == 12 and all(r["mode"] == "sft" for r in ms), "sft: 12 metrics lines")
    if ms:
        check(ms[-1]["loss"] < ms[0]["loss"] * 0.8, "sft loss falls: %.3f -> %.3f" % (ms[0]["loss"], ms[-1]["loss"]))
    final = os.path.join(sft, "final.h5")
    check(os.path.exists(final), "sft wrote final.h5")
    g = os.path.join(tmp, "from_sft")
    learner = start_learner(g, 1, ["trainer.total_training_steps=1", "model.path=" + final])
    ws = [start_worker(g, "s0")]
    check(finish(learner, 60) == 0, "grpo from the sft policy exits 0")
    stop(ws)
    check(final in log_text(g) and len(metrics(g)) == 1, "grpo started from " + final)

    # ---- `rlvr sft` front-end: the same learner, one process
    # on a JSON Lines dataset with a {prompt} template
    rs = os.path.join(tmp, "rlvr_sft")
    data = os.path.join(tmp, "tiny.jsonl")
    with open(data, "w") as f:
        for i in range(40):
            f.write('{"id": "p%d", "problem": "What is %d+%d?", "answer": "%d"}\n' % (i, i, i + 1, 2 * i + 1))
    p = subprocess.run([os.path.join(os.path.dirname(LEARNER), "rlvr"), "sft", "--config", os.path.join(ROOT, "configs/sft_arith.yaml"),
                        "--run-dir", rs, "trainer.total_training_steps=4", "data.train_files=" + data,
                        "data.prompt_template=Q: {prompt} A:", "data.max_prompt_length=32",
                        "model.init.max_position_embeddings=64", "model.init.hidden_size=16", "model.init.num_layers=1",
                        "model.init.num_heads=2", "model.init.num_kv_heads=1", "model.init.intermediate_size=32"],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    check(p.returncode == 0 and os.path.exists(os.path.join(rs, "final.h5")), "rlvr sft writes final.h5:\n" + p.stderr[-800:])
    check(len(metrics(rs)) == 4, "rlvr sft on a JSONL file: 4 steps")

    # ---- a bad config key: exit 2, the key named, a suggestion
    # (run without mpirun: a singleton MPI process; a failing job under mpirun costs its kill timeout)
    p = subprocess.run([LEARNER, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir",
                        os.path.join(tmp, "bad"), "actor.clip_ratio_hgh=0.3"],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    out = p.stdout + p.stderr
    check(p.returncode != 0, "bad key: non-zero exit")
    check("actor.clip_ratio_hgh" in out and "actor.clip_ratio_high" in out, "bad key named with a suggestion:\n" + out[-600:])
    p = subprocess.run([LEARNER, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir",
                        os.path.join(tmp, "bad"), "--frobnicate"],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    check(p.returncode != 0 and "--frobnicate" in p.stdout + p.stderr, "unknown flag named")

    # ---- only unusable checkpoints + --resume: a clear error naming the file, nothing overwritten
    bad = os.path.join(tmp, "badckpt")
    os.makedirs(os.path.join(bad, "checkpoints"))
    junk = os.path.join(bad, "checkpoints", "ckpt_000003.h5")
    with open(junk, "wb") as f:
        f.write(b"this is not an HDF5 file" * 10)
    p = subprocess.run([LEARNER, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir", bad,
                        "model.path=", "--resume"],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    out = p.stdout + p.stderr
    check(p.returncode != 0, "unusable checkpoint: non-zero exit")
    check("ckpt_000003.h5" in out and "usable" in out, "the bad checkpoint is named:\n" + out[-800:])
    check(not os.path.exists(os.path.join(bad, "rendezvous.json")), "no training started")

    # ---- SIGTERM to mpirun (it forwards SIGTERM after odls_base_sigkill_timeout, SIGKILL one timeout later)
    t = os.path.join(tmp, "term")
    learner = start_learner(t, 2, ["trainer.total_training_steps=50", "trainer.save_freq=0"])
    ws = [start_worker(t, "t%d" % i, "--delay", "0.2") for i in range(2)]
    wait_for(lambda: len(metrics(t)) >= 2, 40, "2 steps")
    learner.send_signal(signal.SIGTERM)
    finish(learner, 30)
    stop(ws)
    n = len(metrics(t))
    check("(SIGTERM" in log_text(t) and os.path.exists(os.path.join(t, "checkpoints", "ckpt_%06d.h5" % n)),
          "SIGTERM via mpirun: checkpoint at step %d written" % n)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_ranks_") as tmp:
        t0 = time.time()
        main(tmp)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
