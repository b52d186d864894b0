#!/usr/bin/env bash
# Load benchmark for smileyd: full survey calls at rising concurrency, then
# a call-rate run, driven from this machine by sipp (Debian's sip-tester)
# and by smiley-load (bench/smiley-load.rs). Every step starts smileyd afresh
# (new SQLite database), samples its CPU and memory from /proc, and records
# one JSON line in $OUT/results.jsonl; the end makes $OUT/results.md and
# $OUT/cpu_rss.png. See BENCHMARKS.md.
#
#   bench/load.sh                 the full run (about 25 minutes)
#   bench/load.sh --smoke         20 calls with each generator; checks that
#                                 every call completed and every key pressed
#                                 was stored (no timing checks); < 1 minute
#                                 once built
#   bench/load.sh --levels "200 500 1000 2000" --pin
#                                 the survey-call levels (issue 19): sipp,
#                                 key 1 s after the ACK, limit/3.85 new
#                                 calls/s for 60 s after ramp-up per level,
#                                 CPU ms per call; only the levels are run
#   bench/load.sh --levels 500 --level-generator smiley-load --srtp
#                                 the same level from smiley-load, every
#                                 call with SRTP (SDES keys over UDP, which
#                                 smileyd accepts only with its cleartext-keys
#                                 option, set here); without --srtp the same
#                                 calls in plain RTP (the SRTP cost: BENCHMARKS.md)
#   options: --out DIR  --steps "100 500"  --rates "100 200"
#            --generators "sipp smiley-load"  --rate-generator smiley-load
#            --hold-ms N  --ramp-secs N  --no-build  --nice N  --rt N
#            --rtp-fifo N (SMILEYD_RTP_SCHED_FIFO for the RTP pacing threads)
#            --levels "200 500"  --level-secs N (default 60)
#            --level-generator sipp|smiley-load (default sipp)
#            --srtp (smiley-load offers SRTP; smileyd takes SDES keys over UDP)
#            --pin (smileyd on CPU 1; sipp, dumpcap and the monitor on CPU 0)
#            --no-capture (no dumpcap: the capture's taps on lo clone every
#            packet in the sender's system call; no RTP gap figures)
#            --perf SECS (perf record -e cpu-clock -g on smileyd for SECS s,
#            from 8 s into each step: DIR/<step>/perf.data)
#   SMILEYD_WRAP="valgrind --tool=callgrind ..." runs smileyd under a tool
#
# All traffic stays on 127.0.0.1.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TARGET_DIR="$TARGET_DIR"
SMILEYD="${SMILEYD:-$TARGET_DIR/release/smileyd}"  # SMILEYD=path: another build (e.g. an older commit)
LOADGEN="${LOADGEN:-$TARGET_DIR/release/smiley-load}"  # LOADGEN=path: another build of the generator
PCAP_DIR=/usr/share/sip-tester

ORIG_ARGS=("$@")
SMOKE=""
BUILD=1
OUT=""
STEPS="100 500 1000 2000 5000"
RATES="100 200 300 400 500 600 700 800 1000 1200 1500"
RATE_SECS=30
GENERATORS="sipp smiley-load"
RATE_GENERATORS="smiley-load"
HOLD_MS=30000
RAMP_SECS=15
RATE_HOLD_MS=1500
# The machine is shared: smileyd and the generators run at nice -10 so that
# other people's compilers do not decide the audio timing (--nice 0: off).
NICE="-10"
# --rt N: smileyd runs under SCHED_FIFO priority N instead (chrt), as a
# media server may be deployed; the generators stay at NICE.
RT=""
# --rtp-fifo N: only smileyd's RTP pacing threads under SCHED_FIFO N
# (SMILEYD_RTP_SCHED_FIFO).
RTP_FIFO=""
# --levels: short survey calls at a concurrency limit L and L/3.85 new
# calls a second (a call lasts about 3.85 s in sipp: 1 s to the key, the
# 2.2 s thanks, smileyd's BYE, sipp's 0.5 s linger), LEVEL_SECS after ramp-up.
LEVELS=""
LEVEL_SECS=60
LEVEL_HOLD_MS=1000
LEVEL_GENERATOR=sipp
# --srtp: smiley-load's calls offer RTP/SAVP with SDES keys.
SRTP=""
# --pin: smileyd and the generator on separate cores, so that neither
# takes the other's CPU and smileyd's own cost and timing are on one core.
PIN=""
CAPTURE=1
PERF_SECS=""

