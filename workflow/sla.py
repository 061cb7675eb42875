"""SLA clock (时限): deadlines, elapsed working time and the ok/warning/overdue status.

Everything is computed from a start, a time limit, the calendar and the pauses (挂账), never
stored as a countdown. Working units count the calendar's working periods on working days, in
its wall-clock time zone; natural units (urgent categories) count every hour. All datetimes
must be aware; results keep the time zone of the `start` they were computed from.

The cost is proportional to the days spanned (one step per day, a few per working period),
never to minutes, and any year works: years the calendar does not cover fall back to Mon–Fri.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from workflow.calendar import WorkCalendar
from workflow.errors import CalendarError

Pause = tuple[datetime, datetime | None]
_Span = tuple[datetime, datetime | None]

WARNING_AT = 0.8
OVERDUE_AT = 1.0


class TimeUnit(StrEnum):
    """Name the unit of a time limit; `working_*` count working time only."""

    working_minutes = "working_minutes"
    working_hours = "working_hours"
    working_days = "working_days"  # n × the working-day length, counted on the calendar
    minutes = "minutes"
    hours = "hours"
    days = "days"


_NATURAL: dict[TimeUnit, timedelta] = {
    TimeUnit.working_minutes: timedelta(minutes=1),
    TimeUnit.working_hours: timedelta(hours=1),
    TimeUnit.minutes: timedelta(minutes=1),
    TimeUnit.hours: timedelta(hours=1),
    TimeUnit.days: timedelta(days=1),
}


@dataclass(frozen=True)
class TimeLimit:
    """Give a step its time limit (时限), e.g. `TimeLimit(30, TimeUnit.working_minutes)`."""

    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        try:
            unit = TimeUnit(self.unit)
        except ValueError as error:
            raise CalendarError(f"Unknown time unit {self.unit!r}") from error
        object.__setattr__(self, "unit", unit)
        if not math.isfinite(self.amount) or self.amount < 0:
            raise CalendarError(f"A time limit must be a finite amount ≥ 0, not {self.amount}")

    @property
    def working(self) -> bool:
        """Return whether the limit counts working time only."""
        return self.unit.startswith("working_")

    def duration(self, calendar: WorkCalendar) -> timedelta:
        """Return the amount of (working or natural) time the limit allows."""
        if self.unit is TimeUnit.working_days:
            return calendar.workday_length * self.amount
        return _NATURAL[self.unit] * self.amount

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit.value}"


class SlaState(StrEnum):
    """Say how far along its time limit a step is."""

    ok = "ok"
    warning = "warning"  # ≥ 80 % of the limit used
    overdue = "overdue"  # ≥ 100 %: escalate (督办)


@dataclass(frozen=True)
class SlaStatus:
    """Report a step's clock: status, deadline and how much of the limit is used."""

    status: SlaState
    deadline: datetime
    used: float  # fraction of the limit used: 0.83 is 83 %
    elapsed: timedelta  # counted time since the start, pauses left out
    remaining: timedelta  # counted time left; negative once overdue
    limit: timedelta  # counted time allowed (the extended one after an extension)
    paused: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the status as JSON-ready values (the case's `sla` object)."""
        return {
            "status": self.status.value,
            "deadline": self.deadline.isoformat(),
            "used": round(self.used, 4),
            "elapsed_seconds": int(self.elapsed.total_seconds()),
            "remaining_seconds": int(self.remaining.total_seconds()),
            "paused": self.paused,
        }


def deadline(
    start: datetime,
    limit: TimeLimit,
    calendar: WorkCalendar,
    *,
    pauses: Sequence[Pause] = (),
    now: datetime | None = None,
) -> datetime:
    """Return when a time limit runs out (截止时间), in the time zone of `start`.

    A start outside working hours starts counting at the next working period; working time
    inside a pause does not count. A pause still open (end `None`) counts as ending at `now`,
    the deadline "if resumed now"; without `now` an open pause is an error.
    """
    zone = _zone_of(start)
    if limit.working:
        local = _wall(start, calendar)
        spans = _spans(pauses, lambda moment: _wall(moment, calendar), now)
        end = _working_deadline(calendar, local, limit.duration(calendar), spans)
        return _from_wall(end, calendar).astimezone(zone)
    spans = _spans(pauses, _utc, now)
    end = _natural_deadline(_utc(start), limit.duration(calendar), spans)
    return end.replace(tzinfo=UTC).astimezone(zone)


def elapsed(
    start: datetime,
    end: datetime,
    calendar: WorkCalendar,
    *,
    working: bool = True,
    pauses: Sequence[Pause] = (),
) -> timedelta:
    """Return the working (or natural) time from start to end, pauses (挂账) left out.

    A pause still open (end `None`) runs to `end`. An end before the start gives zero.
    """
    if working:
        spans = _spans(pauses, lambda moment: _wall(moment, calendar), None)
        return _working_between(calendar, _wall(start, calendar), _wall(end, calendar), spans)
    spans = _spans(pauses, _utc, None)
    first, last = _utc(start), _utc(end)
    if last <= first:
        return timedelta(0)
    return sum((b - a for a, b in _free(first, last, spans)), timedelta(0))


def sla_status(
    start: datetime,
    limit: TimeLimit,
    now: datetime,
    calendar: WorkCalendar,
    *,
    pauses: Sequence[Pause] = (),
    extended_deadline: datetime | None = None,
    warning_at: float = WARNING_AT,
) -> SlaStatus:
    """Return a step's clock at `now`: ok, warning (≥ 80 %) or overdue (≥ 100 %).

    An approved extension (延期) moves the deadline to `extended_deadline`; the limit is then
    the counted time from the start to it. An open pause counts as ending at `now`.
    """
    closed = [(a, b if b is not None else max(a, now)) for a, b in pauses]
    paused = any(b is None and a <= now for a, b in pauses)
    if extended_deadline is not None:
        allowed = elapsed(start, extended_deadline, calendar, working=limit.working, pauses=closed)
        due = extended_deadline.astimezone(_zone_of(start))
    else:
        allowed = limit.duration(calendar)
        due = deadline(start, limit, calendar, pauses=closed)
    spent = elapsed(start, now, calendar, working=limit.working, pauses=closed)
    # A zero limit is due at once.
    used = spent / allowed if allowed > timedelta(0) else float(now >= start)
    if used >= OVERDUE_AT:
        status = SlaState.overdue
    elif used >= warning_at:
        status = SlaState.warning
    else:
        status = SlaState.ok
    return SlaStatus(
        status=status,
        deadline=due,
        used=used,
        elapsed=spent,
        remaining=allowed - spent,
        limit=allowed,
        paused=paused,
    )


def _zone_of(moment: datetime) -> tzinfo:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"The clock needs aware datetimes, not the naive {moment.isoformat()}")
    return moment.tzinfo


