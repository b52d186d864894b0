#!/usr/bin/env bash
# The dashboard's speed on a large database (BENCHMARKS.md, "Dashboard on
# 1,000,000 measurements"): fills a SQLite file with ROWS answers
# (bench/dashboard-fill.rs), starts the release daemon on it and opens every
# page in Debian's Chromium (tests/dashboard/bench.mjs, playwright-core):
# the server time of each request a page makes (from the browser's Resource
# Timing: request sent to first byte back, on loopback), the time until
# the page shows its data, and the overview's first paint. Prints a
# Markdown table.
#
# usage: bench/dashboard.sh [ROWS [DB_PATH]]
#   ROWS     answers to fill (default 1000000)
#   DB_PATH  keep (and reuse on the next run) the database there; default a
#            temporary file, removed at the end
# Environment: RUNS (default 5): loads of each page measured, after one
# that warms the caches.
# Listens on 127.0.0.1 only. Filling 1,000,000 takes a few minutes; the
# measuring about one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CI_NAME=dashboard-bench
CI_VERDICT=""
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

ROWS="${1:-1000000}"
ensure_packages curl:curl python3:python3 chromium:chromium node:nodejs npm:npm
(cd "$ROOT/tests/dashboard" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

log "cargo build --release (smileyd, examples/dashboard-fill)"
cargo build --quiet --release --bin smileyd --example dashboard-fill
target="${CARGO_TARGET_DIR:-$ROOT/target}"
bin="$target/release/smileyd"

WORK="$(mktemp -d /tmp/smileyd-dashboard-bench.XXXXXX)"
DB="${2:-$WORK/bench.db}"
DB="$(cd "$(dirname "$DB")" && pwd)/$(basename "$DB")"
DAEMON=""
cleanup() {
  local rc=$?
  stop_pid "$DAEMON"
  if [[ "$rc" != 0 && -s "$WORK/smileyd.log" ]]; then
    tail -n 30 "$WORK/smileyd.log"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

log "filling $DB with $ROWS answers"
"$target/release/examples/dashboard-fill" "$DB" "$ROWS"

http="$(free_port)"
sip="$(free_port "$http")"
rtp="$(free_port media 37000 20)"
# The comments' audio is the file the fill wrote beside the database.
cat >"$WORK/smileyd.toml" <<TOML
default_survey = "smiley"
sip_listen = "127.0.0.1:$sip"
http_listen = "127.0.0.1:$http"
database_url = "sqlite://$DB"
prompts_dir = "$ROOT/prompts"
custom_prompts_dir = "$WORK/prompts-custom"
recordings_dir = "$(dirname "$DB")"
journal_path = "$WORK/smileyd.journal"
rtp_ports = "$rtp-$((rtp + 19))"
public_ip = "127.0.0.1"

[surveys.smiley]
kind = "smiley"

[surveys.csat]
kind = "csat"

[sip]
allowed_networks = ["127.0.0.0/8"]
TOML
admin="$("$bin" --config "$WORK/smileyd.toml" token create --scope admin --name bench-admin 2>/dev/null)"
(cd "$WORK" && RUST_LOG=warn exec "$bin" --config "$WORK/smileyd.toml" </dev/null >"$WORK/smileyd.log" 2>&1) &
DAEMON=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$http/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$http/healthz"
log "smileyd (release) on http://127.0.0.1:$http; load average $(cut -d' ' -f1-3 /proc/loadavg)"

SMILEYD_URL="http://127.0.0.1:$http" SMILEYD_ADMIN_TOKEN="$admin" RUNS="${RUNS:-5}" \
  SMILEYD_PID="$DAEMON" CLK_TCK="$(getconf CLK_TCK)" node "$ROOT/tests/dashboard/bench.mjs"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
