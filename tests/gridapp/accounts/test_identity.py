"""Identity hardening (issue 10): no demo door in production, each TOTP code once, sessions that
end at once, separated duties and user administration, every sign-in in the audit trail."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from gridapp.accounts.models import ROLES, DutyRole, User
from gridapp.core.audit import AuditEntry
from gridapp.core.config import Config
from gridapp.core.errors import ConfigurationError
from gridapp.core.extensions import db
from gridapp.core.security import ACCESS_AUDIENCE, ALGORITHM, MFA_ROLES
from tests.gridapp.conftest import (
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    login_headers,
    problem_of,
    totp_code,
    unused_otp,
)

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
USERS = "/api/v1/admin/users"


def sign_in(client: Any, username: str, password: str = DEMO_PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(username: str) -> User:
    session = db.session()
    session.expire_all()
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def audit_entries(action: str) -> list[AuditEntry]:
    session = db.session()
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


@pytest.fixture()
def demo_off(app: Any) -> Iterator[None]:
    """Run the app as an instance outside demo mode that still holds the demo users."""
    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(config, demo=False)
    yield
    app.config["GRIDAPP"] = config


STRONG = secrets.token_urlsafe(48)


# -- 1. the demo door --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        {"GRIDAPP_ENV": "production", "SECRET_KEY": STRONG},  # the embedded default
        {"GRIDAPP_ENV": "production", "SECRET_KEY": STRONG, "DATABASE_URL": "postgresql://x/y"},
        {"GRIDAPP_ENV": "PRODUCTION", "SECRET_KEY": STRONG, "DEMO": "0"},
    ],
)
def test_production_is_never_in_demo_mode(environ, tmp_path):
    """`make run` seeds the demo county and its users only when config.demo is on."""
    assert Config.from_env(environ, var_dir=tmp_path).demo is False


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_production_refuses_demo_mode(value, tmp_path):
    environ = {"GRIDAPP_ENV": "production", "SECRET_KEY": STRONG, "DEMO": value}

    with pytest.raises(ConfigurationError) as caught:
        Config.from_env(environ, var_dir=tmp_path)

    assert "DEMO" in str(caught.value) and "production" in str(caught.value)


@pytest.mark.parametrize(
    "key",
    ["12345", "k" * 31, "短" * 10, secrets.token_urlsafe(16)],
    # Named, not shown: a random key's id differs between two collections of the suite, and
    # pytest-xdist's workers (`pytest -n 2`) refuse to run when theirs differ.
    ids=["digits", "31 ascii", "10 chinese", "random 22"],
)
@pytest.mark.parametrize(
    "environ",
    [{"GRIDAPP_ENV": "production"}, {"DATABASE_URL": "postgresql://x/y"}],
)
def test_production_refuses_a_short_secret_key(key, environ, tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        Config.from_env({**environ, "SECRET_KEY": key}, var_dir=tmp_path)

    assert "SECRET_KEY is too short" in str(caught.value)
    assert "32" in str(caught.value)


@pytest.mark.parametrize(
    "key",
    [
        "k" * 48,
        "change-me-change-me-change-me-change-me",
        "your-secret-key-here-please-replace-it-now",
        "this-is-the-default-secret-key-of-the-app",
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        "0101010101010101010101010101010101010101",
    ],
)
def test_production_refuses_a_known_or_placeholder_secret_key(key, tmp_path):
    with pytest.raises(ConfigurationError) as caught:
        Config.from_env({"GRIDAPP_ENV": "production", "SECRET_KEY": key}, var_dir=tmp_path)

    assert "known default or a placeholder" in str(caught.value)


def test_seed_demo_refuses_outside_demo_mode(runner, demo_off):
    result = runner.invoke(args=["seed", "demo"])

    assert result.exit_code != 0
    assert "demo mode is off" in result.output


@pytest.mark.parametrize("username", ["grid_worker", "handler", "admin", "dispatcher"])
def test_demo_users_cannot_sign_in_outside_demo_mode(client, demo_off, username):
    """An existing database keeps its demo users; the published password opens nothing."""
    response = sign_in(client, username, otp=unused_otp(username))

    body = problem_of(response, 401)
    assert "access_token" not in body
    assert body == problem_of(sign_in(client, "nobody-here", "not-a-password"), 401)


def test_published_second_factor_is_none_outside_demo_mode(client, demo_off):
    """Even with a password of its own, the demo TOTP secret does not pass outside demo mode."""
    new_password = secrets.token_urlsafe(16)
    from gridapp.core.security import hash_password

    with db.transaction() as session:
        session.execute(
            update(User)
            .where(User.username == "dispatcher")
            .values(password_hash=hash_password(new_password))
        )

    body = problem_of(
        sign_in(client, "dispatcher", new_password, otp=unused_otp("dispatcher")), 401
    )

    assert body["mfa_required"] is True


# -- 2. TOTP: each code once; enrol, confirm, disable --------------------------------------


def test_a_totp_code_is_accepted_once(client):
    code = totp_code(DEMO_TOTP_SECRET)

    assert sign_in(client, "dispatcher", otp=code).status_code == 200
    again = problem_of(sign_in(client, "dispatcher", otp=code), 401)

    assert again["mfa_required"] is True


def test_an_older_code_after_a_newer_one_is_refused(client):
    now = time.time()
    assert sign_in(client, "supervisor", otp=totp_code(DEMO_TOTP_SECRET, now)).status_code == 200

    previous = totp_code(DEMO_TOTP_SECRET, now - 30)
    problem_of(sign_in(client, "supervisor", otp=previous), 401)
    later = totp_code(DEMO_TOTP_SECRET, now + 30)
    assert sign_in(client, "supervisor", otp=later).status_code == 200


@pytest.mark.parametrize(
    "otp", ["١٢٣٤٥٦", "12345６", "²³⁴⁵⁶⁷", " 1 2 3 ", "1" * 16, "-12345", "12 345"]
)
def test_malformed_codes_are_wrong_codes(client, otp):
    body = problem_of(sign_in(client, "acceptor", otp=otp), 401)

    assert body["mfa_required"] is True


def test_the_demo_secret_is_160_bits():
    import base64

    assert len(base64.b32decode(DEMO_TOTP_SECRET)) * 8 == 160


def enrol(client: Any, headers: dict[str, str]) -> str:
    response = client.post(
        "/api/v1/auth/mfa/enrol", json={"password": DEMO_PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert len(body["secret"]) == 32
    return str(body["secret"])


def test_a_grid_worker_enrols_confirms_and_then_needs_the_code(client):
    headers = login_headers(client, "grid_worker")
    secret = enrol(client, headers)

    # Not in force until confirmed: a password still suffices.
    assert sign_in(client, "grid_worker").status_code == 200
    wrong = client.post("/api/v1/auth/mfa/confirm", json={"otp": "000000"}, headers=headers)
    if wrong.status_code != 204:  # 000000 might be the real code, one time in a million
        problem_of(wrong, 422)
    confirm = client.post(
        "/api/v1/auth/mfa/confirm", json={"otp": totp_code(secret)}, headers=headers
    )
    assert confirm.status_code == 204, confirm.get_json()

    assert problem_of(sign_in(client, "grid_worker"), 401)["mfa_required"] is True
    # The confirming code was used: the next sign-in takes a later one.
    problem_of(sign_in(client, "grid_worker", otp=totp_code(secret)), 401)
    later = sign_in(client, "grid_worker", otp=totp_code(secret, time.time() + 30))
    assert later.status_code == 200, later.get_json()
    assert [e.result for e in audit_entries("auth.mfa.confirm")][-1] == "ok"


def test_a_grid_worker_turns_the_second_factor_off(client):
    headers = login_headers(client, "grid_worker")
    secret = enrol(client, headers)
    now = time.time()
    client.post("/api/v1/auth/mfa/confirm", json={"otp": totp_code(secret, now)}, headers=headers)

    reused = client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": DEMO_PASSWORD, "otp": totp_code(secret, now)},
        headers=headers,
    )
    problem_of(reused, 422)
    wrong_password = client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": "not-the-password", "otp": totp_code(secret, now + 30)},
        headers=headers,
    )
    problem_of(wrong_password, 422)
    done = client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": DEMO_PASSWORD, "otp": totp_code(secret, now + 30)},
        headers=headers,
    )

    assert done.status_code == 204, done.get_json()
    assert sign_in(client, "grid_worker").status_code == 200


@pytest.mark.parametrize("username", ["dispatcher", "supervisor", "admin", "security_admin"])
def test_roles_that_need_a_second_factor_cannot_turn_it_off(client, username):
    headers = login_headers(client, username)

    response = client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": DEMO_PASSWORD, "otp": totp_code(DEMO_TOTP_SECRET, time.time() + 30)},
        headers=headers,
    )

    problem_of(response, 403)
    assert stored(username).totp_secret == DEMO_TOTP_SECRET


def test_mfa_roles_are_the_command_center_supervisors_and_administrators():
    assert {"acceptor", "dispatcher", "shift_leader", "hotline_operator"} <= MFA_ROLES
    assert {"supervisor", "admin", "security_admin", "audit_admin"} <= MFA_ROLES
    assert not {"grid_worker", "handler", "dept_admin"} & MFA_ROLES


# -- 3. sessions: revoked at once ------------------------------------------------------------


def tokens_of(client: Any, username: str) -> dict[str, Any]:
    extra = {"otp": unused_otp(username)} if username in MFA_ROLES else {}
    response = sign_in(client, username, **extra)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_logout_ends_the_access_token_at_once(client):
    tokens = tokens_of(client, "grid_worker")
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200

    out = client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )

    assert out.status_code == 204
    problem_of(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    problem_of(
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )


def test_a_revoked_refresh_family_ends_its_access_tokens(client):
    tokens = tokens_of(client, "grid_worker")
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    fresh = rotated.get_json()
    assert client.get(ME, headers=bearer(fresh["access_token"])).status_code == 200

    # The old refresh token again: someone copied it, the whole family is revoked.
    problem_of(
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )

    problem_of(client.get(ME, headers=bearer(fresh["access_token"])), 401)
    problem_of(client.get(ME, headers=bearer(tokens["access_token"])), 401)


def test_other_sessions_of_the_user_live_on_after_logout(client):
    first = tokens_of(client, "grid_worker")
    second = tokens_of(client, "grid_worker")

    client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": first["refresh_token"]},
        headers=bearer(first["access_token"]),
    )

    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200


def forged(app: Any, **claims: Any) -> str:
    secret = app.config["GRIDAPP"].secret_key
    now = datetime.now(UTC)
    base = {
        "sub": str(stored("grid_worker").id),
        "sid": "forged-session",
        "role": "grid_worker",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "aud": ACCESS_AUDIENCE,
        "typ": "access",
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret, ALGORITHM)


def test_a_signed_token_without_exp_is_refused(app, client):
    assert client.get(ME, headers=bearer(forged(app))).status_code == 200

    problem_of(client.get(ME, headers=bearer(forged(app, exp=None))), 401)
    problem_of(client.get(ME, headers=bearer(forged(app, sid=None))), 401)


@pytest.mark.parametrize(
    "subject",
    ["abc", "-1", "0", "1.5", str(10**40), "99999999999", "١٢", " 1", "", 7, None, [1], {"a": 1}],
)
def test_a_token_with_an_odd_subject_is_a_401(app, client, subject):
    response = client.get(ME, headers=bearer(forged(app, sub=subject)))

    problem_of(response, 401)


# -- 5. separated duties -----------------------------------------------------------------------


def test_duty_roles_are_roles_but_not_workflow_roles():
    import workflow

    assert set(ROLES) == {r.value for r in workflow.STAFF_ROLES} | {r.value for r in DutyRole}
    assert not {r.value for r in DutyRole} & {r.value for r in workflow.Role}


@pytest.mark.parametrize("username", ["security_admin", "audit_admin"])
def test_duty_admins_sign_in_with_a_second_factor(client, username):
    assert problem_of(sign_in(client, username), 401)["mfa_required"] is True

    me = client.get(ME, headers=login_headers(client, username)).get_json()

    assert me["role"] == username


@pytest.mark.parametrize("username", ["security_admin", "audit_admin"])
def test_duty_admins_see_no_cases(client, username):
    headers = login_headers(client, username)

    response = client.get("/api/v1/cases", headers=headers)

    assert response.status_code in (200, 403), response.get_data(as_text=True)
    if response.status_code == 200:
        assert response.get_json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", USERS),
        ("post", USERS),
        ("get", f"{USERS}/1"),
        ("patch", f"{USERS}/1"),
        ("post", f"{USERS}/1/password"),
        ("get", f"{USERS}/1/sessions"),
        ("delete", "/api/v1/admin/sessions/abc"),
    ],
)
@pytest.mark.parametrize("username", ["admin", "audit_admin", "dispatcher", "grid_worker"])
def test_only_security_admins_administer_users(client, method, path, username):
    headers = login_headers(client, username)

    response = getattr(client, method)(path, json={} if method != "get" else None, headers=headers)

    problem_of(response, 403)


@pytest.mark.parametrize("path", [USERS, f"{USERS}/1", f"{USERS}/1/sessions"])
def test_user_administration_needs_a_token(client, path):
    problem_of(client.get(path), 401)


# -- 6. user administration ------------------------------------------------------------------


@pytest.fixture()
def security(client: Any) -> dict[str, str]:
    return login_headers(client, "security_admin")


def create(client: Any, headers: dict[str, str], **body: Any) -> Any:
    payload = {"username": "new-worker", "role": "grid_worker", **body}
    return client.post(USERS, json=payload, headers=headers)


def test_create_a_user_with_a_generated_password(client, security):
    response = create(client, security, grids=["430423100003001"])

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    password = body["one_time_password"]
    assert password and len(password) >= 12
    assert body["totp_secret"] is None
    assert body["user"]["grids"] == ["430423100003001"]
    assert sign_in(client, "new-worker", password).status_code == 200
    entry = audit_entries("admin.user.create")[-1]
    assert entry.target_id == str(body["user"]["id"])
    assert entry.actor_role == "security_admin"
    assert password not in str(entry.details)
    assert entry.details["after"]["role"] == "grid_worker"


def test_create_a_dispatcher_gives_a_second_factor_shown_once(client, security):
    response = create(
        client,
        security,
        username="new-dispatcher",
        role="dispatcher",
        password="a-long-enough-pass",
        district="430423",
    )

    body = response.get_json()
    assert response.status_code == 201, body
    assert body["one_time_password"] is None
    secret = body["totp_secret"]
    assert len(secret) == 32
    shown = client.get(f"{USERS}/{body['user']['id']}", headers=security).get_json()
    assert "totp_secret" not in shown and shown["mfa"] is True
    assert problem_of(sign_in(client, "new-dispatcher", "a-long-enough-pass"), 401)["mfa_required"]
    ok = sign_in(client, "new-dispatcher", "a-long-enough-pass", otp=totp_code(secret))
    assert ok.status_code == 200
    assert secret not in str([e.details for e in audit_entries("admin.user.create")])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": DEMO_PASSWORD}, "password"),
        ({"role": "overlord"}, "role"),
        ({"role": "handler"}, "department"),
        ({"grids": ["nowhere"]}, "grids"),
        ({"username": ""}, "username"),
        ({"username": "x" * 65}, "username"),
    ],
)
def test_create_refuses_bad_input_field_by_field(client, security, body, field):
    problem = problem_of(create(client, security, **body), 422)

    assert field in problem["errors"]


def test_create_refuses_a_taken_username(client, security):
    problem_of(create(client, security, username="grid_worker"), 409)


def test_list_users_a_page_at_a_time(client, security):
    first = client.get(f"{USERS}?limit=2", headers=security).get_json()
    second = client.get(
        f"{USERS}?limit=2&cursor={first['next_cursor']}", headers=security
    ).get_json()
    roles = client.get(f"{USERS}?role=security_admin", headers=security).get_json()

    assert len(first["items"]) == 2 and first["next_cursor"]
    assert second["items"][0]["id"] > first["items"][-1]["id"]
    assert [u["username"] for u in roles["items"]] == ["security_admin"]
    problem_of(client.get(f"{USERS}?cursor=%%%", headers=security), 422)
    problem_of(client.get(f"{USERS}?cursor={'A' * 300}", headers=security), 422)


def test_patch_changes_role_and_scope_and_is_audited(client, security):
    user_id = stored("grid_worker2").id

    response = client.patch(
        f"{USERS}/{user_id}",
        json={"role": "handler", "department": "sanitation", "grids": []},
        headers=security,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["role"], body["department"], body["grids"]) == ("handler", "sanitation", [])
    entry = audit_entries("admin.user.update")[-1]
    assert entry.details["before"]["role"] == "grid_worker"
    assert entry.details["after"]["role"] == "handler"


def test_disabling_a_user_ends_their_sessions_at_once(client, security):
    tokens = tokens_of(client, "handler")
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    user_id = stored("handler").id

    response = client.patch(f"{USERS}/{user_id}", json={"active": False}, headers=security)

    assert response.status_code == 200, response.get_json()
    problem_of(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    problem_of(
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )
    problem_of(sign_in(client, "handler"), 401)
    sessions = client.get(f"{USERS}/{user_id}/sessions", headers=security).get_json()
    assert sessions and not any(s["active"] for s in sessions)
    assert audit_entries("admin.user.disable")[-1].target_id == str(user_id)


def test_a_security_admin_cannot_disable_themselves(client, security):
    own = stored("security_admin").id

    problem_of(client.patch(f"{USERS}/{own}", json={"active": False}, headers=security), 422)


def test_unknown_user_is_a_404(client, security):
    problem_of(client.get(f"{USERS}/999999", headers=security), 404)
    problem_of(client.patch(f"{USERS}/999999", json={"active": False}, headers=security), 404)


def test_reset_password_generated_or_given(client, security):
    tokens = tokens_of(client, "handler2")
    user_id = stored("handler2").id

    generated = client.post(f"{USERS}/{user_id}/password", json={}, headers=security)

    assert generated.status_code == 200, generated.get_json()
    password = generated.get_json()["one_time_password"]
    problem_of(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    problem_of(sign_in(client, "handler2"), 401)
    assert sign_in(client, "handler2", password).status_code == 200
    given = client.post(
        f"{USERS}/{user_id}/password", json={"password": "correct horse battery"}, headers=security
    )
    assert given.status_code == 200 and given.get_json()["one_time_password"] is None
    assert sign_in(client, "handler2", "correct horse battery").status_code == 200
    for bad in ("short", "x" * 129, DEMO_PASSWORD):
        problem_of(
            client.post(f"{USERS}/{user_id}/password", json={"password": bad}, headers=security),
            422,
        )
    details = str([e.details for e in audit_entries("admin.user.password")])
    assert password not in details and "correct horse" not in details


def test_security_admin_lists_and_revokes_a_session(client, security):
    tokens = tokens_of(client, "grid_worker")
    other = tokens_of(client, "grid_worker")
    user_id = stored("grid_worker").id

    sessions = client.get(f"{USERS}/{user_id}/sessions", headers=security).get_json()
    live = [s for s in sessions if s["active"]]
    assert len(live) >= 2
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sid"] in {s["id"] for s in live}

    response = client.delete(f"/api/v1/admin/sessions/{claims['sid']}", headers=security)

    assert response.status_code == 204
    problem_of(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200
    problem_of(client.delete("/api/v1/admin/sessions/no-such-session", headers=security), 404)
    problem_of(client.get(f"{USERS}/999999/sessions", headers=security), 404)


# -- sign-ins in the audit trail ---------------------------------------------------------------


def test_sign_ins_and_failures_are_audited_and_kept(client):
    before = len(audit_entries("auth.login"))

    sign_in(client, "grid_worker", "a-wrong-password")
    sign_in(client, "nobody-here", "a-wrong-password")
    sign_in(client, "grid_worker")

    entries = audit_entries("auth.login")[before:]
    assert [(e.result, e.details["username"]) for e in entries] == [
        ("failed", "grid_worker"),
        ("failed", "nobody-here"),
        ("ok", "grid_worker"),
    ]
    assert all("a-wrong-password" not in str(e.details) for e in entries)
    assert all(e.source_ip == client.environ_base["REMOTE_ADDR"] for e in entries)


def test_mfa_failures_lockouts_and_logouts_are_audited(client):
    sign_in(client, "dispatcher", otp="000001" if totp_code(DEMO_TOTP_SECRET) != "000001" else "2")
    for _ in range(5):
        sign_in(client, "grid_worker", "a-wrong-password")
    client.environ_base["REMOTE_ADDR"] = "192.0.2.77"  # the guessing source now waits
    tokens = tokens_of(client, "handler")
    client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )

    assert audit_entries("auth.mfa")[-1].result == "failed"
    assert audit_entries("auth.lockout")[-1].result == "denied"
    assert audit_entries("auth.logout")[-1].target_id == str(stored("handler").id)


@pytest.mark.parametrize("field", ["username", "password", "otp"])
def test_a_lone_surrogate_at_sign_in_is_a_field_error(client, field):
    body = {"username": "grid_worker", "password": DEMO_PASSWORD, "otp": "123456"}
    pairs = [f'"{k}": "{v}"' for k, v in body.items() if k != field]
    raw = "{" + ", ".join([*pairs, f'"{field}": "ab\\ud800cd"']) + "}"

    response = client.post(LOGIN, data=raw, content_type="application/json")

    assert field in problem_of(response, 422)["errors"]


@pytest.mark.parametrize("field", ["username", "display_name", "department", "grids"])
def test_a_nul_in_a_new_user_is_a_field_error(client, security, field):
    value: Any = ["4304231000\x0003001"] if field == "grids" else "a\x00b"

    response = create(client, security, **{field: value})

    errors = problem_of(response, 422)["errors"]
    assert any(key.split(".")[0] == field for key in errors), errors


def test_a_lost_phone_gets_a_new_second_factor(client, security):
    user_id = stored("shift_leader").id

    response = client.post(
        f"{USERS}/{user_id}/password",
        json={"password": "a-new-long-password", "totp": True},
        headers=security,
    )

    body = response.get_json()
    assert response.status_code == 200, body
    secret = body["totp_secret"]
    assert secret and secret != DEMO_TOTP_SECRET
    ok = sign_in(client, "shift_leader", "a-new-long-password", otp=totp_code(secret))
    assert ok.status_code == 200, ok.get_json()
    assert secret not in str([e.details for e in audit_entries("admin.user.password")])


def test_a_new_dispatcher_role_comes_with_a_second_factor_at_the_next_reset(client, security):
    user_id = stored("handler2").id
    client.patch(
        f"{USERS}/{user_id}",
        json={"role": "dispatcher", "department": None, "district": "430423"},
        headers=security,
    )

    body = client.post(f"{USERS}/{user_id}/password", json={}, headers=security).get_json()

    assert body["totp_secret"] and body["one_time_password"]
    ok = sign_in(client, "handler2", body["one_time_password"], otp=totp_code(body["totp_secret"]))
    assert ok.status_code == 200, ok.get_json()


def test_fuzzing_the_identity_operations_makes_no_server_error(app, client):
    """The shared fuzz test signs in as a grid worker and a supervisor, who reach none of these."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    signed_in = [login_headers(client, name) for name in ("security_admin", "audit_admin")]
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app).include(
        path_regex="^/api/v1/(admin/(users|sessions)|auth/mfa)"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            # max_examples: the Hypothesis profile's (tests/conftest.py; `make test` runs "ci")
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: Any) -> None:
            for headers in signed_in:
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()


