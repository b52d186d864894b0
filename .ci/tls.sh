#!/usr/bin/env bash
# Secure trunks against peers nobody here wrote, over TLS on 127.0.0.1, with
# two daemons: one with media.srtp = "optional", one with "required".
#
# - baresip (Debian's baresip-core), registering nothing, calls smileyd at
#   sip:survey@127.0.0.1:PORT;transport=tls with mediaenc=srtp-mand (SDES
#   keys, RTP/SAVP) and presses 1 through its ctrl_tcp module
#   (tests/baresip/call.py); the rating must be in the API with the call's
#   agent (baresip's user name). Its only CA is the test CA, but baresip
#   1.0 does not verify the server's certificate (it calls a server whose
#   certificate no CA of its own signed), so the certificate check is
#   stunnel's, below.
# - Under "required", baresip's plain RTP offer over TLS gets 488.
# - baresip's best-effort mode (mediaenc=srtp: RTP/AVP with a=crypto) gets
#   a plain RTP/AVP answer under "optional" and its key 1 is rated.
# - sipp over TLS for signalling with plain RTP. Debian's sip-tester is
#   built without TLS ("To use a TLS transport you must compile SIPp with
#   OpenSSL"), so sipp speaks TCP to stunnel (Debian's stunnel4) in client
#   mode, which carries it over TLS to smileyd, checking smileyd's
#   certificate against the test CA and its address; the key is Debian's
#   RFC 2833 capture of 1.
# - A client trusting another CA (stunnel again) does not get in.
# - What crossed the wire (.ci/wire.py, a packet socket on lo): every RTP
#   packet between smileyd and baresip carries an SRTP tag, none has a
#   plain RTP size; the sipp call's RTP is seen as plain PCMU (so the
#   capture sees plain RTP when there is some); no SRTP packet failed
#   authentication (smileyd_srtp_dropped_total{reason="auth"}) but for
#   RTCP packets from baresip that the capture shows were not SRTCP.
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
# start_daemon NAME SRTP: a daemon with TLS and media.srtp = SRTP; sets
# TLS_PORT[NAME], HTTP_PORT[NAME] and the RTP range RTP_FIRST[NAME]-+99.
declare -A TLS_PORT HTTP_PORT RTP_FIRST
TAKEN=()
NEXT_RTP=32000
start_daemon() {
  local name="$1" srtp="$2" sip tls http rtp pid ready=""
  sip="$(free_port "${TAKEN[@]}")"
  tls="$(free_port "${TAKEN[@]}" "$sip")"
  http="$(free_port "${TAKEN[@]}" "$sip" "$tls")"
  TAKEN+=("$sip" "$tls" "$http")
  rtp="$(free_port media "$NEXT_RTP" 100)"
  NEXT_RTP=$((rtp + 100))
  TLS_PORT[$name]="$tls"
  HTTP_PORT[$name]="$http"
  RTP_FIRST[$name]="$rtp"
  cat >"$WORK/$name.toml" <<TOML
sip_tls_listen = "127.0.0.1:$tls"

[survey]
digit_timeout_ms = 5000
comment = "never"

[media]
srtp = "$srtp"

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
  log "smileyd $name (srtp = $srtp): TLS 127.0.0.1:$tls, HTTP 127.0.0.1:$http, RTP $rtp-$((rtp + 99))"
  (
    cd "$WORK"
    exec env RUST_LOG="${RUST_LOG:-info,smileyd=debug}" "$BIN" \
      --config "$WORK/$name.toml" \
      --sip-listen "127.0.0.1:$sip" \
      --http-listen "127.0.0.1:$http" \
      --database-url "sqlite://$WORK/$name.db" \
      --prompts-dir "$ROOT/prompts" \
      --recordings-dir "$WORK" \
      --rtp-ports "$rtp-$((rtp + 99))" \
      --public-ip 127.0.0.1 \
      </dev/null >"$WORK/smileyd-$name.log" 2>&1
  ) &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$http/healthz" 2>/dev/null && { ready=1; break; }
    alive "$pid" || break
    sleep 0.1
  done
  if [[ -z "$ready" ]]; then
    fail "smileyd $name did not start"
    tail -n 40 "$WORK/smileyd-$name.log"
    exit 1
  fi
}
# "optional": SRTP for baresip, plain RTP for sipp; "required": plain refused.
start_daemon optional optional
start_daemon required required
SMILEYD_RTP="${RTP_FIRST[optional]}-$((RTP_FIRST[optional] + 99))"

