"""The catalogue's use cases: find categories and departments, route a case by the rules.

What the write path reads of the catalogue (a report's category, a dispatch's rule and
department) comes from a per-process copy of the categories, departments and rules,
rebuilt when the stored catalogue version moves (``gridapp.core.versions``). Every change to
those rows moves the version on in its own flush (a listener below, whoever changes them:
the admin API, the seed, an import), and this process drops its copy when the change commits
or rolls back; another process sees the change within ``CACHE_SECONDS``, as it sees a new
work calendar. The administration itself reads and writes the rows, never the copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, UOWTransaction

import geo
import workflow
from gridapp.accounts.services import department_members
from gridapp.catalogue.models import Category, Component, Department, ResponsibilityRule
from gridapp.core.audit import record_audit
from gridapp.core.errors import Conflict, NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.pagination import cursor_int, decode_cursor, paginate
from gridapp.core.versions import VersionedCache, attached_copy, bump_version_in_flush, row_values
from gridapp.grid.services import Location, area_exists, locate_point

COMPONENT_RADIUS_M = 30.0
# The statements are built once: building one costs more than running it.
CATEGORY_BY_CODE = select(Category).where(Category.code == bindparam("code"))
DEPARTMENT_BY_CODE = select(Department).where(Department.code == bindparam("code"))

CATALOGUE_VERSION = "catalogue_version"
# How often a process reads the stored version: another worker's change is seen within this.
CACHE_SECONDS = 5.0
CATALOGUE_MODELS = (Category, Department, ResponsibilityRule)
_CHANGED = "gridapp.catalogue.changed"


@dataclass(frozen=True)
class CatalogueCopy:
    """This process's copy of the catalogue's rows (column values, never session objects)."""

    categories: dict[str, dict[str, Any]]
    departments: dict[str, dict[str, Any]]
    rules_by_area: dict[str, list[dict[str, Any]]]


def _load_catalogue(session: Session) -> CatalogueCopy:
    rules: dict[str, list[dict[str, Any]]] = {}
    for rule in session.scalars(select(ResponsibilityRule)):
        rules.setdefault(rule.area_code, []).append(row_values(rule))
    return CatalogueCopy(
        categories={c.code: row_values(c) for c in session.scalars(select(Category))},
        departments={d.code: row_values(d) for d in session.scalars(select(Department))},
        rules_by_area=rules,
    )


_catalogues: VersionedCache[CatalogueCopy] = VersionedCache()


def catalogue_copy(session: Session) -> CatalogueCopy:
    """Return this process's copy of the catalogue (rebuilt when its stored version moved)."""
    return _catalogues.get(
        session, "catalogue", CATALOGUE_VERSION, lambda: _load_catalogue(session), CACHE_SECONDS
    )


def forget_catalogue() -> None:
    """Drop this process's copy of the catalogue (rebuilt on next use)."""
    _catalogues.forget()


