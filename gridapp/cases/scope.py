"""Who may see which case (DESIGN §8 "the object is in the caller's scope").

A grid worker sees cases in their grids, cases they reported and cases they must check or
verify; a handler or department admin sees cases dispatched to their department; the command
center sees its district; supervisors and admins see everything. Out-of-scope cases answer 404,
so their existence is not revealed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true

from gridapp.accounts.models import User, UserGrid
from gridapp.cases.models import Case

COMMAND_CENTER = frozenset({"acceptor", "dispatcher", "shift_leader"})
EVERYTHING = frozenset({"supervisor", "admin"})
DEPARTMENT = frozenset({"handler", "dept_admin"})


def case_scope(user: User) -> ColumnElement[bool]:
    """Return a SQL condition selecting the cases ``user`` may see."""
    if user.role in EVERYTHING:
        return true()
    if user.role in COMMAND_CENTER:
        return true() if user.district_code is None else Case.district_code == user.district_code
    if user.role in DEPARTMENT:
        if user.department_code is None:
            return false()
        return Case.department_code == user.department_code
    if user.role == "grid_worker":
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
    if user.role in COMMAND_CENTER:
        return user.district_code is None or case.district_code == user.district_code
    if user.role in DEPARTMENT:
        return user.department_code is not None and case.department_code == user.department_code
    if user.role == "grid_worker":
        return case.grid_code in set(user.grid_codes) or user.id in (
            case.reporter_id,
            case.verifier_id,
            case.checker_id,
        )
    return False
