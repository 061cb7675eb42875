"""Sensors' use cases: register devices, check a signed alarm, turn it into a case or a note.

A device signs ``"<timestamp>.<raw body>"`` with HMAC-SHA256 under its secret (DESIGN §9).
Verifying an HMAC needs the secret itself, so it cannot be kept as a one-way hash: it is
stored encrypted (Fernet: AES-128-CBC + HMAC) under a key derived from SECRET_KEY with HKDF.
A database dump alone then reveals no secret; rotating SECRET_KEY means re-registering the
devices (or re-encrypting their secrets with both keys at hand).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.cases.services import find_open_case, note_case, receive_case
from gridapp.catalogue.services import find_component, get_component
from gridapp.channels.iot.models import Device
from gridapp.core.audit import record_audit
from gridapp.core.config import Config
from gridapp.core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from gridapp.core.i18n import _, stored_language

SENSOR = workflow.Role.sensor.value
WINDOW_SECONDS = 300  # ±5 minutes of clock difference between a device and the server
SECRET_BYTES = 32
DEMO_DEVICE = "demo-manhole-001"
DEMO_DEVICE_SECRET = "demo-device-secret-2026"
_KDF_SALT = b"gridapp iot device secrets"


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=b"fernet").derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret_key: str, secret: str) -> str:
    """Encrypt a device secret for storage."""
    return _fernet(secret_key).encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt_secret(secret_key: str, token: str) -> str | None:
    """Decrypt a stored device secret; None when SECRET_KEY changed since it was stored."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return None


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``"<timestamp>.<raw body>"`` (what a device sends)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


# --- devices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredDevice:
    device: Device
    secret: str  # shown once


def register_device(
    session: Session,
    secret_key: str,
    admin: User | None,
    *,
    code: str,
    component: str,
    name: str | None = None,
    secret: str | None = None,
) -> RegisteredDevice:
    """Register a sensor on a component (部件); its secret is returned once."""
    found = find_component(session, component)
    if found is None:
        raise ValidationFailed(
            _("Unknown component."),
            errors={"component": _("No component %(code)r.", code=component)},
        )
    if session.scalar(select(Device.id).where(Device.code == code)) is not None:
        raise Conflict(_("A device %(code)r is registered already.", code=code))
    secret = secret or secrets.token_urlsafe(SECRET_BYTES)
    device = Device(
        code=code,
        component_id=found.id,
        name=name,
        secret_encrypted=encrypt_secret(secret_key, secret),
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(device)
    session.flush()
    record_audit(
        session,
        "iot_device.create",
        target_type="iot_device",
        target_id=device.id,
        after={"code": code, "component": component},
        actor_id=admin.id if admin else None,
        actor_role=admin.role if admin else None,
    )
    return RegisteredDevice(device, secret)


def list_devices(session: Session) -> list[Device]:
    """List the registered devices, newest first."""
    return list(session.scalars(select(Device).order_by(Device.id.desc())))


def component_code(session: Session, device: Device) -> str:
    """Return the code of the component a device sits on."""
    component = get_component(session, device.component_id)
    return component.code if component else ""


def disable_device(session: Session, admin: User, device_id: int) -> Device:
    """Disable a device: its alarms are refused from now on (it stays listed)."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(_("No device %(id)s.", id=device_id))
    if device.active:
        device.active = False
        session.flush()
        record_audit(
            session,
            "iot_device.disable",
            target_type="iot_device",
            target_id=device.id,
            before={"active": True},
            after={"active": False},
            details={"code": device.code},
            actor_id=admin.id,
            actor_role=admin.role,
        )
    return device


# --- alarms -----------------------------------------------------------------------------------


def _refused() -> AuthenticationFailed:
    # One answer for an unknown device and a wrong signature: a prober learns nothing.
    return AuthenticationFailed(_("The alarm's signature is not valid."))


def verify_alarm(
    session: Session,
    secret_key: str,
    redis: Redis,
    redis_prefix: str,
    *,
    device_code: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime | None = None,
) -> Device:
    """Return the device that signed this alarm, or refuse it (401).

    The timestamp must be within ±300 s of now; each signature is accepted once: it is
    remembered in Redis for as long as its timestamp could still be accepted.
    """
    if not device_code or not timestamp or not signature:
        raise AuthenticationFailed(_("Send X-Device-Id, X-Timestamp and X-Signature."))
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise AuthenticationFailed(_("X-Timestamp is Unix seconds.")) from None
    moment = int((now or datetime.now(UTC)).timestamp())
    if abs(moment - sent_at) > WINDOW_SECONDS:
        raise AuthenticationFailed(
            _(
                "X-Timestamp is more than %(seconds)s s from the server's time.",
                seconds=WINDOW_SECONDS,
            )
        )
    device = session.scalar(select(Device).where(Device.code == device_code[:64]))
    secret = decrypt_secret(secret_key, device.secret_encrypted) if device else None
    expected = sign(secret or "", sent_at, body)
    given = signature.strip().lower()
    if device is None or not device.active or secret is None:
        # Compare anyway, so an unknown device takes as long as a wrong signature.
        hmac.compare_digest(expected, given)
        raise _refused()
    if not hmac.compare_digest(expected, given):
        raise _refused()
    remembered = signature_key(redis_prefix, device.id, expected)
    ttl = max(1, sent_at + WINDOW_SECONDS - moment + 1)
    if not redis.set(remembered, b"1", nx=True, ex=ttl):
        raise AuthenticationFailed(_("This signature was used already."))
    return device


def signature_key(redis_prefix: str, device_id: int, signature: str) -> str:
    """Return the Redis key that marks a device's signature as used."""
    return f"{redis_prefix}:iot:signature:{device_id}:{signature.strip().lower()}"


def release_signature(redis: Redis, redis_prefix: str, device_id: int, signature: str) -> None:
    """Forget a used signature: its alarm was not stored, so the device's retry must pass."""
    redis.delete(signature_key(redis_prefix, device_id, signature))


@dataclass(frozen=True)
class Alarmed:
    case: Case
    created: bool


def receive_alarm(
    session: Session,
    config: Config,
    device_id: int,
    alarm: Mapping[str, Any],
    now: datetime | None = None,
) -> Alarmed:
    """Open a case for a device's alarm, or add the alarm to the case it already has open.

    A flapping device opens at most one case per open period: its alarms serialise on the
    device row, and while its case is open each new alarm is a note on it.
    """
    now = now or datetime.now(UTC)
    device = session.scalar(select(Device).where(Device.id == device_id).with_for_update())
    if device is None:
        raise _refused()
    device.last_alarm_at = now
    component = get_component(session, device.component_id)
    assert component is not None  # a foreign key
    data = {
        "device": device.code,
        "alarm": {k: alarm.get(k) for k in ("type", "value", "observed_at") if k in alarm},
    }
    existing = find_open_case(session, component_id=component.id, source=SENSOR)
    if existing is not None:
        note_case(session, existing.id, role=SENSOR, data=data, now=now)
        return Alarmed(existing, False)
    with stored_language():
        description = _(
            "Sensor %(device)s on %(component)s: %(type)s %(value)s",
            device=device.code,
            component=component.name or component.code,
            type=alarm.get("type"),
            value="" if alarm.get("value") is None else alarm.get("value"),
        ).strip()
    case = receive_case(
        session,
        config,
        source=SENSOR,
        category=component.category_code,
        description=description,
        lon=component.lon,
        lat=component.lat,
        address=component.name,
        component_id=component.id,
        data=data,
    )
    return Alarmed(case, True)
