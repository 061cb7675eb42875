"""The 12345 hotline's rules as data, on a pinned working-time clock (no app, no database).

The calendar is Monday–Friday, 09:00–12:00 and 13:00–17:00 in Asia/Shanghai (7 working hours
a day), with 2026-10-01..08 as holidays: every instant below is counted by hand.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from workflow import (
    HOTLINE_12345,
    LOCAL_ZONE,
    Facts,
    Refusal,
    Relation,
    State,
    TimeLimit,
    TimeUnit,
    TransitionNotAllowed,
    WorkCalendar,
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
