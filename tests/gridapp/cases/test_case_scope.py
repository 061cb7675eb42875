"""Every role against every case endpoint, with a case in its scope and one outside it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select, update

from gridapp.cases.models import CaseEvent
from tests.conftest import as_owner, login
from tests.gridapp.case_helpers import act, grid_point, report

ROLES = [
    "grid_worker",
    "grid_worker2",
    "acceptor",
    "dispatcher",
    "shift_leader",
    "handler",
    "handler2",
    "dept_admin",
    "supervisor",
    "admin",
]
READ_PATHS = [
    "/api/v1/cases/{id}",
    "/api/v1/cases/{id}/history",
    "/api/v1/cases/{id}/history/verify",
]


@pytest.fixture()
def world(client: Any, session: Any) -> dict[str, Any]:
    """Two cases in handling (sanitation, urban-enforcement) in two grid workers' grids."""
    from gridapp.accounts.services import create_user

    create_user(
        session,
        username="acceptor_nanyue",
        password="demo-pass-2026",
        role="acceptor",
        district="430412",
        totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",  # an acceptor signs in with a code
    )
    session.flush()
    heads = {name: login(client, name) for name in ROLES}
    heads["acceptor_nanyue"] = login(client, "acceptor_nanyue")

    def make(worker: str, department: str) -> dict[str, Any]:
        me = client.get("/api/v1/auth/me", headers=heads[worker]).get_json()
        case = report(client, heads[worker], *grid_point(client, heads[worker], me["grids"][0]))
        case = case.get_json()
        case = act(client, heads["acceptor"], case, "accept")
        case = act(client, heads["shift_leader"], case, "file")
        case = act(client, heads["dispatcher"], case, "dispatch", {"department": department})
        # The department acknowledges it (签收): the case is in handling.
        handler = "handler2" if department == "sanitation" else "handler"
        return act(client, heads[handler], case, "acknowledge")

    return {
        "heads": heads,
        "a": make("grid_worker", "sanitation"),
        "b": make("grid_worker2", "urban-enforcement"),
    }


# role → (case it sees, case it does not see); supervisors and admins see every case.
SCOPE = {
    "grid_worker": ("a", "b"),
    "grid_worker2": ("b", "a"),
    "acceptor": ("a", None),
    "dispatcher": ("a", None),
    "shift_leader": ("b", None),
    "handler": ("b", "a"),
    "handler2": ("a", "b"),
    "dept_admin": ("b", "a"),
    "supervisor": ("a", None),
    "admin": ("b", None),
    "acceptor_nanyue": (None, "a"),
}


@pytest.mark.parametrize("role", list(SCOPE))
def test_every_role_reads_in_scope_and_not_outside(client, world, role):
    inside, outside = SCOPE[role]
    headers = world["heads"][role]
    for path in READ_PATHS:
        if inside:
            assert (
                client.get(path.format(id=world[inside]["id"]), headers=headers).status_code == 200
            )
        if outside:
            assert (
                client.get(path.format(id=world[outside]["id"]), headers=headers).status_code == 404
            )
    listed = {c["id"] for c in client.get("/api/v1/cases", headers=headers).get_json()["items"]}
    if inside:
        assert world[inside]["id"] in listed
    if outside:
        assert world[outside]["id"] not in listed
    mobile = client.get(f"/api/v1/mobile/cases/{world['a']['id']}", headers=headers)
    if role.startswith("grid_worker"):
        assert mobile.status_code == (200 if inside == "a" else 404)
    else:
        assert mobile.status_code == 403


@pytest.mark.parametrize("role", list(SCOPE))
def test_every_role_acts_in_scope_and_not_outside(client, world, role):
    inside, outside = SCOPE[role]
    headers = world["heads"][role]
    if outside:
        case = world[outside]
        response = client.post(
            f"/api/v1/cases/{case['id']}/actions/feedback",
            json={},
            headers={**headers, "If-Match": f'"{case["version"]}"'},
        )
        assert response.status_code == 404
    if inside:
        case = world[inside]
        # Nobody may accept a case in handling: in scope, the answer is 409 with the reason.
        response = client.post(
            f"/api/v1/cases/{case['id']}/actions/accept",
            json={},
            headers={**headers, "If-Match": f'"{case["version"]}"'},
        )
        assert response.status_code == 409
        assert "accept when in handling: waiting for the handler" in response.get_json()["detail"]
        supervise = client.post(
            f"/api/v1/cases/{case['id']}/actions/supervise",
            json={},
            headers={**headers, "If-Match": f'"{case["version"]}"'},
        )
        assert supervise.status_code == (200 if role in {"shift_leader", "supervisor"} else 409)


def test_tampered_history_is_detected(client, world, session):
    case_id = world["a"]["id"]
    headers = world["heads"]["supervisor"]
    assert client.get(f"/api/v1/cases/{case_id}/history/verify", headers=headers).get_json()[
        "intact"
    ]
    as_owner(session)
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.seq == 2)
        .values(comment="edited afterwards")
    )
    session.flush()
    report_ = client.get(f"/api/v1/cases/{case_id}/history/verify", headers=headers).get_json()
    assert report_["intact"] is False and report_["first_broken_seq"] == 2


def test_multipart_report_with_photos(client, world, session):
    headers = world["heads"]["grid_worker"]
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    lon, lat = grid_point(client, headers, me["grids"][1])
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 10)).save(buffer, "PNG")
    import json

    data = {
        "category": "BJ0101",
        "description": "井盖破损",
        "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
    }
    response = client.post(
        "/api/v1/mobile/reports",
        data={"data": json.dumps(data), "photos": [(io.BytesIO(buffer.getvalue()), "a.png")]},
        content_type="multipart/form-data",
        headers={**headers, "Idempotency-Key": "multipart-1"},
    )
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    history = client.get(f"/api/v1/cases/{case['id']}/history", headers=headers).get_json()
    assert len(history["events"][0]["attachments"]) == 1
    again = client.post(
        "/api/v1/mobile/reports",
        data={"data": json.dumps(data), "photos": [(io.BytesIO(buffer.getvalue()), "a.png")]},
        content_type="multipart/form-data",
        headers={**headers, "Idempotency-Key": "multipart-1"},
    )
    assert again.status_code == 201 and again.get_json()["id"] == case["id"]
    bad = client.post(
        "/api/v1/mobile/reports",
        data={"data": "{not json"},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert bad.status_code == 422 and "data" in bad.get_json()["errors"]
    misspelt = client.post(
        "/api/v1/mobile/reports",
        data={"data": json.dumps(data), "photo": [(io.BytesIO(buffer.getvalue()), "a.png")]},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert misspelt.status_code == 422 and "photo" in misspelt.get_json()["errors"]


def test_component_within_30_m_is_linked(client, world, session):
    from gridapp.catalogue.models import Component

    component = session.scalars(
        select(Component).where(Component.category_code == "BJ0101")
    ).first()
    headers = world["heads"]["supervisor"]
    worker = world["heads"]["grid_worker"]
    # 10 m north of the component: linked; 80 m away: not.
    near = report(
        client, worker, component.lon, component.lat + 10 / 110_574.0, category="BJ0101"
    ).get_json()
    far = report(client, worker, component.lon, component.lat + 80 / 110_574.0, category="BJ0101")
    assert near["component"] == component.id
    if far.status_code == 201:  # 80 m away may fall outside the worker's grids: still placed
        assert far.get_json()["component"] is None
    assert headers
