"""Photos and files kept as evidence (attachments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow


class Attachment(Base):
    """A photo or file kept as evidence, addressed by its content hash."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_case", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(255))
    original_name: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None]
    height: Mapped[int | None]
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exif_lon: Mapped[float | None]
    exif_lat: Mapped[float | None]
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
