#!/usr/bin/env bash
# Prometheus from Debian's package: promtool for checks, a real server for the scrape test.
# Usage: deploy/prometheus.sh {install|check}
set -euo pipefail

WM_NAME=prometheus
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd_install() {
  if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    log "present: $(prometheus --version 2>&1 | head -n 1)"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install Prometheus yourself (promtool and prometheus on PATH)"
  local sudo=""
  ((EUID == 0)) || sudo="sudo"
  log "installing Debian's prometheus package (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package enables a systemd unit; where systemd runs, we do not want a stray server on :9090.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  log "installed: $(prometheus --version 2>&1 | head -n 1)"
}

cmd_check() {
  promtool check config "$WM_REPO_ROOT/deploy/prometheus/prometheus.yml"
  promtool check rules "$WM_REPO_ROOT/deploy/prometheus/alerts.yml"
}

case "${1:-}" in
  install) cmd_install ;;
  check) cmd_check ;;
  *)
    echo "usage: $0 {install|check}" >&2
    exit 2
    ;;
esac
