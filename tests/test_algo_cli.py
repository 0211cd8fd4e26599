#!/usr/bin/python3
"""`rlvr algo`: every op with hand-derived values, masked junk, malformed requests, stream behaviour."""
import json
import math
import statistics
import os
import subprocess
import sys
import tempfile

from checks import Checks

BIN = os.environ.get("RLVR_BIN", "build/bin")
RLVR = os.path.join(BIN, "rlvr")
check = Checks()


def near(a, b, tol=1e-6):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(near(x, y, tol) for x, y in zip(a, b))
    return a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(b))


def run_lines(lines, args=()):
    text = "".join(l if l.endswith("\n") else l + "\n" for l in lines)
    p = subprocess.run([RLVR, "algo", *args], input=text.encode(), capture_output=True, timeout=60)
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    return p.returncode, out, p.stderr.decode()


def call(op, inputs, params=None):
    req = {"op": op, "inputs": inputs}
    if params is not None:
        req["params"] = params
    rc, out, err = run_lines([json.dumps(req)])
    assert len(out) == 1, (op, out, err)
    return out[0]


def ok(op, inputs, params=None):
    r = call(op, inputs, params)
    check("outputs" in r and r.get("op") == op, f"{op} failed: {r}")
    return r.get("outputs", {})


def err(op, inputs, params=None, needle=""):
    r = call(op, inputs, params)
    check("error" in r and needle in r.get("error", ""), f"{op} expected error with '{needle}': {r}")
    return r


# ---- grpo_advantage -------------------------------------------------------------------------------
# Group a {1,-1,-1,1}: mean 0, sample std sqrt(4/3) -> +-0.8660250; b {1,1}: all equal -> 0;
# c {0.5} alone -> 0.5/(1+1e-6).
o = ok("grpo_advantage", {"scores": [1, -1, -1, 1, 1, 1, 0.5], "group": ["a", "a", "a", "a", "b", "b", "c"]})
d = 1 / (math.sqrt(4 / 3) + 1e-6)
check(near(o["advantages"], [d, -d, -d, d, 0, 0, 0.5 / (1 + 1e-6)]), f"grpo {o}")
check(o["advantages"][4] == 0 and o["advantages"][5] == 0, "all-equal group exactly 0")
# Integer group ids work like strings; Dr.GRPO (no std): {1, 0, 0} -> {2/3, -1/3, -1/3}.
o = ok("grpo_advantage", {"scores": [1, 0, 0], "group": [7, 7, 7]}, {"norm_by_std": False})
check(near(o["advantages"], [2 / 3, -1 / 3, -1 / 3]), f"drgrpo {o}")
o = ok("grpo_advantage", {"scores": [1, 0], "group": [1, 1]}, {"epsilon": 0.0})
check(near(o["advantages"], [0.5 / math.sqrt(0.5), -0.5 / math.sqrt(0.5)]), f"eps 0 {o}")  # mean .5, std sqrt(.5)
o = ok("grpo_advantage", {"scores": [], "group": []})
check(o["advantages"] == [], "empty batch")

# ---- reward / overlong / filter_groups ----------------------------------------------------------------
check(ok("reward", {"correct": [True, False, 1, 0]})["scores"] == [1, -1, 1, -1], "reward pm1")
check(ok("reward", {"correct": [True, False]}, {"format": "01"})["scores"] == [1, 0], "reward 01")
# max_len 10, cache 4: free up to 6; L=7 -> -1/4; L=10 -> -1; L=12 -> -1.5 (no floor, as DAPO).
o = ok("overlong", {"lengths": [5, 6, 7, 10, 12], "scores": [1, 1, 1, -1, 0]}, {"max_len": 10, "cache_len": 4, "factor": 1})
check(near(o["penalty"], [0, 0, -0.25, -1, -1.5]) and near(o["reward"], [1, 1, 0.75, -2, -1.5]), f"overlong {o}")
o = ok("overlong", {"lengths": [8192, 7680], "scores": [1, 1]}, {"max_len": 8192, "cache_len": 1024, "factor": 0.5})
check(near(o["penalty"], [-0.5, -0.25]), f"overlong paper {o}")
o = ok("filter_groups", {"group": ["x", "y", "x", "z", "y"], "metric": [1, 1, 0, 1, 1]})
check(o["kept_groups"] == ["x", "z"] and o["kept_index"] == [0, 2, 3], f"filter {o}")

