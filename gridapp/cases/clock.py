"""The SLA clock of a case's current step, on the stored work calendar.

Whenever a flush writes a case whose step start or deadline changed (a new step, an extension,
a resume after a pause), ``warn_at`` is recomputed with it: the instant the step reaches 80 %
of its time. The SLA sweep then reads only cases whose ``warn_at`` or deadline has come.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

import workflow
from gridapp.calendar.services import work_calendar
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category

WARNING_SHARE = 0.8


def step_limit(case: Case, state: str, category: Category | None) -> workflow.TimeLimit | None:
    """Return the time limit of ``state``: the category's for handling, else the process's."""
    if state == workflow.State.handling and category is not None:
        handling = (category.time_limits or {}).get("handling")
        if handling:
            return workflow.TimeLimit(
                float(handling["amount"]), workflow.TimeUnit(handling["unit"])
            )
    definition = workflow.PROCESSES[case.process]
    return definition.time_limits.get(workflow.State(state))


def start_step(
    case: Case,
    state: str,
    category: Category | None,
    calendar: workflow.WorkCalendar,
    now: datetime,
) -> None:
    """Start the clock of the step the case enters; an end state or a pause has none."""
    case.step_started_at = now
    case.sla_flag = "ok"
    limit = step_limit(case, state, category)
    case.deadline = (
        None if limit is None else workflow.deadline(now, limit, calendar).astimezone(UTC)
    )


def is_working_clock(case: Case) -> bool:
    # Urgent classes count natural hours, day and night (DESIGN §5).
    return case.urgency != "urgent"


def case_sla(
    case: Case, calendar: workflow.WorkCalendar, now: datetime | None = None
) -> dict[str, Any]:
    """Say where the current step's clock stands: ok, warning (≥ 80 %) or overdue."""
    now = now or datetime.now(UTC)
    if case.deadline is None or case.step_started_at is None:
        return {
            "status": "ok",
            "deadline": None,
            "used": None,
            "paused": case.paused_at is not None,
        }
    working = is_working_clock(case)
    allowed = workflow.elapsed(case.step_started_at, case.deadline, calendar, working=working)
    spent = workflow.elapsed(case.step_started_at, now, calendar, working=working)
    used = (
        spent / allowed if allowed.total_seconds() > 0 else (1.0 if now >= case.deadline else 0.0)
    )
    status = "overdue" if used >= 1.0 else "warning" if used >= 0.8 else "ok"
    return {
        "status": status,
        "deadline": case.deadline,
        "used": round(used, 4),
        "working_seconds_used": int(spent.total_seconds()),
        "working_seconds_allowed": int(allowed.total_seconds()),
        "working_time": working,
        "paused": False,
    }


def warning_time(case: Case, calendar: workflow.WorkCalendar) -> datetime | None:
    """The instant the running step has used 80 % of its time (None without a deadline).

    It is where ``case_sla`` turns to warning: working (or natural, for urgent classes) time
    from the step's start, 80 % of what lies between the start and the deadline.
    """
    if case.deadline is None or case.step_started_at is None:
        return None
    working = is_working_clock(case)
    allowed = workflow.elapsed(case.step_started_at, case.deadline, calendar, working=working)
    if allowed <= timedelta(0):
        return case.deadline
    unit = workflow.TimeUnit.working_minutes if working else workflow.TimeUnit.minutes
    share = workflow.TimeLimit(allowed.total_seconds() * WARNING_SHARE / 60, unit)
    return workflow.deadline(case.step_started_at, share, calendar).astimezone(UTC)


@event.listens_for(Session, "before_flush")
def _keep_warn_at(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    changed = [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Case) and _clock_changed(obj)
    ]
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
    return any(state.attrs[name].history.has_changes() for name in ("deadline", "step_started_at"))
