"""Patrol tracks from the phone (巡查轨迹上传): batches of GPS fixes, stored once."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.extensions import db
from gridapp.core.i18n import N_
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import CrsField, StrictSchema, UtcDateTime
from gridapp.patrol.services import MAX_BATCH_POINTS, fixes_from, store_batch

blp = Blueprint(
    "mobile_patrol", __name__, url_prefix="/api/v1/mobile/patrol", description="Mobile: patrol"
)

GRID_WORKER = workflow.Role.grid_worker.value


class FixSchema(StrictSchema):
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    crs = CrsField()
    t = UtcDateTime(
        required=True, metadata={"description": "When the fix was taken, ISO 8601 with offset."}
    )


class BatchSchema(StrictSchema):
    batch_id = fields.String(
        required=True,
        # A UUID or a counter: nothing a database or a log line could choke on.
        validate=validate.Regexp(
            r"^[A-Za-z0-9._:-]{1,80}$",
            error=N_("1 to 80 letters, digits, dots, colons, dashes or underscores."),
        ),
        metadata={
            "description": "The phone's id for this batch (1 to 80 of `A-Za-z0-9._:-`): a "
            "retry sends the same."
        },
    )
    # The count is checked by the service, with a sentence that says what to do instead.
    points = fields.List(fields.Nested(FixSchema), required=True)


class BatchResultSchema(StrictSchema):
    batch_id = fields.String()
    stored = fields.Integer(metadata={"description": "Points stored from this batch."})
    outside = fields.Integer(
        metadata={"description": "Of those, outside every unit grid (kept, with no grid)."}
    )
    first_at = fields.String(metadata={"description": "The earliest fix's time (UTC)."})
    last_at = fields.String(metadata={"description": "The latest fix's time (UTC)."})


@blp.route("")
class PatrolBatches(MethodView):
    @blp.doc(
        security=BEARER,
        description=f"Up to {MAX_BATCH_POINTS} fixes per batch, in any `crs` (stored in WGS84 "
        "with the original kept and the unit grid each falls in). A batch sent again with the "
        "same `batch_id` is stored once and answered the same; the same `batch_id` with other "
        "points is a 422. Send fixes as they come, a batch every minute or so, and resend "
        "what got no answer.",
    )
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchResultSchema)
    @login_required(GRID_WORKER)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Upload a batch of patrol track points (巡查轨迹)."""
        return store_batch(
            db.session(),
            current_user(),
            body["batch_id"],
            fixes_from(body["points"]),
            check_seconds=current_app.config["GRIDAPP"].grid_index_check_seconds,
        )
