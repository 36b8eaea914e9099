#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it with executable_path).
# Playwright's own browser download cannot work here; the distribution package can.
# Usage: deploy/browser.sh {install|path}
set -euo pipefail

WM_NAME=browser
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHROMIUM="${WAYMARK_CHROMIUM:-/usr/bin/chromium}"

cmd_install() {
  if [[ -x "$CHROMIUM" ]]; then
    log "chromium present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install Chromium yourself and set WAYMARK_CHROMIUM"
  local sudo=""
  ((EUID == 0)) || sudo="sudo"
  log "installing Debian's chromium (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
  log "chromium installed: $("$CHROMIUM" --version)"
}

case "${1:-}" in
  install) cmd_install ;;
  path) echo "$CHROMIUM" ;;
  *)
    echo "usage: $0 {install|path}" >&2
    exit 2
    ;;
esac
