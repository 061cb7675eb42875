"""办结率 and 化解率 per area over small histories counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflow import INDICATORS, CaseHistory, Context, EventFact, Kind, count_case, default_rules

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AREA_COUNTERS = {"area_due", "area_due_closed", "disputes_handled", "disputes_resolved"}


def ev(seq: int, action: str, to_state: str, hours: float, **data: Any) -> EventFact:
    return EventFact(
        seq, action, 1, "dispatcher", T0 + timedelta(hours=hours), None, to_state, data
    )


def case(*events: EventFact, community: str = "C1") -> CaseHistory:
    return CaseHistory(1, "N1", "social", 1, "G1", community, "S1", "D1", events)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def counted(*cases: CaseHistory, now_hours: float = 100) -> dict[str, list[tuple[str, int]]]:
    """Return counter → [(when, event seq)] over the cases, at community level."""
    ctx = Context(now=T0 + timedelta(hours=now_hours), level="community")
    found: dict[str, list[tuple[str, int]]] = {}
    for history in cases:
        for name, hit in count_case(Kind.areas, history, ctx):
            if name in AREA_COUNTERS:
                assert hit.subject == "C1"
                found.setdefault(name, []).append((hit.at.isoformat(), hit.event.seq))
    return found


def test_the_two_rates_are_area_indicators_weighing_nothing_by_default() -> None:
    rows = {row.name: row for row in INDICATORS[Kind.areas]}
    assert (rows["completion"].label, rows["completion"].numerator) == ("办结率", "area_due_closed")
    assert rows["completion"].denominator == "area_due"
    assert (rows["dispute_resolution"].label, rows["dispute_resolution"].denominator) == (
        "化解率",
        "disputes_handled",
    )
    weights = default_rules()["weights"]["areas"]
    assert weights == {
        "density": 1,
        "closure": 1,
        "on_time_closure": 1,
        "completion": 0,
        "dispute_resolution": 0,
    }


def test_a_case_falls_due_when_it_closes_or_when_a_deadline_passes_open() -> None:
    # Self-handled and approved at hour 3: due and closed then.
    approved = case(
        ev(1, "report", "reported", 0),
        ev(2, "self_handle", "self_handled", 1, resolved=True, deadline=at(8)),
        ev(3, "approve_self_handling", "closed", 3, step={"on_time": True}),
    )
    assert counted(approved) == {
        "area_due": [(at(3), 3)],
        "area_due_closed": [(at(3), 3)],
        "disputes_handled": [(at(3), 2)],
        "disputes_resolved": [(at(3), 2)],
    }
    # Accepted at hour 1 with a deadline at hour 5, still open at hour 100: due at hour 5.
    open_late = case(
        ev(1, "report", "reported", 0),
        ev(2, "escalate", "community_accepting", 0.5, deadline=at(2)),
        ev(3, "accept", "community_handling", 1, deadline=at(5)),
    )
    assert counted(open_late) == {"area_due": [(at(5), 3)]}
    # The same case before hour 5 has not fallen due.
    assert counted(open_late, now_hours=4) == {}
    # Closed after its handling deadline passed: due at the deadline, closed later still counts.
    closed_late = case(*open_late.events, ev(4, "feedback", "handled", 9, deadline=at(16)))
    closed_late = case(*closed_late.events, ev(5, "close", "closed", 10))
    assert counted(closed_late) == {
        "area_due": [(at(5), 3)],
        "area_due_closed": [(at(5), 5)],
    }


def test_extensions_move_and_suspensions_stop_the_due_instant_voids_never_fall_due() -> None:
    extended = case(
        ev(1, "report", "reported", 0),
        ev(2, "accept", "community_handling", 1, deadline=at(5)),
        ev(3, "approve_extension", "community_handling", 4, until=at(20)),
    )
    assert counted(extended) == {"area_due": [(at(20), 3)]}
    suspended = case(*extended.events[:2], ev(3, "approve_suspension", "suspended", 4))
    assert counted(suspended) == {}
    resumed = case(*suspended.events, ev(4, "resume", "community_handling", 30, deadline=at(32)))
    assert counted(resumed) == {"area_due": [(at(32), 4)]}
    voided = case(*extended.events[:2], ev(3, "reject", "void", 50, step={"on_time": False}))
    assert counted(voided) == {}


def test_only_a_closed_dispute_counts_with_its_last_resolution_before_closing() -> None:
    # Resolved on the spot, denied by the community, escalated, handled unresolved, closed.
    denied = case(
        ev(1, "report", "reported", 0),
        ev(2, "self_handle", "self_handled", 1, resolved=True),
        ev(3, "deny_self_handling", "reported", 2),
        ev(4, "escalate", "community_accepting", 3),
        ev(5, "accept", "community_handling", 4),
        ev(6, "feedback", "handled", 5, resolved=False),
        ev(7, "close", "closed", 6),
    )
    found = counted(denied)
    assert found["disputes_handled"] == [(at(6), 6)]
    assert "disputes_resolved" not in found
    # Handled and resolved but not yet confirmed: not counted before it closes.
    waiting = case(*denied.events[:5], ev(6, "feedback", "handled", 5, resolved=True))
    assert "disputes_handled" not in counted(waiting)
    # Other classes record no `resolved`: closed, they count for 办结率 only.
    visit = case(
        ev(1, "report", "reported", 0),
        ev(2, "self_handle", "self_handled", 1),
        ev(3, "approve_self_handling", "closed", 2),
    )
    assert counted(visit) == {"area_due": [(at(2), 3)], "area_due_closed": [(at(2), 3)]}
