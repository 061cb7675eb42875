#!/usr/bin/env bash
# The HTTP benchmarks load the servers with wrk (Debian's package): a Python load generator
# spends a core of its own and flatters the ratio against hello-world.
set -euo pipefail
if command -v wrk >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "wrk is missing: installing Debian's wrk" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
  echo "wrk is missing: install it as root with 'apt-get install wrk'." >&2
  exit 1
fi
