#!/usr/bin/env python3
"""A full disk under a running learner (real processes: mpirun, learner, scripted workers). The run
directory is a small tmpfs (root only; exit 77, skipped, otherwise); after the step-2 checkpoint a
filler file takes every free page, so each later append and checkpoint hits ENOSPC:
  - metrics.jsonl and batches.jsonl keep whole JSON lines only (a partial line is cut off again);
  - every error names the OS error ("No space left on device") and the remedy ("free space");
  - the failed final checkpoint makes exit code 3, never "done" nor exit 0; so does a SIGTERM whose
    checkpoint fails ("stopped by signal ..., but its checkpoint FAILED");
  - after freeing space the resumed run finishes: steps 1..6 once each in metrics.jsonl.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import check, done, finish, log_text, metrics, start_learner, start_worker, stop, wait_for

SLOW = ["--delay", "0.15"]


def exit_status(run):
    try:
        with open(os.path.join(run, "exit_status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def whole_lines(path):
    """True when the file is empty or ends with a newline and every line is JSON."""
    if not os.path.exists(path):
        return True
    data = open(path, "rb").read()
    if data and not data.endswith(b"\n"):
        return False
    try:
        for line in data.decode().splitlines():
            json.loads(line)
    except ValueError:
        return False
    return True


def fill(path):
    """Writes zeros until the filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.close(fd)


def disk_full(tmp):
    if os.geteuid() != 0:
        print("skipped: mounting a small tmpfs for the full disk needs root")
        return "skipped"
    mnt = os.path.join(tmp, "small")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print("skipped: mount -t tmpfs failed: %s" % r.stderr.strip())
        return "skipped"
    try:
        run = os.path.join(mnt, "run")
        steps = ["trainer.total_training_steps=6", "trainer.save_freq=2"]
        logf = os.path.join(tmp, "diskfull.log")   # the log lives off the full disk
        learner = start_learner(run, 1, steps, log_name=logf)
        ws = [start_worker(run, "d%d" % i, *SLOW) for i in range(2)]
        wait_for(lambda: os.path.exists(os.path.join(run, "checkpoints", "ckpt_000002.h5")), 60, "the step-2 checkpoint")
        print("before filling:", subprocess.run(["df", "-k", mnt], capture_output=True, text=True).stdout.splitlines()[-1])
        fill(os.path.join(mnt, "filler"))          # from here on every new page of the disk is taken
        rc = finish(learner, 60)
        stop(ws)
        text = log_text(tmp, "diskfull.log")
        st = exit_status(run)
        check(rc == 3, "disk full: the failed final checkpoint makes exit code 3 (got %s)" % rc)
        check("done at step" not in text and "FAILED (final)" in text and "its checkpoint FAILED" in text,
              "disk full: the learner reports the failed final checkpoint and never says done")
        check("FAILED" in text and "No space left on device" in text and "free space" in text,
              "disk full: the errors name ENOSPC and the remedy")
        check(st is None or st.get("exit_code") == 3, "disk full: exit_status.json says 3 if it could be written: %r" % (st,))
        for name in ("metrics.jsonl", "batches.jsonl"):
            check(whole_lines(os.path.join(run, name)), "disk full: %s holds whole JSON lines only" % name)
        # room again: the resumed run finishes, rewrites metrics.jsonl from its checkpoint, appends whole lines
        # SIGTERM while the disk is full: the stop checkpoint fails, so the stop is not "in order" (exit 3)
        os.unlink(os.path.join(mnt, "filler"))
        logt = os.path.join(tmp, "diskfull-term.log")
        more = ["trainer.total_training_steps=12", "trainer.save_freq=2"]
        learner = start_learner(run, 1, more, resume=True, log_name=logt)
        ws = [start_worker(run, "t%d" % i, *SLOW) for i in range(2)]
        # resumed from step 2, metrics.jsonl is rewritten to 2 lines, then grows again
        wait_for(lambda: "resumed from" in log_text(tmp, "diskfull-term.log") and len(metrics(run)) >= 4, 60, "step 4 of the resumed run")
        fill(os.path.join(mnt, "filler"))
        wait_for(lambda: log_text(tmp, "diskfull-term.log").count("metrics.jsonl failed") >= 1, 60, "a failed append")
        for r in subprocess.run(["pgrep", "-P", str(learner.pid)], capture_output=True, text=True).stdout.split():
            os.kill(int(r), signal.SIGTERM)
        rc = finish(learner, 60)
        stop(ws)
        text = log_text(tmp, "diskfull-term.log")
        check(rc == 3, "disk full: a SIGTERM whose checkpoint failed makes exit code 3 (got %s)" % rc)
        check("FAILED (SIGTERM)" in text and "stopped by signal at step" in text and "but its checkpoint FAILED" in text,
              "disk full: the stop by signal reports its failed checkpoint:\n" + "\n".join(text.splitlines()[-3:]))
        for name in ("metrics.jsonl", "batches.jsonl"):
            check(whole_lines(os.path.join(run, name)), "disk full at SIGTERM: %s holds whole JSON lines only" % name)
        os.unlink(os.path.join(mnt, "filler"))
        learner = start_learner(run, 1, steps, resume=True, log_name=os.path.join(tmp, "diskfull-resume.log"))
        ws = [start_worker(run, "e%d" % i) for i in range(2)]
        rc = finish(learner, 60)
        stop(ws)
        check(rc == 0, "after freeing space the resumed run exits 0 (got %s)" % rc)
        m = metrics(run)
        check([r["step"] for r in m] == [1, 2, 3, 4, 5, 6], "metrics.jsonl holds steps 1..6 once: %r" % [r["step"] for r in m])
        check(whole_lines(os.path.join(run, "batches.jsonl")), "batches.jsonl holds whole JSON lines after the resume")
    finally:
        subprocess.run(["umount", "-l", mnt])
    return "ran"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_diskfull_") as tmp:
        t0 = time.time()
        if disk_full(tmp) == "skipped":
            sys.exit(77)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
