#!/usr/bin/env bash
# Installs Debian's chromium package for the dashboard's browser test (playwright-core drives
# it; no browser is downloaded by npm). Idempotent: does nothing when /usr/bin/chromium exists.
# Needs root (apt-get).
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

log() { printf 'setup-chromium: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

if [ -x "$CHROMIUM" ]; then
  log "chromium already installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
  exit 0
fi

log "installing chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  log "chromium was installed but $CHROMIUM is missing"; exit 1
fi
log "chromium installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
