"""Sign-in, second factor, lockout, tokens and who-am-I (DESIGN §8, §9)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gridapp.accounts.models import RefreshToken, User
from gridapp.core.extensions import db
from gridapp.core.security import issue_access_token
from gridapp.seed import demo
from tests.gridapp.conftest import (
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    MFA_USERS,
    problem_of,
    totp_code,
    wrong_totp_code,
)

LOGIN = "/api/v1/auth/login"


def sign_in(client: Any, username: str, password: str = DEMO_PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_user(username: str) -> User:
    session = db.session()
    session.expire_all()
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def set_locked_until(username: str, when: datetime | None) -> None:
    with db.transaction() as session:
        session.execute(update(User).where(User.username == username).values(locked_until=when))


# -- sign-in -----------------------------------------------------------------------------------


def test_demo_secrets_are_the_contract():
    assert demo.DEMO_PASSWORD == DEMO_PASSWORD
    assert demo.DEMO_TOTP_SECRET == DEMO_TOTP_SECRET


def test_totp_helper_matches_rfc_6238():
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890" at T = 59 s: 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp_code(secret, at=59, digits=8) == "94287082"
    assert totp_code(secret, at=1111111109, digits=8) == "07081804"


@pytest.mark.parametrize(
    ("shift", "accepted"), [(-30, True), (30, True), (-60, False), (90, False)]
)
def test_otp_window_is_one_step_either_side(shift, accepted):
    """Phone clocks drift: the code of 30 s ago or ahead still counts, older ones do not."""
    from gridapp.core.security import verify_totp

    moment = 1_800_000_015.0  # the middle of a 30 s step
    code = totp_code(DEMO_TOTP_SECRET, moment + shift)

    assert verify_totp(DEMO_TOTP_SECRET, code, at=moment) is accepted
    assert verify_totp(DEMO_TOTP_SECRET, totp_code(DEMO_TOTP_SECRET, moment), at=moment)


def test_otp_from_long_ago_is_refused(client):
    old = totp_code(DEMO_TOTP_SECRET, time.time() - 600)
    if old in {totp_code(DEMO_TOTP_SECRET, time.time() + s) for s in (-60, -30, 0, 30, 60)}:
        old = wrong_totp_code()

    problem_of(sign_in(client, "dispatcher", otp=old), 401)


def test_grid_worker_signs_in_with_password_alone(client):
    response = sign_in(client, "grid_worker")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    user = body["user"]
    assert {"id", "username", "role", "department", "grids", "district"} <= set(user)
    assert user["username"] == "grid_worker"
    assert user["role"] == "grid_worker"
    assert user["department"] is None
    assert user["district"] == "430423"
    assert user["grids"], "a demo grid worker has grids"
    assert "password" not in user and "password_hash" not in user


@pytest.mark.parametrize("username", MFA_USERS)
def test_command_center_roles_without_otp_get_mfa_required(client, username):
    response = sign_in(client, username)

    body = problem_of(response, 401)
    assert body["mfa_required"] is True
    assert "access_token" not in body and "refresh_token" not in body


@pytest.mark.parametrize("username", MFA_USERS)
def test_command_center_roles_with_wrong_otp_get_mfa_required(client, username):
    response = sign_in(client, username, otp=wrong_totp_code())

    body = problem_of(response, 401)
    assert body["mfa_required"] is True
    assert "access_token" not in body


@pytest.mark.parametrize("username", MFA_USERS)
def test_command_center_roles_with_right_otp_sign_in(client, username):
    response = sign_in(client, username, otp=totp_code(DEMO_TOTP_SECRET))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["access_token"] and body["refresh_token"]
    # The governance centres' staff are dispatchers at their level.
    assert body["user"]["role"] == {
        "community_center": "dispatcher",
        "street_center": "dispatcher",
    }.get(username, username)


def test_wrong_otp_counts_as_a_failed_sign_in(client):
    sign_in(client, "dispatcher", otp=wrong_totp_code())

    assert stored_user("dispatcher").failed_logins == 1


def test_handler_signs_in_without_a_second_factor(client):
    response = sign_in(client, "handler")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["department"] == "urban-enforcement"


def test_wrong_password_is_refused(client):
    body = problem_of(sign_in(client, "grid_worker", "not-the-password"), 401)

    assert "access_token" not in body
    assert "mfa_required" not in body


def test_wrong_password_of_an_mfa_role_does_not_ask_for_the_otp(client):
    body = problem_of(sign_in(client, "admin", "not-the-password"), 401)

    assert "mfa_required" not in body


def test_unknown_user_is_refused_like_a_wrong_password(client):
    unknown = problem_of(sign_in(client, "nobody-here"), 401)
    wrong = problem_of(sign_in(client, "grid_worker", "not-the-password"), 401)

    assert unknown["detail"] == wrong["detail"]


def test_inactive_user_is_refused(client):
    with db.transaction() as session:
        session.execute(update(User).where(User.username == "grid_worker").values(active=False))

    problem_of(sign_in(client, "grid_worker"), 401)


def from_address(client: Any, address: str) -> Any:
    """Make the test client call from another source address."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_account_locks_after_failures_from_many_sources(client):
    for n in range(10):
        from_address(client, f"192.0.2.{n + 1}")
        problem_of(sign_in(client, "grid_worker", "not-the-password"), 401)

    locked = stored_user("grid_worker").locked_until
    assert locked is not None and locked > datetime.now(UTC)

    # Even the right password is refused while the account is locked, with the same answer
    # as a wrong password (no "locked" oracle).
    from_address(client, "192.0.2.200")
    body = problem_of(sign_in(client, "grid_worker"), 401)
    wrong = problem_of(sign_in(client, "grid_worker2", "not-the-password"), 401)
    assert body == wrong
    assert "locked_until" not in body

    set_locked_until("grid_worker", datetime.now(UTC) - timedelta(seconds=1))
    response = sign_in(client, "grid_worker")
    assert response.status_code == 200, response.get_json()
    assert stored_user("grid_worker").locked_until is None