while (($#)); do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --no-build) BUILD="" ;;
    --out) OUT="$2"; shift ;;
    --steps) STEPS="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --rate-secs) RATE_SECS="$2"; shift ;;
    --generators) GENERATORS="$2"; shift ;;
    --rate-generators) RATE_GENERATORS="$2"; shift ;;
    --hold-ms) HOLD_MS="$2"; shift ;;
    --ramp-secs) RAMP_SECS="$2"; shift ;;
    --nice) NICE="$2"; [[ "$NICE" == 0 ]] && NICE=""; shift ;;
    --rt) RT="$2"; shift ;;
    --rtp-fifo) RTP_FIFO="$2"; shift ;;
    --levels) LEVELS="$2"; STEPS=""; RATES=""; shift ;;
    --level-secs) LEVEL_SECS="$2"; shift ;;
    --level-generator) LEVEL_GENERATOR="$2"; shift ;;
    --srtp) SRTP=1 ;;
    --pin) PIN=1 ;;
    --no-capture) CAPTURE="" ;;
    --perf) PERF_SECS="$2"; shift ;;
    -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ -n "$SRTP" && -n "$LEVELS" && "$LEVEL_GENERATOR" != smiley-load ]]; then
  echo "--srtp: sipp (Debian's sip-tester) cannot do SRTP; add --level-generator smiley-load" >&2
  exit 2
fi
if [[ -n "$SMOKE" ]]; then
  STEPS="20"
  RATES=""
  HOLD_MS=1500
  RAMP_SECS=2
fi
OUT="${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

log() { echo "[bench] $*" >&2; }

DAEMON_PID=""
MON_PID=""
CAP_PID=""
cleanup() {
  for p in "$CAP_PID" "$MON_PID" "$DAEMON_PID"; do
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Many calls: two RTP ports each in smileyd, sockets in the generators.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 16384)); then
  log "warning: open files limited to $(ulimit -n); 5,000 calls need more"
fi

need_tools() {
  local need=()
  command -v sipp >/dev/null || need+=(sip-tester)
  # The smoke run checks completion and ratings, not timing: no capture.
  [[ -n "$SMOKE" ]] || command -v dumpcap >/dev/null || need+=(tshark)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    log "installing ${need[*]} from Debian"
    apt-get update </dev/null >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" </dev/null >/dev/null
  fi
  if [[ -z "$SMOKE" ]] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    log "matplotlib missing: pip install matplotlib (for the plot)"
    pip install --quiet matplotlib </dev/null >/dev/null 2>&1 || log "no matplotlib: no plot"
  fi
}

free_port() { python3 "$ROOT/.ci/ports.py"; }

machine() {
  local model cores
  model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  cores="$(nproc)"
  echo "$cores cores ($model), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
}

