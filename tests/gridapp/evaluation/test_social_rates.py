"""办结率 and 化解率 per area through the API, counted by hand over social-governance events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

import workflow
from gridapp.accounts.models import User
from gridapp.evaluation.services import create_rule_version, evaluate
from tests.gridapp.case_helpers import act, grid_point, photo_id, report


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    names = ["grid_worker", "community_center", "supervisor", "admin"]
    return {name: auth(name) for name in names}


@pytest.fixture()
def events(client: Any, people: Any) -> dict[str, dict[str, Any]]:
    """Four events in grid_worker's community: two disputes closed (resolved on the spot and
    approved; handled unresolved and confirmed), one dispute handled and resolved but not yet
    confirmed, and one visit (走访) self-handled and approved."""
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    point = grid_point(client, people["grid_worker"], me["grids"][0])
    worker, centre = people["grid_worker"], people["community_center"]

    def new(category: str) -> dict[str, Any]:
        made = report(client, worker, *point, category=category, description="事件")
        assert made.status_code == 201, made.get_json()
        return made.get_json()

    def on_the_spot(case: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        case = act(
            client, worker, case, "self_handle", {"photos": [photo_id(client, worker)]} | body
        )
        return act(client, centre, case, "approve_self_handling")

    def by_the_community(case: dict[str, Any], resolved: bool) -> dict[str, Any]:
        case = act(client, worker, case, "escalate", {"reason": "需社区调解"})
        case = act(client, centre, case, "accept")
        photo = photo_id(client, centre)
        return act(client, centre, case, "feedback", {"photos": [photo], "resolved": resolved})

    resolved = on_the_spot(new("SJ9001"), {"resolved": True})
    unresolved = act(client, worker, by_the_community(new("SJ9002"), False), "close")
    waiting = by_the_community(new("SJ9006"), True)
    visit = on_the_spot(new("SJ9705"), {})
    assert [c["state"] for c in (resolved, unresolved, waiting, visit)] == [
        "closed",
        "closed",
        "handled",
        "closed",
    ]
    return {"resolved": resolved, "unresolved": unresolved, "waiting": waiting, "visit": visit}


def _period() -> str:
    today = workflow.local_day(datetime.now(UTC)).isoformat()
    return f"from={today}&to={today}"


def _community_row(client: Any, people: Any, code: str) -> dict[str, Any]:
    answer = client.get(
        f"/api/v1/evaluation/areas?{_period()}&level=community", headers=people["supervisor"]
    ).get_json()
    rows = [item for item in answer["items"] if item["subject"]["code"] == code]
    assert len(rows) == 1, answer
    return rows[0]


def test_completion_and_dispute_resolution_by_hand(client, people, events):
    community = events["visit"]["community_code"]
    row = _community_row(client, people, community)
    indicators = row["indicators"]
    # Due: the three closed events (the waiting one's confirmation is not due yet); all closed.
    assert indicators["completion"] == {"numerator": 3, "denominator": 3, "value": 100.0}
    # Disputes closed: two; resolved: the one mediated on the spot (the waiting one is not
    # counted before it closes).
    assert indicators["dispute_resolution"] == {"numerator": 1, "denominator": 2, "value": 50.0}
    # Weight 0 by default: the score is the mean of the three indicators of version 1.
    weighed = [indicators[name]["value"] for name in ("density", "closure", "on_time_closure")]
    assert row["score"] == pytest.approx(sum(weighed) / 3, abs=0.02)


def test_explain_names_the_cases_behind_the_dispute_rate(client, people, events):
    community = events["visit"]["community_code"]
    answer = client.get(
        f"/api/v1/evaluation/areas?{_period()}&level=community"
        f"&subject={community}&explain=dispute_resolution",
        headers=people["supervisor"],
    ).get_json()
    assert (answer["numerator"], answer["denominator"]) == (1, 2)
    resolved, unresolved = events["resolved"]["id"], events["unresolved"]["id"]
    assert {(c["case_id"], c["side"], c["event"]["action"]) for c in answer["cases"]} == {
        (resolved, "numerator", "self_handle"),
        (resolved, "denominator", "self_handle"),
        (unresolved, "denominator", "feedback"),
    }
    completion = client.get(
        f"/api/v1/evaluation/areas?{_period()}&level=community"
        f"&subject={community}&explain=completion",
        headers=people["supervisor"],
    ).get_json()
    closed = {events[k]["id"] for k in ("resolved", "unresolved", "visit")}
    assert {c["case_id"] for c in completion["cases"]} == closed
    assert {c["event"]["action"] for c in completion["cases"]} == {
        "approve_self_handling",
        "close",
    }


def test_a_city_weighs_the_two_rates_in_a_rules_version_of_its_own(session, people, events):
    admin = session.scalar(select(User).where(User.username == "admin"))
    today = workflow.local_day(datetime.now(UTC))
    community = events["visit"]["community_code"]
    before = evaluate(session, admin, workflow.Kind.areas, today, today, level="community")
    row = next(i for i in before["items"] if i["subject"]["code"] == community)
    create_rule_version(
        session, admin, today, {"weights": {"areas": {"completion": 1, "dispute_resolution": 1}}}
    )
    after = evaluate(session, admin, workflow.Kind.areas, today, today, level="community")
    weighed = next(i for i in after["items"] if i["subject"]["code"] == community)
    values = {name: v["value"] for name, v in row["indicators"].items()}
    expected = (
        values["density"] + values["closure"] + values["on_time_closure"] + 100.0 + 50.0
    ) / 5
    assert after["rules_version"] == before["rules_version"] + 1
    assert weighed["score"] == pytest.approx(expected, abs=0.02)