def test_account_lock_doubles_with_each_further_failure(app, client):
    config = app.config["GRIDAPP"]
    waits = []
    for n in range(config.max_failed_logins + 2):
        set_locked_until("grid_worker", None)
        from_address(client, f"192.0.2.{n + 1}")
        before = datetime.now(UTC)
        sign_in(client, "grid_worker", "not-the-password")
        locked = stored_user("grid_worker").locked_until
        waits.append(None if locked is None else (locked - before).total_seconds())

    assert waits[: config.max_failed_logins - 1] == [None] * (config.max_failed_logins - 1)
    first, second, third = waits[-3:]
    assert first is not None and second is not None and third is not None
    assert first == pytest.approx(config.lockout_base_seconds, abs=5)
    assert second == pytest.approx(2 * config.lockout_base_seconds, abs=5)
    assert third == pytest.approx(4 * config.lockout_base_seconds, abs=5)


def test_four_failures_do_not_lock(client):
    for _ in range(4):
        problem_of(sign_in(client, "grid_worker", "not-the-password"), 401)

    response = sign_in(client, "grid_worker")

    assert response.status_code == 200, response.get_json()
    assert stored_user("grid_worker").failed_logins == 0


def test_five_bogus_sign_ins_do_not_lock_the_dispatcher_out(client):
    """One source guessing slows that source down, not the account for everyone (issue 10.5)."""
    from_address(client, "198.51.100.7")
    for _ in range(5):
        problem_of(sign_in(client, "dispatcher", "not-the-password"), 401)

    assert stored_user("dispatcher").locked_until is None
    from_address(client, "198.51.100.8")
    response = sign_in(client, "dispatcher", otp=totp_code(DEMO_TOTP_SECRET))
    assert response.status_code == 200, response.get_json()


def test_a_guessing_source_waits_even_with_the_right_password(client):
    from_address(client, "198.51.100.9")
    for _ in range(5):
        sign_in(client, "grid_worker", "not-the-password")

    refused = problem_of(sign_in(client, "grid_worker2"), 401)
    wrong = problem_of(sign_in(client, "grid_worker2", "not-the-password"), 401)

    assert refused == wrong
    from_address(client, "198.51.100.10")
    assert sign_in(client, "grid_worker2").status_code == 200


@pytest.mark.parametrize(
    "case",
    ["unknown", "wrong_password", "locked", "disabled", "source_waiting"],
)
def test_every_refusal_answers_alike(client, case):
    """Unknown, wrong, locked, disabled, waiting: one status and one body (no oracle)."""
    from_address(client, "203.0.113.1")
    reference = sign_in(client, "nobody-at-all", "not-the-password")
    from_address(client, "203.0.113.2")
    username, password = "grid_worker", DEMO_PASSWORD
    if case == "unknown":
        username = "nobody-here"
    elif case == "wrong_password":
        password = "not-the-password"
    elif case == "locked":
        set_locked_until("grid_worker", datetime.now(UTC) + timedelta(minutes=5))
    elif case == "disabled":
        with db.transaction() as session:
            session.execute(update(User).where(User.username == username).values(active=False))
    elif case == "source_waiting":
        for _ in range(5):
            sign_in(client, "nobody-else", "not-the-password")

    response = sign_in(client, username, password)

    assert response.status_code == reference.status_code == 401
    assert response.get_json() == reference.get_json()
    assert response.headers.get("Content-Type") == reference.headers.get("Content-Type")


def test_a_password_longer_than_128_characters_is_never_hashed(client):
    response = sign_in(client, "grid_worker", "x" * 100_000)

    problem_of(response, 422)


# -- who am I ----------------------------------------------------------------------------------


def test_me_with_token(client, auth):
    response = client.get("/api/v1/auth/me", headers=auth("grid_worker"))

    assert response.status_code == 200, response.get_json()
    me = response.get_json()
    assert me["username"] == "grid_worker"
    assert me["role"] == "grid_worker"
    assert me["department"] is None
    assert me["district"] == "430423"
    assert isinstance(me["id"], int)
    assert me["grids"]
    for code in me["grids"]:
        assert len(code) == 15 and code.isdigit(), code
        assert code.startswith("430423100"), code


