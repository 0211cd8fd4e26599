"""The coordinator dies (SIGKILL) and a new one starts in the same run directory on other ports, at an
OLDER policy version than the worker holds (a learner resumed from an earlier checkpoint). The worker
follows the new rendezvous file, drops its newer weights, fetches the coordinator's, and finishes the
new coordinator's prompts, without being restarted."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rollout_testlib import Harness, check, cleanup, finish, make_model, start_worker, tmpdir, wait_proc, worker_log, worker_stats

T = 60 if os.environ.get("RLVR_SANITIZE") == "ON" else 20


def main():
    base = tmpdir("rollout-restart")
    model = os.path.join(base, "model.h5")
    make_model(model)
    t0 = time.time()
    # First coordinator: moves to policy version 1 after the first group, then dies.
    h1 = Harness(base, model, "--prompts", "20", "--group", "2", "--max-tokens", "8", "--staleness", "0", "--bump-after", "1",
                 "--timeout", str(T), "--lease", "2")
    w = start_worker(base, "w", "--credits", "1", "--gen-delay", "0.1")
    end = time.time() + T
    while "installed weights version 1" not in worker_log(w) and time.time() < end:
        time.sleep(0.05)
    check("installed weights version 1" in worker_log(w), "worker reached policy version 1")
    h1.p.send_signal(signal.SIGKILL)
    h1.wait(5)
    rdv = os.path.join(base, "rendezvous.json")
    old = open(rdv).read()
    os.unlink(rdv)
    time.sleep(0.3)
    # Second coordinator: same run directory, new ports, policy version 0, its own prompts.
    h2 = Harness(base, model, "--prompts", "5", "--group", "2", "--max-tokens", "8", "--staleness", "0", "--seed", "9",
                 "--timeout", str(T))
    check(open(rdv).read() != old, "new rendezvous file (new endpoints)")
    rc, final = h2.wait(T + 10)
    w.send_signal(signal.SIGTERM)
    wrc = wait_proc(w, 15)
    check(rc == 0 and final is not None and final["missing"] == 0 and final["duplicates"] == 0,
          "the new coordinator got all its prompts back (rc %s)" % rc)
    if final:
        vers = {g["policy_version"] for g in h2.groups()}
        check(vers == {0}, "groups carry the new coordinator's version 0 (%s)" % vers)
        check(final["counters"]["bad_unknown_version"] == 0, "no group from weights newer than the coordinator's")
    st = worker_stats(base, "w")
    check(st.get("rewinds", 0) >= 1 and wrc == 0, "worker noticed the version going back and exits 0 (%s)" % st)
    log = worker_log(w)
    check("reconnecting" in log, "worker log says it reconnected")
    print("elapsed %.1f s" % (time.time() - t0))
    if check.failures:
        print(log[-3000:])
    cleanup(base)
    finish()


if __name__ == "__main__":
    main()
