#!/usr/bin/env bash
# The platform on real parts: each service as a gunicorn API plus a worker process.
# Kafka and FerretDB must be running (deploy/infra.sh start; `make stack` does both).
# Secrets: every process gets WAYMARK_STAFF_TOKEN_SECRET, REFERRAL_DATA_KEYS, REFERRAL_INDEX_KEY and
# SCHEDULING_OFFER_SECRET. Values already in the environment win; the rest come from
# $WAYMARK_SECRETS_FILE (default $WAYMARK_CACHE/secrets.env, outside the repo, mode 600), generated
# once on first start and never rewritten (docs/runbooks/secrets.md).
# Usage: deploy/stack.sh {start|stop|status|run CMD...}   (run: CMD with the stack's mode and secrets)
set -euo pipefail

WM_NAME=stack
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR="$WM_RUN_ROOT/stack"
VENV_BIN="$WM_REPO_ROOT/.venv/bin"
READY_TIMEOUT="${STACK_READY_TIMEOUT:-60}"
export WAYMARK_MODE=kafka
SECRETS_FILE="${WAYMARK_SECRETS_FILE:-$WM_CACHE_ROOT/secrets.env}"
REQUIRED_SECRETS=(WAYMARK_STAFF_TOKEN_SECRET REFERRAL_DATA_KEYS REFERRAL_INDEX_KEY SCHEDULING_OFFER_SECRET)

# load_secrets: export every required secret, generating the per-install file once if one is missing.
load_secrets() {
  local name missing=0 line key value
  for name in "${REQUIRED_SECRETS[@]}"; do [[ -n "${!name:-}" ]] || missing=1; done
  ((missing)) || return 0
  case "$(realpath -m "$SECRETS_FILE")/" in
    "$WM_REPO_ROOT"/*) die "WAYMARK_SECRETS_FILE ($SECRETS_FILE) must be outside the repository" ;;
  esac
  (cd "$WM_REPO_ROOT" && "$VENV_BIN/python" -m shared.secret_keys generate "$SECRETS_FILE") | while read -r line; do log "secrets: $line"; done
  [[ "$(stat -c %a "$SECRETS_FILE")" == 600 ]] || die "$SECRETS_FILE must be mode 600 (chmod 600 it)"
  while IFS= read -r line; do
    [[ "$line" =~ ^([A-Z_]+)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    [[ -n "${!key:-}" ]] || export "$key=$value"
  done <"$SECRETS_FILE"
}

services() { (cd "$WM_REPO_ROOT" && "$VENV_BIN/python" -c 'from services.platform import available; print(*available())'); }

port_of() {
  local upper
  upper=$(tr '[:lower:]' '[:upper:]' <<<"$1")
  (cd "$WM_REPO_ROOT" && "$VENV_BIN/python" -c "from shared.settings import Settings; print(Settings.from_env('$1').port)") ||
    echo "${upper}_PORT unset"
}

spawn() { # NAME PIDFILE LOGFILE CMD...
  local name=$1 pidfile=$2 logfile=$3
  shift 3
  if pid_matches "$(pid_from_file "$pidfile")" "$name"; then
    log "$name already running"
    return 0
  fi
  # The subshell execs the program, so $! is the program's own pid (what stop signals).
  (cd "$WM_REPO_ROOT" && exec nohup "$@" >>"$logfile" 2>&1 </dev/null) &
  echo $! >"$pidfile"
}

# demo_oncall: the local demo stack names a network-wide on-call clinician unless ASSESSMENT_ONCALL
# is set. Assessment refuses to start in kafka mode when a hospital holding cases has nobody on call
# (hazard HZ-02, docs/clinical-safety.md); a real deployment sets its own roster.
demo_oncall() {
  if [[ -z "${ASSESSMENT_ONCALL:-}" ]]; then
    export ASSESSMENT_ONCALL='{"default": {"clinician": "demo-oncall", "second_line": "demo-second-line"}}'
    log "on-call: ASSESSMENT_ONCALL unset, using the demo roster (default: demo-oncall)"
  fi
}

cmd_start() {
  ensure_run_root
  load_secrets
  demo_oncall
  local svc port dir
  for svc in $(services) console; do
    port=$(port_of "$svc")
    if port_open 127.0.0.1 "$port" && ! pid_matches "$(pid_from_file "$STACK_DIR/$svc/api.pid")" "services.$svc.wsgi"; then
      die "port $port ($svc) is taken by another process; stop it or set ${svc^^}_PORT"
    fi
  done
  for svc in $(services); do
    port=$(port_of "$svc")
    dir="$STACK_DIR/$svc"
    mkdir -p "$dir"
    rm -rf "$dir/metrics" && mkdir -p "$dir/metrics"
    export PROMETHEUS_MULTIPROC_DIR="$dir/metrics"
    GUNICORN_BIND="127.0.0.1:$port" spawn "services.$svc.wsgi" "$dir/api.pid" "$dir/api.log" \
      "$VENV_BIN/gunicorn" -c python:shared.gunicorn_conf --name "waymark-$svc" "services.$svc.wsgi:app"
    spawn "services.$svc.worker" "$dir/worker.pid" "$dir/worker.log" \
      "$VENV_BIN/python" -m "services.$svc.worker"
    log "$svc: api http://127.0.0.1:$port (log $dir/api.log), worker (log $dir/worker.log)"
  done
  dir="$STACK_DIR/console"
  mkdir -p "$dir"
  port=$(port_of console)
  unset PROMETHEUS_MULTIPROC_DIR
  GUNICORN_BIND="127.0.0.1:$port" spawn "services.console.wsgi" "$dir/api.pid" "$dir/api.log" \
    "$VENV_BIN/gunicorn" -c python:shared.gunicorn_conf --name waymark-console "services.console.wsgi:app"
  log "console: http://127.0.0.1:$port (log $dir/api.log)"
  for svc in $(services); do
    port=$(port_of "$svc")
    local deadline=$(($(now_s) + READY_TIMEOUT))
    until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
      if (($(now_s) >= deadline)); then
        show_log_tail "$STACK_DIR/$svc/api.log" 40
        show_log_tail "$STACK_DIR/$svc/worker.log" 40
        die "$svc not ready after ${READY_TIMEOUT}s"
      fi
      sleep 0.5
    done
    log "$svc ready"
  done
}

cmd_stop() {
  local svc
  WM_NAME="stack:console" stop_process "$STACK_DIR/console/api.pid" "services.console.wsgi" 30
  for svc in $(services); do
    WM_NAME="stack:$svc" stop_process "$STACK_DIR/$svc/api.pid" "services.$svc.wsgi" 30
    WM_NAME="stack:$svc" stop_process "$STACK_DIR/$svc/worker.pid" "services.$svc.worker" 30
  done
}

cmd_status() {
  local svc rc=0
  for svc in $(services); do
    for part in api worker; do
      if pid_matches "$(pid_from_file "$STACK_DIR/$svc/$part.pid")" "services.$svc"; then
        log "$svc $part running"
      else
        log "$svc $part stopped"
        rc=1
      fi
    done
  done
  return "$rc"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  run)
    shift
    load_secrets
    cd "$WM_REPO_ROOT" && exec "$@"
    ;;
  *)
    echo "usage: $0 {start|stop|status|run CMD...}" >&2
    exit 2
    ;;
esac