# ---- ppl_shaping ---------------------------------------------------------------------------------------
# ln PPL {1, 2, 3}: mu 2. Default sigma: the population std (ddof 0, the authors' np.std), sqrt(2/3);
# with sigma_ddof 1 the sample std 1 -> w {-1, 0, 1}; alpha 0.5 -> factors {1.5, 1, 0.5}.
lp = [[-1, -1], [-2], [-3, -3, -3]]
o = ok("ppl_shaping", {"advantages": [1, 1, -1], "group": [1, 1, 1], "logprobs": lp}, {"alpha": 0.5})
pw = [(x - 2) / statistics.pstdev([1, 2, 3]) for x in (1, 2, 3)]
check(near(o["weights"], pw) and near(o["advantages"], [1 - 0.5 * pw[0], 1, -(1 - 0.5 * pw[2])]), f"ppl population {o}")
o = ok("ppl_shaping", {"advantages": [1, 1, -1], "group": [1, 1, 1], "logprobs": lp}, {"alpha": 0.5, "sigma_ddof": 1})
check(near(o["weights"], [-1, 0, 1]) and near(o["advantages"], [1.5, 1, -0.5]), f"ppl sample {o}")
err("ppl_shaping", {"advantages": [1], "group": [1], "logprobs": [[-1]]}, {"sigma_ddof": 2}, "sigma_ddof")
o = ok("ppl_shaping", {"advantages": [1, 1, -1], "group": [1, 1, 1], "logprobs": lp}, {"alpha": 0.5, "sigma_ddof": 1, "clamp": [0.8, 1.2]})
check(near(o["advantages"], [1.2, 1, -0.8]), f"ppl clamp {o}")
o = ok("ppl_shaping", {"advantages": [0.3, -0.7, 2], "group": ["a", "a", "b"], "logprobs": lp}, {"alpha": 0.0})
check(o["advantages"] == [0.3, -0.7, 2] or near(o["advantages"], [0.3, -0.7, 2], 1e-7), "alpha 0 identity")
# IQR: ln PPL {1,2,3,4,100} -> 100 outside [-1, 7]; mu 2.5, sample sigma sqrt(5/3).
o = ok("ppl_shaping", {"advantages": [1] * 5, "group": [0] * 5, "logprobs": [[-1], [-2], [-3], [-4], [-100]]},
       {"iqr_filter": True, "alpha": 0.01, "clamp": [0.8, 1.2], "sigma_ddof": 1})
check(near(o["weights"][0], -1.5 / math.sqrt(5 / 3)) and near(o["advantages"][4], 0.8), f"ppl iqr {o}")
# Zero-length response: weight 0, excluded from the statistics.
o = ok("ppl_shaping", {"advantages": [1, 1, 1], "group": [0, 0, 0], "logprobs": [[-1], [-3], []]}, {"alpha": 0.1, "sigma_ddof": 1})
check(near(o["weights"], [-1 / math.sqrt(2), 1 / math.sqrt(2), 0]) and o["advantages"][2] == 1, f"ppl empty {o}")

# ---- position_shaping ------------------------------------------------------------------------------------
sig = lambda x: 1 / (1 + math.exp(-x))
o = ok("position_shaping", {"advantages": [1, -0.1, 0, 2], "lengths": [4, 2, 1, 0]},
       {"gamma": 0.1, "m": 15, "n": 0.5, "d": 1, "cap": 0.5})
want0 = [1 + 0.1 * sig(15 * (t / 4 - 0.5)) for t in range(4)]
check(near(o["advantages"][0], want0), f"pos row0 {o}")
check(near(o["advantages"][1], [-0.1 - 0.1 * sig(-7.5), -0.15]), f"pos cap {o}")
check(o["advantages"][2] == [0] and o["advantages"][3] == [], f"pos A=0/len 0 {o}")
o = ok("position_shaping", {"advantages": [0.02], "lengths": [2]}, {"cap": None})
check(near(o["advantages"][0][1], 0.07), f"pos no cap {o}")
o = ok("position_shaping", {"advantages": [-0.37], "lengths": [3]}, {"gamma": 0})
check(near(o["advantages"][0], [-0.37] * 3, 1e-7), "gamma 0 identity")
o = ok("position_shaping", {"advantages": [1], "lengths": [2]}, {"step": 200})
check(o["active"] is False and o["advantages"][0] == [1, 1], f"window inactive {o}")
o = ok("position_shaping", {"advantages": [1], "lengths": [2]}, {"step": 201})
check(o["active"] is True and near(o["advantages"][0][1], 1.05), f"window active {o}")
o = ok("position_shaping", {"advantages": [1], "lengths": [2]}, {"step": 150, "start_at_plateau": True, "plateau_step": 150})
check(o["active"] is True, "plateau window")

