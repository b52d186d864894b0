#!/usr/bin/env bash
# Several daemons, one store: two smileyd daemons on one PostgreSQL database
# behind Kamailio (Debian's package) as a round-robin dispatcher
# (tests/kamailio/kamailio.cfg). sipp places survey calls to Kamailio only.
# Checks:
#   - every call completes, and both daemons took some of them
#   - every rating is stored exactly once (count = calls, distinct Call-IDs)
#   - both daemons' APIs give the same figures, byte for byte, with the
#     same ETags (satisfaction, agents, responses, timeseries, measurements)
#   - a comment recorded by one daemon is served as a playable WAV by the
#     other (the daemons share one recordings directory)
#   - with one daemon stopped, every call goes to the other
#
# usage: .ci/kamailio.sh [SMILEYD_BINARY]
#   Without an argument, builds target/debug/smileyd first.
# Environment: KAM_CALLS_HAPPY (default 12), KAM_CALLS_SAD (default 8),
#   KAM_RATE (calls/s per scenario, default 4), SIPP_PCAP_DIR (default
#   /usr/share/sip-tester), KEEP_CI_WORK=1 keeps the work directory.
# Installs kamailio, sip-tester and postgresql from Debian when missing and
# starts PostgreSQL (.ci/postgres.sh); uses a fresh database, dropped at
# the end. Everything listens on 127.0.0.1. Prints PASS/FAIL lines; exits 1
# on any failure. About a minute.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HAPPY="${KAM_CALLS_HAPPY:-12}"
SAD="${KAM_CALLS_SAD:-8}"
RATE="${KAM_RATE:-4}"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"

WORK=""
DB_NAME=""
PIDS=()

CI_NAME=kamailio
CI_VERDICT="kamailio: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

cleanup() {
  local rc=$?
  local pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ -n "$DB_NAME" ]]; then
    "$ROOT/.ci/postgres.sh" drop-db "$DB_NAME" 2>/dev/null || true
  fi
  remove_work "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_packages kamailio:kamailio sipp:sip-tester curl:curl python3:python3
# The Debian package may start its own instance on 5060; ours has its own
# port and configuration, so that one is left alone.

BIN="$(smileyd_binary "${1:-}")"

WORK="$(mktemp -d /tmp/smileyd-kamailio.XXXXXX)"
DB_URL="$("$ROOT/.ci/postgres.sh" create-db smileyd_kam)"
DB_NAME="${DB_URL##*/}"
log "database $DB_URL"

# --- two daemons, one database, one recordings directory -------------------
mkdir -p "$WORK/recordings"
cat >"$WORK/smileyd.toml" <<'TOML'
# press1/press2 use the smiley survey without a comment; the comment
# scenario calls sip:comment@… whose survey always asks for one.
default_survey = "smiley"

[surveys.smiley]
comment = "never"

[surveys.comment]
comment = "always"

[survey]
digit_timeout_ms = 5000

[media]
max_call_secs = 120

[sip]
allowed_networks = ["127.0.0.0/8"]
TOML
ports=()
declare -A SIP HTTP RTP
for d in a b; do
  SIP[$d]="$(free_port "${ports[@]}")"
  ports+=("${SIP[$d]}")
  HTTP[$d]="$(free_port "${ports[@]}")"
  ports+=("${HTTP[$d]}")
done
RTP[a]=31000-31199
RTP[b]=31200-31399
KAM_PORT="$(free_port "${ports[@]}")"

start_daemon() {
  local d="$1"
  (
    cd "$WORK"
    exec env RUST_LOG="${RUST_LOG:-info,smileyd=debug}" "$BIN" \
      --config "$WORK/smileyd.toml" \
      --sip-listen "127.0.0.1:${SIP[$d]}" \
      --http-listen "127.0.0.1:${HTTP[$d]}" \
      --database-url "$DB_URL" \
      --prompts-dir "$ROOT/prompts" \
      --recordings-dir "$WORK/recordings" \
      --journal-path "$WORK/smileyd-$d.journal" \
      --rtp-ports "${RTP[$d]}" \
      --public-ip 127.0.0.1 \
      </dev/null >"$WORK/smileyd-$d.log" 2>&1
  ) &
  PIDS+=($!)
}
for d in a b; do
  log "smileyd $d: SIP 127.0.0.1:${SIP[$d]}, HTTP 127.0.0.1:${HTTP[$d]}, RTP ${RTP[$d]}"
  start_daemon "$d"
