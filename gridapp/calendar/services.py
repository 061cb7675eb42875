"""The work calendar (工作日历): a table the admins own, seeded from ``chinese-calendar``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

import workflow
from gridapp.calendar.models import CalendarEntry

_cache: dict[str, tuple[float, tuple[int, date | None], workflow.WorkCalendar]] = {}
CACHE_SECONDS = 60.0


def _fingerprint(session: Session) -> tuple[int, date | None]:
    count, last = session.execute(select(func.count(), func.max(CalendarEntry.day))).one()
    return int(count), last


def work_calendar(session: Session) -> workflow.WorkCalendar:
    """Return the calendar from the stored table (cached briefly per process)."""
    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[2]
    fingerprint = _fingerprint(session)
    if cached is not None and cached[1] == fingerprint:
        _cache[key] = (now, fingerprint, cached[2])
        return cached[2]
    rows = session.execute(select(CalendarEntry.day, CalendarEntry.kind, CalendarEntry.name))
    calendar = workflow.WorkCalendar().with_entries(
        workflow.CalendarEntry(day, workflow.EntryKind(kind), name) for day, kind, name in rows
    )
    _cache[key] = (now, fingerprint, calendar)
    return calendar


def import_calendar_entries(
    session: Session, entries: Iterable[workflow.CalendarEntry], *, replace_years: bool = True
) -> int:
    """Store calendar rows; by default a year's rows replace what was stored for that year."""
    rows = list(entries)
    years = sorted({e.day.year for e in rows})
    if replace_years:
        for year in years:
            session.execute(
                delete(CalendarEntry).where(
                    CalendarEntry.day >= date(year, 1, 1), CalendarEntry.day <= date(year, 12, 31)
                )
            )
    for entry in rows:
        session.merge(CalendarEntry(day=entry.day, kind=str(entry.kind), name=entry.name))
    session.flush()
    _cache.clear()
    return len(rows)


def calendar_warning(session: Session, today: date | None = None) -> str | None:
    """Say loudly when next year's holidays are missing (from 1 December) or this year's are."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    calendar = work_calendar(session)
    today = today or datetime.now(ZoneInfo(calendar.tz)).date()
    return workflow.missing_year_warning(calendar, today)
