"""Step limits chosen by a fact of the case, and actions allowed only within a window.

The calendar here is Monday–Friday, 09:00–12:00 and 13:00–17:00 in Asia/Shanghai (the
default work periods), with 2026-10-01..08 as holidays: counted by hand below.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow import (
    Action,
    Facts,
    LimitBy,
    Permit,
    ProcessDefinition,
    Refusal,
    Role,
    State,
    TimeLimit,
    TimeUnit,
    Transition,
    TransitionNotAllowed,
    Window,
    WorkCalendar,
    select,
    window_open,
)

TZ = ZoneInfo("Asia/Shanghai")
HOLIDAYS = frozenset(date(2026, 10, day) for day in range(1, 9))
CALENDAR = WorkCalendar(holidays=HOLIDAYS, years=frozenset({2026}))
TWO_DAYS = Window(TimeLimit(2, TimeUnit.working_days), since=State.dispatched)

CENTER = LimitBy(
    "urgency",
    {"urgent": TimeLimit(10, TimeUnit.working_minutes)},
    otherwise=TimeLimit(30, TimeUnit.working_minutes),
)
CHECK = LimitBy(
    "setting",
    {"rural": TimeLimit(2, TimeUnit.working_hours)},
    otherwise=TimeLimit(1, TimeUnit.working_hours),
)

PROCESS = ProcessDefinition(
    code="windowed",
    name="test",
    initial=State.dispatched,
    ends=frozenset({State.void}),
    transitions=(
        Transition(State.dispatched, Action.acknowledge, State.handling, (Permit(Role.handler),)),
        Transition(
            State.handling,
            Action.request_return,
            State.void,
            (Permit(Role.handler),),
            within=TWO_DAYS,
        ),
    ),
    time_limits={State.dispatched: CENTER, State.handling: CHECK},
)


def test_a_limit_by_urgency_gives_urgent_cases_their_own() -> None:
    urgent = PROCESS.limit_for(State.dispatched, Facts(urgency="urgent"))
    normal = PROCESS.limit_for(State.dispatched, Facts(urgency="normal"))
    assert urgent == TimeLimit(10, TimeUnit.working_minutes)
    assert normal == TimeLimit(30, TimeUnit.working_minutes)


def test_a_limit_by_setting_gives_rural_grids_longer() -> None:
    assert PROCESS.limit_for(State.handling, Facts(setting="rural")) == TimeLimit(
        2, TimeUnit.working_hours
    )
    assert PROCESS.limit_for(State.handling, Facts(setting="urban")) == TimeLimit(
        1, TimeUnit.working_hours
    )


def test_an_unknown_or_missing_fact_takes_the_otherwise_limit() -> None:
    assert PROCESS.limit_for(State.handling, Facts()) == TimeLimit(1, TimeUnit.working_hours)
    assert PROCESS.limit_for(State.handling, Facts(setting="mars")) == TimeLimit(
        1, TimeUnit.working_hours
    )
    assert PROCESS.limit_for(State.void, Facts()) is None


def _facts(entered: datetime, now: datetime) -> Facts:
    return Facts(now=now, calendar=CALENDAR, entered={State.dispatched: entered})


# Dispatched Wednesday 2026-09-30 16:00; the National Day holidays (1–8 October) and the
# weekend do not count, so two working days run on Friday 9 October and Monday 12 October.
ENTERED = datetime(2026, 9, 30, 16, 0, tzinfo=TZ)


def _is_working(moment: datetime) -> bool:
    wall = moment.astimezone(TZ).replace(tzinfo=None)
    return any(start <= wall < end for start, end in CALENDAR.periods_on(wall.date()))


def _window_end() -> datetime:
    # Walk minute by minute over the calendar's periods: an independent count of two days.
    left = CALENDAR.workday_length * 2
    moment = ENTERED
    while left > timedelta(0):
        if _is_working(moment):
            left -= timedelta(minutes=1)
        moment += timedelta(minutes=1)
    return moment


def test_a_window_is_open_until_its_working_time_has_passed() -> None:
    end = _window_end()
    assert end.date() == date(2026, 10, 12)  # the holidays and the weekend do not count
    assert window_open(TWO_DAYS, _facts(ENTERED, end))
    assert not window_open(TWO_DAYS, _facts(ENTERED, end + timedelta(minutes=1)))


def test_select_refuses_an_action_after_its_window_with_the_window_reason() -> None:
    late = _window_end() + timedelta(hours=1)
    with pytest.raises(TransitionNotAllowed) as caught:
        select(PROCESS, State.handling, Action.request_return, Role.handler, _facts(ENTERED, late))
    assert caught.value.reason is Refusal.window
    assert "2 working days after dispatched" in caught.value.message
    early = ENTERED + timedelta(minutes=30)
    row = select(
        PROCESS, State.handling, Action.request_return, Role.handler, _facts(ENTERED, early)
    )
    assert row.action is Action.request_return


def test_a_window_without_its_facts_refuses() -> None:
    with pytest.raises(TransitionNotAllowed):
        select(PROCESS, State.handling, Action.request_return, Role.handler, Facts())
