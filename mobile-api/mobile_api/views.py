"""The grid worker's phone: report, tasks, own actions and one-call sync (移动端)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate

import geo
import workflow
from gridapp.cases.models import Case
from gridapp.cases.schemas import ActionBodySchema, ActionResultSchema, CaseSchema
from gridapp.cases.services import (
    act_on_case,
    cases_changed_since,
    commit_for_answer,
    find_reported,
    get_case,
    open_tasks,
    report_case,
    request_fingerprint,
    task_kind,
    with_names,
    worker_tasks,
)
from gridapp.core.errors import Conflict, ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.i18n import _, action_label
from gridapp.core.inputs import MalformedBody, load_json_text
from gridapp.core.limits import accepts_upload, rate_limit
from gridapp.core.pagination import cursor_datetime, cursor_int, decode_cursor, encode_cursor
from gridapp.core.principal import BEARER, current_user, login_required, principal_prefetch
from gridapp.core.problems import flatten_messages
from gridapp.core.rest import IF_MATCH, Blueprint
from gridapp.core.schemas import (
    CRS_NAMES,
    MAX_ID,
    CrsField,
    Float,
    Integer,
    StrictSchema,
    record_id,
)
from gridapp.media.services import store_upload
from gridapp.media.upload import reject_unknown_parts
from gridapp.notifications.schemas import NotificationSchema
from gridapp.notifications.services import list_notifications

blp = Blueprint(
    "mobile", __name__, url_prefix="/api/v1/mobile", description="The grid worker's phone"
)

GRID_WORKER = workflow.Role.grid_worker.value
# The actions a grid worker takes from the phone: whatever any process lets the role take.
WORKER_ACTIONS = frozenset(
    row.action.value
    for definition in workflow.PROCESSES.values()
    for row in definition.transitions
    if row.permits_role(workflow.Role.grid_worker)
)


# A report's bounds, read by ReportSchema and by its plain fast path (`plain_report`) alike.
MAX_LON, MAX_LAT = 180, 90
DESCRIPTION_LENGTH = (1, 4000)
MAX_ADDRESS = 255
CLIENT_ID_LENGTH = (1, 80)
MAX_PHOTOS = 9


class ReportLocationSchema(StrictSchema):
    lon = Float(required=True, validate=validate.Range(-MAX_LON, MAX_LON))
    lat = Float(required=True, validate=validate.Range(-MAX_LAT, MAX_LAT))
    crs = CrsField()


class ReportSchema(StrictSchema):
    category = fields.String(required=True, metadata={"description": "Category code."})
    description = fields.String(required=True, validate=validate.Length(*DESCRIPTION_LENGTH))
    location = fields.Nested(ReportLocationSchema, required=True)
    address = fields.String(load_default=None, validate=validate.Length(max=MAX_ADDRESS))
    photos = fields.List(record_id(), load_default=list, validate=validate.Length(max=MAX_PHOTOS))
    client_id = fields.String(
        load_default=None,
        validate=validate.Length(*CLIENT_ID_LENGTH),
        metadata={"description": "Idempotency key (or the Idempotency-Key header)."},
    )


# One instance for every request: a schema costs more to build than a report costs to load.
REPORT_SCHEMA = ReportSchema()
_REPORT_FIELDS = frozenset(REPORT_SCHEMA.fields)
_LOCATION_FIELDS = frozenset(ReportLocationSchema().fields)
_CRS = frozenset(CRS_NAMES)


def _coordinate(value: Any, bound: float) -> float | None:
    """A JSON number within ±bound as `Float` with its `Range` loads it, else None."""
    if type(value) is not float and type(value) is not int:  # not bool, not text
        return None
    number = float(value)
    return number if math.isfinite(number) and -bound <= number <= bound else None


def _text(value: Any, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high


def load_report(raw: dict[str, Any]) -> dict[str, Any]:
    """Load a report as `ReportSchema` does: the same dict for a valid one, its errors else.

    A plainly valid report (every value of the JSON type its field reads, within its bounds)
    is loaded here, a twentieth of the schema's cost; anything else goes to the schema, which
    refuses it with its own field errors (or loads what it accepts, e.g. a number as text).
    """
    loaded = plain_report(raw)
    if loaded is not None:
        return loaded
    try:
        body: dict[str, Any] = REPORT_SCHEMA.load(raw)
    except MarshmallowValidationError as exc:
        raise ValidationFailed(
            _("The request has invalid fields."), errors=flatten_messages(exc.messages)
        ) from exc
    return body


def plain_report(raw: dict[str, Any]) -> dict[str, Any] | None:
    """`ReportSchema`'s load of a report of the plain kind, key for key; None for any other."""
    if not raw.keys() <= _REPORT_FIELDS:
        return None
    category, description, location = (
        raw.get("category"),
        raw.get("description"),
        raw.get("location"),
    )
    if type(category) is not str or type(location) is not dict:
        return None
    if not _text(description, *DESCRIPTION_LENGTH):
        return None
    if not location.keys() <= _LOCATION_FIELDS:
        return None
    lon, lat = _coordinate(location.get("lon"), MAX_LON), _coordinate(location.get("lat"), MAX_LAT)
    crs = location.get("crs", geo.CRS.wgs84.value)  # the default is taken as it is
    if "crs" in location:
        crs = crs.strip().lower() if type(crs) is str else None
    if lon is None or lat is None or crs not in _CRS:
        return None
    address = raw.get("address")
    client_id = raw.get("client_id")
    photos = raw.get("photos", [])
    if (address is not None and not _text(address, 0, MAX_ADDRESS)) or (
        client_id is not None and not _text(client_id, *CLIENT_ID_LENGTH)
    ):
        return None
    if type(photos) is not list or len(photos) > MAX_PHOTOS:
        return None
    for photo in photos:
        if type(photo) is not int or not 1 <= photo <= MAX_ID:
            return None
    return {
        "category": category,
        "description": description,
        "location": {"lon": lon, "lat": lat, "crs": crs},
        "address": address,
        "photos": list(photos),
        "client_id": client_id,
    }


