#!/usr/bin/env bash
# The dashboard end to end in a real browser: Debian's Chromium driven by
# playwright-core (tests/dashboard/, versions pinned in its package-lock.json;
# no browser is downloaded) against a daemon fed by real calls from sipp,
# comments included. tests/dashboard/e2e.mjs does the checking: sign-in,
# the overview's figure against the API's, live updates, an agent's comment
# playing, follow-ups, prompt uploads reaching the next call, a read token's
# limits, Swedish, a phone's width, WCAG checks (axe-core) and the live
# indicator across a restart.
#
# usage: .ci/dashboard.sh [SMILEYD_BINARY]
#   Without an argument, builds target/debug/smileyd first.
# Environment: SHOTS_DIR: save a screenshot of every page there (e.g. docs/
# to refresh the README's); KEEP_CI_WORK: keep the work directory.
# Listens on 127.0.0.1 only; about two minutes once the packages are there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CI_NAME=dashboard
CI_VERDICT="dashboard: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

ensure_packages sipp:sip-tester curl:curl python3:python3 chromium:chromium node:nodejs npm:npm
log "npm ci in tests/dashboard (playwright-core, axe-core)"
(cd "$ROOT/tests/dashboard" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

bin="$(smileyd_binary "${1:-}")"
WORK="$(mktemp -d /tmp/smileyd-dashboard.XXXXXX)"
cleanup() {
  local rc=$?
  if [[ -s "$WORK/daemon.pid" ]]; then
    stop_pid "$(cat "$WORK/daemon.pid")"
  fi
  if [[ "$rc" != 0 && -s "$WORK/smileyd.log" ]]; then
    echo "--- smileyd.log (last 40 lines) ---"
    tail -n 40 "$WORK/smileyd.log"
  fi
  remove_work "$rc"
  exit "$rc"
}
trap cleanup EXIT

http="$(free_port)"
sip="$(free_port "$http")"
rtp="$(free_port media 36000 100)"
mkdir -p "$WORK/recordings"
cat >"$WORK/smileyd.toml" <<TOML
# The interop layout of .ci/run: "smiley" without comments, "comment" with.
default_survey = "smiley"
sip_listen = "127.0.0.1:$sip"
http_listen = "127.0.0.1:$http"
database_url = "sqlite://$WORK/smileyd.db"
prompts_dir = "$ROOT/prompts"
custom_prompts_dir = "$WORK/prompts-custom"
recordings_dir = "$WORK/recordings"
journal_path = "$WORK/smileyd.journal"
rtp_ports = "$rtp-$((rtp + 99))"
public_ip = "127.0.0.1"

[surveys.smiley]
comment = "never"

[surveys.comment]
comment = "always"

[sip]
allowed_networks = ["127.0.0.0/8"]

# Nobody listens on port 9: deliveries stay pending, for the webhook page.
[webhook_delivery]
allow_private_networks = true

[[webhooks]]
url = "http://127.0.0.1:9/hook"
secret = "dashboard-test-secret-0123456789"
TOML

admin="$("$bin" --config "$WORK/smileyd.toml" token create --scope admin --name lead-admin 2>/dev/null)"
read="$("$bin" --config "$WORK/smileyd.toml" token create --scope read --name lead-read 2>/dev/null)"

# Starting is a script of its own: the browser test restarts the daemon
# with it to see the live indicator drop and recover.
cat >"$WORK/start.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
if [[ -s "$WORK/daemon.pid" ]]; then
  pid=\$(cat "$WORK/daemon.pid")
  kill "\$pid" 2>/dev/null || true
  for _ in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
  sleep 1
fi
cd "$WORK"
RUST_LOG=info nohup "$bin" --config "$WORK/smileyd.toml" </dev/null >>"$WORK/smileyd.log" 2>&1 &
echo \$! >"$WORK/daemon.pid"
for _ in \$(seq 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$http/healthz" 2>/dev/null && exit 0
  sleep 0.1
done
echo "smileyd did not start" >&2
exit 1
SH
chmod +x "$WORK/start.sh"
"$WORK/start.sh"
log "smileyd on http://127.0.0.1:$http (SIP $sip), tokens lead-admin and lead-read"

log "sipp: five calls at once (two with a spoken comment)"
call() { bash "$ROOT/tests/dashboard/call.sh" "127.0.0.1:$sip" "$@"; }
pids=()
call press1 sipp-agent-1 33100 & pids+=($!)
call press2 sipp-agent-2 33120 & pids+=($!)
CALL_QUEUE=sales call press1 sipp-agent-3 33140 & pids+=($!)
call comment2 e2e-comment-sad 33160 & pids+=($!)
call comment1 e2e-comment-happy 33180 & pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
if [[ "$failed" != 0 ]]; then
  fail "$failed of the sipp calls feeding the dashboard failed"
  exit 1
fi

log "Chromium: tests/dashboard/e2e.mjs"
if SMILEYD_URL="http://127.0.0.1:$http" SMILEYD_SIP="127.0.0.1:$sip" \
  SMILEYD_ADMIN_TOKEN="$admin" SMILEYD_READ_TOKEN="$read" \
  SMILEYD_RESTART="$WORK/start.sh" SHOTS_DIR="${SHOTS_DIR:-}" \
  node "$ROOT/tests/dashboard/e2e.mjs"; then
  exit 0
fi
FAIL=$((FAIL + 1))
exit 1
