#!/usr/bin/env python3
"""DAPO dynamic sampling (algorithm.filter_groups) in the learner, with real processes (2 ranks,
scripted deterministic workers), on-policy and off-policy:
  - every step trains exactly data.train_batch_size groups, each with differing rewards, and the
    groups whose rewards agree are counted as dropped;
  - when every group's rewards agree, the learner gives up after max_num_gen_batches rounds / that
    many batches of prompts with an error naming the key, having waited for every prompt it enqueued.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_learner_e2e import check, counters, done, finish, log_text, metrics, start_learner, start_worker, stop

FILTER = ["algorithm.filter_groups.enable=true", "algorithm.filter_groups.max_num_gen_batches=4", "trainer.save_freq=0"]


def run(tmp, name, extra, p_correct="0.5", timeout=60):
    d = os.path.join(tmp, name)
    learner = start_learner(d, 2, FILTER + extra)
    ws = [start_worker(d, "%s%d" % (name, i), "--p-correct", p_correct) for i in range(2)]
    rc = finish(learner, timeout)
    stop(ws)
    return d, rc


def check_trained(d, rc, what):
    check(rc == 0, "%s: learner exit code %s" % (what, rc))
    m = metrics(d)
    check(len(m) == 4, "%s: 4 steps (got %d)" % (what, len(m)))
    check(all(r["sequences"] == 16 for r in m), "%s: every step trains 4 groups x 4 responses" % what)
    # a group whose 4 responses all agree has accuracy 0 or 1; a kept group is strictly between
    check(all(0 < r["accuracy"] < 1 for r in m), "%s: kept groups vary" % what)
    dropped = sum(r["groups_dropped"] for r in m)
    check(dropped > 0, "%s: groups with agreeing rewards were dropped (%d)" % (what, dropped))
    k = counters(d)
    if check(k is not None, "%s: counters printed" % what):
        check(k["groups_taken"] >= 16 + dropped, "%s: taken %d >= trained 16 + dropped %d" % (what, k["groups_taken"], dropped))
    return dropped


def check_gave_up(d, rc, what, message, taken):
    check(rc != 0, "%s: the learner fails (exit code %s)" % (what, rc))
    log = log_text(d)
    check(message in log and "algorithm.filter_groups.max_num_gen_batches" in log,
          "%s: the error says why and names the key:\n%s" % (what, log[-1500:]))
    check(len(metrics(d)) == 0, "%s: no step trained" % what)
    k = counters(d)
    if check(k is not None, "%s: counters printed" % what):
        check(k["groups_taken"] == taken, "%s: every enqueued prompt came back before giving up (%d of %d)" % (what, k["groups_taken"], taken))


def main(tmp):
    d, rc = run(tmp, "on", [])
    check_trained(d, rc, "on-policy")
    rows = metrics(d)
    check(all(r["gen_rounds"] >= 1 for r in rows), "on-policy: generation rounds counted")
    d, rc = run(tmp, "off", ["rollout.max_staleness=1"])
    check_trained(d, rc, "off-policy")

    # every response correct: no group varies
    gave = ["algorithm.filter_groups.max_num_gen_batches=2"]
    d, rc = run(tmp, "ongiveup", gave, p_correct="1")
    check_gave_up(d, rc, "on-policy give-up", "after 2 generation rounds, only 0 of 4 groups", 8)
    d, rc = run(tmp, "offgiveup", gave + ["rollout.max_staleness=1"], p_correct="1")
    check_gave_up(d, rc, "off-policy give-up", "after 8 prompts generated this step, only 0 of 4 groups", 8)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="rlvr_filter_") as tmp:
        main(tmp)
        sys.exit(done(tmp))
