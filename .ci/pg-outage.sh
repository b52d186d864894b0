#!/usr/bin/env bash
# PostgreSQL goes away in the middle of a run of calls: nothing may be lost.
#
# Starts a throwaway PostgreSQL server of its own (initdb in a temporary
# directory, 127.0.0.1, a free port: stopping it disturbs nobody else's
# database), one smileyd on it, and sipp placing OUTAGE_CALLS survey calls
# (press 1) at OUTAGE_RATE calls/s. Once a few ratings are in, the server is
# stopped (pg_ctl stop -m fast) for OUTAGE_DOWN_SECS while calls go on, then
# started again. Checks:
#   - every sipp call completes normally (the caller is thanked, BYE)
#   - /healthz answers 503 "degraded" within 5 s of the stop; then, the
#     database being known down, reads answer 503 with Retry-After at once:
#     each well under the 5 s statement timeout (limit 2.5 s, a margin no
#     noisy machine reaches when nothing is waited for)
#   - once the server is back, reads answer 200 again (before the journal
#     has drained)
#   - ratings taken meanwhile go to the local journal
#   - once the server is back the journal drains, /healthz is 200 again,
#     and every completed call's rating is in the database exactly once
#     (distinct SIP Call-IDs), with one call record each
#
# usage: .ci/pg-outage.sh [SMILEYD_BINARY]
#   Without an argument, builds target/debug/smileyd first.
# Environment: OUTAGE_CALLS (default 30), OUTAGE_RATE (default 2),
#   OUTAGE_DOWN_SECS (default 8), SIPP_PCAP_DIR (default /usr/share/sip-tester),
#   KEEP_CI_WORK=1 keeps the work directory.
# Needs root (the server runs as the postgres user). Installs postgresql and
# sip-tester from Debian when missing. Prints PASS/FAIL lines; exits 1 on
# any failure. About 45 s.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CALLS="${OUTAGE_CALLS:-30}"
RATE="${OUTAGE_RATE:-2}"
DOWN_SECS="${OUTAGE_DOWN_SECS:-8}"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"

WORK=""
PGDATA_DIR=""
PGBIN=""
DAEMON_PID=""
SIPP_PID=""

CI_NAME=pg-outage
CI_VERDICT="pg-outage: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

pg_stop() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$?
  stop_pid "$SIPP_PID"
  stop_pid "$DAEMON_PID"
  if [[ -n "$PGDATA_DIR" && -f "$PGDATA_DIR/postmaster.pid" ]]; then
    pg_stop
  fi
  remove_work "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$(id -u)" != 0 ]]; then
  echo "FAIL: pg-outage: needs root (runs a PostgreSQL server as the postgres user)"
  exit 1
fi

ensure_packages sipp:sip-tester curl:curl python3:python3
if [[ ! -d /usr/lib/postgresql ]] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  "$ROOT/.ci/postgres.sh" ensure
fi
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

BIN="$(smileyd_binary "${1:-}")"

WORK="$(mktemp -d /tmp/smileyd-pg-outage.XXXXXX)"
chmod 755 "$WORK"
mkdir -p "$WORK/recordings"

# --- a PostgreSQL server of our own ---------------------------------------
PG_PORT="$(free_port)"
PGDATA_DIR="$WORK/pg"
mkdir -p "$PGDATA_DIR"
chown postgres: "$PGDATA_DIR"
log "initdb $PGDATA_DIR (PostgreSQL $(basename "$(dirname "$PGBIN")"), port $PG_PORT)"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1
pg_start() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -w -t 30 -l "$PGDATA_DIR/server.log" \
    -o "-p $PG_PORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1" start >/dev/null
}
pg_start
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/smileyd"
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE smileyd" </dev/null

# --- smileyd ---------------------------------------------------------------
SIP_PORT="$(free_port)"
HTTP_PORT="$(free_port "$SIP_PORT")"
API="http://127.0.0.1:$HTTP_PORT"
JOURNAL="$WORK/smileyd.journal"
cat >"$WORK/smileyd.toml" <<'TOML'
[survey]
digit_timeout_ms = 5000
comment = "never"

[media]
max_call_secs = 120

