#!/usr/bin/python3
"""A rollout worker written from docs/protocol.md alone (pyzmq + msgpack + h5py): the page's reference
example. It speaks every part of the protocol a worker needs: the rendezvous file (and reconnecting
when it changes), hello / welcome / request, heartbeats from a timer, assignments, groups with binary
blobs, the weights broadcast (reassembled, CRC-checked, and checked against the layout the page gives
for the model file of the rendezvous), the restart rule for weights of an earlier session, the error
codes a worker must act on, and goodbye on SIGTERM.

It is not a language model: it answers each prompt with "\\boxed{<answer>}" (right with probability
--p-correct, else a wrong number), in the "char" tokenizer, with made-up log-probs inside the page's
bounds, and it scores its answers the way the "arith" / "math" verifiers do. The learner trains on
those groups like on any other.

    conformance_client.py RUN_DIR NAME [--credits N] [--p-correct P] [--gen-delay S] [--stats FILE] [--max-seconds S]

(--gen-delay: seconds each group takes, like a real model's generation time.)

On exit it writes a JSON summary (--stats) of what it did: groups sent, errors received by code,
sessions seen, weights versions loaded, weights discarded by the restart rule, layout checks passed.
"""
import json
import math
import os
import random
import signal
import struct
import sys
import time
import zlib

import h5py
import msgpack
import numpy as np
import zmq

LOGPROB_MIN = -103.27893          # page §2: log of the smallest positive float32
CHAR_EOS, CHAR_VOCAB = 2, 128     # page §2: the "char" tokenizer


def log(*a):
    print("conformance[%s]:" % NAME, *a, file=sys.stderr, flush=True)


def pack(m):
    return msgpack.packb(dict(v=1, **m), use_bin_type=True)


