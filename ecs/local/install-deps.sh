#!/usr/bin/env bash
# Installs the Debian (bookworm) packages nats-sidecar needs to build, test and run the demo.
#
# Idempotent and quiet: when every package is already installed it touches nothing (not even
# `apt-get update`). Otherwise it installs only the missing ones, non-interactively, and prints
# apt's full log if anything fails. Needs root (or password-less sudo) only in that case.
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake g++ make pkg-config ccache
  # libraries
  libevent-dev libnats-dev libprotobuf-dev protobuf-compiler libyaml-cpp-dev prometheus-cpp-dev
  libabsl-dev nlohmann-json3-dev libssl-dev libcli11-dev
  # the allocator nats-sidecar links: gperftools' tcmalloc (libtcmalloc_minimal)
  libgoogle-perftools-dev
  # tests
  libgtest-dev libgmock-dev
  # integration tests and the demo: a real NATS server and the legacy FastAPI stand-ins, which
  # run on Debian's /usr/bin/python3
  nats-server python3-fastapi python3-uvicorn
  # tests/integration/security_*: the test PKI (CA, server and client certificates) is made with it
  openssl
  # tests/ecs: promtool checks the alert rules (npm, for tsc, comes with the machine's nodejs)
  prometheus
  # tests/integration/shadow_e2e_test: the admin /status page is rendered in headless Chromium
  chromium
  # bench/run: the reverse proxies the sidecar is compared with
  haproxy nginx-light
)

missing=()
for package in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "install-deps: missing packages and not root (no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi

log="$(mktemp -t sidecar-install-deps.XXXXXX)"
trap 'rm -f "$log"' EXIT
apt_run() {
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1 </dev/null; then
    echo "install-deps: FAILED: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}
apt_run apt-get update -q
apt_run apt-get install -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Fail loudly if apt claimed success but a package is still absent.
installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}
for package in "${missing[@]}"; do
  if ! installed "$package"; then
    echo "install-deps: $package is still not installed" >&2
    exit 1
  fi
done
echo "install-deps: done"
