#!/usr/bin/env python3
"""One flipped bit in any part of a real learner checkpoint is detected.

A short run (1 rank, 2 scripted workers) writes ckpt_000002.h5 and ckpt_000004.h5. Then, on copies of
the newest one, one bit is flipped at a time:
  - in the stored value of every attribute of the file (root, /config with rope_theta and the other
    model-config attributes, /optimizer, every dataset's crc32c), through HDF5 itself, so the file
    stays well-formed and only the checksums can tell;
  - in the data of every dataset (the raw file bytes, at its offset);
  - in the superblock.
`rlvr inspect` must fail on each copy and say why. Finally resume runs with the newest checkpoint
flipped (rope_theta, then a byte of /coordinator): the file is named and skipped, the run resumes
from ckpt_000002.h5 and finishes.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import BIN, check, done, finish, log_text, start_learner, start_worker, stop

RLVR = os.path.join(BIN, "rlvr")
STEPS = ["trainer.total_training_steps=4", "trainer.save_freq=2", "trainer.max_keep_ckpt=5"]


def inspect(path):
    r = subprocess.run([RLVR, "inspect", path], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def all_objects(f):
    names = ["/"]
    f.visit(lambda n: names.append(n))
    return names


def flip_attribute(src, dst, obj, name):
    """dst = src with bit 0 of the first byte of attribute obj/name's stored value flipped (via HDF5).
    Returns the number of file bytes that differ (the flip plus any header bookkeeping HDF5 does)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        aid = h5py.h5a.open(f[obj].id, name.encode())
        tid = aid.get_type()
        buf = np.zeros(aid.shape if aid.shape else (), dtype=aid.dtype)
        aid.read(buf, mtype=tid)
        raw = bytearray(buf.tobytes())
        raw[0] ^= 1
        aid.write(np.frombuffer(bytes(raw), dtype=aid.dtype).reshape(buf.shape), mtype=tid)
    a, b = open(src, "rb").read(), open(dst, "rb").read()
    return sum(1 for x, y in zip(a, b) if x != y) + abs(len(a) - len(b))


def flip_byte_at(src, dst, off):
    shutil.copy(src, dst)
    with open(dst, "r+b") as f:
        f.seek(off)
        c = f.read(1)[0]
        f.seek(off)
        f.write(bytes([c ^ 0x10]))


def make_run(tmp):
    run = os.path.join(tmp, "run")
    learner = start_learner(run, 1, STEPS)
    ws = [start_worker(run, "w%d" % i) for i in range(2)]
    rc = finish(learner, 60)
    stop(ws)
    check(rc == 0, "the run that writes the checkpoints exits 0 (got %s)" % rc)
    return run


def flips(tmp, newest):
    work = os.path.join(tmp, "flip.h5")
    n_attr = n_data = 0
    with h5py.File(newest, "r") as f:
        objs = all_objects(f)
        attrs = [(o, k) for o in objs for k in f[o].attrs.keys()]
        dsets = [(o, f[o].id.get_offset(), f[o].id.get_storage_size()) for o in objs if isinstance(f[o], h5py.Dataset)]
    check(any(o == "config" and k == "rope_theta" for o, k in attrs), "the checkpoint has /config rope_theta")
    missed = []
    for o, k in attrs:
        changed = flip_attribute(newest, work, o, k)
        rc, out = inspect(work)
        n_attr += 1
        if rc == 0 or changed == 0:
            missed.append("attribute %s/%s (%d bytes changed): %s" % (o, k, changed, out.strip()[-200:]))
    for o, off, size in dsets:
        if off is None or size == 0:
            continue
        flip_byte_at(newest, work, off + size // 2)
        rc, out = inspect(work)
        n_data += 1
        if rc == 0 or "checksum" not in out:
            missed.append("dataset /%s: %s" % (o, out.strip()[-200:]))
    flip_byte_at(newest, work, 0)      # the superblock's signature
    rc, out = inspect(work)
    if rc == 0:
        missed.append("superblock: " + out.strip()[-200:])
    check(not missed, "every flipped bit is detected by rlvr inspect; missed:\n  " + "\n  ".join(missed))
    check(n_attr >= 30 and n_data >= 20, "flipped %d attributes and %d datasets" % (n_attr, n_data))
    rc, out = inspect(newest)
    check(rc == 0, "the unflipped checkpoint passes rlvr inspect: " + out[-300:])
    # the message names the model config for an attribute flip
    flip_attribute(newest, work, "config", "rope_theta")
    rc, out = inspect(work)
    check(rc != 0 and "attributes" in out and "checksum" in out and "flip.h5" in out,
          "a flipped rope_theta: rlvr inspect names the file and the attribute checksum: " + out.strip()[-300:])


def resume_past(run, newest, saved, what, corrupt):
    shutil.copy(saved, newest)
    corrupt()
    for n in ("ckpt_000006.h5",):
        p = os.path.join(run, "checkpoints", n)
        if os.path.exists(p):
            os.unlink(p)
    log = "resume-%s.log" % what
    learner = start_learner(run, 1, ["trainer.total_training_steps=6", "trainer.save_freq=2", "trainer.max_keep_ckpt=5"],
                            resume=True, log_name=log)
    ws = [start_worker(run, "r%s%d" % (what, i)) for i in range(2)]
    rc = finish(learner, 60)
    stop(ws)
    text = log_text(run, log)
    check(rc == 0, "%s flipped: the resumed run exits 0 (got %s)" % (what, rc))
    check("skipping" in text and "ckpt_000004.h5" in text and "resumed from" in text and "ckpt_000002.h5" in text.split("resumed from")[1][:200],
          "%s flipped: ckpt_000004.h5 is named and skipped, ckpt_000002.h5 used:\n%s" % (what, text[-1200:]))


def main(tmp):
    run = make_run(tmp)
    newest = os.path.join(run, "checkpoints", "ckpt_000004.h5")
    if not os.path.exists(newest):
        check(False, "no ckpt_000004.h5")
        return
    saved = os.path.join(tmp, "saved4.h5")
    shutil.copy(newest, saved)
    flips(tmp, saved)
    resume_past(run, newest, saved, "rope_theta", lambda: flip_attribute(saved, newest, "config", "rope_theta"))
    with h5py.File(saved, "r") as f:
        off = f["coordinator"].id.get_offset()
    resume_past(run, newest, saved, "coordinator", lambda: flip_byte_at(saved, newest, off + 3))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_ckpt_flips_") as tmp:
        t0 = time.time()
        main(tmp)
        print("%.1fs" % (time.time() - t0))
        sys.exit(done(tmp))
