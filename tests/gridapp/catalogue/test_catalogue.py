"""The case category catalogue (部件/事件) and the departments (DESIGN §4, §9)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gridapp.conftest import problem_of


@pytest.fixture()
def headers(auth: Any) -> dict[str, str]:
    return auth("grid_worker")


def get_json(client: Any, url: str, headers: dict[str, str], **query: Any) -> Any:
    response = client.get(url, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_departments(client, headers):
    departments = get_json(client, "/api/v1/departments", headers)

    assert len(departments) >= 6
    for department in departments:
        assert set(department) >= {"code", "name"}
        assert department["code"] and department["name"]
    codes = [d["code"] for d in departments]
    assert len(codes) == len(set(codes))
    assert {"urban-enforcement", "sanitation"} <= set(codes)


def test_categories(client, headers):
    categories = get_json(client, "/api/v1/categories", headers)
    departments = {d["code"] for d in get_json(client, "/api/v1/departments", headers)}

    assert len(categories) >= 40
    assert {c["kind"] for c in categories} == {"component", "event"}
    codes = [c["code"] for c in categories]
    assert len(codes) == len(set(codes))
    for category in categories:
        assert set(category) >= {"code", "name", "kind", "department", "urgency", "time_limits"}
        assert isinstance(category["code"], str) and category["code"]
        assert category["name"]
        assert category["department"] in departments, category
        assert category["urgency"] in ("normal", "urgent"), category
        assert isinstance(category["time_limits"], dict) and category["time_limits"], category


def test_categories_carry_their_standard(client, headers):
    categories = get_json(client, "/api/v1/categories", headers)

    assert {c["standard"] for c in categories} >= {"GB/T 30428.2-2013"}
    manhole = next(c for c in categories if c["code"] == "BJ0101")
    assert manhole["kind"] == "component"
    assert manhole["major_code"] == "01" and manhole["minor_code"] == "01"


@pytest.mark.parametrize("kind", ["event", "component"])
def test_categories_by_kind(client, headers, kind):
    everything = get_json(client, "/api/v1/categories", headers)

    some = get_json(client, "/api/v1/categories", headers, kind=kind)

    assert some
    assert {c["kind"] for c in some} == {kind}
    assert [c["code"] for c in some] == [c["code"] for c in everything if c["kind"] == kind]


def test_unknown_kind(client, headers):
    body = problem_of(client.get("/api/v1/categories?kind=building", headers=headers), 422)

    assert "kind" in body["errors"]


def test_catalogue_needs_a_token(client):
    problem_of(client.get("/api/v1/categories"), 401)
    problem_of(client.get("/api/v1/departments"), 401)
