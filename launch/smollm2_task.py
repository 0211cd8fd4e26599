#!/usr/bin/env python3
"""The task of the SmolLM2 demo (launch/demo_smollm2.sh): small additions and subtractions, written as
a bare sum or as a one-line word problem, in JSON Lines ({"id", "problem", "answer"}, the format of
data.train_files and rlvr eval --data) with a held-out split that shares no problem text with the
training split:

    python3 launch/smollm2_task.py OUT_DIR [--train 4000] [--heldout 100] [--seed 0]
        -> OUT_DIR/train.jsonl, OUT_DIR/heldout.jsonl

SmolLM2-135M-Instruct gets a few percent of these right out of the box (it often writes the right
sum, then keeps going or never states an answer), which is what GRPO needs: some groups with a
correct sample. Numbers are 1..20 and results never negative. Deterministic for a given seed
(Python's random.Random, the same on every platform); the standard library only.
"""
import argparse
import json
import os
import random

NAMES = ("Sam", "Mia", "Leo", "Ana", "Tom", "Eva", "Ben", "Zoe")
THINGS = ("apples", "marbles", "books", "coins", "stickers", "pencils", "cards", "shells")
# (format, operation): {n} a name, {t} a thing, {a} and {b} the numbers.
FORMS = (
    ("What is {a} + {b}?", "+"),
    ("What is {a} - {b}?", "-"),
    ("Compute {a} plus {b}.", "+"),
    ("Compute {a} minus {b}.", "-"),
    ("{n} has {a} {t}. {n} gets {b} more {t}. How many {t} does {n} have now?", "+"),
    ("{n} has {a} {t} and gives away {b} of them. How many {t} does {n} have left?", "-"),
)
LO, HI = 1, 20


def problem(r):
    form, op = FORMS[r.randrange(len(FORMS))]
    a, b = r.randint(LO, HI), r.randint(LO, HI)
    if op == "-" and b > a:
        a, b = b, a
    text = form.format(n=r.choice(NAMES), t=r.choice(THINGS), a=a, b=b)
    return text, a + b if op == "+" else a - b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=4000, help="training problems (default 4000)")
    ap.add_argument("--heldout", type=int, default=100, help="held-out problems (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    r = random.Random(a.seed)
    # The held-out problems are drawn first; the training split skips their texts.
    seen, splits = set(), {"heldout": [], "train": []}
    for name, count in (("heldout", a.heldout), ("train", a.train)):
        tries = 0
        while len(splits[name]) < count:
            tries += 1
            if tries > 100 * count + 1000:
                raise SystemExit(f"smollm2_task: cannot draw {count} distinct {name} problems; ask for fewer")
            text, ans = problem(r)
            if text in seen:
                continue
            seen.add(text)
            splits[name].append({"id": f"smollm2-{name}-{len(splits[name])}", "problem": text, "answer": str(ans)})
    os.makedirs(a.out_dir, exist_ok=True)
    for name, rows in splits.items():
        path = os.path.join(a.out_dir, name + ".jsonl")
        with open(path + ".tmp", "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        os.replace(path + ".tmp", path)
    print(f"smollm2_task: {len(splits['train'])} training and {len(splits['heldout'])} held-out problems in {a.out_dir}")


if __name__ == "__main__":
    main()
