#!/usr/bin/env bash
# FerretDB 1.x (MongoDB wire protocol) for local development and tests, built from the Go module
# proxy through the wrapper module in deploy/ferretdb/. Storage: PostgreSQL (default; the cluster is
# deploy/postgres.sh, which this script starts and stops with FerretDB) or SQLite, by FERRETDB_BACKEND.
# Usage: deploy/ferretdb.sh {install|start|run|stop|reset|status|version}
# Docs: docs/runbooks/local-infra.md, docs/adr/0004-store-ferretdb-on-postgresql.md
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
BACKEND="${FERRETDB_BACKEND:-postgresql}"
case "$BACKEND" in
  postgresql | sqlite) ;;
  *) die "FERRETDB_BACKEND=$BACKEND: use postgresql or sqlite" ;;
esac
POSTGRES="$WM_REPO_ROOT/deploy/postgres.sh"
PG_URL="postgres://ferretdb@127.0.0.1:${POSTGRES_PORT:-55432}/ferretdb"
LOG_LEVEL="${FERRETDB_LOG_LEVEL:-warn}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
STOP_TIMEOUT="${FERRETDB_STOP_TIMEOUT:-30}"

RUN_DIR="$WM_RUN_ROOT/ferretdb"
DATA_DIR="$RUN_DIR/data"
PID_FILE="$RUN_DIR/ferretdb.pid"
LOG_FILE="$RUN_DIR/ferretdb.log"
# The instance is identified by where it keeps its data, not by the binary path: the SQLite directory
# in this run dir, or the URL of this run dir's PostgreSQL cluster (its port). stop and status accept
# either, so a FERRETDB_BACKEND changed between start and stop still finds the process.
SQLITE_PATTERN="--sqlite-dir=$DATA_DIR"
PG_PATTERN="--postgresql-url=$PG_URL"
if [[ "$BACKEND" == sqlite ]]; then
  BACKEND_ARGS=("--handler=sqlite" "$SQLITE_PATTERN")
else
  BACKEND_ARGS=("--handler=postgresql" "$PG_PATTERN")
fi