class TaskSchema(StrictSchema):
    kind = fields.String(metadata={"description": "check, verify or evaluate."})
    case = fields.Nested(CaseSchema)


class TaskPageSchema(StrictSchema):
    items = fields.List(fields.Nested(TaskSchema))
    next_cursor = fields.String(allow_none=True)


class TaskArgs(StrictSchema):
    cursor = fields.String(load_default=None)
    limit = Integer(load_default=50, validate=validate.Range(1, 200))


class SyncArgs(StrictSchema):
    since = fields.String(load_default=None, metadata={"description": "From the last `cursor`."})


class SyncSchema(StrictSchema):
    cursor = fields.String()
    # Nested many: the cases are dumped at once (their history facts read in one query).
    cases = fields.Nested(CaseSchema, many=True)
    tasks = fields.List(fields.Nested(TaskSchema))
    notifications = fields.List(fields.Nested(NotificationSchema))


def etag(case: Case) -> dict[str, str]:
    return {"ETag": f'"{case.version}"'}


def _task(case: Case) -> dict[str, Any]:
    return {"kind": task_kind(case), "case": case}


REPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": ReportSchema},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "data": {"type": "string", "description": "The report as JSON (as above)."},
                    "photos": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": f"Up to {MAX_PHOTOS} photos, uploaded with the report.",
                    },
                },
            }
        },
    },
}


def _report_body() -> tuple[dict[str, Any], list[Any]]:
    """Read a report as JSON, or as multipart: a ``data`` JSON field plus ``photos`` files."""
    files: list[Any] = []
    if request.mimetype == "multipart/form-data":
        reject_unknown_parts(form=("data",), files=("photos",))
        try:
            raw = load_json_text(request.form.get("data") or "")
        except MalformedBody as exc:
            raise ValidationFailed(
                _("The report is missing."),
                errors={"data": _("A JSON report in the `data` field.")},
            ) from exc
        files = [f for f in request.files.getlist("photos") if f.filename]
    else:
        raw = load_json_text(request.get_data(cache=True)) if request.is_json else None
    if not isinstance(raw, dict):
        raise ValidationFailed(_("The request body must be a JSON object."))
    body = load_report(raw)
    if len(body["photos"]) + len(files) > MAX_PHOTOS:
        raise ValidationFailed(
            _("Too many photos."),
            errors={"photos": _("At most %(count)s photos.", count=MAX_PHOTOS)},
        )
    return body, files


@blp.route("/reports")
class Reports(MethodView):
    @accepts_upload(MAX_PHOTOS)
    @blp.doc(
        security=BEARER,
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
        requestBody=REPORT_BODY,
        description="JSON with photos uploaded first (POST /api/v1/mobile/media), or multipart "
        "with the photos in the same request. A retry with the same Idempotency-Key (or "
        "client_id) answers the same case with the same status; the same key with another body "
        "is a 422.",
    )
    @rate_limit("report", piggyback=principal_prefetch)
    @blp.response(201, CaseSchema)
    @login_required(GRID_WORKER)
    def post(self) -> Any:
        """Report a case from the field (上报) with location, category and photos."""
        body, files = _report_body()
        header_key = request.headers.get("Idempotency-Key")
        if body.get("client_id") and header_key and body["client_id"] != header_key:
            raise ValidationFailed(
                _("Two different idempotency keys."),
                errors={"client_id": _("Differs from the Idempotency-Key header.")},
            )
        key = header_key or body.get("client_id")
        session = db.session()
        config = current_app.config["GRIDAPP"]
        user = current_user()
        fingerprint_body = {k: v for k, v in body.items() if k != "client_id"}
        fingerprint_body["files"] = [_sha256(f.stream) for f in files]
        fingerprint = request_fingerprint(fingerprint_body)
        photos = list(body["photos"])
        if files and not (key and find_reported(session, user.id, key)):
            photos += [
                store_upload(session, config, user, f.stream, f.filename, f.mimetype).id
                for f in files
            ]
        reported = report_case(
            session,
            config,
            user,
            category=body["category"],
            description=body["description"],
            lon=body["location"]["lon"],
            lat=body["location"]["lat"],
            crs=body["location"]["crs"],
            address=body.get("address"),
            photos=photos,
            client_id=key,
            fingerprint=fingerprint,
        )
        # The case's JSON is written after the commit: other phones' reports wait for none of it.
        commit_for_answer(session, [reported.case])
        return reported.case, 201, etag(reported.case)


