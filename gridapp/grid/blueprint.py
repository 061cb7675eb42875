"""Point location on the grid map (落格)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields

from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, optional_user
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import AreaRefSchema, PointSchema, PointWithCrsSchema, StrictSchema
from gridapp.grid.services import Location, locate_point

blp = Blueprint("grid", __name__, url_prefix="/api/v1/grid", description="Grid map location")


class GridWorkerSchema(StrictSchema):
    id = fields.Integer(metadata={"description": "Only for signed-in callers."})
    username = fields.String(metadata={"description": "Only for signed-in callers."})
    display_name = fields.String()


class LocateResultSchema(StrictSchema):
    grid = fields.Nested(AreaRefSchema)
    community = fields.Nested(AreaRefSchema, allow_none=True)
    street = fields.Nested(AreaRefSchema, allow_none=True)
    district = fields.Nested(AreaRefSchema, allow_none=True)
    grid_workers = fields.List(fields.Nested(GridWorkerSchema))
    location = fields.Nested(PointSchema)
    original_location = fields.Dict()


def _ref(area: Any) -> dict[str, str] | None:
    return None if area is None else {"code": area.code, "name": area.name}


def location_json(loc: Location, signed_in: bool = True) -> dict[str, Any]:
    # Grid workers' names are posted publicly (网格员公示); their accounts are not.
    workers = [
        {"id": u.id, "username": u.username, "display_name": u.display_name}
        if signed_in
        else {"display_name": u.display_name}
        for u in loc.grid_workers
    ]
    return {
        "grid": _ref(loc.located.grid),
        "community": _ref(loc.located.community),
        "street": _ref(loc.located.street),
        "district": _ref(loc.located.district),
        "grid_workers": workers,
        "location": {"lon": round(loc.lon, 8), "lat": round(loc.lat, 8)},
        "original_location": {"lon": loc.original_lon, "lat": loc.original_lat, "crs": loc.crs},
    }


@blp.route("/locate")
class Locate(MethodView):
    @blp.doc(security=[*BEARER, {}])
    @blp.arguments(PointWithCrsSchema, location="query")
    @blp.response(200, LocateResultSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Find the unit grid, community, street, district and grid workers of a point.

        Open to everyone, as the grid map and the grid workers' names are public (网格员公示);
        a signed-in caller also gets the workers' ids and usernames. A token that is sent must
        be valid.
        """
        user = optional_user()
        config = current_app.config["GRIDAPP"]
        loc = locate_point(
            db.session(),
            args["lon"],
            args["lat"],
            args["crs"],
            check_seconds=config.grid_index_check_seconds,
        )
        return location_json(loc, signed_in=user is not None)
