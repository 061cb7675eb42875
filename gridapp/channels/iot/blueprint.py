"""Sensor alarms (物联感知告警): POST /api/v1/iot/alarms, signed per device (DESIGN §9)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, after_this_request, current_app, request
from flask.views import MethodView
from marshmallow import EXCLUDE, ValidationError, fields, validate

from gridapp.channels.iot.services import (
    Alarmed,
    receive_alarm,
    release_signature,
    verify_alarm,
)
from gridapp.core.errors import ValidationFailed
from gridapp.core.extensions import db, redis
from gridapp.core.i18n import _
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema, UtcDateTime

blp = Blueprint("iot", __name__, url_prefix="/api/v1/iot", description="Sensor alarms")


class AlarmSchema(StrictSchema):
    class Meta:
        # Devices' firmware adds fields of its own (battery, rssi …): signed, kept out of the case.
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.Length(min=1, max=60))
    value = fields.Raw(load_default=None, metadata={"description": "A reading: number or text."})
    observed_at = UtcDateTime(load_default=None)


class AlarmCaseSchema(StrictSchema):
    id = fields.Integer()
    number = fields.String()
    state = fields.String()


class AlarmResultSchema(StrictSchema):
    created = fields.Boolean(
        metadata={"description": "True: a new case; false: a note on the device's open case."}
    )
    case = fields.Nested(AlarmCaseSchema)


HEADERS = [
    {
        "in": "header",
        "name": name,
        "required": True,
        "schema": {"type": "string"},
        "description": text,
    }
    for name, text in (
        ("X-Device-Id", "The device's id as registered."),
        ("X-Timestamp", "Unix seconds; within ±300 s of the server's clock."),
        ("X-Signature", 'Hex HMAC-SHA256 of "<X-Timestamp>.<raw body>" under the device secret.'),
    )
]
ALARM_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "example": "tilt"},
                    "value": {"description": "A reading: number or text.", "example": 32},
                    "observed_at": {"type": "string", "format": "date-time"},
                },
            }
        }
    },
}


@blp.route("/alarms")
class Alarms(MethodView):
    @blp.doc(
        parameters=HEADERS,
        requestBody=ALARM_BODY,
        description="No bearer token: the device signs. A timestamp outside ±300 s, a reused "
        "signature, an unknown device or a wrong signature is 401. The alarm opens a case on "
        "the component's category and grid (`source` sensor), or, while the device's case "
        "is open, adds a note to it.",
    )
    @blp.response(200, AlarmResultSchema)
    def post(self) -> Alarmed:
        """Raise a sensor alarm (物联感知告警)."""
        raw = request.get_data(cache=True)
        session = db.session()
        config = current_app.config["GRIDAPP"]
        device = verify_alarm(
            session,
            config.secret_key,
            redis.connection,
            redis.prefix,
            device_code=request.headers.get("X-Device-Id"),
            timestamp=request.headers.get("X-Timestamp"),
            signature=request.headers.get("X-Signature"),
            body=raw,
        )
        signature = request.headers.get("X-Signature", "")

        # The signature is claimed before the alarm is stored (so two copies racing cannot
        # both pass); when the alarm is then refused or fails, nothing was stored and the
        # claim is given back, so the device's retry of the same signed bytes is heard.
        @after_this_request
        def release_unless_stored(response: Response) -> Response:
            if response.status_code >= 400:
                release_signature(redis.connection, redis.prefix, device.id, signature)
            return response

        alarm = _alarm(raw)
        return receive_alarm(session, config, device.id, alarm)


def _alarm(raw: bytes) -> dict[str, Any]:
    # Read from the signed bytes whatever Content-Type a device's firmware sends.
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValidationFailed(_("The body is not a JSON object."))
    try:
        loaded: dict[str, Any] = AlarmSchema().load(body)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(_("The alarm has invalid fields."), errors=messages) from exc
    if loaded["observed_at"] is not None:
        loaded["observed_at"] = loaded["observed_at"].isoformat()
    return loaded
