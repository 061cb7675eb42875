"""The read replica (READ_DATABASE_URL): which views read from it, and that nothing writes there.

The "replica" is the test database itself reached so that it cannot write: on PostgreSQL through
a login role with SELECT only and ``default_transaction_read_only`` (a standby refuses writes the
same way), on SQLite the same file opened read-only. It sees what is committed (the seeded
county) and not the test's own transaction, as a lagging replica would not yet: so an answer
shows which database it came from.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gridapp.accounts.models import User
from gridapp.core.extensions import db
from tests.conftest import BACKEND
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.tiles.test_tiles import tile_of

PERIOD = "from=2025-03-10&to=2025-03-12"
DEPT = "sanitation"


@pytest.fixture(scope="module")
def replica_url(app: Any, run_id: str) -> Iterator[str]:
    url = make_url(app.config["GRIDAPP"].database_url)
    if BACKEND == "sqlite":
        yield f"sqlite:///file:{url.database}?mode=ro&uri=true"
        return
    import psycopg

    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    reader = f"gridapp_reader_{run_id}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{reader}" LOGIN')
        conn.execute(f'ALTER ROLE "{reader}" SET default_transaction_read_only = on')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{reader}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"')
    yield url.set(username=reader).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{reader}"')
        conn.execute(f'DROP ROLE "{reader}"')


class Statements:
    """Counts the statements an engine runs."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


@pytest.fixture()
def replica(app: Any, replica_url: str) -> Iterator[Statements]:
    """Route the declared views to the replica for one test; count its statements."""
    db.init_replica(replica_url, max_lag_seconds=30.0)
    assert db.read_engine is not None
    counter = Statements()
    event.listen(db.read_engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        db.init_replica(None)


@pytest.fixture()
def fresh_case(client: Any, auth: Any) -> dict[str, Any]:
    """A case reported in this test's transaction: on the primary only, never committed."""
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    response = report(client, worker, lon, lat)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def listed_ids(client: Any, headers: dict[str, str]) -> set[int]:
    response = client.get("/api/v1/cases?limit=200&total=true", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["items"]}


def test_without_the_setting_reads_stay_on_the_primary(app, client, auth, fresh_case):
    assert db.read_engine is None
    with app.app_context(), db.read_session() as reading:
        assert reading is db.session()
    # The desk list sees the case just reported in this transaction: nothing changed.
    assert fresh_case["id"] in listed_ids(client, auth("acceptor"))


def test_the_desk_list_reads_the_replica(client, auth, fresh_case, replica):
    acceptor = auth("acceptor")
    replica.count = 0
    ids = listed_ids(client, acceptor)
    # Answered from the replica, which has not seen the uncommitted report (as a lagging one
    # would not yet): the list and its count ran there.
    assert fresh_case["id"] not in ids
    assert replica.count >= 2


def test_the_phone_and_the_case_itself_read_the_primary(client, auth, fresh_case, replica):
    """Read-your-writes: the phone's sync shows its own report at once, and a case's ETag
    (the If-Match of the next action) is never stale."""
    worker = auth("grid_worker")
    replica.count = 0
    sync = client.get("/api/v1/mobile/sync", headers=worker)
    assert sync.status_code == 200, sync.get_json()
    assert fresh_case["id"] in {item["id"] for item in sync.get_json()["cases"]}
    detail = client.get(f"/api/v1/cases/{fresh_case['id']}", headers=auth("acceptor"))
    assert detail.status_code == 200
    assert detail.headers["ETag"] == f'"{fresh_case["version"]}"'
    assert replica.count == 0


def routed_paths(client: Any, auth: Any) -> list[tuple[str, str]]:
    worker = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=worker).get_json()["grids"][0]
    lon, lat = grid_point(client, worker, grid)
    x, y, _px, _py = tile_of(lon, lat, 14)
    return [
        ("acceptor", "/api/v1/cases?total=true"),
        ("supervisor", f"/api/v1/dashboard?{PERIOD}"),
        ("supervisor", f"/api/v1/hotspots?{PERIOD}"),
        ("supervisor", f"/api/v1/evaluation/departments?{PERIOD}"),
        ("supervisor", f"/api/v1/evaluation/areas?{PERIOD}&level=street"),
        ("supervisor", f"/api/v1/evaluation/departments?{PERIOD}&format=csv"),
        ("supervisor", f"/api/v1/evaluation/departments?{PERIOD}&subject={DEPT}&explain=rework"),
        ("grid_worker", f"/api/v1/tiles/areas/14/{x}/{y}.mvt"),
        ("acceptor", f"/api/v1/tiles/cases/14/{x}/{y}.mvt"),
        ("grid_worker", "/api/v1/areas?level=street"),
        ("grid_worker", f"/api/v1/areas/{grid}?format=geojson"),
        ("grid_worker", f"/api/v1/areas/{grid}"),
    ]


def test_every_routed_view_answers_through_the_read_only_replica(client, auth, replica):
    """Each answers 200 with its reads on a database that refuses writes: none of them writes
    (one that did would fail here), and each really ran its queries there."""
    # One sign-in per role: a supervisor's one-time TOTP code makes a second sign-in wait for
    # the next 30-second step.
    signed_in: dict[str, Any] = {}
    for user, path in routed_paths(client, auth):
        if user not in signed_in:
            signed_in[user] = auth(user)
        headers = signed_in[user]
        replica.count = 0
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:500])
        assert replica.count >= 1, path


def test_writes_never_reach_the_replica(client, auth, replica):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    replica.count = 0
    response = report(client, worker, lon, lat)
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    acceptor = auth("acceptor")
    acted = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={},
        headers={**acceptor, "If-Match": f'"{case["version"]}"'},
    )
    assert acted.status_code == 200, acted.get_json()
    assert replica.count == 0