[sip]
allowed_networks = ["127.0.0.0/8"]
TOML
log "smileyd: SIP 127.0.0.1:$SIP_PORT, HTTP 127.0.0.1:$HTTP_PORT, database $DB_URL"
(
  cd "$WORK"
  exec env RUST_LOG="${RUST_LOG:-info,smileyd=debug}" "$BIN" \
    --config "$WORK/smileyd.toml" \
    --sip-listen "127.0.0.1:$SIP_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" \
    --database-url "$DB_URL" \
    --prompts-dir "$ROOT/prompts" \
    --recordings-dir "$WORK/recordings" \
    --journal-path "$JOURNAL" \
    --rtp-ports 30800-30999 \
    --public-ip 127.0.0.1 \
    </dev/null >"$WORK/smileyd.log" 2>&1
) &
DAEMON_PID=$!
ready=""
for _ in $(seq 150); do
  if curl -fsS -o /dev/null "$API/healthz" 2>/dev/null; then
    ready=1
    break
  fi
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  fail "smileyd did not start"
  tail -n 40 "$WORK/smileyd.log"
  exit 1
fi

# --- sipp: a run of calls ----------------------------------------------------
scenario="$WORK/uac_press1.xml"
pcap="$PCAPS/dtmf_2833_1.pcap"
if [[ ! -r "$pcap" ]]; then
  pcap="$WORK/dtmf_2833_1.pcap"
  python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" 1 "$pcap"
fi
sed -e "s#/usr/share/sip-tester/dtmf_2833_1.pcap#$pcap#" \
  -e "s#X-Agent-Id: sipp-agent-1#X-Agent-Id: outage-agent#" \
  -e "s#X-Queue: interop#X-Queue: outage#" \
  "$ROOT/tests/sipp/uac_press1.xml" >"$scenario"
media_port="$(free_port media 30600)"
sipp_port="$(free_port)"
log "sipp: $CALLS calls at $RATE/s"
(
  cd "$WORK"
  exec timeout 300 sipp "127.0.0.1:$SIP_PORT" -sf "$scenario" \
    -i 127.0.0.1 -p "$sipp_port" -mi 127.0.0.1 -mp "$media_port" \
    -m "$CALLS" -r "$RATE" -l "$CALLS" -timeout 240s -timeout_error -nostdin \
    -trace_stat -stf "$WORK/sipp_stat.csv" -fd 1 \
    -trace_err -error_file "$WORK/sipp.errors.log" \
    </dev/null >"$WORK/sipp.out" 2>&1
) &
SIPP_PID=$!

# JSON field of an API answer, with its HTTP status and the seconds it
# took: "STATUS VALUE SECS"; a third argument names a response header to
# print after VALUE.
api_get() {
  python3 - "$API" "$1" "${2:-}" "${3:-}" <<'PY'
import json, sys, time, urllib.request, urllib.error
base, path, field, header = sys.argv[1:]
t = time.time()
try:
    with urllib.request.urlopen(base + path, timeout=15) as r:
        status, body, headers = r.status, r.read(), r.headers
except urllib.error.HTTPError as e:
    status, body, headers = e.code, e.read(), e.headers
except Exception as e:
    print(f"000 {type(e).__name__} {time.time() - t:.2f}")
    sys.exit()
value = ""
if field:
    try:
        value = json.loads(body)
        for k in field.split("."):
            value = value[k]
    except Exception:
        value = body.decode(errors="replace")[:200]
if header:
    value = f"{value} {header}={headers.get(header)}"
print(f"{status} {value} {time.time() - t:.2f}")
PY
}

rated() { api_get "/api/v1/satisfaction?agent=outage-agent" total | awk '$1 == 200 {print $2}'; }

# Let a few ratings in before the outage.
want_before=$((CALLS / 5))
((want_before >= 2)) || want_before=2
for _ in $(seq 200); do
  n="$(rated || true)"
  [[ -n "$n" && "$n" -ge "$want_before" ]] && break
  kill -0 "$SIPP_PID" 2>/dev/null || break
  sleep 0.1
done
log "$(rated || echo '?') ratings stored; stopping PostgreSQL (pg_ctl stop -m fast)"
stopped_at=$(date +%s.%N)
pg_stop
log "PostgreSQL stopped"

# Health says degraded, reads say 503, both promptly.
health=""
for _ in $(seq 50); do
  health="$(api_get /healthz status)"
  [[ "$health" == 503\ degraded* ]] && break
  sleep 0.1
done
after=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$stopped_at" "$(date +%s.%N)")
if [[ "$health" == 503\ degraded* ]] && python3 -c "import sys; sys.exit(float(sys.argv[1]) > 5)" "$after"; then
  pass "/healthz says degraded (503) ${after} s after the stop"
else
  fail "/healthz did not say degraded within 5 s of the stop (${after} s): $health"
fi
# The database is now known down: every read is answered from that, with
# Retry-After, without waiting for the 5 s statement timeout.
slow=""
reads=0
for path in /api/v1/satisfaction /api/v1/measurements /api/v1/responses /api/v1/agents /api/v1/timeseries; do
  for _ in 1 2; do
    read_answer="$(api_get "$path?agent=outage-agent" error.code Retry-After)"
    read_secs="${read_answer##* }"
    reads=$((reads + 1))
    if ! [[ "$read_answer" == "503 store_unavailable Retry-After="[0-9]* ]] ||
      ! python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 2.5)" "$read_secs"; then
      slow="$path: $read_answer"
    fi
  done
