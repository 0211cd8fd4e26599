#!/usr/bin/env python3
"""Generates the differential set: (gold, response) pairs with a family, the verdict a mathematician
gives (by construction: an equivalent rewrite of the gold is correct, a changed value is not) and the
rewrite that made it.

Sources: every gold answer of the math benchmarks (MATH-500, Minerva, AIME 2024/2025, AMC 2023, 200
GSM8K rows) and a fixed sample of the MATH train set (answers and the tails of their worked solutions),
read from $RLVR_DATA (default ../shared/data beside the repository).

    .venv-verify/bin/python tests/verifier_diff/gen_pairs.py > /tmp/pairs.jsonl
    .venv-verify/bin/python tests/verifier_diff/triage.py /tmp/pairs.jsonl   # rewrites tests/verifier_diff/corpus.jsonl

Only the standard library is used here; the output is deterministic (fixed seed, sorted sources).
"""
import json
import os
import random
import re
import sys
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("RLVR_DATA", os.path.join(ROOT, "..", "shared", "data"))
SEED = 20240617
N_TRAIN = 1200        # MATH train golds sampled
N_TRAIN_SOL = 1500    # MATH train solutions used as whole responses (from 60 characters before their last box)
N_GSM8K = 1319      # all of GSM8K

# ---- LaTeX helpers ---------------------------------------------------------------------------------


def top_split(s, sep=","):
    """Splits s at separators outside (), [], {}, and \\{ \\}."""
    parts, depth, cur, i = [], 0, "", 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            if s[i + 1] in "{}":
                depth += 1 if s[i + 1] == "{" else -1
            cur += s[i:i + 2]
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def balanced(s):
    d = 0
    for c in s.replace("\\{", "").replace("\\}", ""):
        d += c in "([{"
        d -= c in ")]}"
        if d < 0:
            return False
    return d == 0


def perturb_digit(s):
    """First digit + 1 (mod 10); None when the gold has no digit."""
    for i, c in enumerate(s):
        if c.isdigit():
            return s[:i] + str((int(c) + 1) % 10) + s[i + 1:]
    return None


def is_zero(s):
    return not re.search(r"[1-9]", s) and not re.search(r"[a-zA-Z]", s)


INT_RE = re.compile(r"^-?\d+$")
DEC_RE = re.compile(r"^-?\d*\.\d+$")
FRAC_RE = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$")
SLASH_RE = re.compile(r"^(-?\d+)/(\d+)$")
UNIT_WORDS = ("cm", "inches", "feet", "meters", "units", "degrees", "cents", "dollars", "hours", "minutes",
              "miles", "square", "sq", "mph", "days", "years", "pounds")


def strip_math(g):
    g = g.strip()
    if g.startswith("$") and g.endswith("$") and len(g) > 1:
        g = g.strip("$").strip()
    return g


