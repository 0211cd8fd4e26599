#!/usr/bin/env python3
"""Plots a run's metrics.jsonl: reward, accuracy (and validation Acc@n on trainer.test_freq steps) and
token entropy against step.

    launch/plot_metrics.py RUN_DIR/metrics.jsonl RUN_DIR/training.png

Uses Debian's python3-matplotlib (installed by launch/setup.sh); no display needed.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_metrics.py METRICS.jsonl OUT.png")
    rows = []
    with open(sys.argv[1]) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{sys.argv[1]}:{n}: not JSON ({e})")
    if not rows:
        sys.exit(f"{sys.argv[1]}: no metrics yet")
    step = [r["step"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    for ax, key, label in zip(axes, ["reward_mean", "accuracy", "entropy_mean"],
                              ["mean reward", "training accuracy", "token entropy (nats)"]):
        ax.plot(step, [r.get(key, float("nan")) for r in rows], lw=1.5)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    val = [(r["step"], r["val_acc"]) for r in rows if "val_acc" in r]   # trainer.test_freq steps
    if val:
        axes[1].plot([s for s, _ in val], [a for _, a in val], "o-", color="tab:red", lw=1.2, ms=4,
                     label="validation Acc@n")
        axes[1].plot([], [], color="tab:blue", lw=1.5, label="training batch")
        axes[1].set_ylabel("accuracy")
        axes[1].legend(loc="lower right", fontsize=8)
    stages = [r.get("stage") for r in rows]
    if "plateau" in stages:
        s = step[stages.index("plateau")]
        for ax in axes:
            ax.axvline(s, color="gray", ls="--", lw=1)
        axes[0].text(s, axes[0].get_ylim()[1], " plateau", va="top", color="gray")
    axes[-1].set_xlabel("step")
    fig.suptitle("rlvr.c training run")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
