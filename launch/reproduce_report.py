#!/usr/bin/env python3
"""The report of launch/reproduce.sh: DIR/report.md and DIR/figures/*.png from the run directory.

    launch/reproduce_report.py DIR

Reads DIR/setup.json, DIR/timings.jsonl, DIR/base/ (evaluations and analyses of the base policy) and
DIR/runs/METHOD_sSEED/ (metrics.jsonl, eval/, analyze/). Everything the report says is computed here
from those files; docs/reproduction/README.md explains each number. Uses Debian's python3-matplotlib and
numpy (launch/setup.sh installs them).
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METHODS = ["baseline", "ppl", "position"]
LABEL = {"baseline": "GRPO + DAPO", "ppl": "+ PPL shaping", "position": "+ position shaping"}
COLOR = {"baseline": "tab:gray", "ppl": "tab:blue", "position": "tab:orange", "base": "black"}
SMOOTH = 25          # steps in the moving average of the training curves
TAIL = 50            # last steps whose training entropy is the table's "train entropy"
PASS_K = (1, 4, 8)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError):
        return []


def pass_at_k(n, c, k):
    """Unbiased Pass@k from n samples with c correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def eval_metrics(eval_dir):
    """Acc@n, Maj@n, Pass@1/4/8 and mean response length of one rlvr eval output."""
    s = load_json(os.path.join(eval_dir, "summary.json"))
    rows = load_jsonl(os.path.join(eval_dir, "arith_heldout.jsonl"))
    if not s or not rows:
        return None
    b = s["benchmarks"]["arith_heldout"]
    out = {"acc": b["acc"], "maj": b["maj"], "length": b["response_length_mean"], "problems": b["problems"], "n": b["samples"]}
    for k in PASS_K:
        if k <= b["samples"]:
            out["pass@%d" % k] = float(np.mean([pass_at_k(len(r["correct"]), r["n_correct"], k) for r in rows]))
    return out


def smooth(y, w=SMOOTH):
    y = np.asarray(y, dtype=float)
    if len(y) < w:
        return y
    c = np.convolve(y, np.ones(w) / w, mode="valid")
    return np.concatenate([np.full(w - 1, np.nan), c])


