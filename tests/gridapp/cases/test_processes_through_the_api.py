"""The hotline and social-governance processes run to their ends through the API, and the
disagreements found in review stay fixed (hotline close, holding centre per level, resume on
working time, the state filter for every process).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import workflow
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import pause_step, resume_step, start_step
from gridapp.cases.models import Case
from tests.gridapp.case_helpers import act, grid_point, photo_id, report


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    names = [
        "grid_worker",
        "acceptor",
        "dispatcher",
        "shift_leader",
        "hotline_operator",
        "community_center",
        "street_center",
        "supervisor",
    ]
    return {name: auth(name) for name in names}


@pytest.fixture()
def worker_point(client: Any, people: dict[str, dict[str, str]]) -> tuple[float, float]:
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    return grid_point(client, people["grid_worker"], me["grids"][0])


def _names(case: dict[str, Any]) -> list[str]:
    return [action["name"] for action in case["actions"]]


def test_a_hotline_call_runs_to_closed_after_a_satisfied_call_back(client, people, auth):
    taken = client.post(
        "/api/v1/cases",
        json={
            "category": "RX8004",
            "description": "市民来电：夜间施工噪音扰民",
            "source": "hotline",
            "address": "开云镇建设路12号",
            "caller": {"name": "张先生", "phone": "13800000000"},
        },
        headers=people["hotline_operator"],
    )
    assert taken.status_code == 201, taken.get_json()
    case = taken.get_json()
    assert (case["process"], case["state"], case["source"]) == ("hotline", "reported", "hotline")
    assert case["location"] is None and case["district_code"] == "430423"
    assert case["caller"] == {"name": "张先生", "phone": "13800000000"}
    assert {"accept", "reply"} <= set(_names(case))
    # An acceptor stands in for the operator at the desk; the dispatcher may send it (派单).
    case = act(client, people["acceptor"], case, "accept")
    assert case["state"] == "filed"
    case = act(client, people["dispatcher"], case, "dispatch")
    assert case["state"] == "dispatched" and case["department"] == "urban-enforcement"
    handler = auth("handler")
    seen = client.get(f"/api/v1/cases/{case['id']}", headers=handler).get_json()
    # Personal data: a handler's view never shows the caller.
    assert seen["caller"] is None and _names(seen)[0] == "acknowledge"
    case = act(client, handler, case, "acknowledge")
    case = act(client, handler, case, "feedback", {"comment": "已责令停工"})
    assert case["state"] == "replied"
    unsatisfied = {"resolved": False, "satisfaction": "unsatisfied"}
    case = act(client, people["hotline_operator"], case, "call_back", unsatisfied)
    # Not satisfied: the close guard refuses, the redo is open.
    act(client, people["shift_leader"], case, "close", expect=409)
    case = act(client, people["hotline_operator"], case, "rework", {"reason": "市民不满意"})
    assert case["state"] == "handling" and case["rework_count"] == 1
    case = act(client, handler, case, "feedback", {"comment": "已复查"})
    satisfied = {"resolved": True, "satisfaction": "satisfied"}
    case = act(client, people["acceptor"], case, "call_back", satisfied)
    assert "close" in _names(
        client.get(f"/api/v1/cases/{case['id']}", headers=people["shift_leader"]).get_json()
    )
    case = act(client, people["shift_leader"], case, "close")
    assert case["state"] == "closed" and case["deadline"] is None and case["actions"] == []


def test_a_social_event_escalates_level_by_level_to_closed(client, people, worker_point):
    created = report(client, people["grid_worker"], *worker_point, category="SJ9101")
    assert created.status_code == 201, created.get_json()
    case = created.get_json()
    assert (case["process"], case["state"]) == ("social", "reported")
    assert set(_names(case)) == {"self_handle", "escalate"}
    case = act(client, people["grid_worker"], case, "escalate", {"reason": "需社区协调"})
    assert case["state"] == "community_accepting"
    # Only the centre at the level holding the case acts: not the street's, not the county's.
    for outsider in ("street_center", "dispatcher"):
        act(client, people[outsider], case, "accept", expect=409)
    case = act(client, people["community_center"], case, "accept")
    case = act(client, people["community_center"], case, "escalate", {"reason": "需街道处理"})
    assert case["state"] == "street_accepting"
    act(client, people["community_center"], case, "accept", expect=409)
    case = act(client, people["street_center"], case, "accept")
    act(client, people["community_center"], case, "feedback", expect=409)
    photo = photo_id(client, people["street_center"])
    case = act(client, people["street_center"], case, "feedback", {"photos": [photo]})
    assert case["state"] == "handled"
    case = act(client, people["grid_worker"], case, "close")
    assert case["state"] == "closed" and case["actions"] == []


def test_the_state_filter_takes_every_process_s_states(client, people):
    for state in ("community_handling", "street_accepting", "called_back", "replied", "reported"):
        response = client.get(f"/api/v1/cases?state={state}", headers=people["supervisor"])
        assert response.status_code == 200, (state, response.get_json())
    assert (
        client.get("/api/v1/cases?state=nowhere", headers=people["supervisor"]).status_code == 422
    )


def test_a_case_says_what_its_caller_may_do_with_which_fields(client, people, worker_point):
    case = report(client, people["grid_worker"], *worker_point).get_json()
    assert _names(case) == ["self_handle"]
    assert case["actions"][0]["label"] == "self handle"  # the test client reads English
    assert {"name": "photos", "required": True} in case["actions"][0]["fields"]
    desk = client.get(f"/api/v1/cases/{case['id']}", headers=people["acceptor"]).get_json()
    # request_check is for citizen and hotline reports: a grid worker was there.
    assert _names(desk) == ["accept", "reject", "merge"]
    leader = client.get(f"/api/v1/cases/{case['id']}", headers=people["shift_leader"]).get_json()
    assert _names(leader) == ["supervise"]


def test_dispatch_to_a_department_nobody_works_in_is_refused(client, people, session, auth):
    from gridapp.catalogue.models import Department

    session.add(Department(code="empty-dept", name="没有人的部门"))
    session.flush()
    case = report(client, people["grid_worker"], *grid_point_of(client, people)).get_json()
    case = act(client, people["acceptor"], case, "accept")
    case = act(client, people["shift_leader"], case, "file")
    response = client.post(
        f"/api/v1/cases/{case['id']}/actions/dispatch",
        json={"department": "empty-dept"},
        headers={**people["dispatcher"], "If-Match": f'"{case["version"]}"'},
    )
    assert response.status_code == 409
    assert "empty-dept" in response.get_json()["detail"]


def grid_point_of(client: Any, people: dict[str, dict[str, str]]) -> tuple[float, float]:
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    return grid_point(client, people["grid_worker"], me["grids"][0])


def test_resume_moves_the_deadline_by_working_time_not_wall_clock(session):
    calendar = work_calendar(session)
    zone = workflow.LOCAL_ZONE
    # Dispatched on Monday 2026-11-23 09:00 with 2 working days (14 working hours); paused on
    # Tuesday 17:00 after 12.5 working hours, resumed on Friday 17:00.
    start = datetime(2026, 11, 23, 9, 0, tzinfo=zone).astimezone(UTC)
    case = Case(process="urban", state="handling", urgency="normal")
    limit = workflow.TimeLimit(2, workflow.TimeUnit.working_days)
    start_step(case, "handling", None, calendar, start)
    case.deadline = workflow.deadline(start, limit, calendar).astimezone(UTC)
    before = case.deadline
    paused_at = datetime(2026, 11, 24, 17, 0, tzinfo=zone).astimezone(UTC)
    pause_step(case, paused_at)
    resumed_at = datetime(2026, 11, 27, 17, 0, tzinfo=zone).astimezone(UTC)
    counted = resume_step(case, calendar, resumed_at)
    # Tuesday 17:00 → Friday 17:00 is three working days of working time.
    assert counted == 3 * calendar.workday_length
    left = workflow.elapsed(paused_at, before, calendar)
    assert case.deadline == workflow.deadline(
        resumed_at, workflow.TimeLimit(left.total_seconds() / 60, "working_minutes"), calendar
    ).astimezone(UTC)
    # Wall-clock arithmetic would have moved it by 72 hours, past a weekend it must skip.
    assert case.deadline != before + (resumed_at - paused_at)
    status = workflow.sla_status(
        case.step_started_at,
        limit,
        resumed_at,
        calendar,
        pauses=[(paused_at, resumed_at)],
        extended_deadline=case.deadline,
    )
    # The pause does not count: 12.5 of 14 hours used, a warning, not three days overdue.
    assert status.status is workflow.SlaState.warning
    assert abs(status.used - 12.5 / 14) < 0.001
    assert case.step_pauses == [[paused_at.isoformat(), resumed_at.isoformat()]]
    assert timedelta(0) < left
