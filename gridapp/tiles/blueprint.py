"""Vector tiles (MVT) for the console's map: the grid map by level and the open cases."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from geo.tiles import valid_tile
from gridapp.cases.services import CaseFilters, case_tile
from gridapp.core.errors import NotFound
from gridapp.core.extensions import db
from gridapp.core.i18n import _
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema, UtcDateTime
from gridapp.grid.services import DEFAULT_LAYER
from gridapp.grid.tiles import LEVELS, area_tile

blp = Blueprint("tiles", __name__, url_prefix="/api/v1/tiles", description="Map tiles")

MVT = "application/vnd.mapbox-vector-tile"
DATUMS = ("wgs84", "gcj02", "bd09")


class TileArgs(StrictSchema):
    datum = fields.String(
        load_default="wgs84",
        validate=validate.OneOf(DATUMS),
        metadata={
            "description": "The datum of the base map the tile is drawn on: gcj02 for AMap "
            "and Tencent tiles, bd09 for Baidu; the geometries are moved to it."
        },
    )
    level = fields.List(
        fields.String(validate=validate.OneOf(LEVELS)),
        load_default=list,
        metadata={"description": "Areas only: the levels wanted (default: all shown at z)."},
    )
    map_layer = fields.String(
        load_default=DEFAULT_LAYER,
        metadata={"description": "Areas only: the grid map layer (urban, social …)."},
    )
    # Cases only: the filters of GET /api/v1/cases, so the map shows what the list shows.
    state = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in workflow.State])),
        load_default=list,
    )
    process = fields.String(load_default=None, validate=validate.OneOf(list(workflow.PROCESSES)))
    category = fields.String(load_default=None)
    street = fields.String(load_default=None)
    community = fields.String(load_default=None)
    grid = fields.String(load_default=None)
    department = fields.String(load_default=None)
    source = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=None)
    sla = fields.Enum(workflow.SlaState, by_value=True, load_default=None)
    due_before = UtcDateTime(load_default=None)
    reported_from = UtcDateTime(load_default=None)
    reported_to = UtcDateTime(load_default=None)
    q = fields.String(load_default=None)


def case_filters(args: dict[str, Any]) -> CaseFilters:
    return CaseFilters(
        states=args["state"],
        process=args["process"],
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
        sla=args["sla"],
    )


def _tile_response(data: bytes) -> Response:
    response = Response(data, mimetype=MVT)
    # Cases change by the minute and are scoped to the caller: no shared caching.
    response.headers["Cache-Control"] = "private, max-age=30"
    return response


TILE = "/<any(areas, cases):layer>/<int(min=0, max=22):z>/<int(min=0):x>/<int(min=0):y>.mvt"


@blp.route(TILE)
class Tile(MethodView):
    @blp.doc(
        security=BEARER,
        description="`areas`: one tile layer per level drawn at this zoom (district always, "
        "street from z 9, community from z 11, unit grid from z 13) with `code`, `name`, "
        "`level`, `parent`. `cases`: the open cases in your scope, layer `cases`, feature id "
        "the case id, with `number`, `state`, `sla` (ok, warning, overdue), `category`, "
        "`urgency`; the filters of GET /api/v1/cases apply. An empty tile is an empty body.",
    )
    # An instance, not the class: webargs builds a schema per request from a class.
    @blp.arguments(TileArgs(), location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=MVT)
    @login_required()
    @db.reads_replica
    def get(self, args: dict[str, Any], layer: str, z: int, x: int, y: int) -> Response:
        """Return a vector tile (MVT) of the grid map's areas or of the open cases."""
        if not valid_tile(z, x, y):
            raise NotFound(_("No tile %(z)s/%(x)s/%(y)s.", z=z, x=x, y=y))
        if layer == "cases":
            data = case_tile(
                db.session(),
                current_user(),
                z,
                x,
                y,
                datum=args["datum"],
                filters=case_filters(args),
            )
        else:
            data = area_tile(
                db.session(),
                z,
                x,
                y,
                layer=args["map_layer"],
                levels=args["level"],
                datum=args["datum"],
            )
        return _tile_response(data)
