"""Catalogue administration: categories, departments, responsibility rules and the dry run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gridapp.case_helpers import act, grid_point, report
from tests.gridapp.conftest import problem_of

STREET = "430423100"  # the county seat's street, where grid_worker's grids are


@pytest.fixture()
def admin(auth: Any) -> dict[str, str]:
    return auth("admin")


@pytest.fixture()
def worker_point(client: Any, auth: Any) -> tuple[float, float]:
    headers = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    return grid_point(client, headers, me["grids"][0])


def last_change(client: Any, admin: dict[str, str], action: str) -> Any:
    items = client.get(f"/api/v1/admin/changes?action={action}", headers=admin).get_json()["items"]
    return items[0] if items else None


# -- categories ----------------------------------------------------------------------------


def test_categories_list_pages_and_shows_inactive_ones(client, admin):
    first = client.get("/api/v1/admin/categories?limit=5", headers=admin).get_json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    second = client.get(
        f"/api/v1/admin/categories?limit=5&cursor={first['next_cursor']}", headers=admin
    ).get_json()
    assert second["items"][0]["code"] > first["items"][-1]["code"]

    client.patch("/api/v1/admin/categories/SJ0102", json={"active": False}, headers=admin)
    inactive = client.get("/api/v1/admin/categories?active=false", headers=admin).get_json()
    assert [c["code"] for c in inactive["items"]] == ["SJ0102"]
    public = client.get("/api/v1/categories", headers=admin).get_json()
    assert "SJ0102" not in {c["code"] for c in public}


def test_a_category_is_created_and_recorded(client, admin):
    body = {
        "code": "SJ9901",
        "name": "共享单车乱停放",
        "kind": "event",
        "process": "urban",
        "urgency": "urgent",
        "department": "urban-enforcement",
        "time_limits": {"handling": {"amount": 2, "unit": "working_hours"}},
        "standard": "local-2026",
    }
    response = client.post("/api/v1/admin/categories", json=body, headers=admin)

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["department"] == "urban-enforcement" and created["major_code"] == "99"
    assert created["active"] is True
    entry = last_change(client, admin, "admin.category.create")
    assert entry["target_id"] == "SJ9901" and entry["after"]["urgency"] == "urgent"
    assert entry["before"] is None
    problem_of(client.post("/api/v1/admin/categories", json=body, headers=admin), 422)


def test_a_category_change_applies_to_the_next_case(client, admin, auth, worker_point):
    patch = {"urgency": "urgent", "time_limits": {"handling": {"amount": 1, "unit": "hours"}}}
    response = client.patch("/api/v1/admin/categories/SJ0102", json=patch, headers=admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["urgency"] == "urgent"

    case = report(client, auth("grid_worker"), *worker_point).get_json()
    assert case["urgency"] == "urgent"
    entry = last_change(client, admin, "admin.category.update")
    assert entry["before"]["urgency"] == "normal" and entry["after"]["urgency"] == "urgent"
    assert set(entry["after"]) == {"urgency", "time_limits"}


def test_a_category_opens_to_citizens_with_its_own_duplicate_rule(client, admin):
    def services() -> set[str]:
        listed = client.get("/open311/v2/services.json").get_json()
        return {service["service_code"] for service in listed}

    assert "SJ9001" not in services()
    patch = {"open311": True, "duplicate_radius_m": 80, "duplicate_window_hours": 48}
    response = client.patch("/api/v1/admin/categories/SJ9001", json=patch, headers=admin)

    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert (changed["open311"], changed["duplicate_radius_m"]) == (True, 80)
    assert "SJ9001" in services()
    entry = last_change(client, admin, "admin.category.update")
    assert entry["before"] == {
        "open311": False,
        "duplicate_radius_m": 50,
        "duplicate_window_hours": 24,
    }
    assert entry["after"] == {
        "open311": True,
        "duplicate_radius_m": 80,
        "duplicate_window_hours": 48,
    }


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"duplicate_radius_m": 0}, "duplicate_radius_m"),
        ({"duplicate_window_hours": -1}, "duplicate_window_hours"),
        ({"open311": "maybe"}, "open311"),
        ({"process": "nonesuch"}, "process"),
        ({"department": "nonesuch"}, "department"),
        ({"urgency": "soon"}, "urgency"),
        ({"kind": "thing"}, "kind"),
        ({"time_limits": {"filed": {"amount": 1, "unit": "hours"}}}, "time_limits.filed.key"),
        ({"time_limits": {"handling": {"amount": 0, "unit": "hours"}}}, None),
        ({"time_limits": {"handling": {"amount": 1, "unit": "fortnights"}}}, None),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_category_changes_are_refused_and_store_nothing(client, admin, patch, field):
    before = client.get("/api/v1/admin/categories?limit=500", headers=admin).get_json()

    body = problem_of(
        client.patch("/api/v1/admin/categories/SJ0102", json=patch, headers=admin), 422
    )

    if field:
        assert any(key.startswith(field) for key in body["errors"]), body["errors"]
    else:
        assert any(key.startswith("time_limits.handling") for key in body["errors"])
    after = client.get("/api/v1/admin/categories?limit=500", headers=admin).get_json()
    assert after == before
    assert last_change(client, admin, "admin.category.update") is None


def test_an_unknown_category_is_404(client, admin):
    problem_of(client.patch("/api/v1/admin/categories/XX9999", json={}, headers=admin), 404)


# -- departments ---------------------------------------------------------------------------


def test_departments_are_created_changed_and_recorded(client, admin):
    created = client.post(
        "/api/v1/admin/departments",
        json={"code": "parks", "name": "园林局", "phone": "0734-5800000"},
        headers=admin,
    )
    assert created.status_code == 201, created.get_json()
    changed = client.patch(
        "/api/v1/admin/departments/parks", json={"name": "园林绿化局"}, headers=admin
    )
    assert changed.get_json()["name"] == "园林绿化局"
    entry = last_change(client, admin, "admin.department.update")
    assert entry["before"] == {"name": "园林局"} and entry["after"] == {"name": "园林绿化局"}
    listed = client.get("/api/v1/admin/departments?limit=500", headers=admin).get_json()
    assert "parks" in {d["code"] for d in listed["items"]}
    problem_of(
        client.post(
            "/api/v1/admin/departments", json={"code": "parks", "name": "x"}, headers=admin
        ),
        422,
    )
    problem_of(
        client.post("/api/v1/admin/departments", json={"code": "a b", "name": "x"}, headers=admin),
        422,
    )


def test_a_department_rules_still_name_stays_in_service(client, admin):
    body = problem_of(
        client.patch("/api/v1/admin/departments/sanitation", json={"active": False}, headers=admin),
        409,
    )
    assert body["rules"] and "SJ0102" in body["categories"]
    problem_of(client.patch("/api/v1/admin/departments/nonesuch", json={}, headers=admin), 404)


def test_an_inactive_department_takes_no_dispatch(client, admin, auth, worker_point):
    client.post(
        "/api/v1/admin/departments", json={"code": "old", "name": "撤销的部门"}, headers=admin
    )
    client.patch("/api/v1/admin/departments/old", json={"active": False}, headers=admin)
    case = report(client, auth("grid_worker"), *worker_point).get_json()
    case = act(client, auth("acceptor"), case, "accept")
    case = act(client, auth("shift_leader"), case, "file")
    act(client, auth("dispatcher"), case, "dispatch", {"department": "old"}, expect=422)


# -- responsibility rules ------------------------------------------------------------------


def test_the_next_dispatch_follows_a_rule_the_admin_adds(client, admin, auth, worker_point):
    dry = client.get(
        "/api/v1/admin/rules/dry-run",
        query_string={"category": "SJ0102", "lon": worker_point[0], "lat": worker_point[1]},
        headers=admin,
    ).get_json()
    assert dry["department"]["code"] == "sanitation"
    assert dry["rule"]["area"] == "430423" and dry["street"]["code"] == STREET
    assert dry["handlers"] >= 1

    created = client.post(
        "/api/v1/admin/rules",
        json={"category": "SJ0102", "area": STREET, "department": "urban-enforcement"},
        headers=admin,
    )
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()

    dry = client.get(
        "/api/v1/admin/rules/dry-run",
        query_string={"category": "SJ0102", "lon": worker_point[0], "lat": worker_point[1]},
        headers=admin,
    ).get_json()
    assert dry["department"]["code"] == "urban-enforcement" and dry["rule"]["id"] == rule["id"]
    case = report(client, auth("grid_worker"), *worker_point).get_json()
    case = act(client, auth("acceptor"), case, "accept")
    case = act(client, auth("shift_leader"), case, "file")
    case = act(client, auth("dispatcher"), case, "dispatch")
    assert case["department"] == "urban-enforcement"
    history = client.get(f"/api/v1/cases/{case['id']}/history", headers=admin).get_json()
    dispatch = next(e for e in history["events"] if e["action"] == "dispatch")
    assert dispatch["data"]["rule"]["id"] == rule["id"]

    # The admin changes it back; the next dispatch follows again, with no restart.
    changed = client.patch(
        f"/api/v1/admin/rules/{rule['id']}", json={"department": "sanitation"}, headers=admin
    )
    assert changed.status_code == 200, changed.get_json()
    case = report(client, auth("grid_worker"), *worker_point).get_json()
    case = act(client, auth("acceptor"), case, "accept")
    case = act(client, auth("shift_leader"), case, "file")
    case = act(client, auth("dispatcher"), case, "dispatch")
    assert case["department"] == "sanitation"
    entry = last_change(client, admin, "admin.rule.update")
    assert entry["before"] == {"department": "urban-enforcement"}
    assert entry["after"] == {"department": "sanitation"}

    assert client.delete(f"/api/v1/admin/rules/{rule['id']}", headers=admin).status_code == 204
    problem_of(client.get(f"/api/v1/admin/rules/{rule['id']}", headers=admin), 404)
    entry = last_change(client, admin, "admin.rule.delete")
    assert entry["before"]["department"] == "sanitation" and entry["after"] is None


def test_rules_list_filters_and_pages(client, admin):
    page = client.get("/api/v1/admin/rules?category=SJ0102", headers=admin).get_json()
    assert [r["department"] for r in page["items"]] == ["sanitation"]
    first = client.get("/api/v1/admin/rules?limit=3", headers=admin).get_json()
    second = client.get(
        f"/api/v1/admin/rules?limit=3&cursor={first['next_cursor']}", headers=admin
    ).get_json()
    assert second["items"][0]["id"] > first["items"][-1]["id"]
    problem_of(client.get("/api/v1/admin/rules?cursor=nonsense", headers=admin), 422)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"category": "XX9999", "area": STREET, "department": "sanitation"}, 422, "category"),
        ({"category": "SJ0102", "area": "999999", "department": "sanitation"}, 422, "area"),
        ({"category": "SJ0102", "area": STREET, "department": "nonesuch"}, 422, "department"),
        ({"category": "SJ0102", "area": "430423", "department": "sanitation"}, 409, None),
        ({"area": STREET}, 422, "department"),
        ({"category": "SJ0102", "area": STREET, "department": "sanitation", "x": 1}, 422, "x"),
    ],
)
def test_bad_rules_are_refused_and_store_nothing(client, admin, body, status, field):
    before = client.get("/api/v1/admin/rules?limit=500", headers=admin).get_json()

    problem = problem_of(client.post("/api/v1/admin/rules", json=body, headers=admin), status)

    if field:
        assert field in problem["errors"], problem
    assert client.get("/api/v1/admin/rules?limit=500", headers=admin).get_json() == before


def test_a_rule_for_every_category_in_an_area(client, admin, worker_point):
    created = client.post(
        "/api/v1/admin/rules",
        json={"category": None, "area": STREET, "department": "urban-enforcement", "note": "all"},
        headers=admin,
    )
    assert created.status_code == 201, created.get_json()
    dry = client.get(
        "/api/v1/admin/rules/dry-run",
        query_string={"category": "SJ0102", "lon": worker_point[0], "lat": worker_point[1]},
        headers=admin,
    ).get_json()
    # A longer area code wins over a named category at the county level.
    assert dry["rule"]["id"] == created.get_json()["id"]
    problem_of(
        client.post(
            "/api/v1/admin/rules",
            json={"category": None, "area": STREET, "department": "sanitation"},
            headers=admin,
        ),
        409,
    )


def test_dry_run_outside_and_unknown(client, admin):
    outside = client.get(
        "/api/v1/admin/rules/dry-run?category=SJ0102&lon=100&lat=30", headers=admin
    )
    assert "location" in problem_of(outside, 422)["errors"]
    unknown = client.get(
        "/api/v1/admin/rules/dry-run?category=XX9999&lon=112.86&lat=27.23", headers=admin
    )
    assert "category" in problem_of(unknown, 422)["errors"]
    problem_of(client.get("/api/v1/admin/rules/dry-run?lon=1&lat=1", headers=admin), 422)
    problem_of(client.patch("/api/v1/admin/rules/999999", json={}, headers=admin), 404)
    problem_of(client.delete("/api/v1/admin/rules/999999", headers=admin), 404)
