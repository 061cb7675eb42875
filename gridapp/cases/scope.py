"""Who may see which case (DESIGN §8 "the object is in the caller's scope").

A grid worker sees cases in their grids, cases they reported and cases they must check or
verify; a handler or department admin sees cases dispatched to their department; the command
centre and the hotline desk see their area (a county, or a street's or community's centre
its street or community); supervisors and admins see everything. Out-of-scope cases answer
404, so their existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

import workflow
from gridapp.accounts.models import User, UserGrid
from gridapp.cases.models import Case

R = workflow.Role
DESK = frozenset({R.acceptor, R.dispatcher, R.shift_leader, R.hotline_operator})
EVERYTHING = frozenset({R.supervisor, R.admin})
DEPARTMENT = frozenset({R.handler, R.dept_admin})
# GB/T 30428.1 area codes: county 6 digits, street 9, community 12.
_COLUMN_BY_CODE_LENGTH: dict[int, InstrumentedAttribute[Any]] = {
    6: Case.district_code,
    9: Case.street_code,
    12: Case.community_code,
}


def _area_column(code: str) -> InstrumentedAttribute[Any]:
    return _COLUMN_BY_CODE_LENGTH.get(len(code), Case.district_code)


def case_scope(user: User) -> ColumnElement[bool]:
    """Return a SQL condition selecting the cases ``user`` may see."""
    if user.role in EVERYTHING:
        return true()
    if user.role in DESK:
        area = user.district_code
        return true() if area is None else _area_column(area) == area
    if user.role in DEPARTMENT:
        if user.department_code is None:
            return false()
        return Case.department_code == user.department_code
    if user.role == R.grid_worker:
        own_grids = select(UserGrid.grid_code).where(UserGrid.user_id == user.id)
        return or_(
            Case.grid_code.in_(own_grids),
            Case.reporter_id == user.id,
            Case.verifier_id == user.id,
            Case.checker_id == user.id,
        )
    return false()


def case_visible(user: User, case: Case) -> bool:
    """Say whether ``user`` may see ``case`` (the same rule as ``case_scope``, in Python)."""
    if user.role in EVERYTHING:
        return True
    if user.role in DESK:
        area = user.district_code
        return area is None or getattr(case, _area_column(area).key) == area
    if user.role in DEPARTMENT:
        return user.department_code is not None and case.department_code == user.department_code
    if user.role == R.grid_worker:
        return case.grid_code in set(user.grid_codes) or user.id in (
            case.reporter_id,
            case.verifier_id,
            case.checker_id,
        )
    return False
