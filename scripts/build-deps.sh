#!/usr/bin/env bash
# The C libraries Lanyard links (installed with apt-get when missing), sourced by `make run`,
# `make test` and `make bench`: libssl (webauthn-rs, samael), libxmlsec1 + libxml2 (samael's
# XML signatures) and libclang (samael's bindgen at build time).
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    echo "attempt $n of: $* failed; retrying" >&2
    sleep $((n * 5))
  done
  return 1
}
apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "missing packages: $* (run as root or install them yourself)" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" != 0 ] && sudo=sudo
  if [ "$apt_updated" = 0 ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive retry $sudo apt-get install -y -qq --no-install-recommends "$@"
}

build_deps() {
  local missing=()
  pkg-config --version >/dev/null 2>&1 || missing+=(pkg-config)
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
  pkg-config --exists xmlsec1 libxml-2.0 2>/dev/null || missing+=(libxmlsec1-dev libxml2-dev)
  ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}
build_deps
