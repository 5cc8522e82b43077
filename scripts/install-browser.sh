#!/usr/bin/env bash
# The web UI's browser tests drive Debian's headless Chromium. Install it when it is missing
# (as root through apt-get, else through sudo); say what to do when neither is possible.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser tests need Chromium: install it with your package manager (or set SETPOINT_CHROMIUM)" >&2
  exit 0
fi
if [ "$(id -u)" = "0" ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "browser tests need Chromium: run 'sudo apt-get install -y chromium'" >&2
  exit 0
fi
echo "installing Chromium for the browser tests (apt-get install chromium)" >&2
$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || {
  $SUDO apt-get update >/dev/null 2>&1
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null
}
