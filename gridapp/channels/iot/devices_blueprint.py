"""Sensor devices for admins: list, register on a component (the secret shown once), disable."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

import workflow
from gridapp.channels.iot.models import Device
from gridapp.channels.iot.services import (
    component_code,
    disable_device,
    list_devices,
    register_device,
)
from gridapp.core.extensions import db
from gridapp.core.principal import BEARER, current_user, login_required
from gridapp.core.rest import Blueprint
from gridapp.core.schemas import StrictSchema

blp = Blueprint("iot_devices", __name__, url_prefix="/api/v1/admin", description="Sensor devices")
ADMIN = workflow.Role.admin.value


class DeviceSchema(StrictSchema):
    id = fields.Integer()
    code = fields.String(metadata={"description": "What the device sends as X-Device-Id."})
    component = fields.Function(
        lambda device: (
            device["component"]
            if isinstance(device, dict)
            else component_code(db.session(), device)
        ),
        metadata={"description": "The code of the component it sits on."},
    )
    name = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.DateTime()
    last_alarm_at = fields.DateTime(allow_none=True)


class RegisteredDeviceSchema(DeviceSchema):
    secret = fields.String(
        metadata={"description": "The signing secret: shown this once, stored encrypted."}
    )


class NewDeviceSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$"))
    component = fields.String(required=True, metadata={"description": "A component's code."})
    name = fields.String(load_default=None, validate=validate.Length(max=120))


@blp.route("/devices")
class Devices(MethodView):
    @blp.doc(security=BEARER, description="Admins only. Secrets are never shown again.")
    @blp.response(200, DeviceSchema(many=True))
    @login_required(ADMIN)
    def get(self) -> list[Device]:
        """List the sensor devices."""
        return list_devices(db.session())

    @blp.doc(
        security=BEARER,
        description="Admins only. The answer carries `secret`, shown this once: the device signs "
        "its alarms with it. Recorded in the audit trail.",
    )
    @blp.arguments(
        NewDeviceSchema,
        example={
            "code": "manhole-0042",
            "component": "4304230101000001",
            "name": "cover tilt sensor",
        },
    )
    @blp.response(201, RegisteredDeviceSchema)
    @login_required(ADMIN)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register a sensor device on a component."""
        registered = register_device(
            db.session(),
            current_app.config["GRIDAPP"].secret_key,
            current_user(),
            code=body["code"],
            component=body["component"],
            name=body["name"],
        )
        device = registered.device
        shown = {
            name: getattr(device, name) for name in DeviceSchema().fields if name != "component"
        }
        return {**shown, "component": body["component"], "secret": registered.secret}


@blp.route("/devices/<int:device_id>")
class DeviceDetail(MethodView):
    @blp.doc(
        security=BEARER,
        description="Admins only. Its alarms are refused from now on; it stays listed. "
        "Recorded in the audit trail.",
    )
    @blp.response(200, DeviceSchema)
    @login_required(ADMIN)
    def delete(self, device_id: int) -> Device:
        """Disable a sensor device."""
        return disable_device(db.session(), current_user(), device_id)
