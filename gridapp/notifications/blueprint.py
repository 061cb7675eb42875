"""Your notifications: what you must act on next."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from gridapp.core.blueprint import Blueprint
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.schemas import MAX_ID, StrictSchema
from gridapp.notifications.models import Notification

blp = Blueprint(
    "notifications", __name__, url_prefix="/api/v1", description="Notifications (消息提醒)"
)


class NotificationSchema(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    case = fields.Integer(allow_none=True)
    message = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationArgs(StrictSchema):
    after = fields.Integer(
        load_default=None,
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Only ids above this."},
    )
    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "case": n.case_id,
        "message": n.message,
        "created_at": n.created_at,
        "read_at": n.read_at,
    }


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @login_required()
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """List your notifications, oldest first."""
        query = (
            select(Notification)
            .where(Notification.user_id == current_user().id)
            .order_by(Notification.id)
            .limit(args["limit"])
        )
        if args["after"] is not None:
            query = query.where(Notification.id > args["after"])
        if args["unread"]:
            query = query.where(Notification.read_at.is_(None))
        return [notification_json(n) for n in db.session().scalars(query)]
