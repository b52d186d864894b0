#!/usr/bin/env bash
# Fuzzes every operation of the HTTP API with schemathesis (from PyPI),
# driven by the OpenAPI document the daemon serves, with all checks on.
#
# Usage: .ci/schemathesis.sh [SMILEYD_BINARY]
#   Without an argument, builds target/debug/smileyd first.
#   SCHEMATHESIS_MAX_EXAMPLES (default 30) bounds examples per operation.
#
# Starts smileyd on loopback with a temporary SQLite database, creates an
# admin token with `smileyd token create`, runs schemathesis with it, stops
# the daemon. Exits non-zero when schemathesis reports anything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CI_NAME=schemathesis
CI_VERDICT="schemathesis: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

if ! command -v schemathesis >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
fi

bin="$(smileyd_binary "${1:-}")"

work=$(mktemp -d)
pid=
cleanup() {
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT

http=$(free_port)
sip=$(free_port "$http")
# A free RTP range (another daemon on this machine may hold a fixed one).
rtp="$(free_port media 41000 101)"
mkdir -p "$work/recordings"
cat >"$work/smileyd.toml" <<TOML
sip_listen = "127.0.0.1:$sip"
http_listen = "127.0.0.1:$http"
database_url = "sqlite://$work/smileyd.db"
prompts_dir = "prompts"
recordings_dir = "$work/recordings"
journal_path = "$work/smileyd.journal"
rtp_ports = "$rtp-$((rtp + 100))"
TOML

token=$("$bin" --config "$work/smileyd.toml" token create --scope admin --name schemathesis 2>/dev/null)
"$bin" --config "$work/smileyd.toml" >"$work/smileyd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$http/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$http/healthz" >/dev/null

status=0
config="$PWD/.ci/schemathesis.toml"
# Run from the temporary directory: schemathesis keeps a cache where it runs.
cd "$work"
schemathesis --config-file "$config" run "http://127.0.0.1:$http/api/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --workers 1 \
    --request-timeout 10 \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
    --seed 1 \
    --suppress-health-check all \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- smileyd log (last 50 lines) ---"
    tail -n 50 "$work/smileyd.log"
fi
exit "$status"
