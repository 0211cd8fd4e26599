#!/usr/bin/env python3
"""trainer.logger: [jsonl, tensorboard] writes TensorBoard event files that the `tensorboard` package's
own reader (PyPI, in .venv-tb/ made by tests/setup_assets.sh; without TensorFlow it uses its pure-Python
TFRecord reader, which checks both CRCs of every record) loads:
  - RUN_DIR/tensorboard/events.out.tfevents.* starts with the file_version event "brain.Event:2";
  - every finite number of every metrics.jsonl line (validation figures included) is a scalar with the
    line's step and the same value (as float32), and there is no other scalar;
  - a flipped byte is caught by the reader's CRC check (the framing is really checked);
  - without "console" no status line is printed; a word that is not a logger is refused at start.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import BASE, LEARNER, ROOT, check, done, env, finish, log_text, metrics, start_learner, start_worker, stop

VENV_PY = os.path.join(ROOT, ".venv-tb", "bin", "python")

READER = r"""
import json, sys
from tensorboard.backend.event_processing import event_accumulator, event_file_loader
path = sys.argv[1]
out = {"events": [], "scalars": {}}
for ev in event_file_loader.EventFileLoader(path).Load():
    out["events"].append({"step": ev.step, "file_version": ev.file_version, "wall_time": ev.wall_time,
                          "n_values": len(ev.summary.value)})
acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
for tag in acc.Tags()["scalars"]:
    out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
print(json.dumps(out))
"""

CORRUPT = r"""
import sys
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
reader = pywrap_tensorflow.PyRecordReader_New(sys.argv[1])
n = 0
try:
    while True:
        reader.GetNext()
        n += 1
except errors.DataLossError as e:
    print("DataLossError after", n, "records:", e)
except errors.OutOfRangeError:
    print("read", n)
"""


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def flatten(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, prefix + k + "/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and prefix + k != "step":
            yield prefix + k, v


def main(tmp):
    if not os.path.exists(VENV_PY):
        check(False, "%s is missing: run tests/setup_assets.sh (it makes .venv-tb/ with the tensorboard package)" % VENV_PY)
        return done(tmp)
    run = os.path.join(tmp, "tb")
    extra = ["trainer.logger=[jsonl, tensorboard]", "trainer.test_freq=2", "data.val_files=arith", "data.arith.heldout_size=6", "eval.n=2"]
    learner = start_learner(run, 1, extra)
    ws = [start_worker(run, "t%d" % i) for i in range(2)]
    rc = finish(learner, 120)
    stop(ws)
    check(rc == 0, "learner with trainer.logger tensorboard exits 0 (got %s): %s" % (rc, log_text(run)[-800:]))
    check("step 4/4" not in log_text(run), "no status line without 'console' in trainer.logger")
    tbdir = os.path.join(run, "tensorboard")
    files = sorted(f for f in os.listdir(tbdir)) if os.path.isdir(tbdir) else []
    check(len(files) == 1 and files[0].startswith("events.out.tfevents."), "one event file in RUN_DIR/tensorboard: %s" % files)
    if not files:
        return done(tmp)
    path = os.path.join(tbdir, files[0])
    r = subprocess.run([VENV_PY, "-c", READER, path], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "tensorboard's reader loads the file: %s" % r.stderr[-1500:])
    if r.returncode != 0:
        return done(tmp)
    got = json.loads(r.stdout)
    evs = got["events"]
    check(len(evs) >= 1 and evs[0]["file_version"] == "brain.Event:2", "first event is file_version brain.Event:2: %s" % evs[:1])
    rows = metrics(run)
    check([e["step"] for e in evs[1:]] == [m["step"] for m in rows], "one summary event per metrics line, same steps")
    check(all(e["wall_time"] > 1.6e9 for e in evs), "wall times are Unix seconds")
    want = {}
    for m in rows:
        for tag, v in flatten(m):
            want.setdefault(tag, []).append([m["step"], f32(v)])
    check(set(got["scalars"]) == set(want), "the scalar tags are the metrics' numeric keys: extra %s, missing %s" %
          (sorted(set(got["scalars"]) - set(want)), sorted(set(want) - set(got["scalars"]))))
    for tag in ("accuracy", "entropy_mean", "grad_norm", "val_acc"):
        check(tag in got["scalars"], "scalar %s is there" % tag)
    bad = [t for t in want if t in got["scalars"] and got["scalars"][t] != want[t]]
    check(not bad, "every scalar equals its metrics.jsonl value at its step (float32): differ %s" %
          [(t, got["scalars"][t], want[t]) for t in bad[:3]])
    val_steps = [s for s, _ in got["scalars"].get("val_acc", [])]
    check(val_steps == [2, 4], "validation figures at steps 2 and 4: %s" % val_steps)

    # one flipped byte in the last record's data: the reader's CRC check rejects it
    data = bytearray(open(path, "rb").read())
    data[-8] ^= 0x40
    bad_path = os.path.join(tmp, "events.out.tfevents.corrupt")
    open(bad_path, "wb").write(bytes(data))
    r = subprocess.run([VENV_PY, "-c", CORRUPT, bad_path], capture_output=True, text=True, timeout=120)
    check("DataLossError" in r.stdout and "crc32" in r.stdout, "a flipped byte fails the CRC check: %s %s" % (r.stdout, r.stderr[-400:]))

    # a word that is not a logger: refused at start, naming the key and the choices
    bad = subprocess.run(["mpirun", "-np", "1", "--allow-run-as-root", "--oversubscribe", LEARNER, "--config",
                          os.path.join(ROOT, "configs/demo_cpu.yaml"), "--run-dir", os.path.join(tmp, "bad")] + BASE +
                         ["trainer.logger=[console, wandb]"], capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    text = bad.stdout + bad.stderr
    check(bad.returncode == 2 and "trainer.logger" in text and "wandb" in text and "tensorboard" in text,
          "trainer.logger=[console, wandb] refused (rc %d): %s" % (bad.returncode, text[-400:]))
    return done(tmp)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        sys.exit(main(d))
