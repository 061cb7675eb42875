"""The SLA sweep: warn at 80 %, flag overdue at 100 %, then supervise (督办)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.services import command_center
from gridapp.calendar.services import work_calendar
from gridapp.cases.actions import apply_transition
from gridapp.cases.clock import sla_status, warning_time
from gridapp.cases.effects import next_actors
from gridapp.cases.models import Case
from gridapp.core.i18n import _, state_label, stored_language
from gridapp.notifications.services import notify

S = workflow.SlaState
SEVERITY = {S.ok: 0, S.warning: 1, S.overdue: 2}


@dataclass(frozen=True)
class SweepResult:
    scanned: int
    warned: int
    overdue: int


def _who_acts(session: Session, case: Case) -> list[int]:
    definition = workflow.PROCESSES[case.process]
    return next_actors(session, case, definition, workflow.State(case.state))


def sweep_sla(session: Session, now: datetime | None = None) -> SweepResult:
    """Mark warnings and overdue steps; a second run over the same state changes nothing."""
    now = now or datetime.now(UTC)
    calendar = work_calendar(session)
    # Only steps whose 80 % mark or deadline has come (or whose mark is not computed yet):
    # the indexes on warn_at and deadline keep this small however many cases are open.
    due = or_(
        Case.warn_at.is_(None),
        and_(Case.sla_flag == S.ok, Case.warn_at <= now),
        Case.deadline <= now,
    )
    cases = session.scalars(
        select(Case)
        .where(
            Case.deadline.is_not(None),
            Case.paused_at.is_(None),
            Case.sla_flag != S.overdue,
            due,
        )
        .with_for_update(skip_locked=True)
    ).all()
    warned = overdue = 0
    for case in cases:
        if case.warn_at is None:
            case.warn_at = warning_time(case, calendar)
        clock = sla_status(case, calendar, now)
        if clock is None or SEVERITY[clock.status] <= SEVERITY[S(case.sla_flag)]:
            continue
        status = clock.status
        case.sla_flag = status.value
        step = case.step_started_at.isoformat() if case.step_started_at else "none"
        if status is S.warning:
            warned += 1
            with stored_language():
                message = _(
                    "Case %(number)s has used 80 %% of its time in %(state)s.",
                    number=case.number,
                    state=state_label(case.state, workflow.PROCESSES[case.process]),
                )
            notify(
                session,
                _who_acts(session, case),
                kind="sla_warning",
                case=case,
                message=message,
                dedupe_key=f"sla:{case.id}:{step}:warning",
            )
            continue
        overdue += 1
        leaders = command_center(session, case.district_code, (workflow.Role.shift_leader,))
        with stored_language():
            message = _(
                "Case %(number)s is overdue in %(state)s: supervise.",
                number=case.number,
                state=state_label(case.state, workflow.PROCESSES[case.process]),
            )
            comment = _("overdue: automatic supervision")
        notify(
            session,
            leaders,
            kind="sla_overdue",
            case=case,
            message=message,
            dedupe_key=f"sla:{case.id}:{step}:overdue",
        )
        # The reminder is the process's own supervise row, taken by the system, so it counts
        # in the evaluation and tells whoever must act, like a person's 督办.
        row = workflow.PROCESSES[case.process].transition(
            workflow.State(case.state), workflow.Action.supervise
        )
        if row is not None:
            apply_transition(
                session,
                case,
                row,
                actor=None,
                payload={"comment": comment},
                now=now,
            )
    session.flush()
    return SweepResult(len(cases), warned, overdue)
