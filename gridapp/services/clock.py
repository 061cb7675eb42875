"""The SLA clock of a case's current step, on the stored work calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import workflow
from gridapp.models import Case, Category


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
