"""Queue lists: the SLA filter of `GET /api/v1/cases` and the exact `total` of a queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gridapp.cases.models import Case
from tests.gridapp.case_helpers import grid_point, report


def _clocked_cases(client: Any, auth: Any, session: Any, mark: str) -> dict[str, int]:
    """Report cases and set their clocks: ok, warning, overdue, and two paused (挂账) ones."""
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])
    now = datetime.now(UTC)
    # (hours since the step started, hours to its deadline, paused): natural hours (urgent),
    # so nothing depends on today's working hours; the warning share is 80 %.
    # A paused clock stands where it stood when the pause began (5 minutes ago).
    clocks = {"ok": (1, 10, False), "warning": (10, 1, False), "overdue": (10, -1, False)}
    clocks |= {"paused_in_time": (1, 10, True), "paused_late": (10, -1, True)}
    ids = {}
    for name, (started, due, paused) in clocks.items():
        made = report(client, worker, *point, description=f"{mark} {name}").get_json()
        case = session.get(Case, made["id"])
        case.urgency = "urgent"
        case.step_started_at = now - timedelta(hours=started)
        case.deadline = now + timedelta(hours=due)
        if paused:
            case.paused_at = now - timedelta(minutes=5)
        ids[name] = case.id
    session.flush()  # warn_at is computed from the clock on flush
    return ids


def _listed(client: Any, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = client.get("/api/v1/cases", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_sla_filter_agrees_with_each_case_clock(client, auth, session):
    ids = _clocked_cases(client, auth, session, "sla-filter-7d1")
    acceptor = auth("acceptor")
    for status, expected in (
        ("warning", {ids["warning"]}),
        ("overdue", {ids["overdue"], ids["paused_late"]}),
        ("ok", {ids["ok"], ids["paused_in_time"]}),
    ):
        page = _listed(client, acceptor, q="sla-filter-7d1", sla=status, sort="deadline")
        assert {c["id"] for c in page["items"]} == expected, status
        assert {c["sla"]["status"] for c in page["items"]} == {status}
    overdue = _listed(client, acceptor, q="sla-filter-7d1", overdue="true")["items"]
    assert {c["id"] for c in overdue} == {ids["overdue"], ids["paused_late"]}
    not_overdue = _listed(client, acceptor, q="sla-filter-7d1", overdue="false")["items"]
    assert {c["id"] for c in not_overdue} == {ids["ok"], ids["warning"], ids["paused_in_time"]}


def test_total_counts_the_whole_queue_not_the_page(client, auth, session):
    ids = _clocked_cases(client, auth, session, "sla-total-9c4")
    acceptor = auth("acceptor")
    page = _listed(client, acceptor, q="sla-total-9c4", limit=1, total="true")
    assert page["total"] == len(ids) and len(page["items"]) == 1 and page["next_cursor"]
    assert _listed(client, acceptor, q="sla-total-9c4", sla="warning", total="true")["total"] == 1
    assert _listed(client, acceptor, q="sla-total-9c4")["total"] is None  # only when asked
    # Scope holds for the count too: another district's desk sees none of them.
    handler2 = auth("handler2")
    assert _listed(client, handler2, q="sla-total-9c4", total="true")["total"] == 0


def test_bad_sla_value_is_a_field_error(client, auth):
    response = client.get("/api/v1/cases", query_string={"sla": "late"}, headers=auth("acceptor"))
    assert response.status_code == 422
    assert "sla" in response.get_json()["errors"]
