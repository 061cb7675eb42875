"""Sensor devices registered on components (部件), with their signing secret encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow


class Device(Base):
    """A sensor (物联感知设备) on a registered component; its alarms become cases."""

    __tablename__ = "iot_device"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the device sends as X-Device-Id.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    # Fernet token of the secret under a key derived from SECRET_KEY: verifying an HMAC needs
    # the secret itself, so a one-way hash cannot serve (gridapp.channels.iot.services).
    secret_encrypted: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_alarm_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
