#!/usr/bin/env bash
# PostgreSQL (Debian's package) as FerretDB's storage: a private cluster per run dir, listening on
# loopback only, with the database `ferretdb` and the companion-index event trigger of
# deploy/postgres/ferretdb-indexes.sql. deploy/ferretdb.sh drives it when FERRETDB_BACKEND=postgresql.
# Usage: deploy/postgres.sh {install|start|run|setup|stop|reset|status|version}
# Docs: docs/runbooks/local-infra.md, docs/adr/0004-store-ferretdb-on-postgresql.md
set -euo pipefail

WM_NAME=postgres
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT="${POSTGRES_PORT:-55432}"
START_TIMEOUT="${POSTGRES_START_TIMEOUT:-60}"
STOP_TIMEOUT="${POSTGRES_STOP_TIMEOUT:-30}"
SQL_FILE="$WM_REPO_ROOT/deploy/postgres/ferretdb-indexes.sql"
DB=ferretdb    # database and login role FerretDB uses (one schema per MongoDB database inside it)
ROLE=ferretdb

RUN_DIR="$WM_RUN_ROOT/postgres"
DATA_DIR="$RUN_DIR/data"
SOCK_DIR="$RUN_DIR/sock"  # unix socket for our own admin connections (superuser), mode 0700
LOG_FILE="$RUN_DIR/postgres.log"

# The cluster's OS user: initdb and postgres refuse to run as root, so as root the cluster belongs to
# Debian's `postgres` user (created by the package); otherwise to whoever runs this script.
if ((EUID == 0)); then
  OWNER=postgres
else
  OWNER=$(id -un)
fi

# bin_dir: the newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin),
# or $POSTGRES_BIN_DIR. Empty when no server is installed.
bin_dir() {
  if [[ -n "${POSTGRES_BIN_DIR:-}" ]]; then
    [[ -x "$POSTGRES_BIN_DIR/initdb" ]] || die "POSTGRES_BIN_DIR=$POSTGRES_BIN_DIR has no initdb"
    printf '%s' "$POSTGRES_BIN_DIR"
    return 0
  fi
  local found
  found=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
  [[ -n "$found" ]] && dirname "$found"
  return 0
}

# as_owner CMD...: run CMD as the cluster's OS user.
as_owner() {
  if ((EUID == 0)); then
    runuser -u "$OWNER" -- "$@"
  else
    "$@"
  fi
}

# psql_admin [ARGS...]: psql as the superuser over the run dir's socket (ON_ERROR_STOP, quiet).
psql_admin() {
  PGOPTIONS='-c client_min_messages=warning' as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U postgres "$@"
}

cmd_install() {
  if [[ -n "$(bin_dir)" ]]; then
    log "present: $("$(bin_dir)/postgres" --version)"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install PostgreSQL >= 13 yourself (initdb under /usr/lib/postgresql/<v>/bin, or set POSTGRES_BIN_DIR)"
  local sudo=""
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "PostgreSQL is not installed and installing it needs root: run 'apt-get install -y postgresql' as root (or install sudo)"
    sudo="sudo"
  fi
  log "installing Debian's postgresql package (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # The package creates a `main` cluster on :5432 and enables a unit for it; where systemd runs, we do
  # not want that server running: our cluster is the private one under $WAYMARK_RUN.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
  [[ -n "$(bin_dir)" ]] || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb appeared"
  log "installed: $("$(bin_dir)/postgres" --version)"
}

running() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] || return 1
  as_owner "$BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

# init_cluster: a new cluster in $DATA_DIR (UTF8, C locale, as FerretDB requires). Local socket
# connections are trusted (the socket directory is 0700, so only the owner reaches it); over TCP only
# role ferretdb may connect, only to its database. Nothing listens beyond 127.0.0.1.
init_cluster() {
  log "initdb $DATA_DIR (owner $OWNER)"
  as_owner "$BIN/initdb" -D "$DATA_DIR" -U postgres -E UTF8 --locale=C -A trust --no-instructions \
    >"$RUN_DIR/initdb.log" 2>&1 || {
    show_log_tail "$RUN_DIR/initdb.log"
    die "initdb failed (log: $RUN_DIR/initdb.log)"
  }
  as_owner tee "$DATA_DIR/pg_hba.conf" >/dev/null <<EOF
# written by deploy/postgres.sh
local  all       all                   trust
host   $DB  $ROLE  127.0.0.1/32  trust
EOF
  printf "\ninclude 'waymark.conf'\n" | as_owner tee -a "$DATA_DIR/postgresql.conf" >/dev/null
}

