"""Helpers for the gridapp foundation tests (fixtures live in ``tests/conftest.py``)."""

from __future__ import annotations

import base64
import hmac
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

PROBLEM_JSON = "application/problem+json"
DEMO_PASSWORD = "demo-pass-2026"
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MFA_USERS = (
    "acceptor",
    "dispatcher",
    "shift_leader",
    "supervisor",
    "admin",
    "hotline_operator",
    "community_center",
    "street_center",
    "security_admin",
    "audit_admin",
)
STEP = 30
# How many times a sign-in waited for the next 30 s step (a fourth sign-in of one user in 30 s).
waits_for_next_step = [0]


def totp_code(secret: str, at: float | None = None, digits: int = 6) -> str:
    """Compute an RFC 6238 code (SHA-1, 30 s) on our own, as an authenticator app would.

    Written out rather than taken from pyotp, so the tests check the server's pyotp against
    the RFC rather than against itself.
    """
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), "sha1").digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def wrong_totp_code(secret: str = DEMO_TOTP_SECRET) -> str:
    """A 6-digit code that no window near now (± 60 s) produces."""
    now = time.time()
    accepted = {totp_code(secret, now + shift) for shift in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "999999") if c not in accepted)


def unused_otp(username: str, secret: str = DEMO_TOTP_SECRET) -> str:
    """Return a code the server will take for ``username`` now: each code works once.

    The server accepts the steps one either side of now, each only after the last one it took
    from this user (read from the database the test shares with the app). Tests sign the same
    user in several times within 30 s, so each sign-in takes the earliest step still unused;
    when all three are used, this waits for the next step, as a person would.
    """
    from sqlalchemy import select

    from gridapp.accounts.models import User
    from gridapp.core.extensions import db

    last = db.session.scalar(select(User.totp_last_step).where(User.username == username))
    moment = time.time()
    now = int(moment // STEP)
    # The previous step only while it stays good for the seconds a sign-in takes.
    steps = (now - 1, now, now + 1) if moment % STEP < STEP - 10 else (now, now + 1)
    for step in steps:
        if last is None or step > last:
            return totp_code(secret, step * STEP)
    waits_for_next_step[0] += 1
    time.sleep((now + 1) * STEP - time.time() + 0.05)
    return totp_code(secret, (last + 1) * STEP)


def login_headers(client: Any, username: str, **body: Any) -> dict[str, str]:
    """Sign a demo user in (with a TOTP code for the roles that need one); return the header."""
    payload: dict[str, Any] = {"username": username, "password": DEMO_PASSWORD, **body}
    if username in MFA_USERS:
        payload.setdefault("otp", unused_otp(username))
    response = client.post("/api/v1/auth/login", json=payload)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """Assert that ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON, response.headers.get("Content-Type")
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    return body


@pytest.fixture()
def fresh_caches() -> Iterator[None]:
    """Forget the per-process grid index and calendar caches around a test that changes them.

    Both caches are keyed by the engine URL and validated by a version (grid map) or a
    fingerprint (calendar); a test's writes are rolled back, so a version number can come back
    with different contents in the next test.
    """
    from gridapp.calendar import services as calendar
    from gridapp.grid import services as grid

    grid.grid_indexes.clear()
    calendar._cache.clear()
    yield
    grid.grid_indexes.clear()
    calendar._cache.clear()


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """Every SQL statement sent on the primary engine while the test runs."""
    from sqlalchemy import event

    from gridapp.core.extensions import db

    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    assert db.engine is not None
    event.listen(db.engine, "before_cursor_execute", record)
    yield sent
    event.remove(db.engine, "before_cursor_execute", record)
