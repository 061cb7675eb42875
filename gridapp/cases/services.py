"""Cases (案卷): report, act along the process definition, read and list within scope."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import geo
import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import start_step
from gridapp.cases.history import append_event
from gridapp.cases.models import Case, CaseEvent, Counter
from gridapp.cases.scope import case_scope, case_visible
from gridapp.catalogue.models import Category, Component, Department, ResponsibilityRule
from gridapp.core.config import Config
from gridapp.core.errors import (
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from gridapp.grid.services import locate_point
from gridapp.media.services import attachments_for_claim
from gridapp.notifications.services import command_center, department_members, notify

SHANGHAI = ZoneInfo("Asia/Shanghai")
COMPONENT_RADIUS_M = 30.0
END_STATES = frozenset({"closed", "void", "evaluated"})


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """Hash a request body, so a retry with the same key but another body is caught."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# The hot path's statements are built once: building one costs more than running it.
_COUNTER = cast(Table, Counter.__table__)
# Core on the table: the ORM-enabled UPDATE costs several times more, and no Counter object is
# ever loaded that it would have to refresh.
BUMP_COUNTER = (
    update(_COUNTER)
    .where(_COUNTER.c.name == bindparam("counter_name"))
    .values(value=_COUNTER.c.value + 1)
    .returning(_COUNTER.c.value)
)
CATEGORY_BY_CODE = select(Category).where(Category.code == bindparam("code"))
CASE_BY_CLIENT_ID = select(Case).where(
    Case.reporter_id == bindparam("reporter_id"), Case.client_id == bindparam("client_id")
)
CASE_BY_ID = select(Case).where(Case.id == bindparam("case_id"))
CASE_BY_ID_FOR_UPDATE = CASE_BY_ID.with_for_update()


def _next_number(session: Session, now: datetime) -> str:
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    name = f"case:{day}"
    # An UPDATE takes the row lock first, so concurrent reports get distinct numbers.
    value = session.scalar(BUMP_COUNTER, {"counter_name": name})
    if value is None:  # the first case of the day
        try:
            with session.begin_nested():
                session.add(Counter(name=name, value=1))
            value = 1
        except IntegrityError:  # another process made the row first
            value = session.scalar(BUMP_COUNTER, {"counter_name": name})
    return f"{day}{value:06d}"


def _nearest_component(session: Session, category: str, lon: float, lat: float) -> Component | None:
    """Link the nearest registered component of the class within 30 m, if any."""
    dlat = COMPONENT_RADIUS_M / 110_574.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    candidates = session.scalars(
        select(Component).where(
            Component.category_code == category,
            Component.lon.between(lon - dlon, lon + dlon),
            Component.lat.between(lat - dlat, lat + dlat),
        )
    ).all()
    best = min(candidates, key=lambda c: geo.haversine_m(lon, lat, c.lon, c.lat), default=None)
    if best is None or geo.haversine_m(lon, lat, best.lon, best.lat) > COMPONENT_RADIUS_M:
        return None
    return best


@dataclass(frozen=True)
class Reported:
    case: Case
    created: bool


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
    source: str = "grid_worker",
) -> Reported:
    """Report a case (上报): locate it, link a component, start the acceptance clock.

    With a client id (or Idempotency-Key) a retry answers the case made by the first try.
    """
    if client_id:
        existing = _by_client_id(session, reporter.id, client_id)
        if existing is not None:
            return _replay(existing, fingerprint)
    cat = session.scalar(CATEGORY_BY_CODE, {"code": category})
    if cat is None or not cat.active:
        raise ValidationFailed(
            "Unknown category.", errors={"category": f"No active category {category!r}."}
        )
    location = locate_point(
        session, lon, lat, crs, check_seconds=config.grid_index_check_seconds, with_workers=False
    )
    claimed = attachments_for_claim(session, reporter, photos, None)
    now = datetime.now(UTC)
    located = location.located
    # Only component classes (部件) have registered objects to link; events (事件) never do.
    component = (
        _nearest_component(session, cat.code, location.lon, location.lat)
        if cat.kind == "component"
        else None
    )
    case = Case(
        number="",
        process=cat.process,
        state=workflow.URBAN_MANAGEMENT.initial.value,
        version=1,
        source=source,
        category_code=cat.code,
        urgency=cat.urgency,
        description=description,
        address=address,
        location=geo_point(location.lon, location.lat),
        lon=location.lon,
        lat=location.lat,
        original_lon=lon,
        original_lat=lat,
        original_crs=location.crs,
        grid_code=located.grid.code,
        community_code=located.community.code if located.community else None,
        street_code=located.street.code if located.street else None,
        district_code=located.district.code if located.district else None,
        reporter_id=reporter.id,
        component_id=component.id if component else None,
        client_id=client_id,
        request_hash=fingerprint,
        created_at=now,
        updated_at=now,
    )
    start_step(case, case.state, cat, work_calendar(session), now)
    try:
        with session.begin_nested():
            case.number = _next_number(session, now)
            session.add(case)
            session.flush()
    except IntegrityError:
        # A concurrent retry with the same client id won the race: answer its case.
        existing = _by_client_id(session, reporter.id, client_id) if client_id else None
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    event = append_event(
        session,
        case,
        first=True,
        action="report",
        actor_id=reporter.id,
        role=reporter.role,
        from_state=None,
        to_state=case.state,
        comment=None,
        data={
            "photos": [a.id for a in claimed],
            "component": component.code if component else None,
            "location": {"lon": location.lon, "lat": location.lat},
            "original_location": {"lon": lon, "lat": lat, "crs": location.crs},
        },
        at=now,
    )
    for attachment in claimed:
        attachment.case_id, attachment.event_id = case.id, event.id
    session.flush()
    return Reported(case, True)