def test_the_replica_refuses_a_write(app, replica):
    """A view declared for the replica that wrote would fail rather than write somewhere."""
    with app.app_context():
        with db.read_session() as reading:
            assert reading is db.session()
            assert reading.get_bind() is db.read_engine
            with pytest.raises(DBAPIError):
                reading.execute(update(User).where(User.username == "admin").values(active=True))
        db.remove()


def test_the_replica_session_is_given_back_after_the_block(app, replica):
    with app.app_context():
        primary = db.session()
        with db.read_session() as reading:
            assert reading is not primary
        assert db.session() is primary
        db.remove()


def test_what_a_view_read_on_the_replica_still_loads_there_after_it_returns(app, replica):
    """The answer is serialised after the view: its objects' lazy loads use the replica's
    session, which stays open until the end of the request."""
    from sqlalchemy import select

    with app.app_context():
        with db.read_session() as reading:
            worker = reading.scalar(select(User).where(User.username == "grid_worker"))
        assert worker is not None
        replica.count = 0
        assert [grid.grid_code for grid in worker.grids]
        assert replica.count == 1
        db.remove()


@pytest.mark.skipif(BACKEND != "postgres", reason="the replica's own role is PostgreSQL's")
def test_the_replica_is_reached_as_its_read_only_role(app, replica, replica_url):
    with app.app_context():
        with db.read_session() as reading:
            assert reading.scalar(text("SELECT current_user")) == make_url(replica_url).username
            assert reading.scalar(text("SHOW transaction_read_only")) == "on"
        db.remove()


@pytest.mark.skipif(BACKEND != "postgres", reason="replication lag is PostgreSQL's")
def test_an_unreachable_replica_leaves_reads_on_the_primary(app, client, auth, fresh_case):
    url = make_url(app.config["GRIDAPP"].database_url)
    missing = url.set(database=f"gridapp_no_such_db_{secrets.token_hex(4)}")
    db.init_replica(missing.render_as_string(hide_password=False), max_lag_seconds=30.0)
    try:
        assert fresh_case["id"] in listed_ids(client, auth("acceptor"))
    finally:
        db.init_replica(None)


@pytest.fixture()
def lagging_replica(app: Any, replica_url: str) -> Iterator[str]:
    """The replica role's connections find standby functions reporting an hour of lag.

    PostgreSQL tests cannot run a real standby; functions of the same names, earlier in the
    replica connection's search_path than pg_catalog, answer as a standby an hour behind would.
    """
    import psycopg

    url = make_url(app.config["GRIDAPP"].database_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"standby_{secrets.token_hex(4)}"
    reader = make_url(replica_url).username
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(
            f'CREATE FUNCTION "{schema}".pg_is_in_recovery() RETURNS boolean '
            "LANGUAGE sql AS 'SELECT true'"
        )
        conn.execute(
            f'CREATE FUNCTION "{schema}".pg_last_wal_receive_lsn() RETURNS pg_lsn '
            "LANGUAGE sql AS $$SELECT '0/2000'::pg_lsn$$"
        )
        conn.execute(
            f'CREATE FUNCTION "{schema}".pg_last_wal_replay_lsn() RETURNS pg_lsn '
            "LANGUAGE sql AS $$SELECT '0/1000'::pg_lsn$$"
        )
        conn.execute(
            f'CREATE FUNCTION "{schema}".pg_last_xact_replay_timestamp() RETURNS timestamptz '
            "LANGUAGE sql AS $$SELECT now() - interval '1 hour'$$"
        )
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{reader}"')
    lagging = make_url(replica_url).update_query_dict(
        {"options": f"-c search_path={schema},pg_catalog,public"}
    )
    try:
        yield lagging.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.skipif(BACKEND != "postgres", reason="replication lag is PostgreSQL's")
def test_a_replica_too_far_behind_leaves_reads_on_the_primary(
    app, client, auth, fresh_case, lagging_replica
):
    acceptor = auth("acceptor")
    db.init_replica(lagging_replica, max_lag_seconds=30.0)
    try:
        assert not db.replica_usable()
        assert fresh_case["id"] in listed_ids(client, acceptor)
        # Without a maximum lag, the same replica answers (and misses the uncommitted case).
        db.init_replica(lagging_replica, max_lag_seconds=None)
        assert db.replica_usable()
        assert fresh_case["id"] not in listed_ids(client, acceptor)
    finally:
        db.init_replica(None)


def test_the_settings_are_read_from_the_environment(tmp_path):
    from gridapp.core.config import Config
    from gridapp.core.errors import ConfigurationError

    unset = Config.from_env({}, var_dir=tmp_path)
    assert unset.read_database_url is None
    assert unset.read_database_max_lag_seconds == 30.0
    config = Config.from_env(
        {
            "READ_DATABASE_URL": "postgresql://gridapp_reader@db-2/gridapp",
            "READ_DATABASE_MAX_LAG_SECONDS": "5.5",
        },
        var_dir=tmp_path,
    )
    assert config.read_database_url == "postgresql://gridapp_reader@db-2/gridapp"
    assert config.read_database_max_lag_seconds == 5.5
    off = Config.from_env({"READ_DATABASE_MAX_LAG_SECONDS": "off"}, var_dir=tmp_path)
    assert off.read_database_max_lag_seconds is None
    for wrong in ("soon", "-1"):
        with pytest.raises(ConfigurationError, match="READ_DATABASE_MAX_LAG_SECONDS"):
            Config.from_env({"READ_DATABASE_MAX_LAG_SECONDS": wrong}, var_dir=tmp_path)
