"""The step clock of a case (时限), on the stored work calendar; `workflow.sla` does the counting.

A case stores where its running step stands: when it started, its deadline (moved by an
approved extension), the pauses (挂账) it had and the one still open. Everything else (used
share, warning, overdue) is computed from those and the calendar, never stored as a countdown.

Whenever a flush writes a case whose step start, deadline or pauses changed, ``warn_at`` is
recomputed with it: the instant the step reaches the warning share of its time. The SLA sweep
then reads only cases whose ``warn_at`` or deadline has come.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

import workflow
from gridapp.calendar.services import work_calendar
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category


def step_limit(case: Case, state: str, category: Category | None) -> workflow.TimeLimit | None:
    """Return the time limit of ``state``: the category's for handling, else the process's
    (chosen by the case's urgency or urban/rural setting where the definition says so)."""
    if state == workflow.State.handling and category is not None:
        handling = (category.time_limits or {}).get("handling")
        if handling:
            return workflow.TimeLimit(
                float(handling["amount"]), workflow.TimeUnit(handling["unit"])
            )
    definition = workflow.PROCESSES[case.process]
    chooses = workflow.Facts(urgency=case.urgency, setting=case.setting, source=case.source)
    return definition.limit_for(workflow.State(state), chooses)


def is_working_clock(case: Case) -> bool:
    """Say whether the case's clock counts working time; urgent classes count every hour."""
    return case.urgency != "urgent"


def _unit(case: Case) -> workflow.TimeUnit:
    return (
        workflow.TimeUnit.working_minutes if is_working_clock(case) else workflow.TimeUnit.minutes
    )


def start_step(
    case: Case,
    state: str,
    category: Category | None,
    calendar: workflow.WorkCalendar,
    now: datetime,
) -> None:
    """Start the clock of the step the case enters; a state without a limit has none."""
    case.step_started_at = now
    case.step_pauses = []
    case.paused_at = None
    case.sla_flag = workflow.SlaState.ok.value
    case.deadline = _step_deadline(case, state, category, calendar, now)


def carry_step(
    case: Case,
    state: str,
    category: Category | None,
    calendar: workflow.WorkCalendar,
    now: datetime,
) -> None:
    """Carry the running step into ``state`` (立案+派遣 share one limit): the start stays, the
    deadline is ``state``'s limit from that start, for the case's urgency now."""
    if case.step_started_at is None:
        start_step(case, state, category, calendar, now)
        return
    case.deadline = _step_deadline(case, state, category, calendar, case.step_started_at)
    case.sla_flag = workflow.SlaState.ok.value


def _step_deadline(
    case: Case,
    state: str,
    category: Category | None,
    calendar: workflow.WorkCalendar,
    start: datetime,
) -> datetime | None:
    limit = step_limit(case, state, category)
    if limit is None:
        return None
    if limit.working and not is_working_clock(case):
        # An urgent case counts every hour: the same amount of time, on the natural clock.
        minutes = limit.duration(calendar).total_seconds() / 60
        limit = workflow.TimeLimit(minutes, workflow.TimeUnit.minutes)
    return workflow.deadline(start, limit, calendar).astimezone(UTC)


def stop_step(case: Case) -> None:
    """Stop the clock: the case reached an end."""
    case.step_started_at, case.deadline, case.paused_at = None, None, None
    case.step_pauses = []


def pause_step(case: Case, now: datetime) -> None:
    """Stop the clock counting (挂账) until the step resumes."""
    case.paused_at = now


def resume_step(case: Case, calendar: workflow.WorkCalendar, now: datetime) -> timedelta:
    """Count again after a pause: the deadline moves by the counted time the pause took.

    Working time, as everywhere: a pause over a weekend moves a working-day deadline by the
    working hours it covered, not by the 48 wall-clock hours. Returns the counted time paused.
    """
    paused_at = case.paused_at
    if paused_at is None:
        return timedelta(0)
    pauses = [*_closed_pauses(case), (paused_at, now)]
    case.step_pauses = [[a.isoformat(), b.isoformat()] for a, b in pauses]
    case.paused_at = None
    working = is_working_clock(case)
    counted = workflow.elapsed(paused_at, now, calendar, working=working)
    if case.deadline is not None and case.step_started_at is not None:
        # The working time that was left when the pause began, counted again from now.
        left = workflow.elapsed(paused_at, case.deadline, calendar, working=working)
        if left > timedelta(0):
            limit = workflow.TimeLimit(left.total_seconds() / 60, _unit(case))
            case.deadline = workflow.deadline(now, limit, calendar).astimezone(UTC)
        else:
            case.deadline = now
    return counted


def extend_step(case: Case, until: datetime) -> None:
    """Move the deadline to an approved ``until`` (延期); the step's start stays."""
    case.deadline = until
    case.sla_flag = workflow.SlaState.ok.value


def _closed_pauses(case: Case) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in case.step_pauses or []
    ]


