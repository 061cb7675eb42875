"""The change log: admin.* audit entries, newest first, one cursor format."""

from __future__ import annotations

from tests.gridapp.conftest import problem_of


def test_changes_are_newest_first_paged_and_only_administrative(client, auth, session):
    from gridapp.core.audit import record_audit

    admin = auth("admin")
    record_audit(session, "auth.login", target_type="user", target_id=1)  # not a change
    for name in ("甲", "乙", "丙"):
        response = client.patch(
            "/api/v1/admin/departments/sanitation", json={"name": name}, headers=admin
        )
        assert response.status_code == 200, response.get_json()

    first = client.get("/api/v1/admin/changes?limit=2", headers=admin).get_json()
    assert [c["after"] for c in first["items"]] == [{"name": "丙"}, {"name": "乙"}]
    assert all(c["action"].startswith("admin.") for c in first["items"])
    me = client.get("/api/v1/auth/me", headers=admin).get_json()
    assert first["items"][0]["actor"] == me["id"] and first["items"][0]["actor_role"] == "admin"
    assert first["items"][0]["target_type"] == "department"
    assert first["items"][0]["at"]
    second = client.get(
        f"/api/v1/admin/changes?limit=2&cursor={first['next_cursor']}", headers=admin
    ).get_json()
    assert second["items"][0]["after"] == {"name": "甲"}
    assert second["items"][0]["id"] < first["items"][-1]["id"]
    everything = client.get("/api/v1/admin/changes?limit=500", headers=admin).get_json()
    assert "auth.login" not in {c["action"] for c in everything["items"]}


def test_a_change_that_changes_nothing_is_not_recorded(client, auth):
    admin = auth("admin")
    before = client.get("/api/v1/admin/changes", headers=admin).get_json()["items"]
    client.patch("/api/v1/admin/departments/sanitation", json={}, headers=admin)
    assert client.get("/api/v1/admin/changes", headers=admin).get_json()["items"] == before


def test_a_refused_change_leaves_no_entry(client, auth):
    admin = auth("admin")
    before = client.get("/api/v1/admin/changes", headers=admin).get_json()["items"]
    problem_of(
        client.patch("/api/v1/admin/departments/sanitation", json={"active": False}, headers=admin),
        409,
    )
    assert client.get("/api/v1/admin/changes", headers=admin).get_json()["items"] == before


def test_a_bad_cursor_is_422(client, auth):
    response = client.get("/api/v1/admin/changes?cursor=%%%", headers=auth("admin"))
    assert "cursor" in problem_of(response, 422)["errors"]