done
if [[ -z "$slow" ]]; then
  pass "$reads reads while the database is down answer 503 with Retry-After, each well under the 5 s statement timeout"
else
  fail "a read while the database is down: $slow (want 503 store_unavailable with Retry-After in under 2.5 s)"
fi

sleep "$DOWN_SECS"
journaled=0
[[ -f "$JOURNAL" ]] && journaled=$(grep -c '"type":"measurement"' "$JOURNAL" || true)
if ((journaled > 0)); then
  pass "$journaled ratings taken while the database was down went to the local journal"
else
  fail "no rating in the journal while the database was down (calls too slow, or the journal not used)"
fi

log "starting PostgreSQL again"
pg_start

# Reads recover as soon as the database answers (not only once sipp is
# done and the journal has drained).
recovered=""
for _ in $(seq 100); do
  if [[ "$(api_get "/api/v1/satisfaction?agent=outage-agent" total)" == 200\ * ]]; then
    recovered=1
    break
  fi
  sleep 0.1
done
if [[ -n "$recovered" ]]; then
  pass "reads answer 200 again once PostgreSQL is back"
else
  fail "reads still not answered 10 s after PostgreSQL came back: $(api_get "/api/v1/satisfaction?agent=outage-agent" error.code)"
fi

# sipp finishes; then the journal drains and health is ok again.
sipp_rc=0
wait "$SIPP_PID" || sipp_rc=$?
SIPP_PID=""
drained=""
for _ in $(seq 300); do
  if [[ ! -s "$JOURNAL" ]] && [[ "$(api_get /healthz status)" == 200\ ok* ]]; then
    drained=1
    break
  fi
  sleep 0.1
done
if [[ -n "$drained" ]]; then
  pass "journal drained into PostgreSQL, /healthz ok again"
else
  fail "journal not drained 30 s after PostgreSQL came back ($(wc -l <"$JOURNAL" 2>/dev/null || echo '?') entries left; health: $(api_get /healthz status))"
fi

verdict="$(python3 - "$API" "$WORK/sipp_stat.csv" "$CALLS" "$sipp_rc" <<'PY' 2>&1 || true
import csv, json, sys, urllib.request
base, stat, calls, sipp_rc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
problems = []
rows = list(csv.reader(open(stat), delimiter=";"))
head, last = rows[0], rows[-1]
col = lambda name: int(last[head.index(name)])
ok, failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
if sipp_rc != 0 or failed or ok != calls:
    problems.append(f"sipp: {ok} calls completed, {failed} failed, exit {sipp_rc} (want {calls}, 0, 0)")
def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)
items, cursor = [], None
while True:
    page = get("/api/v1/measurements?agent=outage-agent&limit=1000" + (f"&cursor={cursor}" if cursor else ""))
    items += page["items"]
    cursor = page.get("next_cursor")
    if not cursor:
        break
ids = [m["call_id"] for m in items]
if len(ids) != ok:
    problems.append(f"{len(ids)} ratings stored for {ok} completed calls")
if len(set(ids)) != len(ids):
    problems.append(f"duplicates: {len(ids) - len(set(ids))} call ids stored twice")
if len({m['id'] for m in items}) != len(items):
    problems.append("duplicate measurement ids")
sat = get("/api/v1/satisfaction?agent=outage-agent")
if sat.get("total") != ok or sat.get("happy") != ok:
    problems.append(f"satisfaction {sat}, want {ok} happy")
resp = get("/api/v1/responses?agent=outage-agent")
if resp.get("offered") != ok or resp.get("rated") != ok:
    problems.append(f"responses {resp}, want offered = rated = {ok}")
print("; ".join(problems) if problems else f"ok {ok}")
PY
)"
if [[ "$verdict" == ok* ]]; then
  pass "all ${verdict#ok } calls completed and each rating is stored exactly once (figures and call records agree)"
else
  fail "$verdict"
fi

if ((FAIL)); then
  for f in "$WORK/sipp.errors.log" "$WORK/sipp.out"; do
    [[ -s "$f" ]] && { echo "--- $(basename "$f") ---"; tail -n 30 "$f"; }
  done
  echo "--- smileyd.log (warnings and errors) ---"
  grep -E 'WARN|ERROR' "$WORK/smileyd.log" | tail -n 40 || true
fi
echo "pg-outage: $PASS passed, $FAIL failed"
[[ "$FAIL" == 0 ]]
