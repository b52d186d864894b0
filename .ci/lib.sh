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
