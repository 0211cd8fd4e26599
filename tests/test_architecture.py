#!/usr/bin/env python3
"""docs/architecture.md's build graph agrees with the build, and the build with the tree.

1. Every rlvr_layer / rlvr_program call in a CMakeLists.txt has a line in the "build graph" block of
   docs/architecture.md naming the same folder, the same layer dependencies and the same outside
   libraries, and the page names no library or program the build does not define.
2. Every C / CUDA source of the product (common/, proto/, learner/, rollout/) is listed by the
   CMakeLists.txt of its own folder (nothing globbed, nothing built from another folder).
3. The layers form a DAG whose order matches the page's (each library's dependencies are listed
   above it).
"""
import os
import re
import sys

from checks import Checks

ROOT = os.environ.get("RLVR_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
check = Checks()


# Outside libraries as CMake names them -> as the page names them.
EXTERNAL = {"PkgConfig::YAML": "libyaml", "PkgConfig::OPENBLAS": "OpenBLAS", "OpenMP::OpenMP_C": "OpenMP",
            "m": "libm", "Threads::Threads": "pthreads", "PkgConfig::HDF5": "HDF5", "PkgConfig::JANSSON": "jansson",
            "PkgConfig::MSGPACK": "msgpack-c", "PkgConfig::ZMQ": "ZeroMQ", "MPI::MPI_C": "MPI",
            "CUDA::cudart": "cudart", "CUDA::cublas": "cuBLAS", "${NCCL_LIBRARY}": "NCCL",
            "PkgConfig::PCRE2": "PCRE2", "PkgConfig::UTF8PROC": "utf8proc"}

# ---- the build: rlvr_layer(NAME FOLDER SOURCES ... DEPS ... LIBS ...) and rlvr_program(...) -------------
build = {}      # name -> (kind, folder, sources, deps, libs)
cmake_files = []
for d, _, files in os.walk(ROOT):
    rel = os.path.relpath(d, ROOT)
    if rel.startswith(("build", ".git", "tests", ".venv")) or "/." in rel:
        continue
    if "CMakeLists.txt" in files:
        cmake_files.append(os.path.join(d, "CMakeLists.txt"))
for path in cmake_files:
    text = re.sub(r"#[^\n]*", "", open(path).read())
    for kind, body in re.findall(r"\b(rlvr_layer|rlvr_program)\(([^)]*)\)", text):
        if kind == "rlvr_layer" and "SOURCES" not in body:
            continue   # the function definition itself
        words = body.split()
        name, folder, groups, key = words[0], words[1], {"SOURCES": [], "DEPS": [], "LIBS": []}, None
        for w in words[2:]:
            if w in groups:
                key = w
            elif key:
                groups[key].append(w)
        build[name] = (kind, folder, groups["SOURCES"], groups["DEPS"], groups["LIBS"], os.path.dirname(path))
check(len(build) >= 14, f"found only {len(build)} libraries and programs in the CMakeLists.txt files")

# ---- the page -------------------------------------------------------------------------------------------
page = open(os.path.join(ROOT, "docs", "architecture.md")).read()
m = re.search(r"## The build graph\n(.*?)\n## ", page, re.S)
check(m is not None, "docs/architecture.md has no '## The build graph' section")
entries, cur = [], None
for line in (m.group(1) if m else "").splitlines():
    if re.match(r"^    \S", line):            # a new entry: 4 spaces then the name
        cur = line.strip()
        entries.append(cur)
    elif line.startswith("     ") and cur is not None and line.strip():
        entries[-1] += " " + line.strip()    # a continuation line
    else:
        cur = None
documented = {}
order = []
for e in entries:
    left, _, right = e.partition("+")
    words = left.replace(",", " ").split()
    name, folder, deps = words[0], words[1], [w for w in words[2:] if w != "-"]
    libs = {x.strip() for x in right.replace(",", " ").split()} if right else set()
    documented[name] = (folder, deps, libs)
    order.append(name)

for name, (kind, folder, srcs, deps, libs, _) in sorted(build.items()):
    if name not in documented:
        check(False, f"{name} ({folder}) is built but has no line in docs/architecture.md's build graph")
        continue
    dfolder, ddeps, dlibs = documented[name]
    check(dfolder == folder or dfolder.startswith(folder + "/"),
          f"{name}: the page says folder {dfolder}, the build {folder}")
    check(set(ddeps) == set(deps), f"{name}: the page lists layers {sorted(ddeps)}, the build links {sorted(deps)}")
    want = {EXTERNAL.get(l, l) for l in libs}
    check(dlibs == want, f"{name}: the page lists outside libraries {sorted(dlibs)}, the build links {sorted(want)}")
    for dep in deps:
        if dep in order and name in order:
            check(order.index(dep) < order.index(name), f"{name} is listed above its dependency {dep} on the page")
for name in documented:
    check(name in build, f"the page's build graph names {name}, which no CMakeLists.txt defines")

# ---- every product source is built by its own folder's CMakeLists.txt --------------------------------
listed = {}
for name, (_, _, srcs, _, _, cdir) in build.items():
    for s in srcs:
        listed[os.path.normpath(os.path.join(cdir, s))] = name
for top in ("common", "proto", "learner", "rollout"):
    for d, _, files in os.walk(os.path.join(ROOT, top)):
        for f in files:
            if f.endswith((".c", ".cu")):
                p = os.path.join(d, f)
                check(p in listed, f"{os.path.relpath(p, ROOT)} is not listed in {os.path.relpath(d, ROOT)}/CMakeLists.txt")

# ---- the layers form a DAG ------------------------------------------------------------------------------
state = {}


def visit(n, path):
    if state.get(n) == 1:
        check(False, "dependency cycle: " + " -> ".join(path + [n]))
        return
    if state.get(n) == 2 or n not in build:
        return
    state[n] = 1
    for dep in build[n][3]:
        visit(dep, path + [n])
    state[n] = 2


for n in build:
    visit(n, [])

print(f"{len(build)} libraries and programs, {len(listed)} sources checked")
sys.exit(check.summary())
