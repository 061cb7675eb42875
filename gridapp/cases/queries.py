"""Reading cases: one case in scope, filtered and sorted lists, a case's history."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, defer
from sqlalchemy.orm.attributes import set_committed_value

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.partitions import load_case
from gridapp.cases.scope import ScopeShape, bound_case_scope, case_scope, case_visible, scope_shape
from gridapp.catalogue.services import find_category, find_department, responsible_department
from gridapp.core.errors import NotFound, OutOfScope
from gridapp.core.i18n import _
from gridapp.core.pagination import cursor_datetime, cursor_int, decode_cursor, paginate
from gridapp.core.settled import settled_instant

# A list leaves out the columns no case JSON shows (the point's geometry is decoded into a
# shapely object per row otherwise; the JSON's location is lon/lat).
UNSHOWN = (defer(Case.location), defer(Case.client_id), defer(Case.request_hash))


def with_names(session: Session, cases: list[Case]) -> list[Case]:
    """Give a page of cases what their JSON names: category, department, reporter, handler.

    The catalogue's rows come from this process's copy (no query) and the people from one
    query for the page. They were joined into the page's own statement before: on the
    partitioned schema every join is planned against every month's partition, and the four of
    them cost 2.5 ms of planning a page at 17 months (docs/performance.md, stop 22). A code
    the copy does not know yet (made in another process in the copy's last seconds) is left
    to the relationship's own lazy load.
    """
    people = {id_ for case in cases for id_ in (case.reporter_id, case.handler_id) if id_}
    users = (
        {user.id: user for user in session.scalars(select(User).where(User.id.in_(people)))}
        if people
        else {}
    )
    for case in cases:
        category = find_category(session, case.category_code)
        if category is not None:
            set_committed_value(case, "category", category)
        code = case.department_code
        department = find_department(session, code) if code is not None else None
        if code is None or department is not None:
            set_committed_value(case, "department", department)
        set_committed_value(case, "reporter", users.get(case.reporter_id or 0))
        set_committed_value(case, "handler", users.get(case.handler_id or 0))
    return cases


def get_case(session: Session, user: User, case_id: int, *, lock: bool = False) -> Case:
    """Return a case the user may see; anything else is 404 (its existence stays hidden)."""
    case = load_case(session, case_id, lock=lock)
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


# The filters that compare a column with the value given, in the order they are written.
_EQUALS: tuple[tuple[str, InstrumentedAttribute[Any]], ...] = (
    ("category", Case.category_code),
    ("street", Case.street_code),
    ("community", Case.community_code),
    ("grid", Case.grid_code),
    ("department", Case.department_code),
    ("source", Case.source),
    ("process", Case.process),
)
# Every bound parameter a list's statement takes, besides the scope's (`scope_shape`).
NOW = "now"
LIMIT = "limit"
AFTER_VALUE = "after_value"
AFTER_ID = "after_id"
_VALUE_PREFIX = "filter_"


@dataclass(frozen=True)
class FilterShape:
    """Which filters are set (the names of those that take a value, in order), and the two
    that choose the condition itself; the values are bound apart (`filter_values`)."""

    given: tuple[str, ...]
    overdue: bool | None
    sla: workflow.SlaState | None


def filter_values(filters: CaseFilters) -> tuple[FilterShape, dict[str, Any]]:
    """Return the shape of the filters' conditions and the value each of them binds."""
    values: dict[str, Any] = {}
    if filters.states:
        # In one order: the same set is the same statement text (`_WRITTEN_IN`).
        values["states"] = sorted(set(filters.states))
    for name, _column in _EQUALS:
        if value := getattr(filters, name):
            values[name] = value
    for name in ("due_before", "reported_from", "reported_to"):
        if value := getattr(filters, name):
            values[name] = value
    if filters.text:
        values["text"] = f"%{filters.text.replace('%', '').replace('_', '')}%"
    return FilterShape(tuple(values), filters.overdue, filters.sla), values


def _conditions(
    shape: FilterShape, value: Callable[[str], Any], now: datetime
) -> list[ColumnElement[bool]]:
    """The conditions of a filter shape, each value given by ``value`` (literal or bound)."""
    given = shape.given
    conditions: list[ColumnElement[bool]] = []
    if "states" in given:
        conditions.append(Case.state.in_(value("states")))
    conditions.extend(column == value(name) for name, column in _EQUALS if name in given)
    if shape.overdue is not None:
        overdue = sla_condition(workflow.SlaState.overdue, now)
        conditions.append(overdue if shape.overdue else not_(overdue))
    if shape.sla is not None:
        conditions.append(sla_condition(shape.sla, now))
    if "due_before" in given:
        conditions.append(and_(Case.deadline.is_not(None), Case.deadline < value("due_before")))
    if "reported_from" in given:
        conditions.append(Case.created_at >= value("reported_from"))
    if "reported_to" in given:
        conditions.append(Case.created_at < value("reported_to"))
    if "text" in given:
        pattern = value("text")
        conditions.append(
            or_(
                Case.description.ilike(pattern),
                Case.address.ilike(pattern),
                Case.number.like(pattern),
            )
        )
    return conditions


def filter_conditions(filters: CaseFilters, now: datetime) -> list[ColumnElement[bool]]:
    """The filters' conditions with their values in them (a statement built for one use)."""
    shape, values = filter_values(filters)
    return _conditions(shape, values.__getitem__, now)


# The filters whose values go into the statement's text instead of its parameters: closed
# enumerations (validated against workflow's states and processes) so skewed that the best plan
# depends on the value (at the generated city 875 188 cases closed, 2 extension_requested). Each
# value set is then a statement of its own, which psycopg prepares after its fifth use on a
# connection, so PostgreSQL can keep one plan for it instead of planning every call: with the
# state bound it never did, and on the partitioned schema that planning is most of a list's time
# (docs/performance.md, "A list's plan kept per state").
_WRITTEN_IN = frozenset({"states", "process"})


def _bound(name: str) -> Any:
    return bindparam(
        _VALUE_PREFIX + name, expanding=name == "states", literal_execute=name in _WRITTEN_IN
    )


def bound_filter_conditions(shape: FilterShape) -> list[ColumnElement[bool]]:
    """The conditions of a filter shape with every value (and now) a bound parameter, named
    as `bound_filter_params` gives them: for a statement built once per shape."""
    return _conditions(shape, _bound, cast(datetime, bindparam(NOW)))


def bound_filter_params(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The parameters of `bound_filter_conditions` for the values `filter_values` gave."""
    params = {_VALUE_PREFIX + name: value for name, value in values.items()}
    params[NOW] = now
    return params


def _after(
    column: InstrumentedAttribute[Any], descending: bool, among_nulls: bool
) -> ColumnElement[bool]:
    """Select the rows after (value, id) in the order (column, id), NULL values last; the
    value and id are bound (``AFTER_VALUE``, ``AFTER_ID``)."""
    case_id: BindParameter[int] = bindparam(AFTER_ID)
    later_id = Case.id < case_id if descending else Case.id > case_id
    if column is Case.id:
        return later_id
    if among_nulls:  # already among the NULLs: only the ids after
        return and_(column.is_(None), later_id)
    value: BindParameter[Any] = bindparam(AFTER_VALUE)
    beyond = column < value if descending else column > value
    after = or_(beyond, and_(column == value, later_id))
    return or_(after, column.is_(None)) if column.key in NULLABLE else after


# The cursor's part of a list's shape: none, or after a value, or among the NULLs.
_FIRST_PAGE, _AFTER_VALUE, _AMONG_NULLS = "first", "after", "nulls"


@functools.lru_cache(maxsize=512)
def _list_statement(
    scope: ScopeShape, shape: FilterShape, sort: CaseSort, cursor: str
) -> Select[Case]:
    """The statement of one list shape, its values bound: built (and its cache key made)
    once per process, not per request (profiled: a sixth of a list page's CPU)."""
    descending = sort.value.startswith("-")
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    conditions = bound_filter_conditions(shape)
    if cursor != _FIRST_PAGE:
        conditions.append(_after(column, descending, cursor == _AMONG_NULLS))
    first = column.desc() if descending else column.asc()
    if column.key in NULLABLE:
        first = first.nulls_last()
    order = [first] if column is Case.id else [first, Case.id.desc() if descending else Case.id]
    return (
        select(Case)
        .where(bound_case_scope(scope), *conditions)
        .order_by(*order)
        .limit(bindparam(LIMIT))
        .options(*UNSHOWN)
    )


def list_cases(
    session: Session,
    user: User,
    filters: CaseFilters,
    *,
    sort: CaseSort = CaseSort.newest,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> tuple[list[Case], str | None]:
    """List cases in the user's scope, filtered and sorted, a page at a time (keyset); the
    clock filters read ``now`` (default: this moment)."""
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    scope, scope_values = scope_shape(user)
    shape, values = filter_values(filters)
    params = {
        **scope_values,
        **bound_filter_params(values, now or datetime.now(UTC)),
        LIMIT: limit + 1,
    }
    position = _FIRST_PAGE
    after = decode_cursor(cursor, 2)
    if after is not None:
        value = cursor_int(after[0]) if column is Case.id else cursor_datetime(after[0])
        params[AFTER_ID] = cursor_int(after[1])
        position = _AMONG_NULLS if value is None and column is not Case.id else _AFTER_VALUE
        if position == _AFTER_VALUE and column is not Case.id:
            params[AFTER_VALUE] = value
    query = _list_statement(scope, shape, sort, position)
    rows = list(session.scalars(query, params))
    page, next_cursor = paginate(rows, limit, lambda case: (getattr(case, column.key), case.id))
    return with_names(session, page), next_cursor


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
    query = select(Case).where(_task_condition(user)).order_by(Case.id.desc()).options(*UNSHOWN)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(Case.id < cursor_int(after[0]))
    rows = list(session.scalars(query.limit(limit + 1)))
    page, next_cursor = paginate(rows, limit, lambda case: (case.id,))
    return with_names(session, page), next_cursor


SYNC_BATCH = 1000
# The step of `Case.updated_at` (microseconds on both backends): the first instant after another.
_TICK = timedelta(microseconds=1)


def cases_changed_since(
    session: Session, user: User, since: datetime | None, *, batch: int = SYNC_BATCH
) -> tuple[list[Case], datetime]:
    """Return the cases in scope changed since a moment, and the watermark to ask from next.

    At most ``batch`` cases, and then the rest of those changed at the last one's instant: a
    job stamps many cases alike, and a batch that stopped among them would be answered again
    and again. The watermark is never later than `settled_instant`, so a change still being
    committed is ahead of it. Asking from it with ``>=`` re-sends the last seconds' changes,
    which a client deduplicates by id and version. A caller that shows the cases whole names
    them (`with_names`); the desk's feed shows ids and versions only.
    """
    settled = settled_instant(session)
    query = select(Case).where(case_scope(user)).order_by(Case.updated_at, Case.id)
    if since is not None:
        query = query.where(Case.updated_at >= since)
    cases = list(session.scalars(query.limit(batch).options(*UNSHOWN)))
    if len(cases) < batch:
        return cases, settled
    last = cases[-1]
    cases += session.scalars(
        query.where(Case.updated_at == last.updated_at, Case.id > last.id).options(*UNSHOWN)
    )
    return cases, min(last.updated_at + _TICK, settled)


def open_tasks(session: Session, user: User, limit: int = 200) -> list[Case]:
    """Return a grid worker's open tasks, newest first (for a phone's sync)."""
    query = (
        select(Case)
        .where(_task_condition(user))
        .order_by(Case.id.desc())
        .limit(limit)
        .options(*UNSHOWN)
    )
    return with_names(session, list(session.scalars(query)))


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