# --- the wire --------------------------------------------------------------
BARESIP_RTP="$(free_port media "$NEXT_RTP" 20)"
SIPP_MEDIA="$(free_port media $((BARESIP_RTP + 20)) 4)"
python3 "$ROOT/.ci/wire.py" "$WORK/wire.json" "$SMILEYD_RTP" \
  "$BARESIP_RTP-$((BARESIP_RTP + 19))" "$SIPP_MEDIA-$((SIPP_MEDIA + 3))" \
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
# baresip_config DIR CTRL_PORT USER MEDIAENC
baresip_config() {
  local dir="$1" ctrl="$2" user="$3" mediaenc="$4"
  mkdir -p "$dir"
  # Only the modules needed: G.711, a sine as the microphone, SDES SRTP,
  # the account file, the command set (dial, sndcode, quit) and ctrl_tcp.
  # No sound card: the player is a module that is not loaded, so baresip
  # plays nothing (it says so and carries on). baresip takes sip_listen's
  # port for UDP and TCP and the next one for TLS; loopback is its one
  # interface (else its SDP names the LAN address). Its only CA is the
  # test CA (it does not check the server with it: see the top).
  cat >"$dir/config" <<CFG
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$(free_port media 32600 2)
sip_cafile		$WORK/pki/ca.pem
call_local_timeout	30
audio_player		none,none
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
audio_alert		none,none
rtp_ports		$BARESIP_RTP-$((BARESIP_RTP + 19))
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
    "$user" "${mediaenc:+;mediaenc=$mediaenc}" >"$dir/accounts"
  : >"$dir/contacts"
}

# baresip_call NAME DAEMON USER MEDIAENC: one call to that daemon over TLS;
# call.py's JSON in NAME.json.
baresip_call() {
  local name="$1" daemon="$2" user="$3" mediaenc="$4" ctrl pid rc=0
  ctrl="$(free_port)"
  baresip_config "$WORK/$name" "$ctrl" "$user" "$mediaenc"
  (cd "$WORK/$name" && exec timeout 90 baresip -f "$WORK/$name" </dev/null >"$WORK/$name.log" 2>&1) &
  pid=$!
  PIDS+=("$pid")
  # The account's transport=tls goes into the dialled URI.
  python3 "$ROOT/tests/baresip/call.py" "$ctrl" "sip:survey@127.0.0.1:${TLS_PORT[$daemon]}" \
    --key 1 --key-after-ms 1500 --timeout 60 >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
  stop_pid "$pid"
  return "$rc"
}

# rating_of DAEMON AGENT: "ok" or what is wrong with the agent's one rating.
rating_of() {
  python3 - "${HTTP_PORT[$1]}" "$2" <<'PY'
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
}

BARESIP_VERSION="$({ baresip -h 2>&1 || true; } | sed -n 's/^baresip v\([^ ]*\).*/\1/p')"
rc=0
baresip_call baresip optional tls-agent-baresip srtp-mand || rc=$?
api="$(rating_of optional tls-agent-baresip 2>&1 || true)"
if [[ "$rc" == 0 && "$api" == ok ]]; then
  pass "baresip $BARESIP_VERSION over TLS with mediaenc=srtp-mand: key 1 rated for tls-agent-baresip"
else
  fail "baresip over TLS with SRTP: call.py exit $rc ($(cat "$WORK/baresip.json" 2>/dev/null)); API: $api"
  show_logs "$WORK/baresip.err" "$WORK/baresip.log" "$WORK/smileyd-optional.log"
fi

