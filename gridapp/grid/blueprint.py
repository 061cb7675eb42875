"""Point location on the grid map (落格)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, post_dump

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

    @post_dump
    def _public(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        # Grid workers' names are posted publicly (网格员公示); their accounts are not.
        if optional_user() is None:
            return {"display_name": data["display_name"]}
        return data


class LocateResultSchema(StrictSchema):
    """Where a point falls (a `gridapp.grid.services.Location`)."""

    grid = fields.Nested(AreaRefSchema, attribute="located.grid")
    community = fields.Nested(AreaRefSchema, attribute="located.community", allow_none=True)
    street = fields.Nested(AreaRefSchema, attribute="located.street", allow_none=True)
    district = fields.Nested(AreaRefSchema, attribute="located.district", allow_none=True)
    setting = fields.String(
        attribute="located.setting",
        metadata={"description": "`urban` or `rural`: the grid's; some step limits differ."},
    )
    grid_workers = fields.List(fields.Nested(GridWorkerSchema))
    location = fields.Nested(PointSchema, attribute="point")
    original_location = fields.Dict(attribute="original_point")


@blp.route("/locate")
class Locate(MethodView):
    @blp.doc(security=[*BEARER, {}])
    @blp.arguments(PointWithCrsSchema, location="query")
    @blp.response(200, LocateResultSchema)
    def get(self, args: dict[str, Any]) -> Location:
        """Find the unit grid, community, street, district and grid workers of a point.

        Open to everyone, as the grid map and the grid workers' names are public (网格员公示);
        a signed-in caller also gets the workers' ids and usernames. A token that is sent must
        be valid.
        """
        optional_user()  # a token that is sent must be valid
        config = current_app.config["GRIDAPP"]
        loc = locate_point(
            db.session(),
            args["lon"],
            args["lat"],
            args["crs"],
            check_seconds=config.grid_index_check_seconds,
        )
        return loc
