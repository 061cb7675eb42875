"""The work calendar table the admins own."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from gridapp.core.models import Base


class CalendarEntry(Base):
    """A public holiday or a make-up working day (调休上班), in a table the admins own."""

    __tablename__ = "calendar_entry"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(60), default="")