def test_grid_workers_have_different_grids(client, auth):
    first = client.get("/api/v1/auth/me", headers=auth("grid_worker")).get_json()["grids"]
    second = client.get("/api/v1/auth/me", headers=auth("grid_worker2")).get_json()["grids"]

    assert second
    assert not set(first) & set(second)


@pytest.mark.parametrize(
    ("username", "department"),
    [("handler", "urban-enforcement"), ("handler2", "sanitation")],
)
def test_handlers_belong_to_their_departments(client, auth, username, department):
    me = client.get("/api/v1/auth/me", headers=auth(username)).get_json()

    assert me["role"] == "handler"
    assert me["department"] == department
    assert me["grids"] == []


def test_me_without_token(client):
    body = problem_of(client.get("/api/v1/auth/me"), 401)

    assert "Bearer" in body["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Bearer ", "Basic Z3JpZF93b3JrZXI6eA==", "Bearer a.b.c"],
)
def test_me_with_garbage_token(client, header):
    problem_of(client.get("/api/v1/auth/me", headers={"Authorization": header}), 401)


def test_me_with_expired_token(app, client):
    user = stored_user("grid_worker")
    token, expires = issue_access_token(
        user.id, user.role, app.config["GRIDAPP"].secret_key, minutes=-1, session_id="s"
    )
    assert expires < datetime.now(UTC)

    body = problem_of(client.get("/api/v1/auth/me", headers=bearer(token)), 401)

    assert "expired" in body["detail"]


def test_me_with_token_signed_by_another_key(client):
    user = stored_user("grid_worker")
    token, _ = issue_access_token(
        user.id, user.role, "another-secret-" + "x" * 32, minutes=5, session_id="s"
    )

    problem_of(client.get("/api/v1/auth/me", headers=bearer(token)), 401)


def test_refresh_token_is_not_an_access_token(client):
    tokens = sign_in(client, "grid_worker").get_json()

    problem_of(client.get("/api/v1/auth/me", headers=bearer(tokens["refresh_token"])), 401)


# -- refresh and sign-out ----------------------------------------------------------------------


def refresh(client: Any, token: str) -> Any:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_gives_a_new_pair(client):
    first = sign_in(client, "grid_worker").get_json()

    response = refresh(client, first["refresh_token"])

    assert response.status_code == 200, response.get_json()
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["username"] == "grid_worker"
    me = client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["username"] == "grid_worker"


def test_refresh_rotation_chain(client):
    token = sign_in(client, "grid_worker").get_json()["refresh_token"]
    for _ in range(3):
        response = refresh(client, token)
        assert response.status_code == 200, response.get_json()
        token = response.get_json()["refresh_token"]


def test_reusing_a_refresh_token_revokes_the_family(client):
    first = sign_in(client, "grid_worker").get_json()
    second = refresh(client, first["refresh_token"]).get_json()

    body = problem_of(refresh(client, first["refresh_token"]), 401)
    assert "access_token" not in body

    # The thief's (or the owner's) newer token stops working too: sign in again.
    problem_of(refresh(client, second["refresh_token"]), 401)
    family = db.session().scalars(select(RefreshToken.revoked_at)).all()
    assert family and all(revoked is not None for revoked in family)


def test_family_revocation_leaves_other_sessions_alone(client):
    phone = sign_in(client, "grid_worker").get_json()
    desk = sign_in(client, "grid_worker").get_json()
    rotated = refresh(client, phone["refresh_token"]).get_json()
    problem_of(refresh(client, phone["refresh_token"]), 401)

    problem_of(refresh(client, rotated["refresh_token"]), 401)
    assert refresh(client, desk["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_refused(client):
    problem_of(refresh(client, "not-a-refresh-token"), 401)


def test_expired_refresh_token_is_refused(client):
    tokens = sign_in(client, "grid_worker").get_json()
    with db.transaction() as session:
        session.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    problem_of(refresh(client, tokens["refresh_token"]), 401)


def test_logout_revokes_the_refresh_token(client):
    tokens = sign_in(client, "grid_worker").get_json()

    response = client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )

    assert response.status_code == 204, response.get_data(as_text=True)
    problem_of(refresh(client, tokens["refresh_token"]), 401)


def test_logout_revokes_the_rotated_family(client):
    first = sign_in(client, "grid_worker").get_json()
    second = refresh(client, first["refresh_token"]).get_json()

    client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": first["refresh_token"]},
        headers=bearer(second["access_token"]),
    )

    problem_of(refresh(client, second["refresh_token"]), 401)


def test_logout_needs_a_token(client):
    tokens = sign_in(client, "grid_worker").get_json()

    problem_of(
        client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}), 401
    )

    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_logout_cannot_revoke_another_users_token(client):
    mine = sign_in(client, "grid_worker").get_json()
    theirs = sign_in(client, "grid_worker2").get_json()

    client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": theirs["refresh_token"]},
        headers=bearer(mine["access_token"]),
    )

    assert refresh(client, theirs["refresh_token"]).status_code == 200