def geo_point(lon: float, lat: float) -> Any:
    from shapely.geometry import Point

    return Point(lon, lat)


def find_reported(session: Session, reporter_id: int, client_id: str) -> Case | None:
    """Return the case a reporter already made with this idempotency key, if any."""
    return _by_client_id(session, reporter_id, client_id)


def _by_client_id(session: Session, reporter_id: int, client_id: str) -> Case | None:
    return session.scalar(CASE_BY_CLIENT_ID, {"reporter_id": reporter_id, "client_id": client_id})


def _replay(case: Case, fingerprint: str | None) -> Reported:
    if fingerprint and case.request_hash and fingerprint != case.request_hash:
        raise ValidationFailed(
            "This idempotency key was used for a different report.",
            errors={"client_id": "Reused with a different body; use a new key for a new report."},
        )
    return Reported(case, False)


def get_case(session: Session, user: User, case_id: int, *, lock: bool = False) -> Case:
    """Return a case the user may see; anything else is 404 (its existence stays hidden)."""
    case = session.scalar(CASE_BY_ID_FOR_UPDATE if lock else CASE_BY_ID, {"case_id": case_id})
    if case is None or not case_visible(user, case):
        raise NotFound(f"No case {case_id}.")
    return case


def parse_if_match(header: str | None) -> int:
    """Read a case version from ``If-Match: "<version>"``."""
    if header is None:
        raise PreconditionRequired(
            "State-changing calls need If-Match with the case's ETag (its version)."
        )
    tag = header.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit():
        raise PreconditionFailed(f"If-Match {header!r} is not a case version.")
    return int(tag)


# --- actions -------------------------------------------------------------------------------

Effect = Callable[["ActionContext"], None]


@dataclass
class ActionContext:
    session: Session
    user: User
    case: Case
    payload: dict[str, Any]
    now: datetime
    data: dict[str, Any]
    category: Category


def _relations(user: User, case: Case) -> frozenset[workflow.Relation]:
    relations = set()
    if case.reporter_id == user.id:
        relations.add(workflow.Relation.reporter)
    if case.verifier_id == user.id:
        relations.add(workflow.Relation.assigned_verifier)
    if case.checker_id == user.id:
        relations.add(workflow.Relation.assigned_checker)
    if user.department_code is not None and case.department_code == user.department_code:
        relations.add(workflow.Relation.department_member)
    if user.role in {"acceptor", "dispatcher", "shift_leader"}:
        relations.add(workflow.Relation.holding_center)
    return frozenset(relations)


def _facts(user: User, case: Case, payload: Mapping[str, Any]) -> workflow.Facts:
    check = None
    return workflow.Facts(
        source=case.source,
        verification_passed=case.verification_passed,
        check_confirmed=check,
        case_id=case.id,
        duplicate_of=payload.get("duplicate_of"),
        rework_count=case.rework_count,
        relations=_relations(user, case),
    )


@dataclass(frozen=True)
class Acted:
    """The case after an action, and the event the action wrote (None for a replayed retry)."""

    case: Case
    event: CaseEvent | None