# -- the audit trail, read by the audit admin alone --------------------------------------------


def test_the_audit_admin_reads_the_trail(client):
    sign_in(client, "handler")
    sign_in(client, "grid_worker", "a-wrong-password")
    headers = login_headers(client, "audit_admin")

    page = client.get("/api/v1/admin/audit?action=auth&limit=2", headers=headers).get_json()
    more = client.get(
        f"/api/v1/admin/audit?action=auth&limit=2&cursor={page['next_cursor']}", headers=headers
    ).get_json()

    assert [e["action"] for e in page["items"]] == ["auth.login", "auth.login"]
    assert page["items"][0]["result"] == "ok"  # the audit admin's own sign-in, newest first
    assert page["items"][1]["details"]["username"] == "grid_worker"
    assert more["items"][0]["id"] < page["items"][1]["id"]
    assert more["items"][0]["details"]["username"] == "handler"


@pytest.mark.parametrize("username", ["admin", "security_admin", "supervisor", "grid_worker"])
def test_nobody_else_reads_the_audit_trail(client, username):
    problem_of(client.get("/api/v1/admin/audit", headers=login_headers(client, username)), 403)


@pytest.mark.parametrize(
    "query", ["since=yesterday", "actor=-1", "actor=99999999999", "limit=0", "cursor=%25%25"]
)
def test_bad_audit_queries_are_422(client, query):
    headers = login_headers(client, "audit_admin")

    problem_of(client.get(f"/api/v1/admin/audit?{query}", headers=headers), 422)


def test_the_audit_admin_verifies_the_chain(client):
    sign_in(client, "handler")
    headers = login_headers(client, "audit_admin")

    verdict = client.get("/api/v1/admin/audit/verify", headers=headers).get_json()

    assert verdict["intact"] is True and verdict["entries"] >= 2
    problem_of(
        client.get("/api/v1/admin/audit/verify", headers=login_headers(client, "admin")), 403
    )
