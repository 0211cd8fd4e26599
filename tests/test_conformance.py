#!/usr/bin/env python3
"""The page's reference client (tests/conformance_client.py, written from docs/protocol.md alone)
against the real learner, with hostile peers beside it and a learner crash in the middle:
  - hostile probes: a never-issued lease id is `unknown_prompt`; an absurd but finite log-prob and a
    reward that contradicts `correct` are `value` errors; a client that takes 64 credits and closes
    its connection without a goodbye gives its prompts back when the connection closes (at the latest
    after dead_after_s, 1.5 s here; not after lease_s, 120 s) and is no longer counted as connected;
  - the learner is SIGKILLed while the client holds weights newer than the last checkpoint, and
    resumed: the client follows the page's restart rule (discards them, loads the coordinator's),
    is never refused, and the resumed run finishes every step;
  - the weights broadcast matches the layout the page gives for the model file (every tensor of
    version 0 at its place), and the welcome carries the limits the page lists.
"""
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import check, done, finish, log_text, metrics, start_learner, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = ["trainer.total_training_steps=8", "trainer.save_freq=3", "coordinator.lease_s=120", "coordinator.heartbeat_s=0.5",
         "algorithm.filter_groups.enable=false"]


def start_client(run, name, *args):
    log = open(os.path.join(run, "client-%s.log" % name), "ab")
    return subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "conformance_client.py"), run, name,
                             "--stats", os.path.join(run, "stats-%s.json" % name)] + list(args),
                            stdout=log, stderr=subprocess.STDOUT)


class Probe:
    """A hand-driven DEALER for the hostile cases."""

    def __init__(self, run, name, credits):
        r = json.load(open(os.path.join(run, "rendezvous.json")))
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(r["endpoint"])
        self.name = name
        self.send(dict(type="hello", worker=name))
        self.welcome = self.recv("welcome")
        self.send(dict(type="request", credits=credits))

    def send(self, m):
        self.s.send(msgpack.packb(dict(v=1, **m), use_bin_type=True))

    def recv(self, want, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            if self.s.poll(50):
                m = msgpack.unpackb(self.s.recv(), raw=False)
                if m.get("type") == want:
                    return m
        return None

    def close(self):
        self.s.close(linger=0)
        self.ctx.term()


def group(name, lease_id, prompt_id, lp=-0.5, reward=1.0, correct=True, n=4):
    t = [ord(c) for c in "\\boxed{1}"] + [2]
    r = dict(tokens=struct.pack("<%di" % len(t), *t), logprobs=struct.pack("<%df" % len(t), *([lp] * len(t))),
             reward=reward, correct=correct, finish="stop")
    return dict(type="group", prompt_id=prompt_id, lease_id=lease_id, policy_version=0, worker=name, responses=[r] * n)


def hostile(run):
    p = Probe(run, "probe", 0)
    w = p.welcome or {}
    check(w.get("dead_after_s") == 1.5 and w.get("max_group") == 4 and w.get("vocab_size") == 128 and w.get("eos_token_id") == 2
          and w.get("tokenizer") == "char" and w.get("max_credits") == 8 and w.get("max_tokens", 0) >= 1
          and w.get("max_prompt_tokens", 0) >= 1 and w.get("max_objects") == 64 + 48 * 4 + 256,
          "the welcome tells the limits, vocabulary, EOS and tokenizer: %r" % {k: v for k, v in w.items() if k != "v"})
    # a lease id that was never issued, however small: unknown_prompt, not a silent "late"
    p.send(group("probe", 5, 1))
    e = p.recv("error")
    check(e is not None and e["code"] == "unknown_prompt", "never-issued lease id 5: %r" % (e,))
    # finite but impossible log-prob (what no float32 softmax gives a sampled token)
    p.send(group("probe", 7, 1, lp=-1e30))
    e = p.recv("error")
    check(e is not None and e["code"] == "value" and "logprobs" in e["message"], "log-prob -1e30 is a value error: %r" % (e,))
    # the reward and the verdict are one thing: a contradiction is an error
    p.send(group("probe", 9, 1, reward=1.0, correct=False))
    e = p.recv("error")
    check(e is not None and e["code"] == "value" and "contradicts" in e["message"], "reward 1 with correct false: %r" % (e,))
    p.send(dict(type="goodbye", worker="probe"))
    p.close()


def grabber(run):
    """Takes 64 credits, receives what it can, closes without a goodbye. Returns (assignments, close time)."""
    p = Probe(run, "grabber", 64)
    got = 0
    end = time.time() + 3
    while time.time() < end and got < 2:
        if p.recv("assign", 0.2) is not None:
            got += 1
    t = time.time()
    p.close()
    return got, t


def kill_learner(learner):
    """A crash: SIGKILL to the ranks and to mpirun at once (mpirun's death alone makes the ranks
    checkpoint and stop in order, which is not what this test is after)."""
    ranks = subprocess.run(["pgrep", "-P", str(learner.pid)], capture_output=True, text=True).stdout.split()
    for r in ranks:
        try:
            os.kill(int(r), signal.SIGKILL)
        except OSError:
            pass
    os.killpg(learner.pid, signal.SIGKILL)
    learner.wait()


def page_agrees_with_schema():
    """The limits table of docs/protocol.md states the config schema's defaults (learner --help-config)
    and what the coordinator derives from them."""
    from test_learner_e2e import LEARNER, ROOT, env
    page = open(os.path.join(ROOT, "docs", "protocol.md")).read()
    out = subprocess.run([LEARNER, "--help-config"], capture_output=True, text=True, env=env()).stdout
    d = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] == "default":
            try:
                d[f[0]] = float(f[2])
            except ValueError:
                pass
    g = lambda k: d.get(k, float("nan"))
    hb = min(g("coordinator.heartbeat_s"), g("coordinator.lease_s") / 3)
    want = ["`coordinator.max_message_mb` × 2^20 (%d MiB)" % g("coordinator.max_message_mb"),
            "`rollout.n` (%d)" % g("rollout.n"), "`data.max_response_length` (%d)" % g("data.max_response_length"),
            "`data.max_prompt_length` (%d)" % g("data.max_prompt_length"),
            "4 × `rollout.credits` (%d)" % (4 * g("rollout.credits")),
            "64 + 48 × `max_group` + 256 (%d)" % (64 + 48 * g("rollout.n") + 256),
            "`coordinator.lease_s` (%g s)" % g("coordinator.lease_s"), "`coordinator.heartbeat_s` (%g s)" % g("coordinator.heartbeat_s"),
            "3 × `heartbeat_s`) (%g s)" % min(g("coordinator.lease_s"), 3 * hb),
            "`coordinator.max_lease_s` (%g: none)" % g("coordinator.max_lease_s"),
            "`rollout.max_staleness` (%g: on-policy)" % g("rollout.max_staleness"),
            "`coordinator.endpoint`, default `tcp://127.0.0.1:0`", "`coordinator.pub_endpoint`, default `tcp://127.0.0.1:0`"]
    check(len(d) > 20, "learner --help-config lists the schema (%d keys)" % len(d))
    for w in want:
        check(w in page, "docs/protocol.md states the schema's default: %s" % w)
    check("tcp://127.0.0.1:0" in out and "coordinator.endpoint" in out, "the schema's endpoints are loopback, port 0")


