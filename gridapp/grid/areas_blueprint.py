"""Areas of the grid map: districts, streets, communities and unit grids."""

from __future__ import annotations

from typing import Any

import shapely
from flask import Response, jsonify
from flask.views import MethodView
from marshmallow import fields, validate

from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import Integer, RoundedFloat, StrictSchema
from gridapp.grid.models import AREA_LEVELS, Area
from gridapp.grid.services import DEFAULT_LAYER, get_area, list_areas

blp = Blueprint("areas", __name__, url_prefix="/api/v1/areas", description="The grid map")


class AreaListArgs(StrictSchema):
    level = fields.String(load_default=None, validate=validate.OneOf(AREA_LEVELS))
    parent = fields.String(load_default=None)
    layer = fields.String(load_default=DEFAULT_LAYER)
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = Integer(load_default=100, validate=validate.Range(1, 1000))


class AreaArgs(StrictSchema):
    layer = fields.String(load_default=DEFAULT_LAYER)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "geojson")))


class AreaSchema(StrictSchema):
    code = fields.String()
    name = fields.String()
    level = fields.String(validate=validate.OneOf(AREA_LEVELS))
    parent = fields.String(attribute="parent_code", allow_none=True)
    layer = fields.String()
    area_km2 = RoundedFloat(places=6)
    generated = fields.Boolean(metadata={"description": "Polygon generated, not surveyed."})
    bbox = fields.List(
        RoundedFloat(places=7),
        attribute="geometry.bounds",
        metadata={"description": "[west, south, east, north], WGS84."},
    )


class AreaPageSchema(StrictSchema):
    items = fields.List(fields.Nested(AreaSchema))
    next_cursor = fields.String(allow_none=True)


@blp.route("")
class Areas(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user. Filter by `level` and `parent` (the code one level "
        "up), in code order; a page holds `limit` areas and `next_cursor` (null on the last "
        "page) is sent as `cursor` for the next. Polygons are not listed: GET one area with "
        "`?format=geojson`.",
    )
    @blp.arguments(AreaListArgs, location="query")
    @blp.response(200, AreaPageSchema)
    @login_required()
    @db.reads_replica
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List areas by level and parent, in code order."""
        items, next_cursor = list_areas(
            db.session(),
            level=args["level"],
            parent=args["parent"],
            layer=args["layer"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}


GEOJSON = "application/geo+json"
FEATURE_SCHEMA = {
    "type": "object",
    "required": ["type", "id", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": "string", "description": "The area code."},
        "geometry": {"type": "object", "description": "Polygon or MultiPolygon, WGS84 lon/lat."},
        "properties": {"type": "object", "description": "The area's fields, without bbox."},
    },
}


@blp.route("/<string:code>")
class AreaDetail(MethodView):
    @blp.doc(
        security=BEARER,
        description="Any signed-in user. `?format=geojson` answers a GeoJSON Feature (RFC "
        "7946, `application/geo+json`) with the polygon. An unknown code (in this `layer`) is "
        "a 404.",
        # Both bodies of the one 200: this replaces what @blp.response documents.
        responses={
            "200": {
                "description": "The area, or its GeoJSON Feature.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Area"}},
                    GEOJSON: {"schema": FEATURE_SCHEMA},
                },
            }
        },
    )
    @blp.arguments(AreaArgs, location="query")
    @blp.response(200, AreaSchema)
    @login_required()
    @db.reads_replica
    def get(self, args: dict[str, Any], code: str) -> Area | Response:
        """Show one area; as a GeoJSON Feature with ``?format=geojson``."""
        area = get_area(db.session(), code, args["layer"])
        if args["format"] == "geojson":
            # A Response passes @blp.response untouched; AreaSchema would dump the Feature as {}.
            feature = jsonify(
                {
                    "type": "Feature",
                    "id": area.code,
                    "geometry": shapely.geometry.mapping(area.geometry),
                    "properties": AreaSchema(exclude=("bbox",)).dump(area),
                }
            )
            feature.mimetype = GEOJSON
            return feature
        return area
