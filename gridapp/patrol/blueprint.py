"""Patrol tracks and coverage on the desk (巡查轨迹, 巡查覆盖)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema, record_id
from gridapp.patrol.services import (
    MAX_GAP,
    TRACK_READERS,
    coverage_page,
    read_track,
    track_geojson,
)

blp = Blueprint("patrols", __name__, url_prefix="/api/v1/patrols", description="Patrols")

R = workflow.Role
READERS = (R.grid_worker.value, *(r.value for r in TRACK_READERS))
GEOJSON = "application/geo+json"


def today() -> date:
    return workflow.local_day(datetime.now(UTC))


class TrackArgs(StrictSchema):
    worker = record_id(
        load_default=None, metadata={"description": "The grid worker's user id (default: you)."}
    )
    date = fields.Date(
        load_default=today, metadata={"description": "An Asia/Shanghai day (default: today)."}
    )


class CoverageArgs(TrackArgs):
    worker = record_id(
        load_default=None,
        metadata={"description": "One grid worker's user id (default: all you may see)."},
    )
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class WorkerRefSchema(StrictSchema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String(attribute="display_name")


class CoverageSchema(StrictSchema):
    worker = fields.Nested(WorkerRefSchema)
    grids_assigned = fields.Integer(metadata={"description": "The worker's unit grids."})
    grids_visited = fields.Integer(metadata={"description": "Of those, with a fix that day."})
    share = fields.Float(
        allow_none=True, metadata={"description": "visited / assigned; null with no grids."}
    )
    points = fields.Integer(metadata={"description": "Fixes that day."})
    seconds = fields.Integer(
        metadata={
            "description": "Time on patrol: the sum of the gaps between consecutive fixes no "
            f"more than {int(MAX_GAP.total_seconds())} s apart."
        }
    )
    distance_m = fields.Float(metadata={"description": "Great-circle length of those steps."})
    first_at = fields.DateTime(allow_none=True)
    last_at = fields.DateTime(allow_none=True)


class CoveragePageSchema(StrictSchema):
    date = fields.Date()
    items = fields.List(fields.Nested(CoverageSchema))
    next_cursor = fields.String(allow_none=True)


TRACK_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "worker": {"type": "object", "description": "`id` and `username`."},
        "date": {"type": "string", "format": "date"},
        "features": {
            "type": "array",
            "description": "A `LineString` per stretch of patrol (`kind: stretch`), then one "
            "`MultiPoint` with every fix (`kind: fixes`, with `grid_codes`); each has `times`, "
            "one per position (ISO 8601, UTC).",
            "items": {"type": "object"},
        },
    },
}


@blp.route("")
class Tracks(MethodView):
    @blp.doc(
        security=BEARER,
        description="A GeoJSON FeatureCollection (RFC 7946, `application/geo+json`) of one "
        "worker's fixes on one day. A stretch ends where two fixes are more than "
        f"{int(MAX_GAP.total_seconds())} s apart. Tracks are personal information: a grid "
        "worker reads their own, supervisors and admins those of their district's grid "
        "workers; anyone else's is a 404, other roles a 403. Every read is audited.",
        responses={
            "200": {
                "description": "The track.",
                "content": {GEOJSON: {"schema": TRACK_SCHEMA}},
            }
        },
    )
    @blp.arguments(TrackArgs, location="query")
    @blp.response(200)
    @login_required(*READERS)
    def get(self, args: dict[str, Any]) -> Response:
        """Show a grid worker's patrol track of one day (巡查轨迹)."""
        user = current_user()
        track = read_track(db.session(), user, args["worker"] or user.id, args["date"])
        answer = jsonify(track_geojson(track))
        answer.mimetype = GEOJSON
        return answer


@blp.route("/coverage")
class Coverages(MethodView):
    @blp.doc(
        security=BEARER,
        description="Per grid worker, for one Asia/Shanghai day: the share of their assigned "
        "grids with at least one fix, the time on patrol and the distance walked. A grid worker "
        "sees their own; supervisors and admins their district's grid workers, by user id, a "
        "page of `limit` at a time (`next_cursor`). Every read is audited.",
    )
    @blp.arguments(CoverageArgs, location="query")
    @blp.response(200, CoveragePageSchema)
    @login_required(*READERS)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Show how well grid workers covered their grids on one day (巡查覆盖)."""
        pairs, next_cursor = coverage_page(
            db.session(),
            current_user(),
            args["date"],
            worker_id=args["worker"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        items = [{"worker": worker, **_coverage_fields(row)} for worker, row in pairs]
        return {"date": args["date"], "items": items, "next_cursor": next_cursor}


def _coverage_fields(row: Any) -> dict[str, Any]:
    return {
        "grids_assigned": row.grids_assigned,
        "grids_visited": row.grids_visited,
        "share": row.share,
        "points": row.points,
        "seconds": row.seconds,
        "distance_m": row.distance_m,
        "first_at": row.first_at,
        "last_at": row.last_at,
    }