def family(g):
    g = re.sub(r"^[a-z]\s*\\in\s*", "", g)   # "x \in [a, b]"
    g = g.replace("\\left", "").replace("\\right", "")
    if re.search(r"\\begin\{[pbB]?matrix\}", g):
        return "matrix"
    if re.fullmatch(r"\\text(bf)?\{\s*\(?[A-E]\)?\s*\}|\([A-E]\)", g):
        return "choice"
    if re.search(r"\\(le|ge|leq|geq|lt|gt|neq)\b|<|>", g):
        return "relation"
    if "\\cup" in g or re.fullmatch(r"[\(\[].*,.*[\)\]]", g) and ("\\infty" in g or g[0] != "(" or g[-1] != ")"):
        return "interval"
    if re.fullmatch(r"(\\left)?\(.*,.*(\\right)?\)", g) and balanced(g[1:-1]) and len(top_split(g[1:-1] if g[0] == "(" else g)) >= 1:
        return "tuple"
    if re.search(r"\\circ|\\%|\\\$|%|\\(text|mbox|textnormal|mathrm)\{\s*[a-z]", g):
        return "units"
    num = g.replace("\\!", "").replace("{,}", ",").replace(" ", "")
    if g.startswith("\\{") or (len(top_split(g)) > 1 and not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", num)):
        return "set"
    if "=" in g:
        return "equation"
    if re.fullmatch(r"\\text\{\s*[A-E]\s*\}", g):
        return "choice"
    if re.fullmatch(r"\\text\{[^{}0-9]*\}", g) or re.fullmatch(r"[A-Za-z][a-z]+", g) and g not in ("pi",):
        return "text"
    if re.fullmatch(r"\d+_\{?\d+\}?", g):
        return "base"
    if INT_RE.match(num.replace(",", "")):
        return "integer"
    if DEC_RE.match(g) or re.fullmatch(r"-?\d+(\.\d+)?e-?\d+", g):
        return "decimal"
    if FRAC_RE.match(g) or SLASH_RE.match(g):
        return "fraction"
    if re.fullmatch(r"[-+0-9. ]*(\\sqrt\{?\d+\}?)?\s*[-+]?\s*\d*\s*(\\cdot)?\s*i", g.replace(" ", "")) or \
            re.fullmatch(r"-?\d+\s*[-+]\s*\d*\s*i", g):
        return "complex"
    letters = re.sub(r"\\[a-zA-Z]+", "", g)
    if re.search(r"[:;_]|\\\\", g):
        return "other"
    if re.search(r"[a-zA-Z]", letters):
        return "expression"
    return "constant"


# ---- rewrites --------------------------------------------------------------------------------------
# Each returns (kind, prediction, expected). expected: 1 = a mathematician accepts it, 0 = not.


def rw_scalar(g, rnd):
    out = []
    if not is_zero(g) and not g.startswith("-"):
        out.append(("neg", "-" + (g if re.fullmatch(r"[\w\\{}.^]+", g) else "(" + g + ")"), 0))
    if "," not in g:   # "(58,500)" would be a pair
        out.append(("paren", "\\left(" + g + "\\right)", 1))
    return out


def rw_integer(g, rnd):
    n = int(re.sub(r"[^\d-]", "", g))
    out = [("int_dot0", str(n) + ".0", 1), ("int_plus1", str(n + 1), 0), ("int_times10", str(n * 10), 0)]
    if abs(n) >= 1000:
        out.append(("int_commas", f"{n:,}", 1))
        out.append(("int_commas_latex", f"{n:,}".replace(",", ",\\!"), 1))
    if abs(n) >= 10 and n % 10 == 0:
        k = len(str(abs(n))) - len(str(abs(n)).rstrip("0"))
        m = n // 10 ** k
        out.append(("int_sci", f"{m} \\times 10^{{{k}}}", 1))
    out.append(("int_frac", f"\\frac{{{2 * n}}}{{2}}", 1))
    out.append(("int_eq", "x = " + str(n), 1))
    out.append(("int_text_unit", str(n) + " \\text{ units}", 1))
    if n != 0:
        out.append(("int_pct_of", f"{n / 100:g}", 0))
    return out


def rw_decimal(g, rnd):
    out = []
    if "e" in g:
        m, e = g.split("e")
        out.append(("sci_times", f"{m} \\times 10^{{{int(e)}}}", 1))
        out.append(("sci_off", f"{m} \\times 10^{{{int(e) + 1}}}", 0))
        return out
    f = Fraction(g)
    out.append(("dec_trail0", g + "0", 1))
    if g.startswith("0."):
        out.append(("dec_nolead", g[1:], 1))
    if f.denominator != 1:
        s = "-" if f < 0 else ""
        out.append(("dec_frac", f"{s}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}", 1))
    digits = len(g.split(".")[1])
    if digits >= 2:
        r = f"{round(float(g), digits - 1):.{digits - 1}f}"
        if Fraction(r) != f:
            out.append(("dec_round", r, 0))
    return out


def exact_decimal(f):
    """The terminating decimal expansion of f (its denominator has only the factors 2 and 5)."""
    sign = "-" if f < 0 else ""
    f = abs(f)
    k = 0
    while (f * 10 ** k).denominator != 1:
        k += 1
    n = str((f * 10 ** k).numerator).rjust(k + 1, "0")
    return sign + (n[:-k] + "." + n[-k:] if k else n)


def frac_parts(g):
    m = FRAC_RE.match(g)
    if m:
        sign, a, b = m.groups()
        a = int(a)
        return (-a if sign else a), int(b)
    m = SLASH_RE.match(g)
    return int(m.group(1)), int(m.group(2))


def rw_fraction(g, rnd):
    a, b = frac_parts(g)
    if b == 0:
        return []
    f = Fraction(a, b)
    sgn = "-" if a < 0 else ""
    out = [("frac_slash", f"{a}/{b}", 1), ("frac_dfrac", f"{sgn}\\dfrac{{{abs(a)}}}{{{b}}}", 1),
           ("frac_negnum", f"\\frac{{{a}}}{{{b}}}", 1), ("frac_unreduced", f"\\frac{{{3 * a}}}{{{3 * b}}}", 1)]
    if abs(a) != b:
        out.append(("frac_recip", f"{sgn}\\frac{{{b}}}{{{abs(a)}}}", 0))
    den = f.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den == 1:
        out.append(("frac_decimal", exact_decimal(f), 1))
    else:
        out.append(("frac_round6", f"{float(f):.6f}", 0))
        out.append(("frac_round3", f"{float(f):.3f}", 0))
    if abs(f) > 1 and f.denominator != 1:
        w = int(abs(f))
        r = abs(f) - w
        out.append(("frac_mixed", f"{sgn}{w}\\frac{{{r.numerator}}}{{{r.denominator}}}", 1))
    return out


def rw_constant(g, rnd):
    out = []
    m = re.fullmatch(r"(\d+)\\sqrt\{?(\d+)\}?", g)
    if m:
        k, r = int(m.group(1)), int(m.group(2))
        out.append(("sqrt_absorb", f"\\sqrt{{{k * k * r}}}", 1))
        out.append(("sqrt_absorb_off", f"\\sqrt{{{k * k * r + 1}}}", 0))
    m = re.fullmatch(r"\\frac\{(\d*)\\sqrt\{?(\d+)\}?\}\{(\d+)\}", g)
    if m:
        k = int(m.group(1) or 1)
        r, d = int(m.group(2)), int(m.group(3))
        out.append(("sqrt_frac_slash", f"{k if k != 1 else ''}\\sqrt{{{r}}}/{d}", 1))
    m = re.fullmatch(r"(\d*)\\sqrt\{(\d+)\}", g)
    if m:
        if len(m.group(2)) == 1:   # TeX reads \sqrt 13 as \sqrt{1}3
            out.append(("sqrt_unbraced", f"{m.group(1)}\\sqrt {m.group(2)}", 1))
        k = m.group(1) + " \\cdot " if m.group(1) else ""
        out.append(("sqrt_power", f"{k}{m.group(2)}^{{1/2}}", 1))
    if "\\pi" in g:
        out.append(("pi_swap_times", g.replace("\\pi", "\\cdot \\pi") if re.search(r"\d\\pi", g) else g, 1))
    out.append(("const_times_one", "1 \\cdot \\left(" + g + "\\right)", 1))
    return out


def rw_expression(g, rnd):
    out = []
    terms = re.split(r"(?<=[^\s\^_{(+\-])\s*(?=[+-])", g)
    if len(terms) > 1 and all(balanced(t) for t in terms) and "\\frac" not in g[:1]:
        t2 = terms[1:] + [terms[0]]
        t2 = [t.strip() for t in t2]
        s = t2[0].lstrip("+").strip()
        for t in t2[1:]:
            s += (" " + t if t[0] in "+-" else " + " + t)
        out.append(("expr_reorder", s, 1))
    letters = sorted(set(re.findall(r"(?<![\\a-zA-Z])[a-z](?![a-zA-Z])", g)) - {"e", "i", "d"})
    if letters:
        v = letters[0]
        w = "q" if v != "q" else "r"
        if w not in g:
            out.append(("expr_rename_var", re.sub(r"(?<![\\a-zA-Z])" + v + r"(?![a-zA-Z])", w, g), 0))
    out.append(("expr_paren", "(" + g + ")", 1))
    return out


def rw_interval(g, rnd):
    out = []
    pieces = [p.strip() for p in g.split("\\cup")]
    if len(pieces) > 1:
        out.append(("int_union_swap", " \\cup ".join(pieces[::-1]), 1))
    if "\\in" not in g:
        out.append(("int_in", "x \\in " + g, 1))
    p0 = pieces[0]
    inner = p0.replace("\\left", "").replace("\\right", "")
    if inner and inner[0] in "([" and inner[-1] in ")]":
        o = inner[0]
        flip = ("[" if o == "(" else "(") + inner[1:]
        if "\\infty" not in inner.split(",")[0]:
            out.append(("int_flip_open", " \\cup ".join([flip] + pieces[1:]), 0))
        ends = top_split(inner[1:-1])
        if len(ends) == 2 and ends[0].strip() != ends[1].strip():
            out.append(("int_swap_ends", " \\cup ".join([inner[0] + ends[1] + "," + ends[0] + inner[-1]] + pieces[1:]), 0))
        out.append(("int_left_right", " \\cup ".join(["\\left" + inner[0] + inner[1:-1] + "\\right" + inner[-1]] + pieces[1:]), 1))
    return out


def rw_set(g, rnd):
    braces = g.startswith("\\{") and g.endswith("\\}")
    body = g[2:-2] if braces else g
    items = [t.strip() for t in top_split(body)]
    out = []
    if len(items) > 1:
        perm = items[:]
        rnd.shuffle(perm)
        if perm == items:
            perm = items[::-1]
        out.append(("set_permute", ", ".join(perm), 1))
        out.append(("set_drop", ", ".join(items[:-1]), 0))
        out.append(("set_braces", "\\{" + ", ".join(items) + "\\}", 1) if not braces else ("set_unbrace", body, 1))
        p = perturb_digit(items[-1])
        if p and p not in items:
            out.append(("set_extra", ", ".join(items + [p]), 0))
        out.append(("set_dup", ", ".join(items + [items[0]]), 0))
        out.append(("set_and", ", ".join(items[:-1]) + ", \\text{ and } " + items[-1], 1))
        if all(re.fullmatch(r"-?[\w\\{}./^ ]+", t) for t in items):
            out.append(("set_x_eq", ", ".join("x = " + t for t in items), 1))
    return out


def rw_tuple(g, rnd):
    inner = g
    for a, b in (("\\left(", "("), ("\\right)", ")")):
        inner = inner.replace(a, b)
    items = [t.strip() for t in top_split(inner[1:-1])]
    out = [("tuple_spaces", "(" + ",".join(items) + ")", 1), ("tuple_left_right", "\\left( " + ", ".join(items) + " \\right)", 1)]
    if len(items) > 1 and items[::-1] != items:
        out.append(("tuple_reverse", "(" + ", ".join(items[::-1]) + ")", 0))
    if len(items) > 1:
        out.append(("tuple_drop", "(" + ", ".join(items[:-1]) + ")", 0))
        out.append(("tuple_as_list", ", ".join(items), 0))
    return out


def rw_matrix(g, rnd):
    out = []
    m = re.fullmatch(r"\\begin\{(p|b|B)?matrix\}(.*)\\end\{(p|b|B)?matrix\}", g, re.S)
    if not m:
        return out
    body = m.group(2)
    rows = [r.strip() for r in body.split("\\\\") if r.strip()]
    cells = [[c.strip() for c in r.split("&")] for r in rows]
    env = "bmatrix" if m.group(1) != "b" else "pmatrix"
    out.append(("mat_env", f"\\begin{{{env}}}" + " \\\\ ".join(" & ".join(r) for r in cells) + f"\\end{{{env}}}", 1))
    if len(cells) > 1 and all(len(r) == len(cells[0]) for r in cells):
        t = [list(x) for x in zip(*cells)]
        if t != cells:
            out.append(("mat_transpose", "\\begin{pmatrix}" + " \\\\ ".join(" & ".join(r) for r in t) + "\\end{pmatrix}", 0))
        if len(cells[0]) == 1:
            out.append(("mat_as_tuple", "(" + ", ".join(r[0] for r in cells) + ")", 0))
    return out


def rw_equation(g, rnd):
    parts = g.split("=")
    out = []
    if len(parts) == 2:
        l, r = parts[0].strip(), parts[1].strip()
        out.append(("eq_swap", r + " = " + l, 1))
        if re.fullmatch(r"[a-zA-Z]", l):
            out.append(("eq_rhs_only", r, 1))
            if not is_zero(r):
                out.append(("eq_neg_rhs", l + " = -(" + r + ")", 0))
    return out


def rw_text(g, rnd, others):
    w = re.sub(r"^\\text\{(.*)\}$", r"\1", g)
    out = [("text_case", w.lower() if w != w.lower() else w.upper(), 1), ("text_bf", "\\textbf{" + w + "}", 1),
           ("text_plural", w + "s", 0)]
    o = [x for x in others if x.lower() != w.lower()]
    if o:
        out.append(("text_other", rnd.choice(o), 0))
    return out


def rw_choice(g, rnd):
    L = re.search(r"[A-E]", g).group(0)
    nxt = "ABCDEA"["ABCDE".index(L) + 1]
    return [("choice_bare", L, 1), ("choice_paren", "(" + L + ")", 1), ("choice_bf", "\\textbf{(" + L + ")}", 1),
            ("choice_next", "(" + nxt + ")", 0), ("choice_lower", "(" + L.lower() + ")", 1)]


def rw_base(g, rnd):
    m = re.fullmatch(r"(\d+)_\{?(\d+)\}?", g)
    d, b = m.groups()
    out = [("base_braced", f"{d}_{{{b}}}", 1), ("base_bare", d, 1)]
    if int(b) < 10:
        out.append(("base_other", f"{d}_{{{int(b) + 1}}}", 0))
    return out


def rw_units(g, rnd):
    out = []
    bare = re.sub(r"\^\{?\\circ\}?|\\%|\\\$|%|\\text\{[^}]*\}(\^\d)?|\\mbox\{[^}]*\}(\^\d)?", "", g).strip().rstrip("~").strip()
    bare = bare.replace(",\\!", "").replace("{,}", "")
    if bare and bare != g and re.fullmatch(r"-?[\d.]+|\\frac\{\d+\}\{\d+\}|\d+\\sqrt\{\d+\}", bare):
        out.append(("units_strip", bare, 1))
        if "\\circ" in g:
            out.append(("units_degree_sym", bare + "°", 1))
            out.append(("units_degree_word", bare + " degrees", 1))
        if "%" in g and re.fullmatch(r"-?[\d.]+", bare):
            out.append(("units_pct_fraction", f"{float(bare) / 100:g}", 0))
    return out


def rw_complex(g, rnd):
    s = g.replace(" ", "")
    out = []
    m = re.fullmatch(r"(-?[\d.]+)([-+])([\d.]*)i", s)
    if m:
        a, sg, b = m.groups()
        bb = b if b else ""
        out.append(("cx_reorder", f"{bb}i {sg} {a.lstrip('-')}" if not a.startswith("-") and sg == "+" else f"{sg}{bb}i + ({a})", 1))
        out.append(("cx_conj", f"{a}{'-' if sg == '+' else '+'}{bb}i", 0))
        cdot = "" if not b else " \\cdot " + b
        out.append(("cx_i_first", f"{a}{sg}i{cdot}", 1))
    return out


# ---- responses -------------------------------------------------------------------------------------

TEMPLATES = [
    "So $\\boxed{%s}$.",
    "We get \\[\\boxed{%s}\\]",
    "The answer is $\\boxed{%s}$",
    "\\boxed{%s}",
]


def extraction_rows(g, rnd, wrong):
    """The gold (or a wrong answer) in different answer formats."""
    rows = [
        ("ex_box_bare", "\\boxed{%s}" % g, 1),
        ("ex_fbox", "We conclude \\fbox{%s}." % g, 1),
        ("ex_two_boxes_last_right", "First I got $\\boxed{%s}$, but that is wrong; the answer is $\\boxed{%s}$." % (wrong, g), 1),
        ("ex_two_boxes_first_right", "I got $\\boxed{%s}$. Double-checking gives $\\boxed{%s}$." % (g, wrong), 0),
        ("ex_unclosed", "The answer is $\\boxed{%s" % g, 0),
        ("ex_answer_colon", "Answer: $%s$" % g, 1),
        ("ex_answer_is", "The final answer is $%s$." % g, 1),
        ("ex_no_answer", "I could not solve this problem.", 0),
        ("ex_bold_answer", "**Answer:** $%s$" % g, 1),
        ("ex_display_box", "Thus\n$$\n\\boxed{%s}\n$$" % g, 1),
        ("ex_answer_wrong", "The answer is $%s$." % wrong, 0),
        ("ex_boxed_text_wrong", "The answer is $\\boxed{%s}$." % wrong, 0),
    ]
    return rows


# One answer format per gold, in rough proportion to how often models use them.
# One answer format per gold, roughly as often as models use them: boxes most, "Answer:" lines and
# "the answer is" statements next; \fbox and a box cut off by the token limit right after the answer
# are rare (one gold in 40 each).
EXTRACTION_MIX = (["ex_box_bare", "ex_display_box", "ex_two_boxes_last_right", "ex_boxed_text_wrong"] * 3 +
                  ["ex_answer_colon", "ex_answer_is", "ex_bold_answer", "ex_answer_wrong"] * 3 +
                  ["ex_two_boxes_first_right", "ex_no_answer"] * 7 + ["ex_unclosed", "ex_fbox"])


def malformed_rows(g, rnd):
    rows = [("mal_empty_box", "The answer is $\\boxed{}$.", 0)]
    if not balanced(g):
        return rows
    rows.append(("mal_open_frac", "So $\\boxed{\\frac{%s}}$" % g, 0))
    rows.append(("mal_dangling_pow", "So $\\boxed{%s^}$" % g, 0))
    rows.append(("mal_extra_close", "So $\\boxed{%s\\right)}$" % g, 0))
    return rows


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def generate():
    """The differential set: a list of dicts gold, response, family, kind, expected, source."""
    rnd = random.Random(SEED)
    bench = os.path.join(DATA, "benchmarks")
    golds = []   # (source, gold)
    for name in ("math500", "minerva_math", "aime24", "aime25", "amc23"):
        for r in load_jsonl(os.path.join(bench, name + ".jsonl")):
            golds.append((name, str(r["answer"])))
    gsm = load_jsonl(os.path.join(bench, "gsm8k.jsonl"))
    for r in random.Random(SEED + 1).sample(gsm, N_GSM8K):
        golds.append(("gsm8k", str(r["answer"])))
    train = [r for r in load_jsonl(os.path.join(DATA, "train", "math_train_7500.jsonl")) if r.get("answer")]
    sample = random.Random(SEED + 2).sample(train, N_TRAIN)
    for r in sample:
        golds.append(("math_train", r["answer"]))
    texts = sorted({strip_math(g) for _, g in golds if family(strip_math(g)) == "text"})

    out = []
    seen = set()

    def emit(src, fam, kind, gold, resp, exp):
        key = (gold, resp)
        if key in seen:
            return
        seen.add(key)
        out.append({"gold": gold, "response": resp, "family": fam, "kind": kind, "expected": exp, "source": src})

    for i, (src, g0) in enumerate(golds):
        g = strip_math(g0)
        if "$" in g:   # a few Minerva golds hold two formulas
            continue
        fam = family(g)
        t = TEMPLATES[i % len(TEMPLATES)]
        emit(src, fam, "identity", g0, t % g, 1)
        pd = perturb_digit(g)
        if pd and pd != g:
            emit(src, fam, "perturb_digit", g0, t % pd, 0)
        rw = []
        if fam in ("integer", "decimal", "fraction", "constant", "expression", "complex"):
            rw += rw_scalar(g, rnd)
        rw += {"integer": rw_integer, "decimal": rw_decimal, "fraction": rw_fraction, "constant": rw_constant,
               "expression": rw_expression, "interval": rw_interval, "set": rw_set, "tuple": rw_tuple,
               "matrix": rw_matrix, "equation": rw_equation, "choice": rw_choice, "base": rw_base,
               "units": rw_units, "complex": rw_complex}.get(fam, lambda g, r: [])(g, rnd) if fam != "text" else rw_text(g, rnd, texts)
        if fam == "integer" and len(rw) > 4:   # integers are most golds: a few rewrites each
            rw = rnd.sample(rw, 4)
        for kind, pred, exp in rw:
            emit(src, fam, kind, g0, t % pred, exp)
        wrong = pd if pd and pd != g else g + "+1"
        ex = dict((k, (r, e)) for k, r, e in extraction_rows(g, rnd, wrong))
        kind = EXTRACTION_MIX[i % len(EXTRACTION_MIX)]
        emit(src, "extraction", kind, g0, ex[kind][0], ex[kind][1])
        if i % 4 == 0:
            mal = malformed_rows(g, rnd)
            kind, resp, exp = mal[(i // 4) % len(mal)]
            emit(src, "malformed", kind, g0, resp, exp)

    # worked solutions as whole responses (their last 400 characters), and with the last box changed
    for r in random.Random(SEED + 3).sample(train, N_TRAIN_SOL):
        k = r["solution"].rfind("\\boxed")
        sol = r["solution"][max(0, k - 60):]
        emit("math_train", "solution", "solution_tail", r["answer"], sol, 1)
        k = sol.rfind("\\boxed{")
        if k >= 0:
            g = strip_math(r["answer"])
            pd = perturb_digit(g)
            if pd and pd != g and sol.count("\\boxed") == 1 and g in sol[k:]:
                emit("math_train", "solution", "solution_wrong_box", r["answer"], sol[:k] + sol[k:].replace(g, pd, 1), 0)

    print(f"{len(out)} pairs from {len(golds)} golds", file=sys.stderr)
    return out


def main():
    for row in generate():
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
