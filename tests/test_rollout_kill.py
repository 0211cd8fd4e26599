"""A rollout worker killed with SIGKILL while it holds leases: its prompts come back to the queue when
its connection closes (or its leases expire) and another worker does them; every prompt reaches the
trainer exactly once."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rollout_testlib import Harness, check, cleanup, finish, make_model, start_worker, tmpdir, wait_proc, worker_log

T = 60 if os.environ.get("RLVR_SANITIZE") == "ON" else 20


def main():
    base = tmpdir("rollout-kill")
    model = os.path.join(base, "model.h5")
    make_model(model)
    t0 = time.time()
    h = Harness(base, model, "--prompts", "6", "--group", "4", "--max-tokens", "16", "--lease", "1.0", "--heartbeat", "0.2",
                "--timeout", str(T))
    # The victim holds two leases and sits on them (a slow model), the way a node dies mid-generation.
    a = start_worker(base, "victim", "--credits", "2", "--max-batch", "4", "--gen-delay", "30")
    s = h.wait_status(lambda s: s.get("assigned", 0) >= 2 and s.get("outstanding", 0) >= 2, T)
    check(s is not None, "victim holds two leases")
    a.send_signal(signal.SIGKILL)
    wait_proc(a, 10)
    b = start_worker(base, "survivor", "--credits", "2")
    rc, final = h.wait(T + 10)
    b.send_signal(signal.SIGTERM)
    brc = wait_proc(b, 15)
    check(rc == 0 and final is not None, "all prompts came back (harness rc %s)" % rc)
    if final is None:
        print(h.errs, worker_log(b))
        cleanup(base)
        finish()
    k = final["counters"]
    check(final["missing"] == 0 and final["duplicates"] == 0 and final["invalid"] == 0, "every prompt exactly once, all valid")
    check(k["requeued"] >= 2, "the victim's leases were re-queued (%d)" % k["requeued"])
    check(k["leases_expired"] + k["workers_timed_out"] + k["workers_disconnected"] >= 1,
          "by its closed connection, lease expiry or worker timeout (%d, %d, %d)" % (k["workers_disconnected"], k["leases_expired"], k["workers_timed_out"]))
    groups = h.groups()
    check(all(g["worker"] == "survivor" for g in groups), "the survivor did every prompt")
    check(sum(1 for g in groups if g["requeues"] >= 1) >= 2, "the re-queued prompts are among them")
    check(brc == 0, "survivor exits 0 on SIGTERM")
    print("elapsed %.1f s" % (time.time() - t0))
    cleanup(base)
    finish()


if __name__ == "__main__":
    main()
