"""The work calendar (工作日历): a table the admins own, seeded from ``chinese-calendar``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import workflow
from gridapp.calendar.models import CalendarEntry
from gridapp.core.audit import record_audit
from gridapp.core.errors import ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.versions import VersionedCache, bump_version

VERSION_KEY = "calendar_version"
# How often a process reads the stored version: another worker's import is seen within this.
CACHE_SECONDS = 5.0
_calendars: VersionedCache[workflow.WorkCalendar] = VersionedCache()
# The tests' fixture forgets this process's copy through the old name.
_cache = _calendars


def _load(session: Session) -> workflow.WorkCalendar:
    rows = session.execute(select(CalendarEntry.day, CalendarEntry.kind, CalendarEntry.name))
    return workflow.WorkCalendar().with_entries(
        workflow.CalendarEntry(day, workflow.EntryKind(kind), name) for day, kind, name in rows
    )


def work_calendar(session: Session) -> workflow.WorkCalendar:
    """Return the calendar from the stored table (rebuilt when its stored version moves)."""
    return _calendars.get(session, "calendar", VERSION_KEY, lambda: _load(session), CACHE_SECONDS)


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
    bump_version(session, VERSION_KEY)
    _calendars.forget()
    return len(rows)


def calendar_warning(session: Session, today: date | None = None) -> str | None:
    """Say loudly when next year's holidays are missing (from 1 December) or this year's are."""
    calendar = work_calendar(session)
    today = today or datetime.now(workflow.LOCAL_ZONE).date()
    return workflow.missing_year_warning(calendar, today)


@dataclass(frozen=True)
class YearSummary:
    """One year the table covers: how many holidays and make-up working days it holds."""

    year: int
    holidays: int
    workdays: int


@dataclass(frozen=True)
class CalendarOverview:
    """The years the table covers, and what is missing (the same warning ``/readyz`` gives)."""

    years: list[YearSummary]
    missing_years: list[int]
    warning: str | None


def calendar_overview(session: Session, today: date | None = None) -> CalendarOverview:
    """List the years present, the missing ones and the warning (from 1 December)."""
    today = today or datetime.now(workflow.LOCAL_ZONE).date()
    counts: Counter[tuple[int, str]] = Counter(
        (day.year, kind)
        for day, kind in session.execute(select(CalendarEntry.day, CalendarEntry.kind))
    )
    years = sorted({year for year, _kind in counts})
    calendar = work_calendar(session)
    missing = [today.year] if not calendar.covers(today.year) else []
    if today.month == 12 and today.year < 9999 and not calendar.covers(today.year + 1):
        missing.append(today.year + 1)
    return CalendarOverview(
        [YearSummary(year, counts[(year, "holiday")], counts[(year, "workday")]) for year in years],
        missing,
        workflow.missing_year_warning(calendar, today),
    )


def calendar_year(session: Session, year: int) -> list[CalendarEntry]:
    """Return one year's rows in date order (empty when the table does not cover it)."""
    return list(
        session.scalars(
            select(CalendarEntry)
            .where(CalendarEntry.day >= date(year, 1, 1), CalendarEntry.day <= date(year, 12, 31))
            .order_by(CalendarEntry.day)
        )
    )


def _entry_dict(entry: CalendarEntry | workflow.CalendarEntry) -> dict[str, str]:
    day = entry.day
    return {"date": day.isoformat(), "kind": str(entry.kind), "name": entry.name}


def check_year_entries(year: int, entries: list[workflow.CalendarEntry]) -> None:
    """Refuse a year's rows with every problem at once: other years, doubles, weekday workdays."""
    errors: dict[str, list[str]] = {}
    if not entries:
        errors["entries"] = [
            _("A year needs its holidays: send at least one entry (a year with none is not kept).")
        ]
    seen: dict[date, int] = {}
    for i, entry in enumerate(entries):
        problems: list[str] = []
        if entry.day.year != year:
            problems.append(_("%(day)s is not in %(year)s.", day=entry.day.isoformat(), year=year))
        if entry.day in seen:
            problems.append(
                _(
                    "%(day)s is already entry %(other)s.",
                    day=entry.day.isoformat(),
                    other=seen[entry.day],
                )
            )
        else:
            seen[entry.day] = i
        if entry.kind is workflow.EntryKind.workday and entry.day.weekday() < 5:
            problems.append(
                _(
                    "%(day)s is a weekday: a make-up working day falls on a weekend.",
                    day=entry.day.isoformat(),
                )
            )
        if problems:
            errors[f"entries.{i}.date"] = problems
    if errors:
        raise ValidationFailed(_("The calendar year was not imported."), errors=errors)


def replace_calendar_year(
    session: Session, year: int, entries: list[workflow.CalendarEntry]
) -> list[CalendarEntry]:
    """Replace one year's holidays and make-up working days at once, recorded in the audit."""
    check_year_entries(year, entries)
    before = [_entry_dict(e) for e in calendar_year(session, year)]
    import_calendar_entries(session, entries)
    stored = calendar_year(session, year)
    record_audit(
        session,
        "admin.calendar.replace",
        target_type="calendar_year",
        target_id=year,
        before=before or None,
        after=[_entry_dict(e) for e in stored],
    )
    return stored
