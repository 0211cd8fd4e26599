#!/usr/bin/env python3
"""`rlvr plan` / `learner --dry-run`: the memory plan of a config from a config.json shape (configs/shapes/),
exit status 0 when it fits trainer.gpu_memory_gib, 1 with the knobs named when it does not, 2 on a
bad config; and the learner's refusals of trainer.precision=bf16 on the CPU and of trainer.device=cuda
where it cannot run."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import BIN, LEARNER, ROOT, check, env

RLVR = os.path.join(BIN, "rlvr")
SHAPES = os.path.join(ROOT, "configs", "shapes")
LONG = ["trainer.device=cuda", "data.max_prompt_length=1024", "data.max_response_length=7168"]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    return p.returncode, p.stdout, p.stderr


def gib(out, label):
    m = re.search(r"^  %s\s+([0-9.]+) GiB" % re.escape(label), out, re.M)
    return float(m.group(1)) if m else None


def main():
    cfg = os.path.join(ROOT, "configs", "demo_cpu.yaml")
    q7 = os.path.join(SHAPES, "qwen2.5-7b.json")
    # the 7B step of the docs: bf16, recompute, ZeRO-1 over 8 GPUs, micro-batch 1 x 8192 tokens
    rc, out, err = run([RLVR, "plan", "--config", cfg, "model.path=" + q7, "--ranks", "8", "trainer.precision=bf16",
                        "trainer.activation_checkpointing=true", "trainer.zero_stage=1", "actor.ppo_micro_batch_size_per_gpu=1",
                        "trainer.gpu_memory_gib=80"] + LONG)
    check(rc == 0, "7B bf16 + recompute + ZeRO-1 x 8 fits 80 GiB (rc %d: %s)" % (rc, err))
    check("7.62B parameters" in out and "untied" in out, "the plan names the 7B shape:\n" + out)
    check("micro-batch 1 x T 8192" in out and "ZeRO stage 1 over 8 ranks" in out, "the plan names the step")
    total, w, adam = gib(out, "total"), gib(out, "weights"), gib(out, "Adam m + v (fp32)")
    check(total is not None and 40 < total < 80, "7B total %s GiB" % total)
    check(w is not None and abs(w - 7615616512 * 2 / 2**30) < 0.01, "bf16 weights of 7.62B parameters: %s GiB" % w)
    check(adam is not None and abs(adam - 7615616512 * 8 / 8 / 2**30) < 0.05, "Adam m + v, one eighth: %s GiB" % adam)
    check("fits" in out, "the plan says it fits")

    # the same step in fp32 without recompute on one GPU does not fit: exit 1, the knobs named
    rc, out, err = run([RLVR, "plan", "--config", cfg, "model.path=" + q7, "trainer.gpu_memory_gib=80"] + LONG)
    check(rc == 1, "fp32 7B on one 80 GiB GPU: exit 1 (got %d)" % rc)
    check("DOES NOT FIT" in out, "the table says it does not fit")
    for knob in ("trainer.activation_checkpointing=true", "trainer.zero_stage=1", "trainer.precision=bf16",
                 "actor.ppo_micro_batch_size_per_gpu="):
        check(knob in err, "the refusal names %s: %s" % (knob, err))

    # learner --dry-run is the same plan; recompute shrinks activations; 0.5B / 1.5B shapes read too
    rc2, out2, _ = run([LEARNER, "--dry-run", "--config", cfg, "model.path=" + q7, "trainer.gpu_memory_gib=80"] + LONG)
    check(rc2 == 1 and out2 == out, "learner --dry-run prints the same plan and exit status")
    for name, params in (("qwen2.5-0.5b", "0.49B"), ("qwen2.5-1.5b", "1.54B")):
        rc, out, err = run([RLVR, "plan", "--config", cfg, "model.path=" + os.path.join(SHAPES, name + ".json"),
                            "trainer.precision=bf16", "trainer.activation_checkpointing=true"] + LONG)
        check(rc == 0 and params + " parameters" in out and "tied" in out, "%s: rc %d\n%s%s" % (name, rc, out, err))
        rec, full = gib(out, "activations, recompute on"), gib(out, "activations, recompute off")
        check(rec is not None and full is not None and rec < full / 4, "%s: recompute %s vs %s GiB" % (name, rec, full))
        check("GPU memory unknown" in out, "%s: without trainer.gpu_memory_gib the memory is unknown" % name)

    # the demo's own model (model.init.*), and a bad shape file
    rc, out, err = run([RLVR, "plan", "--config", cfg])
    check(rc == 0 and "model from" in out, "the demo config plans (rc %d: %s)" % (rc, err))
    rc, out, err = run([RLVR, "plan", "--config", cfg, "model.path=" + os.path.join(SHAPES, "missing.json")])
    check(rc == 2 and "missing.json" in err, "a missing shape file is a config error naming it (rc %d: %s)" % (rc, err))

    # the learner's refusals, before any MPI work
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run([LEARNER, "--config", cfg, "--run-dir", tmp, "trainer.precision=bf16"])
        check(rc == 2 and "trainer.precision=fp32" in err and "trainer.device=cuda" in err,
              "bf16 on the CPU engine is refused with the fix (rc %d: %s)" % (rc, err))
        rc, out, err = run([LEARNER, "--config", cfg, "--run-dir", tmp, "trainer.device=cuda"])
        check(rc != 0 and ("-DRLVR_CUDA=ON" in err or "CUDA_VISIBLE_DEVICES" in err),
              "trainer.device=cuda without a backend or a device is refused naming the fix (rc %d: %s)" % (rc, err[-800:]))


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
