"""The urban process as cities run it (issue 9): each new limit on the working-time clock.

Actions are taken through the same rows and effects as the API's (`workflow.select`, then
`apply_transition`), at chosen instants, so each deadline can be computed by hand: Monday
23 November 2026 is a working day (08:30–12:00, 14:30–18:00 Asia/Shanghai).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.actions import apply_transition, facts
from gridapp.cases.models import Case, CaseEvent
from gridapp.grid.models import Area
from tests.gridapp.case_helpers import act, grid_point, report

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
SATURDAY_NIGHT = datetime(2026, 11, 28, 23, 0, tzinfo=SHANGHAI)
URBAN = workflow.PROCESSES["urban"]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def _user(session: Any, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def take(
    session: Any,
    case: Case,
    username: str,
    action: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> CaseEvent:
    """Take an action as a demo user at an instant: the definition decides, the row acts."""
    user = _user(session, username)
    body = payload or {}
    row = workflow.select(URBAN, case.state, action, user.role, facts(user, case, body, now=at))
    event = apply_transition(session, case, row, actor=user, payload=body, now=at)
    session.flush()
    return event


@pytest.fixture()
def new_case(client: Any, auth: Any, session: Any) -> Any:
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])

    def make(urgency: str = "normal") -> Case:
        made = report(client, worker, *point)
        assert made.status_code == 201, made.get_json()
        case = session.get(Case, made.get_json()["id"])
        case.urgency = urgency
        session.flush()
        return case

    return make


def _local(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment.astimezone(SHANGHAI)


def test_filing_and_dispatch_take_thirty_minutes_together(session, new_case):
    case = new_case()
    take(session, case, "acceptor", "accept", MONDAY)
    assert _local(case.deadline) == MONDAY + minutes(30)
    filing = take(session, case, "shift_leader", "file", MONDAY + minutes(20))
    # The step goes on: the dispatcher has what is left of the 30 minutes, not 30 more.
    assert _local(case.deadline) == MONDAY + minutes(30)
    assert _local(case.step_started_at) == MONDAY
    assert filing.data["step"]["on_time"] is True
    dispatch = take(session, case, "dispatcher", "dispatch", MONDAY + minutes(31))
    assert dispatch.data["step"] == {
        "state": "filed",
        "deadline": (MONDAY + minutes(30)).astimezone(case.deadline.tzinfo).isoformat(),
        "on_time": False,
    }


def test_urgent_cases_have_ten_minutes_for_filing_and_dispatch(session, new_case):
    case = new_case("urgent")
    take(session, case, "acceptor", "accept", MONDAY)
    assert _local(case.deadline) == MONDAY + minutes(10)
    take(session, case, "shift_leader", "file", MONDAY + minutes(4))
    assert _local(case.deadline) == MONDAY + minutes(10)
    dispatch = take(session, case, "dispatcher", "dispatch", MONDAY + minutes(9))
    assert dispatch.data["step"]["on_time"] is True


def test_filing_that_makes_a_case_urgent_leaves_ten_minutes_from_acceptance(session, new_case):
    case = new_case()
    take(session, case, "acceptor", "accept", MONDAY)
    filing = take(session, case, "shift_leader", "file", MONDAY + minutes(6), {"urgency": "urgent"})
    # Filed in time by the deadline in force (30 minutes); the dispatch has until 09:10.
    assert filing.data["step"]["on_time"] is True
    assert _local(case.deadline) == MONDAY + minutes(10)
    assert filing.data["deadline"] == case.deadline.isoformat()


def test_urgent_cases_count_every_hour(session, new_case):
    urgent, normal = new_case("urgent"), new_case()
    take(session, urgent, "acceptor", "accept", SATURDAY_NIGHT)
    take(session, normal, "acceptor", "accept", SATURDAY_NIGHT)
    assert _local(urgent.deadline) == SATURDAY_NIGHT + minutes(10)
    # The normal case waits for Monday's first working period: 08:30 + 30 working minutes.
    assert _local(normal.deadline) == datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)


def test_the_department_acknowledges_within_thirty_minutes_then_its_clock_starts(session, new_case):
    case = new_case()
    take(session, case, "acceptor", "accept", MONDAY - minutes(20))
    take(session, case, "shift_leader", "file", MONDAY - minutes(10))
    take(session, case, "dispatcher", "dispatch", MONDAY, {"department": "sanitation"})
    assert case.state == "dispatched"
    assert _local(case.deadline) == MONDAY + minutes(30)
    late = take(session, case, "handler2", "acknowledge", MONDAY + minutes(45))
    assert late.data["step"]["on_time"] is False
    assert case.state == "handling"
    # Handling runs from acknowledgement (签收), on the category's or the process's limit.
    assert _local(case.step_started_at) == MONDAY + minutes(45)
    calendar = work_calendar(session)
    allowed = workflow.elapsed(case.step_started_at, case.deadline, calendar)
    handling = case.category.time_limits.get("handling")
    expected = (
        workflow.TimeLimit(float(handling["amount"]), workflow.TimeUnit(handling["unit"]))
        if handling
        else URBAN.limit_for(workflow.State.handling)
    )
    assert expected is not None and allowed == expected.duration(calendar)
    assert late.data["deadline"] == case.deadline.isoformat()


@pytest.mark.parametrize(("setting", "hours"), [("urban", 1), ("rural", 2)])
def test_checks_and_verifications_take_longer_in_rural_grids(session, new_case, setting, hours):
    case = new_case()
    case.setting, case.source = setting, "citizen"  # a citizen's report is checked on site
    worker = _user(session, "grid_worker")
    take(session, case, "acceptor", "request_check", MONDAY, {"grid_worker": worker.id})
    assert _local(case.deadline) == MONDAY + timedelta(hours=hours)
    take(session, case, "grid_worker", "check_reply", MONDAY + minutes(30), {"confirmed": True})
    case.state = "handled"  # verification next: as if the department had handled it
    session.flush()
    take(
        session,
        case,
        "acceptor",
        "assign_verification",
        MONDAY + minutes(40),
        {"grid_worker": worker.id},
    )
    assert _local(case.deadline) == MONDAY + minutes(40) + timedelta(hours=hours)


def test_a_case_in_a_village_grid_is_rural(client, auth, session):
    """Intake copies the located grid's setting: the demo's villages (村) are rural."""
    village_grid = session.scalar(
        select(Area.code).where(Area.level == "grid", Area.setting == "rural").limit(1)
    )
    town_grid = session.scalar(
        select(Area.code).where(Area.level == "grid", Area.setting == "urban").limit(1)
    )
    assert village_grid is not None and town_grid is not None
    acceptor = auth("acceptor")
    for grid, setting in ((village_grid, "rural"), (town_grid, "urban")):
        lon, lat = grid_point(client, acceptor, grid)
        located = client.get(
            f"/api/v1/grid/locate?lon={lon}&lat={lat}", headers=acceptor
        ).get_json()
        assert located["grid"]["code"] == grid and located["setting"] == setting
        taken = client.post(
            "/api/v1/cases",
            json={
                "category": "SJ0102",
                "description": "垃圾 by the road",
                "source": "hotline",
                "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
            },
            headers=acceptor,
        )
        assert taken.status_code == 201, taken.get_json()
        assert session.get(Case, taken.get_json()["id"]).setting == setting


def test_a_second_extension_needs_the_shift_leader(client, auth, session, new_case):
    case = new_case()
    take(session, case, "acceptor", "accept", MONDAY)
    take(session, case, "shift_leader", "file", MONDAY + minutes(5))
    take(
        session, case, "dispatcher", "dispatch", MONDAY + minutes(10), {"department": "sanitation"}
    )
    take(session, case, "handler2", "acknowledge", MONDAY + minutes(15))
    until = {"until": "2030-01-01T10:00:00+08:00", "reason": "parts on order"}
    take(session, case, "handler2", "request_extension", MONDAY + minutes(20), until)
    take(session, case, "dispatcher", "approve_extension", MONDAY + minutes(25))
    assert case.extension_count == 1
    later = {"until": "2030-02-01T10:00:00+08:00", "reason": "still on order"}
    take(session, case, "handler2", "request_extension", MONDAY + minutes(30), later)
    # Through the API: the dispatcher is refused the second one and no longer offered it.
    dispatcher, leader = auth("dispatcher"), auth("shift_leader")
    shown = client.get(f"/api/v1/cases/{case.id}", headers=dispatcher).get_json()
    assert "approve_extension" not in {a["name"] for a in shown["actions"]}
    refused = act(client, dispatcher, shown, "approve_extension", expect=409)
    assert refused["state"] == "extension_requested"
    answer = client.post(
        f"/api/v1/cases/{case.id}/actions/approve_extension",
        json={},
        headers={**dispatcher, "If-Match": f'"{shown["version"]}"'},
    ).get_json()
    assert "shift leader" in answer["detail"]
    shown = client.get(f"/api/v1/cases/{case.id}", headers=leader).get_json()
    assert "approve_extension" in {a["name"] for a in shown["actions"]}
    approved = act(client, leader, shown, "approve_extension")
    assert approved["state"] == "handling" and approved["deadline"].startswith("2030-02-01")
