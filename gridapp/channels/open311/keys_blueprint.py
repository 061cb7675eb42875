"""Open311 integrator keys for admins: list, issue (the key shown once), revoke."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.channels.open311.models import Open311Key
from gridapp.channels.open311.services import IssuedKey, issue_key, list_keys, revoke_key
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

blp = Blueprint(
    "open311_keys", __name__, url_prefix="/api/v1/admin", description="Open311 integrator keys"
)
ADMIN = workflow.Role.admin.value


class KeySchema(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(
        metadata={"description": "The key's first characters, to tell keys apart."}
    )
    active = fields.Boolean()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class IssuedKeySchema(KeySchema):
    api_key = fields.String(
        metadata={"description": "The key itself: shown this once, stored only as a hash."}
    )


class NewKeySchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


def _issued(issued: IssuedKey) -> dict[str, Any]:
    key = issued.key
    return {**{name: getattr(key, name) for name in KeySchema().fields}, "api_key": issued.secret}


@blp.route("/open311-keys")
class Keys(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Hashes are never shown; prefixes are.")
    @blp.response(200, KeySchema(many=True))
    @login_required(ADMIN)
    def get(self) -> list[Open311Key]:
        """List the Open311 integrator keys."""
        return list_keys(db.session())

    @blp.doc(
        security=BEARER,
        description="Admins only. The answer carries `api_key`, shown this once; the change is "
        "recorded in the audit trail.",
    )
    @blp.arguments(NewKeySchema, example={"name": "city app"})
    @blp.response(201, IssuedKeySchema)
    @login_required(ADMIN)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Issue an Open311 integrator key."""
        return _issued(issue_key(db.session(), current_user(), body["name"]))


@blp.route("/open311-keys/<int:key_id>")
class Key(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. The key stops working at once and stays listed as revoked; "
        "the change is recorded in the audit trail.",
    )
    @blp.response(200, KeySchema)
    @login_required(ADMIN)
    def delete(self, key_id: int) -> Open311Key:
        """Revoke an Open311 integrator key."""
        return revoke_key(db.session(), current_user(), key_id)