# --- under srtp = "required" a plain RTP offer is refused ------------------
rc=0
baresip_call plain required tls-agent-plain "" || rc=$?
closed="$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("established" if r["established"] else (r.get("closed") or r.get("error") or "?"))' \
  "$WORK/plain.json" 2>/dev/null || echo '?')"
if [[ "$closed" == *488* ]]; then
  pass "srtp = \"required\": baresip's plain RTP offer over TLS refused ($closed)"
else
  fail "srtp = \"required\": a plain offer was not refused with 488: baresip says $closed"
  show_logs "$WORK/plain.err" "$WORK/plain.log" "$WORK/smileyd-required.log"
fi

# --- sipp over TLS through stunnel -----------------------------------------
STUNNEL_PORT="$(free_port "${TAKEN[@]}")"
TAKEN+=("$STUNNEL_PORT")
cat >"$WORK/stunnel.conf" <<CONF
foreground = yes
pid =
output = $WORK/stunnel.log
debug = notice
[sip-tls]
client = yes
accept = 127.0.0.1:$STUNNEL_PORT
connect = 127.0.0.1:${TLS_PORT[optional]}
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
    -i 127.0.0.1 -p "$(free_port "${TAKEN[@]}")" -mi 127.0.0.1 -mp "$SIPP_MEDIA" \
    -m 1 -l 1 -timeout 60s -timeout_error -nostdin \
    -trace_err -error_file "$WORK/sipp.errors.log" \
    -trace_msg -message_file "$WORK/sipp.messages.log" \
    </dev/null >"$WORK/sipp.out" 2>&1
) || rc=$?
api="$(rating_of optional tls-agent-sipp 2>&1 || true)"
if [[ "$rc" == 0 && "$api" == ok ]]; then
  pass "sipp over TLS (TCP through stunnel, smileyd's certificate checked against the test CA), plain RTP: key 1 (RFC 2833 capture) rated"
else
  fail "sipp through stunnel: sipp exit $rc; API: $api"
  show_logs "$WORK/sipp.errors.log" "$WORK/sipp.out" "$WORK/sipp.messages.log" "$WORK/stunnel.log" \
    "$WORK/smileyd-optional.log"
fi

# --- the same hop trusting another CA does not get through -----------------
# (baresip 1.0 does not check the server's certificate at all: it sends its
# INVITE to a server whose certificate no CA it has signed; stunnel does.)
OTHER_PORT="$(free_port "${TAKEN[@]}")"
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

# --- what crossed the wire ---------------------------------------------------
# SRTP with AES_CM_128_HMAC_SHA1_80 adds a 10-byte tag to each packet: a
# 20 ms PCMU frame is 170 bytes after the RTP header and an RFC 4733 event
# 14, where plain RTP has 160 and 4. RTCP (and SRTCP) is left out.
stop_pid "$WIRE_PID"
# Forged packets must be none. A replay can be honest: RFC 4733 §2.5.1.4
# sends an event's end packet three times, and a phone that repeats its
# sequence number there has the copies dropped as replays (RFC 3711 §3.3.2).
metrics="$(curl -fsS "http://127.0.0.1:${HTTP_PORT[optional]}/metrics" || true)"
dropped="$(awk '/^smileyd_srtp_dropped_total\{reason="auth"\}/ {n += $2} END {print n + 0}' <<<"$metrics")"
replayed="$(awk '/^smileyd_srtp_dropped_total\{reason="replay"\}/ {n += $2} END {print n + 0}' <<<"$metrics")"
verdict="$(python3 - "$WORK/wire.json" "${RTP_FIRST[optional]}" "$BARESIP_RTP" "$SIPP_MEDIA" <<'PY' 2>&1 || true
import json, sys
flows = json.load(open(sys.argv[1]))
ours, baresip, sipp = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def media(f):
    """payload size -> packets, RTP only (RTCP's types 200-204 left out)."""
    out = {}
    for size, n in f["rtp_payload"].items():
        out[int(size)] = out.get(int(size), 0) + n
    return out