done
for d in a b; do
  ok=""
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:${HTTP[$d]}/healthz" 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [[ -z "$ok" ]]; then
    fail "smileyd $d did not start"
    tail -n 40 "$WORK/smileyd-$d.log"
    exit 1
  fi
done

# --- Kamailio in front -------------------------------------------------------
# Kamailio's round-robin starts at the second entry: b first, so that the
# call after an even number of calls (the comment call) goes to a.
printf '# smileyd daemons: set 1\n1 sip:127.0.0.1:%s\n1 sip:127.0.0.1:%s\n' "${SIP[b]}" "${SIP[a]}" >"$WORK/dispatcher.list"
log "kamailio $(kamailio -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p') on udp:127.0.0.1:$KAM_PORT"
(
  cd "$WORK"
  exec env SMILEYD_KAM_LISTEN="udp:127.0.0.1:$KAM_PORT" \
    SMILEYD_KAM_DISPATCHER_LIST="$WORK/dispatcher.list" \
    kamailio -f "$ROOT/tests/kamailio/kamailio.cfg" -DD -E -m 64 -M 8 \
    -Y "$WORK" -P "$WORK/kamailio.pid" \
    </dev/null >"$WORK/kamailio.log" 2>&1
) &
PIDS+=($!)
KAM_PID=$!
# Ready when it answers an OPTIONS of its own.
ok=""
for _ in $(seq 100); do
  if python3 - "$KAM_PORT" <<'PY' 2>/dev/null; then
import socket, sys, uuid
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.3)
me = s.getsockname()[1]
branch = "z9hG4bK" + uuid.uuid4().hex
msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
       f"Max-Forwards: 70\r\nFrom: <sip:ci@127.0.0.1>;tag=ci\r\n"
       f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\n"
       f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
s.sendto(msg.encode(), ("127.0.0.1", port))
data = s.recv(4096).decode(errors="replace")
sys.exit(0 if data.startswith("SIP/2.0 200") else 1)
PY
    ok=1
    break
  fi
  alive "$KAM_PID" || break
  sleep 0.1
done
if [[ -z "$ok" ]]; then
  fail "kamailio did not start"
  tail -n 40 "$WORK/kamailio.log"
  exit 1
fi

# --- sipp through Kamailio ------------------------------------------------
scenario() {
  local digit="$1" agent="$2" out="$WORK/uac_press$1.xml" pcap="$PCAPS/dtmf_2833_$1.pcap"
  if [[ ! -r "$pcap" ]]; then
    pcap="$WORK/dtmf_2833_$digit.pcap"
    python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" "$digit" "$pcap"
  fi
  sed -e "s#/usr/share/sip-tester/dtmf_2833_$digit.pcap#$pcap#" \
    -e "s#X-Agent-Id: sipp-agent-$digit#X-Agent-Id: $agent#" \
    -e "s#X-Queue: interop#X-Queue: kamailio#" \
    "$ROOT/tests/sipp/uac_press$digit.xml" >"$out"
  echo "$out"
}
run_sipp() {
  local name="$1" file="$2" calls="$3" media="$4" port
  port="$(free_port "${ports[@]}" "$KAM_PORT")"
  (
    cd "$WORK"
    exec timeout 180 sipp "127.0.0.1:$KAM_PORT" -sf "$file" \
      -i 127.0.0.1 -p "$port" -mi 127.0.0.1 -mp "$media" \
      -m "$calls" -r "$RATE" -l "$calls" -timeout 150s -timeout_error -nostdin \
      -trace_stat -stf "$WORK/$name.stat.csv" -fd 1 \
      -trace_err -error_file "$WORK/$name.errors.log" \
      </dev/null >"$WORK/$name.out" 2>&1
  )
}
s1="$(scenario 1 kam-agent)"
s2="$(scenario 2 kam-agent)"
m1="$(free_port media 31600)"
m2="$(free_port media $((m1 + 10)))"
log "sipp: $HAPPY calls pressing 1 and $SAD pressing 2, to Kamailio"
started=$(date +%s)
rc1=0
rc2=0
run_sipp happy "$s1" "$HAPPY" "$m1" &
p1=$!
run_sipp sad "$s2" "$SAD" "$m2" &
p2=$!
wait "$p1" || rc1=$?
wait "$p2" || rc2=$?
log "sipp done in $(($(date +%s) - started)) s"

