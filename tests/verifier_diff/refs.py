"""The two verifiers the differential test compares, behind one call each.

ours(gold, response)      -> 0/1: verify_math_opts() of build/lib/librlvr_tasks.so (ctypes), default options
math_verify(gold, response) -> 0/1: HuggingFace Math-Verify the way verl's reward_score/math_verify.py calls it:
    the gold wrapped in \\boxed{} and parsed with LatexExtractionConfig(), the response parsed with
    (ExprExtractionConfig(), LatexExtractionConfig()), verify() with its defaults (6-digit float rounding).
"""
import ctypes
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Ours:
    def __init__(self, build="build"):
        path = os.path.join(ROOT, build, "lib", "librlvr_tasks.so")
        self.lib = ctypes.CDLL(path)
        self.lib.verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        self.lib.verify.restype = ctypes.c_int

    def grade(self, gold, response, verifier="math"):
        r = self.lib.verify(verifier.encode(), gold.encode(), response.encode(), None, 0)
        if r < 0:
            raise ValueError("unknown verifier " + verifier)
        return r


class MathVerify:
    def __init__(self):
        import logging
        logging.disable(logging.WARNING)   # Math-Verify logs every failed extraction
        from math_verify import parse, verify, LatexExtractionConfig, ExprExtractionConfig
        self.parse, self.verify = parse, verify
        self.gold_cfg = (LatexExtractionConfig(),)
        self.pred_cfg = (ExprExtractionConfig(), LatexExtractionConfig())

    def grade(self, gold, response):
        try:
            g = self.parse("\\boxed{" + gold + "}", self.gold_cfg)
            p = self.parse(response, self.pred_cfg)
            if not g or not p:
                return 0
            return int(any(self.verify(gg, p) for gg in [g]))
        except Exception:
            return 0
