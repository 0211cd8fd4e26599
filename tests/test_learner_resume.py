#!/usr/bin/env python3
"""Learner checkpoints with real processes (on-policy, CPU, scripted deterministic workers):
  - the learner SIGKILLed mid-run and resumed reproduces the uninterrupted run's metrics exactly;
  - SIGUSR1 writes a checkpoint and training goes on; SIGTERM writes one and exits 0; resuming from
    it also reproduces the uninterrupted run;
  - a corrupt newest checkpoint is named, skipped, and the previous one is used.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import (BIN, check, env, done, finish, log_text, metrics, start_learner, start_worker, stop, strip_time,
                              wait_for)

STEPS = ["trainer.total_training_steps=6", "trainer.save_freq=2"]


def run_to_end(run, resume=False, delay="0"):
    learner = start_learner(run, 2, STEPS, resume=resume)
    ws = [start_worker(run, "a%d" % i, "--delay", delay) for i in range(2)]
    rc = finish(learner, 60)
    stop(ws)
    return rc


def main(tmp):
    ref = os.path.join(tmp, "ref")
    check(run_to_end(ref) == 0, "reference run exits 0")
    mref = strip_time(metrics(ref))
    check(len(mref) == 6, "reference run: 6 metrics lines")

    # SIGKILL the whole learner (mpirun and its ranks) after step 3; resume from the step-2 checkpoint
    run = os.path.join(tmp, "killed")
    learner = start_learner(run, 2, STEPS)
    ws = [start_worker(run, "b%d" % i, "--delay", "0.3") for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 3, 40, "3 steps before the kill")
    os.killpg(learner.pid, signal.SIGKILL)
    learner.wait()
    stop(ws)
    check(len(metrics(run)) >= 3, "killed run got to step 3")
    check(run_to_end(run, resume=True) == 0, "resumed run exits 0")
    check("resumed from" in log_text(run), "the resumed run says where it resumed from")
    mk = strip_time(metrics(run))
    check(len(mk) == 6, "resumed run: 6 metrics lines (got %d)" % len(mk))
    for a, b in zip(mref, mk):
        if not check(a == b, "step %s identical after SIGKILL + resume" % a.get("step")):
            print({k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)})
            break

    # SIGUSR1: checkpoint and go on; SIGTERM: checkpoint and exit 0; resume -> identical metrics
    run = os.path.join(tmp, "term")
    learner = start_learner(run, 2, STEPS)
    ws = [start_worker(run, "c%d" % i, "--delay", "0.3") for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 1, 40, "step 1")
    learner.send_signal(signal.SIGUSR1)
    wait_for(lambda: "(SIGUSR1" in log_text(run), 20, "a SIGUSR1 checkpoint")
    wait_for(lambda: len(metrics(run)) >= 3, 40, "step 3")
    # as Slurm does (scancel --signal=TERM): the signal goes to every rank; they checkpoint, finalize
    # and exit 0, so mpirun exits 0 too
    ranks = subprocess.run(["pgrep", "-P", str(learner.pid)], capture_output=True, text=True).stdout.split()
    check(len(ranks) == 2, "found the 2 rank processes under mpirun: %r" % ranks)
    for r in ranks:
        os.kill(int(r), signal.SIGTERM)
    rc = finish(learner, 30)
    stop(ws)
    check(rc == 0, "SIGTERM: exit code 0 (got %s)" % rc)
    check("stopped by signal" in log_text(run), "the learner reports it stopped on the signal")
    n = len(metrics(run))
    check("(SIGTERM" in log_text(run), "SIGTERM checkpoint logged")
    check(os.path.exists(os.path.join(run, "checkpoints", "ckpt_%06d.h5" % n)), "SIGTERM checkpoint at step %d exists" % n)
    check(n < 6, "SIGTERM stopped the run early (step %d)" % n)
    check(run_to_end(run, resume=True) == 0, "resume after SIGTERM exits 0")
    mt = strip_time(metrics(run))
    check(mt == mref, "metrics after SIGTERM + resume identical to the uninterrupted run")

    # corrupt the newest checkpoint of the reference run: it is named and skipped
    newest = os.path.join(ref, "checkpoints", "ckpt_000006.h5")
    size = os.path.getsize(newest)
    with open(newest, "r+b") as f:
        f.truncate(size // 2)
    learner = start_learner(ref, 2, ["trainer.total_training_steps=6", "trainer.save_freq=2"], resume=True, log_name="resume2.log")
    ws = [start_worker(ref, "d%d" % i) for i in range(2)]
    rc = finish(learner, 60)
    stop(ws)
    text = log_text(ref, "resume2.log")
    check(rc == 0, "resume past a corrupt checkpoint exits 0")
    check("ckpt_000006.h5" in text and "resumed from" in text and "ckpt_000004.h5" in text,
          "the corrupt checkpoint is named and the previous one used:\n" + text[-1500:])
    check(strip_time(metrics(ref)) == mref, "re-running steps 5-6 from the older checkpoint gives the same metrics")


def real_rollout(tmp):
    """The same SIGKILL + resume with the real rollout program; its workers keep running across the
    learner's restart and follow the new rendezvous file."""
    rollout = os.path.join(BIN, "rollout")

    def rworker(run, name):
        log = open(os.path.join(run, "rollout-%s.log" % name), "ab")
        return subprocess.Popen([rollout, "--run-dir", run, "--id", name, "--threads", "1"], stdout=log,
                                stderr=subprocess.STDOUT, env=env())

    steps = STEPS + ["rollout.n=4"]
    ref, run = os.path.join(tmp, "real_ref"), os.path.join(tmp, "real_killed")
    learner = start_learner(ref, 2, steps)
    ws = [rworker(ref, "r%d" % i) for i in range(2)]
    check(finish(learner, 60) == 0, "real rollout: reference run exits 0")
    stop(ws)
    learner = start_learner(run, 2, steps)
    ws = [rworker(run, "k%d" % i) for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 3, 60, "3 steps with real workers")
    os.killpg(learner.pid, signal.SIGKILL)
    learner.wait()
    learner = start_learner(run, 2, steps, resume=True)
    check(finish(learner, 60) == 0, "real rollout: resumed run exits 0")
    stop(ws)
    a, b = strip_time(metrics(ref)), strip_time(metrics(run))
    check(len(a) == 6 and a == b, "real rollout workers: metrics after SIGKILL + resume identical (%d vs %d lines)" % (len(a), len(b)))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_resume_") as tmp:
        t0 = time.time()
        main(tmp)
        if os.path.exists(os.path.join(BIN, "rollout")):
            real_rollout(tmp)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