def total(where):
    sizes = {}
    for k, f in flows.items():
        src, dst = map(int, k.split(">"))
        if where(src, dst) and (src % 2 == 0 and dst % 2 == 0):
            for size, n in media(f).items():
                sizes[size] = sizes.get(size, 0) + n
    return sizes
is_ours = lambda p: ours <= p < ours + 100
is_baresip = lambda p: baresip <= p < baresip + 20
out_b = total(lambda s, d: is_ours(s) and is_baresip(d))
in_b = total(lambda s, d: is_baresip(s) and is_ours(d))
out_s = total(lambda s, d: is_ours(s) and d == sipp)
problems = []
for name, sizes, expect in (("smileyd → baresip", out_b, {170}), ("baresip → smileyd", in_b, {170, 14})):
    n = sum(sizes.values())
    plain = sizes.get(160, 0) + sizes.get(4, 0)
    if n < 50:
        problems.append(f"{name}: only {n} RTP packets seen")
    if plain:
        problems.append(f"{name}: {plain} packets of plain RTP sizes {sizes}")
    if not set(sizes) <= expect:
        problems.append(f"{name}: payload sizes {sizes}, want only {sorted(expect)}")
if not out_s.get(160):
    problems.append(f"no plain PCMU towards sipp (does the capture see plain RTP at all?) {out_s}")
if problems:
    print("; ".join(problems))
else:
    print(f"ok {sum(out_b.values())} packets smileyd → baresip and {sum(in_b.values())} back, every one "
          f"with a 10-byte tag; {out_s[160]} plain PCMU packets to sipp's plain call")
PY
)"
# baresip now and then sends a 16-byte RTCP packet that is not SRTCP (no
# index, no tag) on its RTCP port; smileyd drops it as not authentic. Such
# drops are allowed, as many as the capture saw; any other is a failure.
not_srtcp="$(python3 - "$WORK/wire.json" "${RTP_FIRST[optional]}" "$BARESIP_RTP" <<'PY' 2>/dev/null || echo 0
import json, sys
flows = json.load(open(sys.argv[1]))
ours, baresip = int(sys.argv[2]), int(sys.argv[3])
n = 0
for k, f in flows.items():
    src, dst = map(int, k.split(">"))
    if src % 2 and dst % 2 and baresip <= src < baresip + 20 and ours <= dst < ours + 100:
        # RFC 3711 §3.4: header and sender SSRC, E bit and index, 80-bit tag.
        n += sum(c for size, c in f["sizes"].items() if int(size) < 8 + 4 + 10)
print(n)
PY
)"
if [[ "$verdict" == ok* && "$dropped" -le "$not_srtcp" ]]; then
  pass "on the wire: ${verdict#ok }; SRTP that failed authentication: $dropped (RTCP packets from baresip too short to be SRTCP: $not_srtcp), replays dropped: $replayed"
else
  fail "wire: $verdict; SRTP packets failing authentication: $dropped, of which $not_srtcp explained by baresip's RTCP packets too short to be SRTCP"
fi

# --- baresip's best-effort SRTP ---------------------------------------------
# mediaenc=srtp offers RTP/AVP with a=crypto (not RTP/SAVP): smileyd answers
# plain RTP/AVP (RFC 4568 keys belong to SAVP) and the call is rated under
# "optional". After the capture, whose verdict wants SRTP only.
rc=0
baresip_call baresip-srtp optional tls-agent-baresip-srtp srtp || rc=$?
api="$(rating_of optional tls-agent-baresip-srtp 2>&1 || true)"
if [[ "$rc" == 0 && "$api" == ok ]]; then
  pass "baresip $BARESIP_VERSION over TLS with mediaenc=srtp: key 1 rated for tls-agent-baresip-srtp"
else
  fail "baresip over TLS with mediaenc=srtp: call.py exit $rc ($(cat "$WORK/baresip-srtp.json" 2>/dev/null)); API: $api"
  show_logs "$WORK/baresip-srtp.err" "$WORK/baresip-srtp.log" "$WORK/smileyd-optional.log"
fi

echo "tls: $PASS passed, $FAIL failed"
[[ "$FAIL" == 0 ]]
