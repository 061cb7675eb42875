#!/usr/bin/env bash
# Make sure the test suite's PostgreSQL (with PostGIS) and Redis are there; install PostGIS from
# Debian when the extension is missing. It never starts or reconfigures a server by itself: it
# says how to.
set -euo pipefail
PGURL=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REDISURL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
PY=${PY:-.venv/bin/python}

pg_ok() { "$PY" - "$PGURL" <<'PYEOF'
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    with psycopg.connect(url, connect_timeout=5) as c:
        row = c.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
        sys.exit(0 if row[0] else 3)
except psycopg.OperationalError as e:
    print(e, file=sys.stderr); sys.exit(2)
PYEOF
}

set +e; pg_ok; rc=$?; set -e
if [ $rc -eq 2 ]; then
  cat >&2 <<MSG
PostgreSQL is not reachable at $PGURL.
Start it (Debian): pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start
or point TEST_DATABASE_URL at a server where the test user may create databases.
MSG
  exit 1
fi
if [ $rc -eq 3 ]; then
  pgver=$("$PY" -c "import psycopg,sys; c=psycopg.connect(sys.argv[1].replace('postgresql+psycopg://','postgresql://')); print(c.info.server_version//10000)" "$PGURL")
  pkg="postgresql-${pgver}-postgis-3"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "PostGIS is missing: installing $pkg from Debian" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  else
    echo "PostGIS is missing: install it as root with 'apt-get install $pkg'." >&2
    exit 1
  fi
  pg_ok
fi

"$PY" - "$REDISURL" <<'PYEOF'
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=5).ping()
except redis.exceptions.ConnectionError as e:
    print(f"Redis is not reachable at {sys.argv[1]}: {e}\nStart it: redis-server --daemonize yes "
          "--bind 127.0.0.1 --port 6379 --save '' --appendonly no\nor set TEST_REDIS_URL.",
          file=sys.stderr)
    sys.exit(1)
PYEOF
echo "test services: PostgreSQL with PostGIS and Redis are reachable"
