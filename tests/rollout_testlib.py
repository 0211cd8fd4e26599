"""Helpers for the rollout worker process tests: start the coordinator harness and workers, follow
the harness's STATUS lines, read its FINAL summary and the per-group JSON Lines it writes."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from checks import Checks

ROOT = os.environ.get("RLVR_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RLVR_BIN", os.path.join(ROOT, "build", "bin"))
HARNESS = os.environ.get("RLVR_COORD_HARNESS", os.path.join(os.path.dirname(BIN), "tests", "coord_harness"))
ROLLOUT = os.path.join(BIN, "rollout")
SAN = os.environ.get("RLVR_SANITIZE", "OFF") == "ON"
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

check = Checks(show_passes=True)


def finish():
    sys.exit(check.summary())


class Harness:
    """The coordinator harness as a child process; stdout lines are collected by a thread."""

    def __init__(self, run_dir, model, *args):
        self.out_path = os.path.join(run_dir, "groups.jsonl")
        cmd = [HARNESS, "--run-dir", run_dir, "--model", model, "--out", self.out_path, "--status-every", "0.05"] + list(args)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.errs = ""
        rdv = os.path.join(run_dir, "rendezvous.json")
        end = time.time() + 20
        while not os.path.exists(rdv) and time.time() < end and self.p.poll() is None:
            time.sleep(0.02)

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def status(self):
        with self.lock:
            for line in reversed(self.lines):
                if line.startswith("STATUS "):
                    return json.loads(line[7:])
        return {}

    def wait_status(self, cond, timeout):
        end = time.time() + timeout
        while time.time() < end:
            s = self.status()
            if s and cond(s):
                return s
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        return None

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(timeout=5)
        self.errs = self.p.stderr.read()
        final = None
        for line in self.lines:
            if line.startswith("FINAL "):
                final = json.loads(line[6:])
        return rc, final

    def groups(self):
        with open(self.out_path) as f:
            return [json.loads(l) for l in f if l.strip()]


def start_worker(run_dir, wid, *args):
    log = open(os.path.join(run_dir, "worker-%s.log" % wid), "w")
    cmd = [ROLLOUT, "--run-dir", run_dir, "--id", wid, "--status-interval", "0.5",
           "--stats", os.path.join(run_dir, "stats-%s.json" % wid)] + list(args)
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    p.log_path = log.name
    return p


def worker_log(p):
    with open(p.log_path) as f:
        return f.read()


def worker_stats(run_dir, wid):
    path = os.path.join(run_dir, "stats-%s.json" % wid)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.loads(f.read())


def wait_proc(p, timeout):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def make_model(path, *args):
    r = subprocess.run([HARNESS, "--make-model", path] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit("cannot make the test model")


def tmpdir(tag):
    d = tempfile.mkdtemp(prefix="rlvr-%s-" % tag)
    return d


def cleanup(d):
    if not check.failures:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print("kept %s for inspection" % d)
