"""Cases for the command center and departments: list, read, act, history."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import case_sla
from gridapp.cases.history import latest_event, verify_chain
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.services import (
    Acted,
    CaseFilters,
    act_on_case,
    case_history,
    get_case,
    list_cases,
)
from gridapp.core.blueprint import Blueprint
from gridapp.core.errors import ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.schemas import StrictSchema, record_id

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="Cases (案卷)")

STATES = (
    "reported",
    "checking",
    "accepted",
    "filed",
    "handling",
    "return_requested",
    "extension_requested",
    "suspension_requested",
    "suspended",
    "handled",
    "verifying",
    "verified",
    "closed",
    "void",
    "evaluated",
)


class LonLatSchema(StrictSchema):
    lon = fields.Float()
    lat = fields.Float()


class OriginalLocationSchema(LonLatSchema):
    crs = fields.String()


class CaseSchema(StrictSchema):
    id = fields.Integer()
    number = fields.String(metadata={"description": "Public number: YYYYMMDD + sequence."})
    process = fields.String()
    state = fields.String()
    version = fields.Integer()
    category = fields.String()
    urgency = fields.String()
    source = fields.String()
    description = fields.String()
    address = fields.String(allow_none=True)
    location = fields.Nested(LonLatSchema)
    original_location = fields.Nested(OriginalLocationSchema)
    grid_code = fields.String(allow_none=True)
    community_code = fields.String(allow_none=True)
    street_code = fields.String(allow_none=True)
    district_code = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    reporter = fields.Integer(allow_none=True)
    handler = fields.Integer(allow_none=True)
    verifier = fields.Integer(allow_none=True)
    checker = fields.Integer(allow_none=True)
    component = fields.Integer(allow_none=True)
    duplicate_of = fields.Integer(allow_none=True)
    deadline = fields.DateTime(allow_none=True)
    sla = fields.Dict()
    rework_count = fields.Integer()
    supervise_count = fields.Integer()
    verification_passed = fields.Boolean(allow_none=True)
    score = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class CasePageSchema(StrictSchema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True)


class CaseListArgs(StrictSchema):
    state = fields.List(fields.String(validate=validate.OneOf(STATES)), load_default=list)
    category = fields.String(load_default=None)
    street = fields.String(load_default=None)
    community = fields.String(load_default=None)
    grid = fields.String(load_default=None)
    department = fields.String(load_default=None)
    source = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=None)
    due_before = fields.AwareDateTime(load_default=None)
    reported_from = fields.AwareDateTime(load_default=None)
    reported_to = fields.AwareDateTime(load_default=None)
    q = fields.String(
        load_default=None, metadata={"description": "Text in description, address or number."}
    )
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ActionBodySchema(StrictSchema):
    comment = fields.String(load_default=None, validate=validate.Length(max=2000))
    photos = fields.List(record_id(), load_default=list)
    department = fields.String(load_default=None)
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))
    duplicate_of = record_id(load_default=None)
    until = fields.String(load_default=None, metadata={"description": "ISO 8601 with offset."})
    grid_worker = record_id(load_default=None)
    confirmed = fields.Boolean(load_default=None)
    passed = fields.Boolean(load_default=None)
    score = fields.Integer(load_default=None, validate=validate.Range(0, 100))
    category = fields.String(load_default=None)
    urgency = fields.String(load_default=None)


class EventSchema(StrictSchema):
    seq = fields.Integer()
    action = fields.String()
    actor = fields.Integer(allow_none=True)
    role = fields.String(allow_none=True)
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    comment = fields.String(allow_none=True)
    data = fields.Dict()
    attachments = fields.List(fields.Integer())
    created_at = fields.DateTime()
    prev_hash = fields.String()
    hash = fields.String()


class ActionResultSchema(CaseSchema):
    event = fields.Nested(
        EventSchema,
        metadata={"description": "The event this action wrote (for dispatch: the rule used)."},
    )


class HistorySchema(StrictSchema):
    case = fields.Integer()
    events = fields.List(fields.Nested(EventSchema))


class ChainSchema(StrictSchema):
    case = fields.Integer()
    intact = fields.Boolean()
    events = fields.Integer()
    first_broken_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


def case_json(case: Case, now: datetime | None = None) -> dict[str, Any]:
    """Render a case as the API shows it (DESIGN §9)."""
    return {
        "id": case.id,
        "number": case.number,
        "process": case.process,
        "state": case.state,
        "version": case.version,
        "category": case.category_code,
        "urgency": case.urgency,
        "source": case.source,
        "description": case.description,
        "address": case.address,
        "location": {"lon": round(case.lon, 8), "lat": round(case.lat, 8)},
        "original_location": {
            "lon": case.original_lon,
            "lat": case.original_lat,
            "crs": case.original_crs,
        },
        "grid_code": case.grid_code,
        "community_code": case.community_code,
        "street_code": case.street_code,
        "district_code": case.district_code,
        "department": case.department_code,
        "reporter": case.reporter_id,
        "handler": case.handler_id,
        "verifier": case.verifier_id,
        "checker": case.checker_id,
        "component": case.component_id,
        "duplicate_of": case.duplicate_of_id,
        "deadline": case.deadline,
        "sla": case_sla(case, work_calendar(db.session()), now),
        "rework_count": case.rework_count,
        "supervise_count": case.supervise_count,
        "verification_passed": case.verification_passed,
        "score": case.score,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
    }


def etag(case: Case) -> dict[str, str]:
    return {"ETag": f'"{case.version}"'}


def encode_cursor(case_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{case_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("Invalid cursor.", errors={"cursor": "Use next_cursor."}) from exc


def action_result_json(acted: Acted) -> dict[str, Any]:
    """Render a case after an action, with the event the action wrote (the latest on a replay)."""
    case = acted.case
    event = acted.event or latest_event(db.session(), case.id)
    return {**case_json(case), "event": event_json(event) if event else None}


def event_json(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "action": event.action,
        "actor": event.actor_id,
        "role": event.role,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "comment": event.comment,
        "data": event.data,
        "attachments": list((event.data or {}).get("photos") or []),
        "created_at": event.created_at,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


@blp.route("/cases")
class Cases(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(CaseListArgs, location="query")
    @blp.response(200, CasePageSchema)
    @login_required()
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List cases in your scope, newest first, with filters and a cursor."""
        limit = args["limit"]
        filters = CaseFilters(
            states=args["state"],
            category=args["category"],
            street=args["street"],
            community=args["community"],
            grid=args["grid"],
            department=args["department"],
            source=args["source"],
            overdue=args["overdue"],
            due_before=args["due_before"],
            reported_from=args["reported_from"],
            reported_to=args["reported_to"],
            text=args["q"],
        )
        rows = list_cases(
            db.session(),
            current_user(),
            filters,
            before_id=decode_cursor(args["cursor"]),
            limit=limit + 1,
        )
        page = rows[:limit]
        return {
            "items": [case_json(c) for c in page],
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None,
        }


