#!/usr/bin/env python3
"""Agreement of reward.style = math_dapo / prime_math with verl's own reward functions, on the
differential set (a measurement for docs/tasks.md, not part of the suite: verl is not a dependency).

    pip download --no-deps -d /tmp/verl verl==0.9.1 && unzip -q -o /tmp/verl/verl-*.whl -d /tmp/verl
    pip install --target /tmp/verl_deps pylatexenc        # prime_math needs it (and sympy, in .venv-verify)
    .venv-verify/bin/python tests/verifier_diff/verl_styles.py /tmp/verl [/tmp/verl_deps]

Loads verl/utils/reward_score/math_dapo.py and prime_math/ from that directory without importing the
rest of verl (its timeout helper is replaced by a signal.alarm one), and compares each function's
verdict with ours (build/lib/librlvr_tasks.so) row by row. Prints the agreement and the disagreements.
"""
import collections
import importlib.util
import json
import os
import signal
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refs import ROOT, Ours  # noqa: E402


class timeout_limit:   # verl.utils.py_functional.timeout_limit: a decorator and a context manager
    def __init__(self, seconds=10):
        self.s = int(seconds)

    def _raise(self, *a):
        raise TimeoutError()

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._raise)
        signal.alarm(self.s)

    def __exit__(self, *a):
        signal.alarm(0)
        return False

    def __call__(self, fn):
        def wrapped(*a, **k):
            with timeout_limit(self.s):
                return fn(*a, **k)
        return wrapped


def load(verl_root):
    base = os.path.join(verl_root, "verl", "utils", "reward_score")
    for name in ("verl", "verl.utils"):
        m = types.ModuleType(name)
        m.__path__ = []
        sys.modules[name] = m
    pf = types.ModuleType("verl.utils.py_functional")
    pf.timeout_limit = timeout_limit
    sys.modules["verl.utils.py_functional"] = pf
    rs = types.ModuleType("verl.utils.reward_score")
    rs.__path__ = [base]
    sys.modules["verl.utils.reward_score"] = rs

    def mod(name, path, pkg=False):
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[os.path.dirname(path)] if pkg else None)
        m = importlib.util.module_from_spec(spec)
        sys.modules[name] = m
        spec.loader.exec_module(m)
        return m
    dapo = mod("verl.utils.reward_score.math_dapo", os.path.join(base, "math_dapo.py"))
    prime = None
    try:
        prime = mod("verl.utils.reward_score.prime_math", os.path.join(base, "prime_math", "__init__.py"), pkg=True)
    except ImportError as e:
        print("prime_math not loaded:", e)
    return dapo, prime


def main():
    if len(sys.argv) > 2:
        sys.path.append(sys.argv[2])
    dapo, prime = load(sys.argv[1])
    ours = Ours()
    rows = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "verifier_diff", "corpus.jsonl"))]
    fns = [("math_dapo", lambda g, r: dapo.compute_score(r, g)["acc"])]
    if prime:
        fns.append(("prime_math", lambda g, r: prime.compute_score(r, g)[0]))
    for name, fn in fns:
        agree, dis = 0, []
        for row in rows:
            try:
                ref = int(bool(fn(row["g"], row["r"])))
            except Exception:   # verl's reward manager scores an exception as 0 as well
                ref = 0
            o = ours.grade(row["g"], row["r"], name)
            agree += o == ref
            if o != ref:
                dis.append((row["fam"], row["kind"], o, ref, row["g"], row["r"][-120:]))
        print(f"{name}: {len(rows)} pairs, agreement with verl {agree / len(rows):.4f} ({len(dis)} differ)")
        by = collections.Counter((d[0], d[1], d[2], d[3]) for d in dis)
        for k, v in by.most_common():
            print(f"   {v:5d}  {k}")
        if os.environ.get("VERBOSE"):
            for d in dis:
                print("  ", d)


if __name__ == "__main__":
    main()
