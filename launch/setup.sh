#!/usr/bin/env bash
# Installs the Debian packages rlvr.c needs to build, run and test, skipping those already present.
# Idempotent; safe to run on every invocation of demo.sh / run_all.sh. What only the tests need from
# PyPI is fetched by tests/setup_assets.sh (tests/run_all.sh runs both).
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libopenmpi-dev openmpi-bin libzmq3-dev libmsgpack-dev libhdf5-dev hdf5-tools
      libopenblas-dev libjansson-dev libyaml-dev
      libpcre2-dev libutf8proc-dev   # the BPE tokenizer: regular expressions, Unicode normalization
      python3 python3-venv python3-zmq python3-msgpack python3-h5py python3-numpy python3-matplotlib
      clang libclang-rt-14-dev
      slurm-wlm munge libpmix-dev)   # tests/test_slurm.sh; Slurm's pmix plugin dlopens libpmix.so (-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
