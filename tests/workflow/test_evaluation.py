"""Evaluation (综合评价) over small histories computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflow import (
    Action,
    CaseRecord,
    EventRecord,
    State,
    WorkflowError,
    acceptor_indicators,
    area_indicators,
    department_indicators,
    dispatcher_indicators,
    grade,
    grid_worker_indicators,
    rank_departments,
    shift_leader_indicators,
    weighted_score,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ev(
    action: str,
    actor: int | None = None,
    *,
    on_time: bool | None = None,
    department: str | None = None,
) -> tuple[str, int | None, bool | None, str | None]:
    return action, actor, on_time, department


def case(
    case_id: int,
    reporter: int | None,
    grid: str = "G1",
    *events: tuple[str, int | None, bool | None, str | None],
    street: str = "S1",
    overdue: bool = False,
) -> CaseRecord:
    records = tuple(
        EventRecord(
            case_id=case_id,
            action=Action(action),
            actor_id=actor,
            role=None,
            at=T0 + timedelta(minutes=10 * n),
            from_state=None,
            to_state=State.reported,
            department=department,
            on_time=on_time,
        )
        for n, (action, actor, on_time, department) in enumerate(events)
    )
    return CaseRecord(
        case_id=case_id,
        source="grid_worker" if reporter and reporter < 50 else "citizen",
        reporter_id=reporter,
        grid_code=grid,
        street_code=street,
        events=records,
        overdue=overdue,
    )


WORKER = 7
WORKER_CASES = (
    case(1, WORKER, "G1", ev("accept"), ev("file"), ev("verify_reply", WORKER, on_time=True)),
    case(2, WORKER, "G1", ev("self_handle", WORKER)),
    case(3, WORKER, "G1", ev("check_reply", WORKER), ev("reject")),
    case(4, WORKER, "G2", ev("accept"), ev("file")),
    case(
        5,
        99,
        "G1",
        ev("request_check"),
        ev("check_reply", WORKER, on_time=True),
        ev("accept"),
        ev("file"),
        ev("verify_reply", WORKER, on_time=True),
    ),
    case(6, 99, "G1", ev("check_reply", WORKER, on_time=False), ev("reject")),
)


def test_grid_worker_counts_rates_and_score() -> None:
    result = grid_worker_indicators(WORKER_CASES, WORKER, {"G1"})
    # valid: cases 1, 2, 4 of 1–4; missed: 5 of the valid 1, 2, 5 in G1.
    assert (result.ratios["valid"].numerator, result.ratios["valid"].denominator) == (3, 4)
    assert result.rate("valid") == 75.0
    assert (result.ratios["missed"].numerator, result.ratios["missed"].denominator) == (1, 3)
    assert result.rate("check") == 50.0  # case 3's reply has no known timeliness
    assert result.rate("verification") == 100.0
    assert result.components["missed"] == pytest.approx(100 - 100 / 3)
    expected = 0.4 * 75 + 0.2 * (100 - 100 / 3) + 0.2 * 50 + 0.2 * 100
    assert result.score == pytest.approx(expected)  # 73.33
    assert result.grade == "C"
    assert "valid: 3/4 = 75.0 %" in result.explain()


def test_missing_indicators_drop_out_and_the_rest_are_renormalised() -> None:
    result = grid_worker_indicators([case(9, 8, "G9", ev("file"))], 8, {"G8"})
    assert result.rate("valid") == 100.0
    assert result.rate("missed") is None
    assert result.rate("check") is None
    assert result.score == 100.0 and result.grade == "A"
    nobody = grid_worker_indicators([], 8, {"G8"})
    assert nobody.score is None and nobody.grade is None


def test_weights_are_configuration() -> None:
    result = grid_worker_indicators(WORKER_CASES, WORKER, {"G1"}, weights={"valid": 1.0})
    assert result.score == 75.0
    with pytest.raises(WorkflowError, match="Unknown weight 'speed'"):
        grid_worker_indicators(WORKER_CASES, WORKER, {"G1"}, weights={"speed": 1.0})


def test_acceptor() -> None:
    cases = [
        case(1, 99, "G1", ev("accept", 2, on_time=True), ev("reject", 5)),
        case(
            2,
            99,
            "G1",
            ev("accept", 2, on_time=True),
            ev("file", 5),
            ev("assign_verification", 2, on_time=True),
        ),
        case(3, 99, "G1", ev("reject", 2, on_time=False)),
    ]
    result = acceptor_indicators(cases, 2)
    assert result.rate("on_time_acceptance") == pytest.approx(200 / 3)
    assert result.rate("accurate_acceptance") == 50.0
    assert result.rate("on_time_assignment") == 100.0
    assert result.score == pytest.approx(0.4 * 200 / 3 + 0.4 * 50 + 0.2 * 100)
    assert result.grade == "C"


def test_shift_leader() -> None:
    cases = [
        case(1, 99, "G1", ev("file", 5, on_time=True), ev("void", 5)),
        case(2, 99, "G1", ev("file", 5, on_time=False), ev("close", 5, on_time=True)),
        case(3, 99, "G1", ev("file", 5, on_time=True), ev("close", 5, on_time=False)),
        case(4, 99, "G1", ev("file", 6, on_time=True)),  # someone else's
    ]
    result = shift_leader_indicators(cases, 5)
    assert result.rate("on_time_filing") == pytest.approx(200 / 3)
    assert (
        result.ratios["accurate_filing"].numerator,
        result.ratios["accurate_filing"].denominator,
    ) == (2, 3)
    assert result.rate("on_time_closing") == 50.0
    assert result.score == pytest.approx(0.4 * 200 / 3 + 0.3 * 200 / 3 + 0.3 * 50)


DEPARTMENT_CASES = (
    # A: handled on time, closed.
    case(
        1,
        99,
        "G1",
        ev("dispatch", 3, on_time=True, department="sanitation"),
        ev("feedback", 40, on_time=True),
        ev("verify_reply", 7),
        ev("close", 5),
    ),
    # B: first feedback late, reworked once, closed.
    case(
        2,
        99,
        "G1",
        ev("dispatch", 3, on_time=True, department="sanitation"),
        ev("feedback", 40, on_time=False),
        ev("rework", 5),
        ev("feedback", 40, on_time=True),
        ev("close", 5),
    ),
    # C: sent to sanitation by mistake, returned, then handled by roads.
    case(
        3,
        99,
        "G1",
        ev("dispatch", 3, on_time=False, department="sanitation"),
        ev("request_return", 40),
        ev("approve_return", 3),
        ev("dispatch", 3, on_time=True, department="roads"),
        ev("feedback", 41, on_time=True),
        ev("close", 5),
    ),
    # D: still open and past its deadline: due, not on time.
    case(4, 99, "G1", ev("dispatch", 3, on_time=True, department="sanitation"), overdue=True),
    # E: still open within its deadline: not due yet.
    case(5, 99, "G1", ev("dispatch", 3, department="sanitation")),
)


def test_department() -> None:
    result = department_indicators(DEPARTMENT_CASES, "sanitation")
    assert result.extra["due"] == 3
    assert result.ratios["on_time_handling"].numerator == 1
    assert result.rate("closure") == pytest.approx(200 / 3)
    assert result.rate("rework") == pytest.approx(100 / 3)
    # No max_due: volume drops out, the three 30 % weights share the score.
    assert result.components["volume"] is None
    assert result.score == pytest.approx((20 + 10 + 20) / 0.9)
    with_volume = department_indicators(DEPARTMENT_CASES, "sanitation", max_due=3)
    assert with_volume.components["volume"] == 100.0
    assert with_volume.score == pytest.approx(20 + 10 + 20 + 10)
    assert with_volume.grade == "C"


def test_departments_are_ranked_with_volume_relative_to_the_busiest() -> None:
    roads, sanitation = rank_departments(DEPARTMENT_CASES, ["sanitation", "roads"])
    assert roads.subject == "department roads"
    assert roads.components["volume"] == pytest.approx(100 / 3)
    assert roads.score == pytest.approx(0.9 * 100 + 0.1 * 100 / 3)
    assert sanitation.score == pytest.approx(60.0)


def test_dispatcher() -> None:
    result = dispatcher_indicators(DEPARTMENT_CASES, 3)
    assert (
        result.ratios["on_time_dispatch"].numerator,
        result.ratios["on_time_dispatch"].denominator,
    ) == (4, 5)
    assert (
        result.ratios["accurate_dispatch"].numerator,
        result.ratios["accurate_dispatch"].denominator,
    ) == (5, 6)
    assert result.score == pytest.approx(0.5 * 80 + 0.5 * 500 / 6)
    assert result.grade == "B"


def test_area() -> None:
    cases = [
        case(1, 7, "G1", ev("file"), ev("feedback", on_time=True), ev("close")),
        case(2, 7, "G1", ev("file"), ev("feedback", on_time=False), ev("close")),
        case(3, 7, "G2", ev("self_handle")),
        case(4, 7, "G2", ev("file")),
        case(5, 7, "G2", ev("reject")),
        case(6, 7, "G3", ev("file"), ev("close"), street="S2"),
    ]
    result = area_indicators(cases, "S1", "street", 2.0)
    assert result.extra["cases"] == 4
    assert result.extra["density"] == 2.0
    assert result.rate("closure") == 75.0
    assert result.rate("on_time_closure") == 50.0
    assert result.score == 62.5
    grid = area_indicators(cases, "G2", "grid", 0.0)
    assert grid.extra["density"] is None
    assert grid.rate("closure") == 50.0
    with pytest.raises(WorkflowError, match="Unknown area level"):
        area_indicators(cases, "S1", "province", 1.0)


@pytest.mark.parametrize(
    ("score", "letter"),
    [
        (100, "A"),
        (90, "A"),
        (89.99, "B"),
        (75, "B"),
        (74.9, "C"),
        (60, "C"),
        (59.9, "D"),
        (40, "D"),
        (39.9, "E"),
        (0, "E"),
    ],
)
def test_grades(score: float, letter: str) -> None:
    assert grade(score) == letter


def test_weighted_score_ignores_missing_values() -> None:
    assert weighted_score({"a": 80, "b": None}, {"a": 0.5, "b": 0.5}) == 80
    assert weighted_score({"a": None}, {"a": 1}) is None
    assert weighted_score({"a": 80, "b": 40}, {"a": 0.75, "b": 0.25}) == 70
