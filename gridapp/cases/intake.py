"""Intake (上报 / 受理登记): every channel's last step. A case starts in its process's first state.

The category decides the process (`Category.process`); the point decides the unit grid. A
phone report carries an idempotency key so that a retry answers the case the first try made:
the key is read (one index probe) before anything is numbered or written, so a retry costs no
writes; two tries racing past that read meet at the key's unique constraint, where the second
waits for the first to commit and then answers its case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from shapely.geometry import Point
from sqlalchemy import Integer, Table, bindparam, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import start_step, warning_time
from gridapp.cases.history import append_event
from gridapp.cases.models import Case, Counter
from gridapp.cases.partitions import load_case, partitioned
from gridapp.catalogue.models import Category
from gridapp.catalogue.services import find_category, find_department, nearest_component
from gridapp.core.config import Config
from gridapp.core.errors import ValidationFailed
from gridapp.core.i18n import _
from gridapp.grid.services import Location, locate_point
from gridapp.media.models import Attachment
from gridapp.media.services import attachments_for_claim
from gridapp.notifications.services import notify_new_case

# Core on the tables: the ORM's unit of work costs several times the statements themselves.
# Built once per dialect (ON CONFLICT is dialect syntax, the same on SQLite and PostgreSQL).
_COUNTER = cast(Table, Counter.__table__)
_CASE = cast(Table, Case.__table__)
_INSERTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite_insert,
    "postgresql": postgresql_insert,
}


def _bump_counter(dialect: str) -> Any:
    """The day's counter plus one in one statement: the first case of a day makes the row."""
    statement = _INSERTS[dialect](_COUNTER).values(
        name=bindparam("counter_name"), value=literal(1, Integer)
    )
    return statement.on_conflict_do_update(
        index_elements=[_COUNTER.c.name], set_={"value": _COUNTER.c.value + 1}
    ).returning(_COUNTER.c.value)


def _insert_case(dialect: str) -> Any:
    """INSERT a case unless its reporter already made one with its idempotency key.

    The reporter's (reporter_id, client_id) unique constraint is the arbiter: a concurrent
    duplicate waits for the first transaction and then inserts nothing (no SAVEPOINT, no
    IntegrityError), and the caller answers the first case.
    """
    return (
        _INSERTS[dialect](_CASE)
        .on_conflict_do_nothing(index_elements=[_CASE.c.reporter_id, _CASE.c.client_id])
        .returning(_CASE.c.id)
    )


