#!/usr/bin/env bash
# Waymark local infrastructure: Kafka (deploy/kafka.sh) + FerretDB (deploy/ferretdb.sh). FerretDB owns
# its storage: with FERRETDB_BACKEND=postgresql (the default) its install, start, stop, status and version
# also cover the PostgreSQL cluster (deploy/postgres.sh); with sqlite, a directory.
# Usage: deploy/infra.sh {install|start|stop|reset|status|versions}
#   start keeps existing data (a restart loses nothing); reset stops and deletes it.
# Docs: docs/runbooks/local-infra.md
set -euo pipefail

WM_NAME=infra
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA="$WM_REPO_ROOT/deploy/kafka.sh"
FERRETDB="$WM_REPO_ROOT/deploy/ferretdb.sh"

cmd_install() {
  # The two installs are independent (Maven vs Go + apt), so run them side by side.
  local kpid fpid rc=0
  "$KAFKA" install &
  kpid=$!
  "$FERRETDB" install &
  fpid=$!
  wait "$kpid" || rc=1
  wait "$fpid" || rc=1
  ((rc == 0)) || die "install failed (see messages above)"
  log "install complete"
}

cmd_start() {
  "$FERRETDB" start
  "$KAFKA" start
  log "all services running"
}

cmd_stop() {
  local rc=0
  "$KAFKA" stop || rc=1
  "$FERRETDB" stop || rc=1
  return "$rc"
}

# reset: stop both and delete their data. `start` never wipes: a restart after a crash or an
# outage keeps every topic, offset and document (docs/runbooks/local-infra.md).
cmd_reset() {
  local rc=0
  "$KAFKA" reset || rc=1
  "$FERRETDB" reset || rc=1
  ((rc == 0)) || die "reset failed (see messages above)"
  log "all data deleted; the next start begins empty"
}

cmd_status() {
  local rc=0
  "$KAFKA" status || rc=1
  "$FERRETDB" status || rc=1
  return "$rc"
}

cmd_versions() {
  printf 'kafka %s\n' "$("$KAFKA" version)"
  printf 'ferretdb %s\n' "$("$FERRETDB" version)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  versions) cmd_versions ;;
  *)
    echo "usage: $0 {install|start|stop|reset|status|versions}" >&2
    exit 2
    ;;
esac
