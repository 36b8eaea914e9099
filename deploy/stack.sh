#!/usr/bin/env bash
# The platform on real parts, every process under supervisord (from the venv;
# $WAYMARK_RUN/stack/supervisord.conf, generated), which restarts any process that exits or is killed:
#   - infrastructure (WAYMARK_STACK_INFRA=supervised, the default): PostgreSQL, FerretDB and Kafka
#     as programs (deploy/{postgres,ferretdb,kafka}.sh run; same data dirs as deploy/infra.sh, whose
#     own processes are stopped first). WAYMARK_STACK_INFRA=external: they are already running
#     (deploy/infra.sh start; the e2e tests share the session's).
#   - per service WAYMARK_STACK_APIS (default 2) gunicorn instances `<service>-api:<service>-api-<n>`
#     on 127.0.0.1:(WAYMARK_STACK_API_PORT_BASE + n * <programs> + <service index>), behind one
#     HAProxy (`lb`, Debian's package) that owns the service's port, health-checks each instance on
#     /readyz and retries a refused connection on another instance.
#   - a watchdog, which starts the stack again when supervisord itself dies; every other program
#     dies with supervisord (PR_SET_PDEATHSIG via setpriv), so the new one starts from a clean slate.
# Secrets: every process gets WAYMARK_STAFF_TOKEN_SECRET, REFERRAL_DATA_KEYS, REFERRAL_INDEX_KEY and
# SCHEDULING_OFFER_SECRET. Values already in the environment win; the rest come from
# $WAYMARK_SECRETS_FILE (default $WAYMARK_CACHE/secrets.env, outside the repo, mode 600), generated
# once on first start and never rewritten (docs/runbooks/secrets.md).
# Usage: deploy/stack.sh {start|stop|status|ctl ARGS...|run CMD...|watchdog}
#   ctl: supervisorctl on the stack (e.g. `ctl restart 'referral-worker:*'`); run: CMD with the stack's mode and secrets
# Workers: WAYMARK_STACK_WORKERS (default 2) worker processes per service, `<service>-worker:<service>-worker-<n>`
# (n from 0), each with its own log ($WAYMARK_RUN/stack/<service>/worker-<n>.log) and heartbeat; they share the
# consumer group's partitions and one of them at a time runs the duties (shared/leadership.py).
set -euo pipefail

WM_NAME=stack
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR="$WM_RUN_ROOT/stack"
VENV_BIN="$WM_REPO_ROOT/.venv/bin"
READY_TIMEOUT="${STACK_READY_TIMEOUT:-120}"
STACK_WORKERS="${WAYMARK_STACK_WORKERS:-2}"
[[ "$STACK_WORKERS" =~ ^[1-9][0-9]*$ ]] || { echo "WAYMARK_STACK_WORKERS must be a positive integer" >&2; exit 1; }
STACK_APIS="${WAYMARK_STACK_APIS:-2}"
[[ "$STACK_APIS" =~ ^[1-9][0-9]*$ ]] || { echo "WAYMARK_STACK_APIS must be a positive integer" >&2; exit 1; }
API_PORT_BASE="${WAYMARK_STACK_API_PORT_BASE:-8100}"
[[ "$API_PORT_BASE" =~ ^[1-9][0-9]*$ ]] || { echo "WAYMARK_STACK_API_PORT_BASE must be a port number" >&2; exit 1; }
STACK_INFRA="${WAYMARK_STACK_INFRA:-supervised}"
case "$STACK_INFRA" in
  supervised | external) ;;
  *) echo "WAYMARK_STACK_INFRA=$STACK_INFRA: use supervised or external" >&2; exit 1 ;;
esac
FERRETDB_BACKEND="${FERRETDB_BACKEND:-postgresql}"
# setpriv (util-linux): the program gets SIGKILL the moment supervisord dies, so nothing is left
# holding a port or a data directory when the watchdog starts supervisord again.
DIE_WITH_SUPERVISOR="setpriv --pdeathsig KILL --"
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

