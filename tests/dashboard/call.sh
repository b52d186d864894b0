#!/usr/bin/env bash
# One survey call with sipp, for the dashboard tests and screenshots.
#
# usage: call.sh SIP_ADDR KIND AGENT [MEDIA_BASE]
#   KIND        press1, press2: the key after the question (tests/sipp/uac_press*.xml);
#               comment1, comment2: the key, 7 s of speech, then # (uac_comment.xml,
#               survey "comment", which must offer comments)
#   AGENT       the X-Agent-Id the call carries
#   MEDIA_BASE  where to look for free UDP ports for sipp's RTP (default 32000);
#               calls placed at once need bases at least 20 apart
# Environment: SIPP_PCAP_DIR (default /usr/share/sip-tester), CALL_QUEUE
# (X-Queue, default interop). Exits with sipp's status; its output goes to
# $CALL_LOG_DIR (default a temporary directory) when the call fails.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 2
fi
SIP_ADDR="$1" KIND="$2" AGENT="$3" BASE="${4:-32000}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PCAPS="${SIPP_PCAP_DIR:-/usr/share/sip-tester}"
QUEUE="${CALL_QUEUE:-interop}"
WORK="$(mktemp -d /tmp/smileyd-call.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

pcap() { # pcap NAME DIGIT: the capture, generated when the package lacks it
  if [[ -r "$PCAPS/$1" ]]; then
    echo "$PCAPS/$1"
  else
    python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" "$2" "$WORK/$1" >/dev/null
    echo "$WORK/$1"
  fi
}

case "$KIND" in
  press1 | press2)
    digit="${KIND#press}"
    src="$ROOT/tests/sipp/uac_press$digit.xml"
    sed -e "s#X-Agent-Id: sipp-agent-$digit#X-Agent-Id: $AGENT#" \
        -e "s#X-Queue: interop#X-Queue: $QUEUE#" \
        -e "s#$PCAPS/dtmf_2833_$digit.pcap#$(pcap "dtmf_2833_$digit.pcap" "$digit")#" \
        -e "s#/usr/share/sip-tester/dtmf_2833_$digit.pcap#$(pcap "dtmf_2833_$digit.pcap" "$digit")#" \
        "$src" >"$WORK/scenario.xml"
    ;;
  comment1 | comment2)
    digit="${KIND#comment}"
    if [[ ! -r "$PCAPS/g711a.pcap" ]]; then
      echo "call.sh: $PCAPS/g711a.pcap missing (Debian package sip-tester ships it)" >&2
      exit 1
    fi
    sed -e "s#X-Agent-Id: sipp-comment-agent#X-Agent-Id: $AGENT#" \
        -e "s#X-Queue: interop#X-Queue: $QUEUE#" \
        -e "s#/usr/share/sip-tester/dtmf_2833_1.pcap#$(pcap "dtmf_2833_$digit.pcap" "$digit")#" \
        -e "s#/usr/share/sip-tester/dtmf_2833_pound.pcap#$(pcap dtmf_2833_pound.pcap '#')#" \
        -e "s#/usr/share/sip-tester/g711a.pcap#$PCAPS/g711a.pcap#" \
        "$ROOT/tests/sipp/uac_comment.xml" >"$WORK/scenario.xml"
    ;;
  *)
    echo "call.sh: unknown kind $KIND" >&2
    exit 2
    ;;
esac

media="$(python3 "$ROOT/.ci/ports.py" media "$BASE" 4)"
sip="$(python3 "$ROOT/.ci/ports.py")"
rc=0
(
  cd "$WORK"
  timeout 120 sipp "$SIP_ADDR" -sf "$WORK/scenario.xml" \
    -i 127.0.0.1 -p "$sip" -mi 127.0.0.1 -mp "$media" \
    -m 1 -l 1 -timeout 90s -timeout_error -nostdin \
    -trace_err -error_file "$WORK/errors.log" \
    </dev/null >"$WORK/sipp.out" 2>&1
) || rc=$?
if [[ "$rc" != 0 ]]; then
  keep="${CALL_LOG_DIR:-$(mktemp -d /tmp/smileyd-call-failed.XXXXXX)}"
  mkdir -p "$keep"
  cp "$WORK"/* "$keep/" 2>/dev/null || true
  echo "call.sh: sipp $KIND for $AGENT failed ($rc); logs in $keep" >&2
fi
exit "$rc"
