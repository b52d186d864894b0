#!/usr/bin/env bash
# Proves the OpenAPI document usable, not only served: validates it with
# openapi-spec-validator, generates a Python client from it with
# openapi-python-client (both from PyPI), and drives a running daemon
# through that client: health, figures, measurements, and a webhook
# created, listed and deleted with an admin token.
#
# Usage: .ci/openapi-client.sh [SMILEYD_BINARY]
#   Without an argument, builds target/debug/smileyd first.
# Listens on 127.0.0.1 only; about 20 s once the packages are installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CI_NAME=openapi-client
CI_VERDICT="openapi-client: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

ensure_packages curl:curl python3:python3
if ! command -v openapi-spec-validator >/dev/null 2>&1 || ! command -v openapi-python-client >/dev/null 2>&1; then
    log "installing openapi-spec-validator and openapi-python-client from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check \
        'openapi-spec-validator>=0.7,<0.8' 'openapi-python-client>=0.21,<0.27'
fi

bin="$(smileyd_binary "${1:-}")"
WORK=$(mktemp -d /tmp/smileyd-openapi-client.XXXXXX)
pid=
cleanup() {
    local rc=$?
    stop_pid "$pid"
    remove_work "$rc"
    exit "$rc"
}
trap cleanup EXIT

http=$(free_port)
sip=$(free_port "$http")
# A free RTP range (another daemon on this machine may hold a fixed one).
rtp="$(free_port media 41200 101)"
mkdir -p "$WORK/recordings"
cat >"$WORK/smileyd.toml" <<TOML
sip_listen = "127.0.0.1:$sip"
http_listen = "127.0.0.1:$http"
database_url = "sqlite://$WORK/smileyd.db"
prompts_dir = "$ROOT/prompts"
recordings_dir = "$WORK/recordings"
custom_prompts_dir = "$WORK/prompts-custom"
journal_path = "$WORK/smileyd.journal"
rtp_ports = "$rtp-$((rtp + 100))"
TOML
token=$("$bin" --config "$WORK/smileyd.toml" token create --scope admin --name openapi-client 2>/dev/null)
"$bin" --config "$WORK/smileyd.toml" >"$WORK/smileyd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$http/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o "$WORK/openapi.json" "http://127.0.0.1:$http/api/openapi.json"

if openapi-spec-validator "$WORK/openapi.json" >"$WORK/validator.out" 2>&1; then
    pass "the document passes openapi-spec-validator"
else
    fail "openapi-spec-validator: $(tail -n 20 "$WORK/validator.out")"
fi

if (cd "$WORK" && openapi-python-client generate --path openapi.json --output-path client --meta none) \
    >"$WORK/generate.out" 2>&1; then
    pass "openapi-python-client generated a client"
else
    fail "openapi-python-client: $(tail -n 20 "$WORK/generate.out")"
    exit 1
fi

# The generated package (--meta none: the package itself in client/).
cat >"$WORK/use_client.py" <<'PY'
import importlib, pkgutil, sys
import client as pkg
import client.api as api
from client import AuthenticatedClient
from client.models import NewWebhookJson

base, token = sys.argv[1:]
def op(name):
    for m in pkgutil.walk_packages(api.__path__, api.__name__ + "."):
        if m.name.rsplit(".", 1)[-1] == name:
            return importlib.import_module(m.name)
    raise SystemExit(f"no operation {name} in the generated client")

c = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
problems = []
def want(what, got, expected):
    if got != expected:
        problems.append(f"{what}: {got!r}, expected {expected!r}")

r = op("healthz").sync_detailed(client=c)
want("healthz status", r.status_code, 200)
sat = op("get_satisfaction").sync(client=c, survey="smiley")
want("satisfaction total", getattr(sat, "total", None), 0)
want("satisfaction survey", getattr(sat, "survey", None), "smiley")
resp = op("get_responses").sync(client=c)
want("responses offered", getattr(resp, "offered", None), 0)
ms = op("list_measurements").sync(client=c, limit=10)
want("measurements", list(getattr(ms, "items", None) or []), [])
hook = op("create_webhook").sync(client=c, body=NewWebhookJson(url="https://crm-hooks.example.net/hooks/smileyd", secret="0123456789abcdef-secret"))
hook_id = getattr(hook, "id", None)
if not hook_id:
    problems.append(f"create_webhook gave {hook!r}")
listed = op("list_webhooks").sync(client=c)
want("webhooks listed", [h.id for h in getattr(listed, "items", [])], [hook_id])
r = op("delete_webhook").sync_detailed(client=c, id=str(hook_id))
want("delete_webhook status", r.status_code, 204)
listed = op("list_webhooks").sync(client=c)
want("webhooks after delete", [h.id for h in getattr(listed, "items", []) if h.active], [])
print("; ".join(problems) if problems else "ok")
PY
verdict="$(cd "$WORK" && PYTHONPATH="$WORK" python3 use_client.py "http://127.0.0.1:$http" "$token" 2>&1 || true)"
if [[ "$verdict" == ok ]]; then
    pass "the generated client read figures and measurements and created, listed and deleted a webhook"
else
    fail "the generated client: $verdict"
fi
if ((FAIL)); then
    echo "--- smileyd log (last 30 lines) ---"
    tail -n 30 "$WORK/smileyd.log"
fi
echo "openapi-client: $PASS passed, $FAIL failed"
[[ "$FAIL" == 0 ]]
