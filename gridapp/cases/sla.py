"""The SLA sweep: warn at 80 %, flag overdue at 100 %, then supervise (督办)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import case_sla, warning_time
from gridapp.cases.history import append_event
from gridapp.cases.models import Case
from gridapp.notifications.services import command_center, department_members, notify

SEVERITY = {"ok": 0, "warning": 1, "overdue": 2}
END_STATES = ("closed", "void", "evaluated")


@dataclass(frozen=True)
class SweepResult:
    scanned: int
    warned: int
    overdue: int


def _who_acts(session: Session, case: Case) -> list[int]:
    if case.state in {"handling"}:
        return department_members(session, case.department_code)
    return command_center(session, case.district_code, ("acceptor", "dispatcher", "shift_leader"))


def sweep_sla(session: Session, now: datetime | None = None) -> SweepResult:
    """Mark warnings and overdue steps; a second run over the same state changes nothing."""
    now = now or datetime.now(UTC)
    calendar = work_calendar(session)
    # Only steps whose 80 % mark or deadline has come (or whose mark is not computed yet):
    # the indexes on warn_at and deadline keep this small however many cases are open.
    due = or_(
        Case.warn_at.is_(None),
        and_(Case.sla_flag == "ok", Case.warn_at <= now),
        Case.deadline <= now,
    )
    cases = session.scalars(
        select(Case)
        .where(
            Case.deadline.is_not(None),
            Case.paused_at.is_(None),
            Case.sla_flag != "overdue",
            Case.state.not_in(END_STATES),
            due,
        )
        .with_for_update(skip_locked=True)
    ).all()
    warned = overdue = 0
    for case in cases:
        if case.warn_at is None:
            case.warn_at = warning_time(case, calendar)
        status = case_sla(case, calendar, now)["status"]
        if SEVERITY[status] <= SEVERITY[case.sla_flag]:
            continue
        case.sla_flag = status
        step = case.step_started_at.isoformat() if case.step_started_at else "none"
        if status == "warning":
            warned += 1
            notify(
                session,
                _who_acts(session, case),
                kind="sla_warning",
                case=case,
                message=f"Case {case.number} has used 80 % of its time in {case.state}.",
                dedupe_key=f"sla:{case.id}:{step}:warning",
            )
            continue
        overdue += 1
        leaders = command_center(session, case.district_code, ("shift_leader",))
        notify(
            session,
            [*leaders, *_who_acts(session, case)],
            kind="sla_overdue",
            case=case,
            message=f"Case {case.number} is overdue in {case.state}: supervise (督办).",
            dedupe_key=f"sla:{case.id}:{step}:overdue",
        )
        # The reminder is a supervise event like a person's, so it counts in the evaluation.
        case.supervise_count += 1
        case.version += 1
        case.updated_at = now
        append_event(
            session,
            case,
            action="supervise",
            actor_id=None,
            role="system",
            from_state=case.state,
            to_state=case.state,
            comment="overdue: automatic supervision (超时自动督办)",
            data={
                "reason": "overdue",
                "deadline": case.deadline.isoformat() if case.deadline else None,
            },
            at=now,
        )
    session.flush()
    return SweepResult(len(cases), warned, overdue)
