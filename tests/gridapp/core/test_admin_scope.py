"""Only `admin` reaches the administration API: every endpoint, every other role (DESIGN §8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gridapp.conftest import problem_of

# Every administration view of the maps, catalogue, calendar and change log, with the values
# its path takes; a test below checks that this list names every one the app serves.
ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/api/v1/admin/maps"),
    ("POST", "/api/v1/admin/maps?dry_run=true"),
    ("GET", "/api/v1/admin/layers"),
    ("GET", "/api/v1/admin/categories"),
    ("POST", "/api/v1/admin/categories"),
    ("PATCH", "/api/v1/admin/categories/SJ0102"),
    ("GET", "/api/v1/admin/departments"),
    ("POST", "/api/v1/admin/departments"),
    ("PATCH", "/api/v1/admin/departments/sanitation"),
    ("GET", "/api/v1/admin/rules"),
    ("POST", "/api/v1/admin/rules"),
    ("GET", "/api/v1/admin/rules/1"),
    ("PATCH", "/api/v1/admin/rules/1"),
    ("DELETE", "/api/v1/admin/rules/1"),
    ("GET", "/api/v1/admin/rules/dry-run?category=SJ0102&lon=112.86&lat=27.23"),
    ("GET", "/api/v1/admin/calendar"),
    ("GET", "/api/v1/admin/calendar/2026"),
    ("PUT", "/api/v1/admin/calendar/2026"),
    ("GET", "/api/v1/admin/changes"),
]
OURS = ("admin_maps", "admin_catalogue", "admin_calendar", "admin_changes")
OTHER_ROLES = [
    "grid_worker",
    "acceptor",
    "dispatcher",
    "shift_leader",
    "handler",
    "dept_admin",
    "supervisor",
    "hotline_operator",
]


def _call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    # The body is valid nowhere on purpose: the role check must answer before any parsing.
    body: dict[str, Any] | None = {} if method in {"POST", "PATCH", "PUT"} else None
    return client.open(path, method=method, json=body, headers=headers)


def test_the_list_names_every_administration_view(app):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in OURS:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((method, rule.rule))
    listed = set()
    for method, path in ENDPOINTS:
        bare = path.split("?")[0]
        for rule in app.url_map.iter_rules():
            if rule.endpoint.split(".")[0] in OURS and method in rule.methods:
                adapter = app.url_map.bind("localhost")
                try:
                    endpoint, _args = adapter.match(bare, method=method)
                except Exception:
                    continue
                if endpoint == rule.endpoint:
                    listed.add((method, rule.rule))
    assert served and served == listed


def test_every_other_role_is_refused(client, auth):
    for role in OTHER_ROLES:
        headers = auth(role)
        for method, path in ENDPOINTS:
            response = _call(client, method, path, headers)
            body = problem_of(response, 403)
            assert "can't do this" in body["detail"], (role, method, path)


def test_anonymous_callers_are_asked_to_sign_in(client):
    for method, path in ENDPOINTS:
        problem_of(_call(client, method, path, {}), 401)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_admin_passes_the_role_check(client, auth, method, path):
    response = _call(client, method, path, auth("admin"))
    assert response.status_code != 403, response.get_json()
    assert response.status_code < 500, response.get_json()
