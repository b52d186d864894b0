#!/usr/bin/env bash
# The Debian package, tested as far as a machine without systemd as PID 1
# allows: build it (cargo deb), lintian, `systemd-analyze verify` and the
# security score of the unit, dpkg -i, then run the daemon exactly as the
# unit says (.ci/unit-exec.py: its user, environment, working directory,
# ExecStart, limits, file-system sandbox and system call filter) with a
# NOTIFY_SOCKET of ours: READY=1 only once SIP and the API answer; a sipp
# call with a spoken comment; a reload through ExecReload; an online backup;
# an upgrade to a newer package keeping the ratings, the token and the
# edited config; a restore from the backup; remove (data kept) and purge
# (nothing left).
#
# usage: .ci/deb.sh [PACKAGE.deb]   (default: build it with cargo deb)
#
# Runs as root (dpkg). Installs what it needs. Idempotent: a package or
# daemon left by an interrupted run is purged/stopped first, and the
# package is purged at the end, so the machine is left as it was.
#
# The shipped configuration listens on 0.0.0.0:5060 and 127.0.0.1:8080; the
# test edits /etc/smileyd/smileyd.toml (an admin's edit, which the upgrade
# must keep) to free loopback ports instead, since tests listen on loopback
# only and other runs on this machine may hold 5060 and 8080.

set -euo pipefail
export CARGO_TERM_COLOR=never

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_NAME=deb
CI_VERDICT="deb: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

CARGO_DEB_VERSION=3.8.0
UNIT=/usr/lib/systemd/system/smileyd.service
CONF=/etc/smileyd/smileyd.toml
DATA=/var/lib/smileyd
# Outside /tmp: the daemon runs with PrivateTmp and must reach the socket.
RUNDIR=/run/smileyd-deb-ci
PY=/usr/bin/python3 # Debian's, for python3-seccomp
WORK=""
DAEMON_PID=""
LISTENER_PID=""
INSTALLED=""
SIP_PORT=""
HTTP_PORT=""
TOKEN=""

