# Shared by the .ci scripts and bench/load.sh. Source it after setting ROOT
# (the repository), CI_NAME (log lines start "[CI_NAME]") and CI_VERDICT
# (what PASS:/FAIL: lines start with, e.g. "kamailio: "; may be empty).

PASS=0
FAIL=0

log() { echo "[$CI_NAME] $*"; }
pass() {
  PASS=$((PASS + 1))
  echo "PASS: ${CI_VERDICT}$*"
}
fail() {
  FAIL=$((FAIL + 1))
  echo "FAIL: ${CI_VERDICT}$*"
}

# Running, not exited (an exited child stays a zombie until reaped).
alive() {
  [[ -r "/proc/$1/stat" ]] && ! awk '{ exit ($3 == "Z") ? 0 : 1 }' "/proc/$1/stat" 2>/dev/null
}

# Stops a process: TERM, up to 5 s, then KILL; reaps it. No pid: nothing.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# free_port [TAKEN...]: a port free for TCP and UDP, not one of TAKEN;
# free_port media BASE [COUNT]: see .ci/ports.py.
free_port() { python3 "$ROOT/.ci/ports.py" "$@"; }

# ensure_packages COMMAND:PACKAGE ...: installs from Debian the package of
# each command missing (idempotent: nothing to do when all are there).
ensure_packages() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  if ((${#need[@]})); then
    log "installing ${need[*]} from Debian"
    apt-get update </dev/null >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" </dev/null >/dev/null
  fi
}

# smileyd_binary [PATH]: prints PATH made absolute, or builds the debug
# binary and prints its path.
smileyd_binary() {
  local bin="${1:-}"
  if [[ -z "$bin" ]]; then
    log "cargo build --bin smileyd" >&2
    (cd "$ROOT" && cargo build --quiet --bin smileyd)
    bin="$ROOT/target/debug/smileyd"
  fi
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

# remove_work RC: removes $WORK, or keeps it (and says where) when RC or
# FAIL says the run failed or KEEP_CI_WORK is set; CI_DISCARD_WORK removes
# it always.
remove_work() {
  local rc="$1"
  [[ -n "$WORK" && -d "$WORK" ]] || return 0
  if [[ -n "${KEEP_CI_WORK:-}" || "$FAIL" != 0 || "$rc" != 0 ]] && [[ -z "${CI_DISCARD_WORK:-}" ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
