"""Describe the demo users for `make run` and the README."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.catalogue.models import Department
from gridapp.grid.models import Area


def describe_demo_users(session: Session) -> list[str]:
    """Return one line per user: username, role and scope (grids, department or district)."""
    departments = {d.code: d.name for d in session.scalars(select(Department))}
    districts = {
        a.code: a.name for a in session.scalars(select(Area).where(Area.level == "district"))
    }
    users = list(session.scalars(select(User).order_by(User.id)))
    width = max((len(u.username) for u in users), default=0)
    lines = []
    for user in users:
        scope = []
        if user.grid_codes:
            codes = user.grid_codes
            scope.append(f"{len(codes)} grids {codes[0]}…{codes[-1]}")
        if user.department_code:
            scope.append(
                f"department {user.department_code} ({departments.get(user.department_code, '')})"
            )
        if user.district_code and not scope:
            scope.append(f"district {user.district_code} ({districts.get(user.district_code, '')})")
        lines.append(f"  {user.username:<{width}} {user.role:<16} {'; '.join(scope)}")
    return lines
