"""The change log: what admins changed, who, when, before and after (``admin.*`` audit entries)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.core.audit import AuditEntry, list_changes
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, login_required, roles_first
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

ADMIN = workflow.Role.admin
blp = Blueprint(
    "admin_changes",
    __name__,
    url_prefix="/api/v1/admin",
    description="Administration: the change log",
)
# Other roles are refused before their input is read (403, whatever they send).
blp.before_request(roles_first(ADMIN))


class ChangeArgs(StrictSchema):
    action = fields.String(
        load_default=None, metadata={"description": "Keep one kind, e.g. `admin.rule.update`."}
    )
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class ChangeSchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    action = fields.String(metadata={"description": "`admin.<thing>.<verb>`."})
    actor = fields.Integer(attribute="actor_id", allow_none=True)
    actor_role = fields.String(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    before = fields.Method(
        "_before", allow_none=True, metadata={"description": "Null for a creation."}
    )
    after = fields.Method(
        "_after", allow_none=True, metadata={"description": "Null for a removal."}
    )

    def _before(self, entry: AuditEntry) -> Any:
        return (entry.details or {}).get("before")

    def _after(self, entry: AuditEntry) -> Any:
        return (entry.details or {}).get("after")


class ChangePageSchema(StrictSchema):
    items = fields.List(fields.Nested(ChangeSchema))
    next_cursor = fields.String(allow_none=True)


@blp.route("/changes")
class Changes(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Newest first; each entry says who changed what, when, and "
        "the values before and after (only the fields that changed).",
    )
    @blp.arguments(ChangeArgs, location="query")
    @blp.response(200, ChangePageSchema)
    @login_required(ADMIN)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the administrative changes (变更记录)."""
        items, next_cursor = list_changes(db.session(), **args)
        return {"items": items, "next_cursor": next_cursor}
