"""Social-governance events (网格化服务管理, process `social`) run to each end through the API.

The roles are those the definition names: the reporting grid worker, the governance centre
(综治中心, dispatcher role) of the level holding the event (`community_center`,
`street_center`, the county's `dispatcher`), and the shift leader. Each level's limits are
pinned on the working-time clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import workflow
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import start_step
from gridapp.cases.models import Case
from tests.gridapp.case_helpers import act, grid_point, photo_id, report
from tests.gridapp.conftest import problem_of

SOCIAL = workflow.SOCIAL_GOVERNANCE
DISPUTE = "SJ9001"  # 矛盾纠纷 / 邻里纠纷
VISIT = "SJ9705"  # 特殊人群走访, not a dispute
LIVELIHOOD = "SJ9301"  # 民生诉求 / 社会保障, a normal (working-time) class


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    names = [
        "grid_worker",
        "grid_worker2",
        "community_center",
        "street_center",
        "dispatcher",
        "shift_leader",
        "supervisor",
    ]
    return {name: auth(name) for name in names}


@pytest.fixture()
def point(client: Any, people: dict[str, dict[str, str]]) -> tuple[float, float]:
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    return grid_point(client, people["grid_worker"], me["grids"][0])


def _new(client: Any, people: Any, point: tuple[float, float], category: str) -> dict[str, Any]:
    made = report(client, people["grid_worker"], *point, category=category, description="事件")
    assert made.status_code == 201, made.get_json()
    case: dict[str, Any] = made.get_json()
    assert (case["process"], case["state"]) == ("social", "reported")
    return case


def _names(client: Any, headers: dict[str, str], case: dict[str, Any]) -> set[str]:
    seen = client.get(f"/api/v1/cases/{case['id']}", headers=headers).get_json()
    return {action["name"] for action in seen["actions"]}


def _pinned(session: Any, case: dict[str, Any], state: str) -> None:
    """Assert the case's deadline is its state's limit counted on the working-time clock."""
    limit = SOCIAL.limit_for(workflow.State(state))
    assert limit is not None and limit.working, state
    started = datetime.fromisoformat(case["updated_at"])
    expected = workflow.deadline(started, limit, work_calendar(session)).astimezone(UTC)
    assert case["state"] == state
    assert datetime.fromisoformat(case["deadline"]) == expected, state


def test_a_self_handled_event_is_approved_by_the_community(client, session, people, point):
    case = _new(client, people, point, VISIT)
    assert _names(client, people["grid_worker"], case) == {"self_handle", "escalate"}
    act(client, people["grid_worker"], case, "self_handle", expect=422)  # a photo is required
    photo = photo_id(client, people["grid_worker"])
    case = act(client, people["grid_worker"], case, "self_handle", {"photos": [photo]})
    # 自处置 is recorded, not closed: the community centre reviews it within a working day.
    _pinned(session, case, "self_handled")
    assert _names(client, people["community_center"], case) == {
        "approve_self_handling",
        "deny_self_handling",
    }
    # Only the centre of the event's own community reviews: not the street's, not the county's.
    for outsider in ("street_center", "dispatcher"):
        act(client, people[outsider], case, "approve_self_handling", expect=409)
    act(client, people["grid_worker"], case, "approve_self_handling", expect=409)
    case = act(client, people["community_center"], case, "approve_self_handling")
    assert case["state"] == "closed" and case["deadline"] is None and case["actions"] == []
    history = client.get(f"/api/v1/cases/{case['id']}/history", headers=people["supervisor"])
    actions = [event["action"] for event in history.get_json()["events"]]
    assert actions == ["report", "self_handle", "approve_self_handling"]


def test_a_denied_self_handling_goes_back_and_is_escalated(client, session, people, point):
    case = _new(client, people, point, DISPUTE)
    photo = photo_id(client, people["grid_worker"])
    # A dispute says whether it was resolved (化解): a field error without it.
    body = problem_of(
        client.post(
            f"/api/v1/cases/{case['id']}/actions/self_handle",
            json={"photos": [photo]},
            headers={**people["grid_worker"], "If-Match": f'"{case["version"]}"'},
        ),
        422,
    )
    assert "resolved" in body["errors"]
    # From the phone, as a grid worker on patrol does.
    case = act(
        client,
        people["grid_worker"],
        case,
        "self_handle",
        {"photos": [photo], "resolved": True},
        mobile=True,
    )
    assert case["state"] == "self_handled"
    act(client, people["community_center"], case, "deny_self_handling", expect=422)  # reason
    case = act(
        client,
        people["community_center"],
        case,
        "deny_self_handling",
        {"reason": "双方仍有争议，需社区调解"},
    )
    # Back to the grid worker, who may handle it again or pass it to the community.
    assert case["state"] == "reported"
    assert _names(client, people["grid_worker"], case) == {"self_handle", "escalate"}
    case = act(
        client, people["grid_worker"], case, "escalate", {"reason": "需社区调解"}, mobile=True
    )
    _pinned(session, case, "community_accepting")
    case = act(client, people["community_center"], case, "accept")
    _pinned(session, case, "community_handling")
    photo = photo_id(client, people["community_center"])
    case = act(
        client,
        people["community_center"],
        case,
        "feedback",
        {"photos": [photo], "resolved": True, "comment": "调解成功"},
    )
    _pinned(session, case, "handled")
    case = act(client, people["grid_worker"], case, "close")
    assert case["state"] == "closed"
    events = client.get(
        f"/api/v1/cases/{case['id']}/history", headers=people["supervisor"]
    ).get_json()["events"]
    assert [(e["action"], e["data"].get("resolved")) for e in events] == [
        ("report", None),
        ("self_handle", True),
        ("deny_self_handling", None),
        ("escalate", None),
        ("accept", None),
        ("feedback", True),
        ("close", None),
    ]


def test_an_event_climbs_community_street_county_each_level_on_its_clock(
    client, session, people, point
):
    case = _new(client, people, point, LIVELIHOOD)
    _pinned(session, case, "reported")
    case = act(client, people["grid_worker"], case, "escalate", {"reason": "需社区协调"})
    levels = [
        ("community_center", "community_accepting", "community_handling", "street_accepting"),
        ("street_center", "street_accepting", "street_handling", "county_accepting"),
    ]
    for centre, accepting, handling, above in levels:
        _pinned(session, case, accepting)
        # Only the centre of the level holding the case accepts (受理).
        for other in {"community_center", "street_center", "dispatcher"} - {centre}:
            act(client, people[other], case, "accept", expect=409)
        act(client, people[centre], case, "escalate", {"reason": "x"}, expect=409)  # accept first
        case = act(client, people[centre], case, "accept")
        _pinned(session, case, handling)
        case = act(client, people[centre], case, "escalate", {"reason": "超出本级职权"})
        assert case["state"] == above
    # The county's centre (the county's dispatcher) holds the last level.
    _pinned(session, case, "county_accepting")
    act(client, people["street_center"], case, "accept", expect=409)
    case = act(client, people["dispatcher"], case, "accept")
    _pinned(session, case, "county_handling")
    assert "escalate" not in _names(client, people["dispatcher"], case)  # the top level
    photo = photo_id(client, people["dispatcher"])
    case = act(client, people["dispatcher"], case, "feedback", {"photos": [photo]})
    _pinned(session, case, "handled")
    case = act(client, people["shift_leader"], case, "close")
    assert case["state"] == "closed" and case["actions"] == []


def test_disputes_record_whether_they_were_resolved(client, session, people, point):
    outcomes = {}
    for resolved in (True, False):
        case = _new(client, people, point, DISPUTE)
        case = act(client, people["grid_worker"], case, "escalate", {"reason": "纠纷"})
        case = act(client, people["community_center"], case, "accept")
        photo = photo_id(client, people["community_center"])
        act(client, people["community_center"], case, "feedback", {"photos": [photo]}, expect=422)
        act(
            client,
            people["community_center"],
            case,
            "feedback",
            {"photos": [photo], "resolved": "maybe"},
            expect=422,
        )
        case = act(
            client,
            people["community_center"],
            case,
            "feedback",
            {"photos": [photo], "resolved": resolved},
        )
        case = act(client, people["grid_worker"], case, "close")
        assert case["state"] == "closed"
        events = client.get(
            f"/api/v1/cases/{case['id']}/history", headers=people["supervisor"]
        ).get_json()["events"]
        outcomes[case["id"]] = [e["data"]["resolved"] for e in events if "resolved" in e["data"]]
    assert sorted(outcomes.values()) == [[False], [True]]
    # Another class records no resolution, whatever the body says.
    case = _new(client, people, point, VISIT)
    photo = photo_id(client, people["grid_worker"])
    case = act(
        client, people["grid_worker"], case, "self_handle", {"photos": [photo], "resolved": True}
    )
    events = client.get(
        f"/api/v1/cases/{case['id']}/history", headers=people["supervisor"]
    ).get_json()["events"]
    assert all("resolved" not in e["data"] for e in events)


def test_the_catalogue_marks_the_dispute_classes(client, people):
    listed = client.get("/api/v1/categories", headers=people["grid_worker"]).get_json()
    social = {c["code"]: c for c in listed if c["process"] == "social"}
    disputes = {c["name"] for c in social.values() if c["dispute"]}
    assert {
        "邻里纠纷",
        "婚姻家庭纠纷",
        "损害赔偿纠纷",
        "房屋宅基地纠纷",
        "村务管理纠纷",
        "其他纠纷",
    } <= disputes
    assert all(c["major_name"] == "矛盾纠纷" for c in social.values() if c["dispute"])
    majors = {c["major_name"] for c in social.values()}
    assert {"矛盾纠纷", "安全隐患", "治安问题", "民生诉求", "特殊人群服务"} <= majors
    assert social[VISIT]["name"] == "特殊人群走访" and not social[VISIT]["dispute"]
    assert not any(c["dispute"] for c in listed if c["process"] != "social")


def test_level_limits_on_the_working_clock_from_a_monday_morning(session):
    calendar = work_calendar(session)
    zone = workflow.LOCAL_ZONE
    # Monday 2026-11-23 09:00, a working day; the day runs 08:30–12:00 and 14:30–18:00.
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=zone)
    expected = {
        "community_accepting": datetime(2026, 11, 23, 11, 0, tzinfo=zone),  # 2 working hours
        "street_accepting": datetime(2026, 11, 23, 15, 30, tzinfo=zone),  # 4 h: 3 + 1 after lunch
        "county_accepting": datetime(2026, 11, 24, 9, 0, tzinfo=zone),  # 1 working day (7 h)
        "self_handled": datetime(2026, 11, 24, 9, 0, tzinfo=zone),  # reviewed within a day
        "community_handling": datetime(2026, 11, 26, 9, 0, tzinfo=zone),  # 3 working days
        "street_handling": datetime(2026, 11, 30, 9, 0, tzinfo=zone),  # 5: over the weekend
        "county_handling": datetime(2026, 12, 7, 9, 0, tzinfo=zone),  # 10 working days
    }
    for state, deadline in expected.items():
        case = Case(process="social", state=state, urgency="normal", source="grid_worker")
        start_step(case, state, None, calendar, monday.astimezone(UTC))
        assert case.deadline == deadline.astimezone(UTC), state
    # Escalated on a Friday at 17:00: the community's two hours end on Monday at 09:30.
    case = Case(process="social", state="community_accepting", urgency="normal")
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=zone)
    start_step(case, "community_accepting", None, calendar, friday.astimezone(UTC))
    assert case.deadline == datetime(2026, 11, 30, 9, 30, tzinfo=zone).astimezone(UTC)
