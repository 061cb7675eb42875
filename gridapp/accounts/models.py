"""People who sign in, their assigned grids and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

import workflow
from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow

ROLES = tuple(role.value for role in workflow.STAFF_ROLES)


class User(Base):
    """A signed-in person with one role (DESIGN §1) and a scope."""

    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    district_code: Mapped[str | None] = mapped_column(String(20))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    grids: Mapped[list[UserGrid]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="select"
    )

    @property
    def grid_codes(self) -> list[str]:
        return sorted(g.grid_code for g in self.grids)


class UserGrid(Base):
    """A unit grid assigned to a grid worker (责任网格)."""

    __tablename__ = "user_grid"
    __table_args__ = (Index("ix_user_grid_grid_code", "grid_code"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="grids")


class RefreshToken(Base):
    """A rotating refresh token; reuse of a rotated one revokes its whole family."""

    __tablename__ = "refresh_token"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
