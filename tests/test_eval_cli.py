"""rlvr eval end to end on models whose answers are known (tests/coord_harness.c --chain / --fork
build a bigram model: "\\boxed{2}" always, or "\\boxed{2}" / "\\boxed{3}" at random): exact Acc/Maj/Pass
for the deterministic one; for the random one, the summary agrees with the per-problem file and the
majority vote agrees with the listed answers; the JSON schema; reproducibility by seed; errors."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rollout_testlib import BIN, ENV, HARNESS, check, cleanup, finish, tmpdir

RLVR = os.path.join(BIN, "rlvr")


def make(path, *args):
    r = subprocess.run([HARNESS, "--make-model", path] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("cannot make model: " + r.stderr)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def run_eval(*args):
    return subprocess.run([RLVR, "eval"] + list(args), capture_output=True, text=True, env=ENV)


def load(out, name):
    with open(os.path.join(out, name + ".jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def close(a, b):
    return abs(a - b) < 1e-9


def main():
    d = tmpdir("eval")
    fixed = os.path.join(d, "fixed.h5")
    coin = os.path.join(d, "coin.h5")
    make(fixed, "--chain", ".\\boxed{2}$", "--chain", "=\\boxed{2}$")
    make(coin, "--chain", ".\\boxed{", "--fork", "{23", "--chain", "2}$", "--chain", "3}$", "--chain", "=\\boxed{")
    tiny = os.path.join(d, "tiny.jsonl")
    other = os.path.join(d, "sub", "other.jsonl")
    os.makedirs(os.path.dirname(other))
    write_jsonl(tiny, [{"id": "a", "problem": "What is 1+1?", "answer": "2"},
                       {"id": "b", "problem": "What is 2+3?", "answer": "5"},
                       {"id": "c", "problem": "Four halves?", "answer": "\\frac{4}{2}"}])
    write_jsonl(other, [{"id": "x%d" % i, "problem": "Seven %d?" % i, "answer": "3" if i % 2 else "2"} for i in range(7)])

    # 1. Known numbers: every sample answers 2.
    out = os.path.join(d, "out1")
    r = run_eval("--model", fixed, "--data", tiny, "--data", other, "--data", "arith:heldout:6", "-n", "3", "--max-tokens", "16",
                 "--out", out)
    check(r.returncode == 0, "fixed: exit 0 (%s)" % r.stderr[-300:])
    s = json.load(open(os.path.join(out, "summary.json")))
    b = s.get("benchmarks", {})
    check(sorted(b) == ["arith_heldout", "other", "tiny"], "fixed: benchmark names from file names (%s)" % sorted(b))
    t = b.get("tiny", {})
    check(t.get("problems") == 3 and t.get("samples") == 3, "fixed: tiny has 3 problems x 3 samples")
    check(close(t.get("acc", -1), 2 / 3) and close(t.get("maj", -1), 2 / 3) and close(t.get("pass", -1), 2 / 3),
          "fixed: tiny acc = maj = pass = 2/3 (2 and 4/2 right, 5 wrong): %s" % t)
    o = b.get("other", {})
    check(close(o.get("acc", -1), 4 / 7) and close(o.get("maj", -1), 4 / 7) and close(o.get("pass", -1), 4 / 7),
          "fixed: other = 4/7: %s" % o)
    ar = load(out, "arith_heldout")
    want = sum(1 for p in ar if p["gold"] == "2") / 6
    check(len(ar) == 6 and close(b["arith_heldout"]["acc"], want), "fixed: arithmetic held-out split scored with 'arith'")
    rows = load(out, "tiny")
    check([p["id"] for p in rows] == ["a", "b", "c"] and all(p["answers"] == ["2"] * 3 for p in rows),
          "fixed: per-problem file lists ids and extracted answers")
    check(rows[2]["correct"] == [1, 1, 1] and rows[1]["correct"] == [0, 0, 0], "fixed: verifier equality (4/2 == 2)")
    check("tiny" in r.stderr and "3/3" in r.stderr and "[" in r.stderr, "fixed: progress bar on stderr")
    check("acc@3" in r.stdout, "fixed: table on stdout")
    # response statistics: every response of the fixed model is one \boxed{2} and ends on its own
    check(close(t.get("quality_boxed_violation", -1), 0) and close(t.get("length_clip", -1), 0) and
          close(t.get("quality_cjk", -1), 0) and close(t.get("quality_repetitive", -1), 0), "fixed: no quality flags (%s)" % t)
    lens = [n for p in rows for n in p["n_tokens"]]
    check(close(t.get("response_length_mean", -1), sum(lens) / len(lens)), "fixed: mean length = per-problem n_tokens")
    # cut after 3 tokens: every response is clipped and has no complete box
    out1b = os.path.join(d, "out1b")
    r = run_eval("--model", fixed, "--data", tiny, "-n", "2", "--max-tokens", "3", "--out", out1b, "--quiet")
    t3 = json.load(open(os.path.join(out1b, "summary.json")))["benchmarks"].get("tiny", {})
    check(r.returncode == 0 and close(t3.get("length_clip", -1), 1) and close(t3.get("quality_boxed_violation", -1), 1) and
          close(t3.get("response_length_mean", -1), 3), "fixed, 3 tokens: all clipped, no box (%s)" % t3)

    # 2. Coin flips: the summary is the mean of the per-problem results, the vote matches the answers.
    out2 = os.path.join(d, "out2")
    r = run_eval("--model", coin, "--data", other, "-n", "5", "--max-tokens", "16", "--out", out2, "--seed", "3", "--quiet")
    check(r.returncode == 0 and r.stderr == "", "coin: exit 0, --quiet has no progress bar")
    s = json.load(open(os.path.join(out2, "summary.json")))["benchmarks"]["other"]
    rows = load(out2, "other")
    acc = sum(p["n_correct"] / 5 for p in rows) / len(rows)
    maj = sum(p["maj_correct"] for p in rows) / len(rows)
    pas = sum(p["pass"] for p in rows) / len(rows)
    check(close(s["acc"], acc) and close(s["maj"], maj) and close(s["pass"], pas), "coin: summary = mean of per-problem results")
    check(s["pass"] >= s["acc"] and s["pass"] >= s["maj"] and 0 <= s["acc"] <= 1, "coin: pass >= acc, pass >= maj")
    ok = True
    for p in rows:
        n2, n3 = p["answers"].count("2"), p["answers"].count("3")
        ok &= n2 + n3 == 5 and p["maj_answer"] == ("2" if n2 > n3 else "3") and p["maj_votes"] == max(n2, n3)
        ok &= p["maj_correct"] == int(p["maj_answer"] == p["gold"]) and p["n_correct"] == p["answers"].count(p["gold"])
        ok &= p["pass"] == int(p["n_correct"] > 0)
    check(ok, "coin: majority vote and counts agree with the listed answers")
    check(0 < acc < 1, "coin: both answers occur (acc %.3f)" % acc)
    # same seed -> same file; another seed -> other samples
    out3 = os.path.join(d, "out3")
    run_eval("--model", coin, "--data", other, "-n", "5", "--max-tokens", "16", "--out", out3, "--seed", "3", "--quiet",
             "--batch", "7")
    check(load(out3, "other") == rows, "coin: same seed, other batch size -> identical results")
    out4 = os.path.join(d, "out4")
    run_eval("--model", coin, "--data", other, "-n", "5", "--max-tokens", "16", "--out", out4, "--seed", "4", "--quiet")
    check([p["answers"] for p in load(out4, "other")] != [p["answers"] for p in rows], "coin: another seed -> other samples")

    # 3. Errors name the problem.
    r = run_eval("--data", tiny)
    check(r.returncode == 2 and "--model" in r.stderr, "error: --model required")
    r = run_eval("--model", fixed, "--data", os.path.join(d, "missing.jsonl"))
    check(r.returncode == 2 and "missing.jsonl" in r.stderr, "error: unreadable data file named")
    bad = os.path.join(d, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"id": "a", "problem": "x", "answer": "1"}\n{"id": "b", "problem": \n')
    r = run_eval("--model", fixed, "--data", bad)
    check(r.returncode == 2 and "bad.jsonl" in r.stderr, "error: bad JSON line named")
    r = run_eval("--model", fixed, "--data", tiny, "--data", os.path.join(d, "tiny.jsonl"))
    check(r.returncode == 2 and "tiny" in r.stderr, "error: two benchmarks with one name")
    r = run_eval("--model", fixed, "--data", tiny, "--template", "nope")
    check(r.returncode == 2 and "nope" in r.stderr, "error: unknown template")
    r = run_eval("--model", fixed, "--data", "arith:train")
    check(r.returncode == 2 and "arith:heldout" in r.stderr, "error: bad arith spec")
    r = run_eval("--model", fixed, "--data", tiny, "--top-p", "0")
    check(r.returncode == 2 and "--top-p" in r.stderr, "error: bad --top-p")
    cleanup(d)
    finish()


if __name__ == "__main__":
    main()
