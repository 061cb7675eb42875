"""Map administration: import a grid map as a new version (with a dry run), versions, layers."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.errors import PayloadTooLarge, ValidationFailed
from gridapp.core.extensions import db
from gridapp.core.i18n import _
from gridapp.core.principal import BEARER, current_user, login_required, roles_first
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema
from gridapp.grid.services import (
    MAP_IMPORT_MAX_BYTES,
    LayerSummary,
    MapImportReport,
    import_map_file,
    list_layers,
    list_map_versions,
)

ADMIN = workflow.Role.admin
blp = Blueprint(
    "admin_maps", __name__, url_prefix="/api/v1/admin", description="Administration: grid map"
)
# Other roles are refused before their input is read (403, whatever they send).
blp.before_request(roles_first(ADMIN))


class MapVersionArgs(StrictSchema):
    layer = fields.String(load_default=None)
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class MapVersionSchema(StrictSchema):
    layer = fields.String()
    number = fields.Integer(metadata={"description": "The layer's version counter."})
    tag = fields.String(metadata={"description": "The version tag the grid indexes compare."})
    source = fields.String(metadata={"description": "`api`, `cli` or `seed`."})
    actor = fields.Integer(attribute="actor_id", allow_none=True)
    added = fields.Integer()
    changed = fields.Integer()
    removed = fields.Integer()
    unchanged = fields.Integer()
    areas = fields.Integer(metadata={"description": "Areas of the layer after the import."})
    created_at = fields.DateTime()


class MapVersionPageSchema(StrictSchema):
    items = fields.List(fields.Nested(MapVersionSchema))
    next_cursor = fields.String(allow_none=True)


class LayerSchema(StrictSchema):
    layer = fields.String()
    version = fields.Integer(metadata={"description": "The current version's number."})
    tag = fields.String()
    areas = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "Per level."}
    )
    updated_at = fields.DateTime(allow_none=True)


class ImportArgs(StrictSchema):
    dry_run = fields.Boolean(
        load_default=True,
        metadata={"description": "Only report what would change (the default); store nothing."},
    )
    replace = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The file is the whole map of each layer it names: stored areas of "
            "those layers that it lacks are removed. Otherwise it adds and changes by code."
        },
    )


class AreaChangeSchema(StrictSchema):
    layer = fields.String()
    code = fields.String()
    name = fields.String()
    level = fields.String()
    fields_ = fields.List(
        fields.String(),
        data_key="fields",
        attribute="fields",
        metadata={"description": "What changed: name, level, parent, geometry."},
    )


class ImportProblemSchema(StrictSchema):
    feature = fields.Integer(
        allow_none=True, metadata={"description": "0-based index in `features`."}
    )
    code = fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    message = fields.String()


class MapImportSchema(StrictSchema):
    dry_run = fields.Boolean()
    replace = fields.Boolean(attribute="plan.replace")
    layers = fields.List(fields.String(), attribute="plan.layers")
    versions = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "The new version of each layer that changed (none on a dry run)."},
    )
    added = fields.List(fields.Nested(AreaChangeSchema), attribute="plan.added")
    changed = fields.List(fields.Nested(AreaChangeSchema), attribute="plan.changed")
    removed = fields.List(fields.Nested(AreaChangeSchema), attribute="plan.removed")
    unchanged = fields.Integer(attribute="plan.unchanged")
    warnings = fields.List(
        fields.Nested(ImportProblemSchema),
        metadata={"description": "Gaps (a lake, a river) and other things worth a look."},
    )


MAP_BODY = {
    "required": True,
    "description": "A GeoJSON FeatureCollection exactly as `flask grid import` reads it "
    "(WGS84 unless `crs_name` is `gcj02` or `bd09`; each feature's properties `code`, `name`, "
    "`level`, `parent`, optional `layer`). At most "
    f"{MAP_IMPORT_MAX_BYTES // (1024 * 1024)} MB (413 above).",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/geo+json": {"schema": {"type": "object"}},
    },
}


def _read_map_body() -> Any:
    """Read the body as JSON under this route's own limit (the app's is sized for photos)."""
    if request.content_length is not None and request.content_length > MAP_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(
            _(
                "The map file is larger than the limit of %(limit)s bytes.",
                limit=MAP_IMPORT_MAX_BYTES,
            )
        )
    request.max_content_length = MAP_IMPORT_MAX_BYTES
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(
            _("The grid map was refused."),
            errors={"_schema": _("The body is not JSON: %(error)s", error=str(exc))},
        ) from exc


@blp.route("/maps")
class Maps(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Every import of a layer's map, newest first; `layer` keeps "
        "one layer. The grid index of every worker process rebuilds when its layer's version "
        "changes.",
    )
    @blp.arguments(MapVersionArgs, location="query")
    @blp.response(200, MapVersionPageSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the map versions per layer (地图版本)."""
        items, next_cursor = list_map_versions(
            db.session(), layer=args["layer"], cursor=args["cursor"], limit=args["limit"]
        )
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(
        security=BEARER,
        requestBody=MAP_BODY,
        description="Admins only. `dry_run=true` (the default) checks the file and reports the "
        "areas it would add, change and remove and its gap warnings, storing nothing; "
        "`dry_run=false` imports it all or nothing as a new version of each layer it changes "
        "(re-importing the same file changes nothing). A refused file is a 422 naming every "
        "problem at once: `errors` by `features.<n>.<field>` and `problems` as a list.",
    )
    @blp.arguments(ImportArgs, location="query")
    @blp.response(200, MapImportSchema)
    @login_required(ADMIN)
    def post(self, args: dict[str, Any]) -> MapImportReport:
        """Import a grid map file as a new map version, or dry-run it (地图导入)."""
        return import_map_file(
            db.session(),
            _read_map_body(),
            dry_run=args["dry_run"],
            replace=args["replace"],
            actor_id=current_user().id,
        )


@blp.route("/layers")
class Layers(MethodView):
    @blp.doc(security=BEARER, description="Admins only. One answer, in layer order.")
    @blp.response(200, LayerSchema(many=True))
    @login_required(ADMIN)
    def get(self) -> list[LayerSummary]:
        """List the grid map's layers (多网融合) with their version and areas per level."""
        return list_layers(db.session())
