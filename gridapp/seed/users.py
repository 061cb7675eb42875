"""Describe the demo users for `make run` and the README."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.catalogue.models import Department


def describe_demo_users(session: Session) -> list[str]:
    lines = []
    departments = {d.code: d.name for d in session.scalars(select(Department))}
    for user in session.scalars(select(User).order_by(User.id)):
        scope = []
        if user.grid_codes:
            codes = user.grid_codes
            scope.append(f"{len(codes)} grids {codes[0]}…{codes[-1]}")
        if user.department_code:
            scope.append(
                f"department {user.department_code} ({departments.get(user.department_code, '')})"
            )
        if user.district_code and not scope:
            scope.append(f"district {user.district_code}")
        lines.append(f"  {user.username:<13} {user.role:<13} {'; '.join(scope)}")
    return lines
