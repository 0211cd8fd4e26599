#!/usr/bin/env python3
"""Fault injection with the real processes (mpirun + learner ranks, rollout workers, the launch
scripts): signals at chosen points and a dead launcher (a full disk: test_faults_disk.py; flipped
bits in checkpoints: test_faults_ckpt.py; dead connections and hostile peers: test_conformance.py). Each case checks what the operator
sees: the exit code (docs/operations.md, "Exit codes"), the last log lines, the files left behind.
  - SIGTERM to mpirun under launch/resume_loop.sh: the run stops in order and is not restarted;
  - SIGTERM to one non-zero rank: a stop by signal at every rank, reported as such by rank 0;
  - SIGKILL to mpirun alone: the ranks checkpoint and stop at once (state launcher_gone); a learner
    started on a run directory whose lock another holds waits for it, then resumes from that checkpoint;
  - Ctrl-C (SIGINT to the process group) on launch/run_local.sh: the learner's last lines survive in
    logs/learner.log and the script exits 130.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import (BASE, LEARNER, ROOT, check, done, env, finish, log_text, metrics, mpirun_flags, start_learner,
                              start_worker, stop, wait_for)

SLOW = ["--delay", "0.15"]   # scripted workers: a step takes a few tenths of a second, so signals land mid-run


def ranks_of(mpirun_pid):
    out = subprocess.run(["pgrep", "-P", str(mpirun_pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def rank_number(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(kv.split(b"=", 1)[1])
    except OSError:
        pass
    return -1


def alive(pids):
    return [p for p in pids if os.path.exists("/proc/%d" % p) and "zombie" not in open("/proc/%d/status" % p).read().lower()]


def exit_status(run):
    try:
        with open(os.path.join(run, "exit_status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---- signals --------------------------------------------------------------------------------------
def mpirun_term_under_resume_loop(tmp):
    run = os.path.join(tmp, "loop")
    os.makedirs(run)
    cmd = [os.path.join(ROOT, "launch", "resume_loop.sh"), "--max-restarts", "3", "--", "mpirun", "-np", "2"] + mpirun_flags(2) + \
          [LEARNER, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir", run] + BASE + \
          ["trainer.total_training_steps=200", "trainer.save_freq=0"]
    log = open(os.path.join(run, "loop.log"), "ab")
    loop = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True, cwd=ROOT)
    wait_for(lambda: os.path.exists(os.path.join(run, "rendezvous.json")), 60, "the learner under resume_loop")
    ws = [start_worker(run, "l%d" % i, *SLOW) for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 2, 60, "2 steps under resume_loop")
    mp = subprocess.run(["pgrep", "-x", "-P", str(loop.pid), "mpirun"], capture_output=True, text=True).stdout.split()
    check(len(mp) == 1, "found mpirun under resume_loop: %r" % mp)
    if mp:
        os.kill(int(mp[0]), signal.SIGTERM)
    try:
        rc = loop.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(loop.pid, signal.SIGKILL)
        rc = -9
    stop(ws)
    text = log_text(run, "loop.log")
    check(rc == 0, "SIGTERM to mpirun under resume_loop: the loop exits 0 (got %s)" % rc)
    check("restart 1/" not in text and text.count("learner: 2 ranks") == 1, "SIGTERM to mpirun under resume_loop: no restart")
    check("stopped by signal" in text, "the learner says it stopped by signal")
    st = exit_status(run)
    check(st is not None and st["state"] == "stopped_by_signal" and os.path.exists(st["checkpoint"]),
          "exit_status.json: stopped_by_signal with its checkpoint: %r" % (st,))


def term_one_rank(tmp):
    run = os.path.join(tmp, "onerank")
    learner = start_learner(run, 2, ["trainer.total_training_steps=200", "trainer.save_freq=0"])
    ws = [start_worker(run, "o%d" % i, *SLOW) for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 2, 60, "2 steps")
    ranks = ranks_of(learner.pid)
    one = [p for p in ranks if rank_number(p) == 1]
    check(len(one) == 1, "found rank 1 among %r" % ranks)
    if one:
        os.kill(one[0], signal.SIGTERM)
    rc = finish(learner, 60)
    stop(ws)
    text = log_text(run)
    n = len(metrics(run))
    check(rc == 0, "SIGTERM to rank 1: exit code 0 (got %s)" % rc)
    check("stopped by signal at step %d" % n in text and "done at step" not in text,
          "SIGTERM to rank 1: rank 0 reports a stop by signal at step %d, not done" % n)
    check(os.path.exists(os.path.join(run, "checkpoints", "ckpt_%06d.h5" % n)), "SIGTERM to rank 1: checkpoint of step %d" % n)


def kill_mpirun_alone(tmp):
    run = os.path.join(tmp, "orphans")
    learner = start_learner(run, 2, ["trainer.total_training_steps=200", "trainer.save_freq=0"])
    ws = [start_worker(run, "k%d" % i, *SLOW) for i in range(2)]
    wait_for(lambda: len(metrics(run)) >= 2, 60, "2 steps")
    ranks = ranks_of(learner.pid)
    check(len(ranks) == 2, "found the 2 ranks under mpirun: %r" % ranks)
    os.kill(learner.pid, signal.SIGKILL)     # mpirun only, not its ranks
    learner.wait()
    t0 = time.time()
    wait_for(lambda: not alive(ranks), 20, "the orphaned ranks to stop")
    dt = time.time() - t0
    n = len(metrics(run))
    st = exit_status(run)
    stop(ws)
    check(dt < 10, "the orphaned ranks stopped %.1f s after mpirun died" % dt)
    check(st is not None and st["state"] == "launcher_gone" and st["exit_code"] == 1 and st["step"] >= n - 1,
          "exit_status.json records launcher_gone with the step: %r" % (st,))
    check(st is not None and os.path.exists(st.get("checkpoint", "")), "the orphans wrote their checkpoint")

    # one learner per run directory: a learner started while another holds the lock waits for it
    holder = subprocess.Popen(["flock", "-x", os.path.join(run, "learner.lock"), "-c", "echo 4242 > %s; sleep 2" %
                               os.path.join(run, "learner.lock")])
    time.sleep(0.3)
    second = start_learner(run, 1, ["trainer.total_training_steps=200", "trainer.save_freq=0"], resume=True, log_name="second.log")
    ws = [start_worker(run, "s%d" % i, *SLOW) for i in range(2)]
    wait_for(lambda: "resumed from" in log_text(run, "second.log"), 60, "the second learner to resume")
    holder.wait()
    text = log_text(run, "second.log")
    check("waiting for the learner (pid 4242)" in text, "a second learner on the same run directory waits for the lock")
    check(st is not None and ("ckpt_%06d.h5" % st["step"]) in text.split("resumed from")[1][:300],
          "the next learner resumes from the orphans' checkpoint")
    for p in ranks_of(second.pid):
        os.kill(p, signal.SIGKILL)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()
    stop(ws)


def ctrl_c_run_local(tmp):
    run = os.path.join(tmp, "local")
    cmd = [os.path.join(ROOT, "launch", "run_local.sh"), "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir", run,
           "--np", "2", "--workers", "1"] + BASE + ["trainer.total_training_steps=200", "trainer.save_freq=0", "rollout.n=4"]
    out = open(os.path.join(tmp, "run_local.out"), "wb")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env(), start_new_session=True, cwd=ROOT)
    wait_for(lambda: len(metrics(run)) >= 2, 90, "2 steps under run_local.sh")
    os.killpg(p.pid, signal.SIGINT)          # what Ctrl-C at a terminal does: the whole foreground group
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        rc = -9
    time.sleep(0.3)
    text = log_text(os.path.join(run, "logs"), "learner.log")
    check(rc == 130, "Ctrl-C on run_local.sh exits 130 (got %s)" % rc)
    check("stopped by signal" in text and "checkpoint" in text and "coordinator counters" in text,
          "Ctrl-C: logs/learner.log keeps the learner's last lines:\n" + "\n".join(text.splitlines()[-4:]))
    st = exit_status(run)
    check(st is not None and st["exit_code"] == 0 and os.path.exists(st["checkpoint"]), "Ctrl-C: the checkpoint is on disk: %r" % (st,))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_faults_") as tmp:
        t0 = time.time()
        mpirun_term_under_resume_loop(tmp)
        term_one_rank(tmp)
        kill_mpirun_alone(tmp)
        ctrl_c_run_local(tmp)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
