"""The signed-in user from a per-process copy, checked by the user's version in Redis.

Each change to a user moves their version on and publishes it after the commit; every request
compares the published version with its process's copy. These tests warm the copy first, then
change the user without ending their sessions, so only the version can refuse or correct the
next request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from gridapp.accounts.models import User, UserGrid
from gridapp.accounts.principals import UserCopies, principal_state, version_key
from gridapp.accounts.services import create_user, update_user
from gridapp.core.extensions import db, redis
from gridapp.core.queue import RedisProvider
from tests.gridapp.conftest import login_headers, problem_of

ME = "/api/v1/auth/me"
USERS = "/api/v1/admin/users"
READS_USER = re.compile(r'FROM "?user"?(\s|$)', re.IGNORECASE)


def stored(username: str) -> User:
    """Read a user in a session of its own (the requests' next session holds nothing)."""
    user = db.session().scalar(select(User).where(User.username == username))
    assert user is not None
    db.session.remove()
    return user


def change(username: str, **values: Any) -> User:
    """Change a user through the ORM and commit, as any write path does; nothing else."""
    session = db.session()
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    for name, value in values.items():
        setattr(user, name, value)
    session.commit()
    db.session.remove()
    return user


def published(user_id: int) -> str | None:
    value = redis.connection.get(version_key(user_id))
    return None if value is None else value.decode()


@pytest.fixture()
def security(client: Any) -> dict[str, str]:
    return login_headers(client, "security_admin")


def test_the_next_request_reads_no_user_row(client, statements):
    headers = login_headers(client, "dispatcher")
    assert client.get(ME, headers=headers).status_code == 200  # reads the row, copies it
    # A request of its own session, as in production (a test's requests share the test's).
    db.session.remove()

    statements.clear()
    answer = client.get(ME, headers=headers)

    assert answer.status_code == 200 and answer.get_json()["username"] == "dispatcher"
    assert not [s for s in statements if READS_USER.search(s)], statements


def test_the_published_version_is_the_stored_one(client):
    headers = login_headers(client, "handler")
    client.get(ME, headers=headers)
    user = stored("handler")

    assert published(user.id) == user.version


@pytest.mark.parametrize(
    ("username", "changes", "field", "expected"),
    [
        ("handler", {"department": "sanitation"}, "department", "sanitation"),
        ("grid_worker", {"grids": []}, "grids", []),
        ("acceptor", {"district": None}, "district", None),
        ("handler2", {"display_name": "新名字"}, "display_name", "新名字"),
    ],
)
def test_a_changed_scope_shows_in_the_next_request(
    client, security, username, changes, field, expected
):
    headers = login_headers(client, username)
    before = client.get(ME, headers=headers).get_json()
    assert before[field] != expected
    user_id = stored(username).id

    changed = client.patch(f"{USERS}/{user_id}", json=changes, headers=security)

    assert changed.status_code == 200, changed.get_json()
    # The same access token: the session lives on, the principal is read afresh.
    assert client.get(ME, headers=headers).get_json()[field] == expected


def test_a_disabled_user_is_refused_at_the_next_request(client):
    headers = login_headers(client, "handler")
    assert client.get(ME, headers=headers).status_code == 200
    old = stored("handler").version

    user = change("handler", active=False)  # no session revoked: only the version tells

    assert user.version != old and published(user.id) == user.version
    problem_of(client.get(ME, headers=headers), 401)


def test_a_new_role_takes_effect_at_the_next_request(client):
    headers = login_headers(client, "handler")
    assert client.get("/api/v1/mobile/tasks", headers=headers).status_code == 403

    change("handler", role="grid_worker", department_code=None)

    assert client.get("/api/v1/mobile/tasks", headers=headers).status_code == 200


def test_an_assigned_grid_moves_the_version(client):
    headers = login_headers(client, "grid_worker2")
    grids = client.get(ME, headers=headers).get_json()["grids"]
    user = stored("grid_worker2")
    session = db.session()
    mine = session.get(UserGrid, (user.id, grids[0]))

    session.delete(mine)  # the row alone, not through the user's collection
    session.commit()
    db.session.remove()

    assert published(user.id) == stored("grid_worker2").version != user.version
    assert client.get(ME, headers=headers).get_json()["grids"] == grids[1:]


def test_every_write_path_moves_the_version(app, session):
    config = app.config["GRIDAPP"]
    user = create_user(
        session,
        username="versioned",
        password="a long password 1",
        role="handler",
        department="sanitation",
    )
    first = user.version
    actor = session.scalar(select(User).where(User.username == "security_admin"))
    seen = {first}
    for changes in (
        {"department": "urban-enforcement"},
        {"district": "430423"},
        {"display_name": "another"},
        {"role": "dept_admin"},
        {"active": False},
        {"active": True},
    ):
        update_user(session, config, actor, user.id, changes)
        session.flush()
        assert user.version not in seen, changes
        seen.add(user.version)
    user.password_hash = "changed"
    session.flush()
    assert user.version not in seen


def test_a_sign_in_that_changes_nothing_keeps_the_version(client):
    login_headers(client, "handler")
    version = stored("handler").version

    login_headers(client, "handler")

    db.session().expire_all()
    assert stored("handler").version == version


def test_a_copy_in_another_process_is_dropped(client):
    """Another process's copy is checked against Redis alone: nothing here tells it."""
    other = UserCopies()
    user_id = stored("handler2").id
    state = principal_state("any-session", user_id)
    assert state is not None
    assert other.user(db.session(), user_id, state.version) is not None
    db.session.remove()

    user = change("handler2", department_code="urban-enforcement")

    state = principal_state("any-session", user_id)
    assert state is not None and state.version == user.version
    found = other.user(db.session(), user_id, state.version)
    assert found is not None and found.department_code == "urban-enforcement"


def test_a_revoked_session_ends_at_the_next_request(client, security):
    tokens = client.post(
        "/api/v1/auth/login", json={"username": "handler", "password": "demo-pass-2026"}
    ).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(ME, headers=headers).status_code == 200
    sid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]

    assert client.delete(f"/api/v1/admin/sessions/{sid}", headers=security).status_code == 204

    problem_of(client.get(ME, headers=headers), 401)