# ---- policy_loss ---------------------------------------------------------------------------------------
# Row 0: A=1 x=0.1 (inside: -e^0.1), A=1 x=0.5 (clipped -1.28), A=-1 x=2 (dual clip -> 3), A=0.
# Row 1: A=-1 x=0.5 (unclipped e^0.5), then padding with junk.
P = {"log_prob": [[0.1, 0.5, 2.0, 1.0], [0.5, None, 1e300, -5]],
     "old_log_prob": [[0, 0, 0, 0], [0, None, None, 3]],
     "advantages": [[1, 1, -1, 0], [-1, None, 7, 1e300]],
     "mask": [[1, 1, 1, 1], [1, 0, 0, 0]]}
want_tl = [-math.exp(0.1), -1.28, 3.0, 0.0, math.exp(0.5)]
o = ok("policy_loss", P)
check(near(o["loss"], sum(want_tl) / 5), f"pl token-mean {o['loss']}")
check(near(o["clipfrac"], 1 / 5) and near(o["clipfrac_lower"], 1 / 5), f"clipfracs {o}")
check(near(o["ppo_kl"], -(0.1 + 0.5 + 2 + 1 + 0.5) / 5), "ppo_kl")
check(near(o["token_loss"][0], want_tl[:4]) and near(o["token_loss"][1], [want_tl[4], 0, 0, 0]), f"token_loss {o}")
check(near(o["grad"][0], [-math.exp(0.1) / 5, 0, 0, 0]) and near(o["grad"][1], [math.exp(0.5) / 5, 0, 0, 0]), f"grad {o}")
check(o["ratio"][1][1:] == [0, 0, 0], "masked ratio 0")
o = ok("policy_loss", P, {"global_tokens": 10})
check(near(o["loss"], sum(want_tl) / 10), "global_tokens")
o = ok("policy_loss", P, {"loss_agg_mode": "seq-mean-token-sum"})
check(near(o["loss"], (sum(want_tl[:4]) + want_tl[4]) / 2), "seq-mean-token-sum")
o = ok("policy_loss", P, {"loss_agg_mode": "seq-mean-token-mean"})
check(near(o["loss"], (sum(want_tl[:4]) / 4 + want_tl[4]) / 2), "seq-mean-token-mean")
o = ok("policy_loss", P, {"clip_ratio_c": None})
check(near(o["token_loss"][0][2], math.exp(2.0)) and o["clipfrac_lower"] == 0, "no dual clip")
o = ok("policy_loss", P, {"clip_ratio_low": 0.1, "clip_ratio_high": 0.1})
check(near(o["token_loss"][0][0], -1.1), f"symmetric clip {o['token_loss']}")
# Ratio far outside: x = 60 clamps to 20.
o = ok("policy_loss", {"log_prob": [[60]], "old_log_prob": [[0]], "advantages": [[-1]], "mask": [[1]]}, {"clip_ratio_c": None})
check(near(o["ratio"][0][0], math.exp(20), 1e-6) and o["grad"][0][0] == 0, f"far ratio {o}")
# Finite difference of the loss through the CLI for one unclipped token.
base = {"log_prob": [[-1.0, -0.5]], "old_log_prob": [[-1.05, -0.4]], "advantages": [[0.7, -1.3]], "mask": [[1, 1]]}
g = ok("policy_loss", base)["grad"][0]
for i in range(2):
    h = 1e-3
    up = json.loads(json.dumps(base)); up["log_prob"][0][i] += h
    dn = json.loads(json.dumps(base)); dn["log_prob"][0][i] -= h
    fd = (ok("policy_loss", up)["loss"] - ok("policy_loss", dn)["loss"]) / (2 * h)
    check(abs(fd - g[i]) < 1e-4, f"cli fd token {i}: {fd} vs {g[i]}")