def mean_std(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return None, None, 0
    m = float(np.mean(xs))
    sd = float(np.std(xs, ddof=1)) if len(xs) > 1 else float("nan")
    return m, sd, len(xs)


def fmt(m, sd, digits=3):
    if m is None:
        return "-"
    if sd is None or math.isnan(sd):
        return "%.*f" % (digits, m)
    return "%.*f ± %.*f" % (digits, m, digits, sd)


class Run:
    def __init__(self, root, method, seed):
        self.method, self.seed = method, seed
        self.dir = os.path.join(root, "runs", "%s_s%d" % (method, seed))
        self.rows = [r for r in load_jsonl(os.path.join(self.dir, "metrics.jsonl")) if r.get("mode") == "grpo"]
        self.eval = eval_metrics(os.path.join(self.dir, "eval"))
        self.entropy = load_json(os.path.join(self.dir, "analyze", "entropy", "summary.json"))
        self.val = load_jsonl(os.path.join(self.dir, "val_metrics.jsonl"))   # held-out Acc@8 etc., step 0 included
        # the step the detector dates the plateau to (it is declared at the end of that step)
        self.plateau = next((r["plateau_step"] for r in self.rows if r.get("plateau_step", -1) >= 0), None)
        self.position_steps = [r["step"] for r in self.rows if r.get("position_shaping_active")]

    def col(self, key):
        return np.array([r.get(key) if r.get(key) is not None else np.nan for r in self.rows], dtype=float)

    def steps(self):
        return np.array([r["step"] for r in self.rows])


def stage_windows(run):
    """(name, first step, last step) of rising / early plateau / late plateau; None without a plateau."""
    if run.plateau is None or not run.rows:
        return None
    last = run.rows[-1]["step"]
    mid = run.plateau + (last - run.plateau) // 2
    return [("rising", 1, run.plateau - 1), ("plateau, first half", run.plateau, mid), ("plateau, second half", mid + 1, last)]


def window_mean(run, key, lo, hi):
    v = [r[key] for r in run.rows if lo <= r["step"] <= hi and r.get(key) is not None]
    return float(np.mean(v)) if v else float("nan")


def slope(run, key, lo, hi):
    pts = [(r["step"], r[key]) for r in run.rows if lo <= r["step"] <= hi and r.get(key) is not None]
    if len(pts) < 3:
        return float("nan")
    x, y = np.array(pts, dtype=float).T
    return float(np.polyfit(x, y, 1)[0])


# ---- figures ----------------------------------------------------------------------------------------

def fig_curves(runs, figdir):
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    panels = [("accuracy", "training accuracy (T 1, %d-step mean)" % SMOOTH, True), ("val_acc", "held-out Acc@8 (T 0.6)", False),
              ("entropy_mean", "token entropy of training responses (%d-step mean)" % SMOOTH, True),
              ("response_length_mean", "response length, tokens (%d-step mean)" % SMOOTH, True)]
    for a, (key, title, sm) in zip(ax.flat, panels):
        for m in METHODS:
            rs = [r for r in runs if r.method == m and r.rows]
            for i, r in enumerate(rs):
                if sm:
                    x, y = r.steps(), r.col(key)
                else:
                    x = np.array([v["step"] for v in r.val])
                    y = np.array([v[key] for v in r.val], dtype=float)
                a.plot(x, smooth(y) if sm else y, color=COLOR[m], lw=1.2, alpha=0.8, marker=None if sm else "o", ms=3,
                       label=LABEL[m] if i == 0 else None)
                if r.plateau is not None:
                    a.axvline(r.plateau, color=COLOR[m], ls="--", lw=0.8, alpha=0.7)
        a.set_title(title, fontsize=10)
        a.set_xlabel("step")
        a.grid(alpha=0.3)
    ax[0, 0].legend(fontsize=8)
    fig.suptitle("one line per run (seed); dashed: the plateau step the stage detector declared", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(figdir, "curves.png"), dpi=80)
    plt.close(fig)


def fig_entropy_stages(table, figdir):
    names = ["rising", "plateau, first half", "plateau, second half"]
    fig, ax = plt.subplots(1, len(METHODS), figsize=(12, 3.6), sharey=True)
    for a, m in zip(ax, METHODS):
        pos = [table[m][n]["pos"][0] for n in names]
        neg = [table[m][n]["neg"][0] for n in names]
        x = np.arange(len(names))
        a.bar(x - 0.2, [v if v is not None else 0 for v in pos], 0.4, label="correct", color="tab:green")
        a.bar(x + 0.2, [v if v is not None else 0 for v in neg], 0.4, label="incorrect", color="tab:red")
        a.set_xticks(x)
        a.set_xticklabels(["rising", "plateau\n1st half", "plateau\n2nd half"], fontsize=8)
        a.set_title(LABEL[m], fontsize=10)
        a.grid(alpha=0.3, axis="y")
    ax[0].set_ylabel("mean token entropy (training)")
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(figdir, "entropy_by_stage.png"), dpi=80)
    plt.close(fig)


def gradnorm_points(path):
    h, g = [], []
    for r in load_jsonl(path):
        if r.get("adv", 0) == 0:
            continue
        h.extend(r["entropies"])
        g.extend(r["g"])
    return np.array(h), np.array(g)


def spearman(x, y):
    if len(x) < 3:
        return float("nan")
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


