"""rlvr eval --reward-style on a model that always answers "\\boxed{2}" (tests/coord_harness.c --chain):
the default math verifier accepts 2 for the golds 2 and \\frac{4}{2}; math_dapo compares a box verbatim
with the gold (only 2), and PRIME never lets an integer answer equal a non-integer gold such as
\\frac{4}{2}; the summary names the verifier; an unknown style is an error."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rollout_testlib import BIN, ENV, HARNESS, check, cleanup, finish, tmpdir

RLVR = os.path.join(BIN, "rlvr")


def main():
    d = tmpdir("evalstyle")
    model = os.path.join(d, "fixed.h5")
    r = subprocess.run([HARNESS, "--make-model", model, "--chain", ".\\boxed{2}$", "--chain", "=\\boxed{2}$"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("cannot make model: " + r.stderr)
    tiny = os.path.join(d, "tiny.jsonl")
    with open(tiny, "w") as f:
        for row in [{"id": "a", "problem": "What is 1+1?", "answer": "2"}, {"id": "b", "problem": "What is 2+3?", "answer": "5"},
                    {"id": "c", "problem": "Four halves?", "answer": "\\frac{4}{2}"}]:
            f.write(json.dumps(row) + "\n")
    want = {"default": ("math", 2 / 3), "boxed": ("math_boxed", 2 / 3), "math_dapo": ("math_dapo", 1 / 3),
            "prime_math": ("prime_math", 1 / 3)}   # PRIME: an integer answer never equals a non-integer gold such as \\frac{4}{2}
    for style, (name, acc) in want.items():
        out = os.path.join(d, "out_" + style)
        r = subprocess.run([RLVR, "eval", "--model", model, "--data", tiny, "-n", "2", "--max-tokens", "16", "--quiet",
                            "--reward-style", style, "--out", out], capture_output=True, text=True, env=ENV)
        check(r.returncode == 0, "%s: exit 0 (%s)" % (style, r.stderr[-300:]))
        if r.returncode != 0:
            continue
        b = json.load(open(os.path.join(out, "summary.json")))["benchmarks"]["tiny"]
        check(b.get("verifier") == name, "%s: graded by %s (%s)" % (style, name, b.get("verifier")))
        check(abs(b.get("acc", -1) - acc) < 1e-9, "%s: acc %.3f (%s)" % (style, acc, b.get("acc")))
    r = subprocess.run([RLVR, "eval", "--model", model, "--data", tiny, "--reward-style", "nope"], capture_output=True,
                       text=True, env=ENV)
    check(r.returncode == 2 and "nope" in r.stderr, "an unknown style is an error (%s)" % r.stderr[-200:])
    cleanup(d)
    finish()


if __name__ == "__main__":
    main()