# ---- agg_loss ------------------------------------------------------------------------------------------
L = {"loss": [[1, 2, 3], [4, None, 1e300]], "mask": [[1, 1, 1], [1, 0, 0]]}
check(near(ok("agg_loss", L)["loss"], 2.5), "agg token-mean")
check(near(ok("agg_loss", L, {"global_tokens": 8})["loss"], 1.25), "agg global")
check(near(ok("agg_loss", L, {"loss_agg_mode": "seq-mean-token-sum"})["loss"], 5), "agg seq sum")
check(near(ok("agg_loss", L, {"loss_agg_mode": "seq-mean-token-mean"})["loss"], 3), "agg seq mean")
check(ok("agg_loss", {"loss": [[5]], "mask": [[0]]})["loss"] == 0, "agg nothing valid -> 0")

# ---- entropy / kl / grad_norm_proxy ---------------------------------------------------------------------
o = ok("entropy", {"logits": [[[0, 0], [0, math.log(3)]]], "labels": [[0, 1]]})
check(near(o["entropy"][0], [math.log(2), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]), f"entropy {o}")
check(near(o["log_prob"][0], [math.log(0.5), math.log(0.75)]), "entropy log_prob")
o = ok("entropy", {"logits": [[[0, math.log(3)]]], "labels": [[0]]}, {"temperature": 0.5})
check(near(o["entropy"][0][0], -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))), f"entropy T {o}")
o = ok("entropy", {"logits": [[[0, 0], None]], "labels": [[1, 99]], "mask": [[1, 0]]})
check(near(o["entropy"][0], [math.log(2), 0]), f"entropy masked junk {o}")
o = ok("kl", {"log_prob": [[-1, -1.5, 0]], "ref_log_prob": [[-1.5, -1, -25]]}, {"kl_type": "k3"})
check(near(o["kl"][0], [math.exp(-0.5) - 0.5, math.exp(0.5) - 1.5, 10]), f"k3 {o}")
check(near(o["grad"][0], [1 - math.exp(-0.5), 1 - math.exp(0.5), 0]), "k3 grad")
check(near(ok("kl", {"log_prob": [[-1]], "ref_log_prob": [[-1.5]]}, {"kl_type": "k1"})["kl"][0], [0.5]), "k1")
check(near(ok("kl", {"log_prob": [[-1.5]], "ref_log_prob": [[-1]]}, {"kl_type": "abs"})["kl"][0], [0.5]), "abs")
check(near(ok("kl", {"log_prob": [[-1.5]], "ref_log_prob": [[-1]]}, {"kl_type": "k2"})["kl"][0], [0.125]), "k2")
check(near(ok("kl", {"log_prob": [[-1.5]], "ref_log_prob": [[-1]]}, {"kl_type": "low_var_kl"})["kl"][0],
           [math.exp(0.5) - 1.5]), "low_var_kl alias")
o = ok("grad_norm_proxy", {"logits": [[0, 0], [0, 0]], "labels": [0, 1], "hidden_norm": [2, 1], "coef": [-3, 0]})
check(near(o["g"], [3 * math.sqrt(0.5) * 2, 0]), f"gnp {o}")

# ---- quality / stage -----------------------------------------------------------------------------------
o = ok("quality", {"text": ["so \\boxed{2}", "\u6240\u4ee5 \\boxed{1}\\boxed{2}", "a b " * 10]},
       {"ngram": 2, "max_repeats": 4})
check(o["boxed_count"] == [1, 2, 0] and o["has_cjk"] == [False, True, False] and o["repetitive"] == [False, False, True],
      f"quality {o}")
check(o["any"] == [False, True, True] and o["cjk_count"] == [0, 2, 0], "quality any")
acc = [0.005 * i if i < 100 else 0.5 for i in range(200)]
o = ok("stage", {"accuracy": acc})
check(o["stage"] == "plateau" and 100 <= o["plateau_index"] <= 125, f"stage {o}")
o = ok("stage", {"accuracy": acc[:100]})
check(o["stage"] == "rising" and o["plateau_index"] is None, f"stage rising {o}")

