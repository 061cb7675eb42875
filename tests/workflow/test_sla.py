"""The SLA clock: deadlines in working time, pauses, extensions and the status."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow import (
    URBAN_MANAGEMENT,
    CalendarError,
    SlaState,
    State,
    TimeLimit,
    TimeUnit,
    WorkCalendar,
    calendar_from_chinese_calendar,
    deadline,
    elapsed,
    sla_status,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = calendar_from_chinese_calendar()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def hours(n: float) -> TimeLimit:
    return TimeLimit(n, TimeUnit.working_hours)


def minutes(n: float) -> TimeLimit:
    return TimeLimit(n, TimeUnit.working_minutes)


def next_workday(day: date) -> date:
    day += timedelta(days=1)
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def test_within_a_morning() -> None:
    assert deadline(at(2026, 11, 23, 9, 0), minutes(30), CALENDAR) == at(2026, 11, 23, 9, 30)


def test_a_limit_ending_with_a_period_ends_there_not_after_lunch() -> None:
    assert deadline(at(2026, 11, 23, 11, 0), hours(1), CALENDAR) == at(2026, 11, 23, 12, 0)
    assert deadline(at(2026, 11, 23, 11, 0), hours(1.5), CALENDAR) == at(2026, 11, 23, 15, 0)


def test_a_deadline_spanning_a_weekend() -> None:
    # Friday 17:00 + 2 working hours: one hour on Friday, one on Monday morning.
    assert deadline(at(2026, 11, 20, 17, 0), hours(2), CALENDAR) == at(2026, 11, 23, 9, 30)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(2026, 11, 21, 10, 0), at(2026, 11, 23, 9, 0)),  # Saturday
        (at(2026, 11, 23, 7, 0), at(2026, 11, 23, 9, 0)),  # before work
        (at(2026, 11, 23, 12, 30), at(2026, 11, 23, 15, 0)),  # lunch
        (at(2026, 11, 23, 19, 0), at(2026, 11, 24, 9, 0)),  # evening
    ],
)
def test_a_start_outside_working_hours_counts_from_the_next_period(
    start: datetime, expected: datetime
) -> None:
    assert deadline(start, minutes(30), CALENDAR) == expected


def test_national_day_2026_is_skipped() -> None:
    start = at(2026, 9, 30, 17, 0)
    after = next_workday(date(2026, 9, 30))
    assert after > date(2026, 10, 7)
    expected = datetime.combine(after, time(9, 30), SHANGHAI)
    assert deadline(start, hours(2), CALENDAR) == expected


def test_a_make_up_working_day_counts() -> None:
    # Spring Festival 2026: the Saturday before it is a make-up working day in the package.
    saturday = date(2026, 2, 14)
    assert saturday.weekday() == 5 and chinese_calendar.is_workday(saturday)
    assert deadline(at(2026, 2, 13, 17, 0), hours(2), CALENDAR) == at(2026, 2, 14, 9, 30)
    after = next_workday(saturday)
    expected = datetime.combine(after, time(9, 30), SHANGHAI)
    assert deadline(at(2026, 2, 14, 17, 0), hours(2), CALENDAR) == expected


def test_working_days_are_whole_working_day_lengths() -> None:
    # Monday 08:30 + 3 working days = Wednesday 18:00.
    assert deadline(at(2026, 11, 23, 8, 30), TimeLimit(3, TimeUnit.working_days), CALENDAR) == at(
        2026, 11, 25, 18, 0
    )


def test_urgent_categories_count_natural_hours() -> None:
    start = at(2026, 10, 1, 23, 0)  # a holiday night
    assert deadline(start, TimeLimit(2, TimeUnit.hours), CALENDAR) == at(2026, 10, 2, 1, 0)
    assert deadline(start, TimeLimit(1, TimeUnit.days), CALENDAR) == at(2026, 10, 2, 23, 0)
    assert deadline(start, TimeLimit(90, TimeUnit.minutes), CALENDAR) == at(2026, 10, 2, 0, 30)


def test_the_result_keeps_the_time_zone_of_the_start() -> None:
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    result = deadline(start, minutes(30), CALENDAR)
    assert result.tzinfo is UTC
    assert result == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(CalendarError, match="aware"):
        deadline(datetime(2026, 11, 23, 9), minutes(30), CALENDAR)
    with pytest.raises(CalendarError, match="aware"):
        elapsed(at(2026, 11, 23, 9), datetime(2026, 11, 23, 10), CALENDAR)


def test_a_pause_stops_the_clock() -> None:
    # Monday 09:00, 3 working hours, suspended from 10:00 to Tuesday 10:00:
    # one hour on Monday, then two from Tuesday 10:00.
    pauses = [(at(2026, 11, 23, 10, 0), at(2026, 11, 24, 10, 0))]
    assert deadline(at(2026, 11, 23, 9, 0), hours(3), CALENDAR, pauses=pauses) == at(
        2026, 11, 24, 12, 0
    )
    assert elapsed(at(2026, 11, 23, 9, 0), at(2026, 11, 24, 12, 0), CALENDAR, pauses=pauses) == (
        timedelta(hours=3)
    )


def test_a_natural_clock_pauses_too() -> None:
    pauses = [(at(2026, 11, 23, 10, 0), at(2026, 11, 23, 12, 0))]
    limit = TimeLimit(3, TimeUnit.hours)
    assert deadline(at(2026, 11, 23, 9, 0), limit, CALENDAR, pauses=pauses) == at(
        2026, 11, 23, 14, 0
    )


def test_an_open_pause_needs_now() -> None:
    pauses = [(at(2026, 11, 23, 10, 0), None)]
    with pytest.raises(CalendarError, match="open pause"):
        deadline(at(2026, 11, 23, 9, 0), hours(3), CALENDAR, pauses=pauses)
    now = at(2026, 11, 24, 10, 0)
    assert deadline(at(2026, 11, 23, 9, 0), hours(3), CALENDAR, pauses=pauses, now=now) == at(
        2026, 11, 24, 12, 0
    )
    # A deadline reached before the pause starts needs no `now`.
    assert deadline(at(2026, 11, 23, 9, 0), minutes(30), CALENDAR, pauses=pauses) == at(
        2026, 11, 23, 9, 30
    )


def test_elapsed_working_and_natural() -> None:
    start, end = at(2026, 11, 20, 17, 0), at(2026, 11, 23, 9, 30)
    assert elapsed(start, end, CALENDAR) == timedelta(hours=2)
    assert elapsed(start, end, CALENDAR, working=False) == timedelta(days=2, hours=16, minutes=30)
    assert elapsed(end, start, CALENDAR) == timedelta(0)


def test_2027_and_far_years_fall_back_to_weekdays_without_raising() -> None:
    result = deadline(at(2026, 12, 28, 9, 0), TimeLimit(30, TimeUnit.working_days), CALENDAR)
    assert result.year == 2027
    for year in (2030, 2100, 9000):
        start = at(year, 6, 1, 9, 0)
        result = deadline(start, TimeLimit(30, TimeUnit.working_days), CALENDAR)
        assert elapsed(start, result, CALENDAR) == timedelta(hours=7 * 30)


def test_long_limits_are_counted_by_day() -> None:
    # 2 000 working days is ~8 years of days: by the minute this would take millions of steps.
    start = at(2026, 1, 5, 8, 30)
    result = deadline(start, TimeLimit(2000, TimeUnit.working_days), CALENDAR)
    assert elapsed(start, result, CALENDAR) == timedelta(hours=7 * 2000)


def test_the_default_step_limits() -> None:
    limits = URBAN_MANAGEMENT.time_limits
    assert limits[State.reported] == TimeLimit(10, TimeUnit.working_minutes)
    assert URBAN_MANAGEMENT.limit_for(State.filed) == TimeLimit(30, TimeUnit.working_minutes)
    assert URBAN_MANAGEMENT.limit_for(State.dispatched) == TimeLimit(30, TimeUnit.working_minutes)
    assert State.suspended not in limits


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(CalendarError):
        TimeLimit(-1, TimeUnit.hours)
    with pytest.raises(CalendarError):
        TimeLimit(float("nan"), TimeUnit.hours)
    with pytest.raises(CalendarError):
        TimeLimit(1, "fortnights")


# Status


@pytest.mark.parametrize(
    ("now", "status", "used"),
    [
        (at(2026, 11, 23, 9, 0), SlaState.ok, 30 / 120),
        (at(2026, 11, 23, 10, 5), SlaState.ok, 95 / 120),
        (at(2026, 11, 23, 10, 6), SlaState.warning, 96 / 120),
        (at(2026, 11, 23, 10, 20), SlaState.warning, 110 / 120),
        (at(2026, 11, 23, 10, 30), SlaState.overdue, 1.0),
        (at(2026, 11, 23, 15, 0), SlaState.overdue, 240 / 120),
    ],
)
def test_status_thresholds(now: datetime, status: SlaState, used: float) -> None:
    result = sla_status(at(2026, 11, 23, 8, 30), hours(2), now, CALENDAR)
    assert result.status is status
    assert result.used == pytest.approx(used)
    assert result.deadline == at(2026, 11, 23, 10, 30)
    assert result.remaining == timedelta(hours=2) - result.elapsed


def test_status_reports_the_fraction_used() -> None:
    result = sla_status(at(2026, 11, 23, 9, 0), hours(1), at(2026, 11, 23, 9, 50), CALENDAR)
    assert result.used == pytest.approx(50 / 60)
    assert result.status is SlaState.warning
    assert result.to_json()["status"] == "warning"


def test_an_extension_moves_the_deadline() -> None:
    start, now = at(2026, 11, 23, 8, 30), at(2026, 11, 23, 15, 0)
    assert sla_status(start, hours(2), now, CALENDAR).status is SlaState.overdue
    extended = at(2026, 11, 24, 18, 0)
    result = sla_status(start, hours(2), now, CALENDAR, extended_deadline=extended)
    assert result.deadline == extended
    assert result.limit == timedelta(hours=14)
    assert result.status is SlaState.ok
    assert result.used == pytest.approx(4 / 14)


def test_a_suspended_case_is_paused() -> None:
    start = at(2026, 11, 23, 8, 30)
    pauses = [(at(2026, 11, 23, 9, 30), None)]
    later = at(2026, 11, 30, 9, 0)
    result = sla_status(start, hours(2), later, CALENDAR, pauses=pauses)
    assert result.paused
    assert result.elapsed == timedelta(hours=1)
    assert result.status is SlaState.ok
    # The deadline if it resumed now: one hour left from now.
    assert result.deadline == at(2026, 11, 30, 10, 0)


# Properties

starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(SHANGHAI)
)
working_units = st.sampled_from(
    [TimeUnit.working_minutes, TimeUnit.working_hours, TimeUnit.working_days]
)
all_units = st.sampled_from(list(TimeUnit))


@settings(max_examples=150, deadline=None)
@given(start=starts, amount=st.integers(0, 600), unit=all_units)
def test_deadline_is_after_the_start_and_elapsed_gives_the_limit_back(
    start: datetime, amount: int, unit: TimeUnit
) -> None:
    limit = TimeLimit(amount, unit)
    result = deadline(start, limit, CALENDAR)
    assert result >= start
    assert elapsed(start, result, CALENDAR, working=limit.working) == limit.duration(CALENDAR)


@settings(max_examples=150, deadline=None)
@given(start=starts, a=st.integers(0, 3000), b=st.integers(0, 3000), unit=working_units)
def test_deadline_is_monotonic_in_the_amount(
    start: datetime, a: int, b: int, unit: TimeUnit
) -> None:
    small, large = sorted((a, b))
    first = deadline(start, TimeLimit(small, unit), CALENDAR)
    assert first <= deadline(start, TimeLimit(large, unit), CALENDAR)


@settings(max_examples=100, deadline=None)
@given(
    start=starts,
    amount=st.integers(1, 2000),
    pause_at=st.integers(0, 20_000),
    pause_for=st.integers(1, 20_000),
)
def test_pauses_never_bring_a_deadline_forward(
    start: datetime, amount: int, pause_at: int, pause_for: int
) -> None:
    limit = minutes(amount)
    pause_start = start + timedelta(minutes=pause_at)
    pauses = [(pause_start, pause_start + timedelta(minutes=pause_for))]
    paused = deadline(start, limit, CALENDAR, pauses=pauses)
    assert paused >= deadline(start, limit, CALENDAR)
    assert elapsed(start, paused, CALENDAR, pauses=pauses) == limit.duration(CALENDAR)


def test_a_calendar_with_other_hours_and_zone() -> None:
    calendar = WorkCalendar(work_periods=((time(9), time(17)),), tz="Asia/Urumqi")
    start = datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("Asia/Urumqi"))
    assert deadline(start, hours(2), calendar) == datetime(
        2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Urumqi")
    )
