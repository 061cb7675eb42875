"""Evaluation (综合评价) over small histories counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workflow import (
    INDICATORS,
    CaseHistory,
    Context,
    EventFact,
    Kind,
    count_case,
    default_rules,
    grade,
    rank,
    score_subject,
    validate_rules,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ev(seq: int, action: str, actor: int, role: str, minutes: int, **data: Any) -> EventFact:
    return EventFact(seq, action, actor, role, T0 + timedelta(minutes=minutes), None, "x", data)


def history(*events: EventFact, reporter: int = 1, grid: str = "G1") -> CaseHistory:
    return CaseHistory(1, "N1", "urban", reporter, grid, "C1", "S1", "D1", events)


def totals(kind: Kind, case: CaseHistory, ctx: Context) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for counter, hit in count_case(kind, case, ctx):
        found.setdefault(hit.subject, {}).setdefault(counter, 0)
        found[hit.subject][counter] += 1
    return found


def test_default_weights_are_design_section_5() -> None:
    weights = default_rules()["weights"]
    assert weights["grid_workers"] == {
        "valid_report": 40,
        "missed_report": 20,
        "on_time_check": 20,
        "on_time_verification": 20,
        "patrol_coverage": 0,
    }
    assert weights["acceptors"]["volume"] == 25
    assert weights["shift_leaders"] == {
        "on_time_filing": 25,
        "accurate_filing": 40,
        "on_time_closing": 35,
    }
    assert weights["dispatchers"]["accurate_dispatch"] == 40
    assert weights["departments"]["volume"] == 10
    assert weights["hotline"] == {"response": 30, "resolution": 35, "satisfaction": 35}
    assert validate_rules(default_rules()) == {}


def test_department_task_overdue_unless_suspended() -> None:
    deadline = (T0 + timedelta(minutes=60)).isoformat()
    case = history(
        ev(1, "report", 1, "grid_worker", 0),
        ev(2, "dispatch", 3, "dispatcher", 10, department="D", deadline=deadline),
        ev(3, "approve_suspension", 4, "shift_leader", 20),
    )
    late = T0 + timedelta(days=3)
    assert totals(Kind.departments, case, Context(now=late)) == {}
    overdue = history(*case.events[:2])
    counted = totals(Kind.departments, overdue, Context(now=late))
    assert counted == {"D": {"due": 1}}


def test_shift_leader_scores_by_hand() -> None:
    case = history(
        ev(1, "report", 1, "grid_worker", 0),
        ev(2, "accept", 2, "acceptor", 5, step={"on_time": True}),
        ev(3, "file", 4, "shift_leader", 50, step={"on_time": False}),
        ev(4, "void", 4, "shift_leader", 60),
    )
    counts = totals(Kind.shift_leaders, case, Context(now=T0))["4"]
    assert counts == {"filings": 1, "timed_filings": 1}
    scored = score_subject(Kind.shift_leaders, "4", counts, default_rules())
    # on-time filing 0 % (weight 25), accurate filing 0 % (weight 40), closing: none.
    assert scored.values == {"on_time_filing": 0.0, "accurate_filing": 0.0, "on_time_closing": None}
    assert scored.score == 0.0 and scored.grade == "E"


def test_bands_grades_and_ranks() -> None:
    assert grade(90) == "A" and grade(89.9) == "B" and grade(39) == "E"
    rules = default_rules()
    scored = [
        score_subject(Kind.acceptors, s, {"acceptances": n}, rules)
        for s, n in (("a", 2001), ("b", 301), ("c", 300), ("d", 2500))
    ]
    assert [s.values["volume"] for s in scored] == [100, 60, 40, 100]
    assert [(s.subject, place) for s, place in rank(scored)] == [
        ("a", 1),
        ("d", 1),
        ("b", 3),
        ("c", 4),
    ]


def test_rules_validation_names_the_field() -> None:
    rules = default_rules()
    rules["weights"]["departments"]["rework"] = -1
    rules["bands"]["volume"] = [[0, 40], [500, 60], [300, 70]]
    rules["grades"] = [[60, "C"], [90, "A"]]
    assert validate_rules(rules) == {
        "weights.departments.rework": "negative_weight",
        "bands.volume": "bands_order",
        "grades": "grades_order",
    }


def test_every_indicator_names_known_counters() -> None:
    from workflow.evaluation import COUNTERS, EXTERNAL_COUNTERS

    known = set(COUNTERS) | EXTERNAL_COUNTERS
    for rows in INDICATORS.values():
        for row in rows:
            assert row.numerator in known
            assert (
                row.denominator is None
                or row.denominator.startswith("@")
                or (row.denominator in known)
            )


def _on(
    seq: int, action: str, actor: int, role: str, minutes: int, to: str, **data: Any
) -> EventFact:
    return EventFact(seq, action, actor, role, T0 + timedelta(minutes=minutes), None, to, data)


def test_on_time_handling_counts_from_acknowledgement() -> None:
    acknowledge_by = (T0 + timedelta(minutes=40)).isoformat()
    handle_by = (T0 + timedelta(days=3)).isoformat()
    case = history(
        ev(1, "report", 1, "grid_worker", 0),
        ev(2, "dispatch", 3, "dispatcher", 10, department="D", deadline=acknowledge_by),
        ev(3, "acknowledge", 5, "handler", 30, deadline=handle_by),
        ev(4, "feedback", 5, "handler", 24 * 60),
    )
    # Handled a day after dispatch: late by the acknowledgement limit, in time by handling's.
    counted = totals(Kind.departments, case, Context(now=T0 + timedelta(days=5)))
    assert counted == {"D": {"due": 1, "due_on_time": 1}}
    # Never acknowledged: due, late, once the acknowledgement limit passed.
    waiting = history(*case.events[:2])
    assert totals(Kind.departments, waiting, Context(now=T0 + timedelta(hours=1))) == {
        "D": {"due": 1}
    }
    # Acknowledged late: the department missed its limit, the task is late.
    late = history(
        *case.events[:2],
        ev(3, "acknowledge", 5, "handler", 50, deadline=handle_by),
        ev(4, "feedback", 5, "handler", 60),
    )
    assert totals(Kind.departments, late, Context(now=T0 + timedelta(days=5))) == {"D": {"due": 1}}


def test_a_self_handling_counts_once_the_acceptor_approves_it() -> None:
    reported = ev(1, "report", 1, "grid_worker", 0)
    pending = _on(2, "self_handle", 1, "grid_worker", 5, "self_handled")
    approved = _on(3, "approve_self_handling", 2, "acceptor", 20, "closed")
    denied = _on(3, "deny_self_handling", 2, "acceptor", 20, "reported")
    ctx = Context(now=T0 + timedelta(days=1))
    assert totals(Kind.grid_workers, history(reported, pending, approved), ctx)["1"] == {
        "reports": 1,
        "valid_reports": 1,
    }
    assert totals(Kind.grid_workers, history(reported, pending, denied), ctx)["1"] == {"reports": 1}
    closed = totals(Kind.areas, history(reported, pending, approved), ctx)
    assert closed["S1"]["valid_closed"] == 1
    # Social events close on the spot: their self_handle reaches closed itself.
    on_the_spot = _on(2, "self_handle", 1, "grid_worker", 5, "closed")
    assert totals(Kind.grid_workers, history(reported, on_the_spot), ctx)["1"] == {
        "reports": 1,
        "valid_reports": 1,
    }