def _wall(moment: datetime, calendar: WorkCalendar) -> datetime:
    """Return a naive wall-clock time in the calendar's zone (working periods are wall times)."""
    _zone_of(moment)
    try:
        return moment.astimezone(calendar.zone).replace(tzinfo=None)
    except OverflowError as error:
        raise CalendarError(f"{moment.isoformat()} is out of the clock's range") from error


def _from_wall(moment: datetime, calendar: WorkCalendar) -> datetime:
    return moment.replace(tzinfo=calendar.zone)


def _utc(moment: datetime) -> datetime:
    _zone_of(moment)
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as error:
        raise CalendarError(f"{moment.isoformat()} is out of the clock's range") from error


def _spans(
    pauses: Sequence[Pause],
    convert: Any,
    now: datetime | None,
) -> list[_Span]:
    """Return pauses converted, sorted and merged; open ones end at `now` when given."""
    spans: list[_Span] = []
    for start, end in pauses:
        if end is None and now is not None:
            end = max(start, now)
        a: datetime = convert(start)
        b: datetime | None = None if end is None else convert(end)
        if b is not None and b <= a:
            continue
        spans.append((a, b))
    spans.sort(key=lambda span: span[0])
    merged: list[_Span] = []
    for a, b in spans:
        if merged:
            last_a, last_b = merged[-1]
            if last_b is None or a <= last_b:
                merged[-1] = (last_a, None if b is None or last_b is None else max(last_b, b))
                continue
        merged.append((a, b))
    return merged


