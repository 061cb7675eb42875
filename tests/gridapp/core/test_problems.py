"""Every error is RFC 9457 problem+json, with field errors for invalid input (DESIGN §6)."""

from __future__ import annotations

import pytest

from tests.gridapp.conftest import problem_of


def test_unknown_url(client):
    body = problem_of(client.get("/api/v1/no-such-thing"), 404)

    assert body["type"] == "https://gridapp.dev/problems/not-found"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/no-such-thing"


def test_unknown_url_outside_the_api(client):
    problem_of(client.get("/nothing-here.php"), 404)


def test_login_with_empty_body(client):
    body = problem_of(client.post("/api/v1/auth/login", json={}), 422)

    assert {"username", "password"} <= set(body["errors"])
    assert all(isinstance(m, list) and m for m in body["errors"].values())
    assert "otp" not in body["errors"]


def test_login_with_wrong_types(client):
    body = problem_of(client.post("/api/v1/auth/login", json={"username": 7, "password": []}), 422)

    assert {"username", "password"} <= set(body["errors"])


def test_login_with_unknown_field(client):
    body = problem_of(
        client.post(
            "/api/v1/auth/login",
            json={"username": "grid_worker", "password": "demo-pass-2026", "pasword": "x"},
        ),
        422,
    )

    assert "pasword" in body["errors"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("username=a&password=b", "application/x-www-form-urlencoded"),
    ],
)
def test_login_without_a_json_body(client, data, content_type):
    response = client.post("/api/v1/auth/login", data=data, content_type=content_type)

    assert response.status_code in (400, 415, 422)
    problem_of(response, response.status_code)


def test_method_not_allowed(client):
    response = client.get("/api/v1/auth/login")

    body = problem_of(response, 405)
    assert body["title"] == "Method Not Allowed"
    assert "POST" in response.headers["Allow"]


def test_method_not_allowed_on_a_protected_resource(client, auth):
    response = client.delete("/api/v1/areas/430423", headers=auth("grid_worker"))

    problem_of(response, 405)
    assert "GET" in response.headers["Allow"]


def test_problem_bodies_never_leak_a_traceback(client):
    text = client.post(
        "/api/v1/auth/login", data="{not json", content_type="application/json"
    ).get_data(as_text=True)

    assert "Traceback" not in text
