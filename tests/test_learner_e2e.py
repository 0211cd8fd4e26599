#!/usr/bin/env python3
"""Learner end-to-end tests with real processes: `mpirun learner` + scripted rollout workers
(build/tests/test_learner_batch --worker, deterministic responses from each prompt's seed).

This file holds the shared helpers and the basic scenario (2 ranks + 2 workers, a worker SIGKILLed
while holding a lease, a late worker joining, garbage on the coordinator's port). The other
tests/test_learner_*.py files import the helpers.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from checks import Checks

ROOT = os.environ.get("RLVR_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RLVR_BIN", os.path.join(ROOT, "build", "bin"))
TESTS_BIN = os.path.join(os.path.dirname(BIN), "tests")
SAN = os.environ.get("RLVR_SANITIZE", "OFF") == "ON"
LEARNER = os.path.join(BIN, "learner")
PEER = os.path.join(TESTS_BIN, "test_learner_batch")

# Timing fields differ between runs; everything else must be identical in on-policy mode.
TIME_KEYS = {"tokens_per_s", "time_wait_s", "time_train_s", "time_sync_s", "time_step_s", "coord_workers",
             "coord_requeued", "coord_leases_expired", "coord_bad_messages", "coord_late_dropped", "coord_stale_dropped"}

check = Checks()


def env():
    e = dict(os.environ)
    e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
             OPENBLAS_NUM_THREADS="1", OMPI_MCA_odls_base_sigkill_timeout="2")
    e.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    return e


def mpirun_flags(np_):
    f = []
    if os.geteuid() == 0:
        f.append("--allow-run-as-root")
    f += ["--oversubscribe", "--mca", "btl", "self,vader", "--mca", "pml", "ob1", "--bind-to", "none"]
    return f


BASE = ["trainer.total_training_steps=4", "trainer.save_freq=2", "trainer.max_keep_ckpt=5", "model.path=",
        "model.init.hidden_size=32", "model.init.intermediate_size=64", "model.init.num_layers=1",
        "model.init.num_heads=2", "model.init.num_kv_heads=1", "data.train_batch_size=4", "actor.ppo_mini_batch_size=2",
        "actor.ppo_micro_batch_size_per_gpu=8", "rollout.n=4", "rollout.max_staleness=0", "coordinator.lease_s=2",
        "coordinator.heartbeat_s=0.5", "trainer.stage_detector.min_step=0", "trainer.stage_detector.window=2"]


def start_learner(run_dir, np_=2, extra=(), resume=False, log_name="learner.log"):
    os.makedirs(run_dir, exist_ok=True)
    cmd = ["mpirun", "-np", str(np_)] + mpirun_flags(np_) + [LEARNER, "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"),
                                                              "--run-dir", run_dir] + BASE + list(extra)
    if resume:
        cmd.append("--resume")
    log = open(os.path.join(run_dir, log_name), "ab")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True, cwd=ROOT)


def start_worker(run_dir, name, *args):
    log = open(os.path.join(run_dir, "worker-%s.log" % name), "ab")
    return subprocess.Popen([PEER, "--worker", run_dir, "--id", name, "--quiet"] + list(args), stdout=log,
                            stderr=subprocess.STDOUT, env=env(), cwd=ROOT)


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.1)
    check(False, "timed out after %.0fs waiting for %s" % (timeout, what))
    return False


def metrics(run_dir):
    p = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]


def log_text(run_dir, name="learner.log"):
    try:
        with open(os.path.join(run_dir, name), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def finish(learner, timeout=60):
    try:
        return learner.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        check(False, "learner did not finish within %ds" % timeout)
        os.killpg(learner.pid, signal.SIGKILL)
        learner.wait()
        return -9


def counters(run_dir):
    for line in reversed(log_text(run_dir).splitlines()):
        if line.startswith("learner: coordinator counters "):
            return json.loads(line[len("learner: coordinator counters "):])
    return None


def strip_time(rows):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in rows]


def dump_logs(run_dir):
    for n in sorted(os.listdir(run_dir)):
        if n.endswith(".log"):
            print("----- %s" % n)
            t = log_text(run_dir, n)
            t = "\n".join(l for l in t.splitlines() if not l.startswith("  ") and not l.endswith(":"))
            print(t[:3000] + ("\n...\n" + t[-3000:] if len(t) > 6000 else t[3000:]))


def done(tmp):
    if check.failures:
        for d in sorted(os.listdir(tmp)):
            p = os.path.join(tmp, d)
            if os.path.isdir(p):
                print("===== run dir", p)
                dump_logs(p)
    return check.summary()


# ---- scenario: 2 ranks + 2 workers, a worker killed mid-lease, a late worker, garbage bytes ----

def send_garbage(endpoint):
    import zmq  # Debian's python3-zmq
    host_port = endpoint.replace("tcp://", "")
    host, port = host_port.rsplit(":", 1)
    # raw bytes straight onto the TCP port (not even a ZMTP greeting)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(os.urandom(200))
    s.close()
    ctx = zmq.Context()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 500)
    d.connect(endpoint)
    d.send(b"\xc1\xc1garbage")                      # not msgpack
    d.send(b"\x81\xa1v\x01")                         # a map without "type"
    d.send(b"\x82\xa1v\x01\xa4type\xa5group")      # a group with no fields
    d.send_multipart([b"a", b"b"])                    # wrong number of frames
    d.send(b"\xdf\xff\xff\xff\xff")                  # map header claiming 2^32 entries
    time.sleep(0.5)
    d.close()
    ctx.term()
    return 5


def scenario_pool(tmp):
    run = os.path.join(tmp, "pool")
    learner = start_learner(run, 2, ["trainer.total_training_steps=8", "trainer.save_freq=0"])
    if not wait_for(lambda: os.path.exists(os.path.join(run, "rendezvous.json")), 30, "rendezvous.json"):
        stop([learner]); return
    rdv = json.load(open(os.path.join(run, "rendezvous.json")))
    check(rdv.get("protocol") == 1 and rdv.get("endpoint", "").startswith("tcp://"), "rendezvous file: %r" % rdv)
    # w1 serves 3 groups, then holds its next lease until it is SIGKILLed
    w1 = start_worker(run, "w1", "--hang-after", "3", "--credits", "1")
    w2 = start_worker(run, "w2", "--delay", "0.05")
    # (the hung worker's client thread keeps heartbeating, so only the kill ends its lease)
    wait_for(lambda: "holding lease" in log_text(run, "worker-w1.log"), 20, "w1 to hold a lease")
    w1.send_signal(signal.SIGKILL)
    w1.wait()
    wait_for(lambda: len(metrics(run)) >= 1, 40, "the first step")
    n_bad = send_garbage(rdv["endpoint"])
    w3 = start_worker(run, "w3")   # a worker started later joins
    rc = finish(learner, 60)
    stop([w2, w3])
    check(rc == 0, "learner exit code %s" % rc)
    m = metrics(run)
    check(len(m) == 8, "8 metrics lines, got %d" % len(m))
    need = ["step", "policy_version", "reward_mean", "accuracy", "response_length_mean", "response_length_max",
            "entropy_mean", "entropy_pos", "entropy_neg", "ppl_mean", "clipfrac", "clipfrac_lower", "grad_norm", "lr",
            "staleness_mean", "logprob_gap", "quality_boxed_violation", "quality_cjk", "tokens_per_s", "time_wait_s",
            "time_train_s", "time_sync_s", "stage"]
    for k in need:
        check(all(k in r for r in m), "metrics key %s present on every line" % k)
    check([r["step"] for r in m] == list(range(1, 9)), "steps 1..8 in order")
    check([r["policy_version"] for r in m] == list(range(1, 9)), "policy versions 1..8")
    check(all(r["staleness_mean"] == 0 for r in m), "on-policy: staleness 0")
    check(all(r["sequences"] == 16 for r in m), "every step trains 4 prompts x 4 responses")
    k = counters(run)
    if check(k is not None, "coordinator counters printed at exit"):
        check(k["prompts_enqueued"] == 32, "32 prompts enqueued, got %d" % k["prompts_enqueued"])
        check(k["groups_taken"] == 32, "every enqueued prompt taken exactly once (%d)" % k["groups_taken"])
        check(k["queued"] == 0 and k["outstanding"] == 0 and k["ready"] == 0, "nothing left in the coordinator")
        check(k["leases_expired"] + k["workers_timed_out"] + k["workers_disconnected"] >= 1 and k["requeued"] >= 1,
              "the killed worker's lease ended (its connection closed, or it timed out) and was re-queued: %r" % k)
        check(k["workers_joined"] >= 3, "the late worker joined (%d joins)" % k["workers_joined"])
        check(k["bad_total"] >= n_bad - 1, "garbage counted as bad messages (%d of %d)" % (k["bad_total"], n_bad))
    ids = []
    with open(os.path.join(run, "batches.jsonl")) as f:
        for line in f:
            ids += json.loads(line)["prompt_ids"]
    check(len(ids) == 32 and len(set(ids)) == 32, "no prompt used twice or lost: %d ids, %d distinct" % (len(ids), len(set(ids))))
    check(os.path.exists(os.path.join(run, "checkpoints", "ckpt_000008.h5")), "final checkpoint written")


# ---- scenario: the real rollout workers through launch/run_local.sh ----

def scenario_run_local(tmp):
    run = os.path.join(tmp, "local")
    e = env()
    e["RLVR_BIN"] = BIN
    cmd = ["bash", os.path.join(ROOT, "launch/run_local.sh"), "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"),
           "--run-dir", run, "--np", "2", "--workers", "2"] + BASE + ["trainer.total_training_steps=3"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=ROOT, timeout=120)
    check(p.returncode == 0, "run_local.sh exits 0:\n" + (p.stdout + p.stderr)[-2000:])
    m = metrics(run)
    check(len(m) == 3, "run_local.sh: 3 steps (got %d)" % len(m))
    for r in m:
        check(r["response_tokens"] > 0 and r["sequences"] == 16, "step %d trained on real rollouts" % r["step"])
        # the workers' log-probs and the learner's agree: same engine, same sequence layout, same temperature
        check(r["logprob_gap_max"] < 1e-3, "step %d: worker vs learner log-prob gap %.3g" % (r["step"], r["logprob_gap_max"]))
    check(not any(n.endswith(".pid") for n in os.listdir(os.path.join(run, "workers"))), "workers stopped")


# ---- scenario: weights over coordinator.max_message_mb reach the workers ----

def scenario_big_weights(tmp):
    """A 13.1M-parameter model (52 MB of weights) with coordinator.max_message_mb=40: the weights must be
    published in chunks a worker's SUB socket accepts (at most 16 MiB); chunks of max_message_mb / 2 (20 MiB)
    were dropped by every worker, which then waited for the weights forever."""
    run = os.path.join(tmp, "big")
    e = env()
    e["RLVR_BIN"] = BIN
    big = ["model.path=", "model.init.hidden_size=768", "model.init.intermediate_size=2048", "model.init.num_layers=2",
           "model.init.num_heads=4", "model.init.num_kv_heads=2", "data.train_batch_size=2", "actor.ppo_mini_batch_size=2",
           "actor.ppo_micro_batch_size_per_gpu=8", "rollout.n=4", "rollout.max_staleness=0", "trainer.save_freq=0",
           "trainer.test_freq=0", "trainer.total_training_steps=1", "coordinator.max_message_mb=40"]
    cmd = ["bash", os.path.join(ROOT, "launch/run_local.sh"), "--config", os.path.join(ROOT, "configs/demo_cpu.yaml"),
           "--run-dir", run, "--np", "2", "--workers", "2"] + big
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=e, cwd=ROOT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)  # run_local.sh stops the learner and the workers it started
        out, _ = p.communicate(timeout=60)
        check(False, "a 52 MB model with coordinator.max_message_mb=40: no step in 150 s (weights never reached the workers?)")
        return
    check(p.returncode == 0, "big weights: run_local.sh exits 0:\n" + out[-2000:])
    check(len(metrics(run)) == 1, "big weights: one step trained on the workers' rollouts")
    check("13081344 parameters" in out, "big weights: the model has the 13.1M parameters the test means")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_learner_") as tmp:
        t0 = time.time()
        scenario_pool(tmp)
        print("scenario_pool %.1fs" % (time.time() - t0))
        if os.path.exists(os.path.join(BIN, "rollout")):
            t0 = time.time()
            scenario_run_local(tmp)
            print("scenario_run_local %.1fs" % (time.time() - t0))
            t0 = time.time()
            scenario_big_weights(tmp)
            print("scenario_big_weights %.1fs" % (time.time() - t0))
        else:
            print("scenario_run_local not run: no rollout program in %s" % BIN)
        sys.exit(done(tmp))
