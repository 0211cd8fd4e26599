#!/usr/bin/env python3
"""Checks that the running Python holds the PyTorch peers pinned in a requirements file.

    .venv-bench/bin/python tests/bench/peers_check.py tests/bench/requirements-peers.txt

Prints "torch X, transformers Y" and exits 0 when every `name==version` line is installed at that
version (a local label such as +cpu is ignored) and torch and transformers import; otherwise says
what is missing or different on stderr and exits 1.
"""
import importlib
import importlib.metadata as md
import sys


def pinned(path):
    pins = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            sys.exit(f"{path}: '{line}' is not of the form name==version")
        pins.append((name.strip(), version.strip()))
    return pins


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: peers_check.py REQUIREMENTS_FILE")
    problems, have = [], []
    for name, want in pinned(sys.argv[1]):
        try:
            got = md.version(name)
        except md.PackageNotFoundError:
            problems.append(f"{name} is not installed (want {want})")
            continue
        if got.split("+", 1)[0] != want:
            problems.append(f"{name} {got} is installed, {sys.argv[1]} pins {want}")
        have.append(f"{name} {got}")
    for module in ("torch", "transformers"):
        try:
            importlib.import_module(module)
        except Exception as e:  # an import failure of any kind means the peer cannot run
            problems.append(f"import {module} failed: {type(e).__name__}: {e}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(", ".join(have))


if __name__ == "__main__":
    main()
