"""The audit trail for the audit administrator (审计管理员): read and verify, nothing else."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from gridapp.core.audit import RESULTS, AuditChainReport, list_audit, verify_audit_chain
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import MAX_ID, StrictSchema, UtcDateTime

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail")

AUDIT_READERS: tuple[str, ...] = ("audit_admin",)


class AuditArgs(StrictSchema):
    actor = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID))
    action = fields.String(
        load_default=None,
        validate=validate.Length(max=60),
        metadata={"description": "An action name, or a prefix ending in '.' (`admin.`)."},
    )
    result = fields.String(load_default=None, validate=validate.OneOf(RESULTS))
    since = UtcDateTime(load_default=None)
    until = UtcDateTime(load_default=None)
    cursor = fields.String(load_default=None, metadata={"description": "From `next_cursor`."})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class AuditEntrySchema(StrictSchema):
    id = fields.Integer()
    at = UtcDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    result = fields.String()
    source_ip = fields.String(allow_none=True)
    details = fields.Dict()
    hash = fields.String()


class AuditPageSchema(StrictSchema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


class AuditChainSchema(StrictSchema):
    intact = fields.Boolean()
    entries = fields.Integer()
    first_broken_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)


@blp.route("/audit")
class AuditTrail(MethodView):
    @blp.doc(security=BEARER, description="Newest first; the audit administrator only.")
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPageSchema)
    @login_required(*AUDIT_READERS)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List audit entries: sign-ins, refusals, administrative changes, exports, reads."""
        items, next_cursor = list_audit(
            db.session(),
            actor_id=args["actor"],
            action=args["action"],
            result=args["result"],
            since=args["since"],
            until=args["until"],
            cursor=args["cursor"],
            limit=args["limit"],
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/audit/verify")
class AuditVerify(MethodView):
    @blp.doc(
        security=BEARER,
        description="The audit administrator only. The oldest kept entry anchors the chain "
        "(the nightly prune removes entries past AUDIT_RETENTION_DAYS); `flask audit verify` "
        "also checks every case's history.",
    )
    @blp.response(200, AuditChainSchema)
    @login_required(*AUDIT_READERS)
    def get(self) -> AuditChainReport:
        """Recompute the audit trail's hash chain and say where it first breaks, if anywhere."""
        return verify_audit_chain(db.session())
