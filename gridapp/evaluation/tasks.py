"""Department tasks (专业部门任务) counted by the database, as `workflow.evaluation` counts them.

`workflow.evaluation._tasks` reads one case's history at a time: each stay with a department (a
dispatch to the next dispatch) falls due when handled (its first feedback) or when the deadline
then in force passes unhandled, whichever comes first; suspended (挂账), the clock is paused;
an approved return (回退) takes the stay out. The department counters (due, due on time, due
and closed, reworks) are hits dated by that moment. Counting a month of them meant reading
every case with an event in the month or its look-back, with its whole history, into Python
(`services.count_live`): four minutes at a million cases. Here one statement does it:

1. The cases that may have a task falling due in the period: a feedback in it (handled then),
   or an event that set a deadline falling in it (late then); ``ix_case_event_action_created``
   and ``ix_case_event_task_deadline`` (migration 0026) find both. Every task due in the period
   is in such a case, so the rest need only be exact.
2. Their whole histories, each event with the state of its stay just before it, by window
   functions over the case's events in order: the dispatch that opened the stay, the deadline
   in force (the latest one set in the stay) and whether the clock is paused (the latest
   suspension or resume). An event finds the task late when the clock runs and the deadline
   passed before it; a feedback finds it handled.
3. One row per stay: its department, whether it was returned or closed, its reworks, the
   first event that found it late or handled, and its state after its last event (late by
   ``now`` when nothing found it).
4. Counted per department over the stays due in the period, of cases with an event in the
   period or its look-back: the cases `count_live` loads.

"The latest value" in one window pass: each value is written behind its event's ``seq`` (an
array on PostgreSQL, zero-padded text on SQLite), so the greatest is the latest. Times compare
as PostgreSQL's epoch seconds (a double keeps a microsecond timestamp's order) or as SQLite's
stored UTC text, deadlines brought to the same form. The deadlines read are those the
application writes (`datetime.isoformat` of an aware time); any other text sets none.
tests/gridapp/evaluation/test_department_tasks.py holds the answers to `count_live`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Grouping

import workflow
from gridapp.cases.models import Case, CaseEvent
from gridapp.core.parallel import parts_allowed, read_in_parts
from gridapp.core.types import UTCDateTime
from gridapp.evaluation.models import JsonText, task_deadline, task_setter

A = workflow.Action
# The counters this module counts, each a name of `workflow.COUNTERS` (a test holds them to the
# department table's).
DUE, DUE_ON_TIME, DUE_CLOSED, REWORKS = "due", "due_on_time", "due_closed", "reworks"
DEPARTMENT_COUNTERS = (DUE, DUE_ON_TIME, DUE_CLOSED, REWORKS)
# A deadline as `datetime.isoformat` writes an aware time (0: a digit, +: the offset's sign),
# with microseconds and without; other text sets no deadline.
_ISO_FORMS = ("0000-00-00T00:00:00.000000+00:00", "0000-00-00T00:00:00+00:00")


def _glob(form: str) -> str:
    return form.replace("0", "[0-9]").replace("+", "[+-]")


def _like(form: str) -> str:
    # LIKE has no character classes: the shape alone (PostgreSQL's regular expressions cost
    # five times the cast they guard).
    return form.replace("0", "_").replace("+", "_")


# A period's bounds as text, widened by a day: a deadline written with any offset under a day
# that falls in the period sorts between them.
_TEXT_SLACK_DAYS = 1
# A period at least this long is counted in parts at once (a month's recompute takes seconds);
# a day's (the nightly snapshot, today's live count) in one statement, as cutting costs more.
PARTED_PERIOD = timedelta(days=7)
# SQLite's stored times: 'YYYY-MM-DD HH:MM:SS' and six digits of microseconds.
_SQLITE_SECONDS = "%Y-%m-%d %H:%M:%S"
# Zero-padded width of a seq in SQLite's text codes.
_SEQ_WIDTH = 10


class _Dialect:
    """How one backend compares times and keeps "the latest value" (see the module's notes)."""

    def instant(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        """A deadline's text as a comparable time, NULL when it is not one."""
        raise NotImplementedError

    def moment(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """A stored time as a comparable time."""
        raise NotImplementedError

    def bound(self, value: datetime) -> ColumnElement[Any]:
        """A time of ours as a comparable time."""
        raise NotImplementedError

    def code(self, seq: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A value written behind its event's seq: codes order by the seq, then the value."""
        raise NotImplementedError

    def value(self, code: ColumnElement[Any]) -> ColumnElement[Any]:
        """The value of a code (NULL for a code made without one)."""
        raise NotImplementedError

    def later(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        """The greater of two values, either of which may be NULL."""
        raise NotImplementedError

    def text_member(self, data: ColumnElement[Any], key: str) -> ColumnElement[Any]:
        """A member of an event's data when it is a JSON string, else NULL."""
        raise NotImplementedError

    def once(self, query: Select[Any]) -> Select[Any]:
        """A subquery whose columns are computed once per row, however often named above."""
        return query

    def unselective(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """A condition the planner should not pick an index for."""
        return condition


class _Postgres(_Dialect):
    def instant(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        parsed = func.date_part("epoch", cast(text, UTCDateTime()), type_=Float)
        return case((or_(*(text.like(_like(form)) for form in _ISO_FORMS)), parsed), else_=null())

    def moment(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.date_part("epoch", column, type_=Float)

    def bound(self, value: datetime) -> ColumnElement[Any]:
        return func.date_part("epoch", literal(value, UTCDateTime()), type_=Float)

    def code(self, seq: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
        return array([cast(seq, Float), value], type_=Float)

    def value(self, code: ColumnElement[Any]) -> ColumnElement[Any]:
        return type_coerce(Grouping(code), ARRAY(Float))[2]

    def later(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.greatest(a, b, type_=a.type)  # GREATEST passes over NULLs

    def text_member(self, data: ColumnElement[Any], key: str) -> ColumnElement[Any]:
        return case((func.jsonb_typeof(data[key]) == "string", JsonText(data, key)))

    def once(self, query: Select[Any]) -> Select[Any]:
        # OFFSET keeps the planner from pulling the subquery up into its parent.
        return query.offset(0)


class _Sqlite(_Dialect):
    def instant(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        # strftime applies the offset; the microseconds are taken as written (strftime would
        # round them to milliseconds).
        seconds = func.substr(text, 1, 19, type_=String)
        return case(
            (
                text.op("GLOB")(_glob(_ISO_FORMS[0])),
                func.strftime(
                    _SQLITE_SECONDS, seconds + func.substr(text, 27, type_=String), type_=String
                )
                + func.substr(text, 20, 7, type_=String),
            ),
            (
                text.op("GLOB")(_glob(_ISO_FORMS[1])),
                func.strftime(_SQLITE_SECONDS, text, type_=String) + ".000000",
            ),
            else_=null(),
        )

    def moment(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        # Stored as SQLAlchemy writes a naive UTC time: 'YYYY-MM-DD HH:MM:SS.ffffff'.
        return type_coerce(column, String())

    def bound(self, value: datetime) -> ColumnElement[Any]:
        # Bound as the column's type writes it, so the text compares with the stored one.
        return literal(value, UTCDateTime())

    def code(self, seq: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[Any]:
        padded = func.printf(f"%0{_SEQ_WIDTH}d", seq, type_=String)
        return padded + func.coalesce(type_coerce(value, String()), "")

    def value(self, code: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.nullif(func.substr(code, _SEQ_WIDTH + 1), "", type_=String)

    def later(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        # SQLite's two-argument max() is NULL when either is.
        return func.max(func.coalesce(a, b), func.coalesce(b, a), type_=a.type)

    def text_member(self, data: ColumnElement[Any], key: str) -> ColumnElement[Any]:
        return case((func.json_type(data, f'$."{key}"') == "text", JsonText(data, key)))

    def unselective(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # Without statistics (an embedded database is rarely analysed) SQLite takes an
        # equality on an index's first column for a few rows, and read every deadline-setting
        # event through the action's index (4.3 s of CPU at a million cases); likelihood()
        # says the test keeps most rows and still names the partial index's condition (its
        # probability written into the SQL: SQLite takes no parameter there).
        return func.likelihood(condition, literal_column("0.9"))


def _dialect(session: Session) -> _Dialect:
    return _Postgres() if session.get_bind().dialect.name == "postgresql" else _Sqlite()


def _candidates(
    sql: _Dialect,
    since: datetime,
    until: datetime,
    district: str | None,
    part: tuple[int, int] | None = None,
) -> Select[tuple[int]]:
    """The cases that may have a task falling due in [since, until) (a superset); with
    ``part`` (k, n), those of them whose id is k modulo n."""
    event = CaseEvent.__table__.c
    handled = select(event.case_id).where(
        event.action == A.feedback, event.created_at >= since, event.created_at < until
    )
    deadline = task_deadline(event.action, event.data)
    low = _iso_seconds(since, -_TEXT_SLACK_DAYS)
    high = _iso_seconds(until, _TEXT_SLACK_DAYS)
    late = select(event.case_id).where(
        sql.unselective(task_setter(event.action)), deadline >= low, deadline < high
    )
    if district is not None:
        in_district = select(Case.id).where(Case.district_code == district)
        handled = handled.where(event.case_id.in_(in_district))
        late = late.where(event.case_id.in_(in_district))
    if part is not None:
        k, n = part
        handled = handled.where(event.case_id % n == k)
        late = late.where(event.case_id % n == k)
    found = union(handled, late).subquery("candidates")
    return select(found.c.case_id)


def _iso_seconds(moment: datetime, days: int) -> str:
    return (moment + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


def _histories(session: Session, candidates: Select[tuple[int]]) -> FromClause:
    """Every event of the candidate cases."""
    event = CaseEvent.__table__.c
    columns = (event.case_id, event.seq, event.action, event.to_state, event.created_at, event.data)
    if session.get_bind().dialect.name == "postgresql":
        # One index range per case (and partition): OFFSET 0 keeps the planner from turning it
        # into a hash join over every event of every month.
        found = candidates.subquery("found")
        events = select(*columns).where(event.case_id == found.c.case_id).offset(0).lateral("e")
        return select(events).select_from(found.join(events, true())).subquery("history")
    return select(*columns).where(event.case_id.in_(candidates)).subquery("history")


def count_department_tasks(
    session: Session,
    since: datetime,
    until: datetime,
    touched_since: datetime,
    district: str | None,
    now: datetime,
) -> dict[str, dict[str, float]]:
    """Count each department's tasks due in [since, until): department → counter → count.

    As `count_live` counts them over the cases of ``district`` (None: all) with an event in
    [touched_since, until), their deadlines judged at ``now``; counters with no hit are left
    out, as there.

    A period of a week or more is counted in parts of the cases (by id), each on a connection
    of its own at once, when the session allows it (PostgreSQL, nothing written in this
    transaction: `gridapp.core.parallel`): a case's tasks are all in its part, so the parts'
    counts add up to the whole's.
    """
    sql = _dialect(session)
    # Settings of the statement's transaction: at a million cases the plan's cost crosses
    # PostgreSQL's JIT threshold, and compiling its expressions took longer than running it
    # (county: 5.2 s of JIT in a 7.4 s run, 1.6 s without). This transaction only, as the
    # dashboard does.
    setup = [text("SET LOCAL jit = off")] if isinstance(sql, _Postgres) else []
    n = parts_allowed(session) if until - since >= PARTED_PERIOD else 1
    parts = [
        department_tasks_statement(
            session, since, until, touched_since, district, now, (k, n) if n > 1 else None
        )
        for k in range(n)
    ]
    if n > 1:
        return add_up(read_in_parts(session, parts, setup=setup))
    for statement in setup:
        session.execute(statement)
    return add_up([session.execute(parts[0]).all()])


def add_up(results: Iterable[Iterable[Sequence[Any]]]) -> dict[str, dict[str, float]]:
    """The departments' counts of the statements' rows (parts of the cases) added up."""
    totals: dict[str, dict[str, float]] = {}
    for rows in results:
        for row in rows:
            # A department, then its counters' numbers in DEPARTMENT_COUNTERS' order.
            department, numbers = str(row[0]), tuple(row)[1:]
            counts = totals.setdefault(department, {})
            for name, number in zip(DEPARTMENT_COUNTERS, numbers, strict=True):
                if number:
                    counts[name] = counts.get(name, 0) + int(number)
    return {department: counts for department, counts in totals.items() if counts}


def department_tasks_statement(
    session: Session,
    since: datetime,
    until: datetime,
    touched_since: datetime,
    district: str | None,
    now: datetime,
    part: tuple[int, int] | None = None,
) -> Select[Any]:
    """The statement that counts the departments' tasks (of ``part`` of the cases, or all):
    a row per department, its counters in DEPARTMENT_COUNTERS' order."""
    sql = _dialect(session)
    history = _histories(session, _candidates(sql, since, until, district, part))
    h = history.c
    # Each event's own facts, each worked out once: a subquery's column named twice above it
    # is otherwise computed twice (a deadline's text was read from the data six times).
    texts = sql.once(
        select(
            h.case_id,
            h.seq,
            h.action,
            h.to_state,
            h.created_at,
            case(
                (
                    h.action == A.dispatch,
                    sql.text_member(h.data, workflow.evaluation.TASK_DEPARTMENT),
                )
            ).label("department"),
            task_deadline(h.action, h.data).label("deadline_text"),
        )
    ).subquery("texts")
    x = texts.c
    parsed = sql.once(
        select(
            x.case_id,
            x.seq,
            x.action,
            x.to_state,
            x.created_at,
            x.department,
            sql.instant(x.deadline_text).label("deadline_at"),
        )
    ).subquery("parsed")
    p = parsed.c
    is_dispatch = p.action == A.dispatch
    # The deadline an event sets (a dispatch always opens a new one, even without a time) and
    # the pause it starts or ends (a dispatch starts unpaused): codes whose latest is the state.
    sets_deadline = case(
        (or_(is_dispatch, p.deadline_at.is_not(None)), sql.code(p.seq, p.deadline_at))
    )
    pauses = case(
        (p.action == A.approve_suspension, 2 * p.seq + 1),
        (or_(p.action == A.resume, is_dispatch), 2 * p.seq),
    )

    def before(value: ColumnElement[Any]) -> ColumnElement[Any]:
        """The greatest of ``value`` over the case's earlier events."""
        return func.max(value).over(partition_by=p.case_id, order_by=p.seq, rows=(None, -1))

    events = select(
        p.case_id,
        p.seq,
        p.action,
        p.to_state,
        p.created_at,
        p.department,
        case((is_dispatch, p.seq)).label("dispatch_seq"),
        sets_deadline.label("deadline_code"),
        pauses.label("pause_code"),
        before(case((is_dispatch, p.seq))).label("stay_before"),
        before(sets_deadline).label("deadline_before"),
        before(pauses).label("pause_before"),
    ).subquery("events")
    e = events.c
    at = sql.moment(e.created_at)
    in_stay = and_(e.dispatch_seq.is_(None), e.stay_before.is_not(None))
    running = func.mod(e.pause_before, 2) == 0
    deadline_before = sql.value(e.deadline_before)
    late = and_(in_stay, running, deadline_before < at)
    handled = and_(in_stay, e.action == A.feedback)
    # The first event that found the task late (with the deadline that passed) and the first
    # that found it handled (with its time): the earlier decides; on one event, late does.
    first_late = func.min(case((late, sql.code(e.seq, deadline_before))))
    first_handled = func.min(case((handled, sql.code(e.seq, at))))
    closing = or_(
        e.action == A.close,
        and_(
            e.action.in_(list(workflow.evaluation.SELF_HANDLING)),
            e.to_state == workflow.evaluation.CLOSED,
        ),
    )
    in_period = and_(e.created_at >= touched_since, e.created_at < until)
    stay = func.coalesce(e.dispatch_seq, e.stay_before)
    stays = (
        select(
            e.case_id,
            stay.label("stay"),
            func.max(case((in_period, 1), else_=0)).label("in_period"),
            func.max(case((e.dispatch_seq.is_not(None), e.department))).label("department"),
            func.max(case((e.action == A.approve_return, 1), else_=0)).label("returned"),
            func.max(case((closing, 1), else_=0)).label("closed"),
            func.sum(case((e.action == A.rework, 1), else_=0)).label("reworks"),
            first_late.label("first_late"),
            first_handled.label("first_handled"),
            sql.later(func.max(e.deadline_code), func.max(e.deadline_before)).label(
                "last_deadline"
            ),
            sql.later(func.max(e.pause_code), func.max(e.pause_before)).label("last_pause"),
        )
        .group_by(e.case_id, stay)
        .subquery("stays")
    )
    s = stays.c
    last_deadline = sql.value(s.last_deadline)
    # Codes compare by seq: on one event, the deadline before it is less than its time.
    late_first = and_(
        s.first_late.is_not(None),
        or_(s.first_handled.is_(None), s.first_late < s.first_handled),
    )
    on_time = and_(s.first_handled.is_not(None), ~late_first)
    due_at = case(
        (late_first, sql.value(s.first_late)),
        (s.first_handled.is_not(None), sql.value(s.first_handled)),
        (and_(func.mod(s.last_pause, 2) == 0, last_deadline < sql.bound(now)), last_deadline),
    )
    tasks = select(
        s.department,
        s.stay,
        s.returned,
        s.closed,
        s.reworks,
        on_time.label("on_time"),
        due_at.label("due_at"),
        # The case was loaded by count_live: an event of it in the period or its look-back.
        func.max(s.in_period).over(partition_by=s.case_id).label("touched"),
    ).subquery("tasks")
    t = tasks.c
    query = (
        select(
            t.department,
            func.count(),
            func.sum(case((t.on_time, 1), else_=0)),
            func.sum(t.closed),
            func.sum(t.reworks),
        )
        .where(
            t.touched == 1,
            t.stay.is_not(None),
            t.department.is_not(None),
            t.returned == 0,
            t.due_at >= sql.bound(since),
            t.due_at < sql.bound(until),
        )
        .group_by(t.department)
    )
    return query