# start_daemon DIR: smileyd with a fresh database in DIR.
start_daemon() {
  local dir="$1"
  SIP_PORT="$(free_port)"
  HTTP_PORT="$(free_port)"
  while [[ "$HTTP_PORT" == "$SIP_PORT" ]]; do HTTP_PORT="$(free_port)"; done
  mkdir -p "$dir/recordings"
  # A fresh database even when --out names a directory used before.
  rm -f "$dir"/smileyd.db "$dir"/smileyd.db-* "$dir/smileyd.journal"
  # --srtp: SDES keys over UDP, which smileyd refuses unless told: only for
  # this loopback benchmark.
  local srtp_toml=""
  [[ -n "$SRTP" ]] && srtp_toml=$'srtp = "optional"\nsrtp_allow_keys_in_cleartext = true'
  # The caller presses after the hold; smileyd must wait that long for the
  # key (digit_timeout after the 7.5 s prompt) and for the caller's first
  # RTP (the key is the first RTP the caller sends).
  cat >"$dir/smileyd.toml" <<TOML
[survey]
digit_timeout_ms = $((HOLD_MS + 30000))
attempts = 1
happy_key = "1"
sad_key = "2"
# The flow measured: prompt, key, commit, thanks, BYE (no recorded comment).
comment = "never"

[media]
symmetric_rtp = true
media_timeout_secs = $((HOLD_MS / 1000 + 30))
max_call_secs = $((HOLD_MS / 1000 + 120))
$srtp_toml

[sip]
t1_ms = 500
allowed_networks = ["127.0.0.0/8"]
TOML
  (
    cd "$dir"
    local prio=(${NICE:+nice -n "$NICE"})
    [[ -n "$RT" ]] && prio=(chrt -f "$RT")
    [[ -n "$PIN" ]] && prio=(taskset -c 1 "${prio[@]}")
    # SMILEYD_WRAP: a profiler in front of smileyd (word-split on purpose).
    # shellcheck disable=SC2086
    exec "${prio[@]}" env RUST_LOG="${RUST_LOG:-smileyd=warn}" \
      ${RTP_FIFO:+SMILEYD_RTP_SCHED_FIFO="$RTP_FIFO"} ${SMILEYD_WRAP:-} "$SMILEYD" \
      --config "$dir/smileyd.toml" \
      --sip-listen "127.0.0.1:$SIP_PORT" \
      --http-listen "127.0.0.1:$HTTP_PORT" \
      --database-url "sqlite://$dir/smileyd.db" \
      --prompts-dir "$ROOT/prompts" \
      --recordings-dir "$dir/recordings" \
      --journal-path "$dir/smileyd.journal" \
      --rtp-ports 10000-40000 \
      --public-ip 127.0.0.1 \
      </dev/null >"$dir/smileyd.log" 2>&1
  ) &
  DAEMON_PID=$!
  for _ in $(seq 600); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null; then
      return 0
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "smileyd did not start; log:"
  tail -n 40 "$dir/smileyd.log" >&2
  return 1
}

metrics_url() { echo "http://127.0.0.1:$HTTP_PORT/metrics"; }

active_calls() {
  curl -fsS "$(metrics_url)" 2>/dev/null | awk '/^smileyd_active_calls / {print $2}'
}