def act_on_case(
    session: Session,
    user: User,
    case_id: int,
    action: str,
    payload: dict[str, Any],
    if_match: str | None,
    *,
    idempotency_key: str | None = None,
) -> Acted:
    """Take one action of the process on a case; it writes exactly one history event.

    A retry carrying the Idempotency-Key of an action already taken answers the case as it is,
    without a second event (a phone that lost the first answer must not see a 412).
    """
    case = get_case(session, user, case_id, lock=True)
    if idempotency_key and _already_taken(session, case.id, user.id, action, idempotency_key):
        return Acted(case, None)
    version = parse_if_match(if_match)
    if version != case.version:
        raise PreconditionFailed(
            f"The case changed (version {case.version}, you sent {version}); reload it.",
            extra={"current_version": case.version},
        )
    definition = workflow.PROCESSES[case.process]
    try:
        row = workflow.select(
            definition, case.state, action, user.role, _facts(user, case, payload)
        )
    except workflow.UnknownAction as exc:
        raise NotFound(f"No action {action!r} in the {case.process} process.") from exc
    workflow.check_payload(definition, case.state, action, payload)
    category = session.scalar(CATEGORY_BY_CODE, {"code": case.category_code})
    assert category is not None
    now = datetime.now(UTC)
    ctx = ActionContext(session, user, case, payload, now, {}, category)
    photos = attachments_for_claim(
        session, user, [int(p) for p in payload.get("photos") or []], case
    )
    EFFECTS.get(row.action.value, _no_effect)(ctx)
    from_state = case.state
    to_state = (row.target or row.source).value
    keep_deadline = bool(ctx.data.pop("keep_deadline", False))
    case.state = to_state
    if to_state in END_STATES:
        case.deadline, case.step_started_at = None, None
    elif to_state == "suspended":
        case.paused_at = now
    elif to_state != from_state and not keep_deadline:
        start_step(case, to_state, ctx.category, work_calendar(session), now)
    case.version += 1
    case.updated_at = now
    if photos:
        ctx.data["photos"] = [p.id for p in photos]
    if idempotency_key:
        ctx.data["idempotency_key"] = idempotency_key
    event = append_event(
        session,
        case,
        action=row.action.value,
        actor_id=user.id,
        role=user.role,
        from_state=from_state,
        to_state=to_state,
        comment=payload.get("comment"),
        data=ctx.data,
        at=now,
    )
    for photo in photos:
        photo.case_id, photo.event_id = case.id, event.id
    session.flush()
    return Acted(case, event)


def _already_taken(session: Session, case_id: int, actor_id: int, action: str, key: str) -> bool:
    datas = session.scalars(
        select(CaseEvent.data).where(
            CaseEvent.case_id == case_id, CaseEvent.actor_id == actor_id, CaseEvent.action == action
        )
    )
    return any((data or {}).get("idempotency_key") == key for data in datas)


def _no_effect(ctx: ActionContext) -> None:
    return None


def _reason(ctx: ActionContext) -> None:
    ctx.data["reason"] = ctx.payload.get("reason")


def _merge(ctx: ActionContext) -> None:
    target_id = int(ctx.payload["duplicate_of"])
    if target_id == ctx.case.id:
        raise ValidationFailed("A case can't duplicate itself.", errors={"duplicate_of": "self"})
    target = ctx.session.get(Case, target_id)
    if target is None or not case_visible(ctx.user, target) or target.state == "void":
        raise ValidationFailed(
            "Unknown case to merge into.",
            errors={"duplicate_of": f"No open case {target_id} in your scope."},
        )
    ctx.case.duplicate_of_id = target_id
    ctx.data["duplicate_of"] = target_id


def _request_check(ctx: ActionContext) -> None:
    worker_id = ctx.payload.get("grid_worker")
    workers = _grid_workers(ctx.session, ctx.case.grid_code)
    if worker_id is None:
        if not workers:
            raise ValidationFailed(
                "Nobody is assigned to this grid.",
                errors={"grid_worker": "Name the grid worker who should check."},
            )
        worker_id = workers[0]
    _require_grid_worker(ctx.session, int(worker_id), "grid_worker")
    ctx.case.checker_id = int(worker_id)
    ctx.data["grid_worker"] = int(worker_id)
    notify(
        ctx.session,
        [int(worker_id)],
        kind="check_assigned",
        case=ctx.case,
        message=f"Please check case {ctx.case.number} on site.",
    )


def _check_reply(ctx: ActionContext) -> None:
    ctx.data["confirmed"] = bool(ctx.payload["confirmed"])


def _file(ctx: ActionContext) -> None:
    category = ctx.payload.get("category")
    if category and category != ctx.case.category_code:
        cat = ctx.session.scalar(select(Category).where(Category.code == category))
        if cat is None:
            raise ValidationFailed("Unknown category.", errors={"category": category})
        ctx.case.category_code = cat.code
        ctx.case.urgency = cat.urgency
        ctx.category = cat
        ctx.data["category"] = cat.code
    urgency = ctx.payload.get("urgency")
    if urgency:
        if urgency not in ("normal", "urgent"):
            raise ValidationFailed("Unknown urgency.", errors={"urgency": "normal or urgent"})
        ctx.case.urgency = urgency
        ctx.data["urgency"] = urgency