calls_ok() {
  python3 - "$WORK/$1.stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
h, last = rows[0], rows[-1]
print(int(last[h.index("SuccessfulCall(C)")]), int(last[h.index("FailedCall(C)")]))
PY
}
read -r ok1 failed1 <<<"$(calls_ok happy)"
read -r ok2 failed2 <<<"$(calls_ok sad)"
if [[ "$rc1" == 0 && "$rc2" == 0 && "$ok1" == "$HAPPY" && "$ok2" == "$SAD" ]]; then
  pass "all $((HAPPY + SAD)) calls through Kamailio completed"
else
  fail "sipp: press1 $ok1/$HAPPY ok ($failed1 failed, exit $rc1), press2 $ok2/$SAD ok ($failed2 failed, exit $rc2)"
fi
took_a=$(grep -c 'call finished.*agent="kam-agent"' "$WORK/smileyd-a.log" || true)
took_b=$(grep -c 'call finished.*agent="kam-agent"' "$WORK/smileyd-b.log" || true)
if ((took_a > 0 && took_b > 0 && took_a + took_b == HAPPY + SAD)); then
  pass "round-robin: daemon a took $took_a calls, daemon b $took_b"
else
  fail "calls per daemon: a $took_a, b $took_b (want both > 0, $((HAPPY + SAD)) in all)"
fi

# --- the same figures from either daemon -----------------------------------
verdict="$(python3 - "${HTTP[a]}" "${HTTP[b]}" "$HAPPY" "$SAD" <<'PY' 2>&1 || true
import json, sys, time, urllib.request
pa, pb, happy, sad = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read(), r.headers.get("ETag")
problems = []
items, cursor = [], None
while True:
    body, _ = get(pa, "/api/v1/measurements?agent=kam-agent&limit=7" + (f"&cursor={cursor}" if cursor else ""))
    page = json.loads(body)
    items += page["items"]
    cursor = page.get("next_cursor")
    if not cursor:
        break
calls = [m["call_id"] for m in items]
if len(calls) != happy + sad:
    problems.append(f"{len(calls)} ratings stored for {happy + sad} calls")
if len(set(calls)) != len(calls):
    problems.append(f"{len(calls) - len(set(calls))} calls stored twice")
if len({m["id"] for m in items}) != len(items):
    problems.append("duplicate measurement ids")
ratings = sorted(m["rating"] for m in items)
if ratings.count("happy") != happy or ratings.count("sad") != sad:
    problems.append(f"{ratings.count('happy')} happy / {ratings.count('sad')} sad, want {happy} / {sad}")
paths = [
    "/api/v1/satisfaction",
    "/api/v1/satisfaction?agent=kam-agent",
    "/api/v1/agents",
    "/api/v1/responses?queue=kamailio",
    "/api/v1/timeseries?bucket=hour",
    "/api/v1/measurements?agent=kam-agent&limit=1000",
    "/api/v1/events?limit=1000",
]
for p in paths:
    (ba, ea), (bb, eb) = get(pa, p), get(pb, p)
    if ba != bb:
        problems.append(f"{p} differs: a {ba[:200]!r} / b {bb[:200]!r}")
    if ea != eb:
        problems.append(f"{p} ETag differs: a {ea} / b {eb}")
