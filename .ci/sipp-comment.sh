#!/usr/bin/env bash
# Interop check of recorded comments with sipp: a caller (tests/sipp/
# uac_comment.xml) presses 1, speaks for 7 s (the A-law speech capture in
# Debian's sip-tester), presses #, and the API must then serve that comment
# as a playable WAV (8 kHz mono 16-bit, Content-Length, Range → 206).
#
# usage: .ci/sipp-comment.sh SIP_ADDR API_URL [WORKDIR]
#   SIP_ADDR  the daemon's SIP address, e.g. 127.0.0.1:5060
#   API_URL   its HTTP API, e.g. http://127.0.0.1:8080
#   WORKDIR   where sipp's logs and the fetched comment.wav go (default: a
#             new temporary directory)
# Environment: SIPP_PCAP_DIR (default /usr/share/sip-tester), MEDIA_PORT (an
# even free UDP port for sipp's RTP; found when unset), SMILEYD_TOKEN (a read
# token, if the API has tokens), SIPP_COMMENT_AGENT (default
# sipp-comment-agent; must have no other ratings).
#
# The daemon must offer comments for the survey "comment" (the scenario calls
# sip:comment@… with X-Survey: comment) and use the English prompts shipped in
# prompts/ (the scenario's pauses follow their lengths), e.g.:
#
#   default_survey = "smiley"
#   [surveys.smiley]
#   [surveys.comment]
#   comment = "always"
#
# Prints "PASS: …" or "FAIL: …" and exits 0 or 1.

set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
SIP_ADDR="$1"
API_URL="${2%/}"
WORK="${3:-$(mktemp -d /tmp/smileyd-sipp-comment.XXXXXX)}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"
AGENT="${SIPP_COMMENT_AGENT:-sipp-comment-agent}"
mkdir -p "$WORK"

for f in g711a.pcap dtmf_2833_1.pcap dtmf_2833_pound.pcap; do
  if [[ ! -r "$PCAPS/$f" ]]; then
    case "$f" in
      dtmf_2833_1.pcap) python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" 1 "$WORK/$f" ;;
      dtmf_2833_pound.pcap) python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" '#' "$WORK/$f" ;;
      *)
        echo "FAIL: sipp comment: $PCAPS/$f missing (Debian package sip-tester ships it)"
        exit 1
        ;;
    esac
  fi
done
scenario="$WORK/uac_comment.xml"
python3 - "$ROOT/tests/sipp/uac_comment.xml" "$scenario" "$PCAPS" "$WORK" "$AGENT" <<'PY'
import os, sys
src, dst, pcaps, work, agent = sys.argv[1:]
text = open(src).read()
for f in ("g711a.pcap", "dtmf_2833_1.pcap", "dtmf_2833_pound.pcap"):
    here = os.path.join(pcaps, f)
    if not os.access(here, os.R_OK):
        here = os.path.join(work, f)
    text = text.replace("/usr/share/sip-tester/" + f, here)
text = text.replace("X-Agent-Id: sipp-comment-agent", "X-Agent-Id: " + agent)
open(dst, "w").write(text)
PY

# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"
media_port="${MEDIA_PORT:-$(free_port media 30400)}"
sip_port="$(free_port)"

rc=0
(
  cd "$WORK"
  timeout 120 sipp "$SIP_ADDR" -sf "$scenario" \
    -i 127.0.0.1 -p "$sip_port" -mi 127.0.0.1 -mp "$media_port" \
    -m 1 -l 1 -timeout 90s -timeout_error -nostdin \
    -trace_err -error_file "$WORK/comment.errors.log" \
    -trace_msg -message_file "$WORK/comment.messages.log" \
    </dev/null >"$WORK/comment.out" 2>&1
) || rc=$?

verdict="$(python3 - "$API_URL" "$AGENT" "$WORK" "${SMILEYD_TOKEN:-}" <<'PY' 2>&1 || true
import io, json, math, struct, sys, time, urllib.request, wave
base, agent, work, token = sys.argv[1:]
def get(path, headers=None):
    req = urllib.request.Request(base + path, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
problems = []
items = []
deadline = time.time() + 15
while True:
    s, _, body = get(f"/api/v1/measurements?agent={agent}")
    items = json.loads(body).get("items", []) if s == 200 else []
    if (items and items[0].get("comment")) or time.time() > deadline:
        break
    time.sleep(0.3)
if len(items) != 1:
    print(f"{len(items)} measurements for {agent}, expected 1: {items}")
    sys.exit()
m = items[0]
if m.get("rating") != "happy":
    problems.append(f"rating {m.get('rating')!r}, expected 'happy'")
c = m.get("comment") or {}
if c.get("status") != "dtmf":
    problems.append(f"comment {c or None}, expected status 'dtmf'")
url = m.get("comment_url")
if not url:
    print("; ".join(problems + [f"no comment_url in {m}"]))
    sys.exit()
s, h, wav_bytes = get(url)
if s != 200:
    problems.append(f"GET {url} -> {s}")
if h.get("content-type") != "audio/wav":
    problems.append(f"Content-Type {h.get('content-type')!r}")
if h.get("content-length") != str(len(wav_bytes)):
    problems.append(f"Content-Length {h.get('content-length')!r} for {len(wav_bytes)} bytes")
open(f"{work}/comment.wav", "wb").write(wav_bytes)
try:
    w = wave.open(io.BytesIO(wav_bytes))
    rate, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
    pcm = w.readframes(n)
    if (rate, ch, width) != (8000, 1, 2):
        problems.append(f"WAV {rate} Hz, {ch} channel(s), {8 * width} bit; expected 8000 Hz mono 16-bit")
    secs = n / 8000
    if not 3.0 <= secs <= 8.0:
        problems.append(f"{secs:.2f} s of audio, expected the 3-8 s spoken")
    if c.get("duration_ms") is not None and abs(c["duration_ms"] - 1000 * secs) > 60:
        problems.append(f"duration_ms {c['duration_ms']} vs {secs:.3f} s in the file")
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    rms = math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))
    level = 20 * math.log10(max(rms, 1e-9) / 32768)
    if level < -45:
        problems.append(f"audio level {level:.1f} dBFS: no speech in the file")
except Exception as e:
    problems.append(f"not a playable WAV: {e}")
    secs, level = 0, 0
s, h, part = get(url, {"Range": "bytes=0-43"})
if s != 206 or part != wav_bytes[:44]:
    problems.append(f"Range bytes=0-43 -> {s}, {len(part)} bytes")
if h.get("content-range") != f"bytes 0-43/{len(wav_bytes)}":
    problems.append(f"Content-Range {h.get('content-range')!r}")
print("; ".join(problems) if problems else f"ok {secs:.2f} s, {level:.1f} dBFS")
PY
)"

if [[ "$rc" == 0 && "$verdict" == ok* ]]; then
  echo "PASS: sipp comment: spoken comment stored and served as a playable WAV (${verdict#ok }; $WORK/comment.wav)"
  exit 0
fi
echo "FAIL: sipp comment: sipp exit $rc; API: $verdict"
for f in "$WORK/comment.errors.log" "$WORK/comment.out"; do
  if [[ -s "$f" ]]; then
    echo "--- $(basename "$f") ---"
    tail -n 40 "$f"
  fi
done
if [[ -s "$WORK/comment.messages.log" ]]; then
  echo "--- comment.messages.log (SIP as sipp saw it) ---"
  tail -n 80 "$WORK/comment.messages.log"
fi
exit 1
