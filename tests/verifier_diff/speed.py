#!/usr/bin/env python3
"""Grading throughput of our math verifier and of Math-Verify on the same pairs, in one run, on one core.

    .venv-verify/bin/python tests/verifier_diff/speed.py [--limit N] [--cpu K]

Both grade every (gold, response) pair of tests/verifier_diff/corpus.jsonl (or its first N): ours through
ctypes (build/lib/librlvr_tasks.so, so the figure includes the ctypes call), Math-Verify the way verl
calls it (tests/verifier_diff/refs.py). Prints answers/s for each, the ratio and each one's slowest answer.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refs import ROOT, MathVerify, Ours  # noqa: E402


def timed(grade, rows):
    worst, t_all = 0.0, time.perf_counter()
    for r in rows:
        t0 = time.perf_counter()
        grade(r["g"], r["r"])
        worst = max(worst, time.perf_counter() - t0)
    return len(rows) / (time.perf_counter() - t_all), worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=0)
    a = ap.parse_args()
    os.sched_setaffinity(0, {a.cpu})
    rows = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "verifier_diff", "corpus.jsonl"))]
    if a.limit:
        rows = rows[:a.limit]
    ours, mv = Ours(), MathVerify()
    o_rate, o_worst = timed(ours.grade, rows)
    m_rate, m_worst = timed(mv.grade, rows)
    print(f"{len(rows)} pairs on cpu {a.cpu}")
    print(f"ours         {o_rate:10.0f} answers/s   slowest {1e3 * o_worst:8.2f} ms")
    print(f"Math-Verify  {m_rate:10.0f} answers/s   slowest {1e3 * m_worst:8.2f} ms")
    print(f"ratio        {o_rate / m_rate:10.0f}x")


if __name__ == "__main__":
    main()
