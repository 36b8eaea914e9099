# shellcheck shell=bash
# Shared helpers for deploy/kafka.sh, deploy/ferretdb.sh and deploy/infra.sh.
# Sourced, never executed. Callers set WM_NAME (log prefix) before sourcing.

# shellcheck disable=SC2034 # used by the scripts that source this file
WM_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034
WM_CACHE_ROOT="${WAYMARK_CACHE:-$HOME/.cache/waymark}"
WM_RUN_ROOT="${WAYMARK_RUN:-$WM_REPO_ROOT/.run}"
WM_PYTHON="${PYTHON:-$WM_REPO_ROOT/.venv/bin/python}"

log() { printf '[%s] %s\n' "${WM_NAME:-infra}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${WM_NAME:-infra}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${WM_NAME:-infra}" "$*" >&2; exit 1; }

# now_s: seconds since the epoch (integer).
now_s() { date +%s; }

# ensure_run_root: create the run root; when it is new, make it ignore itself in git.
ensure_run_root() {
  mkdir -p "$WM_RUN_ROOT"
  if [[ ! -e "$WM_RUN_ROOT/.gitignore" ]]; then
    printf '# created by deploy/lib.sh: runtime state, never commit\n*\n' >"$WM_RUN_ROOT/.gitignore"
  fi
}

# port_open HOST PORT: true if a TCP connection to HOST:PORT succeeds within 2 s.
port_open() {
  # shellcheck disable=SC2016 # $1/$2 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# pid_from_file FILE: print the pid stored in FILE (empty if none).
pid_from_file() {
  [[ -f "$1" ]] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$1")
  printf '%s' "$pid"
}

# pid_matches PID PATTERN: true if PID is alive and its command line contains PATTERN
# (guards against a recycled pid after a reboot or a stale pid file).
pid_matches() {
  local pid=$1 pattern=$2
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# stop_process PIDFILE PATTERN TIMEOUT_S: SIGTERM, wait, then SIGKILL. No-op if not running.
stop_process() {
  local pidfile=$1 pattern=$2 timeout_s=$3 pid deadline
  pid=$(pid_from_file "$pidfile")
  if ! pid_matches "$pid" "$pattern"; then
    log "not running"
    rm -f "$pidfile"
    return 0
  fi
  log "stopping (pid $pid, SIGTERM, up to ${timeout_s}s)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(now_s) + timeout_s))
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_s) >= deadline)); then
      warn "still alive after ${timeout_s}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped"
}

# show_log_tail FILE [LINES]: print the end of a log file to stderr.
show_log_tail() {
  local file=$1 lines=${2:-60}
  if [[ -f "$file" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '----- end of %s -----\n' "$file" >&2
  fi
}

# python_has MODULE: true if $WM_PYTHON exists and can import MODULE.
python_has() {
  [[ -x "$WM_PYTHON" ]] && "$WM_PYTHON" -c "import $1" >/dev/null 2>&1
}