# The services and their ports, asked of the code once per run of this script (a python start is
# seconds on a loaded machine): SERVICE_NAMES (every service with a worker) and SERVICE_PORTS[name].
declare -A SERVICE_PORTS=()
SERVICE_NAMES=""
load_services() {
  [[ -n "$SERVICE_NAMES" ]] && return 0
  local name port
  while read -r name port; do
    if [[ "$name" == services ]]; then
      SERVICE_NAMES=$port
    else
      SERVICE_PORTS[$name]=$port
    fi
  done < <(cd "$WM_REPO_ROOT" && "$VENV_BIN/python" -c '
from services.platform import available
from shared.settings import Settings
names = available()
print("services", " ".join(names))
for name in [*names, "console"]:
    print(name, Settings.from_env(name).port)
')
  [[ -n "$SERVICE_NAMES" ]] || die "cannot list the services (is the venv built? make venv)"
}

services() { echo "$SERVICE_NAMES"; }

port_of() { echo "${SERVICE_PORTS[$1]:?no port for $1}"; }

SUPERVISOR_CONF="$STACK_DIR/supervisord.conf"
SUPERVISOR_PIDFILE="$STACK_DIR/supervisord.pid"
HAPROXY_CONF="$STACK_DIR/haproxy.cfg"
STOP_MARKER="$STACK_DIR/stopping"   # present while `stop` runs: the watchdog must not restart then

# short_socket NAME: a unix socket path in the stack dir, or in $TMPDIR when that is over ~100 bytes.
short_socket() {
  local path="$STACK_DIR/$1.sock"
  if ((${#path} > 100)); then
    path="${TMPDIR:-/tmp}/waymark-$1-$(printf '%s' "$STACK_DIR" | md5sum | cut -c1-12).sock"
  fi
  printf '%s' "$path"
}

supervisor_socket() { short_socket supervisor; }

# api_programs: every service with an API, the console last (its index places its instances' ports).
api_programs() { echo "$(services) console"; }

# instance_port INDEX N: the port of instance N of the INDEX-th API (the balancer owns the service port).
instance_port() { echo $((API_PORT_BASE + $2 * $(wc -w <<<"$(api_programs)") + $1)); }

# infra_ports: the ports the supervised infrastructure listens on (from the same variables as its scripts).
infra_ports() {
  echo "${KAFKA_PORT:-19092} ${KAFKA_CONTROLLER_PORT:-19093} ${FERRETDB_PORT:-27017}"
  [[ "$FERRETDB_BACKEND" == postgresql ]] && echo "${POSTGRES_PORT:-55432}"
  return 0
}

supervisor_running() { pid_matches "$(pid_from_file "$SUPERVISOR_PIDFILE")" supervisord; }

ctl() { "$VENV_BIN/supervisorctl" -c "$SUPERVISOR_CONF" "$@"; }

# program NAME LOGFILE ENV COMMAND [KEEP_STOPPED_ON]: one [program:] section. supervisord restarts
# the process whenever it exits or is killed, except with an exit status in KEEP_STOPPED_ON (a
# worker at its dead-letter cap exits 78: restarting it would drain its topic into the DLQ, ten
# events per restart), and stops or kills its whole process group (gunicorn's workers with their
# master). startretries is large so a dependency still starting does not leave it FATAL. NUMPROCS
# (optional) makes it a group of numbered processes, NAME-0 ... (LOGFILE and ENV may use %(process_num)d).
# PRIORITY (env, default 50) orders start (low first) and stop (high first); STOPSIGNAL (env,
# default TERM). Every command dies with supervisord ($DIE_WITH_SUPERVISOR) except the watchdog's.
program() {
  local name=$1 logfile=$2 env=$3 command=$4 keep_stopped_on=${5:-} numprocs=${6:-} autorestart=true exitcodes=0
  if [[ -n "$keep_stopped_on" ]]; then
    autorestart=unexpected exitcodes=$keep_stopped_on
  fi
  [[ "$name" == watchdog ]] || command="$DIE_WITH_SUPERVISOR $command"
  cat <<EOF

[program:$name]
priority=${PRIORITY:-50}
command=$command${numprocs:+
numprocs=$numprocs
process_name=%(program_name)s-%(process_num)d}
directory=$WM_REPO_ROOT
environment=$env
autostart=true
autorestart=$autorestart
exitcodes=$exitcodes
startsecs=3
startretries=100
stopsignal=${STOPSIGNAL:-TERM}
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$logfile
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=3
EOF
}

write_supervisor_conf() {
  local svc port dir socket
  socket=$(supervisor_socket)
  {
    cat <<EOF
; generated by deploy/stack.sh start; do not edit (it is rewritten on every start)
[unix_http_server]
file=$socket
chmod=0700

[supervisord]
logfile=$STACK_DIR/supervisord.log
logfile_maxbytes=10MB
logfile_backups=2
pidfile=$SUPERVISOR_PIDFILE
directory=$WM_REPO_ROOT
childlogdir=$STACK_DIR
nodaemon=false

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$socket
EOF
    if [[ "$STACK_INFRA" == supervised ]]; then
      local infra="$WM_RUN_ROOT"
      if [[ "$FERRETDB_BACKEND" == postgresql ]]; then
        # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
        PRIORITY=10 STOPSIGNAL=INT program postgres "$infra/postgres/postgres.log" "WM_NAME=\"postgres\"" \
          "$WM_REPO_ROOT/deploy/postgres.sh run"
      fi
      PRIORITY=20 program ferretdb "$infra/ferretdb/ferretdb.log" "WM_NAME=\"ferretdb\"" \
        "$WM_REPO_ROOT/deploy/ferretdb.sh run"
      PRIORITY=20 program kafka "$infra/kafka/kafka.log" "WM_NAME=\"kafka\"" "$WM_REPO_ROOT/deploy/kafka.sh run"
    fi
    PRIORITY=1 program watchdog "$STACK_DIR/watchdog.out" "WM_NAME=\"watchdog\"" "$WM_REPO_ROOT/deploy/stack.sh watchdog"
    PRIORITY=40 program lb "$STACK_DIR/lb.log" "WM_NAME=\"lb\"" "/usr/sbin/haproxy -db -f $HAPROXY_CONF"
    local index=0 n names
    for svc in $(api_programs); do
      dir="$STACK_DIR/$svc"
      names=()
      for ((n = 0; n < STACK_APIS; n++)); do
        port=$(instance_port "$index" "$n")
        names+=("$svc-api-$n")
        program "$svc-api-$n" "$dir/api-$n.log" \
          "GUNICORN_BIND=\"127.0.0.1:$port\",PROMETHEUS_MULTIPROC_DIR=\"$dir/metrics\",WAYMARK_API_INSTANCE=\"$n\"" \
          "$VENV_BIN/gunicorn -c python:shared.gunicorn_conf --name waymark-$svc-$n services.$svc.wsgi:app"
      done
      printf '\n[group:%s-api]\nprograms=%s\n' "$svc" "$(IFS=,; echo "${names[*]}")"
      if [[ "$svc" != console ]]; then
        PRIORITY=60 program "$svc-worker" "$dir/worker-%(process_num)d.log" \
          "PROMETHEUS_MULTIPROC_DIR=\"$dir/metrics\",WAYMARK_WORKER_INSTANCE=\"%(process_num)d\"" \
          "$VENV_BIN/python -m services.$svc.worker" 78 "$STACK_WORKERS"
      fi
      index=$((index + 1))
    done
  } >"$SUPERVISOR_CONF"
}

# demo_oncall: the local demo stack names the demo's network-wide on-call roster (services/demo.py
# ONCALL, the one the embedded demo uses) for each of ASSESSMENT_ONCALL and NOTIFICATION_ONCALL left
# unset. Assessment refuses to start in kafka mode when a hospital holding cases has nobody on call
# (hazard HZ-02, docs/clinical-safety.md); a real deployment sets its own roster.
demo_oncall() {
  local name roster
  while IFS=$'\t' read -r name roster; do
    if [[ -z "${!name:-}" ]]; then
      export "$name=$roster"
      log "on-call: $name unset, using the demo roster"
    fi
  done < <(PYTHONPATH="$WM_REPO_ROOT" "$VENV_BIN/python" -c \
    'from services.demo import ONCALL; print("\n".join(f"{k}\t{v}" for k, v in ONCALL.items()))')
}

# write_haproxy_conf: one frontend per API on the service's own port, one backend of its instances.
# Each instance is checked on /readyz (every 2 s, down after 2 failures, up after 2 successes); a
# connection an instance refuses (killed, restarting) is retried on another one (retry-on
# conn-failure + redispatch), so only requests already inside a dying instance are lost. A new
# server connection per request (http-server-close): no pooled connection to a dead instance.
# When every instance fails /readyz (a broker or store outage fails them all alike) the balancer
# still sends traffic to them (unchecked backup entries, allbackups): the APIs answer for
# themselves (503 + Retry-After, or accept into the outbox) instead of HAProxy's bare 503.
write_haproxy_conf() {
  local svc index=0 n
  {
    cat <<EOF
# generated by deploy/stack.sh start; do not edit (it is rewritten on every start)
global
  log stdout format raw local0 notice
  maxconn 2000
  stats socket $(short_socket haproxy) mode 600 level admin

defaults
  mode http
  log global
  option dontlognull
  option http-server-close
  option redispatch 1
  retries 3
  retry-on conn-failure
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout queue 10s
  default-server inter 2s downinter 1s fall 2 rise 2
EOF
    for svc in $(api_programs); do
      printf '\nfrontend %s\n  bind 127.0.0.1:%s\n  default_backend %s\n' "$svc" "$(port_of "$svc")" "$svc"
      printf '\nbackend %s\n  balance roundrobin\n  option allbackups\n' "$svc"
      printf '  option httpchk GET /readyz\n  http-check expect status 200\n'
      for ((n = 0; n < STACK_APIS; n++)); do
        printf '  server %s-%d 127.0.0.1:%s check\n' "$svc" "$n" "$(instance_port "$index" "$n")"
      done
      for ((n = 0; n < STACK_APIS; n++)); do
        printf '  server %s-%d-unchecked 127.0.0.1:%s backup\n' "$svc" "$n" "$(instance_port "$index" "$n")"
      done
      index=$((index + 1))
    done
  } >"$HAPROXY_CONF"
  /usr/sbin/haproxy -c -q -f "$HAPROXY_CONF" || die "haproxy rejects $HAPROXY_CONF"
}

# check_ports: nothing else may hold a port this stack is about to listen on.
check_ports() {
  local svc port index=0 n
  for svc in $(api_programs); do
    port=$(port_of "$svc")
    port_open 127.0.0.1 "$port" && die "port $port ($svc) is taken by another process; stop it or set ${svc^^}_PORT"
    for ((n = 0; n < STACK_APIS; n++)); do
      port=$(instance_port "$index" "$n")
      port_open 127.0.0.1 "$port" &&
        die "port $port ($svc API instance $n) is taken by another process; stop it or set WAYMARK_STACK_API_PORT_BASE"
    done
    index=$((index + 1))
  done
  if [[ "$STACK_INFRA" == supervised ]]; then
    for port in $(infra_ports); do
      port_open 127.0.0.1 "$port" &&
        die "port $port (infrastructure) is taken by another process; stop it, or run with WAYMARK_STACK_INFRA=external"
    done
  fi
  return 0
}

# wait_ready_url NAME URL: until URL answers 200, or die with the logs after READY_TIMEOUT.
wait_ready_url() {
  local name=$1 url=$2 deadline
  deadline=$(($(now_s) + READY_TIMEOUT))
  until curl -fsS "$url" >/dev/null 2>&1; do
    if (($(now_s) >= deadline)); then
      show_log_tail "$STACK_DIR/$name/api-0.log" 40
      show_log_tail "$STACK_DIR/$name/worker-0.log" 40
      show_log_tail "$STACK_DIR/lb.log" 20
      curl -sS "$url" >&2 || true
      die "$name not ready after ${READY_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

cmd_start() {
  ensure_run_root
  load_secrets
  demo_oncall
  load_services
  local svc line
  mkdir -p "$STACK_DIR"
  rm -f "$STOP_MARKER"
  [[ -x /usr/sbin/haproxy ]] || die "haproxy is not installed: run deploy/stack.sh install (Debian's haproxy package)"
  if supervisor_running; then
    log "supervisord already running (pid $(pid_from_file "$SUPERVISOR_PIDFILE")); starting anything stopped"
    ctl start all >/dev/null || true
  else
    if [[ "$STACK_INFRA" == supervised ]]; then
      # Processes deploy/infra.sh started own the same data directories: stop them, keeping
      # their data, so that supervisord runs them.
      { "$WM_REPO_ROOT/deploy/infra.sh" stop 2>&1 || true; } | while read -r line; do log "infra: $line"; done
    fi
    check_ports
    [[ "$STACK_INFRA" == supervised ]] && mkdir -p "$WM_RUN_ROOT/postgres" "$WM_RUN_ROOT/ferretdb" "$WM_RUN_ROOT/kafka"
    for svc in $(api_programs); do
      mkdir -p "$STACK_DIR/$svc"
      rm -rf "$STACK_DIR/$svc/metrics" && mkdir -p "$STACK_DIR/$svc/metrics"
    done
    rm -rf "$STACK_DIR/heartbeats" && mkdir -p "$STACK_DIR/heartbeats"
    write_haproxy_conf
    write_supervisor_conf
    unset PROMETHEUS_MULTIPROC_DIR
    # Every process inherits the secrets and the heartbeat directory from supervisord's environment.
    export WAYMARK_HEARTBEAT_DIR="$STACK_DIR/heartbeats"
    (cd "$WM_REPO_ROOT" && "$VENV_BIN/supervisord" -c "$SUPERVISOR_CONF")
    log "supervisord started (config $SUPERVISOR_CONF, log $STACK_DIR/supervisord.log)"
  fi
  if [[ "$STACK_INFRA" == supervised ]]; then
    log "infrastructure under supervisord: Kafka :${KAFKA_PORT:-19092}, FerretDB :${FERRETDB_PORT:-27017} ($FERRETDB_BACKEND)"
    if [[ "$FERRETDB_BACKEND" == postgresql ]]; then
      POSTGRES_START_TIMEOUT=$READY_TIMEOUT "$WM_REPO_ROOT/deploy/postgres.sh" setup
    fi
  fi
  for svc in $(services); do
    log "$svc: http://127.0.0.1:$(port_of "$svc") (HAProxy) -> $STACK_APIS gunicorn instance(s) (logs $STACK_DIR/$svc/api-*.log), $STACK_WORKERS worker(s) (logs $STACK_DIR/$svc/worker-*.log)"
  done
  log "console: http://127.0.0.1:$(port_of console) (HAProxy) -> $STACK_APIS instance(s) (logs $STACK_DIR/console/api-*.log)"
  for svc in $(services); do
    wait_ready_url "$svc" "http://127.0.0.1:$(port_of "$svc")/readyz"
    log "$svc ready"
  done
}

# cmd_stop: supervisord stops every program (SIGTERM to its process group, SIGKILL after 30 s)
# and exits; this waits for it, so nothing the stack started is left behind. The stop marker tells
# the watchdog that supervisord's exit is wanted.
cmd_stop() {
  local pid deadline
  pid=$(pid_from_file "$SUPERVISOR_PIDFILE")
  if ! supervisor_running; then
    log "not running"
    rm -f "$SUPERVISOR_PIDFILE"
    return 0
  fi
  touch "$STOP_MARKER"
  log "stopping every process, then supervisord (pid $pid)"
  ctl shutdown >/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(now_s) + 90))
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_s) >= deadline)); then
      warn "supervisord still alive after 90s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$SUPERVISOR_PIDFILE" "$(supervisor_socket)"
  log "stopped"
}