sat = json.loads(get(pb, "/api/v1/satisfaction?agent=kam-agent")[0])
if (sat.get("happy"), sat.get("sad")) != (happy, sad):
    problems.append(f"satisfaction {sat}")
resp = json.loads(get(pb, "/api/v1/responses?queue=kamailio")[0])
if (resp.get("offered"), resp.get("rated")) != (happy + sad, happy + sad):
    problems.append(f"responses {resp}: want offered = rated = {happy + sad}")
print("; ".join(problems) if problems else f"ok {sat['happy']} happy, {sat['sad']} sad, {sat.get('happy_pct')} %")
PY
)"
if [[ "$verdict" == ok* ]]; then
  pass "every rating stored exactly once; both daemons give identical figures and ETags (${verdict#ok })"
else
  fail "$verdict"
fi

# --- a comment recorded by one daemon, served by the other -----------------
# The comment call should land on a (see the dispatcher list); its audio
# must come back through b's API. Should it land on b, the next one goes
# to a.
comment_ok=""
for attempt in 1 2; do
  agent="kam-comment-$attempt"
  before_a=$(grep -c 'comment stored' "$WORK/smileyd-a.log" || true)
  out=""
  if out="$(SIPP_COMMENT_AGENT="$agent" "$ROOT/.ci/sipp-comment.sh" "127.0.0.1:$KAM_PORT" "http://127.0.0.1:${HTTP[b]}" "$WORK/comment-$attempt" 2>&1)"; then
    after_a=$(grep -c 'comment stored' "$WORK/smileyd-a.log" || true)
    if ((after_a > before_a)); then
      comment_ok=1
      pass "comment recorded by daemon a, downloaded through daemon b: ${out#PASS: sipp comment: }"
      break
    fi
    log "comment call $attempt went to daemon b; once more (round-robin: a next)"
  else
    fail "comment through Kamailio, fetched from daemon b: $out"
    break
  fi
done
if [[ -z "$comment_ok" && "$FAIL" == 0 ]]; then
  fail "no comment call reached daemon a"
fi

# --- one daemon goes away: Kamailio sends every call to the other --------
FAILOVER=4
log "stopping daemon b (SIGTERM); $FAILOVER more calls"
kill -TERM "${PIDS[1]}" 2>/dev/null || true
for _ in $(seq 100); do
  alive "${PIDS[1]}" || break
  sleep 0.1
done
s3="$WORK/uac_failover.xml"
sed -e 's#X-Agent-Id: kam-agent#X-Agent-Id: kam-failover#' "$s1" >"$s3"
rc3=0
run_sipp failover "$s3" "$FAILOVER" "$(free_port media 31700)" || rc3=$?
read -r ok3 failed3 <<<"$(calls_ok failover)"
took_fa=$(grep -c 'call finished.*agent="kam-failover"' "$WORK/smileyd-a.log" || true)
stored="$(curl -fsS "http://127.0.0.1:${HTTP[a]}/api/v1/satisfaction?agent=kam-failover" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])' 2>/dev/null || echo '?')"
if [[ "$rc3" == 0 && "$ok3" == "$FAILOVER" && "$took_fa" == "$FAILOVER" && "$stored" == "$FAILOVER" ]]; then
  pass "daemon b stopped: all $FAILOVER calls went to daemon a and were stored"
else
  fail "after stopping daemon b: $ok3/$FAILOVER calls ok ($failed3 failed, exit $rc3), a took $took_fa, $stored stored"
fi

if ((FAIL)); then
  for f in "$WORK"/*.errors.log; do
    [[ -s "$f" ]] && { echo "--- $(basename "$f") ---"; tail -n 20 "$f"; }
  done
  echo "--- kamailio.log ---"
  grep -vE 'INFO: <core>|^ *$' "$WORK/kamailio.log" | tail -n 30 || true
  for d in a b; do
    echo "--- smileyd-$d.log (warnings and errors) ---"
    grep -E 'WARN|ERROR' "$WORK/smileyd-$d.log" | tail -n 20 || true
  done
fi
echo "kamailio: $PASS passed, $FAIL failed"
[[ "$FAIL" == 0 ]]