def _pauses(case: Case) -> Sequence[workflow.sla.Pause]:
    pauses: list[workflow.sla.Pause] = list(_closed_pauses(case))
    if case.paused_at is not None:
        pauses.append((case.paused_at, None))
    return pauses


def sla_status(
    case: Case, calendar: workflow.WorkCalendar, now: datetime
) -> workflow.SlaStatus | None:
    """Return the running step's clock (`workflow.sla_status`), or None when none runs."""
    if case.deadline is None or case.step_started_at is None:
        return None
    return workflow.sla_status(
        case.step_started_at,
        workflow.TimeLimit(0, _unit(case)),
        now,
        calendar,
        pauses=_pauses(case),
        extended_deadline=case.deadline,
    )


def case_sla(
    case: Case, calendar: workflow.WorkCalendar, now: datetime | None = None
) -> dict[str, Any]:
    """Say where the current step's clock stands: ok, warning or overdue (the case's `sla`)."""
    status = sla_status(case, calendar, now or datetime.now(UTC))
    if status is None:
        return {
            "status": workflow.SlaState.ok.value,
            "deadline": None,
            "used": None,
            "paused": case.paused_at is not None,
        }
    return {
        "status": status.status.value,
        "deadline": status.deadline.astimezone(UTC).isoformat(),
        "used": round(status.used, 4),
        "working_seconds_used": int(status.elapsed.total_seconds()),
        "working_seconds_allowed": int(status.limit.total_seconds()),
        "working_time": is_working_clock(case),
        "paused": status.paused,
    }


def warning_time(case: Case, calendar: workflow.WorkCalendar) -> datetime | None:
    """Return the instant the running step has used the warning share of its time.

    It is where `workflow.sla_status` turns to warning: counted time from the step's start,
    the warning share of what lies between the start and the deadline, pauses left out.
    """
    if case.deadline is None or case.step_started_at is None:
        return None
    working = is_working_clock(case)
    pauses = _closed_pauses(case)
    allowed = workflow.elapsed(
        case.step_started_at, case.deadline, calendar, working=working, pauses=pauses
    )
    if allowed <= timedelta(0):
        return case.deadline
    share = workflow.TimeLimit(allowed.total_seconds() * workflow.sla.WARNING_AT / 60, _unit(case))
    return workflow.deadline(case.step_started_at, share, calendar, pauses=pauses).astimezone(UTC)


@event.listens_for(Session, "before_flush")
def _keep_warn_at(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    keep_warn_at(session, [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Case)])


def keep_warn_at(session: Session, cases: Sequence[Case]) -> None:
    """Recompute ``warn_at`` of the cases whose step clock changed (what every flush does).

    Called by a writer that sends a case's UPDATE itself, which no flush hook sees.
    """
    changed = [case for case in cases if _clock_changed(case)]
    if not changed:
        return
    with session.no_autoflush:
        calendar = work_calendar(session)
        for case in changed:
            case.warn_at = warning_time(case, calendar)


def _clock_changed(case: Case) -> bool:
    state = inspect(case)
    if state.pending or state.transient:
        return True
    # Only an attribute set since the load has a committed value kept: the others are unchanged.
    return any(
        state.attrs[name].history.has_changes()
        for name in CLOCK_COLUMNS
        if name in state.committed_state
    )


# What ``warn_at`` is computed from.
CLOCK_COLUMNS = ("deadline", "step_started_at", "step_pauses")