class UnreachableRedis:
    """A Redis client whose every command fails as an unreachable server's would."""

    def __getattr__(self, _name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise RedisConnectionError("unreachable")

        return fail


@pytest.fixture()
def redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RedisProvider, "connection", property(lambda _self: UnreachableRedis()))


def test_without_redis_the_database_answers(client, statements, monkeypatch):
    headers = login_headers(client, "handler")
    assert client.get(ME, headers=headers).status_code == 200
    monkeypatch.setattr(RedisProvider, "connection", property(lambda _self: UnreachableRedis()))
    db.session.remove()

    statements.clear()
    assert client.get(ME, headers=headers).status_code == 200
    assert [s for s in statements if READS_USER.search(s)]  # read, not copied

    change("handler", active=False)  # neither unpublished nor published: Redis is down
    problem_of(client.get(ME, headers=headers), 401)


def test_without_redis_a_revoked_session_is_still_refused(client, redis_down):
    tokens = client.post(
        "/api/v1/auth/login", json={"username": "handler", "password": "demo-pass-2026"}
    ).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(ME, headers=headers).status_code == 200

    client.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )

    problem_of(client.get(ME, headers=headers), 401)


def test_a_token_is_verified_once_per_process(client, monkeypatch):
    """The rate limiter (before the view) and the principal, and every later request with the
    same token, share one verification; a refused token is verified every time."""
    from gridapp.core import security
    from tests.gridapp.case_helpers import grid_point, report

    headers = login_headers(client, "grid_worker")
    point = grid_point(client, headers, client.get(ME, headers=headers).get_json()["grids"][0])
    fresh = login_headers(client, "grid_worker")  # a token no request has sent yet
    verified: list[str] = []
    decode = security._decode

    def counted(token: str, secret: str) -> dict[str, Any]:
        verified.append(token)
        return decode(token, secret)

    monkeypatch.setattr(security, "_decode", counted)

    assert report(client, fresh, *point).status_code == 201
    assert len(verified) == 1
    assert report(client, fresh, *point).status_code == 201
    assert len(verified) == 1
    bad = {"Authorization": fresh["Authorization"] + "x"}
    problem_of(report(client, bad, *point), 401)
    assert len(verified) == 3  # a refusal is not kept: the limiter's check, then the view's


