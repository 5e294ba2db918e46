#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (Playwright cannot
# download its own browsers on machines without general internet access).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "chromium is missing and this user cannot install it: apt-get install chromium" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