# ---- malformed requests: each gets an error line, the stream goes on ---------------------------------
bad_cases = [
    ("garbage", "not JSON"),
    ("[1, 2]", "must be an object"),
    ('{"inputs": {}}', "missing \\\"op\\\"" if False else "missing"),
    ('{"op": 5, "inputs": {}}', "missing"),
    ('{"op": "frobnicate", "inputs": {}}', "unknown op"),
    ('{"op": "grpo_advantage"}', "inputs"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1]}}', "inputs.group"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1, 2], "group": ["a"]}}', "expected 2"),
    ('{"op": "grpo_advantage", "inputs": {"scores": ["1"], "group": ["a"]}}', "must be a number"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [null], "group": ["a"]}}', "must be a number"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [NaN], "group": ["a"]}}', "not JSON"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1e999], "group": ["a"]}}', "not JSON"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1e300], "group": ["a"]}}', "float32"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": [1.5]}}', "group id"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"]}, "params": {"epsilon": -1}}', "epsilon"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"]}, "params": {"eps": 1}}', "unknown key"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"], "extra": 1}}', "unknown key"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"]}, "params": {"norm_by_std": 1}}', "true or false"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"]}, "params": [1]}', "params"),
    ('{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["a"]}, "op": "kl"}', "not JSON"),
    ('{"op": "overlong", "inputs": {"lengths": [1], "scores": [1]}, "params": {"max_len": 10}}', "cache_len"),
    ('{"op": "overlong", "inputs": {"lengths": [1], "scores": [1]}, "params": {"max_len": 10, "cache_len": 20}}', "overlong_buffer.len"),
    ('{"op": "overlong", "inputs": {"lengths": [1.5], "scores": [1]}, "params": {"max_len": 10, "cache_len": 2}}', "integer"),
    ('{"op": "overlong", "inputs": {"lengths": [-1], "scores": [1]}, "params": {"max_len": 10, "cache_len": 2}}', "integer"),
    ('{"op": "overlong", "inputs": {"lengths": [1], "scores": [1]}, "params": {"max_len": 99999999999999999999, "cache_len": 2}}', ""),
    ('{"op": "ppl_shaping", "inputs": {"advantages": [1], "group": [1], "logprobs": [[-1], [-2]]}}', "logprobs"),
    ('{"op": "ppl_shaping", "inputs": {"advantages": [1], "group": [1], "logprobs": [-1]}}', "logprobs[0]"),
    ('{"op": "ppl_shaping", "inputs": {"advantages": [1], "group": [1], "logprobs": [[-1]]}, "params": {"clamp": [1.2, 0.8]}}', "clamp"),
    ('{"op": "ppl_shaping", "inputs": {"advantages": [1], "group": [1], "logprobs": [[-1]]}, "params": {"clamp": 0.8}}', "clamp"),
    ('{"op": "position_shaping", "inputs": {"advantages": [1], "lengths": [1000000000]}}', "integer"),
    ('{"op": "position_shaping", "inputs": {"advantages": [1, 1], "lengths": [50000000, 50000000]}}', "more than"),
    ('{"op": "position_shaping", "inputs": {"advantages": [1], "lengths": [3]}, "params": {"cap": "half"}}', "cap"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0], [0]], "old_log_prob": [[0, 0], [0, 0]], "advantages": [[1, 1], [1, 1]], "mask": [[1, 1], [1, 0]]}}', "pad every row"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0]], "old_log_prob": [[0, 0]], "advantages": [[1, 1]], "mask": [[1, 2]]}}', "0 or 1"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0, 0]], "old_log_prob": [[0, 0]], "advantages": [[1, 1]], "mask": [[1, 1]]}}', "expected 2"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0]], "old_log_prob": [[0, null]], "advantages": [[1, 1]], "mask": [[1, 1]]}}', "null"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0]], "old_log_prob": [[0, 0]], "advantages": [[1, 1]]}}', "mask"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0]], "old_log_prob": [[0]], "advantages": [[1]], "mask": [[1]]}, "params": {"loss_agg_mode": "mean"}}', "loss_agg_mode"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0]], "old_log_prob": [[0]], "advantages": [[1]], "mask": [[1]]}, "params": {"clip_ratio_c": 0.5}}', "clip_ratio_c"),
    ('{"op": "policy_loss", "inputs": {"log_prob": [[0, 0]], "old_log_prob": [[0, 0]], "advantages": [[1, 1]], "mask": [[1, 1]]}, "params": {"global_tokens": 1}}', "global_tokens"),
    ('{"op": "policy_loss", "inputs": {"log_prob": 5, "old_log_prob": [[0]], "advantages": [[1]], "mask": [[1]]}}', "list of rows"),
    ('{"op": "entropy", "inputs": {"logits": [[[0, 0], [0]]], "labels": [[0, 0]]}}', "vocabulary"),
    ('{"op": "entropy", "inputs": {"logits": [[[0, 0]]], "labels": [[2]]}}', "labels"),
    ('{"op": "entropy", "inputs": {"logits": [[[0, 0]]], "labels": [[0]]}, "params": {"temperature": 0}}', "temperature"),
    ('{"op": "entropy", "inputs": {"logits": [[[]]], "labels": [[0]]}}', "non-empty"),
    ('{"op": "kl", "inputs": {"log_prob": [[0]], "ref_log_prob": [[0]]}, "params": {"kl_type": "full"}}', "kl_type"),
    ('{"op": "grad_norm_proxy", "inputs": {"logits": [[0, 0]], "labels": [0], "hidden_norm": [-1], "coef": [1]}}', "hidden_norm"),
    ('{"op": "grad_norm_proxy", "inputs": {"logits": [[0, 0]], "labels": [0, 1], "hidden_norm": [1], "coef": [1]}}', "labels"),
    ('{"op": "quality", "inputs": {"text": [5]}}', "string"),
    ('{"op": "stage", "inputs": {"accuracy": [1, 2], "entropy": [1]}}', "same length"),
    ('{"op": "stage", "inputs": {}}', "accuracy"),
    ('{"op": "filter_groups", "inputs": {"group": [{"a": 1}], "metric": [1]}}', "group id"),
]
good = json.dumps({"op": "grpo_advantage", "inputs": {"scores": [1, 0], "group": ["a", "a"]}})
lines = []
for text, _ in bad_cases:
    lines += [text, good]