def responsible_department(
    session: Session, category: str, area_codes: Sequence[str | None]
) -> ResponsibilityRule | None:
    """Find the most specific rule: the longest area code, a named category before any."""
    codes = [c for c in area_codes if c]
    rules = session.scalars(
        select(ResponsibilityRule).where(
            ResponsibilityRule.area_code.in_(codes),
            or_(
                ResponsibilityRule.category_code == category,
                ResponsibilityRule.category_code.is_(None),
            ),
        )
    ).all()
    return max(rules, key=lambda r: (len(r.area_code), r.category_code is not None), default=None)


def _dispatch(ctx: ActionContext) -> None:
    department = ctx.payload.get("department")
    case = ctx.case
    if department:
        if ctx.session.scalar(select(Department.id).where(Department.code == department)) is None:
            raise ValidationFailed(
                "Unknown department.", errors={"department": f"No department {department!r}."}
            )
        ctx.data["rule"] = None
    else:
        rule = responsible_department(
            ctx.session,
            case.category_code,
            [case.grid_code, case.community_code, case.street_code, case.district_code],
        )
        if rule is None:
            raise ValidationFailed(
                "No responsibility rule covers this case.",
                errors={"department": "Name the department: no rule covers this category here."},
            )
        department = rule.department_code
        ctx.data["rule"] = {
            "id": rule.id,
            "category": rule.category_code,
            "area": rule.area_code,
            "note": rule.note,
        }
    case.department_code = department
    case.handler_id = None
    ctx.data["department"] = department
    notify(
        ctx.session,
        department_members(ctx.session, department),
        kind="dispatched",
        case=case,
        message=f"Case {case.number} was dispatched to your department.",
    )


def _request_extension(ctx: ActionContext) -> None:
    until = _moment(ctx.payload["until"], "until")
    if until <= ctx.now:
        raise ValidationFailed("The new deadline is in the past.", errors={"until": "future"})
    ctx.data.update(until=until.isoformat(), reason=ctx.payload.get("reason"))
    ctx.data["keep_deadline"] = True


def _approve_extension(ctx: ActionContext) -> None:
    requested = _last_event_data(ctx.session, ctx.case.id, "request_extension")
    raw = ctx.payload.get("until") or requested.get("until")
    until = _moment(raw, "until")
    ctx.data["until"] = until.isoformat()
    ctx.data["previous_deadline"] = ctx.case.deadline.isoformat() if ctx.case.deadline else None
    # Back in handling with the moved deadline: the step's start stays, the deadline moves.
    ctx.case.deadline = until
    ctx.case.sla_flag = "ok"
    ctx.data["keep_deadline"] = True


def _keep_clock(ctx: ActionContext) -> None:
    # Requests and denials go back and forth inside the handling step: its clock runs on.
    ctx.data["keep_deadline"] = True
    if ctx.payload.get("reason"):
        ctx.data["reason"] = ctx.payload["reason"]


def _approve_return(ctx: ActionContext) -> None:
    ctx.data["department"] = ctx.case.department_code
    ctx.case.department_code = None
    ctx.case.handler_id = None


def _resume(ctx: ActionContext) -> None:
    case = ctx.case
    if case.paused_at is not None and case.deadline is not None:
        # The pause (挂账) stops the clock: the deadline moves by the time spent paused.
        case.deadline = case.deadline + (ctx.now - case.paused_at)
        ctx.data["paused_seconds"] = int((ctx.now - case.paused_at).total_seconds())
    case.paused_at = None
    ctx.data["keep_deadline"] = True


def _feedback(ctx: ActionContext) -> None:
    ctx.case.handler_id = ctx.user.id


def _assign_verification(ctx: ActionContext) -> None:
    worker_id = int(ctx.payload["grid_worker"])
    _require_grid_worker(ctx.session, worker_id, "grid_worker")
    ctx.case.verifier_id = worker_id
    ctx.case.verification_passed = None
    ctx.data["grid_worker"] = worker_id
    notify(
        ctx.session,
        [worker_id],
        kind="verification_assigned",
        case=ctx.case,
        message=f"Please verify case {ctx.case.number} on site.",
    )


def _verify_reply(ctx: ActionContext) -> None:
    ctx.case.verification_passed = bool(ctx.payload["passed"])
    ctx.data["passed"] = ctx.case.verification_passed