def _free(a: datetime, b: datetime, spans: Sequence[_Span]) -> Iterator[tuple[datetime, datetime]]:
    """Yield the parts of [a, b) that no pause covers."""
    cursor = a
    for start, end in spans:
        if (end is not None and end <= cursor) or start >= b:
            continue
        if start > cursor:
            yield cursor, start
        if end is None or end >= b:
            return
        cursor = end
    if cursor < b:
        yield cursor, b


def _next_day(day: date) -> date:
    if day == date.max:
        raise CalendarError("The deadline falls after the year 9999")
    return day + timedelta(days=1)


def _working_deadline(
    calendar: WorkCalendar,
    start: datetime,
    amount: timedelta,
    spans: Sequence[_Span],
) -> datetime:
    if amount <= timedelta(0):
        return start
    # Past the start of a pause that never ends no time counts again.
    open_from = min((a for a, b in spans if b is None), default=None)
    remaining = amount
    day = start.date()
    full_day = calendar.workday_length
    while True:
        periods = calendar.periods_on(day)
        if (
            periods
            and start <= periods[0][0]
            and remaining > full_day
            and not _touches(spans, periods[0][0], periods[-1][1])
        ):
            # A whole working day with no pause: take it in one step.
            remaining -= full_day
        else:
            for period_start, period_end in periods:
                for a, b in _free(max(period_start, start), period_end, spans):
                    if remaining <= b - a:
                        return a + remaining
                    remaining -= b - a
        if open_from is not None and day >= open_from.date():
            raise CalendarError("An open pause has no deadline: pass `now` to count it until now")
        day = _next_day(day)


def _touches(spans: Sequence[_Span], a: datetime, b: datetime) -> bool:
    return any(start < b and (end is None or end > a) for start, end in spans)


def _touches_day(spans: Sequence[_Span], day: date) -> bool:
    midnight = datetime.combine(day, time(0))
    return _touches(spans, midnight, midnight + timedelta(days=1))


def _working_between(
    calendar: WorkCalendar, start: datetime, end: datetime, spans: Sequence[_Span]
) -> timedelta:
    total = timedelta(0)
    if end <= start:
        return total
    day, first, last = start.date(), start.date(), end.date()
    full_day = calendar.workday_length
    if not spans and (last - first).days > 1:
        # No pause: the whole days inside count by the calendar's arithmetic, then the first
        # and the last day by their periods.
        total += full_day * calendar.workdays_between(first + timedelta(days=1), last)
        for edge in (first, last):
            for period_start, period_end in calendar.periods_on(edge):
                a, b = max(period_start, start), min(period_end, end)
                if a < b:
                    total += b - a
        return total
    while day <= last:
        # A day strictly inside the span and free of pauses counts whole: no periods to build,
        # so a step open for a year costs a set lookup a day (an overdue list shows many).
        if first < day < last and (not spans or not _touches_day(spans, day)):
            if calendar.is_workday(day):
                total += full_day
            day = _next_day(day)
            continue
        for period_start, period_end in calendar.periods_on(day):
            a, b = max(period_start, start), min(period_end, end)
            if a < b:
                total += sum((y - x for x, y in _free(a, b, spans)), timedelta(0))
        if day == end.date():
            break
        day = _next_day(day)
    return total


def _natural_deadline(start: datetime, amount: timedelta, spans: Sequence[_Span]) -> datetime:
    remaining = amount
    cursor = start
    for pause_start, pause_end in spans:
        if pause_end is not None and pause_end <= cursor:
            continue
        gap = pause_start - cursor
        if gap > timedelta(0):
            if remaining <= gap:
                break
            remaining -= gap
        if pause_end is None:
            if remaining > timedelta(0):
                raise CalendarError(
                    "An open pause has no deadline: pass `now` to count it until now"
                )
            break
        cursor = max(cursor, pause_end)
    try:
        return cursor + remaining
    except OverflowError as error:
        raise CalendarError("The deadline falls after the year 9999") from error
