#!/usr/bin/env bash
# Installs what building and testing DynamoCache needs and a fresh machine may lack: jemalloc (the proxy's
# allocator), the Python side of the tests (moto_server as the local storage server, boto3, the AWS CLI,
# pytest) and, for the tests only, openssl and stunnel4 (the TLS tests make certificates and put a TLS
# terminator in front of moto_server), headless Chromium (the dashboard test renders the page in it) and HAProxy
# (the load balancer of cluster-up.sh and its test), wrk and nginx (Benchmarks/compare/run.py and its test).
# System packages come from apt (as root, or through sudo); on a machine without apt the script names what is
# missing and stops, so that it can be installed by hand. The Python packages go into the project's own virtual
# environment, .venv (made with --system-site-packages, so what the system already has is reused), never into
# the system's Python; ops/env.sh puts .venv/bin first on PATH for the other scripts.
# Idempotent: a machine that has everything is left alone. DYNAMO_CACHE_NO_BROWSER=1 skips Chromium,
# DYNAMO_CACHE_NO_TLS_TOOLS=1 openssl and stunnel4, DYNAMO_CACHE_NO_HAPROXY=1 HAProxy, DYNAMO_CACHE_NO_BENCH_TOOLS=1
# wrk and nginx (local-up.sh needs none of them).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

packages=()
pkg-config --exists jemalloc 2>/dev/null || packages+=(libjemalloc-dev pkg-config)
if [[ ${DYNAMO_CACHE_NO_TLS_TOOLS:-0} != 1 ]]; then
  command -v openssl >/dev/null || packages+=(openssl)
  command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || packages+=(stunnel4)
fi
if [[ ${DYNAMO_CACHE_NO_BROWSER:-0} != 1 ]] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  packages+=(chromium)
fi
if [[ ${DYNAMO_CACHE_NO_HAPROXY:-0} != 1 ]] && ! command -v haproxy >/dev/null; then
  packages+=(haproxy)
fi
if [[ ${DYNAMO_CACHE_NO_BENCH_TOOLS:-0} != 1 ]]; then
  command -v wrk >/dev/null || packages+=(wrk)
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || packages+=(nginx)
fi
command -v python3 >/dev/null || packages+=(python3)
[[ -x .venv/bin/python ]] || python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
if ((${#packages[@]})); then
  if ! command -v apt-get >/dev/null || { [[ $(id -u) != 0 ]] && ! command -v sudo >/dev/null; }; then
    echo "install-deps: missing ${packages[*]} (Debian package names), and no apt-get to install them as root." >&2
    echo "install-deps: install them with this system's package manager, then run this again." >&2
    exit 1
  fi
  echo "install-deps: installing ${packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

[[ -x .venv/bin/python ]] || python3 -m venv --system-site-packages .venv
if ! .venv/bin/python -c 'import boto3, moto, awscli, pytest, flask_cors' 2>/dev/null \
  || ! PATH="$PWD/.venv/bin:$PATH" command -v moto_server >/dev/null; then
  echo "install-deps: installing Python test dependencies into .venv" >&2
  .venv/bin/python -m pip install -q -r Tests/e2e/requirements.txt
fi
