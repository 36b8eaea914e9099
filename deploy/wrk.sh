#!/usr/bin/env bash
# Debian's wrk, the HTTP load generator behind `make bench` (bench/referral_api.py).
# Idempotent: does nothing when wrk is on PATH.
# Usage: deploy/wrk.sh {install|path}
set -euo pipefail

WM_NAME=wrk
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() {
  if command -v wrk >/dev/null; then
    log "wrk present: $(command -v wrk)"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install wrk (https://github.com/wg/wrk) yourself and put it on PATH"
  local sudo=""
  ((EUID == 0)) || sudo="sudo"
  log "installing Debian's wrk (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
  log "wrk installed: $(command -v wrk)"
}

case "${1:-}" in
  install) cmd_install ;;
  path) command -v wrk ;;
  *)
    echo "usage: $0 {install|path}" >&2
    exit 2
    ;;
esac