cleanup() {
  local rc=$?
  stop_daemon || true
  stop_pid "$LISTENER_PID"
  if [[ -n "$INSTALLED" ]]; then
    dpkg --purge smileyd >/dev/null 2>&1 || true
  fi
  rm -rf "$RUNDIR"
  remove_work "$rc"
  echo "deb: $PASS passed, $FAIL failed"
  if [[ "$rc" == 0 && "$FAIL" != 0 ]]; then
    rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT

# check DESCRIPTION COMMAND...: PASS or FAIL (and the run goes on).
check() {
  local what="$1"
  shift
  if "$@"; then
    pass "$what"
  else
    fail "$what"
  fi
}

# must DESCRIPTION COMMAND...: PASS, or FAIL and stop (later steps need it).
must() {
  local what="$1"
  shift
  if "$@"; then
    pass "$what"
  else
    fail "$what"
    [[ -n "$WORK" && -s "$WORK/smileyd.log" ]] && tail -n 40 "$WORK/smileyd.log"
    exit 1
  fi
}

api() {
  curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT$1"
}

tools() {
  ensure_packages lintian:lintian sipp:sip-tester curl:curl systemd-analyze:systemd \
    adduser:adduser setpriv:util-linux "$PY:python3"
  if ! "$PY" -c 'import seccomp' 2>/dev/null; then
    log "installing python3-seccomp from Debian"
    apt-get update </dev/null >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-seccomp </dev/null >/dev/null
  fi
  if [[ "$(cargo deb --version 2>/dev/null || true)" != *"$CARGO_DEB_VERSION"* ]]; then
    log "cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
  fi
}

# A daemon or package left by an interrupted run.
leftovers() {
  local pid
  pid="$(cat "$RUNDIR/daemon.pid" 2>/dev/null || true)"
  if [[ -n "$pid" && "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == /usr/bin/smileyd* ]]; then
    log "stopping smileyd $pid left by an earlier run"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$RUNDIR"
  if dpkg-query -W -f '${db:Status-Status}' smileyd 2>/dev/null | grep -qv not-installed; then
    log "purging a smileyd package left installed"
    dpkg --purge smileyd >/dev/null
  fi
}

build() {
  local version changelog
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
  changelog="$(sed -n '1s/^smileyd (\([^)]*\)).*/\1/p' "$ROOT/debian/changelog")"
  check "debian/changelog's newest entry ($changelog) is Cargo.toml's version ($version)" \
    test "$version" = "$changelog"
  if [[ -n "${1:-}" ]]; then
    DEB="$1"
    return
  fi
  log "cargo deb"
  # Under CI without debug info: the release build is most of this step,
  # and .ci/run must stay under 30 minutes on two cores. A release build
  # by hand keeps the profile's debug info for the -dbgsym package.
  if [[ "${CI:-}" == true ]]; then
    export CARGO_PROFILE_RELEASE_DEBUG=0
  fi
  (cd "$ROOT" && cargo deb --locked --fast -- --bin smileyd)
  DEB="$(ls -t "${CARGO_TARGET_DIR:-$ROOT/target}"/debian/smileyd_"$version"_amd64.deb | head -n1)"
  must "cargo deb built $(basename "$DEB")" test -s "$DEB"
}

lint() {
  local out
  out="$(lintian --fail-on error --tag-display-limit 0 "$DEB" 2>&1)" && rc=0 || rc=$?
  [[ -n "$out" ]] && echo "$out"
  check "lintian: no errors ($(grep -c "^W:" <<<"$out" || true) warnings)" test "$rc" = 0
}

install_checks() {
  local uid shell conffiles
  must "dpkg -i $(basename "$DEB")" dpkg -i "$DEB"
  INSTALLED=1
  uid="$(id -u smileyd 2>/dev/null || echo none)"
  shell="$(getent passwd smileyd | cut -d: -f7)"
  check "system user smileyd (uid $uid < 1000, shell $shell, home $DATA)" \
    bash -c "[[ $uid != none && $uid -lt 1000 && $shell == */nologin ]] && [[ \$(getent passwd smileyd | cut -d: -f6) == $DATA ]] && getent group smileyd >/dev/null"
  check "$DATA, recordings/ and prompts-custom/ owned by smileyd, mode 750" \
    bash -c "for d in $DATA $DATA/recordings $DATA/prompts-custom; do [[ \$(stat -c %U:%G:%a \$d) == smileyd:smileyd:750 ]] || exit 1; done"
  conffiles="$(dpkg-query -W -f '${Conffiles}' smileyd)"
  check "$CONF is a conffile, root:smileyd 640" \
    bash -c "grep -q ' $CONF ' <<<'$conffiles' && [[ \$(stat -c %U:%G:%a $CONF) == root:smileyd:640 ]]"
  check "prompts in /usr/share/smileyd/prompts, binary in /usr/bin" \
    test -s /usr/share/smileyd/prompts/en/survey.wav -a -s /usr/share/smileyd/prompts/sv/nps/survey.wav -a -x /usr/bin/smileyd
  local version
  version="$(/usr/bin/smileyd --version)"
  echo "$version"
  check "smileyd --version names the version and the commit ($version)" \
    bash -c "[[ '$version' =~ ^smileyd\ [0-9.]+\ \((commit\ [0-9a-f]{7,}|not\ built\ from\ a\ git\ checkout)\)$ ]]"
}

unit_checks() {
  local out score
  check "systemd-analyze verify $UNIT" systemd-analyze verify "$UNIT"
  out="$(systemd-analyze security --offline=true "$UNIT" 2>&1 | tail -n1)"
  echo "$out"
  score="$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$out")"
  check "systemd-analyze security: exposure $score (at most 2.0)" \
    "$PY" -c "import sys; sys.exit(not float('${score:-99}') <= 2.0)"
}

# The admin's edit: loopback ports of our own (see the top of this file).
configure() {
  local rtp
  SIP_PORT="$(free_port)"
  HTTP_PORT="$(free_port "$SIP_PORT")"
  rtp="$(free_port media 31000 40)"
  RTP_RANGE="$rtp-$((rtp + 39))"
  "$PY" - "$CONF" "$SIP_PORT" "$HTTP_PORT" "$RTP_RANGE" <<'PY'
import re, sys
path, sip, http, rtp = sys.argv[1:]
text = open(path).read()
for key, value in (("sip_listen", f"127.0.0.1:{sip}"), ("http_listen", f"127.0.0.1:{http}"), ("rtp_ports", rtp)):
    text, n = re.subn(rf'^{key} = ".*"$', f'{key} = "{value}"', text, flags=re.M)
    assert n == 1, key
open(path, "w").write(text)
PY
  check "check-config as smileyd accepts the edited $CONF" \
    runuser -u smileyd -- /usr/bin/smileyd --config "$CONF" check-config
}

# Receives sd_notify datagrams; on READY=1 asks the API and SIP at once
# (one try each): both must already answer.
start_listener() {
  mkdir -p "$RUNDIR"
  chmod 755 "$RUNDIR"
  "$PY" - "$RUNDIR/notify" "$WORK/notify.log" "$HTTP_PORT" "$SIP_PORT" <<'PY' &
import os, socket, sys, urllib.request
path, log, http, sip = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
def api():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=3) as r:
            return str(r.status)
    except Exception as e:
        return f"error:{e}"
def options():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(3)
    port = u.getsockname()[1]
    req = (f"OPTIONS sip:smileyd@127.0.0.1:{sip} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ready-{os.getpid()}\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:ci@127.0.0.1>;tag=ready\r\nTo: <sip:smileyd@127.0.0.1>\r\n"
           f"Call-ID: ready-{os.getpid()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    try:
        u.sendto(req.encode(), ("127.0.0.1", sip))
        return u.recv(4096).split(b"\r\n", 1)[0].decode().replace(" ", "_")
    except Exception as e:
        return f"error:{e}"
while True:
    msg = s.recv(4096).decode()
    states = msg.split("\n")
    line = " ".join(x for x in states if x and not x.startswith("STATUS="))
    if "READY=1" in states:
        line += f" api={api()} sip={options()}"
    with open(log, "a") as f:
        f.write(line + "\n")
PY
  LISTENER_PID=$!
  for _ in $(seq 50); do
    [[ -S "$RUNDIR/notify" ]] && return 0
    sleep 0.1
  done
  return 1
}

# count_lines PATTERN: notify log lines matching.
count_lines() { grep -c -- "$1" "$WORK/notify.log" 2>/dev/null || true; }

# wait_notify PATTERN N: until N lines match (30 s).
wait_notify() {
  for _ in $(seq 300); do
    [[ "$(count_lines "$1")" -ge "$2" ]] && return 0
    alive "$DAEMON_PID" || return 1
    sleep 0.1
  done
  return 1
}

start_daemon() {
  local readies
  readies="$(count_lines READY=1)"
  # unshare -m: the unit's file-system sandbox is built in a mount namespace
  # of its own; the exec chain keeps the pid, so this is MAINPID.
  unshare -m "$PY" "$ROOT/.ci/unit-exec.py" start "$UNIT" \
    --log "$WORK/smileyd.log" --notify-socket "$RUNDIR/notify" </dev/null &
  DAEMON_PID=$!
  echo "$DAEMON_PID" >"$RUNDIR/daemon.pid"
  must "the daemon, started as $UNIT says, sends READY=1 ($1)" wait_notify READY=1 $((readies + 1))
  check "at READY=1 the API and SIP answer already ($(grep READY=1 "$WORK/notify.log" | tail -n1))" \
    bash -c "grep READY=1 '$WORK/notify.log' | tail -n1 | grep -q 'api=200 sip=SIP/2.0_200'"
}

stop_daemon() {
  [[ -n "$DAEMON_PID" ]] || return 0
  local stopping
  stopping="$(count_lines STOPPING=1)"
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    alive "$DAEMON_PID" || break
    sleep 0.1
  done
  stop_pid "$DAEMON_PID"
  DAEMON_PID=""
  rm -f "$RUNDIR/daemon.pid"
  [[ "$(count_lines STOPPING=1)" -gt "$stopping" ]]
}

journal_format() {
  # JOURNAL_STREAM names the log file: lines carry a <N> priority prefix
  # for journald and no timestamp of their own.
  grep -q '^<6> INFO smileyd: smileyd ready' "$WORK/smileyd.log" &&
    ! grep -vq '^<[0-7]>' "$WORK/smileyd.log"
}

owned_by_smileyd() {
  [[ -z "$(find "$DATA" ! -user smileyd -print -quit)" ]]
}

# The ratings as "agent:rating[+comment]", sorted, through the API (and so
# through the token).
measurements() {
  api "/api/v1/measurements?limit=50" | "$PY" -c "$MEASUREMENTS_PY"
}
read -r -d '' MEASUREMENTS_PY <<'PY' || true
import json, sys
items = json.load(sys.stdin)["items"]
print(" ".join(sorted(m["agent"] + ":" + m["rating"] + ("+comment" if m.get("comment_url") else "") for m in items)))
PY

# The first comment's audio downloads.
comment_served() {
  local url
  url="$(api /api/v1/measurements?has_comment=true | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["comment_url"])')"
  api "$url" >"$WORK/restored.wav" && test -s "$WORK/restored.wav"
}

upload_prompt() {
  curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: audio/wav' \
    --data-binary @/usr/share/smileyd/prompts/en/goodbye.wav "http://127.0.0.1:$HTTP_PORT/api/v1/prompts/en/thanks" &&
    test -s "$DATA/prompts-custom/en/thanks.wav"
}

prompt_is_custom() {
  curl -fsS -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/api/v1/prompts/en/thanks" |
    grep -qi '^x-prompt-source: custom'
}

reloaded() {
  wait_notify READY=1 "$1" && grep -q RELOADING=1 "$WORK/notify.log"
}

config_kept() {
  grep -q "^sip_listen = \"127.0.0.1:$SIP_PORT\"" "$CONF" && grep -q after-sales "$CONF" &&
    ! ls "$CONF".dpkg-* 2>/dev/null
}

removed_state() {
  [[ ! -e /usr/bin/smileyd && -s "$CONF" && -s "$DATA/smileyd.db" && -n "$(ls "$DATA/recordings")" ]] &&
    getent passwd smileyd >/dev/null &&
    [[ "$(dpkg-query -W -f '${db:Status-Status}' smileyd)" == config-files ]]
}

purged_state() {
  [[ ! -e /etc/smileyd && ! -e "$DATA" && ! -e "$UNIT" ]] &&
    ! getent passwd smileyd >/dev/null && ! getent group smileyd >/dev/null &&
    [[ -z "$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled -name 'smileyd*' 2>/dev/null)" ]] &&
    ! dpkg-query -W smileyd >/dev/null 2>&1
}

sipp_press2() {
  local scenario="$WORK/uac_press2.xml" pcap=/usr/share/sip-tester/dtmf_2833_2.pcap media
  if [[ -r "$pcap" ]]; then
    cp "$ROOT/tests/sipp/uac_press2.xml" "$scenario"
  else
    "$PY" "$ROOT/tests/sipp/make_dtmf_pcap.py" 2 "$WORK/dtmf_2833_2.pcap"
    sed "s#$pcap#$WORK/dtmf_2833_2.pcap#" "$ROOT/tests/sipp/uac_press2.xml" >"$scenario"
  fi
  media="$(free_port media 31400)"
  (cd "$WORK" && timeout 120 sipp "127.0.0.1:$SIP_PORT" -sf "$scenario" \
    -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$media" \
    -m 1 -l 1 -timeout 90s -timeout_error -nostdin -trace_err -error_file "$WORK/press2.errors.log" \
    </dev/null >"$WORK/press2.out" 2>&1)
}

main() {
  tools
  leftovers
  WORK="$(mktemp -d /var/tmp/smileyd-deb.XXXXXX)"
  chmod 755 "$WORK"
  build "${1:-}"
  lint
  install_checks
  unit_checks
  configure

  must "notify socket listening" start_listener
  start_daemon "first start"
  check "log lines for the journal: <N> priority prefix, no timestamp" journal_format
  TOKEN="$(runuser -u smileyd -- /usr/bin/smileyd --config "$CONF" token create --scope admin --name ci 2>/dev/null)"
  must "an admin token created as the user smileyd" test -n "$TOKEN"

  # A call with a spoken comment: rating and recording under /var/lib/smileyd.
  run_one() { SMILEYD_TOKEN="$TOKEN" "$ROOT/.ci/sipp-comment.sh" "127.0.0.1:$SIP_PORT" "http://127.0.0.1:$HTTP_PORT" "$WORK/comment"; }
  check "sipp call: rating and comment stored, shown by the API" run_one
  check "the comment's audio is under $DATA/recordings" \
    bash -c "ls $DATA/recordings/*.wav >/dev/null"
  check "a prompt uploaded through the API lands in $DATA/prompts-custom" upload_prompt

  # Reload: a new survey in the config, ExecReload, RELOADING=1 then READY=1.
  printf '\n[surveys.after-sales]\nkind = "csat"\n' >>"$CONF"
  local readies
  readies="$(count_lines READY=1)"
  check "ExecReload ($(unit_get ExecReload)) sent" "$PY" "$ROOT/.ci/unit-exec.py" reload "$UNIT" "$DAEMON_PID"
  check "reload: RELOADING=1, then READY=1" reloaded $((readies + 1))
  check "reload took effect: survey after-sales in /api/v1/surveys" \
    bash -c "curl -fsS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/api/v1/surveys | grep -q after-sales"

  # Online backup, as the README says, while the daemon runs.
  mkdir -p "$WORK/backup"
  check "smileyd backup (as root, daemon running)" \
    /usr/bin/smileyd --config "$CONF" backup "$WORK/backup/smileyd.db"
  check "backup of the files: tar of recordings/ and prompts-custom/" \
    tar -C "$DATA" -cf "$WORK/backup/files.tar" recordings prompts-custom
  check "every file in $DATA still owned by smileyd" owned_by_smileyd
  local before
  before="$(measurements)"
  check "sipp call after the backup (press 2)" sipp_press2
  sleep 1
  local after
  after="$(measurements)"
  check "two ratings now ($after)" test "$after" = "sipp-agent-2:sad $before"

  # Upgrade to a newer package, as postinst's restart would: stop, install, start.
  check "stop: STOPPING=1 sent, daemon exited" stop_daemon
  local newer="$WORK/smileyd_upgrade.deb" newversion
  newversion="$(dpkg-deb -f "$DEB" Version)+ciupgrade"
  (cd "$ROOT" && cargo deb --no-build --fast --quiet --deb-version "$newversion" --output "$newer")
  must "dpkg -i a newer package ($newversion) over the old one" dpkg -i "$newer"
  check "upgrade kept the edited config and added no .dpkg-dist" config_kept
  start_daemon "after the upgrade"
  check "after the upgrade: same ratings, comment audio and token ($(measurements))" \
    test "$(measurements)" = "$after"
  check "after the upgrade: the uploaded prompt is still the custom one" prompt_is_custom

  # Restore the backup, as the README says: stop, put the files back, start.
  check "stop before the restore" stop_daemon
  rm -f "$DATA/smileyd.db" "$DATA/smileyd.db-wal" "$DATA/smileyd.db-shm"
  install -o smileyd -g smileyd -m 0640 "$WORK/backup/smileyd.db" "$DATA/smileyd.db"
  rm -rf "$DATA/recordings" "$DATA/prompts-custom"
  tar -C "$DATA" -xpf "$WORK/backup/files.tar"
  start_daemon "after the restore"
  local restored
  restored="$(measurements)"
  check "restore: exactly the ratings of the backup ($restored)" test "$restored" = "$before"
  check "restore: the comment's audio is served again" comment_served
  check "restore: the uploaded prompt is back" prompt_is_custom
  check "every file in $DATA owned by smileyd after the restore" owned_by_smileyd
  check "stop" stop_daemon

  # Remove keeps data, config and user; purge takes them all.
  must "dpkg -r smileyd" dpkg -r smileyd
  check "after remove: binary gone; config, database, recordings and user kept" removed_state
  must "dpkg -P smileyd" dpkg --purge smileyd
  INSTALLED=""
  check "after purge: no config, data, user, group or unit links left" purged_state
}

unit_get() { "$PY" "$ROOT/.ci/unit-exec.py" get "$UNIT" "$1"; }

main "$@"