@event.listens_for(Session, "before_flush")
def _move_catalogue_version(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    """Move the catalogue version on in the flush that changes a category, department or rule."""
    touched = any(isinstance(o, CATALOGUE_MODELS) for o in chain(session.new, session.deleted))
    if not touched:
        touched = any(
            isinstance(o, CATALOGUE_MODELS) and session.is_modified(o) for o in session.dirty
        )
    if touched:
        bump_version_in_flush(session, CATALOGUE_VERSION)
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    # This process may have copied the change before it committed: copy it afresh.
    if session.info.pop(_CHANGED, False):
        _catalogues.forget()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    # A copy made inside the transaction may hold rows that now never existed.
    if session.info.get(_CHANGED):
        _catalogues.forget()
        if not session.in_transaction():
            session.info.pop(_CHANGED, None)


def find_category(session: Session, code: str) -> Category | None:
    """Return the category with this code, or None (from this process's copy, no query)."""
    values = catalogue_copy(session).categories.get(code)
    return None if values is None else attached_copy(session, Category, values)


def find_department(session: Session, code: str) -> Department | None:
    """Return the department with this code, or None (from this process's copy, no query)."""
    values = catalogue_copy(session).departments.get(code)
    return None if values is None else attached_copy(session, Department, values)


def _category_row(session: Session, code: str) -> Category | None:
    # The administration reads the row itself: it changes it, and checks in its transaction.
    return session.scalar(CATEGORY_BY_CODE, {"code": code})


def _department_row(session: Session, code: str) -> Department | None:
    return session.scalar(DEPARTMENT_BY_CODE, {"code": code})


def responsible_department(
    session: Session, category: str, area_codes: Sequence[str | None]
) -> ResponsibilityRule | None:
    """Find the most specific rule: the longest area code, a named category before any.

    Dispatch and the admins' dry run both ask this, so the dry run answers what dispatch does.
    """
    by_area = catalogue_copy(session).rules_by_area
    rules = [
        rule
        for code in area_codes
        if code
        for rule in by_area.get(code, ())
        if rule["category_code"] in (category, None)
    ]
    best = max(
        rules,
        key=lambda r: (len(r["area_code"]), r["category_code"] is not None),
        default=None,
    )
    return None if best is None else attached_copy(session, ResponsibilityRule, best)


def nearest_component(session: Session, category: str, lon: float, lat: float) -> Component | None:
    """Return the nearest registered component of the class within 30 m, if any."""
    dlat = COMPONENT_RADIUS_M / 110_574.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    candidates = session.scalars(
        select(Component).where(
            Component.category_code == category,
            Component.lon.between(lon - dlon, lon + dlon),
            Component.lat.between(lat - dlat, lat + dlat),
        )
    ).all()
    best = min(candidates, key=lambda c: geo.haversine_m(lon, lat, c.lon, c.lat), default=None)
    if best is None or geo.haversine_m(lon, lat, best.lon, best.lat) > COMPONENT_RADIUS_M:
        return None
    return best


# -- administration (what a city changes without a developer) --------------------------------

URGENCIES = ("normal", "urgent")
KINDS = ("component", "event")
# The steps whose limit a category sets; every other step's limit is its process's.
CATEGORY_LIMIT_STEPS = (str(workflow.State.handling),)
_UNSET: Any = object()


def _category_dict(category: Category) -> dict[str, Any]:
    return {
        "code": category.code,
        "name": category.name,
        "kind": category.kind,
        "standard": category.standard,
        "major_code": category.major_code,
        "major_name": category.major_name,
        "minor_code": category.minor_code,
        "process": category.process,
        "urgency": category.urgency,
        "time_limits": dict(category.time_limits or {}),
        "department": category.department_code,
        "active": category.active,
        "open311": category.open311,
        "dispute": category.dispute,
        "duplicate_radius_m": category.duplicate_radius_m,
        "duplicate_window_hours": category.duplicate_window_hours,
    }


def _department_dict(department: Department) -> dict[str, Any]:
    return {
        "code": department.code,
        "name": department.name,
        "phone": department.phone,
        "active": department.active,
    }


def _rule_dict(rule: ResponsibilityRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "category": rule.category_code,
        "area": rule.area_code,
        "department": rule.department_code,
        "note": rule.note,
    }


def _changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the fields a change touched, for the audit entry."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def list_all_categories(
    session: Session, *, cursor: str | None = None, limit: int = 100, active: bool | None = None
) -> tuple[list[Category], str | None]:
    """List every category, active or not, in code order, a page at a time."""
    query = select(Category).order_by(Category.code).limit(limit + 1)
    if active is not None:
        query = query.where(Category.active.is_(active))
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(Category.code > str(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda c: (c.code,))


def get_category(session: Session, code: str) -> Category:
    """Return a category by code, or raise NotFound."""
    category = _category_row(session, code)
    if category is None:
        raise NotFound(_("No category %(code)r.", code=code))
    return category


def _check_category(session: Session, values: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    process = values.get("process")
    if process is not None and process not in workflow.PROCESSES:
        errors["process"] = [
            _(
                "Unknown process %(process)r; known: %(known)s.",
                process=process,
                known=", ".join(sorted(workflow.PROCESSES)),
            )
        ]
    department = values.get("department_code")
    if department is not None:
        found = _department_row(session, department)
        if found is None or not found.active:
            errors["department"] = [_("No active department %(code)r.", code=department)]
    for step, limit in (values.get("time_limits") or {}).items():
        if step not in CATEGORY_LIMIT_STEPS:
            errors[f"time_limits.{step}"] = [
                _(
                    "A category sets the limit of %(steps)s only; other steps take their "
                    "process's.",
                    steps=", ".join(CATEGORY_LIMIT_STEPS),
                )
            ]
        elif not isinstance(limit, dict):
            errors[f"time_limits.{step}"] = [_('Expected {"amount", "unit"}.')]
    return errors


def create_category(session: Session, values: dict[str, Any]) -> Category:
    """Add a case category (新增案件类别), recorded in the audit trail."""
    errors = _check_category(session, values)
    if _category_row(session, values["code"]) is not None:
        errors["code"] = [_("Category %(code)s exists already.", code=values["code"])]
    if errors:
        raise ValidationFailed(_("The category was not saved."), errors=errors)
    digits = "".join(ch for ch in values["code"] if ch.isdigit())
    category = Category(
        code=values["code"],
        name=values["name"],
        kind=values["kind"],
        standard=values.get("standard") or "local",
        major_code=values.get("major_code") or digits[:2],
        major_name=values.get("major_name") or "",
        minor_code=values.get("minor_code") or digits[2:],
        department_code=values.get("department_code"),
        urgency=values.get("urgency") or "normal",
        time_limits=values.get("time_limits") or {},
        process=values.get("process") or str(workflow.URBAN_MANAGEMENT.code),
        active=values.get("active", True),
        open311=values.get("open311", False),
        dispute=values.get("dispute", False),
    )
    for setting in ("duplicate_radius_m", "duplicate_window_hours"):
        if setting in values:
            setattr(category, setting, values[setting])
    session.add(category)
    session.flush()
    record_audit(
        session,
        "admin.category.create",
        target_type="category",
        target_id=category.code,
        after=_category_dict(category),
    )
    return category


def update_category(session: Session, code: str, values: dict[str, Any]) -> Category:
    """Change a category's process, kind, urgency, limits, department, tag or activity."""
    category = get_category(session, code)
    errors = _check_category(session, values)
    if errors:
        raise ValidationFailed(_("The category was not saved."), errors=errors)
    before = _category_dict(category)
    for name, value in values.items():
        setattr(category, name, value)
    session.flush()
    old, new = _changed(before, _category_dict(category))
    if new:
        record_audit(
            session,
            "admin.category.update",
            target_type="category",
            target_id=category.code,
            before=old,
            after=new,
        )
    return category


def list_all_departments(
    session: Session, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[Department], str | None]:
    """List every department, active or not, in code order, a page at a time."""
    query = select(Department).order_by(Department.code).limit(limit + 1)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(Department.code > str(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda d: (d.code,))


def create_department(session: Session, values: dict[str, Any]) -> Department:
    """Add a department that handles cases (新增专业部门), recorded in the audit trail."""
    if _department_row(session, values["code"]) is not None:
        raise ValidationFailed(
            _("The department was not saved."),
            errors={"code": _("Department %(code)s exists already.", code=values["code"])},
        )
    department = Department(
        code=values["code"],
        name=values["name"],
        phone=values.get("phone"),
        active=values.get("active", True),
    )
    session.add(department)
    session.flush()
    record_audit(
        session,
        "admin.department.create",
        target_type="department",
        target_id=department.code,
        after=_department_dict(department),
    )
    return department


def update_department(session: Session, code: str, values: dict[str, Any]) -> Department:
    """Rename a department, change its phone, or take it out of (or back into) service."""
    department = _department_row(session, code)
    if department is None:
        raise NotFound(_("No department %(code)r.", code=code))
    if values.get("active") is False and department.active:
        rules = session.scalars(
            select(ResponsibilityRule.id).where(ResponsibilityRule.department_code == code)
        ).all()
        categories = session.scalars(
            select(Category.code).where(Category.department_code == code, Category.active.is_(True))
        ).all()
        if rules or categories:
            # A case routed to a department out of service would wait unseen until overdue.
            raise Conflict(
                _(
                    "Department %(code)s still receives cases: move its responsibility rules "
                    "(%(rules)s) and the categories it is the default of (%(categories)s) first.",
                    code=code,
                    rules=", ".join(str(r) for r in rules) or "-",
                    categories=", ".join(categories) or "-",
                ),
                extra={"rules": list(rules), "categories": list(categories)},
            )
    before = _department_dict(department)
    for name, value in values.items():
        setattr(department, name, value)
    session.flush()
    old, new = _changed(before, _department_dict(department))
    if new:
        record_audit(
            session,
            "admin.department.update",
            target_type="department",
            target_id=department.code,
            before=old,
            after=new,
        )
    return department


def list_rules(
    session: Session,
    *,
    category: str | None = None,
    area: str | None = None,
    department: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[ResponsibilityRule], str | None]:
    """List responsibility rules by id, filtered by category, area or department."""
    query = select(ResponsibilityRule).order_by(ResponsibilityRule.id).limit(limit + 1)
    if category:
        query = query.where(ResponsibilityRule.category_code == category)
    if area:
        query = query.where(ResponsibilityRule.area_code == area)
    if department:
        query = query.where(ResponsibilityRule.department_code == department)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(ResponsibilityRule.id > cursor_int(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda r: (r.id,))


def get_rule(session: Session, rule_id: int) -> ResponsibilityRule:
    """Return a responsibility rule by id, or raise NotFound."""
    rule = session.get(ResponsibilityRule, rule_id)
    if rule is None:
        raise NotFound(_("No responsibility rule %(id)s.", id=rule_id))
    return rule


def _check_rule(
    session: Session, values: dict[str, Any], rule: ResponsibilityRule | None = None
) -> None:
    errors: dict[str, list[str]] = {}
    category = values.get("category_code", rule.category_code if rule else None)
    area = values.get("area_code", rule.area_code if rule else None)
    department = values.get("department_code", rule.department_code if rule else None)
    if category is not None and _category_row(session, category) is None:
        errors["category"] = [_("No category %(code)r.", code=category)]
    if area is not None and not area_exists(session, area):
        errors["area"] = [_("No area with code %(code)r on the grid map.", code=area)]
    found = _department_row(session, department) if department is not None else None
    if found is None or not found.active:
        errors["department"] = [_("No active department %(code)r.", code=department)]
    if errors:
        raise ValidationFailed(_("The responsibility rule was not saved."), errors=errors)
    same = session.scalar(
        select(ResponsibilityRule).where(
            ResponsibilityRule.area_code == area,
            ResponsibilityRule.category_code.is_(None)
            if category is None
            else ResponsibilityRule.category_code == category,
        )
    )
    if same is not None and same is not rule:
        raise Conflict(
            _(
                "Rule %(id)s already covers this category in this area: change that one.",
                id=same.id,
            ),
            extra={"rule": same.id},
        )


def create_rule(session: Session, values: dict[str, Any]) -> ResponsibilityRule:
    """Add a responsibility rule (category × area → department), recorded in the audit."""
    _check_rule(session, values)
    rule = ResponsibilityRule(
        category_code=values.get("category_code"),
        area_code=values["area_code"],
        department_code=values["department_code"],
        note=values.get("note"),
    )
    session.add(rule)
    session.flush()
    record_audit(
        session, "admin.rule.create", target_type="rule", target_id=rule.id, after=_rule_dict(rule)
    )
    return rule


def update_rule(session: Session, rule_id: int, values: dict[str, Any]) -> ResponsibilityRule:
    """Change a rule's category, area, department or note; the next dispatch follows it."""
    rule = get_rule(session, rule_id)
    _check_rule(session, values, rule)
    before = _rule_dict(rule)
    for name, value in values.items():
        setattr(rule, name, value)
    session.flush()
    old, new = _changed(before, _rule_dict(rule))
    if new:
        record_audit(
            session,
            "admin.rule.update",
            target_type="rule",
            target_id=rule.id,
            before=old,
            after=new,
        )
    return rule


def delete_rule(session: Session, rule_id: int) -> None:
    """Remove a responsibility rule, recorded in the audit trail."""
    rule = get_rule(session, rule_id)
    before = _rule_dict(rule)
    session.delete(rule)
    session.flush()
    record_audit(session, "admin.rule.delete", target_type="rule", target_id=rule_id, before=before)


@dataclass(frozen=True)
class RouteAnswer:
    """Who would get a case of a category at a point, by which rule (派遣预演)."""

    category: Category
    location: Location
    rule: ResponsibilityRule | None
    department: Department | None
    handlers: int


def route_point(
    session: Session,
    category: str,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    *,
    check_seconds: float = 5.0,
) -> RouteAnswer:
    """Answer which department a dispatch would choose here, with the same rule lookup."""
    found = find_category(session, category)
    if found is None:
        raise ValidationFailed(
            _("Unknown category."), errors={"category": _("No category %(code)r.", code=category)}
        )
    location = locate_point(session, lon, lat, crs, with_workers=False, check_seconds=check_seconds)
    located = location.located
    codes = [
        located.grid.code,
        located.community.code if located.community else None,
        located.street.code if located.street else None,
        located.district.code if located.district else None,
    ]
    rule = responsible_department(session, found.code, codes)
    department = find_department(session, rule.department_code) if rule else None
    handlers = len(department_members(session, department.code)) if department else 0
    return RouteAnswer(found, location, rule, department, handlers)


def find_component(session: Session, code: str) -> Component | None:
    """Return the registered component with this code, or None."""
    return session.scalar(select(Component).where(Component.code == code))


def get_component(session: Session, component_id: int) -> Component | None:
    """Return a registered component by id, or None."""
    return session.get(Component, component_id)
