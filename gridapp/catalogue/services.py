"""The catalogue's use cases: find categories and departments, route a case by the rules."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

import geo
from gridapp.catalogue.models import Category, Component, Department, ResponsibilityRule

COMPONENT_RADIUS_M = 30.0
# The hot path's statement is built once: building one costs more than running it.
CATEGORY_BY_CODE = select(Category).where(Category.code == bindparam("code"))


def find_category(session: Session, code: str) -> Category | None:
    """Return the category with this code, or None."""
    return session.scalar(CATEGORY_BY_CODE, {"code": code})


def find_department(session: Session, code: str) -> Department | None:
    """Return the department with this code, or None."""
    return session.scalar(select(Department).where(Department.code == code))


def responsible_department(
    session: Session, category: str, area_codes: Sequence[str | None]
) -> ResponsibilityRule | None:
    """Find the most specific rule: the longest area code, a named category before any."""
    codes = [c for c in area_codes if c]
    rules = session.scalars(
        select(ResponsibilityRule).where(
            ResponsibilityRule.area_code.in_(codes),
            or_(
                ResponsibilityRule.category_code == category,
                ResponsibilityRule.category_code.is_(None),
            ),
        )
    ).all()
    return max(rules, key=lambda r: (len(r.area_code), r.category_code is not None), default=None)


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


def find_component(session: Session, code: str) -> Component | None:
    """Return the registered component with this code, or None."""
    return session.scalar(select(Component).where(Component.code == code))


def get_component(session: Session, component_id: int) -> Component | None:
    """Return a registered component by id, or None."""
    return session.get(Component, component_id)
