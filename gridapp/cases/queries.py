"""Reading cases: one case in scope, filtered and sorted lists, a case's history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, defer, joinedload

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.scope import case_scope, case_visible
from gridapp.catalogue.services import find_department, responsible_department
from gridapp.core.errors import NotFound, OutOfScope
from gridapp.core.i18n import _
from gridapp.core.pagination import cursor_datetime, cursor_int, decode_cursor, paginate

CASE_BY_ID = select(Case).where(Case.id == bindparam("case_id"))
# A list shows each case's category, department, reporter and handler by name: joined into
# the page's own statement (many-to-one: a row each), not a statement per relation; and it
# leaves out the columns no case JSON shows (the point's geometry is decoded into a shapely
# object per row otherwise; the JSON's location is lon/lat).
NAMED = (
    joinedload(Case.category, innerjoin=True),
    joinedload(Case.department),
    joinedload(Case.reporter),
    joinedload(Case.handler),
    defer(Case.location),
    defer(Case.client_id),
    defer(Case.request_hash),
)
CASE_BY_ID_FOR_UPDATE = CASE_BY_ID.with_for_update()


def get_case(session: Session, user: User, case_id: int, *, lock: bool = False) -> Case:
    """Return a case the user may see; anything else is 404 (its existence stays hidden)."""
    case = session.scalar(CASE_BY_ID_FOR_UPDATE if lock else CASE_BY_ID, {"case_id": case_id})
    if case is None:
        raise NotFound(_("No case %(id)s.", id=case_id))
    if not case_visible(user, case):
        raise OutOfScope(_("No case %(id)s.", id=case_id), target_type="case", target_id=case_id)
    return case


class CaseSort(StrEnum):
    """Orders of a case list; a leading ``-`` is newest (or latest deadline) first."""

    created = "created"
    newest = "-created"
    updated = "updated"
    recently_updated = "-updated"
    deadline = "deadline"  # soonest first; cases without a running clock last
    latest_deadline = "-deadline"


# Ids grow with creation, so "created" walks the primary key and the (area, state, id)
# indexes serve the filtered lists; only the deadline may be NULL (no clock running).
_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created": Case.id,
    "updated": Case.updated_at,
    "deadline": Case.deadline,
}
NULLABLE = frozenset({"deadline"})


@dataclass(frozen=True)
class CaseFilters:
    states: Sequence[str] = ()
    category: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    department: str | None = None
    source: str | None = None
    process: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    text: str | None = None
    sla: workflow.SlaState | None = None


def sla_condition(status: workflow.SlaState, now: datetime) -> ColumnElement[bool]:
    """Select the cases whose running step's clock stands at ``status`` now (时限状态).

    Read from the stored deadline and ``warn_at`` (the instant the step reaches its warning
    share, kept by `gridapp.cases.clock`), so each status is one condition the partial indexes
    on those columns serve. A paused clock (挂账) stands where it stood when the pause began,
    as each case's `sla` says; no clock at all is ok.
    """

    def reached(column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        return or_(
            and_(Case.paused_at.is_(None), column <= now),
            and_(Case.paused_at.is_not(None), column <= Case.paused_at),
        )

    passed = or_(
        and_(Case.paused_at.is_(None), Case.deadline < now),
        and_(Case.paused_at.is_not(None), Case.deadline < Case.paused_at),
    )
    overdue = and_(Case.deadline.is_not(None), passed)
    warning = and_(Case.deadline.is_not(None), Case.warn_at.is_not(None), reached(Case.warn_at))
    if status is workflow.SlaState.overdue:
        return overdue
    if status is workflow.SlaState.warning:
        return and_(warning, not_(passed))
    return not_(or_(overdue, warning))


def filter_conditions(filters: CaseFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.states:
        conditions.append(Case.state.in_(list(filters.states)))
    for column, value in (
        (Case.category_code, filters.category),
        (Case.street_code, filters.street),
        (Case.community_code, filters.community),
        (Case.grid_code, filters.grid),
        (Case.department_code, filters.department),
        (Case.source, filters.source),
        (Case.process, filters.process),
    ):
        if value:
            conditions.append(column == value)
    if filters.overdue is not None:
        overdue = sla_condition(workflow.SlaState.overdue, now)
        conditions.append(overdue if filters.overdue else not_(overdue))
    if filters.sla is not None:
        conditions.append(sla_condition(filters.sla, now))
    if filters.due_before:
        conditions.append(and_(Case.deadline.is_not(None), Case.deadline < filters.due_before))
    if filters.reported_from:
        conditions.append(Case.created_at >= filters.reported_from)
    if filters.reported_to:
        conditions.append(Case.created_at < filters.reported_to)
    if filters.text:
        pattern = f"%{filters.text.replace('%', '').replace('_', '')}%"
        conditions.append(
            or_(
                Case.description.ilike(pattern),
                Case.address.ilike(pattern),
                Case.number.like(pattern),
            )
        )
    return conditions


def _after(
    column: InstrumentedAttribute[Any], descending: bool, value: Any, case_id: int
) -> ColumnElement[bool]:
    """Select the rows after (value, id) in the order (column, id), NULL values last."""
    later_id = Case.id < case_id if descending else Case.id > case_id
    if column is Case.id:
        return later_id
    if value is None:  # already among the NULLs: only the ids after
        return and_(column.is_(None), later_id)
    beyond = column < value if descending else column > value
    after = or_(beyond, and_(column == value, later_id))
    return or_(after, column.is_(None)) if column.key in NULLABLE else after


def list_cases(
    session: Session,
    user: User,
    filters: CaseFilters,
    *,
    sort: CaseSort = CaseSort.newest,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Case], str | None]:
    """List cases in the user's scope, filtered and sorted, a page at a time (keyset)."""
    descending = sort.value.startswith("-")
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    conditions = filter_conditions(filters, datetime.now(UTC))
    after = decode_cursor(cursor, 2)
    if after is not None:
        value = cursor_int(after[0]) if column is Case.id else cursor_datetime(after[0])
        conditions.append(_after(column, descending, value, cursor_int(after[1])))
    first = column.desc() if descending else column.asc()
    if column.key in NULLABLE:
        first = first.nulls_last()
    order = [first] if column is Case.id else [first, Case.id.desc() if descending else Case.id]
    query = (
        select(Case)
        .where(case_scope(user), *conditions)
        .order_by(*order)
        .limit(limit + 1)
        .options(*NAMED)
    )
    rows = list(session.scalars(query))
    return paginate(rows, limit, lambda case: (getattr(case, column.key), case.id))


