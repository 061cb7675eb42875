"""A notification as JSON: the schema the desk's and the phone's views share."""

from __future__ import annotations

from marshmallow import fields

from gridapp.core.schemas import StrictSchema


class NotificationSchema(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    case = fields.Integer(attribute="case_id", allow_none=True)
    message = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(
        allow_none=True, metadata={"description": "When you first marked it read; null if unread."}
    )
