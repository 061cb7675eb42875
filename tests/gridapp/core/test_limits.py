"""Body sizes, named rate limits, security headers and what /readyz tells whom (issue 10, 4 and 9).

The suite runs with the rate limits off (one address signs in hundreds of times); these tests
turn them on with small values, each from an address of its own so no counter is shared.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from limits import parse_many
from PIL import Image

from gridapp.core import limits
from gridapp.core.config import DEFAULT_RATE_LIMITS, Config
from gridapp.core.errors import ConfigurationError
from tests.gridapp.conftest import DEMO_PASSWORD, PROBLEM_JSON, login_headers, problem_of
from tests.gridapp.core.test_settings_documented import documented_settings


def an_address() -> str:
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


@pytest.fixture()
def tight_limits(app: Any) -> Iterator[None]:
    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(
        config,
        rate_limits_enabled=True,
        rate_limits={name: "3/minute" for name in limits.LIMIT_NAMES},
    )
    yield
    app.config["GRIDAPP"] = config


def bogus_login(client: Any, address: str) -> Any:
    return client.post(
        "/api/v1/auth/login",
        json={"username": f"nobody-{secrets.token_hex(4)}", "password": "wrong"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_logins_past_the_limit_are_429_with_retry_after(client: Any, tight_limits: None) -> None:
    address = an_address()
    answers = [bogus_login(client, address).status_code for _ in range(3)]

    refused = bogus_login(client, address)

    assert answers == [401, 401, 401]
    body = problem_of(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert body["retry_after"] == int(refused.headers["Retry-After"])
    # Another address is not held back by this one's failures.
    assert bogus_login(client, an_address()).status_code == 401


def test_the_limit_refuses_before_the_body_is_read(client: Any, tight_limits: None) -> None:
    address = an_address()
    for _ in range(3):
        bogus_login(client, address)

    # A body that would be a 400 is not even parsed: no password is hashed past the limit.
    response = client.post(
        "/api/v1/auth/login",
        data=b"[" * 5000,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": address},
    )

    problem_of(response, 429)


def test_desk_reports_are_limited_per_caller(client: Any, tight_limits: None) -> None:
    acceptor = login_headers(client, "acceptor")
    statuses = [
        client.post("/api/v1/cases", json={}, headers=acceptor).status_code for _ in range(4)
    ]

    assert statuses[:3] == [422, 422, 422]
    assert statuses[3] == 429
    # Another signed-in caller has a counter of their own.
    other = login_headers(client, "hotline_operator")
    assert client.post("/api/v1/cases", json={}, headers=other).status_code == 422


def test_phone_reports_and_uploads_are_limited(client: Any, tight_limits: None) -> None:
    worker = login_headers(client, "grid_worker")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    reports = [
        client.post("/api/v1/mobile/reports", json={}, headers=worker).status_code for _ in range(4)
    ]
    uploads = [
        client.post(
            "/api/v1/mobile/media",
            data={"file": (io.BytesIO(buffer.getvalue()), "p.jpg")},
            content_type="multipart/form-data",
            headers=worker,
        ).status_code
        for _ in range(4)
    ]

    assert reports == [422, 422, 422, 429]
    assert uploads == [201, 201, 201, 429]
    # Signing in again starts no fresh count: the limit is the user's, not the token's.
    signed_in = client.post(
        "/api/v1/auth/login",
        json={"username": "grid_worker", "password": DEMO_PASSWORD},
        environ_base={"REMOTE_ADDR": an_address()},
    )
    again = {"Authorization": f"Bearer {signed_in.get_json()['access_token']}"}
    assert again != worker
    assert client.post("/api/v1/mobile/reports", json={}, headers=again).status_code == 429
    # A token that does not verify counts against its sender's address, not the user it names.
    forged = {"Authorization": worker["Authorization"][:-4] + "AAAA"}
    assert client.post("/api/v1/mobile/reports", json={}, headers=forged).status_code == 401


def test_limits_are_named_and_the_open311_one_is_ready() -> None:
    assert set(limits.LIMIT_NAMES) == set(DEFAULT_RATE_LIMITS)
    assert callable(limits.rate_limit("open311"))
    with pytest.raises(ValueError, match="No rate limit named"):
        limits.rate_limit("reports")


def test_limits_come_from_the_settings_and_are_documented() -> None:
    config = Config.from_env({"RATE_LIMIT_LOGIN": "5/minute", "SECRET_KEY": "x" * 40})
    documented = documented_settings()

    assert config.rate_limits["login"] == "5/minute"
    assert config.rate_limits["report"] == DEFAULT_RATE_LIMITS["report"]
    for name in limits.LIMIT_NAMES:
        assert f"RATE_LIMIT_{name.upper()}" in documented
        assert DEFAULT_RATE_LIMITS[name] in documented[f"RATE_LIMIT_{name.upper()}"]
    with pytest.raises(ConfigurationError, match="RATE_LIMIT_UPLOAD"):
        Config.from_env({"RATE_LIMIT_UPLOAD": "lots", "SECRET_KEY": "x" * 40})


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/cases", "/api/v1/notifications/read"]
)
def test_a_json_body_over_the_limit_is_413_before_it_is_parsed(
    app: Any, client: Any, path: str
) -> None:
    worker = login_headers(client, "acceptor")
    body = b'{"a":"' + b"x" * app.config["GRIDAPP"].max_json_bytes + b'"}'

    response = client.post(path, data=body, content_type="application/json", headers=worker)

    problem_of(response, 413)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.mark.parametrize(
    "path", ["/api/v1/cases", "/api/v1/nowhere", "/healthz", "/openapi.json", "/docs"]
)
def test_every_answer_carries_the_security_headers(client: Any, path: str) -> None:
    response = client.get(path)

    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_api_answers_are_never_cached(client: Any) -> None:
    worker = login_headers(client, "grid_worker")

    for response in (client.get("/api/v1/cases", headers=worker), client.get("/api/v1/cases")):
        assert response.headers["Cache-Control"] == "no-store"


def test_the_console_policy_allows_no_inline_script(client: Any) -> None:
    policy = client.get("/console/").headers["Content-Security-Policy"]

    assert "script-src 'self';" in policy
    assert "default-src 'self'" in policy


def test_swagger_ui_runs_its_one_inline_script_by_hash(client: Any) -> None:
    import base64
    import hashlib

    response = client.get("/docs")
    page = response.get_data()
    scripts = re.findall(rb"<script>(.*?)</script>", page, re.S)
    policy = response.headers["Content-Security-Policy"]

    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0]).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    # Its scripts and stylesheet are served from here, under the same policy's 'self'.
    for asset in re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', page.decode()):
        assert client.get(asset).status_code == 200


def test_hsts_over_https_only(client: Any) -> None:
    secure = client.get("/healthz", base_url="https://localhost")

    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_readyz_tells_outsiders_only_ok(client: Any) -> None:
    outsider = client.get("/readyz", environ_base={"REMOTE_ADDR": an_address()})
    forwarded = client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})

    assert outsider.get_json() == {"status": "ok"}
    assert forwarded.get_json() == {"status": "ok"}


def test_readyz_tells_admins_and_local_probes_the_details(client: Any) -> None:
    admin = login_headers(client, "admin")
    worker = login_headers(client, "grid_worker")
    far = {"REMOTE_ADDR": an_address()}

    assert "checks" in client.get("/readyz", headers=admin, environ_base=far).get_json()
    assert "checks" not in client.get("/readyz", headers=worker, environ_base=far).get_json()
    loopback = {"REMOTE_ADDR": "127.0.0.1"}  # no proxy in between
    assert "checks" in client.get("/readyz", environ_base=loopback).get_json()


def test_a_password_is_still_checked_under_the_limit(client: Any, tight_limits: None) -> None:
    response = client.post(
        "/api/v1/auth/login",
        json={"username": "grid_worker", "password": DEMO_PASSWORD},
        environ_base={"REMOTE_ADDR": an_address()},
    )

    assert response.status_code == 200
    assert response.mimetype != PROBLEM_JSON


@pytest.fixture()
def report_limit(app: Any) -> Iterator[str]:
    """Limits on, the phone's reports at two a minute and five an hour."""
    config = app.config["GRIDAPP"]
    value = "2/minute;5/hour"
    app.config["GRIDAPP"] = dataclasses.replace(
        config, rate_limits_enabled=True, rate_limits={**config.rate_limits, "report": value}
    )
    yield value
    app.config["GRIDAPP"] = config


