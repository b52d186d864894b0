#!/usr/bin/env bash
# Soak test for smileyd: hold N concurrent survey calls (default 500) for a
# duration (default one hour), every call a full survey placed by
# smiley-load (INVITE, the whole 7.5 s question, key 1 as RFC 4733 events,
# commit, thanks, smileyd's BYE), a new call started as soon as one ends.
# Every 10 s smileyd's RSS, open file descriptors, CPU (user+sys from
# /proc/PID/stat), database size (file + WAL + shm), active calls and
# stored ratings go into $OUT/samples.csv. At the end every key pressed must
# be a stored rating (database or journal) and every call must have
# completed; the figures go to $OUT/summary.md and the plot to
# $OUT/soak.svg (SVG written by bench/soak.py, no plotting package). See
# BENCHMARKS.md, "Soak".
#
#   bench/soak.sh                          one hour, 500 calls at once
#   bench/soak.sh --duration 120           two minutes (a try-out)
#   options: --duration S  --calls N  --interval S  --warmup S  --out DIR
#            --press-after-ms N  --rtp-ports A-B  --nice N  --no-build
#   SMILEYD=path LOADGEN=path: binaries to use (default: the release build)
#
# All traffic stays on 127.0.0.1. Not part of .ci/run.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR="$TARGET_DIR"
SMILEYD="${SMILEYD:-$TARGET_DIR/release/smileyd}"
LOADGEN="${LOADGEN:-$TARGET_DIR/release/smiley-load}"

ORIG_ARGS=("$@")
DURATION=3600
CALLS=500
INTERVAL=10
WARMUP=""
OUT=""
# The caller lets the question play out (7.5 s) and presses half a second
# later: the full survey, no barge-in.
PRESS_AFTER_MS=8000
RTP_PORTS="41000-44999"
NICE=0
BUILD=1

while (($#)); do
  case "$1" in
    --duration) DURATION="$2"; shift ;;
    --calls) CALLS="$2"; shift ;;
    --interval) INTERVAL="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --press-after-ms) PRESS_AFTER_MS="$2"; shift ;;
    --rtp-ports) RTP_PORTS="$2"; shift ;;
    --nice) NICE="$2"; shift ;;
    --no-build) BUILD="" ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
# Warm-up left out of the trends: the first tenth, at most 10 minutes.
WARMUP="${WARMUP:-$((DURATION / 10 < 600 ? DURATION / 10 : 600))}"
OUT="${OUT:-$ROOT/target/soak/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

log() { echo "[soak $(date +%H:%M:%S)] $*" >&2; }

DAEMON_PID=""
SAMPLER_PID=""
cleanup() {
  for p in "$SAMPLER_PID" "$DAEMON_PID"; do
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Two RTP sockets per call in smileyd, more in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < CALLS * 4 + 1024)); then
  log "warning: open files limited to $(ulimit -n) for $CALLS calls"
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { log "needs $tool"; exit 2; }
done

if [[ -n "$BUILD" ]]; then
  log "cargo build --release --bin smileyd --bin smiley-load"
  (cd "$ROOT" && cargo build --release --bin smileyd --bin smiley-load)
fi
SMILEYD="$(realpath "$SMILEYD")"
LOADGEN="$(realpath "$LOADGEN")"

free_port() { python3 "$ROOT/.ci/ports.py" "$@"; }
SIP_PORT="$(free_port)"
HTTP_PORT="$(free_port "$SIP_PORT")"
METRICS="http://127.0.0.1:$HTTP_PORT/metrics"
DB="$OUT/smileyd.db"

cat >"$OUT/smileyd.toml" <<TOML
[survey]
attempts = 1
happy_key = "1"
sad_key = "2"
comment = "never"

[media]
symmetric_rtp = true

[sip]
allowed_networks = ["127.0.0.0/8"]
TOML

{
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "smileyd: $("$SMILEYD" --version 2>/dev/null | head -n1 || echo '?')"
  echo "command: bench/soak.sh ${ORIG_ARGS[*]}"
  echo "calls at once: $CALLS for $DURATION s, key after $PRESS_AFTER_MS ms, samples every $INTERVAL s, warm-up $WARMUP s, nice $NICE"
  echo "start: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

(
  cd "$OUT"
  exec nice -n "$NICE" env RUST_LOG="${RUST_LOG:-smileyd=warn}" "$SMILEYD" \
    --config "$OUT/smileyd.toml" \
    --sip-listen "127.0.0.1:$SIP_PORT" \
    --http-listen "127.0.0.1:$HTTP_PORT" \
    --database-url "sqlite://$DB" \
    --prompts-dir "$ROOT/prompts" \
    --recordings-dir "$OUT/recordings" \
    --journal-path "$OUT/smileyd.journal" \
    --rtp-ports "$RTP_PORTS" \
    --public-ip 127.0.0.1 \
    </dev/null >"$OUT/smileyd.log" 2>&1
) &
DAEMON_PID=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { log "smileyd exited:"; tail -n 40 "$OUT/smileyd.log" >&2; exit 1; }
  sleep 0.1
done

python3 "$BENCH/soak.py" sample "$DAEMON_PID" "$METRICS" "$DB" "$OUT/samples.csv" --interval "$INTERVAL" &
SAMPLER_PID=$!
sleep 1

log "$CALLS calls at once for $DURATION s against 127.0.0.1:$SIP_PORT; samples in $OUT/samples.csv"
# A rate above what N calls of this length can sustain: the generator
# starts a new call whenever one ends, so N stay up.
call_secs=$(((PRESS_AFTER_MS + 3000) / 1000))
rate=$((CALLS / call_secs + CALLS / call_secs / 4 + 1))
rc=0
nice -n "$NICE" "$LOADGEN" --target "127.0.0.1:$SIP_PORT" \
  -m 1000000000 -l "$CALLS" -r "$rate" --duration-secs "$DURATION" \
  --press-after-ms "$PRESS_AFTER_MS" --progress-secs 60 \
  --json "$OUT/load.json" >"$OUT/load.out" 2>"$OUT/load.err" || rc=$?
log "generator done (exit $rc); waiting for the last call records"
for _ in $(seq 300); do
  [[ "$(curl -fsS "$METRICS" 2>/dev/null | awk '/^smileyd_active_calls / {print $2}')" == "0" ]] && break
  sleep 0.2
done
sleep "$INTERVAL" # one more sample, idle
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
curl -fsS "$METRICS" >"$OUT/metrics.txt" 2>/dev/null || true
kill "$DAEMON_PID" 2>/dev/null || true
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""

python3 "$BENCH/soak.py" plot "$OUT/samples.csv" "$OUT/soak.svg" --warmup "$WARMUP" \
  --title "smileyd soak: $CALLS concurrent survey calls for $((DURATION / 60)) min, sampled every $INTERVAL s"
check=0
python3 "$BENCH/soak.py" check --csv "$OUT/samples.csv" --load "$OUT/load.json" --db "$DB" \
  --journal "$OUT/smileyd.journal" --warmup "$WARMUP" --md "$OUT/summary.md" || check=$?
log "results: $OUT/summary.md, $OUT/soak.svg, $OUT/samples.csv"
exit $((rc || check))