def _sha256(stream: Any) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


@blp.route("/tasks")
class Tasks(MethodView):
    @blp.doc(
        security=BEARER,
        description="Newest first: checks (核实) and verifications (核查) sent to you, and your "
        "reports closed and waiting for your rating. Page with `next_cursor`.",
    )
    @blp.arguments(TaskArgs, location="query")
    @blp.response(200, TaskPageSchema)
    @login_required(GRID_WORKER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List what waits for you: checks, verifications, your closed reports to rate."""
        cases, next_cursor = worker_tasks(
            db.session(), current_user(), cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": [_task(c) for c in cases], "next_cursor": next_cursor}


@blp.route("/cases/<int:case_id>")
class MobileCase(MethodView):
    @blp.doc(
        security=BEARER,
        description="A case in your grids, or one you reported or must check or verify; "
        "`actions` says what you may do on it now. Anything else is 404.",
    )
    @blp.response(200, CaseSchema)
    @login_required(GRID_WORKER)
    def get(self, case_id: int) -> Any:
        """Show a case in your scope."""
        case = get_case(db.session(), current_user(), case_id)
        return case, 200, etag(case)


@blp.route("/cases/<int:case_id>/actions/<string:action>")
class MobileCaseAction(MethodView):
    @blp.doc(
        security=BEARER,
        parameters=[
            IF_MATCH,
            {"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}},
        ],
        description="The grid worker's actions in any process (check_reply, verify_reply, "
        "self_handle, evaluate; for social-governance events also escalate, close and rework; "
        "the case's `actions` says which apply now). A retry with the Idempotency-Key of an "
        "action already taken answers the case as it is "
        "(no second event, no 412).",
    )
    @blp.arguments(ActionBodySchema)
    @blp.response(200, ActionResultSchema)
    @login_required(GRID_WORKER)
    def post(self, body: dict[str, Any], case_id: int, action: str) -> Any:
        """Reply to a check or verification, or close a small issue fixed on the spot."""
        session = db.session()
        user = current_user()
        if action not in WORKER_ACTIONS:
            get_case(session, user, case_id)  # out of scope stays 404
            raise Conflict(
                _("A grid worker can't %(action)s from the phone.", action=action_label(action))
            )
        payload = {k: v for k, v in body.items() if v is not None and v != []}
        acted = act_on_case(
            session,
            user,
            case_id,
            action,
            payload,
            request.headers.get("If-Match"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return acted, 200, etag(acted.case)


@blp.route("/sync")
class Sync(MethodView):
    @blp.doc(
        security=BEARER,
        description="One call after being offline: the cases in your scope changed since "
        "`since` (the `cursor` of the last answer; omit it the first time), your open tasks and "
        "new "
        "notifications. What changed in the seconds before the last answer comes again (a change "
        "still being saved then is not missed): keep a case's higher version, and each "
        "notification once by id.",
    )
    @blp.arguments(SyncArgs, location="query")
    @blp.response(200, SyncSchema)
    @login_required(GRID_WORKER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Catch up after being offline: changed cases, open tasks, new notifications."""
        session = db.session()
        user = current_user()
        since, after_note = None, 0
        sent = decode_cursor(args["since"], 2, field="since")
        if sent is not None:
            since, after_note = cursor_datetime(sent[0], "since"), cursor_int(sent[1], "since")
        cases, watermark = cases_changed_since(session, user, since)
        with_names(session, cases)
        # From the last answer's watermark on too: a notification committed after that answer
        # may have a lower id than the last one it sent.
        notes = list_notifications(session, user, after=after_note, created_from=since, limit=500)
        return {
            "cursor": encode_cursor(watermark, notes[-1].id if notes else after_note),
            "cases": cases,
            "tasks": [_task(c) for c in open_tasks(session, user)],
            "notifications": notes,
        }


BLUEPRINTS = [blp]
