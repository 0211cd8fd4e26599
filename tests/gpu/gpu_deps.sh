# Sourced by tests/gpu/device_check.sh on a GPU machine that lacks some build dependencies.
# The lead's device machines (Ubuntu 24.04 + CUDA) have no network and miss a few -dev packages
# (ZeroMQ, msgpack-c, jansson, libyaml). Their Debian 12 .deb files, fetched beforehand with
#   mkdir -p .gpu-deps/debs && cd .gpu-deps/debs && apt-get download libzmq3-dev libzmq5 libnorm1 \
#     libpgm-5.3-0 libsodium23 libmsgpack-dev libmsgpackc2 libjansson-dev libjansson4 libyaml-dev libyaml-0-2
# travel in .gpu-deps/ (git-ignored) and are unpacked into a private prefix, never into /.
gpu_deps_setup() {
  local root="$PWD/.gpu-deps/root"
  [ -d "$PWD/.gpu-deps/debs" ] || return 0
  if [ ! -d "$root" ]; then
    mkdir -p "$root"
    for f in "$PWD"/.gpu-deps/debs/*.deb; do dpkg -x "$f" "$root"; done
    # Point the .pc files at the private prefix.
    find "$root" -name '*.pc' -exec sed -i -e "s|^prefix=.*|prefix=$root/usr|" \
      -e "s|^libdir=.*|libdir=$root/usr/lib/x86_64-linux-gnu|" -e "s|^includedir=.*|includedir=$root/usr/include|" {} +
    # Private requirements (krb5, norm, pgm, sodium) have no .pc files there; nothing links statically.
    find "$root" -name '*.pc' -exec sed -i "/^Requires.private:/d" {} +
  fi
  local lib="$root/usr/lib/x86_64-linux-gnu"
  export PKG_CONFIG_PATH="$lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
