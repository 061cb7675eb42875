"""Your notifications: what you must act on next."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from gridapp.core.extensions import db
from gridapp.core.i18n import N_
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import MAX_ID, Integer, StrictSchema, record_id
from gridapp.notifications.models import Notification
from gridapp.notifications.schemas import NotificationSchema
from gridapp.notifications.services import (
    list_notifications,
    read_notification,
    read_notifications,
)

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="Notifications")

# The most ids one call may name: as many as one page of the list holds.
MAX_READ_IDS = 500


class NotificationArgs(StrictSchema):
    after = Integer(
        load_default=None,
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Only ids above this."},
    )
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones."})
    limit = Integer(load_default=100, validate=validate.Range(1, MAX_READ_IDS))


class ReadBodySchema(StrictSchema):
    ids = fields.List(
        record_id(),
        validate=validate.Length(max=MAX_READ_IDS),
        metadata={"description": "Mark these of yours read."},
    )
    every = fields.Boolean(
        data_key="all", metadata={"description": "`true`: mark every one of yours read."}
    )

    @validates_schema
    def one_selection(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Require exactly one of ``ids`` and ``all: true``."""
        if "ids" in data and "every" in data:
            raise ValidationError(N_("Send either ids or all, not both."), "all")
        if "ids" not in data and not data.get("every"):
            # `{"all": false}` selects nothing: say so on the field that was sent.
            field = "all" if "every" in data else "ids"
            raise ValidationError(N_('Send the ids to mark, or "all": true.'), field)


class ReadResultSchema(StrictSchema):
    marked = fields.Integer(
        metadata={"description": "How many were unread and are read now."},
    )


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.doc(
        security=BEARER,
        description="Only your own. Page with `after` (the last id you saw); `unread=true` "
        "leaves out those you marked read.",
    )
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @login_required()
    def get(self, args: dict[str, Any]) -> list[Notification]:
        """List your notifications, oldest first."""
        notes = list_notifications(
            db.session(),
            current_user(),
            after=args["after"],
            unread=args["unread"],
            limit=args["limit"],
        )
        return notes


@blp.route("/notifications/<int:notification_id>/read")
class NotificationRead(MethodView):
    @blp.doc(
        security=BEARER,
        description="Marking one again keeps the time it was first read. Another user's "
        "notification is a 404, as is a missing one.",
    )
    @blp.response(200, NotificationSchema)
    @login_required()
    def post(self, notification_id: int) -> Notification:
        """Mark one of your notifications read."""
        return read_notification(db.session(), current_user(), notification_id)


@blp.route("/notifications/read")
class NotificationsRead(MethodView):
    @blp.doc(
        security=BEARER,
        description='Send `{"ids": [...]}` (at most 500) or `{"all": true}`. Ids that are not '
        "yours or already read are skipped; the answer counts those this call marked.",
    )
    @blp.arguments(ReadBodySchema)
    @blp.response(200, ReadResultSchema)
    @login_required()
    def post(self, body: dict[str, Any]) -> dict[str, int]:
        """Mark several or all of your notifications read."""
        ids = None if body.get("every") else body["ids"]
        return {"marked": read_notifications(db.session(), current_user(), ids=ids)}
