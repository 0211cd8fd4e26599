"""rlvr analyze entropy / gradnorm / replace / shift on the committed base policy (configs/base/arith_base.h5,
the demo config's held-out split). Every number is checked against an independent computation:
per-token entropies and log-probs against `rlvr score`, the grading against Python arithmetic, the
bins and summaries against the per-item files, G_t recomputed from dumped logits, GRPO advantages and
coef from the rewards, the replacement token from the logits; plus reproducibility and errors."""
import json
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rollout_testlib import BIN, ENV, ROOT, check, cleanup, finish, tmpdir

RLVR = os.path.join(BIN, "rlvr")
MODEL = os.path.join(ROOT, "configs", "base", "arith_base.h5")
CFG = os.path.join(ROOT, "configs", "demo_cpu.yaml")
BASE = ["--model", MODEL, "--config", CFG, "--quiet", "--seed", "2"]   # seed 2: mixed and all-equal groups


def analyze(*args):
    return subprocess.run([RLVR, "analyze"] + list(args), capture_output=True, text=True, env=ENV)


def score(tokens, temperature, model=MODEL):
    r = subprocess.run([RLVR, "score", "--model", model, "--tokens", ",".join(map(str, tokens)),
                        "--temperature", repr(temperature)], capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise SystemExit("rlvr score failed: " + r.stderr)
    return json.loads(r.stdout)


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def near(a, b, tol):
    return a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def quantile(xs, q):
    xs = sorted(xs)
    h = q * (len(xs) - 1)
    lo = int(math.floor(h))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def gold_correct(problem_id, text):
    """The arith verifier, independently: the last \\boxed{...} holds the integer value of the problem."""
    want = eval(problem_id.rstrip("="))  # "70+12=" -> 82; ids are the problem texts
    boxes = re.findall(r"\\boxed\{([^{}]*)\}", text)
    return int(bool(boxes) and re.fullmatch(r"\s*-?\d+\s*", boxes[-1]) is not None and int(boxes[-1]) == want)


def softmax(z, T):
    m = max(v / T for v in z)
    e = [math.exp(v / T - m) for v in z]
    s = sum(e)
    return [x / s for x in e]


def pearson(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def test_entropy(d):
    out = os.path.join(d, "ent")
    T, B = 0.7, 4
    r = analyze("entropy", *BASE, "--data", "arith:heldout:6", "-n", "4", "--temperature", str(T), "--bins", str(B),
                "--min-count", "2", "--save-tokens", "--out", out)
    check(r.returncode == 0, "entropy: exit 0 (%s)" % r.stderr[-300:])
    s = json.load(open(os.path.join(out, "summary.json")))
    toks = lines(os.path.join(out, "tokens.jsonl"))
    resp = lines(os.path.join(out, "responses.jsonl"))
    check(len(toks) == 24 and len(resp) == 24, "entropy: 6 problems x 4 samples in tokens.jsonl and responses.jsonl")
    # Entropies and log-probs at the sampling temperature equal rlvr score's for the same tokens.
    worst_h = worst_lp = 0.0
    for t in toks:
        sc = score(t["prompt_tokens"] + t["tokens"], T)
        p0 = len(t["prompt_tokens"]) - 1
        for i in range(len(t["tokens"])):
            worst_h = max(worst_h, abs(sc["entropies"][p0 + i] - t["entropies"][i]))
            # log-probs reach -10 and beyond: compare relative to max(1, |logp|)
            worst_lp = max(worst_lp, abs(sc["logprobs"][p0 + i] - t["logprobs"][i]) / max(1.0, abs(t["logprobs"][i])))
    check(worst_h < 1e-5, "entropy: per-token entropies equal rlvr score --temperature %g (max diff %.2g)" % (T, worst_h))
    check(worst_lp < 1e-4, "entropy: per-token log-probs equal rlvr score's (max rel diff %.2g)" % worst_lp)
    # Grading, independently.
    check(all(t["correct"] == gold_correct(t["id"], t["text"]) for t in toks), "entropy: verdicts agree with Python arithmetic")
    nc = sum(t["correct"] for t in toks)
    check(s["responses"] == {"all": 24, "correct": nc, "incorrect": 24 - nc}, "entropy: correct/incorrect counts = the grading (%d/24)" % nc)
    check(0 < nc < 24, "entropy: both correct and incorrect responses occur")
    # Means, positional bins and perplexities from the token file.
    for cls, sel in (("all", toks), ("correct", [t for t in toks if t["correct"]]), ("incorrect", [t for t in toks if not t["correct"]])):
        ent = [h for t in sel for h in t["entropies"]]
        check(s["tokens"][cls] == len(ent) and near(s["entropy_mean"][cls], sum(ent) / len(ent), 1e-6),
              "entropy: %s token count and mean entropy" % cls)
        cnt, tot = [0] * B, [0.0] * B
        for t in sel:
            L = len(t["tokens"])
            for i, h in enumerate(t["entropies"]):
                cnt[i * B // L] += 1
                tot[i * B // L] += h
        prof = s["position_profile"][cls]
        check(prof["count"] == cnt and sum(prof["count"]) == len(ent), "entropy: %s bins cover every token exactly once" % cls)
        check(all(c == 0 or near(m, x / c, 1e-6) for m, x, c in zip(prof["mean_entropy"], tot, cnt)), "entropy: %s bin means" % cls)
        ppl = [math.exp(-sum(t["logprobs"]) / len(t["logprobs"])) for t in sel]
        dist = s["ppl"][cls]
        check(dist["count"] == len(ppl) and near(dist["mean"], sum(ppl) / len(ppl), 1e-6) and near(dist["q1"], quantile(ppl, 0.25), 1e-6)
              and near(dist["median"], quantile(ppl, 0.5), 1e-6) and near(dist["q3"], quantile(ppl, 0.75), 1e-6),
              "entropy: %s perplexity distribution (exp mean NLL)" % cls)
    check(all(r1["ppl"] is not None and near(r1["ppl"], math.exp(-sum(t["logprobs"]) / len(t["logprobs"])), 1e-6)
              for r1, t in zip(resp, toks)), "entropy: per-response ppl in responses.jsonl")
    # The top-entropy table: counts and mean entropies of the sampled token ids.
    occ = {}
    for t in toks:
        for tok, h in zip(t["tokens"], t["entropies"]):
            occ.setdefault(tok, []).append(h)
    top = s["top_tokens"]
    ok = len(top) > 0
    for e in top:
        hs = occ.get(e["id"], [])
        ok &= e["count"] == len(hs) >= 2 and near(e["mean_entropy"], sum(hs) / len(hs), 1e-6)
    means = [e["mean_entropy"] for e in top]
    best = max(sum(h) / len(h) for h in occ.values() if len(h) >= 2)
    check(ok and means == sorted(means, reverse=True) and near(means[0], best, 1e-9), "entropy: top tokens by mean entropy (min count 2)")
    check("mean token entropy" in r.stdout, "entropy: summary table on stdout")
    return toks


def test_gradnorm(d, ent_toks):
    out = os.path.join(d, "gn")
    T = 0.7
    r = analyze("gradnorm", *BASE, "--data", "arith:heldout:6", "-n", "4", "--temperature", str(T), "--dump-logits", "--bins", "3",
                "--out", out)
    check(r.returncode == 0, "gradnorm: exit 0 (%s)" % r.stderr[-300:])
    s = json.load(open(os.path.join(out, "summary.json")))
    rows = lines(os.path.join(out, "gradnorm.jsonl"))
    check(len(rows) == 24, "gradnorm: one line per response")
    check([x["tokens"] for x in rows] == [t["tokens"] for t in ent_toks], "gradnorm: same seed -> the same responses as entropy")
    groups = {}
    for x in rows:
        groups.setdefault(x["index"], []).append(x)
    ok_adv = ok_coef = ok_zero = True
    n_equal = 0
    for g in groups.values():
        rew = [1.0 if x["correct"] else -1.0 for x in g]
        mu = sum(rew) / len(rew)
        sd = math.sqrt(sum((v - mu) ** 2 for v in rew) / (len(rew) - 1))
        ntok = sum(x["n_tokens"] for x in g)
        for x, v in zip(g, rew):
            a = 0.0 if max(rew) == min(rew) else (v - mu) / (sd + 1e-6)
            ok_adv &= x["reward"] == v and near(x["adv"], a, 1e-6) and x["group_tokens"] == ntok
            ok_coef &= near(abs(x["coef"]), abs(a) / ntok, 1e-6) and (a == 0 or (x["coef"] < 0) == (a > 0))
        if max(rew) == min(rew):
            n_equal += 1
            ok_zero &= all(x["adv"] == 0 and x["coef"] == 0 and all(v == 0 for v in x["g"]) for x in g)
    check(ok_adv, "gradnorm: GRPO advantages (R - mean) / (sample std + 1e-6) from +1/-1 rewards")
    check(ok_coef, "gradnorm: |coef| = |A| / group tokens (token-mean at ratio 1), sign -A")
    check(n_equal >= 1 and ok_zero, "gradnorm: G = 0 on every token of the %d all-equal group(s)" % n_equal)
    check(s["groups"] == 6 and s["groups_all_equal"] == n_equal, "gradnorm: group counts in the summary")
    check(all(v >= 0 for x in rows for v in x["g"]), "gradnorm: G >= 0")
    # Exact recomputation of every token's G, entropy and pi(o_t) from the dumped logits.
    worst_g = worst_h = worst_p = 0.0
    for x in rows:
        for t, z in enumerate(x["logits"]):
            p = softmax(z, T)
            o = x["tokens"][t]
            en = math.sqrt(sum((pv - (1.0 if v == o else 0.0)) ** 2 for v, pv in enumerate(p)))
            g = abs(x["coef"]) * en * x["hnorm"][t]
            h = -sum(pv * math.log(pv) for pv in p if pv > 0)
            worst_g = max(worst_g, abs(g - x["g"][t]) / max(g, 1e-6))
            worst_h = max(worst_h, abs(h - x["entropies"][t]))
            worst_p = max(worst_p, abs(p[o] - x["prob"][t]))
    check(worst_g < 1e-3, "gradnorm: G = |coef| ||e(o) - softmax(z/T)|| ||h|| recomputed from the logits (max rel diff %.2g)" % worst_g)
    check(worst_h < 1e-5 and worst_p < 1e-5, "gradnorm: entropy and pi(o_t) recomputed from the logits (%.2g, %.2g)" % (worst_h, worst_p))
    x = rows[0]
    sc = score(x["prompt_tokens"] + x["tokens"], T)
    p0 = len(x["prompt_tokens"]) - 1
    check(all(near(math.log(x["prob"][t]), sc["logprobs"][p0 + t], 1e-4) for t in range(x["n_tokens"])),
          "gradnorm: pi(o_t) agrees with rlvr score's log-probs")
    # Summary from the per-response file: tokens with A != 0, split by the sign of A.
    for cls, sel in (("all", [x for x in rows if x["adv"] != 0]), ("pos", [x for x in rows if x["adv"] > 0]), ("neg", [x for x in rows if x["adv"] < 0])):
        gs = [v for x in sel for v in x["g"]]
        hs = [v for x in sel for v in x["entropies"]]
        c = s["correlation_g_entropy"][cls]
        bins = s["by_entropy_bin"][cls]
        check(c["n"] == len(gs) and near(c["pearson"], pearson(gs, hs), 1e-5) and sum(b["count"] for b in bins) == len(gs),
              "gradnorm: %s correlation and bin counts from the per-response file" % cls)
        order = sorted(range(len(hs)), key=lambda i: (hs[i], i))
        first = [gs[i] for i in order[: bins[0]["count"]]]
        check(near(bins[0]["g_mean"], sum(first) / len(first), 1e-5), "gradnorm: %s lowest-entropy bin mean G" % cls)
    return rows


def test_replace(d, gn_rows):
    T = 0.7
    args = [*BASE, "--data", "arith:heldout:6", "-n", "4", "--temperature", str(T), "-k", "4", "--positions", "top-entropy:2", "--bins", "3"]
    outs = [os.path.join(d, "rp%d" % i) for i in range(3)]
    r = analyze("replace", *args, "--out", outs[0])
    check(r.returncode == 0, "replace: exit 0 (%s)" % r.stderr[-300:])
    analyze("replace", *args, "--out", outs[1])
    analyze("replace", *args, "--out", outs[2], "--batch", "3")
    raw = [open(os.path.join(o, "replace.jsonl"), "rb").read() for o in outs]
    check(raw[0] == raw[1] and len(raw[0]) > 0, "replace: the same command twice -> byte-identical replace.jsonl")
    check(raw[0] == raw[2], "replace: --batch 3 -> identical results (seeded per continuation)")
    rows = lines(os.path.join(outs[0], "replace.jsonl"))
    s = json.load(open(os.path.join(outs[0], "summary.json")))
    check(len(rows) == 48 and s["positions"] == 48, "replace: 2 positions x 24 responses")
    k = 4
    check(all(x["replacement_id"] != x["original_id"] for x in rows), "replace: the replacement differs from the original")
    check(all(abs(x["acc_original"] * k - round(x["acc_original"] * k)) < 1e-12 and abs(x["acc_replaced"] * k - round(x["acc_replaced"] * k)) < 1e-12
              for x in rows), "replace: accuracies are multiples of 1/k")
    check(all(x["impact"] == x["acc_original"] - x["acc_replaced"] for x in rows), "replace: impact = acc_original - acc_replaced")
    # The positions are each response's two highest-entropy tokens; the replacement is the argmax of
    # the other logits (gradnorm dumped the same responses' logits), with log-probs matching rlvr score.
    by = {(x["index"], x["sample"]): x for x in gn_rows}
    ok_pos = ok_arg = True
    for x in rows:
        g = by[(x["index"], x["sample"])]
        ents = g["entropies"]
        top2 = sorted(sorted(range(len(ents)), key=lambda i: (-ents[i], i))[:2])
        mine = sorted(y["position"] for y in rows if (y["index"], y["sample"]) == (x["index"], x["sample"]))
        ok_pos &= mine == top2 and near(x["entropy"], ents[x["position"]], 1e-5)
        z = g["logits"][x["position"]]
        o = g["tokens"][x["position"]]
        best = max((v for v in range(len(z)) if v != o), key=lambda v: (z[v], -v))
        ok_arg &= x["original_id"] == o and x["replacement_id"] == best
    check(ok_pos, "replace: positions = the two highest-entropy tokens of each response")
    check(ok_arg, "replace: replacement = argmax over the other tokens of the logits")
    for x in rows[:3]:
        g = by[(x["index"], x["sample"])]
        pre = g["prompt_tokens"] + g["tokens"][: x["position"]]
        so = score(pre + [x["original_id"]], T)["logprobs"][-1]
        sr = score(pre + [x["replacement_id"]], T)["logprobs"][-1]
        check(near(so, x["original_logprob"], 1e-4) and near(sr, x["replacement_logprob"], 1e-4),
              "replace: log-probs of both ids match rlvr score (position %d of %s)" % (x["position"], x["id"]))
    ends = [x for x in rows if x["original_ends"]]
    check(all(x["acc_original"] in (0.0, 1.0) for x in ends), "replace: a branch ending at t is graded once (acc 0 or 1)")
    imp = [x["impact"] for x in rows]
    check(near(s["impact_mean"], sum(imp) / len(imp), 1e-9) and sum(b["count"] for b in s["by_entropy_bin"]) == len(rows),
          "replace: summary impact mean and bin counts")
    # --positions all --max-positions 3: positions 0, 1, 2 of every response.
    out = os.path.join(d, "rpall")
    r = analyze("replace", *BASE, "--data", "arith:heldout:2", "-n", "2", "-k", "2", "--positions", "all", "--max-positions", "3", "--out", out)
    rows = lines(os.path.join(out, "replace.jsonl"))
    check(r.returncode == 0 and [x["position"] for x in rows] == [0, 1, 2] * 4, "replace: --positions all up to --max-positions")


def perturbed_policy(d):
    """Policy B for shift: the base converted to an HF directory with model.norm.weight scaled by 1.3
    (edited in the safetensors file directly: 8-byte header length, JSON header, raw little-endian data)."""
    import array
    import struct
    hf = os.path.join(d, "policy_b")
    r = subprocess.run([RLVR, "convert", MODEL, hf], capture_output=True, text=True, env=ENV)
    check(r.returncode == 0, "shift: rlvr convert of the base (%s)" % r.stderr[-200:])
    path = os.path.join(hf, "model.safetensors")
    raw = bytearray(open(path, "rb").read())
    hlen = struct.unpack("<Q", raw[:8])[0]
    meta = json.loads(raw[8:8 + hlen])["model.norm.weight"]
    check(meta["dtype"] == "F32", "shift: norm weight is F32")
    b0, b1 = (8 + hlen + o for o in meta["data_offsets"])
    w = array.array("f", bytes(raw[b0:b1]))
    raw[b0:b1] = array.array("f", [x * 1.3 for x in w]).tobytes()
    open(path, "wb").write(raw)
    return hf


def test_shift(d):
    T = 0.8
    b = perturbed_policy(d)
    out = os.path.join(d, "shift")
    r = analyze("shift", *BASE, "--model-b", b, "--data", "arith:heldout:5", "-n", "3", "--temperature", str(T), "--bins", "3",
                "--save-tokens", "--out", out)
    check(r.returncode == 0, "shift: exit 0 (%s)" % r.stderr[-300:])
    rows = lines(os.path.join(out, "shift.jsonl"))
    s = json.load(open(os.path.join(out, "summary.json")))
    check(len(rows) == 15 and s["responses"] == 15, "shift: one line per response (5 problems x 3)")
    # both policies' log-probs equal rlvr score's for the same tokens; delta = B - A; seq_delta = its sum
    worst, worst_d = 0.0, 0.0
    for x in rows[:4]:
        seq = x["prompt_tokens"] + x["tokens"]
        sa = score(seq, T)["logprobs"][len(x["prompt_tokens"]) - 1:]
        sb = score(seq, T, b)["logprobs"][len(x["prompt_tokens"]) - 1:]
        for t in range(len(x["tokens"])):
            worst = max(worst, abs(sa[t] - x["logprob_a"][t]) / max(1.0, abs(sa[t])), abs(sb[t] - x["logprob_b"][t]) / max(1.0, abs(sb[t])))
            worst_d = max(worst_d, abs(x["delta"][t] - (x["logprob_b"][t] - x["logprob_a"][t])))
        check(near(x["seq_delta"], sum(x["delta"]), 1e-5), "shift: seq_delta is the sum of the token shifts (%s)" % x["id"])
    check(worst < 1e-4, "shift: log-probs of A and B equal rlvr score's (max rel diff %.2g)" % worst)
    check(worst_d < 1e-6, "shift: delta = logprob_b - logprob_a (max diff %.2g)" % worst_d)
    deltas = [v for x in rows for v in x["delta"]]
    check(s["tokens"] == len(deltas) and any(abs(v) > 1e-4 for v in deltas), "shift: the scaled norm moved some log-probs")
    check(near(s["delta_mean"]["all"], sum(deltas) / len(deltas), 1e-5), "shift: mean delta = mean of the per-token shifts")
    check(near(s["frac_up"]["all"], sum(v > 0 for v in deltas) / len(deltas), 1e-9), "shift: frac_up counts the positive shifts")
    pos = [v for x in rows if x["correct"] for v in x["delta"]]
    check(s["tokens_by_class"]["pos"] == len(pos), "shift: correct-response tokens counted in pos")
    check(sum(bb["count"] for bb in s["by_entropy_bin"]["all"]) == len(deltas), "shift: entropy bins cover every token once")
    # A against itself: nothing moves, exactly
    out2 = os.path.join(d, "shift_same")
    r = analyze("shift", *BASE, "--model-b", MODEL, "--data", "arith:heldout:3", "-n", "2", "--out", out2)
    s2 = json.load(open(os.path.join(out2, "summary.json")))
    check(r.returncode == 0 and s2["abs_delta_mean"]["all"] == 0 and s2["frac_up"]["all"] == 0, "shift: a policy against itself -> all shifts 0")


def test_errors(d):
    cases = [
        (["bogus", "--model", MODEL, "--data", "arith:heldout:2"], "bogus", "unknown analysis"),
        (["entropy", "--data", "arith:heldout:2"], "--model", "missing --model"),
        (["entropy", "--model", MODEL, "--data", "arith:heldout:2", "-n", "x"], "-n", "bad -n"),
        (["entropy", "--model", MODEL, "--data", "arith:heldout:2", "--temperature", "0"], "--temperature", "temperature 0"),
        (["replace", "--model", MODEL, "--data", "arith:heldout:2", "-k", "0"], "-k", "bad -k"),
        (["replace", "--model", MODEL, "--data", "arith:heldout:2", "--positions", "top-entropy:x"], "--positions", "bad --positions"),
        (["entropy", "--model", MODEL, "--data", "arith:heldout:2", "-k", "3"], "-k", "-k outside replace"),
        (["entropy", "--model", MODEL, "--data", os.path.join(d, "missing.jsonl")], "missing.jsonl", "unreadable data"),
        (["entropy", "--model", MODEL, "--data", "arith:train"], "arith:heldout", "bad arith spec"),
        (["entropy", "--model", os.path.join(d, "nomodel.h5"), "--data", "arith:heldout:2"], "nomodel.h5", "unreadable model"),
        (["gradnorm", "--model", MODEL, "--data", "arith:heldout:2", "--dump-logits"], "--out", "--dump-logits without --out"),
        (["entropy", "--model", MODEL, "--data", "arith:heldout:2", "trainer.seed=2"], "--config", "override without --config"),
        (["shift", "--model", MODEL, "--data", "arith:heldout:2"], "--model-b", "shift without --model-b"),
        (["shift", "--model", MODEL, "--model-b", os.path.join(ROOT, "tests", "fixtures", "qwen2_gqa"), "--data", "arith:heldout:2"],
         "--model-b", "shift with another architecture"),
        (["entropy", "--model", MODEL, "--model-b", MODEL, "--data", "arith:heldout:2"], "--model-b", "--model-b outside shift"),
    ]
    for args, word, what in cases:
        r = analyze(*args)
        check(r.returncode == 2 and word in r.stderr, "error: %s -> exit 2 naming '%s' (rc %d: %s)" % (what, word, r.returncode, r.stderr.strip()[:160]))


def main():
    d = tmpdir("analyze")
    toks = test_entropy(d)
    rows = test_gradnorm(d, toks)
    test_replace(d, rows)
    test_shift(d)
    test_errors(d)
    cleanup(d)
    finish()


if __name__ == "__main__":
    main()
