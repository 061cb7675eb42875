"""People who sign in, their assigned grids and their refresh tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

import workflow
from gridapp.core.models import Base
from gridapp.core.types import UTCDateTime, utcnow


class DutyRole(StrEnum):
    """Name the administrators who take no part in cases (三权分立, MLPS 2.0 level 3).

    ``admin`` (系统管理员) configures the system; these two hold the other duties, so no one
    person both changes who may sign in and reads the trail of what they did.
    """

    security_admin = "security_admin"  # 安全管理员: users, roles, sessions
    audit_admin = "audit_admin"  # 安全审计员: reads the audit trail, nothing else


# Every role a user may hold: the workflow's staff roles, then the separated duties.
ROLES = tuple(role.value for role in workflow.STAFF_ROLES) + tuple(r.value for r in DutyRole)


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
    # A secret being enrolled: it becomes ``totp_secret`` once a code from it is confirmed.
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))
    # The 30 s step of the last code accepted: a code is good once, so only later steps pass.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moves on with every change to the row or its grids (a flush listener, whoever changes
    # it): a process's copy of the user is good while it has the version Redis publishes
    # (gridapp.accounts.principals).
    version: Mapped[str] = mapped_column(String(40), default="0", server_default="0")

    grids: Mapped[list[UserGrid]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="select"
    )

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_secret is not None

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
