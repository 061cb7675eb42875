"""Every 403, and every 404 for an object outside the caller's scope, is in the audit trail
(issue 10): in a transaction of its own, since the refused request's is rolled back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridapp.cases.examples import DESK_INTAKE
from gridapp.core.audit import AuditEntry, verify_audit_chain
from gridapp.core.denials import DENIED
from tests.gridapp.conftest import login_headers, problem_of
from tests.gridapp.core.test_inputs import reported_case


def denials(session: Any) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == DENIED).order_by(AuditEntry.id)
        )
    )


def test_a_403_is_audited_with_who_and_where(client: Any, session: Any) -> None:
    worker = login_headers(client, "grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    before = len(denials(session))

    # Desk intake is for acceptors and hotline operators.
    body = {**DESK_INTAKE, "description": "电话 13800000000"}
    problem_of(client.post("/api/v1/cases", json=body, headers=worker), 403)

    entries = denials(session)
    assert len(entries) == before + 1
    entry = entries[-1]
    assert (entry.actor_id, entry.actor_role, entry.result) == (me["id"], "grid_worker", "denied")
    assert entry.source_ip == client.environ_base["REMOTE_ADDR"]  # each test calls from its own
    assert entry.details == {
        "status": 403,
        "method": "POST",
        "route": "/api/v1/cases",
        "reason": "forbidden",
    }
    # Nothing the caller sent (a phone number here) is kept.
    assert "13800000000" not in str(entry.details)
    assert verify_audit_chain(session).intact


def test_an_out_of_scope_case_is_a_404_and_audited(client: Any, session: Any) -> None:
    case = reported_case(client)
    other = login_headers(client, "grid_worker2")
    before = len(denials(session))

    for path in (f"/api/v1/cases/{case['id']}", f"/api/v1/mobile/cases/{case['id']}"):
        problem_of(client.get(path, headers=other), 404)

    entries = denials(session)[before:]
    assert [(e.target_type, e.target_id, e.details["status"]) for e in entries] == [
        ("case", str(case["id"]), 404),
        ("case", str(case["id"]), 404),
    ]


def test_a_missing_case_is_not_a_denial(client: Any, session: Any) -> None:
    worker = login_headers(client, "grid_worker")
    before = len(denials(session))

    problem_of(client.get("/api/v1/cases/2147483000", headers=worker), 404)

    assert len(denials(session)) == before


def test_a_refused_action_leaves_the_denial_but_not_the_change(client: Any, session: Any) -> None:
    case = reported_case(client)
    other = login_headers(client, "grid_worker2")
    before = len(denials(session))

    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        json={},
        headers={**other, "If-Match": f'"{case["version"]}"'},
    )

    assert response.status_code in (403, 404)
    assert len(denials(session)) == before + 1
    owner = login_headers(client, "grid_worker")
    assert (
        client.get(f"/api/v1/cases/{case['id']}", headers=owner).get_json()["version"]
        == case["version"]
    )
