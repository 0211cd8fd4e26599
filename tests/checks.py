"""Pass / fail bookkeeping shared by the Python tests.

    from checks import Checks
    check = Checks()                  # Checks(show_passes=True) also prints "ok: ..." lines
    check(cond, "what must hold")     # a failure prints "FAIL: ..." at once (stderr) and is counted
    ...
    sys.exit(check.summary())         # prints "N passed, M failed"; 1 when anything failed

The tests live in tests/ and are run with it as the script directory, so `from checks import Checks`
needs no path set-up.
"""
import sys


class Checks:
    def __init__(self, show_passes=False):
        self.passed = 0
        self.failures = []
        self.show_passes = show_passes

    def __call__(self, cond, msg):
        if cond:
            self.passed += 1
            if self.show_passes:
                print("ok: " + msg, flush=True)
        else:
            self.failures.append(msg)
            print("FAIL: " + msg, file=sys.stderr, flush=True)
        return bool(cond)

    @property
    def failed(self):
        return len(self.failures)

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failures else 0