stop_daemon() {
  local dir="$1"
  # Every call ended (smileyd's BYE is the last thing a call does, but the
  # call record is written after it).
  for _ in $(seq 300); do
    [[ "$(active_calls)" == "0" ]] && break
    sleep 0.2
  done
  curl -fsS "$(metrics_url)" >"$dir/metrics.txt" 2>/dev/null || : >"$dir/metrics.txt"
  kill "$MON_PID" 2>/dev/null || true
  wait "$MON_PID" 2>/dev/null || true
  MON_PID=""
  kill "$DAEMON_PID" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

start_monitor() {
  local dir="$1"
  ${PIN:+taskset -c 0} python3 "$BENCH/benchlib.py" monitor "$DAEMON_PID" "$(metrics_url)" "$dir/monitor.csv" --interval 0.5 &
  MON_PID=$!
  sleep 1.2 # an idle sample or two: the base RSS
}

sipp_scenario() {
  local dir="$1" hold="$2" pcap="$PCAP_DIR/dtmf_2833_1.pcap"
  if [[ ! -r "$pcap" ]]; then
    pcap="$dir/dtmf_2833_1.pcap"
    python3 "$ROOT/tests/sipp/make_dtmf_pcap.py" 1 "$pcap"
  fi
  sed -e "s/@HOLD_MS@/$hold/" -e "s#@PCAP@#$pcap#" "$BENCH/sipp_survey.xml" >"$dir/survey.xml"
}

# run_step GENERATOR KIND CONCURRENCY RATE CALLS HOLD_MS LABEL
run_step() {
  local gen="$1" kind="$2" conc="$3" rate="$4" calls="$5" hold="$6" label="$7"
  local dir="$OUT/$label" rc=0
  mkdir -p "$dir"
  rm -f "$dir"/*_rtt.csv "$dir"/*_counts.csv "$dir"/sipp_* "$dir/rtp.pcap" "$dir/perf.data"
  log "$label: $gen, $calls calls, at most $conc at once, $rate/s, key after $hold ms"
  start_daemon "$dir"
  start_monitor "$dir"
  local timeout_s=$((calls / ${rate%.*} + hold / 1000 + 120))
  local perf_pid=""
  if [[ -n "$PERF_SECS" ]]; then
    (sleep 8; exec perf record -q -e cpu-clock -g -p "$DAEMON_PID" -o "$dir/perf.data" -- sleep "$PERF_SECS") \
      >"$dir/perf.log" 2>&1 &
    perf_pid=$!
  fi
  if [[ "$gen" == sipp ]]; then
    sipp_scenario "$dir" "$hold"
    local sport mport
    sport="$(free_port)"
    mport="$(free_port)"
    # RTP timing: capture what smileyd sends to a sample of callers (even
    # source ports divisible by SAMPLE: about 100 calls whatever the step).
    local sample=2
    while ((sample * 50 < calls)); do sample=$((sample * 2)); done
    if [[ -z "$SMOKE" && -n "$CAPTURE" ]] && command -v dumpcap >/dev/null; then
      ${PIN:+taskset -c 0} ${NICE:+nice -n "$NICE"} dumpcap -q -i lo -P -B 64 -s 96 \
        -f "udp and dst port $mport and udp[0:2] % $sample == 0" \
        -w "$dir/rtp.pcap" >"$dir/dumpcap.log" 2>&1 &
      CAP_PID=$!
      sleep 1
    fi
    (
      cd "$dir"
      timeout "$timeout_s" ${PIN:+taskset -c 0} ${NICE:+nice -n "$NICE"} sipp "127.0.0.1:$SIP_PORT" -sf "$dir/survey.xml" \
        -i 127.0.0.1 -p "$sport" -mi 127.0.0.1 -mp "$mport" \
        -m "$calls" -l "$conc" -r "$rate" -rp 1000 \
        -nostdin -timeout "${timeout_s}s" -max_socket 60000 \
        -trace_stat -stf "$dir/sipp_stat.csv" -fd 1 \
        -trace_rtt -rtt_freq 1 -trace_counts \
        -trace_err -error_file "$dir/sipp_errors.log" \
        -trace_screen -screen_file "$dir/sipp_screen.txt" \
        </dev/null >"$dir/sipp.out" 2>&1
    ) || rc=$?
    if [[ -n "$CAP_PID" ]]; then
      sleep 0.5
      kill "$CAP_PID" 2>/dev/null || true
      wait "$CAP_PID" 2>/dev/null || true
      CAP_PID=""
    fi
  else
    timeout "$timeout_s" ${PIN:+taskset -c 0} ${NICE:+nice -n "$NICE"} "$LOADGEN" --target "127.0.0.1:$SIP_PORT" \
      -m "$calls" -l "$conc" -r "$rate" --press-after-ms "$hold" ${SRTP:+--srtp} \
      --json "$dir/load.json" >"$dir/load.out" 2>"$dir/load.err" || rc=$?
  fi
  [[ -n "$perf_pid" ]] && { wait "$perf_pid" || log "$label: perf record failed: $(tail -n 2 "$dir/perf.log")"; }
  stop_daemon "$dir"
  if ! python3 "$BENCH/benchlib.py" step --dir "$dir" --label "$label" --generator "$gen" \
    --kind "$kind" --concurrency "$conc" --rate "$rate" --calls "$calls" --hold-ms "$hold" \
    --media "$([[ -n "$SRTP" && "$gen" == smiley-load ]] && echo srtp || echo rtp)" \
    >>"$RESULTS" 2>"$dir/step.err"; then
    log "$label: no results (generator exit $rc)"; cat "$dir/step.err" >&2
    return 1
  fi
  local line
  line="$(tail -n 1 "$RESULTS")"
  python3 - "$line" <<'PY' >&2
import json, sys
s = json.loads(sys.argv[1])
r = s.get("rtp") or {}
print(f"[bench]   attempted {s['attempted']} completed {s['completed']} pressed {s['pressed']} "
      f"stored {s['ratings_stored']} failed {s['failed']} {s.get('failures') or ''}; "
      f"cpu {s['cpu']['plateau_cores']} cores (peak {s['cpu']['peak_1s_cores']}), "
      f"rss {s['rss']['peak_kb']} kB, key→commit p99 ≤ {s['keypress_commit_ms']['p99_le']} ms, "
      f"rtp gap p99 {r.get('p99')} max {r.get('max')} lost {r.get('lost')}")
PY
  return 0
}

# The smoke check: completion and ratings == presses, never timing.
check_step() {
  python3 - "$(tail -n 1 "$RESULTS")" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
bad = []
if s["completed"] != s["attempted"] or s["attempted"] != s["calls"]:
    bad.append(f"{s['completed']} of {s['attempted']} calls completed ({s['calls']} wanted): {s.get('failures')}")
if s["ratings_stored"] != s["pressed"]:
    bad.append(f"{s['ratings_stored']} ratings stored for {s['pressed']} calls that pressed a key")
if s["call_outcomes"].get("rated") != s["pressed"]:
    bad.append(f"call outcomes {s['call_outcomes']}")
if bad:
    print(f"FAIL {s['label']}: " + "; ".join(bad))
    sys.exit(1)
print(f"PASS {s['label']}: {s['attempted']} calls completed, {s['ratings_stored']} ratings stored for {s['pressed']} key presses")
PY
}

main() {
  need_tools
  if [[ -n "$BUILD" ]]; then
    log "cargo build --release --bin smileyd --bin smiley-load"
    (cd "$ROOT" && cargo build --release --bin smileyd --bin smiley-load)
  fi
  {
    echo "machine: $(machine)"
    echo "smileyd: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "sipp: $({ sipp -v 2>&1 || true; } | grep -m1 -o 'SIPp v[^ ]*' || echo '?')"
    [[ -n "$LEVELS" ]] && echo "levels: $LEVELS from $LEVEL_GENERATOR (limit/3.85 calls/s, ${LEVEL_SECS} s after ramp-up, key ${LEVEL_HOLD_MS} ms after the ACK)"
    echo "media: $([[ -n "$SRTP" ]] && echo "SRTP (SDES, AES_CM_128_HMAC_SHA1_80) from smiley-load" || echo "plain RTP")"
    echo "cpus: $([[ -n "$PIN" ]] && echo "smileyd on CPU 1, generator, capture and monitor on CPU 0 (taskset)" || echo "shared")"
    echo "capture: $([[ -n "$CAPTURE" ]] && echo "dumpcap on lo (a sample of calls' RTP)" || echo "none (no RTP gap figures)")"
    echo "steps: $STEPS (key after ${HOLD_MS} ms, ramp ${RAMP_SECS} s); rates: ${RATES:-none} (${RATE_SECS} s each, key after ${RATE_HOLD_MS} ms)"
    echo "command: bench/load.sh ${ORIG_ARGS[*]}"
    echo "priority: $([[ -n "$NICE" ]] && echo "nice $NICE for smileyd and the generators" || echo default)${RT:+; smileyd under SCHED_FIFO $RT}${RTP_FIFO:+; RTP pacing threads under SCHED_FIFO $RTP_FIFO}"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$OUT/machine.txt" >&2
  local failed=0 gen n rate
  for gen in $GENERATORS; do
    if [[ "$gen" == sipp ]] && ! command -v sipp >/dev/null; then
      log "no sipp: skipping"; continue
    fi
    for n in $STEPS; do
      rate=$(((n + RAMP_SECS - 1) / RAMP_SECS))
      run_step "$gen" concurrency "$n" "$rate" "$n" "$HOLD_MS" "$gen-c$n" || failed=1
      if [[ -n "$SMOKE" ]]; then check_step || failed=1; fi
    done
  done
  for n in $LEVELS; do
    if [[ "$LEVEL_GENERATOR" == sipp ]] && ! command -v sipp >/dev/null; then
      log "no sipp: skipping the levels"; break
    fi
    rate="$(python3 -c "print(round($n / 3.85, 1))")"
    run_step "$LEVEL_GENERATOR" level "$n" "$rate" "$(python3 -c "print(round($rate * ($LEVEL_SECS + 4)))")" \
      "$LEVEL_HOLD_MS" "$LEVEL_GENERATOR-l$n${SRTP:+-srtp}" || failed=1
  done
  for gen in $RATE_GENERATORS; do
    for rate in $RATES; do
      # Short calls (key during the prompt): the rate, not the hold, is the load.
      run_step "$gen" rate "$((rate * (RATE_HOLD_MS / 1000 + 6)))" "$rate" "$((rate * RATE_SECS))" \
        "$RATE_HOLD_MS" "$gen-r$rate" || failed=1
    done
  done
  if [[ -z "$SMOKE" ]]; then
    python3 "$BENCH/benchlib.py" report "$RESULTS" "$OUT/results.md" "$OUT/cpu_rss.png" >&2 || failed=1
    log "results: $OUT/results.md, $OUT/cpu_rss.png, per step: $OUT/<step>/"
  fi
  return "$failed"
}

main "$@"