install_binary() {
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

cmd_install() {
  install_binary
  if [[ "$BACKEND" == postgresql ]]; then
    "$POSTGRES" install
  fi
}

# our_pid: the pid in the pid file when that process is this run dir's FerretDB (either backend).
our_pid() {
  local pid
  pid=$(pid_from_file "$PID_FILE")
  if pid_matches "$pid" "$SQLITE_PATTERN" || pid_matches "$pid" "$PG_PATTERN"; then
    printf '%s' "$pid"
  fi
}

# running_backend: the backend of this run dir's running FerretDB (empty when none runs), which is
# what status and version report, whatever FERRETDB_BACKEND says now.
running_backend() {
  local pid
  pid=$(our_pid)
  [[ -n "$pid" ]] || return 0
  if pid_matches "$pid" "$PG_PATTERN"; then
    printf 'postgresql'
  else
    printf 'sqlite'
  fi
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
  pid=$(our_pid)
  if [[ -n "$pid" ]]; then
    if port_open "$HOST" "$PORT"; then
      log "already running (pid $pid) on $HOST:$PORT"
      return 0
    fi
    log "process $pid exists but $HOST:$PORT does not answer yet; waiting"
    wait_ready "$pid"
    return 0
  fi
  rm -f "$PID_FILE"
  install_binary
  if port_open "$HOST" "$PORT"; then
    die "port $PORT on $HOST is already in use by another process (set FERRETDB_PORT)"
  fi
  ensure_run_root
  mkdir -p "$RUN_DIR"
  local where
  if [[ "$BACKEND" == postgresql ]]; then
    # Kept data is the cluster's business (a restart keeps it; only `reset` wipes it).
    "$POSTGRES" start
    where="PostgreSQL $PG_URL"
  else
    if [[ -d "$DATA_DIR" ]]; then
      log "keeping existing data in $DATA_DIR (wipe it with: deploy/ferretdb.sh reset)"
    fi
    mkdir -p "$DATA_DIR"
    where="SQLite data in $DATA_DIR"
  fi
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  log "starting FerretDB $FERRETDB_VERSION on $HOST:$PORT ($where)"
  DO_NOT_TRACK=1 FERRETDB_TELEMETRY=disable nohup "$BIN" --listen-addr="$HOST:$PORT" \
    "${BACKEND_ARGS[@]}" --log-level="$LOG_LEVEL" </dev/null >"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
}

# run: FerretDB in the foreground, for a supervisor (deploy/stack.sh), which runs this run dir's
# PostgreSQL as its own program (deploy/postgres.sh run): this process becomes FerretDB (exec), its
# output goes to the supervisor (ferretdb.log) and the pid file names it, so status and stop still work.
cmd_run() {
  install_binary
  if port_open "$HOST" "$PORT"; then
    die "port $PORT on $HOST is already in use by another process (set FERRETDB_PORT)"
  fi
  ensure_run_root
  mkdir -p "$RUN_DIR"
  [[ "$BACKEND" == sqlite ]] && mkdir -p "$DATA_DIR"
  log "running FerretDB $FERRETDB_VERSION in the foreground on $HOST:$PORT ($BACKEND, pid $$)"
  echo "$$" >"$PID_FILE"
  DO_NOT_TRACK=1 FERRETDB_TELEMETRY=disable exec "$BIN" --listen-addr="$HOST:$PORT" \
    "${BACKEND_ARGS[@]}" --log-level="$LOG_LEVEL" </dev/null
}

# stop: FerretDB first (it closes its connections), then this run dir's PostgreSQL cluster, whichever
# backend is selected now (postgres.sh stop is a no-op when no cluster runs).
cmd_stop() {
  local pattern="$SQLITE_PATTERN" rc=0
  [[ "$(running_backend)" == postgresql ]] && pattern="$PG_PATTERN"
  stop_process "$PID_FILE" "$pattern" "$STOP_TIMEOUT"
  if [[ "$BACKEND" == postgresql || -d "$WM_RUN_ROOT/postgres/data" ]]; then
    "$POSTGRES" stop || rc=1
  fi
  return "$rc"
}

# reset: stop, then delete the store's data (the SQLite files and the PostgreSQL cluster).
cmd_reset() {
  cmd_stop
  rm -rf "${DATA_DIR:?}"
  "$POSTGRES" reset
  log "data deleted; the next start begins empty"
}

cmd_status() {
  local pid rc=1 backend
  pid=$(our_pid)
  backend=$(running_backend)
  if [[ -n "$pid" ]] && port_open "$HOST" "$PORT"; then
    log "running (pid $pid) on $HOST:$PORT, FerretDB $(cmd_version), log $LOG_FILE"
    rc=0
  elif [[ -n "$pid" ]]; then
    log "process $pid alive but $HOST:$PORT not answering (starting or hung; log $LOG_FILE)"
  else
    log "not running"
  fi
  if [[ "${backend:-$BACKEND}" == postgresql ]]; then
    "$POSTGRES" status || rc=1
  fi
  return "$rc"
}

# version: what the built binary reports (read from its Go build info; go.mod's version otherwise)
# and the backend of the running instance, else of FERRETDB_BACKEND: "v1.24.2 (postgresql 15.18)",
# "v1.24.2 (sqlite)".
cmd_version() {
  local v="" backend
  backend=$(running_backend)
  backend=${backend:-$BACKEND}
  [[ -x "$BIN" ]] && v=$("$BIN" --version 2>/dev/null)
  [[ "$backend" == postgresql ]] && backend="postgresql $("$POSTGRES" version)"
  printf '%s (%s)\n' "${v:-$FERRETDB_VERSION}" "$backend"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  run) cmd_run ;;
  stop) cmd_stop ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  version) cmd_version ;;
  *)
    echo "usage: $0 {install|start|run|stop|reset|status|version}" >&2
    exit 2
    ;;
esac
