#!/usr/bin/env bash
# Secure trunks against peers nobody here wrote, over TLS on 127.0.0.1:
#
# - baresip (Debian's baresip-core), registering nothing, calls smileyd at
#   sip:survey@127.0.0.1:PORT;transport=tls with the test CA as its only
#   CA, and presses 1 through its ctrl_tcp module (tests/baresip/call.py);
#   the rating must be in the API with the call's agent (baresip's user
#   name). baresip 1.0 does not verify the server's certificate (it calls a
#   server whose certificate no CA of its own signed), so the certificate
#   check is stunnel's, below.
# - sipp over TLS for signalling with plain RTP. Debian's sip-tester is
#   built without TLS ("To use a TLS transport you must compile SIPp with
#   OpenSSL"), so sipp speaks TCP to stunnel (Debian's stunnel4) in client
#   mode, which carries it over TLS to smileyd, checking smileyd's
#   certificate against the test CA and its address; the key is Debian's
#   RFC 2833 capture of 1.
# - A client trusting another CA (stunnel again) does not get in.
# - What crossed the wire (.ci/wire.py, a packet socket on lo): the sipp
#   call's RTP is seen as plain PCMU (so the capture sees what it should).
#
# Certificates are made here with openssl (a test CA, a server certificate
# for 127.0.0.1); no key is committed.
#
# usage: .ci/tls.sh [SMILEYD_BINARY]   (default: a debug build)
# Prints "PASS: …" or "FAIL: …" lines; exits 0 when all passed. About 30 s
# once the packages are installed. Needs root for the packet socket (CI
# runs as root, as it does for apt-get).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_NAME=tls
CI_VERDICT="tls: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

ensure_packages baresip:baresip-core sipp:sip-tester stunnel4:stunnel4 openssl:openssl \
  python3:python3 curl:curl
BIN="$(smileyd_binary "${1:-}")"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"
WORK="$(mktemp -d /tmp/smileyd-tls.XXXXXX)"
PIDS=()
finish() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  remove_work "$rc"
}
trap finish EXIT

# --- a test CA and smileyd's certificate (127.0.0.1) -----------------------
pki() {
  local d="$WORK/pki"
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=smileyd CI test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  # A second CA, trusted by nobody: a client that trusts it must not get in.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=another CA" -keyout "$d/other-ca.key" -out "$d/other-ca.pem" 2>/dev/null
}
pki

# --- smileyd with TLS ------------------------------------------------------
SIP_PORT="$(free_port)"
TLS_PORT="$(free_port "$SIP_PORT")"
HTTP_PORT="$(free_port "$SIP_PORT" "$TLS_PORT")"
RTP_FIRST="$(free_port media 32000 100)"
RTP_LAST=$((RTP_FIRST + 99))
cat >"$WORK/smileyd.toml" <<TOML
sip_tls_listen = "127.0.0.1:$TLS_PORT"

[survey]
digit_timeout_ms = 5000
comment = "never"

[sip]
t1_ms = 500
allowed_networks = ["127.0.0.0/8"]

[sources]
# sipp names its agent in a header; baresip cannot add one, so its agent is
# the user part of its From (its account's name).
agent = ["header:X-Agent-Id", "from-user"]
queue = ["header:X-Queue"]

