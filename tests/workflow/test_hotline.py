"""The 12345 hotline's rules as data, on a pinned working-time clock (no app, no database).

The calendar is Monday–Friday, 09:00–12:00 and 13:00–17:00 in Asia/Shanghai (7 working hours
a day), with 2026-10-01..08 as holidays: every instant below is counted by hand.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from workflow import (
    HOTLINE_12345,
    LOCAL_ZONE,
    CaseHistory,
    Context,
    EventFact,
    Facts,
    Kind,
    Refusal,
    Relation,
    State,
    TimeLimit,
    TimeUnit,
    TransitionNotAllowed,
    WorkCalendar,
    count_case,
    deadline,
    select,
)

CALENDAR = WorkCalendar(
    holidays=frozenset(date(2026, 10, day) for day in range(1, 9)), years=frozenset({2026})
)
MEMBER = frozenset({Relation.department_member})


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_ZONE)


def _return(now: datetime, received: datetime) -> None:
    facts = Facts(
        relations=MEMBER, entered={State.dispatched: received}, now=now, calendar=CALENDAR
    )
    select(HOTLINE_12345, State.handling, "request_return", "handler", facts)


def test_a_return_is_allowed_for_two_working_days_after_receipt() -> None:
    # Received Friday 16:00: Friday 1 h + Monday 7 h + Tuesday 6 h = 14 h, to Tuesday 16:00.
    received = _at(11, 20, 16)
    _return(_at(11, 23, 10), received)
    _return(_at(11, 24, 16), received)
    with pytest.raises(TransitionNotAllowed) as caught:
        _return(_at(11, 24, 16, 1), received)
    assert caught.value.reason is Refusal.window
    # Received just before the National Day holidays: they do not count.
    _return(_at(10, 9, 16), _at(9, 30, 16))
    with pytest.raises(TransitionNotAllowed):
        _return(_at(10, 12, 16, 1), _at(9, 30, 16))


def _extend(until: datetime, *, current: datetime, count: int = 0, action: str = "") -> None:
    facts = Facts(
        relations=MEMBER,
        extension_count=count,
        deadline=current,
        payload={"until": until.isoformat(), "reason": "需协调"},
        calendar=CALENDAR,
    )
    if action == "approve_extension":
        select(HOTLINE_12345, State.extension_requested, action, "dispatcher", facts)
    else:
        select(HOTLINE_12345, State.handling, "request_extension", "handler", facts)


def test_an_extension_reaches_ten_working_days_past_the_deadline_and_no_further() -> None:
    # Deadline Friday 2026-11-20 17:00; ten working days on: Friday 2026-12-04 17:00.
    current = _at(11, 20, 17)
    reach = deadline(current, TimeLimit(10, TimeUnit.working_days), CALENDAR)
    assert reach == _at(12, 4, 17)
    for action in ("request_extension", "approve_extension"):
        _extend(_at(12, 4, 17), current=current, action=action)
        with pytest.raises(TransitionNotAllowed, match="10 working days"):
            _extend(_at(12, 7, 9, 1), current=current, action=action)


def test_an_extension_is_granted_once() -> None:
    current = _at(11, 20, 17)
    with pytest.raises(TransitionNotAllowed, match="more than once"):
        _extend(_at(11, 23, 17), current=current, count=1)
    with pytest.raises(TransitionNotAllowed, match="more than once"):
        _extend(_at(11, 23, 17), current=current, count=1, action="approve_extension")


def test_the_department_signs_within_its_own_limit() -> None:
    urgent = HOTLINE_12345.limit_for(State.dispatched, Facts(urgency="urgent"))
    normal = HOTLINE_12345.limit_for(State.dispatched, Facts(urgency="normal"))
    assert urgent == TimeLimit(30, TimeUnit.working_minutes)
    assert normal == TimeLimit(2, TimeUnit.working_hours)
    assert HOTLINE_12345.limit_for(State.handling) == TimeLimit(5, TimeUnit.working_days)


# --- the 三率 and the department's task, over small histories counted by hand --------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=LOCAL_ZONE)


def _event(seq: int, action: str, to_state: str, hours: float, **data: object) -> EventFact:
    return EventFact(seq, action, 5, "x", T0 + timedelta(hours=hours), None, to_state, data)


def _call(*events: EventFact) -> CaseHistory:
    return CaseHistory(1, "N1", "hotline", None, None, None, None, "430423", events)


def _counts(kind: Kind, case: CaseHistory) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, hit in count_case(kind, case, Context(now=T0 + timedelta(days=30))):
        found[f"{hit.subject}:{name}"] = found.get(f"{hit.subject}:{name}", 0) + 1
    return found


def test_the_three_rates_read_signatures_and_the_final_call_back() -> None:
    on_time, late = {"step": {"on_time": True}}, {"step": {"on_time": False}}
    deadline = (T0 + timedelta(days=5)).isoformat()
    case = _call(
        _event(1, "take", "reported", 0),
        _event(2, "dispatch", "dispatched", 1, department="D1"),
        _event(3, "acknowledge", "handling", 5, deadline=deadline, **late),
        _event(4, "request_return", "return_requested", 6),
        _event(5, "approve_return", "filed", 7),
        _event(6, "dispatch", "dispatched", 8, department="D2"),
        _event(7, "acknowledge", "handling", 9, deadline=deadline, **on_time),
        _event(8, "feedback", "replied", 10),
        _event(
            9,
            "call_back",
            "called_back",
            11,
            reached=True,
            resolved=False,
            satisfaction="unsatisfied",
        ),
        _event(10, "rework", "handling", 12),
        _event(11, "feedback", "replied", 13),
        _event(
            12,
            "call_back",
            "called_back",
            14,
            reached=True,
            resolved=True,
            satisfaction="basically_satisfied",
        ),
        _event(13, "close", "closed", 15),
    )
    # Two work orders, one signed for in time; the final call-back resolved and content.
    assert _counts(Kind.hotline, case) == {
        "430423:hotline_dispatches": 2,
        "430423:hotline_acknowledged_on_time": 1,
        "430423:hotline_reached": 1,
        "430423:hotline_resolved": 1,
        "430423:hotline_satisfied": 1,
    }
    unreached = _call(
        *case.events[:8],
        _event(9, "call_back", "called_back", 11, reached=False, attempt=1),
        _event(10, "call_back", "called_back", 12, reached=False, attempt=2),
        _event(11, "call_back", "called_back", 13, reached=False, attempt=3),
        _event(12, "close", "closed", 14),
    )
    counts = _counts(Kind.hotline, unreached)
    assert "430423:hotline_reached" not in counts and counts["430423:hotline_dispatches"] == 2
    open_call = _call(*case.events[:12])
    assert _counts(Kind.hotline, open_call) == {}  # not closed: counted once it closes


def test_a_department_s_handling_counts_from_its_signature() -> None:
    # Signed within the 签收 limit: the handling is judged against the handling deadline the
    # signature started (5 days), not the signing limit, and was in time.
    sign_by = (T0 + timedelta(hours=3)).isoformat()
    handle_by = (T0 + timedelta(days=5)).isoformat()
    case = _call(
        _event(1, "dispatch", "dispatched", 1, department="D1", deadline=sign_by),
        _event(2, "acknowledge", "handling", 2, deadline=handle_by),
        _event(3, "feedback", "replied", 30),
    )
    counts = _counts(Kind.departments, case)
    assert counts["D1:due"] == 1 and counts["D1:due_on_time"] == 1
    # Signed after its limit: the department missed one of its two limits, the task is late.
    late = _call(
        _event(1, "dispatch", "dispatched", 1, department="D1", deadline=sign_by),
        _event(2, "acknowledge", "handling", 4, deadline=handle_by),
        _event(3, "feedback", "replied", 30),
    )
    counts = _counts(Kind.departments, late)
    assert counts["D1:due"] == 1 and "D1:due_on_time" not in counts
    unsigned = _call(_event(1, "dispatch", "dispatched", 1, department="D1", deadline=sign_by))
    counts = _counts(Kind.departments, unsigned)
    assert counts["D1:due"] == 1 and "D1:due_on_time" not in counts
