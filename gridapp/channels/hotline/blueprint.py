"""The hotline desk at /api/v1/hotline: take a call, see the call-backs due."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from gridapp.cases.schemas import CallerSchema, CasePageSchema, CaseSchema
from gridapp.channels.hotline.services import OPERATOR_ROLES, CallRecord, call_backs_due, take_call
from gridapp.core.extensions import db
from gridapp.core.limits import rate_limit
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import Integer, PointWithCrsSchema, StrictSchema

blp = Blueprint("hotline", __name__, url_prefix="/api/v1/hotline", description="12345 hotline")


class CallSchema(StrictSchema):
    """A call as the operator records it (来电记录)."""

    caller = fields.Nested(CallerSchema, load_default=None)
    summary = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4000),
        metadata={"description": "What the caller asked for or reported."},
    )
    category = fields.String(
        required=True, metadata={"description": "Category code; it decides the process."}
    )
    address = fields.String(load_default=None, validate=validate.Length(max=255))
    location = fields.Nested(PointWithCrsSchema, load_default=None)
    answer = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "The answer given on the call: the case closes at once."},
    )


class CallBackArgs(StrictSchema):
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = Integer(load_default=50, validate=validate.Range(1, 200))


@blp.route("/calls")
class Calls(MethodView):
    @blp.doc(
        security=BEARER,
        description="For hotline operators (acceptors may stand in): the call becomes a case "
        "with `source=hotline` through the desk intake; the category decides the process. "
        "With `answer` (a question answered on the call) the case is closed at once. "
        "The caller's details are shown to command-center roles only.",
    )
    @rate_limit("report")
    @blp.arguments(CallSchema)
    @blp.response(201, CaseSchema)
    @login_required(*OPERATOR_ROLES)
    def post(self, body: dict[str, Any]) -> Any:
        """Take a 12345 call (受理) into a case."""
        call = CallRecord(
            category=body["category"],
            summary=body["summary"],
            caller=dict(body["caller"] or {}),
            address=body["address"],
            location=body["location"],
            answer=body["answer"],
        )
        case = take_call(db.session(), current_app.config["GRIDAPP"], current_user(), call)
        return case, 201, {"ETag": f'"{case.version}"'}


@blp.route("/call-backs")
class CallBacks(MethodView):
    @blp.doc(
        security=BEARER,
        description="Hotline cases the department replied to, waiting for the call-back "
        "(`replied`) or, called back, for closing, redo or another attempt (`called_back`); "
        "soonest deadline first, in your scope.",
    )
    @blp.arguments(CallBackArgs, location="query")
    @blp.response(200, CasePageSchema)
    @login_required(*OPERATOR_ROLES)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the call-backs due (待回访)."""
        items, next_cursor = call_backs_due(
            db.session(), current_user(), cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}
