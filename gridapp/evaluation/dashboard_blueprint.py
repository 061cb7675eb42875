"""The leader's dashboard (领导驾驶舱) and hot spots (热点) on the desk."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema
from gridapp.evaluation.dashboard import (
    DASHBOARD_ROLES,
    HOTSPOT_LEVELS,
    MAX_DAYS,
    dashboard,
    hotspot_counts_json,
    hotspots_geojson,
)

blp = Blueprint("dashboard", __name__, url_prefix="/api/v1", description="Dashboard")

ROLES = tuple(sorted(r.value for r in DASHBOARD_ROLES))
GEOJSON = "application/geo+json"
HOTSPOT_FORMATS = ("geojson", "counts")
SCOPE = (
    "Supervisors count their district, the command centre its area (as for cases), admins "
    "everything; other roles get a 403."
)


def _today() -> date:
    return workflow.local_day(datetime.now(UTC))


def _month_start() -> date:
    return _today().replace(day=1)


class PeriodArgs(StrictSchema):
    start = fields.Date(
        data_key="from",
        load_default=_month_start,
        metadata={"description": "First Asia/Shanghai day (default: this month's first)."},
    )
    end = fields.Date(
        data_key="to",
        load_default=_today,
        metadata={"description": f"Last day, inclusive (default: today); at most {MAX_DAYS} days."},
    )


class HotspotArgs(PeriodArgs):
    level = fields.String(load_default="grid", validate=validate.OneOf(tuple(HOTSPOT_LEVELS)))
    format = fields.String(
        load_default="geojson",
        validate=validate.OneOf(HOTSPOT_FORMATS),
        metadata={
            "description": "`geojson` (default): a FeatureCollection with each area's polygon. "
            "`counts`: JSON `{from, to, level, total, items: [{code, cases}]}` without geometry, "
            "for a map that draws the areas from the vector tiles (`/api/v1/tiles/areas/…`, "
            "feature id `code`); at city scale the polygons are tens of megabytes."
        },
    )


class CountsSchema(StrictSchema):
    reported = fields.Integer(metadata={"description": "Cases created in the period."})
    filed = fields.Integer(metadata={"description": "Cases filed in the period."})
    closed = fields.Integer(metadata={"description": "Cases closed in the period."})
    open = fields.Integer(
        metadata={"description": "Created before the period's end, not closed or void by then."}
    )
    overdue = fields.Integer(
        metadata={"description": "Of the open ones, still open now and past the step deadline."}
    )
    closure_rate = fields.Float(
        allow_none=True,
        metadata={"description": "Of the cases filed in the period, the share closed by its end."},
    )
    on_time_rate = fields.Float(
        allow_none=True,
        metadata={
            "description": "Of the cases closed in the period, the share never found overdue."
        },
    )


class GroupSchema(CountsSchema):
    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class TrendSchema(StrictSchema):
    date = fields.Date()
    reported = fields.Integer()
    closed = fields.Integer()


class DashboardSchema(StrictSchema):
    start = fields.Date(data_key="from", attribute="from")
    end = fields.Date(data_key="to", attribute="to")
    totals = fields.Nested(CountsSchema)
    by_street = fields.List(fields.Nested(GroupSchema))
    by_category = fields.List(fields.Nested(GroupSchema))
    by_source = fields.List(fields.Nested(GroupSchema))
    trend = fields.List(fields.Nested(TrendSchema))


HOTSPOT_COUNTS_SCHEMA = {
    "type": "object",
    "required": ["from", "to", "level", "total", "items"],
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "level": {"type": "string", "enum": list(HOTSPOT_LEVELS)},
        "total": {"type": "integer", "description": "The cases counted (those with an area)."},
        "items": {
            "type": "array",
            "description": "One item per area with cases, in no set order.",
            "items": {
                "type": "object",
                "required": ["code", "cases"],
                "properties": {"code": {"type": "string"}, "cases": {"type": "integer"}},
            },
        },
    },
}
HOTSPOTS_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "level": {"type": "string", "enum": list(HOTSPOT_LEVELS)},
        "features": {
            "type": "array",
            "description": "One Feature per area with cases: `id` the area code, the polygon, "
            "`properties` `code`, `name`, `level`, `cases`; most cases first.",
            "items": {"type": "object"},
        },
    },
}


@blp.route("/dashboard")
class Dashboard(MethodView):
    @blp.doc(
        security=BEARER,
        description="The period's cases reported, filed, closed, open and overdue, the closure "
        "and on-time rates, the same by street, category and source, and a daily trend. Days "
        f"are Asia/Shanghai days, `to` inclusive. {SCOPE}",
    )
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, DashboardSchema)
    @login_required(*ROLES)
    @db.reads_replica
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Show the leader's numbers for a period (领导驾驶舱)."""
        return dashboard(db.session(), current_user(), args["start"], args["end"])


@blp.route("/hotspots")
class Hotspots(MethodView):
    @blp.doc(
        security=BEARER,
        description="A GeoJSON FeatureCollection (RFC 7946, `application/geo+json`) of the "
        "cases reported in the period per area of `level` (unit grid by default), with each "
        "area's polygon; areas without cases are left out. With `format=counts`, the "
        f"counts alone by area code (`application/json`). {SCOPE}",
        responses={
            "200": {
                "description": "Case counts per area.",
                "content": {
                    GEOJSON: {"schema": HOTSPOTS_SCHEMA},
                    "application/json": {"schema": HOTSPOT_COUNTS_SCHEMA},
                },
            }
        },
    )
    @blp.arguments(HotspotArgs, location="query")
    @blp.response(200)
    @login_required(*ROLES)
    @db.reads_replica
    def get(self, args: dict[str, Any]) -> Response:
        """Map where cases were reported in a period (热点)."""
        if args["format"] == "counts":
            counts = hotspot_counts_json(
                db.session(), current_user(), args["start"], args["end"], args["level"]
            )
            return Response(counts, mimetype="application/json")
        text = hotspots_geojson(
            db.session(), current_user(), args["start"], args["end"], args["level"]
        )
        return Response(text, mimetype=GEOJSON)
