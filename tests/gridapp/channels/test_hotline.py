"""The 12345 hotline as the provincial rules run it, through the API with the roles the process
names: 受理 → 派单 → 签收 → 办理 and 答复 → 回访 (resolved, satisfaction) → 办结, the redo
once, the unreachable citizen, the return window and the one extension on the working clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.actions import facts
from gridapp.cases.models import Case, CaseEvent
from tests.conftest import as_owner
from tests.gridapp.case_helpers import act

CALL = {
    "caller": {"name": "张先生", "phone": "13800000000"},
    "summary": "市民来电：夜间施工噪音扰民",
    "category": "RX8004",
    "address": "开云镇建设路12号",
}
SATISFIED = {"resolved": True, "satisfaction": "satisfied"}
UNSATISFIED = {"resolved": False, "satisfaction": "unsatisfied"}


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    names = ["hotline_operator", "handler", "handler2", "dispatcher", "shift_leader"]
    return {name: auth(name) for name in names}


def _names(case: dict[str, Any]) -> list[str]:
    return [action["name"] for action in case["actions"] if action["name"] != "supervise"]


def _call(client: Any, people: dict[str, dict[str, str]], **extra: Any) -> dict[str, Any]:
    taken = client.post(
        "/api/v1/hotline/calls", json={**CALL, **extra}, headers=people["hotline_operator"]
    )
    assert taken.status_code == 201, taken.get_json()
    return dict(taken.get_json())


def _to_handling(client: Any, people: dict[str, dict[str, str]]) -> dict[str, Any]:
    operator, handler = people["hotline_operator"], people["handler"]
    case = _call(client, people)
    assert (case["process"], case["state"], case["source"]) == ("hotline", "reported", "hotline")
    case = act(client, operator, case, "accept")
    assert case["state"] == "filed" and "dispatch" in _names(case)
    # 派单 by the operator, as 12345 centres do; the responsibility rules choose.
    case = act(client, operator, case, "dispatch")
    assert case["state"] == "dispatched" and case["department"] == "urban-enforcement"
    assert case["deadline"] is not None  # the 签收 step has its own limit
    # Only the department signs for it (签收): another department's handler does not see it.
    act(client, people["handler2"], case, "acknowledge", expect=404)
    seen = client.get(f"/api/v1/cases/{case['id']}", headers=handler).get_json()
    assert _names(seen) == ["acknowledge"] and seen["caller"] is None
    case = act(client, handler, case, "acknowledge")
    assert case["state"] == "handling"
    return case


def _reply(client: Any, people: dict[str, dict[str, str]], case: dict[str, Any]) -> dict[str, Any]:
    case = act(client, people["handler"], case, "feedback", {"comment": "已责令夜间停工"})
    assert case["state"] == "replied"
    return case


def test_satisfied_at_the_first_call_back_closes(client, people):
    operator = people["hotline_operator"]
    case = _reply(client, people, _to_handling(client, people))
    due = client.get("/api/v1/hotline/call-backs", headers=operator).get_json()
    assert case["id"] in [item["id"] for item in due["items"]]
    assert _names(case) == []  # the handler who replied does not call back
    mine = client.get(f"/api/v1/cases/{case['id']}", headers=operator).get_json()
    fields = {f["name"] for a in mine["actions"] if a["name"] == "call_back" for f in a["fields"]}
    assert {"resolved", "satisfaction", "unreachable"} <= fields
    case = act(client, operator, mine, "call_back", {**SATISFIED, "comment": "市民满意"})
    assert (case["resolved"], case["satisfaction"], case["satisfied"]) == (True, "satisfied", True)
    assert _names(case) == ["close"]
    case = act(client, operator, case, "close")
    assert case["state"] == "closed" and case["deadline"] is None and case["closed_at"]


def test_unsatisfied_is_redone_once_then_basically_satisfied_closes(client, people):
    operator = people["hotline_operator"]
    case = _reply(client, people, _to_handling(client, people))
    case = act(client, operator, case, "call_back", UNSATISFIED)
    assert case["satisfied"] is False and _names(case) == ["rework"]
    act(client, operator, case, "close", expect=409)
    case = act(client, operator, case, "rework", {"reason": "市民不满意，重办"})
    assert case["state"] == "handling" and case["rework_count"] == 1
    assert case["satisfaction"] is None and case["resolved"] is None
    case = _reply(client, people, case)
    case = act(
        client,
        operator,
        case,
        "call_back",
        {"resolved": True, "satisfaction": "basically_satisfied"},
    )
    assert case["satisfied"] is True and _names(case) == ["close"]
    case = act(client, operator, case, "close")
    assert case["state"] == "closed"


def test_unsatisfied_twice_closes_as_unsatisfied(client, people):
    operator = people["hotline_operator"]
    case = _reply(client, people, _to_handling(client, people))
    case = act(client, operator, case, "call_back", UNSATISFIED)
    case = act(client, operator, case, "rework")
    case = _reply(client, people, case)
    case = act(client, operator, case, "call_back", UNSATISFIED)
    # Redone once already: no second redo, the case closes scored as unsatisfied.
    assert _names(case) == ["close"]
    refused = act(client, operator, case, "rework", expect=409)
    assert refused["state"] == "called_back"
    case = act(client, operator, case, "close")
    assert (case["state"], case["satisfaction"], case["resolved"]) == (
        "closed",
        "unsatisfied",
        False,
    )


def test_an_unreachable_citizen_is_called_three_times_then_the_case_closes(client, people):
    operator = people["hotline_operator"]
    case = _reply(client, people, _to_handling(client, people))
    for attempt in (1, 2, 3):
        assert "close" not in _names(case)
        case = act(client, operator, case, "call_back", {"unreachable": True})
        assert case["unreached_calls"] == attempt and case["satisfaction"] is None
    assert _names(case) == ["close"]
    act(client, operator, case, "call_back", {"unreachable": True}, expect=409)
    case = act(client, operator, case, "close")
    assert case["state"] == "closed"


def test_a_call_back_needs_both_answers_or_unreachable(client, people):
    operator = people["hotline_operator"]
    case = _reply(client, people, _to_handling(client, people))
    for body, fields in (
        ({}, {"resolved", "satisfaction"}),
        ({"resolved": True}, {"satisfaction"}),
        ({"satisfaction": "satisfied"}, {"resolved"}),
        ({"resolved": True, "satisfaction": "happy"}, {"satisfaction"}),
    ):
        response = client.post(
            f"/api/v1/cases/{case['id']}/actions/call_back",
            json=body,
            headers={**operator, "If-Match": f'"{case["version"]}"'},
        )
        assert response.status_code == 422, (body, response.get_json())
        assert set(response.get_json()["errors"]) == fields, body


def test_an_answer_on_the_call_closes_at_once(client, people):
    case = _call(client, people, answer="办理居住证请到开云镇便民服务中心")
    assert (case["state"], case["source"]) == ("closed", "hotline")
    assert case["caller"] == CALL["caller"]
    urban = client.post(
        "/api/v1/hotline/calls",
        json={**CALL, "category": "SJ0102", "answer": "好的"},
        headers=people["hotline_operator"],
    )
    assert urban.status_code == 422 and "answer" in urban.get_json()["errors"]


def test_a_handler_cannot_take_calls(client, people):
    response = client.post("/api/v1/hotline/calls", json=CALL, headers=people["handler"])
    assert response.status_code == 403
    assert client.get("/api/v1/hotline/call-backs", headers=people["handler"]).status_code == 403


def _entered_dispatched_at(session: Any, case_id: int, at: datetime) -> None:
    as_owner(session)
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.to_state == "dispatched")
        .values(created_at=at)
    )
    session.flush()


def test_a_return_is_allowed_within_two_working_days_of_receiving_the_case(client, session, people):
    handler = people["handler"]
    case = _to_handling(client, people)
    assert "request_return" in _names(case)
    case = act(client, handler, case, "request_return", {"reason": "不属本部门职责"})
    assert case["state"] == "return_requested"
    case = act(client, people["hotline_operator"], case, "approve_return")
    assert case["state"] == "filed" and case["department"] is None
    # Sent again (转办): the window counts from the new dispatch.
    case = act(client, people["hotline_operator"], case, "dispatch")
    case = act(client, handler, case, "acknowledge")
    assert "request_return" in _names(case)
    # Received a month ago: far more than two working days, whatever the holidays.
    _entered_dispatched_at(session, case["id"], datetime.now(UTC) - timedelta(days=30))
    case = client.get(f"/api/v1/cases/{case['id']}", headers=handler).get_json()
    assert "request_return" not in _names(case)
    refused = client.post(
        f"/api/v1/cases/{case['id']}/actions/request_return",
        json={"reason": "不属本部门职责"},
        headers={**handler, "If-Match": f'"{case["version"]}"'},
    )
    assert refused.status_code == 409, refused.get_json()
    assert "2 working days" in refused.get_json()["detail"]


def test_the_return_window_counts_working_time(client, session, people):
    """Received on Friday 2026-11-20 at 16:00: the two working days (14 working hours) run to
    Tuesday 2026-11-24 at 16:00 (Friday 1 h, Monday 7 h, Tuesday 6 h), over the weekend."""
    case = _to_handling(client, people)
    zone = workflow.LOCAL_ZONE
    _entered_dispatched_at(session, case["id"], datetime(2026, 11, 20, 16, 0, tzinfo=zone))
    row = session.get(Case, case["id"])
    handler = session.scalar(select(User).where(User.username == "handler"))
    definition = workflow.HOTLINE_12345
    payload = {"reason": "不属本部门职责"}
    for now, allowed in (
        (datetime(2026, 11, 23, 10, 0, tzinfo=zone), True),  # three calendar days on
        (datetime(2026, 11, 24, 15, 59, tzinfo=zone), True),
        (datetime(2026, 11, 24, 16, 1, tzinfo=zone), False),
    ):
        known = facts(handler, row, payload, now=now)
        if allowed:
            workflow.select(definition, row.state, "request_return", handler.role, known)
        else:
            with pytest.raises(workflow.TransitionNotAllowed) as caught:
                workflow.select(definition, row.state, "request_return", handler.role, known)
            assert caught.value.reason is workflow.Refusal.window


def _until(case: dict[str, Any], session: Any, extra: timedelta = timedelta(0)) -> str:
    deadline = datetime.fromisoformat(case["deadline"])
    reach = workflow.TimeLimit(10, workflow.TimeUnit.working_days)
    return (workflow.deadline(deadline, reach, work_calendar(session)) + extra).isoformat()


def test_an_extension_reaches_at_most_ten_working_days_past_the_deadline(client, session, people):
    handler, operator = people["handler"], people["hotline_operator"]
    case = _to_handling(client, people)
    beyond = client.post(
        f"/api/v1/cases/{case['id']}/actions/request_extension",
        json={"until": _until(case, session, timedelta(minutes=1)), "reason": "需协调"},
        headers={**handler, "If-Match": f'"{case["version"]}"'},
    )
    assert beyond.status_code == 409, beyond.get_json()
    assert "10 working days" in beyond.get_json()["detail"]
    until = _until(case, session)
    case = act(client, handler, case, "request_extension", {"until": until, "reason": "需协调"})
    assert case["state"] == "extension_requested"
    # The approver may not stretch it past the reach either.
    act(
        client,
        operator,
        case,
        "approve_extension",
        {"until": _until(case, session, timedelta(hours=1))},
        expect=409,
    )
    case = act(client, operator, case, "approve_extension")
    assert case["state"] == "handling"
    assert datetime.fromisoformat(case["deadline"]) == datetime.fromisoformat(until)


def test_a_second_extension_is_refused(client, session, people):
    handler = people["handler"]
    case = _to_handling(client, people)
    first = (datetime.fromisoformat(case["deadline"]) + timedelta(days=1)).isoformat()
    case = act(client, handler, case, "request_extension", {"until": first, "reason": "需协调"})
    case = act(client, people["dispatcher"], case, "approve_extension")
    assert case["state"] == "handling"
    assert "request_extension" not in _names(case)
    second = (datetime.fromisoformat(case["deadline"]) + timedelta(days=1)).isoformat()
    refused = client.post(
        f"/api/v1/cases/{case['id']}/actions/request_extension",
        json={"until": second, "reason": "还需协调"},
        headers={**handler, "If-Match": f'"{case["version"]}"'},
    )
    assert refused.status_code == 409
    assert "more than once" in refused.get_json()["detail"]