def main(tmp):
    page_agrees_with_schema()
    run = os.path.join(tmp, "run")
    learner = start_learner(run, 1, STEPS)
    wait_for(lambda: os.path.exists(os.path.join(run, "rendezvous.json")), 30, "the rendezvous file")
    client = start_client(run, "conf", "--credits", "2", "--gen-delay", "0.2")
    wait_for(lambda: len(metrics(run)) >= 1, 60, "step 1 with the conformance client alone")
    hostile(run)

    # a client that grabs prompts and vanishes: the on-policy step goes on within dead_after_s
    n0 = len(metrics(run))
    got, t_close = grabber(run)
    check(got >= 1, "the grabber held %d assignment(s)" % got)
    wait_for(lambda: len(metrics(run)) >= n0 + 2, 30, "two more steps after the grabber vanished")
    dt = time.time() - t_close
    check(dt < 20, "the vanished grabber delayed training %.1f s (dead_after_s 1.5, lease_s 120)" % dt)

    # SIGKILL the learner once the client holds weights newer than the newest checkpoint (step 3)
    # (a step takes >= 0.4 s: 4 prompts, 2 credits, 0.2 s a group; version 4 is broadcast before the
    # step's metrics line is written)
    wait_for(lambda: len(metrics(run)) >= 4, 60, "step 4")
    time.sleep(0.1)
    kill_learner(learner)
    ck = sorted(os.listdir(os.path.join(run, "checkpoints")))
    killed_at = len(metrics(run))
    learner = start_learner(run, 1, STEPS, resume=True, log_name="resume.log")
    rc = finish(learner, 120)
    text = log_text(run, "resume.log")
    check(rc == 0, "the resumed run with the conformance client finishes (exit %s)" % rc)
    check("done at step 8" in text, "the resumed run reports done at step 8")
    check(len(metrics(run)) == 8, "8 metrics lines after the resume (killed at step %d, checkpoints %s)" % (killed_at, ck))
    print("killed at step %d with checkpoints %s" % (killed_at, ck))
    k = None
    for line in reversed(text.splitlines()):
        if line.startswith("learner: coordinator counters "):
            k = json.loads(line[len("learner: coordinator counters "):])
            break
    first = log_text(run)
    client.send_signal(signal.SIGTERM)
    try:
        client.wait(timeout=15)
    except subprocess.TimeoutExpired:
        client.kill()
    st = json.load(open(os.path.join(run, "stats-conf.json")))
    print("client stats:", json.dumps(st))
    check(st["sessions"] >= 2 and st["reconnects"] >= 1, "the client followed the learner to its new session")
    check(st["discarded_newer"] >= 1, "the client discarded weights newer than the resumed version (restart rule)")
    check(st["errors"].get("unknown_version", 0) == 0, "a page-following client is never refused as unknown_version")
    check(st["layout_checks"] >= 3 and st["layout_values_checked"] >= 10,
          "every weights version has the page's size, version 0 the model file's tensors at their places")
    check(st["crc_failures"] == 0, "no weights version failed its CRC-32")
    check(k is not None and k["bad_unknown_version"] == 0, "the coordinator refused no group of the client")
    check("'grabber' left (connection closed without a goodbye)" in first or "'grabber' left (silent" in first,
          "the grabber was taken for gone (learner log)")
    check(client.returncode == 0, "the client exits 0 on SIGTERM (%s)" % client.returncode)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_conformance_") as tmp:
        t0 = time.time()
        main(tmp)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
