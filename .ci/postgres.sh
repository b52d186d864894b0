#!/usr/bin/env bash
# PostgreSQL for CI: makes sure a server answers on 127.0.0.1:5432 with trust
# authentication for local TCP clients, installing Debian's `postgresql`
# package and starting its cluster when needed. Idempotent: on a machine
# where the server already runs it only checks that it answers.
#
# usage: .ci/postgres.sh                 ensure installed and running
#        .ci/postgres.sh create-db [PFX]  also create a fresh empty database
#                                        named PFX_<random> (default
#                                        smileyd_ci); prints its URL
#        .ci/postgres.sh drop-db NAME    drop a database (forcing out clients)
#
# Environment: PGHOST_ADDR (default 127.0.0.1), PGPORT (default 5432),
# PGUSER (default postgres). Everything is printed to stderr except the URL
# printed by create-db, so `url=$(.ci/postgres.sh create-db)` works.
#
# The test suite against PostgreSQL:
#   .ci/postgres.sh && SMILEYD_TEST_DATABASE=postgres cargo test --tests

set -euo pipefail

HOST="${PGHOST_ADDR:-127.0.0.1}"
PORT="${PGPORT:-5432}"
USER_="${PGUSER:-postgres}"
BASE="postgres://$USER_@$HOST:$PORT"

log() { echo "[postgres] $*" >&2; }

answers() {
  command -v pg_isready >/dev/null 2>&1 &&
    pg_isready -q -h "$HOST" -p "$PORT" -U "$USER_" -t 2 >/dev/null 2>&1
}

sql() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$USER_" -d postgres -At -c "$1" </dev/null
}

install() {
  log "installing postgresql from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update </dev/null >&2
  # The package's own start attempt may fail without an init system; the
  # cluster is started below either way.
  apt-get install -y --no-install-recommends postgresql </dev/null >&2 || {
    dpkg --configure -a </dev/null >&2 || true
    apt-get install -y --no-install-recommends postgresql </dev/null >&2
  }
}

# Trust for loopback TCP clients, ahead of the packaged rules (the first
# matching line wins). Marked, so a second run adds nothing.
trust_loopback() {
  local hba="$1"
  if grep -q '# smileyd-ci: trust loopback' "$hba"; then
    return 1
  fi
  if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    return 1
  fi
  log "trusting loopback TCP clients in $hba"
  local tmp
  tmp="$(mktemp)"
  {
    echo "# smileyd-ci: trust loopback (CI machines only)"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
  return 0
}

ensure() {
  if answers && sql 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z "$(ls /etc/postgresql 2>/dev/null)" ]]; then
    install
  fi
  local ver
  ver="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if [[ ! -d "/etc/postgresql/$ver/main" ]]; then
    log "creating cluster $ver/main"
    pg_createcluster "$ver" main -p "$PORT" >&2
  fi
  local changed=0
  trust_loopback "/etc/postgresql/$ver/main/pg_hba.conf" && changed=1
  if pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
    if ((changed)); then
      pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2
    fi
  else
    log "starting cluster $ver/main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2
  fi
  for _ in $(seq 100); do
    if answers && sql 'SELECT 1' >/dev/null 2>&1; then
      log "PostgreSQL $ver answers on $HOST:$PORT"
      return 0
    fi
    sleep 0.1
  done
  log "PostgreSQL does not answer on $HOST:$PORT"
  pg_lsclusters >&2 || true
  tail -n 20 "/var/log/postgresql/postgresql-$ver-main.log" >&2 || true
  return 1
}

case "${1:-ensure}" in
  ensure)
    ensure
    ;;
  create-db)
    ensure
    prefix="${2:-smileyd_ci}"
    [[ "$prefix" =~ ^[a-z_][a-z0-9_]*$ ]] || {
      log "database prefix must be lower-case letters, digits and _"
      exit 2
    }
    name="${prefix}_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    sql "CREATE DATABASE $name" >/dev/null
    echo "$BASE/$name"
    ;;
  drop-db)
    name="${2:?drop-db needs a database name}"
    [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || {
      log "not a database name: $name"
      exit 2
    }
    if answers; then
      sql "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    else
      log "server not answering; $name not dropped"
    fi
    ;;
  *)
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