@blp.route("/cases/<int:case_id>")
class CaseDetail(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, CaseSchema)
    @login_required()
    def get(self, case_id: int) -> Any:
        """Show a case with its SLA clock; the ETag is its version."""
        case = get_case(db.session(), current_user(), case_id)
        return case_json(case), 200, etag(case)


# State-changing calls name the version they saw (DESIGN §6); the phone API uses it too.
IF_MATCH: dict[str, Any] = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": 'The ETag, e.g. "3".',
}


@blp.route("/cases/<int:case_id>/actions/<string:action>")
class CaseAction(MethodView):
    @blp.doc(
        security=BEARER,
        parameters=[IF_MATCH],
        description="Actions and states are those of the process (DESIGN §5). A missing "
        "If-Match is 428, a stale one 412, an action not allowed now or for your role 409, a "
        "case outside your scope 404.",
    )
    @blp.arguments(ActionBodySchema)
    @blp.response(200, ActionResultSchema)
    @login_required()
    def post(self, body: dict[str, Any], case_id: int, action: str) -> Any:
        """Take an action on a case (受理, 立案, 派遣, 处置, 核查, 结案 …)."""
        payload = {k: v for k, v in body.items() if v is not None and v != []}
        acted = act_on_case(
            db.session(), current_user(), case_id, action, payload, request.headers.get("If-Match")
        )
        return action_result_json(acted), 200, etag(acted.case)


@blp.route("/cases/<int:case_id>/history")
class CaseHistory(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, HistorySchema)
    @login_required()
    def get(self, case_id: int) -> dict[str, Any]:
        """List every event of a case with its actor, role, time and hash chain."""
        case, events = case_history(db.session(), current_user(), case_id)
        return {"case": case.id, "events": [event_json(e) for e in events]}


@blp.route("/cases/<int:case_id>/history/verify")
class CaseHistoryVerify(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, ChainSchema)
    @login_required()
    def get(self, case_id: int) -> dict[str, Any]:
        """Recompute the history's hash chain and say whether it is intact."""
        case = get_case(db.session(), current_user(), case_id)
        report = verify_chain(db.session(), case.id)
        return {
            "case": case.id,
            "intact": report.intact,
            "events": report.events,
            "first_broken_seq": report.first_broken_seq,
            "reason": report.reason,
        }
