"""User administration."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import ROLES, User, UserGrid
from gridapp.catalogue.models import Department
from gridapp.core.errors import Conflict, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.security import hash_password
from gridapp.grid.models import Area


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    phone: str | None = None,
    department: str | None = None,
    district: str | None = None,
    grids: Iterable[str] = (),
    totp_secret: str | None = None,
) -> User:
    """Create a user with a role and a scope (grids, department, district)."""
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = _(
            "Unknown role %(role)r; one of %(roles)s.", role=role, roles=", ".join(ROLES)
        )
    if len(password) < 8:
        errors["password"] = _("A password has at least 8 characters.")
    if not username or len(username) > 64:
        errors["username"] = _("A username has 1 to 64 characters.")
    if (
        department is not None
        and session.scalar(select(Department.id).where(Department.code == department)) is None
    ):
        errors["department"] = _("Unknown department %(code)r.", code=department)
    if role in DEPARTMENT_ROLES and department is None:
        errors["department"] = _("A %(role)s belongs to a department.", role=role)
    grid_codes = sorted(set(grids))
    if grid_codes:
        known = set(
            session.scalars(
                select(Area.code).where(Area.level == "grid", Area.code.in_(grid_codes))
            )
        )
        unknown = [c for c in grid_codes if c not in known]
        if unknown:
            errors["grids"] = _("Unknown unit grids: %(codes)s.", codes=", ".join(unknown))
    if errors:
        raise ValidationFailed(_("The user cannot be created."), errors=errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(
            _("A user named %(name)r exists already.", name=username),
            errors={"username": _("taken")},
        )
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        phone=phone,
        department_code=department,
        district_code=district,
        totp_secret=totp_secret,
        grids=[UserGrid(grid_code=code) for code in grid_codes],
    )
    session.add(user)
    session.flush()
    return user


DEPARTMENT_ROLES = (workflow.Role.handler.value, workflow.Role.dept_admin.value)


def department_members(session: Session, department: str | None) -> list[int]:
    """Return the active handlers and department admins of a department."""
    if department is None:
        return []
    return list(
        session.scalars(
            select(User.id).where(
                User.department_code == department,
                User.role.in_(DEPARTMENT_ROLES),
                User.active.is_(True),
            )
        )
    )


def command_center(
    session: Session, area: str | None, roles: Iterable[str], *, exact: bool = False
) -> list[int]:
    """Return active staff of these roles responsible for an area.

    Staff with no area cover everything; ``exact`` asks for the centre of that very area
    (a community's or a street's governance centre), not those above it.
    """
    query = select(User.id).where(User.role.in_(list(roles)), User.active.is_(True))
    if exact:
        query = query.where(User.district_code == area)
    elif area is not None:
        query = query.where((User.district_code == area) | User.district_code.is_(None))
    return list(session.scalars(query))
