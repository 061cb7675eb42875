#!/usr/bin/env bash
# Build the web console (console/ → gridapp/console/static/) with the machine's Node.js;
# install Debian's nodejs and npm when they are missing. `--deps` installs the JS tools only
# (for `make lint`). The tools are pinned to versions that run on Debian 12's Node 18 and Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Node.js is missing: installing Debian's nodejs and npm" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "Node.js is missing: install it as root with 'apt-get install nodejs npm'." >&2
    exit 1
  fi
fi

# npm ci when the lock file is newer than the installed tree (or there is none).
if [ ! -f console/node_modules/.package-lock.json ] \
   || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
fi
[ "${1:-}" = "--deps" ] && exit 0

(cd console && npx vite build --logLevel warn)
echo "console built into gridapp/console/static/" >&2