def count_cases(session: Session, user: User, filters: CaseFilters) -> int:
    """Count the cases in the user's scope that the filters select (a queue's exact size)."""
    query = (
        select(func.count())
        .select_from(Case)
        .where(case_scope(user), *filter_conditions(filters, datetime.now(UTC)))
    )
    return int(session.scalar(query) or 0)


def case_history(session: Session, user: User, case_id: int) -> tuple[Case, list[CaseEvent]]:
    """Return a case in scope and every event of its history, oldest first."""
    case = get_case(session, user, case_id)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    return case, list(events)


# A grid worker's tasks (待办): the states that wait for them in particular, and by what tie.
_S = workflow.State
TASKS: dict[str, tuple[str, InstrumentedAttribute[Any]]] = {
    _S.checking.value: ("check", Case.checker_id),
    _S.verifying.value: ("verify", Case.verifier_id),
    _S.closed.value: ("evaluate", Case.reporter_id),
}
# Only processes where a closed case still waits for its reporter's rating (评价).
_RATED = [code for code, p in workflow.PROCESSES.items() if _S.closed not in p.ends]


def task_kind(case: Case) -> str:
    """Return what a task asks of the grid worker: check, verify or evaluate."""
    return TASKS[case.state][0]


def _task_condition(user: User) -> ColumnElement[bool]:
    return or_(
        *(
            and_(Case.state == state, column == user.id)
            if state != _S.closed
            else and_(Case.state == state, column == user.id, Case.process.in_(_RATED))
            for state, (_kind, column) in TASKS.items()
        )
    )


def worker_tasks(
    session: Session, user: User, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Case], str | None]:
    """List what waits for a grid worker, newest first: checks, verifications, ratings."""
    query = select(Case).where(_task_condition(user)).order_by(Case.id.desc()).options(*NAMED)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(Case.id < cursor_int(after[0]))
    rows = list(session.scalars(query.limit(limit + 1)))
    return paginate(rows, limit, lambda case: (case.id,))


SYNC_BATCH = 1000


def cases_changed_since(
    session: Session, user: User, since: datetime | None, now: datetime
) -> tuple[list[Case], datetime]:
    """Return the cases in scope changed since a moment, and the watermark to ask from next.

    The watermark is the last case seen (or now); asking from it with ``>=`` re-sends at most
    the boundary rows, which a phone deduplicates by id and version.
    """
    query = select(Case).where(case_scope(user)).order_by(Case.updated_at, Case.id)
    if since is not None:
        query = query.where(Case.updated_at >= since)
    cases = list(session.scalars(query.limit(SYNC_BATCH).options(*NAMED)))
    watermark = cases[-1].updated_at if len(cases) == SYNC_BATCH else now
    return cases, watermark


def open_tasks(session: Session, user: User, limit: int = 200) -> list[Case]:
    """Return a grid worker's open tasks, newest first (for a phone's sync)."""
    query = (
        select(Case)
        .where(_task_condition(user))
        .order_by(Case.id.desc())
        .limit(limit)
        .options(*NAMED)
    )
    return list(session.scalars(query))


def suggest_department(session: Session, user: User, case_id: int) -> dict[str, Any]:
    """Say which department the responsibility rules would send a case to (派遣建议)."""
    case = get_case(session, user, case_id)
    rule = responsible_department(
        session,
        case.category_code,
        [case.grid_code, case.community_code, case.street_code, case.district_code],
    )
    if rule is None:
        return {"case": case.id, "department": None, "department_name": None, "rule": None}
    department = find_department(session, rule.department_code)
    return {
        "case": case.id,
        "department": rule.department_code,
        "department_name": department.name if department else None,
        "rule": {
            "id": rule.id,
            "category": rule.category_code,
            "area": rule.area_code,
            "note": rule.note,
        },
    }