def expected_layout(model_path):
    """The page's §3 weights layout for the model file named in the rendezvous: [(name, shape)]."""
    with h5py.File(model_path, "r") as f:
        a = f["config"].attrs
        g = lambda k, d=None: (int(a[k]) if k in a else d)
        V, C, I, L = g("vocab_size"), g("hidden_size"), g("intermediate_size"), g("num_hidden_layers")
        H, KV = g("num_attention_heads"), g("num_key_value_heads", g("num_attention_heads"))
        D = g("head_dim", C // H)
        bias = bool(g("attention_bias", 0))
        tied = bool(g("tie_word_embeddings", 0))
        files = {k: np.asarray(f["model"][k], dtype="<f4") for k in f["model"]} if "model" in f else {}
    QD, KD = H * D, KV * D
    t = [("model.embed_tokens.weight", (V, C))]
    for l in range(L):
        p = "model.layers.%d." % l
        t.append((p + "input_layernorm.weight", (C,)))
        t.append((p + "self_attn.q_proj.weight", (QD, C)))
        if bias: t.append((p + "self_attn.q_proj.bias", (QD,)))
        t.append((p + "self_attn.k_proj.weight", (KD, C)))
        if bias: t.append((p + "self_attn.k_proj.bias", (KD,)))
        t.append((p + "self_attn.v_proj.weight", (KD, C)))
        if bias: t.append((p + "self_attn.v_proj.bias", (KD,)))
        t.append((p + "self_attn.o_proj.weight", (C, QD)))
        t.append((p + "post_attention_layernorm.weight", (C,)))
        t.append((p + "mlp.gate_proj.weight", (I, C)))
        t.append((p + "mlp.up_proj.weight", (I, C)))
        t.append((p + "mlp.down_proj.weight", (C, I)))
    t.append(("model.norm.weight", (C,)))
    if not tied:
        t.append(("lm_head.weight", (V, C)))
    return t, files


class Client:
    def __init__(self, run_dir, name, credits, p_correct, gen_delay=0.0):
        self.run_dir, self.name, self.credits, self.p_correct, self.gen_delay = run_dir, name, credits, p_correct, gen_delay
        self.ctx = zmq.Context()
        self.dealer = self.sub = None
        self.rdv, self.rdv_mtime = None, 0.0
        self.welcome = None
        self.session = None
        self.weights = None            # bytes of the loaded weights
        self.held = -1                 # their version (-1: none)
        self.weights_session = None    # the session that published them
        self.asm = None                # weights being reassembled
        self.pending = []              # assignments waiting for weights
        self.hb_s, self.next_hb, self.next_wreq = 1.0, 0.0, 0.0
        self.layout = None
        self.stats = dict(groups=0, errors={}, sessions=0, reconnects=0, versions_loaded=[], discarded_newer=0,
                          layout_checks=0, layout_values_checked=0, crc_failures=0, assigns=0)
        self.stop = False

    # ---- connection ----
    def read_rendezvous(self):
        path = os.path.join(self.run_dir, "rendezvous.json")
        while True:
            try:
                st = os.stat(path)
                with open(path) as f:
                    r = json.load(f)
                return r, st.st_mtime
            except (OSError, ValueError):
                if self.stop:
                    return None, 0
                time.sleep(0.1)

    def connect(self):
        r, mt = self.read_rendezvous()
        if r is None:
            return
        for s in (self.dealer, self.sub):
            if s is not None:
                s.close(linger=0)
        self.rdv, self.rdv_mtime = r, mt
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 1000)
        self.dealer.connect(r["endpoint"])
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.setsockopt(zmq.RCVHWM, 0)     # a version's chunks must not be dropped here
        self.sub.connect(r["pub_endpoint"])
        self.asm = None
        self.welcome = None
        if r.get("model"):
            self.layout = expected_layout(r["model"])
        self.hello()

    def send(self, m):
        self.dealer.send(pack(m))

    def hello(self):
        self.send(dict(type="hello", worker=self.name, software="conformance-py/1", pid=os.getpid(),
                       caps=["weights_chunks"]))
        self.send(dict(type="request", credits=self.credits))

    # ---- weights ----
    def on_chunk(self, m):
        if m["dtype"] != "f32":
            return
        a = self.asm
        if a is None or a["version"] != m["version"] or a["crc"] != m["crc32"] or a["total"] != m["total_bytes"]:
            a = self.asm = dict(version=m["version"], crc=m["crc32"], total=m["total_bytes"], n=m["n_chunks"],
                                buf=bytearray(m["total_bytes"]), got=set())
        a["buf"][m["offset"]:m["offset"] + len(m["data"])] = m["data"]
        a["got"].add(m["index"])
        if len(a["got"]) < a["n"]:
            return
        self.asm = None
        if zlib.crc32(bytes(a["buf"])) & 0xFFFFFFFF != a["crc"]:
            self.stats["crc_failures"] += 1
            self.request_weights(force=True)
            return
        self.check_layout(a["buf"], a["version"])
        # a complete broadcast of the current session replaces what is held, a lower version included
        self.weights, self.held, self.weights_session = bytes(a["buf"]), a["version"], self.session
        self.stats["versions_loaded"].append(a["version"])
        self.send(dict(type="heartbeat", worker=self.name, policy_version=self.held, held=len(self.pending)))
        self.work_pending()

    def check_layout(self, buf, version):
        if not self.layout:
            return
        tensors, files = self.layout
        n = sum(int(np.prod(s)) for _, s in tensors)
        if len(buf) != 4 * n:
            raise SystemExit("layout: weights version %d has %d bytes, the page's layout of the model file says %d"
                             % (version, len(buf), 4 * n))
        self.stats["layout_checks"] += 1
        if version != 0 or not files:
            return
        # version 0 of a fresh run is the model file's weights: every tensor at its place
        flat = np.frombuffer(bytes(buf), dtype="<f4")
        off = 0
        for name, shape in tensors:
            k = int(np.prod(shape))
            if name in files and not np.array_equal(flat[off:off + k], files[name].reshape(-1)):
                raise SystemExit("layout: tensor %s is not at float offset %d of the broadcast" % (name, off))
            self.stats["layout_values_checked"] += 1 if name in files else 0
            off += k

    def request_weights(self, force=False):
        now = time.time()
        if force or now >= self.next_wreq:
            self.send(dict(type="weights_request", have_version=self.held))
            self.next_wreq = now + 1.0

    # ---- work ----
    def on_welcome(self, m):
        self.welcome = m
        self.hb_s = m["heartbeat_s"]
        if m.get("tokenizer") not in (None, "", "char"):
            raise SystemExit("this client only knows the 'char' tokenizer, the coordinator uses %r" % m["tokenizer"])
        if m["session"] != self.session:
            self.session = m["session"]
            self.stats["sessions"] += 1
        # the restart rule (page §4): weights of an earlier session above the current version are void
        if self.held > m["policy_version"] and self.weights_session != self.session:
            log("discarding weights version %d: the coordinator restarted at version %d" % (self.held, m["policy_version"]))
            self.weights, self.held = None, -1
            self.stats["discarded_newer"] += 1
        if m["weights_version"] >= 0 and m["weights_version"] != self.held:
            self.next_wreq = time.time() + 0.2     # give the fresh SUB connection a moment
        self.next_hb = 0.0

    def on_error(self, m):
        code = m["code"]
        self.stats["errors"][code] = self.stats["errors"].get(code, 0) + 1
        log("error %s: %s" % (code, m.get("message", "")))
        if code == "unknown_worker":
            self.pending = []          # leases from before are void
            self.hello()
        elif code == "unknown_version":
            self.weights, self.held = None, -1
            self.request_weights(force=True)

    def work_pending(self):
        """Generates what the loaded weights may answer: an assignment's policy_version - max_staleness
        at most (page §3, assign); the rest waits for newer weights (asked for after a second)."""
        if self.held < 0 or self.welcome is None:
            return
        stale = self.welcome["max_staleness"]
        todo = [a for a in self.pending if a["policy_version"] - stale <= self.held]
        self.pending = [a for a in self.pending if a["policy_version"] - stale > self.held]
        if self.pending and self.next_wreq < time.time():
            self.next_wreq = time.time() + 1.0     # the broadcast is on its way; ask if it does not come
        for a in todo:
            if self.gen_delay > 0:
                self.sleep_heartbeating(self.gen_delay)
            self.send(self.group(a))

    def sleep_heartbeating(self, seconds):
        """Generation time: heartbeats go on meanwhile (page §3, heartbeat)."""
        end = time.time() + seconds
        while time.time() < end:
            if time.time() >= self.next_hb:
                self.send(dict(type="heartbeat", worker=self.name, policy_version=self.held, held=len(self.pending)))
                self.next_hb = time.time() + self.hb_s
            time.sleep(min(0.02, max(0.0, end - time.time())))

    def group(self, a):
        toks = struct.unpack("<%di" % (len(a["prompt_tokens"]) // 4), a["prompt_tokens"])
        if any(t < 0 or t >= self.welcome.get("vocab_size", CHAR_VOCAB) for t in toks):
            raise SystemExit("assignment %d: a prompt token is outside the vocabulary" % a["prompt_id"])
        s = a["sampling"]
        responses = []
        for i in range(a["group_size"]):
            rng = random.Random(a["seed"] * 1000003 + i)       # sample i: a stream from (seed, i)
            ans = a["answer"] if rng.random() < self.p_correct else str(int(rng.random() * 1000) + 1000)
            text = "\\boxed{%s}" % ans
            t = [ord(c) for c in text] + [CHAR_EOS]
            finish = "stop"
            if len(t) > s["max_new_tokens"]:
                t, finish = t[:s["max_new_tokens"]], "length"
            ok = finish == "stop" and verify(a["verifier"], a["answer"], text)
            lp = [max(LOGPROB_MIN, math.log(0.5 + 0.4 * rng.random())) for _ in t]
            responses.append(dict(tokens=struct.pack("<%di" % len(t), *t), logprobs=struct.pack("<%df" % len(lp), *lp),
                                  reward=1.0 if ok else -1.0, correct=ok, finish=finish, boxed_count=1))
        self.stats["groups"] += 1
        return dict(type="group", prompt_id=a["prompt_id"], lease_id=a["lease_id"], seed=a["seed"],
                    policy_version=self.held, worker=self.name, responses=responses)

    # ---- loop ----
    def run(self, max_seconds):
        self.connect()
        poller = zmq.Poller()
        t_end = time.time() + max_seconds
        while not self.stop and time.time() < t_end:
            poller = zmq.Poller()
            poller.register(self.dealer, zmq.POLLIN)
            poller.register(self.sub, zmq.POLLIN)
            now = time.time()
            if self.welcome is not None and now >= self.next_hb:
                self.send(dict(type="heartbeat", worker=self.name, policy_version=self.held, held=len(self.pending)))
                self.next_hb = now + self.hb_s
            if self.welcome is not None and (self.held < 0 or self.pending) and now >= self.next_wreq:
                self.request_weights()
            try:
                st = os.stat(os.path.join(self.run_dir, "rendezvous.json"))
                if st.st_mtime != self.rdv_mtime:
                    r, _ = self.read_rendezvous()
                    if r and (r["endpoint"] != self.rdv["endpoint"] or r.get("session") != self.rdv.get("session")):
                        log("the learner restarted (%s): reconnecting" % r["endpoint"])
                        self.stats["reconnects"] += 1
                        self.pending = []
                        self.connect()
                        continue
                    self.rdv_mtime = st.st_mtime
            except OSError:
                pass
            for sock, _ in poller.poll(50):
                for _ in range(64):    # a bounded batch per socket, so neither starves the other
                    try:
                        frame = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    m = msgpack.unpackb(frame, raw=False)
                    t = m.get("type")
                    if t == "welcome": self.on_welcome(m)
                    elif t == "assign":
                        self.stats["assigns"] += 1
                        self.pending.append(m)
                        self.work_pending()
                    elif t == "error": self.on_error(m)
                    elif t == "weights_chunk": self.on_chunk(m)
        if self.dealer is not None:
            self.send(dict(type="goodbye", worker=self.name, reason="stopped"))
            self.dealer.close(linger=1000)
        if self.sub is not None:
            self.sub.close(linger=0)
        self.ctx.term()


def verify(verifier, gold, text):
    """The "arith" / "math" verdict on the final \\boxed{...} answer (exact match after trimming)."""
    i = text.rfind("\\boxed{")
    if i < 0:
        return False
    j = text.find("}", i)
    return j > i and text[i + 7:j].strip() == gold.strip()


def main():
    global NAME
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run_dir, NAME = args[0], args[1]
    opts = dict(zip(args[2::2], args[3::2]))
    c = Client(run_dir, NAME, int(opts.get("--credits", 2)), float(opts.get("--p-correct", 0.5)), float(opts.get("--gen-delay", 0)))
    signal.signal(signal.SIGTERM, lambda *_: setattr(c, "stop", True))
    c.run(float(opts.get("--max-seconds", 600)))
    if "--stats" in opts:
        with open(opts["--stats"] + ".tmp", "w") as f:
            json.dump(c.stats, f)
        os.replace(opts["--stats"] + ".tmp", opts["--stats"])


NAME = "?"
if __name__ == "__main__":
    main()