def windows_left(app: Any, value: str, caller: str) -> list[int]:
    """What each window of a limit has left for a caller, as `limits` reads it."""
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    return [
        limits.limiter.get_window_stats(item, prefix, "report", caller).remaining
        for item in parse_many(value)
    ]


def test_a_refused_call_takes_nothing_from_the_other_windows(
    app: Any, client: Any, report_limit: str
) -> None:
    """The windows are counted in order and the first full one stops the count, as `limits`
    does item after item: a phone past its minute does not spend its hour."""
    worker = login_headers(client, "grid_worker2")
    caller = f"user:{client.get('/api/v1/auth/me', headers=worker).get_json()['id']}"

    statuses = [
        client.post("/api/v1/mobile/reports", json={}, headers=worker).status_code for _ in range(4)
    ]

    assert statuses == [422, 422, 429, 429]
    assert windows_left(app, report_limit, caller) == [0, 3]


def test_a_server_that_never_ran_the_script_counts_too(
    app: Any, client: Any, report_limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A script text no server has seen (a fresh or restarted Redis knows none).
    script = limits.ACQUIRE_WINDOWS + f"-- {secrets.token_hex(8)}\n"
    monkeypatch.setattr(limits, "ACQUIRE_WINDOWS", script)
    monkeypatch.setattr(limits, "ACQUIRE_WINDOWS_SHA", hashlib.sha1(script.encode()).hexdigest())
    worker = login_headers(client, "handler")
    caller = f"user:{client.get('/api/v1/auth/me', headers=worker).get_json()['id']}"

    first = client.post("/api/v1/mobile/reports", json={}, headers=worker)
    second = client.post("/api/v1/mobile/reports", json={}, headers=worker)

    # A handler may not report from the phone: counted first, refused by role after.
    assert [first.status_code, second.status_code] == [403, 403]
    assert windows_left(app, report_limit, caller) == [0, 3]
    assert client.post("/api/v1/mobile/reports", json={}, headers=worker).status_code == 429