def test_a_verified_token_still_expires(client, monkeypatch):
    """A token kept as verified is refused once its `exp` has come, as PyJWT refuses it."""
    headers = login_headers(client, "grid_worker")
    assert client.get(ME, headers=headers).status_code == 200
    claims = jwt.decode(
        headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )
    monkeypatch.setattr(time, "time", lambda: float(claims["exp"]))

    body = problem_of(client.get(ME, headers=headers), 401)
    assert "expired" in body["detail"]


@pytest.fixture()
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every round trip to Redis: a command, or a pipeline of them."""
    from redis import Redis
    from redis.client import Pipeline

    sent: list[str] = []
    command: Callable[..., Any] = Redis.execute_command
    pipeline: Callable[..., Any] = Pipeline.execute

    def one(self: Any, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return command(self, *args, **options)

    def many(self: Any, *args: Any, **options: Any) -> Any:
        sent.append("pipeline: " + " ".join(str(c[0][0]) for c in self.command_stack))
        return pipeline(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", one)
    monkeypatch.setattr(Pipeline, "execute", many)
    return sent


@pytest.mark.parametrize("limited", [True, False])
def test_a_report_asks_redis_once(app, client, round_trips, limited):
    """The rate limit, the session's revocation and the user's version: one round trip."""
    import dataclasses

    from tests.gridapp.case_helpers import grid_point, report

    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(
        config,
        rate_limits_enabled=limited,
        rate_limits={**config.rate_limits, "report": "1000/minute"},
    )
    try:
        headers = login_headers(client, "grid_worker")
        point = grid_point(client, headers, client.get(ME, headers=headers).get_json()["grids"][0])
        assert report(client, headers, *point).status_code == 201  # copies the user
        db.session.remove()
        round_trips.clear()

        assert report(client, headers, *point).status_code == 201
    finally:
        app.config["GRIDAPP"] = config

    assert len(round_trips) == 1
    assert round_trips[0].startswith("pipeline: ")
    assert round_trips[0].endswith("MGET")


def test_a_revoked_session_cannot_report(client, security):
    from tests.gridapp.case_helpers import grid_point, report

    tokens = client.post(
        "/api/v1/auth/login", json={"username": "grid_worker", "password": "demo-pass-2026"}
    ).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    point = grid_point(client, headers, client.get(ME, headers=headers).get_json()["grids"][0])
    assert report(client, headers, *point).status_code == 201
    sid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]

    assert client.delete(f"/api/v1/admin/sessions/{sid}", headers=security).status_code == 204

    body = problem_of(report(client, headers, *point), 401)
    assert "session has ended" in body["detail"]


def test_without_redis_a_report_is_checked_by_the_database(client, statements, monkeypatch):
    from tests.gridapp.case_helpers import grid_point, report

    headers = login_headers(client, "grid_worker")
    point = grid_point(client, headers, client.get(ME, headers=headers).get_json()["grids"][0])
    monkeypatch.setattr(RedisProvider, "connection", property(lambda _self: UnreachableRedis()))
    db.session.remove()
    statements.clear()

    assert report(client, headers, *point).status_code == 201
    assert [s for s in statements if READS_USER.search(s)]  # read, not copied

    change("grid_worker", active=False)
    problem_of(report(client, headers, *point), 401)
