#!/usr/bin/env bash
# The browser tests drive Debian's headless Chromium through Playwright for Python
# (`playwright install` downloads its own browsers, which closed networks cannot).
set -euo pipefail
CHROMIUM=${GRIDAPP_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ] && fc-list :lang=zh 2>/dev/null | grep -q .; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Chromium or a Chinese font is missing: installing Debian's chromium and fonts-wqy-zenhei" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
else
  echo "Chromium is missing: install it as root with 'apt-get install chromium'." >&2
  exit 1
fi