def _close(ctx: ActionContext) -> None:
    ctx.case.closed_at = ctx.now
    if ctx.case.reporter_id is not None:
        notify(
            ctx.session,
            [ctx.case.reporter_id],
            kind="closed",
            case=ctx.case,
            message=f"Case {ctx.case.number} you reported is closed.",
        )


def _self_handle(ctx: ActionContext) -> None:
    ctx.case.closed_at = ctx.now


def _rework(ctx: ActionContext) -> None:
    ctx.case.rework_count += 1
    ctx.case.verification_passed = None
    ctx.data["rework_count"] = ctx.case.rework_count
    notify(
        ctx.session,
        department_members(ctx.session, ctx.case.department_code),
        kind="rework",
        case=ctx.case,
        message=f"Case {ctx.case.number} failed verification: rework needed.",
    )


def _evaluate(ctx: ActionContext) -> None:
    ctx.case.score = int(ctx.payload["score"])
    ctx.data["score"] = ctx.case.score


def _supervise(ctx: ActionContext) -> None:
    ctx.case.supervise_count += 1
    ctx.data["supervise_count"] = ctx.case.supervise_count
    targets = department_members(ctx.session, ctx.case.department_code) or command_center(
        ctx.session, ctx.case.district_code, ("acceptor", "dispatcher")
    )
    notify(
        ctx.session,
        targets,
        kind="supervise",
        case=ctx.case,
        message=f"Case {ctx.case.number} is being supervised (督办).",
    )


EFFECTS: dict[str, Effect] = {
    "reject": _reason,
    "void": _reason,
    "merge": _merge,
    "request_check": _request_check,
    "check_reply": _check_reply,
    "file": _file,
    "dispatch": _dispatch,
    "request_return": _keep_clock,
    "deny_return": _keep_clock,
    "approve_return": _approve_return,
    "request_extension": _request_extension,
    "approve_extension": _approve_extension,
    "deny_extension": _keep_clock,
    "request_suspension": _keep_clock,
    "deny_suspension": _keep_clock,
    "approve_suspension": _no_effect,
    "resume": _resume,
    "feedback": _feedback,
    "assign_verification": _assign_verification,
    "verify_reply": _verify_reply,
    "close": _close,
    "self_handle": _self_handle,
    "rework": _rework,
    "evaluate": _evaluate,
    "supervise": _supervise,
}


def _moment(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ValidationFailed("Invalid time.", errors={field: "ISO 8601 with offset"}) from exc
    if moment.tzinfo is None:
        raise ValidationFailed("Time without offset.", errors={field: "Give a UTC offset."})
    return moment.astimezone(UTC)


def _last_event_data(session: Session, case_id: int, action: str) -> dict[str, Any]:
    data = session.scalar(
        select(CaseEvent.data)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == action)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    return dict(data or {})


def _grid_workers(session: Session, grid_code: str | None) -> list[int]:
    from gridapp.accounts.models import UserGrid

    if grid_code is None:
        return []
    return list(
        session.scalars(
            select(User.id)
            .join(UserGrid, UserGrid.user_id == User.id)
            .where(UserGrid.grid_code == grid_code, User.active.is_(True))
            .order_by(User.id)
        )
    )


def _require_grid_worker(session: Session, user_id: int, field: str) -> None:
    user = session.get(User, user_id)
    if user is None or user.role != "grid_worker" or not user.active:
        raise ValidationFailed("Not a grid worker.", errors={field: f"No grid worker {user_id}."})


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    states: Sequence[str] = ()
    category: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    department: str | None = None
    source: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    text: str | None = None


def list_cases(
    session: Session, user: User, filters: CaseFilters, *, before_id: int | None, limit: int
) -> list[Case]:
    """List cases in the user's scope, newest first (keyset pagination on id)."""
    query = select(Case).where(case_scope(user)).order_by(Case.id.desc()).limit(limit)
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
    ):
        if value:
            conditions.append(column == value)
    now = datetime.now(UTC)
    if filters.overdue is True:
        conditions.append(
            and_(Case.deadline.is_not(None), Case.deadline < now, Case.paused_at.is_(None))
        )
    elif filters.overdue is False:
        conditions.append(or_(Case.deadline.is_(None), Case.deadline >= now))
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
    if before_id is not None:
        conditions.append(Case.id < before_id)
    if conditions:
        query = query.where(and_(*conditions))
    return list(session.scalars(query))


def case_history(session: Session, user: User, case_id: int) -> tuple[Case, list[CaseEvent]]:
    case = get_case(session, user, case_id)
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    return case, list(events)