def fig_gradnorm(root, figdir):
    sets = [("base", os.path.join(root, "base", "gradnorm"))] + [(m, os.path.join(root, "runs", "%s_s1" % m, "analyze", "gradnorm")) for m in METHODS]
    sets = [(n, p) for n, p in sets if os.path.exists(os.path.join(p, "gradnorm.jsonl"))]
    if not sets:
        return {}
    fig, ax = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.2), sharey=True)
    ax = np.atleast_1d(ax)
    out = {}
    for a, (n, p) in zip(ax, sets):
        h, g = gradnorm_points(os.path.join(p, "gradnorm.jsonl"))
        s = load_json(os.path.join(p, "summary.json")) or {}
        corr = s.get("correlation_g_entropy", {}).get("all", {})
        out[n] = {"tokens": int(len(h)), "pearson": corr.get("pearson"), "spearman": corr.get("spearman"), "g_mean": s.get("g_mean", {}).get("all")}
        keep = g > 0
        a.scatter(h[keep], g[keep], s=2, alpha=0.25, color=COLOR.get(n, "black"), rasterized=True)
        a.set_yscale("log")
        a.set_xlabel("token entropy H_t")
        title = "base" if n == "base" else LABEL[n] + " (seed 1)"
        a.set_title("%s\nSpearman %.2f, Pearson %.2f" % (title, corr.get("spearman") or float("nan"), corr.get("pearson") or float("nan")), fontsize=9)
        a.grid(alpha=0.3)
    ax[0].set_ylabel("gradient-norm proxy G_t")
    fig.tight_layout()
    fig.savefig(os.path.join(figdir, "gradnorm_vs_entropy.png"), dpi=80)
    plt.close(fig)
    return out


def fig_replace(root, figdir):
    sets = [("base", os.path.join(root, "base", "replace"))] + [(m, os.path.join(root, "runs", "%s_s1" % m, "analyze", "replace")) for m in METHODS]
    out = {}
    fig, a = plt.subplots(figsize=(6.5, 3.6))
    for n, p in sets:
        s = load_json(os.path.join(p, "summary.json"))
        if not s:
            continue
        bins = s.get("by_entropy_bin", [])
        out[n] = {"impact_mean": s.get("impact_mean"), "bins": [(b.get("entropy_mean"), b.get("impact_mean"), b.get("count")) for b in bins],
                  "spearman": (s.get("correlation_impact_entropy") or {}).get("spearman"), "positions": s.get("positions")}
        x = np.arange(len(bins))
        a.plot(x, [b.get("impact_mean") for b in bins], marker="o", color=COLOR.get(n, "black"), label="base" if n == "base" else LABEL[n] + " (seed 1)")
    a.set_xticks(range(max((len(v["bins"]) for v in out.values()), default=0)))
    a.set_xlabel("entropy quantile bin (low -> high)")
    a.set_ylabel("impact = acc(original) - acc(replaced)")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(figdir, "replace_by_entropy.png"), dpi=80)
    plt.close(fig)
    return out


