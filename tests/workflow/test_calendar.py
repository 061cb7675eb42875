"""The working calendar: holidays and make-up days from chinese_calendar, fallback, import."""

from __future__ import annotations

from datetime import date, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow import (
    CalendarEntry,
    CalendarError,
    EntryKind,
    WorkCalendar,
    calendar_entries,
    calendar_from_chinese_calendar,
    entries_from_csv,
    entries_from_rows,
    entries_to_csv,
    missing_year_warning,
)

CALENDAR = calendar_from_chinese_calendar()


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize("year", [2004, 2015, 2020, 2024, 2025, 2026])
def test_agrees_with_chinese_calendar_on_every_day(year: int) -> None:
    for day in _days(year):
        assert CALENDAR.is_workday(day) == chinese_calendar.is_workday(day), day


def test_national_day_2026() -> None:
    for day in range(1, 8):
        assert not CALENDAR.is_workday(date(2026, 10, day))
        assert chinese_calendar.get_holiday_detail(date(2026, 10, day)) == (True, "National Day")
    # The make-up working days around it, read from the package rather than hard-coded.
    make_up = [
        d
        for d, name in chinese_calendar.workdays.items()
        if d.year == 2026 and name == "National Day"
    ]
    assert make_up and all(d.weekday() >= 5 for d in make_up)
    for day in make_up:
        assert CALENDAR.is_workday(day)
        assert day in CALENDAR.workdays
    assert CALENDAR.names[date(2026, 10, 1)] == "国庆节"


def test_spring_festival_2026() -> None:
    festival = [
        d
        for d, name in chinese_calendar.holidays.items()
        if d.year == 2026 and name == "Spring Festival"
    ]
    assert festival
    for day in festival:
        assert not CALENDAR.is_workday(day)
    make_up = [
        d
        for d, name in chinese_calendar.workdays.items()
        if d.year == 2026 and name == "Spring Festival"
    ]
    assert make_up and all(CALENDAR.is_workday(d) for d in make_up)


def test_years_the_package_does_not_know_fall_back_to_weekdays() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 1))
    calendar = calendar_from_chinese_calendar([2026, 2027])
    assert calendar.years == {2026}
    assert calendar.is_workday(date(2027, 1, 1))  # a Friday, and the table says nothing
    assert not calendar.is_workday(date(2027, 1, 2))
    assert not calendar.covers(2027)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date.min, max_value=date.max))
def test_is_workday_never_raises(day: date) -> None:
    expected = chinese_calendar.is_workday(day) if 2004 <= day.year <= 2026 else day.weekday() < 5
    assert CALENDAR.is_workday(day) == expected


def test_missing_year_warning_starts_on_1_december() -> None:
    assert missing_year_warning(CALENDAR, date(2026, 11, 23)) is None
    assert missing_year_warning(CALENDAR, date(2026, 11, 30)) is None
    warning = missing_year_warning(CALENDAR, date(2026, 12, 1))
    assert warning is not None and warning.startswith(
        "The working calendar has no entries for 2027"
    )
    assert missing_year_warning(CALENDAR, date(2026, 12, 31)) is not None


def test_missing_current_year_always_warns() -> None:
    warning = missing_year_warning(CALENDAR, date(2027, 3, 1))
    assert warning is not None and "2027" in warning
    assert missing_year_warning(CALENDAR, date(2030, 12, 5)) is not None
    assert missing_year_warning(CALENDAR, date(9999, 12, 31)) is not None


def test_importing_next_years_notice_silences_the_warning() -> None:
    # Made-up rows standing in for the 2027 notice, which is not published yet.
    rows = [("2027-01-01", "holiday", "元旦"), ("2027-02-20", "workday", "春节")]
    calendar = CALENDAR.with_entries(entries_from_rows(rows))
    assert missing_year_warning(calendar, date(2026, 12, 1)) is None
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 2, 20))  # a Saturday
    assert calendar.names[date(2027, 1, 1)] == "元旦"


def test_a_row_replaces_an_earlier_row_for_its_day() -> None:
    day = date(2026, 10, 8)
    calendar = CALENDAR.with_entries([CalendarEntry(day, EntryKind.holiday, "typhoon")])
    assert not calendar.is_workday(day)
    back = calendar.with_entries([CalendarEntry(date(2026, 10, 1), EntryKind.workday, "")])
    assert back.is_workday(date(2026, 10, 1))
    assert date(2026, 10, 1) not in back.holidays


def test_entries_round_trip_through_csv() -> None:
    text = entries_to_csv(calendar_entries(CALENDAR))
    assert text.startswith("date,kind,name\n")
    rebuilt = WorkCalendar().with_entries(entries_from_csv(text))
    assert rebuilt.holidays == CALENDAR.holidays
    assert rebuilt.workdays == CALENDAR.workdays
    assert rebuilt.years == CALENDAR.years


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("2027-13-01", "holiday"), "Row 1: '2027-13-01' is not a date"),
        (("2027-01-01", "party"), "Row 1: kind must be"),
        (("2027-01-01",), "Row 1: expected"),
    ],
)
def test_bad_rows_are_refused_with_their_number(row: tuple[str, ...], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        entries_from_rows([row])


def test_a_misconfigured_calendar_is_refused() -> None:
    with pytest.raises(CalendarError, match="overlap"):
        WorkCalendar(work_periods=((time(8), time(12)), (time(11), time(17))))
    with pytest.raises(CalendarError, match="ends before"):
        WorkCalendar(work_periods=((time(12), time(8)),))
    with pytest.raises(CalendarError, match="time zone"):
        WorkCalendar(tz="Mars/Olympus")
    with pytest.raises(CalendarError, match="both"):
        WorkCalendar(holidays=frozenset({date(2026, 1, 5)}), workdays=frozenset({date(2026, 1, 5)}))


def test_working_day_length_follows_the_periods() -> None:
    assert CALENDAR.workday_length == timedelta(hours=7)
    assert WorkCalendar(work_periods=((time(9), time(17)),)).workday_length == timedelta(hours=8)


def test_workdays_between_counts_what_is_workday_says_day_by_day() -> None:
    """The arithmetic count (weeks, then the table's rows in range) equals a day-by-day count,
    holidays on weekdays and make-up working weekends included."""
    calendar = WorkCalendar().with_entries(
        [
            CalendarEntry(date(2025, 10, 1), EntryKind.holiday, "国庆节"),
            CalendarEntry(date(2025, 10, 11), EntryKind.workday, "国庆节调休"),
            CalendarEntry(date(2026, 1, 1), EntryKind.holiday, "元旦"),
        ]
    )
    first = date(2025, 9, 1)
    for offset in range(0, 200, 3):
        for length in (0, 1, 2, 6, 7, 8, 30, 120, 400):
            a = first + timedelta(days=offset)
            b = a + timedelta(days=length)
            by_day = sum(calendar.is_workday(a + timedelta(days=n)) for n in range(length))
            assert calendar.workdays_between(a, b) == by_day, (a, b)


def test_an_instant_counts_on_its_day_in_the_local_zone() -> None:
    from datetime import UTC, datetime

    from workflow import local_day

    # Beijing time is UTC+8 all year: 16:00 UTC is already the next day there.
    assert local_day(datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)) == date(2026, 11, 25)
    assert local_day(datetime(2026, 11, 25, 16, 0, tzinfo=UTC)) == date(2026, 11, 26)