[tls]
cert_file = "$WORK/pki/server.pem"
key_file = "$WORK/pki/server.key"
TOML
log "smileyd: TLS 127.0.0.1:$TLS_PORT, HTTP 127.0.0.1:$HTTP_PORT, RTP $RTP_FIRST-$RTP_LAST"
(
  cd "$WORK"
  exec env RUST_LOG="${RUST_LOG:-info,smileyd=debug}" "$BIN" \
    --config "$WORK/smileyd.toml" \
    --sip-listen "127.0.0.1:$SIP_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" \
    --database-url "sqlite://$WORK/tls.db" \
    --prompts-dir "$ROOT/prompts" \
    --recordings-dir "$WORK" \
    --rtp-ports "$RTP_FIRST-$RTP_LAST" \
    --public-ip 127.0.0.1 \
    </dev/null >"$WORK/smileyd.log" 2>&1
) &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")
ready=""
for _ in $(seq 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && { ready=1; break; }
  alive "$DAEMON_PID" || break
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  fail "smileyd did not start"
  tail -n 40 "$WORK/smileyd.log"
  exit 1
fi

# --- the wire --------------------------------------------------------------
BARESIP_RTP_FIRST="$(free_port media $((RTP_LAST + 1)) 20)"
SIPP_MEDIA="$(free_port media $((BARESIP_RTP_FIRST + 20)) 4)"
python3 "$ROOT/.ci/wire.py" "$WORK/wire.json" "$RTP_FIRST-$RTP_LAST" \
  "$BARESIP_RTP_FIRST-$((BARESIP_RTP_FIRST + 19))" "$SIPP_MEDIA-$((SIPP_MEDIA + 3))" \
  >"$WORK/wire.out" 2>&1 &
WIRE_PID=$!
PIDS+=("$WIRE_PID")
for _ in $(seq 50); do
  grep -q capturing "$WORK/wire.out" 2>/dev/null && break
  alive "$WIRE_PID" || break
  sleep 0.1
done
if ! grep -q capturing "$WORK/wire.out" 2>/dev/null; then
  fail "no packet capture on lo (needs CAP_NET_RAW): $(cat "$WORK/wire.out")"
  exit 1
fi

# --- baresip ---------------------------------------------------------------
# baresip_config DIR CTRL_PORT CAFILE MEDIAENC
baresip_config() {
  local dir="$1" ctrl="$2" ca="$3" mediaenc="$4"
  mkdir -p "$dir"
  # Only the modules needed: G.711, a sine as the microphone, SDES SRTP,
  # the account file, the command set (dial, sndcode, quit) and ctrl_tcp.
  # No sound card: the player is a module that is not loaded, so baresip
  # plays nothing (it says so and carries on).
  # baresip takes sip_listen's port for UDP and TCP and the next one for
  # TLS; loopback is its one interface (else its SDP names the LAN address).
  cat >"$dir/config" <<CFG
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$(free_port media 32600 2)
sip_cafile		$ca
call_local_timeout	30
audio_player		none,none
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
audio_alert		none,none
rtp_ports		$BARESIP_RTP_FIRST-$((BARESIP_RTP_FIRST + 19))
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module			srtp.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$ctrl
CFG
  printf '<sip:%s@127.0.0.1;transport=tls>;regint=0;audio_codecs=PCMU;ptime=20%s\n' \
    "$BARESIP_USER" "${mediaenc:+;mediaenc=$mediaenc}" >"$dir/accounts"
  : >"$dir/contacts"
}

# baresip_call NAME CAFILE MEDIAENC: one call; call.py's JSON in NAME.json.
baresip_call() {
  local name="$1" ca="$2" mediaenc="$3" ctrl pid rc=0
  ctrl="$(free_port)"
  baresip_config "$WORK/$name" "$ctrl" "$ca" "$mediaenc"
  (cd "$WORK/$name" && exec timeout 90 baresip -f "$WORK/$name" </dev/null >"$WORK/$name.log" 2>&1) &
  pid=$!
  PIDS+=("$pid")
  # The account's transport=tls goes into the dialled URI.
  python3 "$ROOT/tests/baresip/call.py" "$ctrl" "sip:survey@127.0.0.1:$TLS_PORT" \
    --key 1 --key-after-ms 1500 --timeout 60 >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
  stop_pid "$pid"
  return "$rc"
}

# rating_of AGENT: "ok" or what is wrong with the agent's one rating.
rating_of() {
  python3 - "$HTTP_PORT" "$1" <<'PY'
import json, sys, time, urllib.request
port, agent = sys.argv[1:]
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
    want = {"agent": agent, "rating": "happy", "digit": "1", "dtmf_source": "rfc4733"}
    bad = [f"{k}={m.get(k)!r}, expected {v!r}" for k, v in want.items() if m.get(k) != v]
    print("; ".join(bad) if bad else "ok")
PY
}

show_logs() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] && { echo "--- $(basename "$f") ---"; tail -n 40 "$f"; }
  done
  echo "--- smileyd.log ---"
  tail -n 40 "$WORK/smileyd.log" || true
}

BARESIP_USER=tls-agent-baresip
rc=0
baresip_call baresip "$WORK/pki/ca.pem" "" || rc=$?
api="$(rating_of "$BARESIP_USER" 2>&1 || true)"
if [[ "$rc" == 0 && "$api" == ok ]]; then
  pass "baresip $(baresip -h 2>&1 | sed -n 's/^baresip v\([^ ]*\).*/\1/p') over TLS: key 1 rated for $BARESIP_USER"
else
  fail "baresip over TLS: call.py exit $rc ($(cat "$WORK/baresip.json" 2>/dev/null)); API: $api"
  show_logs "$WORK/baresip.err" "$WORK/baresip.log"
fi

# --- sipp over TLS through stunnel -----------------------------------------
STUNNEL_PORT="$(free_port "$SIP_PORT" "$TLS_PORT" "$HTTP_PORT")"
cat >"$WORK/stunnel.conf" <<CONF
foreground = yes
pid =
output = $WORK/stunnel.log
debug = notice
[sip-tls]
client = yes
accept = 127.0.0.1:$STUNNEL_PORT
connect = 127.0.0.1:$TLS_PORT
CAfile = $WORK/pki/ca.pem
verifyChain = yes
checkIP = 127.0.0.1
CONF
stunnel "$WORK/stunnel.conf" </dev/null >"$WORK/stunnel.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" \
    "$STUNNEL_PORT" 2>/dev/null && break
  sleep 0.1
