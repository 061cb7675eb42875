"""Every error is RFC 9457 problem+json, with field errors for invalid input (DESIGN §6)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.exceptions import UnprocessableEntity

import workflow
from gridapp.core.errors import ValidationFailed
from gridapp.core.problems import problem
from tests.gridapp.case_helpers import grid_point, report
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


# Every 422 has one shape: ``errors`` maps a dotted field path to a list of strings.


def assert_field_errors(body: dict[str, Any], *paths: str) -> None:
    """Assert the one shape: a flat object from dotted paths to non-empty lists of strings."""
    errors = body["errors"]
    assert isinstance(errors, dict), errors
    for path, messages in errors.items():
        assert isinstance(path, str), path
        assert isinstance(messages, list) and messages, (path, messages)
        assert all(isinstance(m, str) and m for m in messages), (path, messages)
    assert set(paths) <= set(errors), (paths, errors)


def _worker_case(client: Any, auth: Any) -> tuple[dict[str, str], dict[str, Any]]:
    headers = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=headers).get_json()["grids"][0]
    response = report(client, headers, *grid_point(client, headers, grid))
    assert response.status_code == 201, response.get_json()
    return headers, response.get_json()


def test_a_bad_query_argument_is_a_list_under_its_name(client):
    response = client.get("/api/v1/grid/locate", query_string={"lon": "east", "lat": 27.2})

    body = problem_of(response, 422)
    assert_field_errors(body, "lon")
    assert "query" not in body["errors"], "the request location is not part of the path"


def test_a_bad_nested_json_field_has_a_dotted_path(client, auth):
    body = {
        "category": "SJ0102",
        "description": "x",
        "location": {"lon": "east", "lat": 27.2},
        "photos": [1, "one"],
    }

    response = client.post("/api/v1/mobile/reports", json=body, headers=auth("grid_worker"))

    problem = problem_of(response, 422)
    assert_field_errors(problem, "location.lon", "photos.1")
    assert "location" not in problem["errors"] and "json" not in problem["errors"]


def test_a_service_error_given_as_a_string_becomes_a_list(client, auth):
    """Services write ``ValidationFailed(errors={"category": "…"})``; clients get a list."""
    headers = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=headers).get_json()["grids"][0]

    response = report(client, headers, *grid_point(client, headers, grid), category="ZZ9999")

    body = problem_of(response, 422)
    assert_field_errors(body, "category")
    assert body["errors"]["category"] == ["No active category 'ZZ9999'."]


def test_a_missing_workflow_requirement_is_a_list_under_its_field(client, auth):
    headers, case = _worker_case(client, auth)

    response = client.post(
        f"/api/v1/mobile/cases/{case['id']}/actions/self_handle",
        json={},
        headers={**headers, "If-Match": f'"{case["version"]}"'},
    )

    body = problem_of(response, 422)
    assert body["type"].endswith("/validation")
    assert_field_errors(body, "photos")


def test_a_missing_requirement_raised_anywhere_has_the_same_shape(app):
    exc = workflow.MissingRequirement("feedback", {"photos": "At least one photo."})

    with app.test_request_context("/api/v1/cases/1/actions/feedback"):
        response = app.handle_user_exception(exc)

    assert response.status_code == 422
    assert json.loads(response.get_data())["errors"] == {"photos": ["At least one photo."]}


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ({"x": "msg"}, {"x": ["msg"]}),
        ({"x": ["a", "b"]}, {"x": ["a", "b"]}),
        ({"location": {"lon": "bad"}}, {"location.lon": ["bad"]}),
        ({"photos": {0: ["gone"], 2: "yours?"}}, {"photos.0": ["gone"], "photos.2": ["yours?"]}),
        (
            {"photos": [{"id": "gone"}, "too many"]},
            {"photos.0.id": ["gone"], "photos": ["too many"]},
        ),
        ({"_schema": ["whole body"]}, {"_schema": ["whole body"]}),
    ],
    ids=["string", "list", "nested", "indexed", "list of objects", "schema"],
)
def test_problem_flattens_any_shape_of_field_errors(app, errors, expected):
    with app.test_request_context("/"):
        body = json.loads(problem(422, "Invalid input", "x", errors=errors).get_data())

    assert body["errors"] == expected


@pytest.mark.parametrize(
    "exc",
    [
        ValidationFailed("The request body must be a JSON object."),
        UnprocessableEntity(),
    ],
    ids=["ValidationFailed without fields", "bare 422"],
)
def test_a_422_without_fields_still_carries_errors(app, exc):
    with app.test_request_context("/"):
        response = app.handle_user_exception(exc)

    body = json.loads(response.get_data())
    assert response.status_code == 422
    assert_field_errors(body, "_schema")
