"""Who may see which case (DESIGN §8 "the object is in the caller's scope").

A grid worker sees cases in their grids, cases they reported and cases they must check or
verify; a handler or department admin sees cases dispatched to their department; the command
centre and the hotline desk see their area (a county, or a street's or community's centre
its street or community); supervisors and admins see everything. Out-of-scope cases answer
404, so their existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, or_, select, true
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


# The shapes a scope condition takes: one statement built per shape serves every user of it,
# their values bound at execution (`scope_shape`, `bound_case_scope`).
_EVERYTHING = ("everything",)
_NOTHING = ("nothing",)
_DEPARTMENT = ("department",)
_OWN = ("own",)  # a grid worker: their grids, and the cases they reported, verify or check
SCOPE_AREA = "scope_area"
SCOPE_DEPARTMENT = "scope_department"
SCOPE_USER = "scope_user"
ScopeShape = tuple[str, ...]


def scope_shape(user: User) -> tuple[ScopeShape, dict[str, Any]]:
    """Return the shape of the user's scope condition and the values it binds."""
    if user.role in EVERYTHING:
        return _EVERYTHING, {}
    if user.role in DESK:
        area = user.district_code
        if area is None:
            return _EVERYTHING, {}
        return ("area", _area_column(area).key), {SCOPE_AREA: area}
    if user.role in DEPARTMENT:
        if user.department_code is None:
            return _NOTHING, {}
        return _DEPARTMENT, {SCOPE_DEPARTMENT: user.department_code}
    if user.role == R.grid_worker:
        return _OWN, {SCOPE_USER: user.id}
    return _NOTHING, {}


def _scope_condition(shape: ScopeShape, value: Callable[[str], Any]) -> ColumnElement[bool]:
    """The condition of a scope shape, each value given by ``value`` (literal or bound)."""
    if shape == _EVERYTHING:
        return true()
    if shape[0] == "area":
        column: InstrumentedAttribute[str] = getattr(Case, shape[1])
        in_area: ColumnElement[bool] = column == value(SCOPE_AREA)
        return in_area
    if shape == _DEPARTMENT:
        in_department: ColumnElement[bool] = Case.department_code == value(SCOPE_DEPARTMENT)
        return in_department
    if shape == _OWN:
        user_id = value(SCOPE_USER)
        own_grids = select(UserGrid.grid_code).where(UserGrid.user_id == user_id)
        return or_(
            Case.grid_code.in_(own_grids),
            Case.reporter_id == user_id,
            Case.verifier_id == user_id,
            Case.checker_id == user_id,
        )
    return false()


def case_scope(user: User) -> ColumnElement[bool]:
    """Return a SQL condition selecting the cases ``user`` may see."""
    shape, values = scope_shape(user)
    return _scope_condition(shape, values.__getitem__)


def bound_case_scope(shape: ScopeShape) -> ColumnElement[bool]:
    """Return the scope condition of ``shape`` with its values as bound parameters (named as
    `scope_shape` gives them), for a statement built once and run for many users."""
    return _scope_condition(shape, bindparam)


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