done
key1="$PCAPS/dtmf_2833_1.pcap"
if [[ ! -r "$key1" ]]; then
  key1="$WORK/dtmf_2833_1.pcap"
  python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" 1 "$key1"
fi
sed -e "s#/usr/share/sip-tester/dtmf_2833_1.pcap#$key1#" \
  -e "s#X-Agent-Id: sipp-agent-1#X-Agent-Id: tls-agent-sipp#" \
  "$ROOT/tests/sipp/uac_press1.xml" >"$WORK/uac_press1.xml"
rc=0
(
  cd "$WORK"
  timeout 90 sipp "127.0.0.1:$STUNNEL_PORT" -t t1 -sf "$WORK/uac_press1.xml" \
    -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$SIPP_MEDIA" \
    -m 1 -l 1 -timeout 60s -timeout_error -nostdin \
    -trace_err -error_file "$WORK/sipp.errors.log" \
    -trace_msg -message_file "$WORK/sipp.messages.log" \
    </dev/null >"$WORK/sipp.out" 2>&1
) || rc=$?
api="$(rating_of tls-agent-sipp 2>&1 || true)"
if [[ "$rc" == 0 && "$api" == ok ]]; then
  pass "sipp over TLS (TCP through stunnel, smileyd's certificate checked against the test CA), plain RTP: key 1 (RFC 2833 capture) rated"
else
  fail "sipp through stunnel: sipp exit $rc; API: $api"
  show_logs "$WORK/sipp.errors.log" "$WORK/sipp.out" "$WORK/sipp.messages.log" "$WORK/stunnel.log"
fi

# --- the same hop trusting another CA does not get through -----------------
# (baresip 1.0 does not check the server's certificate at all: it sends its
# INVITE to a server whose certificate no CA it has signed; stunnel does.)
OTHER_PORT="$(free_port "$SIP_PORT" "$TLS_PORT" "$HTTP_PORT" "$STUNNEL_PORT")"
sed -e "s#^accept = .*#accept = 127.0.0.1:$OTHER_PORT#" -e "s#^CAfile = .*#CAfile = $WORK/pki/other-ca.pem#" \
  -e "s#^output = .*#output = $WORK/stunnel-other.log#" "$WORK/stunnel.conf" >"$WORK/stunnel-other.conf"
stunnel "$WORK/stunnel-other.conf" </dev/null >"$WORK/stunnel-other.out" 2>&1 &
PIDS+=($!)
answer="$(python3 - "$OTHER_PORT" <<'PY' 2>&1 || true
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 5
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
s.settimeout(5)
s.sendall(b"OPTIONS sip:survey@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKother\r\n"
          b"From: <sip:ci@127.0.0.1>;tag=1\r\nTo: <sip:survey@127.0.0.1>\r\nCall-ID: other-ca\r\n"
          b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
try:
    data = s.recv(4096)
except (socket.timeout, ConnectionResetError):
    data = b""
print(repr(data[:40]) if data else "closed")
PY
)"
if [[ "$answer" == closed ]] && grep -qi 'verif' "$WORK/stunnel-other.log"; then
  pass "a TLS client trusting another CA refuses smileyd's certificate ($(grep -i -m1 -o 'certificate verify failed' "$WORK/stunnel-other.log" || echo 'verification failed'))"
else
  fail "stunnel trusting another CA: answer $answer"
  tail -n 20 "$WORK/stunnel-other.log"
fi

# --- the wire --------------------------------------------------------------
stop_pid "$WIRE_PID"
metrics="$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" || true)"
verdict="$(python3 - "$WORK/wire.json" "$RTP_FIRST" "$RTP_LAST" "$SIPP_MEDIA" <<'PY' 2>&1 || true
import json, sys
flows = json.load(open(sys.argv[1]))
first, last, sipp_media = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def ours(p): return first <= p <= last
problems = []
to_sipp = [f for k, f in flows.items() if ours(int(k.split(">")[0])) and int(k.split(">")[1]) == sipp_media]
plain = sum(f["rtp_payload"].get("160", 0) for f in to_sipp)
if not plain:
    problems.append(f"no plain PCMU RTP seen towards sipp (capture broken?): {to_sipp}")
print("; ".join(problems) if problems else f"ok {plain}")
PY
)"
if [[ "$verdict" == ok* ]]; then
  pass "on the wire: ${verdict#ok } plain PCMU packets from smileyd to sipp's plain-RTP call, as expected"
else
  fail "wire: $verdict"
fi

echo "tls: $PASS passed, $FAIL failed"
[[ "$FAIL" == 0 ]]
