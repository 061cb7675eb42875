"""Integrator keys of the Open311 API, kept as hashes only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow


class Open311Key(Base):
    """An integrator's API key (接入密钥): the SHA-256 of a random key, which is shown once."""

    __tablename__ = "open311_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # A key has 256 random bits, so a plain SHA-256 is enough: nothing to guess, no salt needed.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so an admin can tell keys apart without the key itself.
    prefix: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