lines.insert(1, "")          # blank lines are skipped, not answered
lines.append("   ")
rc, out, stderr = run_lines(lines)
check(rc == 1, f"exit status 1 when a request failed (got {rc})")
check(len(out) == 2 * len(bad_cases), f"one response per request: {len(out)} vs {2 * len(bad_cases)}")
for k, (text, needle) in enumerate(bad_cases):
    r, g2 = out[2 * k], out[2 * k + 1]
    check("error" in r and "outputs" not in r, f"bad case {k} {text[:60]!r} answered without error: {r}")
    check(needle in r.get("error", ""), f"bad case {k}: error {r.get('error')!r} lacks {needle!r}")
    check("outputs" in g2 and near(g2["outputs"]["advantages"], [0.7071061, -0.7071061]), f"good line after bad case {k}: {g2}")
check("line 1:" in out[0]["error"], "errors name the line")
check(out[4]["op"] is None and out[8]["op"] == "frobnicate", "error lines carry the op when known")

# Huge / deep inputs do not crash: a deeply nested array, a long line, binary junk.
junk = ["[" * 5000 + "]" * 5000, '{"op": "kl", "inputs": {"log_prob": [' + ",".join(["[0]"] * 20000) + ']}}',
        "\x00\x01\x02garbage\xff", '{"op": "grpo_advantage", "inputs": {"scores": [1], "group": ["' + "g" * 100000 + '"]}}']
p = subprocess.run([RLVR, "algo"], input="\n".join(junk).encode("latin-1") + b"\n", capture_output=True, timeout=60)
outs = p.stdout.decode().splitlines()
check(len(outs) == 4 and p.returncode == 1, f"junk stream: rc {p.returncode}, {len(outs)} lines, stderr {p.stderr[-300:]!r}")
check("outputs" in json.loads(outs[3]), "long group id works")

# File argument, '-' and --help; a missing file is a usage error.
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    f.write(good + "\n" + good + "\n")
p = subprocess.run([RLVR, "algo", f.name], capture_output=True, timeout=30)
check(p.returncode == 0 and len(p.stdout.decode().splitlines()) == 2, "file argument")
os.unlink(f.name)
p = subprocess.run([RLVR, "algo", "-"], input=(good + "\n").encode(), capture_output=True, timeout=30)
check(p.returncode == 0 and len(p.stdout.decode().splitlines()) == 1, "stdin via -")
p = subprocess.run([RLVR, "algo", "--help"], capture_output=True, timeout=30)
check(p.returncode == 0 and b"policy_loss" in p.stdout, "help")
p = subprocess.run([RLVR, "algo", "/nonexistent/x.jsonl"], capture_output=True, timeout=30)
check(p.returncode == 2 and b"cannot open" in p.stderr, "missing file")

sys.exit(check.summary())
