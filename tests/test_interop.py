#!/usr/bin/python3
"""A Python worker written from docs/protocol.md alone (pyzmq + msgpack), acting against the real
coordinator (tests/coord_test_server). Checks hello/welcome, credits, assignments, groups with binary
blobs, a duplicate, a bad message answered with an error, heartbeats, the weights broadcast with its
CRC-32, and goodbye; then compares what the coordinator decoded with what was sent."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import msgpack
import zmq

from checks import Checks

ROOT = os.environ.get("RLVR_ROOT", ".")
SERVER = os.environ.get("RLVR_COORD_SERVER") or os.path.join(os.environ.get("RLVR_BIN", "build/bin"), "..", "tests", "coord_test_server")
N_PROMPTS, G, N_WEIGHTS, CHUNK = 5, 3, 100000, 65536
check = Checks()


def pack(msg):
    return msgpack.packb(dict(v=1, **msg), use_bin_type=True)


def unpack(frame):
    return msgpack.unpackb(frame, raw=False)


def main():
    tmp = tempfile.mkdtemp(prefix="rlvr_interop_")
    rdv = os.path.join(tmp, "rendezvous.json")
    srv = subprocess.Popen([SERVER, rdv, str(N_PROMPTS), str(G), str(N_WEIGHTS), str(CHUNK), "20"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not os.path.exists(rdv) and time.time() < deadline:
        time.sleep(0.02)
    r = json.load(open(rdv))
    check(r["protocol"] == 1 and r["endpoint"].startswith("tcp://"), "rendezvous file fields")

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(r["endpoint"])
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(r["pub_endpoint"])
    worker = "py-interop:%d" % os.getpid()
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)

    pending = []  # messages of another type that arrived while waiting for one

    def recv(want, timeout=5.0):
        for i, m in enumerate(pending):
            if m["type"] == want:
                return pending.pop(i)
        end = time.time() + timeout
        while time.time() < end:
            if dict(poller.poll(50)).get(s):
                m = unpack(s.recv())
                check(m.get("v") == 1, "every message carries v=1")
                if m["type"] == want:
                    return m
                pending.append(m)
        return None

    s.send(pack(dict(type="hello", worker=worker, software="py-test/1", pid=os.getpid(), caps=["entropies", "weights_chunks"])))
    welcome = recv("welcome")
    check(welcome is not None, "welcome received")
    check(welcome["weights_version"] == 2 and welcome["pub_endpoint"] == r["pub_endpoint"], "welcome announces weights v2")
    check(welcome["heartbeat_s"] > 0 and welcome["lease_s"] > welcome["heartbeat_s"], "welcome timing fields")

    # credits: ask for 2, get exactly 2
    s.send(pack(dict(type="request", credits=2)))
    a1, a2 = recv("assign"), recv("assign")
    check(a1 is not None and a2 is not None, "two assignments")
    check(recv("assign", 0.4) is None, "no third assignment beyond 2 credits")
    s.send(pack(dict(type="heartbeat", worker=worker, policy_version=-1, held=2)))

    # the weights broadcast happened before we subscribed: ask for a re-publish
    time.sleep(0.2)
    s.send(pack(dict(type="weights_request", have_version=-1)))
    chunks, total, want_crc, n_chunks = {}, None, None, None
    end = time.time() + 5
    while time.time() < end and (n_chunks is None or len(chunks) < n_chunks):
        if sub.poll(100):
            m = unpack(sub.recv())
            if m["type"] == "weights_chunk" and m["version"] == 2:
                check(m["dtype"] == "f32", "dtype f32")
                total, want_crc, n_chunks = m["total_bytes"], m["crc32"], m["n_chunks"]
                chunks[m["index"]] = (m["offset"], m["data"])
    check(n_chunks is not None and len(chunks) == n_chunks, "all weight chunks arrived")
    if n_chunks is not None and len(chunks) == n_chunks:
        buf = bytearray(total)
        for off, data in chunks.values():
            buf[off:off + len(data)] = data
        check(zlib.crc32(bytes(buf)) == want_crc, "weights CRC-32 matches zlib.crc32")
        w = struct.unpack("<%df" % (total // 4), bytes(buf))
        check(len(w) == N_WEIGHTS and w[0] == -1.0 and w[12345] == 0.25 * 12345 - 1.0, "weights values")

    sent = {}

    def answer(a, version):
        toks = struct.unpack("<%di" % (len(a["prompt_tokens"]) // 4), a["prompt_tokens"])
        check(a["sampling"]["temperature"] == 1.0 and a["group_size"] == G and a["verifier"] == "arith", "assignment fields")
        check(a["text"] == "What is %d+%d?" % (toks[3], toks[3]) and a["answer"] == str(2 * toks[3]), "prompt text/answer")
        resp = []
        for i in range(G):
            t = [7 + i, 8, 9, int(a["prompt_id"] % 100)]
            lp = [-0.5, -0.25, -0.125, -1.0 - i]
            ent = [0.5, 1.5, 0.0, 2.0]
            resp.append(dict(tokens=struct.pack("<4i", *t), logprobs=struct.pack("<4f", *lp),
                             entropies=struct.pack("<4f", *ent) if i == 0 else None,
                             reward=-1 if i else 1, correct=(i == 0), finish="length" if i == 1 else "stop",
                             boxed_count=1, has_cjk=False, repetition=(i == 2), gen_seconds=0.5))
        msg = dict(type="group", prompt_id=a["prompt_id"], lease_id=a["lease_id"], seed=a["seed"],
                   policy_version=version, worker=worker, responses=resp)
        sent[a["prompt_id"]] = msg
        s.send(pack(msg))
        return msg

    g1 = answer(a1, 2)
    s.send(pack(g1))  # a duplicate: dropped and counted, no error
    # a bad message: a positive log-prob is rejected with an error naming the field
    bad = dict(g1)
    bad["responses"] = [dict(g1["responses"][0], logprobs=struct.pack("<4f", -1.0, 0.5, -1.0, -1.0))] * G
    bad["lease_id"] = a2["lease_id"]
    bad["prompt_id"] = a2["prompt_id"]
    s.send(pack(bad))
    err = recv("error")
    check(err is not None and err["code"] == "value" and "logprobs" in err["message"], "error reply names the bad field")
    # token ids as a msgpack array instead of a bin blob: a 'field' error
    s.send(pack(dict(type="group", prompt_id=1, lease_id=1, policy_version=0, worker=worker,
                     responses=[dict(tokens=[1, 2], logprobs=[-1.0, -1.0], reward=0, finish="stop")])))
    err = recv("error")
    check(err is not None and err["code"] == "field", "tokens sent as an array are rejected")

    # the lease of a2 ended with the bad group (re-queued); serve everything that comes
    served = 1
    end = time.time() + 10
    while served < N_PROMPTS and time.time() < end:
        a = recv("assign", 0.5)
        if a is not None:
            answer(a, 2)
            served += 1
            s.send(pack(dict(type="heartbeat", worker=worker, policy_version=2, held=1)))
    check(served == N_PROMPTS, "served all prompts (%d)" % served)
    s.send(pack(dict(type="goodbye", worker=worker, reason="interop test done")))

    out, errtxt = srv.communicate(timeout=30)
    check(srv.returncode == 0, "coordinator server exit status %s: %s" % (srv.returncode, errtxt[-500:]))
    groups = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    counters = json.loads([l for l in out.splitlines() if l.startswith("COUNTERS ")][0][len("COUNTERS "):])
    check(len(groups) == N_PROMPTS and len({g["prompt_id"] for g in groups}) == N_PROMPTS, "each prompt delivered once")
    for g in groups:
        m = sent[g["prompt_id"]]
        r0 = m["responses"][0]
        check(g["n_responses"] == G and g["policy_version"] == 2 and g["worker"] == worker, "group header decoded")
        check(g["tokens"] == list(struct.unpack("<4i", r0["tokens"])), "tokens decoded")
        check(g["logprobs"] == list(struct.unpack("<4f", r0["logprobs"])), "logprobs decoded")
        check(g["entropies"] == list(struct.unpack("<4f", r0["entropies"])), "entropies decoded")
        check(g["reward"] == 1 and g["correct"] and g["finish"] == "stop" and g["boxed_count"] == 1, "scalars decoded")
        check(g["gen_seconds"] == 0.5 and g["answer"] == str(2 * (g["prompt_id"] - 1000)), "timing and prompt attached")
    check(counters["groups_accepted"] == N_PROMPTS, "accepted %d" % counters["groups_accepted"])
    check(counters["duplicates_dropped"] == 1, "one duplicate dropped")
    check(counters["bad_value"] == 1 and counters["bad_field"] == 1, "bad messages counted by reason")
    check(counters["workers_joined"] == 1 and counters["workers_left"] == 1, "joined/left counted")
    check(counters["weights_republished"] >= 1, "weights re-published on request")
    s.close(0)
    sub.close(0)
    ctx.term()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
