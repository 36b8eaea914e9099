#!/usr/bin/env bash
# FerretDB 1.x (MongoDB wire protocol, SQLite backend) for local development and tests, built from
# the Go module proxy through the wrapper module in deploy/ferretdb/.
# Usage: deploy/ferretdb.sh {install|start|stop|status|version}
# Docs: docs/runbooks/local-infra.md
set -euo pipefail

WM_NAME=ferretdb
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC_DIR="$WM_REPO_ROOT/deploy/ferretdb"
FERRETDB_VERSION=$(grep -Eo 'github\.com/FerretDB/FerretDB v[^ ]+' "$SRC_DIR/go.mod" | head -n 1 | cut -d' ' -f2)
[[ -n "$FERRETDB_VERSION" ]] || die "cannot read the FerretDB version from $SRC_DIR/go.mod"
# A changed wrapper (go.mod, go.sum or main.go) gets a new cache directory, hence a rebuild.
SRC_HASH=$(cat "$SRC_DIR/go.mod" "$SRC_DIR/go.sum" "$SRC_DIR/main.go" | sha256sum | cut -c1-12)
BIN_DIR="$WM_CACHE_ROOT/ferretdb-$FERRETDB_VERSION-$SRC_HASH"
BIN="$BIN_DIR/ferretdb"

HOST=127.0.0.1
PORT="${FERRETDB_PORT:-27017}"
LOG_LEVEL="${FERRETDB_LOG_LEVEL:-warn}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
STOP_TIMEOUT="${FERRETDB_STOP_TIMEOUT:-30}"

RUN_DIR="$WM_RUN_ROOT/ferretdb"
DATA_DIR="$RUN_DIR/data"
PID_FILE="$RUN_DIR/ferretdb.pid"
LOG_FILE="$RUN_DIR/ferretdb.log"
PID_PATTERN="--sqlite-dir=$DATA_DIR"  # identifies the instance by its run dir, not by the binary path

cmd_install() {
  if [[ -x "$BIN" ]]; then
    log "FerretDB $FERRETDB_VERSION already built: $BIN"
    return 0
  fi
  command -v go >/dev/null || die "go not found (Go >= 1.24 needed)"
  log "building FerretDB $FERRETDB_VERSION wrapper (Go module proxy) into $BIN_DIR"
  mkdir -p "$BIN_DIR"
  rm -f "$BIN.partial"
  # GOTOOLCHAIN=local: never download another Go toolchain. -mod=readonly: build exactly what the
  # committed go.mod/go.sum say (run `go mod tidy` in deploy/ferretdb after changing the version).
  # CGO_ENABLED=0: the SQLite driver (modernc.org/sqlite) is pure Go.
  if ! (cd "$SRC_DIR" && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
    go build -mod=readonly -buildvcs=false -trimpath -ldflags='-s -w' -o "$BIN.partial" .); then
    rm -f "$BIN.partial"
    die "go build failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  fi
  mv -f "$BIN.partial" "$BIN"
  log "built $BIN ($(du -h "$BIN" | cut -f1), reports $("$BIN" --version))"
}

# ready: port answers and (when pymongo is available) a MongoDB ping succeeds.
ready() {
  port_open "$HOST" "$PORT" || return 1
  if python_has pymongo; then
    "$WM_PYTHON" - "$HOST" "$PORT" >/dev/null 2>&1 <<'PY' || return 1
import sys
from pymongo import MongoClient
client = MongoClient(sys.argv[1], int(sys.argv[2]), directConnection=True, serverSelectionTimeoutMS=3000)
try:
    client.admin.command("ping")
finally:
    client.close()
PY
  fi
}

wait_ready() {
  local pid=$1 start deadline
  start=$(now_s)
  deadline=$((start + START_TIMEOUT))
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$LOG_FILE"
      rm -f "$PID_FILE"
      die "FerretDB exited during startup (log: $LOG_FILE)"
    fi
    if (($(now_s) >= deadline)); then
      show_log_tail "$LOG_FILE"
      warn "FerretDB not ready after ${START_TIMEOUT}s; stopping it"
      cmd_stop >&2
      die "FerretDB failed to start within ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.2
  done
  local how="port"
  python_has pymongo && how="MongoDB ping"
  log "ready on $HOST:$PORT after $(($(now_s) - start))s (checked by $how; pid $pid, log $LOG_FILE)"
}

cmd_start() {
  local pid
  pid=$(pid_from_file "$PID_FILE")
  if pid_matches "$pid" "$PID_PATTERN"; then
    if port_open "$HOST" "$PORT"; then
      log "already running (pid $pid) on $HOST:$PORT"
      return 0
    fi
    log "process $pid exists but $HOST:$PORT does not answer yet; waiting"
    wait_ready "$pid"
    return 0
  fi
  rm -f "$PID_FILE"
  cmd_install
  if port_open "$HOST" "$PORT"; then
    die "port $PORT on $HOST is already in use by another process (set FERRETDB_PORT)"
  fi
  ensure_run_root
  mkdir -p "$RUN_DIR"
  if [[ "${WAYMARK_FERRETDB_KEEP_DATA:-0}" == 1 && -d "$DATA_DIR" ]]; then
    log "keeping existing data in $DATA_DIR (WAYMARK_FERRETDB_KEEP_DATA=1)"
  else
    rm -rf "${DATA_DIR:?}"
  fi
  mkdir -p "$DATA_DIR"
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  log "starting FerretDB $FERRETDB_VERSION on $HOST:$PORT (SQLite data in $DATA_DIR)"
  DO_NOT_TRACK=1 FERRETDB_TELEMETRY=disable nohup "$BIN" --listen-addr="$HOST:$PORT" \
    --sqlite-dir="$DATA_DIR" --log-level="$LOG_LEVEL" </dev/null >"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
}

cmd_stop() { stop_process "$PID_FILE" "$PID_PATTERN" "$STOP_TIMEOUT"; }

cmd_status() {
  local pid
  pid=$(pid_from_file "$PID_FILE")
  if pid_matches "$pid" "$PID_PATTERN" && port_open "$HOST" "$PORT"; then
    log "running (pid $pid) on $HOST:$PORT, FerretDB $FERRETDB_VERSION, log $LOG_FILE"
    return 0
  fi
  if pid_matches "$pid" "$PID_PATTERN"; then
    log "process $pid alive but $HOST:$PORT not answering (starting or hung; log $LOG_FILE)"
  else
    log "not running"
  fi
  return 1
}

# version: what the built binary reports (read from its Go build info); go.mod's version otherwise.
cmd_version() {
  local v=""
  [[ -x "$BIN" ]] && v=$("$BIN" --version 2>/dev/null)
  printf '%s\n' "${v:-$FERRETDB_VERSION}"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  version) cmd_version ;;
  *)
    echo "usage: $0 {install|start|stop|status|version}" >&2
    exit 2
    ;;
esac