# ---- the report -------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 2:
        sys.exit("usage: reproduce_report.py RUN_DIR")
    root = os.path.abspath(sys.argv[1])
    setup = load_json(os.path.join(root, "setup.json")) or {}
    seeds = int(setup.get("seeds", 1))
    figdir = os.path.join(root, "figures")
    os.makedirs(figdir, exist_ok=True)
    planned = [Run(root, m, s) for s in range(1, seeds + 1) for m in METHODS]
    # only finished runs (an interrupted reproduction reports what it has; its next call completes it)
    runs = [r for r in planned if r.rows and os.path.exists(os.path.join(r.dir, ".trained"))]
    if not runs:
        sys.exit("reproduce_report.py: no training run with metrics under %s/runs" % root)
    base_evals = [eval_metrics(os.path.join(root, "base", "eval_s%d" % s)) for s in range(1, seeds + 1)]
    base_evals = [e for e in base_evals if e]

    # main table: method x metric, mean ± std over seeds, difference to the baseline
    metrics = [("acc", "Acc@8"), ("maj", "Maj@8")] + [("pass@%d" % k, "Pass@%d" % k) for k in PASS_K] + \
              [("eval_entropy", "entropy (T 1)"), ("train_entropy", "train entropy (last %d)" % TAIL), ("length", "length")]
    vals = {}
    for m in METHODS:
        rs = [r for r in runs if r.method == m and r.eval]
        d = {}
        for key, _ in metrics:
            if key == "eval_entropy":
                d[key] = [r.entropy["entropy_mean"]["all"] if r.entropy else None for r in rs]
            elif key == "train_entropy":
                d[key] = [float(np.nanmean(r.col("entropy_mean")[-TAIL:])) for r in rs]
            else:
                d[key] = [r.eval.get(key) for r in rs]
        vals[m] = d
    base_vals = {k: [e.get(k) for e in base_evals] for k, _ in metrics if k not in ("eval_entropy", "train_entropy")}
    bent = load_json(os.path.join(root, "base", "entropy", "summary.json"))
    base_vals["eval_entropy"] = [bent["entropy_mean"]["all"]] if bent else []
    base_vals["train_entropy"] = []

    def diff_cell(m, key):
        mb, sb, nb = mean_std(vals["baseline"][key])
        mm, sm, nm = mean_std(vals[m][key])
        if mb is None or mm is None:
            return "-", None
        d = mm - mb
        if nb < 2 or nm < 2:
            return "%+.3f (1 seed)" % d, None
        spread = max(sb, sm)
        beyond = abs(d) > spread
        return "%+.3f %s" % (d, "**> spread**" if beyond else "(within spread %.3f)" % spread), beyond

    L = []
    L.append("# The paper, reproduced in miniature")
    L.append("")
    L.append("Generated by `launch/reproduce_report.py` from the run directory of `launch/reproduce.sh%s` "
             "(configs/reproduce/). Every number below is computed from that directory's files." % (" --quick" if setup.get("quick") else ""))
    L.append("")
    tim = load_jsonl(os.path.join(root, "timings.jsonl"))
    total = sum(t["seconds"] for t in tim)
    loads = [t["load1_before"] for t in tim] + [t["load1_after"] for t in tim]
    L.append("**Set-up.** %d method(s) x %d seed(s); %d learner ranks + %d rollout workers per run on a %d-core machine; "
             "held-out evaluation of %d problems x 8 samples at T 0.6 / top-p 0.95 (each seed on its own split); "
             "analyses on %d problems (replace: %d) at the training sampler (T 1). Wall time of all stages: %.0f s "
             "(%.1f min); 1-minute load average during the stages %.1f-%.1f (the machine has %d cores)."
             % (len(METHODS), seeds, setup.get("np", 2), setup.get("workers", 2), setup.get("nproc", 0), setup.get("eval_count", 0),
                setup.get("analyze_count", 0), setup.get("replace_count", 0), total, total / 60, min(loads) if loads else float("nan"),
                max(loads) if loads else float("nan"), setup.get("nproc", 0)))
    if len(runs) < len(planned):
        L.append("**Incomplete**: %d of the %d planned runs had finished when this report was written (%s); "
                 "run the same command again to complete it." % (len(runs), len(planned),
                 ", ".join("%s seed %d" % (LABEL[r.method], r.seed) for r in runs)))
    if setup.get("train_overrides"):
        L.append("Quick mode overrides: `%s`." % setup["train_overrides"])
    L.append("")

    # ---- table
    L.append("## Main table")
    L.append("")
    L.append("Final policies on the held-out split, mean ± sample std over seeds (base: over the seeds' splits). "
             "Difference to the baseline in the row below each method; it counts as beyond the seed-to-seed spread "
             "when |difference| > the larger of the two standard deviations.")
    L.append("")
    L.append("| method | " + " | ".join(n for _, n in metrics) + " |")
    L.append("|---|" + "---|" * len(metrics))
    L.append("| base policy | " + " | ".join(fmt(*mean_std(base_vals.get(k, []))[:2]) for k, _ in metrics) + " |")
    beyond = {}
    for m in METHODS:
        L.append("| %s | " % LABEL[m] + " | ".join(fmt(*mean_std(vals[m][k])[:2]) for k, _ in metrics) + " |")
        if m != "baseline":
            cells = []
            for k, _ in metrics:
                c, b = diff_cell(m, k)
                beyond[(m, k)] = b
                cells.append(c)
            L.append("| &nbsp;&nbsp;vs baseline | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Pass@k is the unbiased estimator from the 8 samples per problem (Pass@1 = Acc@8). Entropy (T 1): mean "
             "token entropy of 8 samples per problem at the training temperature (`rlvr analyze entropy`); train entropy: "
             "mean `entropy_mean` of the last %d training steps; length: mean response tokens at T 0.6." % TAIL)
    L.append("")
    L.append("Per run:")
    L.append("")
    L.append("| run | Acc@8 | Pass@8 | plateau step | position bonus active (steps) | final train acc (last %d) |" % TAIL)
    L.append("|---|---|---|---|---|---|")
    for r in runs:
        pa = "%d-%d" % (r.position_steps[0], r.position_steps[-1]) if r.position_steps else "never"
        L.append("| %s seed %d | %s | %s | %s | %s | %.3f |" % (LABEL[r.method], r.seed, "%.3f" % r.eval["acc"] if r.eval else "-",
                 "%.3f" % r.eval["pass@8"] if r.eval else "-", r.plateau if r.plateau is not None else "none", pa,
                 float(np.nanmean(r.col("accuracy")[-TAIL:]))))
    L.append("")

    # ---- curves
    fig_curves(runs, figdir)
    L.append("## Training curves and stages")
    L.append("")
    L.append("![curves](figures/curves.png)")
    L.append("")
    stage_rows = []
    slopes = {"rising": [], "plateau": []}
    ent_slopes = {"rising": [], "plateau": []}
    for r in runs:
        w = stage_windows(r)
        if not w:
            continue
        last = r.rows[-1]["step"]
        slopes["rising"].append(slope(r, "accuracy", 1, r.plateau - 1))
        slopes["plateau"].append(slope(r, "accuracy", r.plateau, last))
        ent_slopes["rising"].append(slope(r, "entropy_mean", 1, r.plateau - 1))
        ent_slopes["plateau"].append(slope(r, "entropy_mean", r.plateau, last))
        stage_rows.append((r, w))
    n_plateau = len(stage_rows)
    L.append("The stage detector (docs/algorithms.md, section 8) declared a plateau in %d of %d runs." % (n_plateau, len(runs)))
    if n_plateau:
        L.append("Least-squares slope of training accuracy per step, mean over those runs: rising %+.5f, plateau %+.5f; "
                 "of token entropy: rising %+.6f, plateau %+.6f."
                 % (np.nanmean(slopes["rising"]), np.nanmean(slopes["plateau"]), np.nanmean(ent_slopes["rising"]), np.nanmean(ent_slopes["plateau"])))
    L.append("")

    # ---- entropy of correct vs incorrect by stage
    names = ["rising", "plateau, first half", "plateau, second half"]
    table = {m: {n: {"pos": (None, None), "neg": (None, None)} for n in names} for m in METHODS}
    drops = {"pos": [], "neg": []}
    for m in METHODS:
        for n in names:
            pos, neg = [], []
            for r, w in stage_rows:
                if r.method != m:
                    continue
                lo, hi = next((a, b) for nn, a, b in w if nn == n)
                pos.append(window_mean(r, "entropy_pos", lo, hi))
                neg.append(window_mean(r, "entropy_neg", lo, hi))
            table[m][n]["pos"] = mean_std(pos)[:2]
            table[m][n]["neg"] = mean_std(neg)[:2]
    for r, w in stage_rows:
        k = max(5, min(SMOOTH, r.plateau // 4))
        for cls in ("pos", "neg"):
            v = r.col("entropy_" + cls)
            first, atp = np.nanmean(v[:k]), np.nanmean(v[max(0, r.plateau - k):r.plateau])
            drops[cls].append(first - atp)
    fig_entropy_stages(table, figdir)
    L.append("### Entropy of correct vs incorrect responses by stage")
    L.append("")
    L.append("Mean token entropy of the training responses (`entropy_pos` / `entropy_neg` in metrics.jsonl) in the rising "
             "stage (before the plateau step), the first half of the plateau and its second half; mean ± std over the runs "
             "that reached a plateau.")
    L.append("")
    L.append("| method | stage | correct | incorrect |")
    L.append("|---|---|---|---|")
    for m in METHODS:
        for n in names:
            L.append("| %s | %s | %s | %s |" % (LABEL[m], n, fmt(*table[m][n]["pos"], digits=4), fmt(*table[m][n]["neg"], digits=4)))
    L.append("")
    if drops["pos"]:
        L.append("Entropy drop over the rising stage (first %d-ish steps minus the steps just before the plateau), mean over runs: "
                 "correct %.4f, incorrect %.4f." % (SMOOTH, np.mean(drops["pos"]), np.mean(drops["neg"])))
        L.append("")
    L.append("![entropy by stage](figures/entropy_by_stage.png)")
    L.append("")

    # ---- gradnorm
    gn = fig_gradnorm(root, figdir)
    L.append("## G_t against entropy")
    L.append("")
    L.append("`rlvr analyze gradnorm` (docs/analysis.md): the LM-head gradient-norm proxy of every token with a non-zero "
             "advantage, against its entropy, on the base and on each method's final policy (seed 1).")
    L.append("")
    L.append("| policy | tokens | mean G | Pearson(G, H) | Spearman(G, H) |")
    L.append("|---|---|---|---|---|")
    for n, v in gn.items():
        L.append("| %s | %d | %s | %s | %s |" % ("base" if n == "base" else LABEL[n], v["tokens"], "%.5f" % v["g_mean"] if v["g_mean"] is not None else "-",
                                             "%.3f" % v["pearson"] if v["pearson"] is not None else "-", "%.3f" % v["spearman"] if v["spearman"] is not None else "-"))
    L.append("")
    L.append("![G vs entropy](figures/gradnorm_vs_entropy.png)")
    L.append("")

    # ---- replace
    rp = fig_replace(root, figdir)
    L.append("## Token replacement impact by entropy")
    L.append("")
    L.append("`rlvr analyze replace`: at the 4 highest-entropy positions of each response the sampled token is swapped for "
             "the most probable other one, and 32 continuations of each branch are graded; impact = accuracy(original) - "
             "accuracy(replaced), by entropy quantile bin.")
    L.append("")
    L.append("| policy | positions | mean impact | impact by entropy bin (mean H: impact) | Spearman(impact, H) |")
    L.append("|---|---|---|---|---|")
    for n, v in rp.items():
        bins = " ".join("[%.3f: %+.3f]" % (h, i) for h, i, _ in v["bins"] if h is not None and i is not None)
        L.append("| %s | %s | %s | %s | %s |" % ("base" if n == "base" else LABEL[n], v["positions"], "%+.3f" % v["impact_mean"] if v["impact_mean"] is not None else "-",
                                              bins, "%.3f" % v["spearman"] if v["spearman"] is not None else "-"))
    L.append("")
    L.append("![replacement impact](figures/replace_by_entropy.png)")
    L.append("")

    # ---- shift
    L.append("## Where the update moved probability (shift, base -> final, seed 1)")
    L.append("")
    L.append("| method | mean delta correct | mean delta incorrect | mean abs delta, lowest / highest entropy bin | Spearman(abs delta, H) |")
    L.append("|---|---|---|---|---|")
    shift = {}
    for m in METHODS:
        s = load_json(os.path.join(root, "runs", "%s_s1" % m, "analyze", "shift", "summary.json"))
        if not s:
            continue
        bins = s.get("by_entropy_bin", {}).get("all", [])
        shift[m] = s
        L.append("| %s | %+.4f | %+.4f | %s | %s |" % (LABEL[m], s["delta_mean"]["pos"], s["delta_mean"]["neg"],
                 "%.4f / %.4f" % (bins[0]["abs_delta_mean"], bins[-1]["abs_delta_mean"]) if bins else "-",
                 "%.3f" % s["correlation_abs_delta_entropy"]["all"]["spearman"]))
    L.append("")

    # ---- claims
    L.append("## The paper's claims at this scale")
    L.append("")
    claims = []
    # 1. two stages; the held-out curve too: its gain over the first validation interval against the rate after it
    early, late = [], []
    for r in runs:
        v = {x["step"]: x["val_acc"] for x in r.val}
        st = sorted(v)
        if len(st) >= 3 and st[0] == 0:
            early.append((v[st[1]] - v[0]) / st[1] * 100)
            late.append((v[st[-1]] - v[st[1]]) / (st[-1] - st[1]) * 100)
    held = ("; held-out Acc@8 gained %.1f points per 100 steps over the first validation interval and %.1f per 100 steps after it"
            % (100 * np.mean(early), 100 * np.mean(late))) if early else ""
    if n_plateau == len(runs) and n_plateau and np.nanmean(slopes["plateau"]) < np.nanmean(slopes["rising"]) / 2:
        st = "reproduced"
    elif n_plateau:
        st = "partly reproduced"
    else:
        st = "not reproduced"
    claims.append(("Training splits into a rising stage (fast accuracy gains, entropy falling) and a plateau (gains slow down).", st,
                   "plateau declared in %d of %d runs (steps %s) with thresholds calibrated for this task; training accuracy "
                   "slope %s per step before it vs %s after it%s; token entropy slope %s vs %s per step"
                   % (n_plateau, len(runs), ", ".join(str(r.plateau) for r, _ in stage_rows) or "-",
                      "%+.5f" % np.nanmean(slopes["rising"]) if slopes["rising"] else "-",
                      "%+.5f" % np.nanmean(slopes["plateau"]) if slopes["plateau"] else "-", held,
                      "%+.6f" % np.nanmean(ent_slopes["rising"]) if ent_slopes["rising"] else "-",
                      "%+.6f" % np.nanmean(ent_slopes["plateau"]) if ent_slopes["plateau"] else "-")))
    # 2. correct responses lower entropy
    lower = [table[m][n]["pos"][0] < table[m][n]["neg"][0] for m in METHODS for n in names
             if table[m][n]["pos"][0] is not None and table[m][n]["neg"][0] is not None]
    whole = [np.nanmean(r.col("entropy_pos")) < np.nanmean(r.col("entropy_neg")) for r in runs]
    finals = [r.entropy["entropy_mean"]["correct"] < r.entropy["entropy_mean"]["incorrect"] for r in runs if r.entropy]
    every = lower + whole + finals
    claims.append(("Correct (positive) responses have lower entropy than incorrect (negative) ones.",
                   "reproduced" if every and all(every) else ("not reproduced" if every else "not measurable at this scale"),
                   "correct < incorrect in %d of %d method x stage cells (table above), in %d of %d runs over all their steps, "
                   "for %d of %d final policies at T 1; base policy at T 1: correct %s, incorrect %s"
                   % (sum(lower), len(lower), sum(whole), len(whole), sum(finals), len(finals),
                      "%.4f" % bent["entropy_mean"]["correct"] if bent else "-", "%.4f" % bent["entropy_mean"]["incorrect"] if bent else "-")))
    # 3. rising stage: entropy reduction in negative samples
    if drops["neg"]:
        ok = np.mean(drops["neg"]) > np.mean(drops["pos"]) > -1
        claims.append(("Rising stage: the entropy reduction happens in the negative samples and drives the gains.",
                       "partly reproduced" if ok else "not reproduced",
                       "entropy drop over the rising stage: incorrect %.4f vs correct %.4f (mean over runs); that the drop "
                       "*drives* the gains is causal and not tested here" % (np.mean(drops["neg"]), np.mean(drops["pos"]))))
    else:
        claims.append(("Rising stage: the entropy reduction happens in the negative samples and drives the gains.", "not measurable at this scale", "no plateau detected, so no rising stage to delimit"))
    # 4. G_t grows with entropy
    sp = [v["spearman"] for v in gn.values() if v.get("spearman") is not None]
    claims.append(("High-entropy tokens carry the largest gradients (G_t grows with entropy).",
                   "reproduced" if sp and min(sp) > 0.3 else ("not reproduced" if sp else "not measurable at this scale"),
                   "Spearman(G, H) %s over %s" % (", ".join("%.2f" % x for x in sp), ", ".join(gn.keys()))))
    # 5. plateau: high-entropy tokens in low-PPL samples, at the end of sequences
    claims.append(("Plateau: learning efficiency correlates with high-entropy tokens in low-perplexity samples and at the end of sequences.",
                   "not measurable at this scale",
                   "every response is `\\boxed{NN}` + EOS of 11-12 tokens: its only uncertain tokens are the answer digits, which are "
                   "always the last tokens, so position, entropy and 'answer' cannot be told apart; shift (above) shows the update "
                   "concentrated on high-entropy tokens (Spearman(|delta|, H) %s)"
                   % ", ".join("%.2f" % shift[m]["correlation_abs_delta_entropy"]["all"]["spearman"] for m in shift)))
    # 6. replacement impact
    if "base" in rp and rp["base"]["bins"]:
        b = rp["base"]["bins"]
        top, low = b[-1][1], float(np.mean([x[1] for x in b[:-1]]))
        claims.append(("Changing a high-entropy token changes the outcome most (token-level performance impact).",
                       "reproduced" if top > low else "not reproduced",
                       "base policy: impact %+.3f in the top entropy bin vs %+.3f in the others (the alternative answer digit is often "
                       "as good as the sampled one; low-entropy formatting tokens break the answer when replaced)" % (top, low)))
    # 7./8. methods
    for m, claim in (("ppl", "PPL-based advantage shaping improves accuracy over the GRPO + DAPO baseline."),
                     ("position", "Position-based advantage shaping (in the plateau) improves accuracy over the baseline.")):
        d_acc, b_acc = diff_cell(m, "acc")
        d_p8, b_p8 = diff_cell(m, "pass@8")
        mb, _, _ = mean_std(vals["baseline"]["acc"])
        mm, _, _ = mean_std(vals[m]["acc"])
        if mb is None or mm is None:
            st = "not measurable at this scale"
        elif b_acc is None:
            st = "not measurable at this scale (one seed)"
        elif b_acc and mm > mb:
            st = "reproduced"
        elif mm > mb:
            st = "not reproduced (same sign, within the seed spread)"
        else:
            st = "not reproduced"
        claims.append((claim, st, "Acc@8 %s; Pass@8 %s" % (d_acc, d_p8)))
    d_e, b_e = diff_cell("ppl", "eval_entropy")
    d_e2, b_e2 = diff_cell("position", "eval_entropy")
    claims.append(("The shaping methods keep entropy higher than the baseline (slower entropy collapse).",
                   "reproduced" if (b_e and d_e.startswith("+")) and (b_e2 and d_e2.startswith("+")) else
                   "partly reproduced (one method)" if (b_e and d_e.startswith("+")) or (b_e2 and d_e2.startswith("+")) else
                   ("not measurable at this scale (one seed)" if b_e is None else "not reproduced"),
                   "entropy at T 1 vs baseline: PPL %s, position %s" % (d_e, d_e2)))
    L.append("| claim (paper) | status here | numbers |")
    L.append("|---|---|---|")
    for c, st, num in claims:
        L.append("| %s | **%s** | %s |" % (c, st, num))
    L.append("")
    L.append("Status rules: *reproduced* when the measured effect has the paper's sign and, for method comparisons, exceeds "
             "the seed-to-seed spread; *not reproduced* when it does not; *not measurable at this scale* when this task "
             "cannot separate what the claim is about. The paper's models are 7B LLMs on competition math with responses of "
             "thousands of tokens; this is a 0.46M-parameter character model on 2-digit addition with 12-token answers.")
    L.append("")
    L.append("## Stage timings")
    L.append("")
    L.append("| stage | seconds | load before / after |")
    L.append("|---|---|---|")
    for t in tim:
        L.append("| %s | %.1f | %.2f / %.2f |" % (t["stage"], t["seconds"], t["load1_before"], t["load1_after"]))
    L.append("")
    with open(os.path.join(root, "report.md"), "w") as f:
        f.write("\n".join(L))
    print("reproduce_report: %s/report.md, %d figures in %s" % (root, len(os.listdir(figdir)), figdir))


if __name__ == "__main__":
    main()
