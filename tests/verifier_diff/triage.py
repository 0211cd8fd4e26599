#!/usr/bin/env python3
"""Runs the differential set through our verifier and Math-Verify, triages every disagreement and
writes the committed corpus tests/verifier_diff/corpus.jsonl.

    .venv-verify/bin/python tests/verifier_diff/gen_pairs.py > /tmp/pairs.jsonl
    .venv-verify/bin/python tests/verifier_diff/triage.py /tmp/pairs.jsonl

Each corpus row: g (gold), r (response), fam (answer family), kind (the rewrite), exp (the verdict a
mathematician gives, by construction of the rewrite; 0 rows are the hand-checked non-equivalent cases),
mv (Math-Verify's verdict), note (the triage of a disagreement; absent when both verifiers agree).

Triage is by rewrite kind (TRIAGE below). A disagreement whose kind has no entry, or a row where our
verdict differs from exp, stops the script: fix the verifier, or add the case to TRIAGE with the reason.
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refs import ROOT, MathVerify, Ours  # noqa: E402

OUT = os.path.join(ROOT, "tests", "verifier_diff", "corpus.jsonl")

# kind -> (class, reason). Classes: "mv_wrong" (Math-Verify's verdict is wrong), "policy" (genuinely
# ambiguous; our documented policy decides, docs/tasks.md), "limit" (we refuse a correct answer; a
# known limit of ours, documented).
TRIAGE = {
    "ex_fbox": ("mv_wrong", "\\fbox{} is a box; Math-Verify only knows \\boxed{}"),
    "sci_times": ("mv_wrong", "Math-Verify reads the gold 4.5e33 as 4.5*e*33 (Euler's e), so it rejects 4.5 \\times 10^{33}"),
    "units_degree_sym": ("mv_wrong", "the degree sign ° is the same unit as ^\\circ; Math-Verify does not strip it"),
    "cx_i_first": ("mv_wrong", "3-i\\cdot 4 is 3-4i; Math-Verify rejects the factor order"),
    "base_other": ("mv_wrong", "a numeral in another base is another number (52_9 is not 52_8); Math-Verify drops the base"),
    "set_and": ("mv_wrong", "'a, b, and c' lists the same members; Math-Verify does not read the \\text{ and }"),
    "text_case": ("mv_wrong", "text answers are case-insensitive words; Math-Verify compares them case-sensitively"),
    "eq_swap": ("mv_wrong", "an equation with its sides swapped is the same equation"),
    "expr_paren": ("mv_wrong", "parentheses around the whole answer change nothing"),
    "paren": ("mv_wrong", "parentheses around the whole answer change nothing"),
    "const_times_one": ("mv_wrong", "1 times the answer is the answer"),
    "expr_reorder": ("mv_wrong", "the terms of a sum in another order"),
    "set_permute": ("mv_wrong", "the members of a list of solutions in another order"),
    "set_braces": ("mv_wrong", "a list of solutions with or without set braces"),
    "units_strip": ("mv_wrong", "the value without its unit"),
    "solution_tail": ("mv_wrong", "the worked solution's last box is the gold answer"),
    "dec_round": ("mv_wrong", "a decimal rounded to fewer digits is a different (approximate) value"),
    "ex_answer_colon": ("mv_wrong", "the answer stated after 'Answer:'"),
    "ex_answer_is": ("mv_wrong", "the answer stated after 'The final answer is'"),
    "frac_round6": ("policy", "rounded decimal for a non-terminating fraction (0.333333 for 1/3): refused, rationals are exact "
                              "(Math-Verify rounds to 6 digits); rlvr grade --rel-tol / MathVerifyOpts loosen it"),
    "tuple_as_list": ("policy", "an ordered pair written as a bare list (8, 38 for (8,38)): refused, a bare list is unordered "
                                "and the brackets say which object it is (Math-Verify accepts)"),
    "set_dup": ("policy", "a list of solutions with a member repeated: refused, multiplicities count "
                          "(Math-Verify compares sets)"),
    "ex_unclosed": ("policy", "an unclosed last box is a truncated response: refused (Math-Verify reads the unclosed box)"),
    "units_pct_fraction": ("policy", "30% vs 0.3: refused, a percent answer is the number before the sign "
                                     "(Math-Verify accepts both readings)"),
    "ex_two_boxes_first_right": ("policy", "the last box is the answer; an earlier box is working"),
    "ex_two_boxes_last_right": ("policy", "the last box is the answer; an earlier box is working"),
    "mal_extra_close": ("policy", "malformed LaTeX (an unmatched \\right) in the box) is refused; Math-Verify repairs it"),
    "mal_dangling_pow": ("policy", "malformed LaTeX (a dangling ^) is refused; Math-Verify repairs it"),
    "mal_open_frac": ("policy", "malformed LaTeX (a \\frac missing its denominator) is refused; Math-Verify repairs it"),
    "set_x_eq": ("mv_wrong", "'x = a, x = b' lists the solutions a and b"),
    "int_in": ("mv_wrong", "x \\in [a, b] is the interval [a, b]"),
    "mat_as_tuple": ("policy", "a column vector written as a tuple: refused, the shape is part of the answer"),
}


def main():
    src = sys.argv[1]
    rows = [json.loads(l) for l in open(src) if l.strip()]
    ours, mv = Ours(), MathVerify()
    bad, untriaged = [], []
    out = []
    for k, r in enumerate(rows):
        o = ours.grade(r["gold"], r["response"])
        m = mv.grade(r["gold"], r["response"])
        note = ""
        if o != r["expected"]:
            cls = TRIAGE.get(r["kind"], ("", ""))[0]
            if r["expected"] == 0 or cls != "limit":
                bad.append((r, o, m))
        if o != m:
            cls, why = TRIAGE.get(r["kind"], ("", ""))
            if not cls:
                untriaged.append((r, o, m))
            note = f"{cls}: {why}"
        row = {"g": r["gold"], "r": r["response"], "fam": r["family"], "kind": r["kind"], "exp": r["expected"], "mv": m}
        if note:
            row["note"] = note
        out.append(row)
        if k % 2000 == 0:
            print(f"{k}/{len(rows)}", file=sys.stderr)
    for r, o, m in bad:
        print(f"OURS WRONG ({r['family']}/{r['kind']}, ours {o}, expected {r['expected']}, mv {m}): "
              f"gold [{r['gold']}] response [{r['response'][-160:]}]")
    for r, o, m in untriaged:
        print(f"UNTRIAGED ({r['family']}/{r['kind']}, ours {o}, mv {m}): gold [{r['gold']}] response [{r['response'][-160:]}]")
    agree = sum(1 for x in out if "note" not in x)
    print(f"{len(out)} pairs, agreement {agree / len(out):.4f}, {len(bad)} ours-wrong, {len(untriaged)} untriaged")
    c = collections.Counter(x["note"].split(":")[0] for x in out if "note" in x)
    print("triage:", dict(c))
    if bad or untriaged:
        sys.exit(1)
    with open(OUT, "w") as f:
        for x in out:
            f.write(json.dumps(x, ensure_ascii=False, separators=(",", ":")) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