# process_alive PID: running, not a zombie waiting for its parent to reap it.
process_alive() {
  local state
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# cmd_watchdog: supervisord's one program that outlives it (no PR_SET_PDEATHSIG). It watches its
# parent; when supervisord is gone without a stop, every other program has died with it, and this
# starts the stack again (with supervisord's environment), retrying until a supervisord runs. The
# new supervisord starts a new watchdog; this one then exits. It writes its own log: its stdout is
# a pipe to the dead supervisord.
cmd_watchdog() {
  exec >>"$STACK_DIR/watchdog.log" 2>&1 </dev/null
  local supervisor=$PPID started
  trap 'exit 0' TERM INT
  log "watching supervisord (pid $supervisor)"
  while process_alive "$supervisor"; do
    sleep 1 &
    wait $! || true
  done
  [[ -e "$STOP_MARKER" ]] && { log "supervisord stopped on request"; exit 0; }
  started=$(now_s)
  log "supervisord (pid $supervisor) died; starting the stack again"
  until supervisor_running || [[ -e "$STOP_MARKER" ]]; do
    "$WM_REPO_ROOT/deploy/stack.sh" start && break
    sleep 2
  done
  log "stack started again after $(($(now_s) - started))s"
}

# install_haproxy: Debian's haproxy package (once per machine; idempotent), like deploy/postgres.sh.
install_haproxy() {
  if [[ -x /usr/sbin/haproxy ]]; then
    log "haproxy present: $(/usr/sbin/haproxy -v | head -n 1)"
    return 0
  fi
  command -v apt-get >/dev/null || die "no apt-get: install HAProxy >= 2.4 yourself (/usr/sbin/haproxy)"
  local sudo=""
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "installing haproxy needs root: run 'apt-get install -y haproxy' as root"
    sudo="sudo"
  fi
  log "installing Debian's haproxy package (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends haproxy >/dev/null
  # The package enables a system-wide haproxy service where systemd runs; ours is the stack's own.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $sudo systemctl disable --now haproxy >/dev/null 2>&1 || true
  fi
  log "installed: $(/usr/sbin/haproxy -v | head -n 1)"
}

cmd_status() {
  if ! supervisor_running; then
    log "supervisord not running"
    return 1
  fi
  ctl status
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  ctl)
    shift
    ctl "$@"
    ;;
  run)
    shift
    load_secrets
    cd "$WM_REPO_ROOT" && exec "$@"
    ;;
  install) install_haproxy ;;
  watchdog) cmd_watchdog ;;
  *)
    echo "usage: $0 {install|start|stop|status|ctl ARGS...|run CMD...|watchdog}" >&2
    exit 2
    ;;
esac
