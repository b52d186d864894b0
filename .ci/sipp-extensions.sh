#!/usr/bin/env bash
# Interop checks with sipp of what phones and trunks in the field send:
#
# - RFC 3262: a caller that supports 100rel (tests/sipp/uac_prack.xml) gets a
#   reliable 180 during the ring time, PRACKs it, gets the 200 only then,
#   and presses 1 (RFC 2833 capture);
# - in-band DTMF: a caller whose offer has PCMU only (no telephone-event,
#   tests/sipp/uac_inband.xml) presses 1 as a tone in its audio, a capture
#   written at run time by tests/sipp/make_tone_pcap.py.
#
# Both calls run at once against a daemon of this script's own (ring time
# sip.answer_delay_ms = 300) and each rating must then be in the API, the
# second with dtmf_source "inband".
#
# usage: .ci/sipp-extensions.sh [SMILEYD_BINARY]   (default: a debug build)
# Prints "PASS: …" or "FAIL: …" lines; exits 0 when all passed.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_NAME=sipp-extensions
CI_VERDICT="sipp extensions: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

ensure_packages sipp:sip-tester python3:python3 curl:curl
BIN="$(smileyd_binary "${1:-}")"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"
WORK="$(mktemp -d /tmp/smileyd-sipp-ext.XXXXXX)"
DAEMON_PID=""
finish() {
  local rc=$?
  stop_pid "$DAEMON_PID"
  remove_work "$rc"
}
trap finish EXIT

SIP_PORT="$(free_port)"
HTTP_PORT="$(free_port "$SIP_PORT")"
RTP_FIRST="$(free_port media 30600 100)"
cat >"$WORK/smileyd.toml" <<'TOML'
[survey]
digit_timeout_ms = 5000
comment = "never"

[sip]
t1_ms = 500
allowed_networks = ["127.0.0.0/8"]
answer_delay_ms = 300

[dtmf]
inband = "auto"
TOML
(
  cd "$WORK"
  exec env RUST_LOG="${RUST_LOG:-info,smileyd=debug}" "$BIN" \
    --config "$WORK/smileyd.toml" \
    --sip-listen "127.0.0.1:$SIP_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" \
    --database-url "sqlite://$WORK/ext.db" \
    --prompts-dir "$ROOT/prompts" \
    --recordings-dir "$WORK" \
    --rtp-ports "$RTP_FIRST-$((RTP_FIRST + 99))" \
    --public-ip 127.0.0.1 \
    </dev/null >"$WORK/smileyd.log" 2>&1
) &
DAEMON_PID=$!
for _ in $(seq 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && break
  sleep 0.1
done

# The scenarios with their captures: Debian's key 1 (or one written like
# it), and the tone written now.
key1="$PCAPS/dtmf_2833_1.pcap"
if [[ ! -r "$key1" ]]; then
  key1="$WORK/dtmf_2833_1.pcap"
  python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" 1 "$key1"
fi
sed "s#/usr/share/sip-tester/dtmf_2833_1.pcap#$key1#" "$ROOT/tests/sipp/uac_prack.xml" >"$WORK/uac_prack.xml"
python3 "$ROOT/tests/sipp/make_tone_pcap.py" 1 "$WORK/tone_1.pcap"
sed "s#TONE_PCAP#$WORK/tone_1.pcap#" "$ROOT/tests/sipp/uac_inband.xml" >"$WORK/uac_inband.xml"

run_sipp() {
  local name="$1" media_port="$2"
  (
    cd "$WORK"
    timeout 90 sipp "127.0.0.1:$SIP_PORT" -sf "$WORK/uac_$name.xml" \
      -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$media_port" \
      -m 1 -l 1 -timeout 60s -timeout_error -nostdin \
      -trace_err -error_file "$WORK/$name.errors.log" \
      -trace_msg -message_file "$WORK/$name.messages.log" \
      </dev/null >"$WORK/$name.out" 2>&1
  )
}

media="$(free_port media 30800 4)"
rc_prack=0
rc_inband=0
run_sipp prack "$media" &
p1=$!
run_sipp inband "$((media + 10))" &
p2=$!
wait "$p1" || rc_prack=$?
wait "$p2" || rc_inband=$?

# "ok" or what is wrong with the agent's one rating.
rating_of() {
  python3 - "$HTTP_PORT" "$1" "$2" <<'PY'
import json, sys, time, urllib.request
port, agent, source = sys.argv[1:]
url = f"http://127.0.0.1:{port}/api/v1/measurements?agent={agent}"
deadline = time.time() + 10
while True:
    with urllib.request.urlopen(url, timeout=5) as r:
        items = json.load(r).get("items", [])
    if items or time.time() > deadline:
        break
    time.sleep(0.2)
if len(items) != 1:
    print(f"{len(items)} measurements, expected 1: {items}")
else:
    m = items[0]
    want = {"rating": "happy", "digit": "1", "dtmf_source": source}
    bad = [f"{k}={m.get(k)!r}, expected {v!r}" for k, v in want.items() if m.get(k) != v]
    print("; ".join(bad) if bad else "ok")
PY
}

verdict() {
  local name="$1" rc="$2" agent="$3" source="$4" what="$5" api
  api="$(rating_of "$agent" "$source" 2>&1 || true)"
  if [[ "$rc" == 0 && "$api" == ok ]]; then
    pass "$what"
    return
  fi
  fail "$what: sipp exit $rc; API: $api"
  for f in "$WORK/$name.errors.log" "$WORK/$name.out"; do
    [[ -s "$f" ]] && { echo "--- $(basename "$f") ---"; tail -n 30 "$f"; }
  done
  [[ -s "$WORK/$name.messages.log" ]] && { echo "--- $name.messages.log ---"; tail -n 80 "$WORK/$name.messages.log"; }
  echo "--- smileyd.log ---"
  tail -n 40 "$WORK/smileyd.log" || true
}

verdict prack "$rc_prack" sipp-agent-prack rfc4733 \
  "sipp with 100rel: reliable 180, PRACK, 200 after it, key 1 rated"
verdict inband "$rc_inband" sipp-agent-inband inband \
  "sipp with a PCMU-only offer: key 1 as an in-band tone rated"
[[ "$FAIL" == 0 ]]
