#!/usr/bin/env python3
"""Differential test of the math verifier against HuggingFace's Math-Verify.

1. The committed corpus tests/verifier_diff/corpus.jsonl is the set tests/verifier_diff/gen_pairs.py
   generates from the benchmark data ($RLVR_DATA): same rows, same expected verdicts.
2. Our verdicts (build/lib/librlvr_tasks.so) agree with Math-Verify's on at least 98% of it, every
   disagreement is triaged (tests/verifier_diff/triage.py's TRIAGE), and no wrong answer is accepted.
3. Math-Verify, run now, gives the verdicts the corpus records, on every triaged row and on every 8th
   other row (its full run takes minutes; tests/verifier_diff/triage.py does it).

It needs .venv-verify/ (tests/setup_assets.sh creates it): without it the test fails, it is never skipped.
"""
import json
import os
import sys

ROOT = os.environ.get("RLVR_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PY = os.path.join(ROOT, ".venv-verify", "bin", "python")
SAMPLE_EVERY = 8
MIN_AGREEMENT = 0.98

if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(ROOT, ".venv-verify")):
    if not os.path.exists(VENV_PY):
        print(f"FAIL: {VENV_PY} is missing: run tests/setup_assets.sh (tests/run_all.sh runs it) to install Math-Verify")
        print("0 passed, 1 failed")
        sys.exit(1)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])

sys.path.insert(0, os.path.join(ROOT, "tests", "verifier_diff"))
import gen_pairs  # noqa: E402
import triage  # noqa: E402
from refs import MathVerify, Ours  # noqa: E402

from checks import Checks  # noqa: E402

check = Checks()


corpus = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "verifier_diff", "corpus.jsonl"))]
fresh = gen_pairs.generate()
check(len(fresh) == len(corpus), f"the generator makes {len(fresh)} pairs, the corpus has {len(corpus)}: regenerate it "
                                 "(tests/verifier_diff/triage.py)")
stale = [i for i, (a, b) in enumerate(zip(fresh, corpus))
         if (a["gold"], a["response"], a["family"], a["kind"], a["expected"]) != (b["g"], b["r"], b["fam"], b["kind"], b["exp"])]
check(not stale, f"{len(stale)} corpus rows differ from the generator's (first: row {stale[0] + 1 if stale else 0})")

build = os.environ.get("RLVR_BIN")
ours = Ours(os.path.relpath(os.path.dirname(build), ROOT) if build else "build")
mv = MathVerify()
agree = 0
for i, row in enumerate(corpus):
    o = ours.grade(row["g"], row["r"])
    if row["exp"] == 0:
        check(o == 0, f"FALSE ACCEPT ({row['fam']}/{row['kind']}): gold [{row['g']}] response [{row['r']}]")
    else:
        check(o == 1, f"false reject ({row['fam']}/{row['kind']}): gold [{row['g']}] response [{row['r']}]")
    if o == row["mv"]:
        agree += 1
        check("note" not in row, f"row {i + 1} is triaged but both verifiers say {o}: regenerate the corpus")
    else:
        check(row["kind"] in triage.TRIAGE and "note" in row,
              f"untriaged disagreement ({row['fam']}/{row['kind']}): gold [{row['g']}] response [{row['r']}]")
    if "note" in row or i % SAMPLE_EVERY == 0:
        m = mv.grade(row["g"], row["r"])
        check(m == row["mv"], f"Math-Verify now says {m}, the corpus {row['mv']} ({row['fam']}/{row['kind']}): "
                              f"gold [{row['g']}] response [{row['r']}]")
rate = agree / max(1, len(corpus))
print(f"{len(corpus)} pairs, agreement with Math-Verify {rate:.4f}, {len(corpus) - agree} triaged disagreements")
check(rate >= MIN_AGREEMENT, f"agreement {rate:.4f} below {MIN_AGREEMENT}")
sys.exit(check.summary())