BUMP_COUNTER = {dialect: _bump_counter(dialect) for dialect in _INSERTS}
INSERT_CASE = {dialect: _insert_case(dialect) for dialect in _INSERTS}
# Monthly partitions (migration 0025) keep the idempotency key's uniqueness in `case_key`, which
# a trigger fills: "case" itself has no constraint for ON CONFLICT to name. There the insert runs
# under a SAVEPOINT, and a violation of that key (a replay, or a concurrent duplicate once the
# first commits) answers as ON CONFLICT DO NOTHING would.
INSERT_PARTITIONED_CASE = insert(_CASE).returning(_CASE.c.id)
IDEMPOTENCY_KEY = "uq_case_reporter_id_client_id"
# Gives back a number a replay took: the transaction still holds the counter row's lock.
RETURN_NUMBER = (
    update(_COUNTER)
    .where(_COUNTER.c.name == bindparam("counter_name"), _COUNTER.c.value == bindparam("taken"))
    .values(value=_COUNTER.c.value - 1)
)
# The case a reporter's idempotency key made: its id only, so a new report's look-up (no row)
# costs one index probe and no ORM loading. Partitioned, the key's unique index is in case_key
# (one plain index); "case" keeps an index per monthly partition.
REPORTED_ID = select(_CASE.c.id).where(
    _CASE.c.reporter_id == bindparam("reporter_id"), _CASE.c.client_id == bindparam("client_id")
)
REPORTED_ID_PARTITIONED = text(
    "SELECT id FROM case_key WHERE reporter_id = :reporter_id AND client_id = :client_id"
)
# The columns a new case is written with: every one but the id, defaults filled in Python.
_CASE_COLUMNS = [column for column in _CASE.columns if not column.primary_key]
# A NULL is written by leaving its column out, except where the table has a default of its own.
# A new case has a score of columns still empty (handler, verifier, closed_at, …): fewer
# parameters to bind and send, and a statement psycopg keeps converted (it caches at most 50).
_NULL_WRITTEN = frozenset(c.key for c in _CASE_COLUMNS if c.server_default is not None)


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """Hash a request body, so a retry with the same key but another body is caught."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _counter_name(now: datetime) -> str:
    return f"case:{now.astimezone(workflow.LOCAL_ZONE):%Y%m%d}"


def _next_number(session: Session, now: datetime) -> str:
    name = _counter_name(now)
    # The upsert takes the row lock first, so concurrent reports get distinct numbers. Run on
    # the session's connection after what is pending (as autoflush would): a Core statement
    # needs none of the session's execution layer.
    session.flush()
    value = session.connection().scalar(BUMP_COUNTER[_dialect(session)], {"counter_name": name})
    assert value is not None
    return f"{name[5:]}{value:06d}"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _column_values(case: Case) -> dict[str, Any]:
    """Every column's value of a new case; the columns' Python defaults set on it too."""
    state = case.__dict__
    values = {}
    for column in _CASE_COLUMNS:
        key = column.key
        if key in state:
            values[key] = state[key]
            continue
        default = column.default
        value = None
        if default is not None and default.is_scalar:
            value = default.arg  # type: ignore[attr-defined]
        elif default is not None and default.is_callable:
            value = default.arg(None)  # type: ignore[attr-defined]
        setattr(case, key, value)
        values[key] = value
    return values


def _insert(session: Session, case: Case) -> bool:
    """Write a new case in one INSERT; False when its idempotency key was used already.

    The case object becomes the session's persistent row without a flush of its own
    (`make_transient_to_detached`: every column is set, so nothing is read back).
    """
    values = {
        key: value
        for key, value in _column_values(case).items()
        if value is not None or key in _NULL_WRITTEN
    }
    session.flush()  # whatever the transaction has pending goes first, as a flush would
    # The values as parameters, not in the statement: the compiled statement is then cached.
    if partitioned(session):
        try:
            with session.begin_nested():
                case_id = session.scalar(INSERT_PARTITIONED_CASE, values)
        except IntegrityError as error:
            if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != (
                IDEMPOTENCY_KEY
            ):
                raise
            return False
    else:
        case_id = session.connection().scalar(INSERT_CASE[_dialect(session)], values)
    if case_id is None:
        return False
    case.id = case_id
    # A new case names no department or handler: nothing for its JSON to look up.
    for relation, key in (("department", "department_code"), ("handler", "handler_id")):
        if relation not in case.__dict__ and getattr(case, key) is None:
            set_committed_value(case, relation, None)
    make_transient_to_detached(case)
    session.add(case)
    return True


def _new_case(
    cat: Category, *, source: str, description: str, address: str | None, **columns: Any
) -> Case:
    """A case of ``cat`` as every channel starts one, before intake places and numbers it."""
    return Case(
        number="",
        source=source,
        category_code=cat.code,
        urgency=cat.urgency,
        description=description,
        address=address,
        **columns,
    )


@dataclass(frozen=True)
class Reported:
    case: Case
    created: bool


def _category(session: Session, code: str) -> Category:
    category = find_category(session, code)
    if category is None or not category.active:
        raise ValidationFailed(
            _("Unknown category."),
            errors={"category": _("No active category %(code)r.", code=code)},
        )
    return category


def _placed(case: Case, location: Location, lon: float, lat: float) -> None:
    located = location.located
    case.location = Point(location.lon, location.lat)
    case.lon, case.lat = location.lon, location.lat
    case.original_lon, case.original_lat, case.original_crs = lon, lat, location.crs
    case.grid_code = located.grid.code
    case.community_code = located.community.code if located.community else None
    case.street_code = located.street.code if located.street else None
    case.district_code = located.district.code if located.district else None
    # Some step limits (核实, 核查) follow the grid: rural grids take longer to reach.
    case.setting = located.setting


def _open(
    session: Session,
    case: Case,
    category: Category,
    reporter: User | None,
    now: datetime,
    data: dict[str, Any],
    claim: Callable[[], Sequence[Attachment]] | None = None,
) -> Case | None:
    """Number the case, start its first step's clock, write its first event, tell the desk.

    Without a reporter (a citizen's app, a sensor) the event names the channel as its role.
    None: the reporter already made a case with its idempotency key (nothing written). The
    photos are claimed (``claim``) only once the case is known to be new: a retry's photos
    belong to the first try's case already.
    """
    photos: Sequence[Attachment] = ()
    definition = workflow.PROCESSES[category.process]
    case.process, case.state = definition.code, definition.initial.value
    # In hand already: the case's JSON names them without another query.
    set_committed_value(case, "category", category)
    set_committed_value(case, "reporter", reporter)
    case.version, case.created_at, case.updated_at = 1, now, now
    calendar = work_calendar(session)
    start_step(case, case.state, category, calendar, now)
    # What the flush hook (clock._keep_warn_at) sets on a case it writes: this one is not
    # flushed but inserted by a statement of its own.
    case.warn_at = warning_time(case, calendar)
    case.number = _next_number(session, now)
    if not _insert(session, case):
        # The reporter's retry raced the first try, which won: give the number back.
        session.execute(
            RETURN_NUMBER, {"counter_name": _counter_name(now), "taken": int(case.number[8:])}
        )
        return None
    if claim is not None:
        photos = claim()
        data["photos"] = [a.id for a in photos]
    event = append_event(
        session,
        case,
        first=True,
        action="report",
        actor_id=reporter.id if reporter else None,
        role=reporter.role if reporter else case.source,
        from_state=None,
        to_state=case.state,
        data=data,
        at=now,
    )
    for attachment in photos:
        attachment.case_id, attachment.event_id = case.id, event.id
    # The acceptors of its district learn of the new case (待受理).
    notify_new_case(session, case)
    session.flush()
    return case


def report_case(
    session: Session,
    config: Config,
    reporter: User,
    *,
    category: str,
    description: str,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    address: str | None = None,
    photos: Sequence[int] = (),
    client_id: str | None = None,
    fingerprint: str | None = None,
    source: str = workflow.Role.grid_worker.value,
) -> Reported:
    """Report a case from the field (上报): locate it, link a component, start its first step.

    With a client id (or Idempotency-Key) a retry answers the case made by the first try.
    """
    try:
        cat = _category(session, category)
        location = locate_point(
            session,
            lon,
            lat,
            crs,
            check_seconds=config.grid_index_check_seconds,
            with_workers=False,
        )
    except ValidationFailed:
        # A retry answers its case even if the category or the map changed since the first try.
        existing = find_reported(session, reporter.id, client_id) if client_id else None
        if existing is None:
            raise
        return _replay(session, existing, reporter, fingerprint)
    # The new case as far as it is known without the database: built before the first
    # statement, which on SQLite takes the write lock that every other writer then waits for.
    case = _new_case(
        cat,
        source=source,
        description=description,
        address=address,
        reporter_id=reporter.id,
        client_id=client_id,
        request_hash=fingerprint,
    )
    _placed(case, location, lon, lat)
    # A retry (a phone that lost the answer, or re-queued the report) is answered here, before
    # anything is numbered or written. Not earlier: this is the transaction's first statement,
    # and on SQLite that takes the write lock, which the checks above (this process's copies of
    # the catalogue and the map) do not need. So on SQLite a first try still being written has
    # committed before this read and is found; on PostgreSQL one not yet committed is not seen,
    # and the INSERT below waits for it on the key and then answers its case.
    existing = find_reported(session, reporter.id, client_id) if client_id else None
    if existing is not None:
        return _replay(session, existing, reporter, fingerprint)
    # Taken under the lock: on SQLite the cases' times then follow the order they commit in.
    now = datetime.now(UTC)
    # Only component classes (部件) have registered objects to link; events (事件) never do.
    component = (
        nearest_component(session, cat.code, location.lon, location.lat)
        if cat.kind == "component"
        else None
    )
    case.component_id = component.id if component else None
    data: dict[str, Any] = {
        "photos": [],
        "component": component.code if component else None,
        "location": {"lon": location.lon, "lat": location.lat},
        "original_location": {"lon": lon, "lat": lat, "crs": location.crs},
    }
    # The key's unique constraint decides between tries that both passed the read above.
    opened = _open(
        session,
        case,
        cat,
        reporter,
        now,
        data,
        lambda: attachments_for_claim(session, reporter, photos, None),
    )
    if opened is None:
        existing = find_reported(session, reporter.id, client_id) if client_id else None
        assert existing is not None  # the conflict was on this key
        return _replay(session, existing, reporter, fingerprint)
    return Reported(opened, True)


def take_case(
    session: Session,
    config: Config,
    taker: User,
    *,
    category: str,
    description: str,
    source: str,
    location: Mapping[str, Any] | None = None,
    address: str | None = None,
    caller: Mapping[str, str] | None = None,
) -> Case:
    """Register a case at the desk (受理登记): a call, a visitor, an inspection.

    The category decides the process. Without a point the case is the taker's district's
    until someone places it; the caller's details are kept for the command centre only.
    """
    cat = _category(session, category)
    if location is None and not address:
        raise ValidationFailed(
            _("Say where the problem is."),
            errors={"location": _("Give a location or an address.")},
        )
    now = datetime.now(UTC)
    case = _new_case(
        cat,
        source=source,
        description=description,
        address=address,
        reporter_id=taker.id,
        reporter_contact=dict(caller or {}),
    )
    data: dict[str, Any] = {"source": source}
    if location is not None:
        lon, lat, crs = location["lon"], location["lat"], location.get("crs", "wgs84")
        found = locate_point(
            session,
            lon,
            lat,
            crs,
            check_seconds=config.grid_index_check_seconds,
            with_workers=False,
        )
        _placed(case, found, lon, lat)
        data["location"] = {"lon": found.lon, "lat": found.lat}
    else:
        case.district_code = taker.district_code
    opened = _open(session, case, cat, taker, now, data)
    assert opened is not None  # no idempotency key: nothing to conflict with
    return opened


def receive_case(
    session: Session,
    config: Config,
    *,
    source: str,
    category: str,
    description: str,
    lon: float | None = None,
    lat: float | None = None,
    crs: str = "wgs84",
    address: str | None = None,
    district_code: str | None = None,
    component_id: int | None = None,
    contact: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Case:
    """Open a case that no staff member reported: a citizen's request, a sensor's alarm.

    The channel has checked its caller; the case names no reporter, its first event the
    channel (``source``) as the role. Without a point it belongs to ``district_code``. The
    contact details are personal data, shown to command-center roles only.
    """
    cat = _category(session, category)
    now = datetime.now(UTC)
    case = _new_case(
        cat,
        source=source,
        description=description,
        address=address,
        reporter_id=None,
        component_id=component_id,
        reporter_contact=dict(contact or {}),
    )
    event: dict[str, Any] = {"source": source, **(data or {})}
    if lon is not None and lat is not None:
        found = locate_point(
            session,
            lon,
            lat,
            crs,
            check_seconds=config.grid_index_check_seconds,
            with_workers=False,
        )
        _placed(case, found, lon, lat)
        event["location"] = {"lon": found.lon, "lat": found.lat}
        if component_id is None and cat.kind == "component":
            component = nearest_component(session, cat.code, found.lon, found.lat)
            case.component_id = component.id if component else None
    else:
        case.district_code = district_code
    if case.component_id is not None:
        event["component"] = case.component_id
    opened = _open(session, case, cat, None, now, event)
    assert opened is not None  # no idempotency key: nothing to conflict with
    return opened


def find_reported(session: Session, reporter_id: int, client_id: str) -> Case | None:
    """Return the case a reporter already made with this idempotency key, if any."""
    statement = REPORTED_ID_PARTITIONED if partitioned(session) else REPORTED_ID
    case_id = session.scalar(statement, {"reporter_id": reporter_id, "client_id": client_id})
    return None if case_id is None else load_case(session, case_id)


def _replay(session: Session, case: Case, reporter: User, fingerprint: str | None) -> Reported:
    """Answer a retry with the case its key made (the first try's answer), or refuse a key
    reused for another report."""
    if fingerprint and case.request_hash and fingerprint != case.request_hash:
        raise ValidationFailed(
            _("This idempotency key was used for a different report."),
            errors={
                "client_id": _("Reused with a different body; use a new key for a new report.")
            },
        )
    # What the case's JSON names, from what is in hand (the key is the reporter's; the
    # catalogue's per-process copy), as a new case's answer has them: no query for each.
    set_committed_value(case, "reporter", reporter)
    category = find_category(session, case.category_code)
    if category is not None:
        set_committed_value(case, "category", category)
    code = case.department_code
    department = None if code is None else find_department(session, code)
    if code is None or department is not None:
        set_committed_value(case, "department", department)
    if case.handler_id is None:
        set_committed_value(case, "handler", None)
    return Reported(case, False)
