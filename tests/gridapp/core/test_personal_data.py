"""Reads of personal data are audited: a desk role shown a caller's details leaves one entry
naming the case (never the details); a role not shown them leaves none."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridapp.core.audit import AuditEntry
from gridapp.core.personal_data import READ
from tests.gridapp.case_helpers import grid_point, report


def entries(session: Any) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == READ)))


def test_showing_a_callers_details_is_audited(client: Any, auth: Any, session: Any) -> None:
    operator = auth("hotline_operator")
    taken = client.post(
        "/api/v1/cases",
        json={
            "category": "RX8004",
            "description": "Night-time building noise",
            "source": "hotline",
            "address": "12 Jianshe Road",
            "caller": {"name": "Zhang", "phone": "13800000000"},
        },
        headers=operator,
    )
    assert taken.status_code == 201, taken.get_json()
    case_id = taken.get_json()["id"]
    before = len(entries(session))

    dispatcher = auth("dispatcher")
    shown = client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).get_json()
    assert shown["caller"]["phone"] == "13800000000"

    [entry] = entries(session)[before:]
    assert entry.target_type == "case" and entry.target_id == str(case_id)
    assert entry.details["ids"] == [str(case_id)]
    assert entry.actor_role == "dispatcher"
    assert "13800000000" not in str(entry.details) and "Zhang" not in str(entry.details)

    listed = client.get("/api/v1/cases?source=hotline", headers=dispatcher).get_json()
    assert any(item["id"] == case_id for item in listed["items"])
    assert str(case_id) in entries(session)[-1].details["ids"]

    # A grid worker's report carries no caller: reading it shows nothing personal.
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    reported = report(client, worker, *grid_point(client, worker, me["grids"][0])).get_json()
    count = len(entries(session))
    assert client.get(f"/api/v1/cases/{reported['id']}", headers=dispatcher).status_code == 200
    assert len(entries(session)) == count