# write_settings: the server settings Waymark relies on, rewritten on every start (port and paths may
# change between runs). fsync and synchronous_commit stay on: an acknowledged write must survive a crash.
write_settings() {
  local sock=${SOCK_DIR//\'/\'\'}
  as_owner tee "$DATA_DIR/waymark.conf" >/dev/null <<EOF
# written by deploy/postgres.sh on every start; edit the script, not this file
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 100
EOF
}

# setup_database: role and database for FerretDB, then the companion-index trigger. Idempotent.
setup_database() {
  psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE $ROLE LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT 'CREATE DATABASE $DB OWNER $ROLE ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
SQL
  psql_admin -d "$DB" -f "$SQL_FILE" >/dev/null
}

wait_ready() {
  local deadline
  deadline=$(($(now_s) + START_TIMEOUT))
  until as_owner "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -d "$DB" -U "$ROLE"; do
    if (($(now_s) >= deadline)); then
      show_log_tail "$LOG_FILE"
      die "PostgreSQL not accepting connections on $HOST:$PORT after ${START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.2
  done
}

# prepare: the cluster's directories, a new cluster when there is none (a restart keeps it; only
# `reset` wipes it) and the settings. Shared by start and run.
prepare() {
  port_open "$HOST" "$PORT" && die "port $PORT on $HOST is already in use by another process (set POSTGRES_PORT)"
  ensure_run_root
  local sock_path="$SOCK_DIR/.s.PGSQL.$PORT"
  ((${#sock_path} < 108)) || die "socket path $sock_path is longer than 107 bytes; use a shorter WAYMARK_RUN"
  mkdir -p "$RUN_DIR"
  # A half-made cluster (no PG_VERSION) is redone.
  if [[ -f "$DATA_DIR/PG_VERSION" ]]; then
    log "keeping existing cluster in $DATA_DIR (wipe it with: deploy/postgres.sh reset)"
  else
    rm -rf "${DATA_DIR:?}"
  fi
  mkdir -p "$SOCK_DIR"
  chmod 0700 "$SOCK_DIR"
  if ((EUID == 0)); then
    chown "$OWNER:" "$RUN_DIR" "$SOCK_DIR"
    [[ -d "$DATA_DIR" ]] && chown -R "$OWNER:" "$DATA_DIR"
    as_owner test -w "$RUN_DIR" ||
      die "user $OWNER cannot reach $RUN_DIR (a parent directory is not searchable by others); use another WAYMARK_RUN"
  fi
  [[ -f "$DATA_DIR/PG_VERSION" ]] || init_cluster
  write_settings
}

cmd_start() {
  local start
  start=$(now_s)
  if running; then
    if port_open "$HOST" "$PORT"; then
      setup_database
      log "already running on $HOST:$PORT (data $DATA_DIR)"
      return 0
    fi
    log "cluster in $DATA_DIR runs but $HOST:$PORT does not answer yet; waiting"
    wait_ready
    setup_database
    return 0
  fi
  cmd_install
  prepare
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  install -m 0644 /dev/null "$LOG_FILE"
  ((EUID == 0)) && chown "$OWNER:" "$LOG_FILE"
  log "starting PostgreSQL $(cmd_version) on $HOST:$PORT (data $DATA_DIR)"
  if ! as_owner "$BIN/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w -t "$START_TIMEOUT" >/dev/null; then
    show_log_tail "$LOG_FILE"
    die "PostgreSQL failed to start (log: $LOG_FILE)"
  fi
  wait_ready
  setup_database
  log "ready on $HOST:$PORT after $(($(now_s) - start))s (database $DB, role $ROLE; log $LOG_FILE)"
}

# run: the postmaster in the foreground, for a supervisor (deploy/stack.sh): this process becomes
# postgres (exec; as root, setpriv drops to the cluster's owner without forking, and asks again for
# PR_SET_PDEATHSIG, which Linux clears on a change of user), its log goes to the supervisor
# (postgres.log). Role, database and trigger come after it answers: `deploy/postgres.sh setup`.
cmd_run() {
  prepare
  log "running PostgreSQL $(cmd_version) in the foreground on $HOST:$PORT (data $DATA_DIR, pid $$)"
  if ((EUID == 0)); then
    exec setpriv --reuid="$OWNER" --regid="$OWNER" --init-groups --pdeathsig KILL -- \
      "$BIN/postgres" -D "$DATA_DIR" </dev/null
  fi
  exec "$BIN/postgres" -D "$DATA_DIR" </dev/null
}

# setup: wait until the server answers, then make role, database and trigger (idempotent).
cmd_setup() {
  wait_ready
  setup_database
  log "ready on $HOST:$PORT (database $DB, role $ROLE)"
}

cmd_stop() {
  if [[ -z "$BIN" ]] || ! running; then
    log "not running"
    return 0
  fi
  log "stopping (pg_ctl stop -m fast, up to ${STOP_TIMEOUT}s)"
  as_owner "$BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t "$STOP_TIMEOUT" >/dev/null ||
    die "pg_ctl stop failed (log: $LOG_FILE)"
  log "stopped"
}

# reset: stop the cluster and delete it; the next start runs initdb again.
cmd_reset() {
  cmd_stop
  rm -rf "${DATA_DIR:?}"
  log "cluster deleted ($DATA_DIR); the next start begins empty"
}

cmd_status() {
  if [[ -n "$BIN" ]] && running && port_open "$HOST" "$PORT"; then
    log "running on $HOST:$PORT, PostgreSQL $(cmd_version), data $DATA_DIR, log $LOG_FILE"
    return 0
  fi
  if [[ -n "$BIN" ]] && running; then
    log "server for $DATA_DIR alive but $HOST:$PORT not answering (log $LOG_FILE)"
  else
    log "not running"
  fi
  return 1
}

# version: the running server's version when it answers, else the installed binary's ("15.18").
cmd_version() {
  local v=""
  if [[ -z "$BIN" ]]; then
    printf 'not installed\n'
    return 0
  fi
  if running; then
    v=$(psql_admin -d postgres -Atc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1 || true)
  fi
  [[ -n "$v" ]] || v=$("$BIN/postgres" --version | awk '{print $3}')
  printf '%s\n' "$v"
}

BIN=$(bin_dir) || exit 1
case "${1:-}" in
  install) cmd_install ;;
  start)
    [[ -n "$BIN" ]] || { cmd_install && BIN=$(bin_dir); }
    cmd_start
    ;;
  run)
    [[ -n "$BIN" ]] || { cmd_install && BIN=$(bin_dir); }
    cmd_run
    ;;
  setup) cmd_setup ;;
  stop) cmd_stop ;;
  reset) cmd_reset ;;
  status) cmd_status ;;
  version) cmd_version ;;
  *)
    echo "usage: $0 {install|start|run|setup|stop|reset|status|version}" >&2
    exit 2
    ;;
esac
