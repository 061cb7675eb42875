"""Working calendar (工作日历): working hours, public holidays and make-up working days.

The table is the admins' to own: seeded from the `chinese_calendar` package (which knows a fixed
range of years and raises `NotImplementedError` beyond it), extended each year from the State
Council's holiday notice, exported and imported as rows. A year the table does not cover falls
back to Monday–Friday, so no date ever raises; `missing_year_warning` says so loudly.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from workflow.errors import CalendarError

DEFAULT_WORK_PERIODS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(14, 30), time(18, 0)),
)
DEFAULT_TZ = "Asia/Shanghai"
# The one time zone cases are shown, numbered and counted in (DESIGN §6: stored UTC).
LOCAL_ZONE = ZoneInfo(DEFAULT_TZ)


def local_day(moment: datetime) -> date:
    """The day an instant falls on in `LOCAL_ZONE` (the day it is counted in)."""
    return moment.astimezone(LOCAL_ZONE).date()


# `chinese_calendar` names holidays in English only; the console shows Chinese.
HOLIDAY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "New Year's Day": "元旦",
        "Spring Festival": "春节",
        "Tomb-sweeping Day": "清明节",
        "Labour Day": "劳动节",
        "Dragon Boat Festival": "端午节",
        "National Day": "国庆节",
        "Mid-autumn Festival": "中秋节",
        "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
    }
)


class EntryKind(StrEnum):
    """Say what a calendar entry does to its day."""

    holiday = "holiday"  # 放假: a day off that would otherwise be a working day
    workday = "workday"  # 调休上班: a working day that would otherwise be a weekend


@dataclass(frozen=True, order=True)
class CalendarEntry:
    """One row of the calendar table, as admins export and import it."""

    day: date
    kind: EntryKind
    name: str = ""


@dataclass(frozen=True)
class WorkCalendar:
    """Tell working days and working hours apart (工作日历).

    `holidays` are days off on what would otherwise be working days; `workdays` are make-up
    working days (调休上班) on weekends; `years` are the years the table covers. Any other year
    falls back to Monday–Friday. Times of day are wall-clock times in `tz`.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()
    work_periods: tuple[tuple[time, time], ...] = DEFAULT_WORK_PERIODS
    tz: str = DEFAULT_TZ
    names: Mapping[date, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.work_periods:
            raise CalendarError("A working calendar needs at least one working period")
        previous_end: time | None = None
        for start, end in self.work_periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise CalendarError("Working periods are wall-clock times without a time zone")
            if start >= end:
                raise CalendarError(f"Working period {start}–{end} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise CalendarError("Working periods must be in order and must not overlap")
            previous_end = end
        both = self.holidays & self.workdays
        if both:
            raise CalendarError(f"{min(both)} is both a holiday and a make-up working day")
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise CalendarError(f"Unknown time zone {self.tz!r}") from error
        # Cached here, not per call: the clock converts every datetime it sees.
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        # Also cached: a list page computes every case's clock, each asking these.
        day = date(2000, 1, 1)
        length = sum(
            (_on(day, end) - _on(day, start) for start, end in self.work_periods), timedelta(0)
        )
        object.__setattr__(self, "_workday_length", length)
        # The table's rows that change a count of weekdays, sorted for a range by bisection.
        off = sorted(d for d in self.holidays if d.year in self.years and d.weekday() < 5)
        on = sorted(d for d in self.workdays if d.year in self.years and d.weekday() >= 5)
        object.__setattr__(self, "_weekday_holidays", tuple(off))
        object.__setattr__(self, "_weekend_workdays", tuple(on))

    @property
    def zone(self) -> ZoneInfo:
        """Return the calendar's time zone."""
        zone: ZoneInfo = self.__dict__["_zone"]
        return zone

    @property
    def workday_length(self) -> timedelta:
        """Return the working time of one full working day."""
        length: timedelta = self.__dict__["_workday_length"]
        return length

    def is_workday(self, day: date) -> bool:
        """Return whether a day is a working day (never raises for years 1–9999)."""
        if day.year in self.years:
            return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)
        return day.weekday() < 5

    def workdays_between(self, first: date, last: date) -> int:
        """Count the working days from ``first`` up to, not including, ``last``.

        Arithmetic on the week plus the table's rows in range: a year costs what a day does
        (an overdue step's elapsed time is asked of every case in a list).
        """
        if last <= first:
            return 0
        days = (last - first).days
        weeks, rest = divmod(days, 7)
        count = weeks * 5 + sum((first.weekday() + n) % 7 < 5 for n in range(rest))
        off: tuple[date, ...] = self.__dict__["_weekday_holidays"]
        on: tuple[date, ...] = self.__dict__["_weekend_workdays"]
        count -= bisect_left(off, last) - bisect_left(off, first)
        count += bisect_left(on, last) - bisect_left(on, first)
        return count

    def covers(self, year: int) -> bool:
        """Return whether the table has entries for a year (else it falls back to Mon–Fri)."""
        return year in self.years

    def periods_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Return the working periods of a day as naive wall-clock datetimes."""
        if not self.is_workday(day):
            return ()
        return tuple((_on(day, start), _on(day, end)) for start, end in self.work_periods)

    def entries(self) -> tuple[CalendarEntry, ...]:
        """Return the table as sorted rows."""
        rows = [CalendarEntry(d, EntryKind.holiday, self.names.get(d, "")) for d in self.holidays]
        rows += [CalendarEntry(d, EntryKind.workday, self.names.get(d, "")) for d in self.workdays]
        return tuple(sorted(rows))

    def with_entries(self, entries: Iterable[CalendarEntry]) -> WorkCalendar:
        """Return a calendar with rows added; a row replaces any earlier row for its day.

        Every year a row falls in becomes covered, so import a year's notice in full.
        """
        holidays, workdays = set(self.holidays), set(self.workdays)
        names, years = dict(self.names), set(self.years)
        for entry in entries:
            holidays.discard(entry.day)
            workdays.discard(entry.day)
            (holidays if entry.kind is EntryKind.holiday else workdays).add(entry.day)
            names[entry.day] = entry.name
            years.add(entry.day.year)
        return replace(
            self,
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            years=frozenset(years),
            names=MappingProxyType(names),
        )


def _on(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment)


def calendar_from_chinese_calendar(
    years: Iterable[int] | None = None,
    *,
    work_periods: tuple[tuple[time, time], ...] = DEFAULT_WORK_PERIODS,
    tz: str = DEFAULT_TZ,
) -> WorkCalendar:
    """Seed a working calendar from the `chinese_calendar` package (法定节假日).

    Years the package does not know are left out (they fall back to Monday–Friday) rather
    than raising; `None` takes every year the package knows.
    """
    known = {d.year for d in chinese_calendar.holidays}
    wanted = sorted(known) if years is None else sorted(set(years))
    covered: set[int] = set()
    for year in wanted:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except (NotImplementedError, ValueError, OverflowError):
            continue
        covered.add(year)
    entries = [
        CalendarEntry(day, EntryKind.holiday, HOLIDAY_NAMES.get(name, name))
        for day, name in chinese_calendar.holidays.items()
        # Weekend days off are already off; keeping only weekdays keeps the table to its point.
        if day.year in covered and day.weekday() < 5
    ]
    entries += [
        CalendarEntry(day, EntryKind.workday, HOLIDAY_NAMES.get(name, name))
        for day, name in chinese_calendar.workdays.items()
        if day.year in covered and day.weekday() >= 5
    ]
    empty = WorkCalendar(work_periods=work_periods, tz=tz)
    return replace(empty.with_entries(entries), years=frozenset(covered))


def calendar_entries(calendar: WorkCalendar) -> tuple[CalendarEntry, ...]:
    """Return a calendar's table as sorted rows `(day, kind, name)`."""
    return calendar.entries()


def entries_from_rows(rows: Iterable[Sequence[str]]) -> tuple[CalendarEntry, ...]:
    """Parse rows `(YYYY-MM-DD, holiday|workday, name)`, e.g. from a CSV an admin edited."""
    entries: list[CalendarEntry] = []
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2:
            raise CalendarError(f"Row {number}: expected date, kind and an optional name")
        try:
            day = date.fromisoformat(cells[0])
        except ValueError as error:
            raise CalendarError(f"Row {number}: {cells[0]!r} is not a date (YYYY-MM-DD)") from error
        try:
            kind = EntryKind(cells[1])
        except ValueError as error:
            raise CalendarError(
                f"Row {number}: kind must be 'holiday' or 'workday', not {cells[1]!r}"
            ) from error
        entries.append(CalendarEntry(day, kind, cells[2] if len(cells) > 2 else ""))
    return tuple(entries)


def entries_to_csv(entries: Iterable[CalendarEntry]) -> str:
    """Write rows as CSV text that `entries_from_csv` reads back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", "kind", "name"])
    for entry in entries:
        writer.writerow([entry.day.isoformat(), entry.kind.value, entry.name])
    return buffer.getvalue()


def entries_from_csv(text: str) -> tuple[CalendarEntry, ...]:
    """Read CSV text with a `date,kind,name` header into rows."""
    rows: Iterator[list[str]] = csv.reader(io.StringIO(text))
    body = [row for row in rows if row and row[0].strip().lower() != "date"]
    return entries_from_rows(body)


def missing_year_warning(calendar: WorkCalendar, today: date) -> str | None:
    """Return a loud sentence when this year, or from 1 December next year, has no entries."""
    missing = [today.year] if not calendar.covers(today.year) else []
    if today.month == 12 and today.year < 9999 and not calendar.covers(today.year + 1):
        missing.append(today.year + 1)
    if not missing:
        return None
    years = " and ".join(str(year) for year in missing)
    return (
        f"The working calendar has no entries for {years}: deadlines there count Monday to "
        "Friday without public holidays or make-up working days. Import that year's State "
        "Council holiday notice (国务院办公厅关于部分节假日安排的通知)."
    )
