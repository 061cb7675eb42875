"""Seed the demo county 衡山县 (430423): map, catalogue, departments, rules, users, components.

Place names, codes and centres are real (``gridapp/data/hengshan_places.csv``, from
Vonng/adcode, CC BY 4.0); every polygon is generated (see ``gridapp.seed.geometry``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import shapely
from shapely.geometry import mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import geo
import workflow
from gridapp.accounts.models import DutyRole, User, UserGrid
from gridapp.catalogue.models import Category, Component, Department, ResponsibilityRule
from gridapp.grid.models import Area
from gridapp.grid.services import import_grid_map, locate_point
from gridapp.seed.geometry import Cell, ellipse_m, hull_m, partition, seeds_inside

COUNTY = "430423"
ENCLAVE = "430412"  # 南岳区, inside the county: a hole in its polygon
COUNTY_SEAT = "430423100"  # 开云镇
STREET_CODE_LENGTH = 9  # GB/T 30428.1: county 6 + street 3
URBAN_CORE_RADIUS_M = 1_500.0
DEMO_PASSWORD = "demo-pass-2026"
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
DEMO_OPEN311_KEY = "demo-open311-key"
# What citizens may report through Open311: the urban classes a passer-by sees (public
# facilities, roads, appearance, greenery; litter, adverts, building sites, street order),
# not emergencies (110/119) nor the social-governance and hotline classes.
OPEN311_MAJORS = frozenset(
    {
        ("component", "01"),
        ("component", "02"),
        ("component", "03"),
        ("component", "04"),
        ("event", "01"),
        ("event", "02"),
        ("event", "03"),
        ("event", "05"),
    }
)
ATTRIBUTION = "Place names and codes: Vonng/adcode (CC BY 4.0); polygons generated, not surveyed."

# Time limits the directory leaves empty are local choices (DESIGN §4); these defaults follow
# common 数字城管 practice: events are handled faster than repairs of components, and urgent
# classes count natural hours, day and night.
DEFAULT_HANDLING_LIMITS: dict[tuple[str, str], dict[str, Any]] = {
    ("component", "normal"): {"amount": 5, "unit": "working_days"},
    ("event", "normal"): {"amount": 2, "unit": "working_days"},
    ("component", "urgent"): {"amount": 4, "unit": "hours"},
    ("event", "urgent"): {"amount": 2, "unit": "hours"},
}
KIND_PREFIX = {"component": "BJ", "event": "SJ"}
STANDARD_2013 = "GB/T 30428.2-2013"


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("gridapp.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def display_name(name: str) -> str:
    """Drop the committee suffixes (居委会, 村委会) the statistical list carries."""
    for suffix in ("社区居民委员会", "居民委员会", "村民委员会", "居委会", "村委会"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            trimmed = name[: -len(suffix)]
            return (
                trimmed
                if trimmed.endswith(("社区", "村"))
                else trimmed + ("社区" if "居" in suffix else "村")
            )
    return name


@dataclass
class DemoMap:
    cells: list[Cell] = field(default_factory=list)

    def feature_collection(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "name": "衡山县 demo grid map (generated polygons)",
            "features": [
                {
                    "type": "Feature",
                    "geometry": mapping(c.geometry),
                    "properties": {
                        "code": c.code,
                        "name": c.name,
                        "level": c.level,
                        **({"parent": c.parent} if c.parent else {}),
                        "layer": "urban",
                        **({"setting": c.setting} if c.setting else {}),
                    },
                }
                for c in self.cells
            ],
        }

    def count(self, level: str) -> int:
        return sum(1 for c in self.cells if c.level == level)


def build_demo_map() -> DemoMap:
    """Generate the county, its townships, villages/communities and unit grids."""
    places = _rows("hengshan_places.csv")
    centre = {
        p["code"]: (float(p["lon_wgs84"]), float(p["lat_wgs84"])) for p in places if p["lon_wgs84"]
    }
    streets = [p for p in places if p["level"] == "street" and p["parent"] == COUNTY]
    enclave_streets = [p for p in places if p["level"] == "street" and p["parent"] == ENCLAVE]
    villages: dict[str, list[dict[str, str]]] = defaultdict(list)
    for p in places:
        if p["level"] == "community" and p["parent"].startswith(COUNTY):
            villages[p["parent"]].append(p)

    enclave = hull_m([centre[s["code"]] for s in enclave_streets], 3_000.0)
    county_shape = hull_m([centre[s["code"]] for s in streets] + [centre[COUNTY]], 6_000.0)
    county_shape = county_shape.difference(enclave)
    county_name = next(p["name"] for p in places if p["code"] == COUNTY)
    result = DemoMap([Cell(COUNTY, county_name, "district", None, county_shape)])

    # The county seat's urban area lies east of the township's centre point: one more seed there
    # keeps it inside 开云镇.
    seeds = [centre[s["code"]] for s in streets] + [centre[COUNTY]]
    cells = partition(county_shape, seeds)
    township_shapes = {s["code"]: cells[i] for i, s in enumerate(streets)}
    township_shapes[COUNTY_SEAT] = shapely.union(township_shapes[COUNTY_SEAT], cells[-1])
    for s in streets:
        result.cells.append(
            Cell(s["code"], s["name"], "street", COUNTY, township_shapes[s["code"]])
        )

    core = ellipse_m(*centre[COUNTY], URBAN_CORE_RADIUS_M).intersection(
        township_shapes[COUNTY_SEAT]
    )
    for s in streets:
        code = s["code"]
        members = sorted(villages[code], key=lambda p: p["code"])
        if code == COUNTY_SEAT:
            urban = [p for p in members if "社区" in p["name"]]
            rural = [p for p in members if p not in urban]
            result.cells += _communities(urban, core, centre, code, gridded=True)
            result.cells += _communities(
                rural, township_shapes[code].difference(core), centre, code, gridded=False
            )
        else:
            result.cells += _communities(
                members, township_shapes[code], centre, code, gridded=False
            )
    return result


def _communities(
    members: list[dict[str, str]],
    area: Any,
    centre: dict[str, tuple[float, float]],
    parent: str,
    *,
    gridded: bool,
) -> Iterator[Cell]:
    if not members:
        return
    # The county seat's gridded communities are urban (城区); the villages (村) rural, their
    # grids inherit it.
    setting = "urban" if gridded else "rural"
    seeds = seeds_inside(area, [centre.get(p["code"]) for p in members], int(parent))
    for member, shape in zip(members, partition(area, seeds), strict=True):
        code = member["code"]
        yield Cell(code, display_name(member["name"]), "community", parent, shape, setting)
        # Urban communities are cut into 100 m unit grids (万米单元网格); a rural village is one
        # grid, as rural grid management usually draws them.
        pieces = geo.generate_unit_grids(shape, cell_m=100.0) if gridded else [shape]
        for seq, piece in enumerate(pieces, start=1):
            yield Cell(
                f"{code}{seq:03d}",
                f"{display_name(member['name'])}{seq:03d}网格",
                "grid",
                code,
                piece,
            )


def seed_departments(session: Session) -> dict[str, str]:
    """Create the demo departments; return directory name → department code."""
    by_directory = {}
    for row in _rows("demo_departments.csv"):
        session.add(Department(code=row["code"], name=row["name"]))
        by_directory[row["directory_name"]] = row["code"]
    session.flush()
    return by_directory


def seed_township_governments(session: Session) -> dict[str, str]:
    """One department per township government (乡镇人民政府) for area-specific rules."""
    codes = {}
    for area in session.scalars(
        select(Area).where(Area.level == "street", Area.parent_code == COUNTY).order_by(Area.code)
    ):
        code = f"gov-{area.code}"
        session.add(Department(code=code, name=f"{area.name}人民政府"))
        codes[area.code] = code
    session.flush()
    return codes


# Which process a class runs (each category belongs to one): the social-governance classes
# (majors 90–97, by practice) the social process, the 12345 request types the hotline's.
SOCIAL_MAJOR_FROM = "90"
# The social classes that are disputes (矛盾纠纷: 邻里, 婚姻家庭, 损害赔偿, 房屋宅基地, 村务管理 …):
# handling one records whether it was resolved (化解), which the areas' 化解率 counts.
DISPUTE_MAJORS = frozenset({"90"})
CATEGORY_FILES = (
    ("categories.csv", None),
    ("hotline_categories.csv", workflow.HOTLINE_12345.code),
)
HOTLINE_PREFIX = "RX"  # 热线
URBAN = workflow.URBAN_MANAGEMENT.code


def _process_of(row: dict[str, str], fixed: str | None) -> str:
    if fixed is not None:
        return fixed
    if row["major_code"] >= SOCIAL_MAJOR_FROM:
        return workflow.SOCIAL_GOVERNANCE.code
    return URBAN


def seed_categories(session: Session, departments: dict[str, str]) -> int:
    """Load the GB/T 30428.2-2013 layout classes, the social classes and the hotline's types."""
    count = 0
    for name, fixed in CATEGORY_FILES:
        for row in _rows(name):
            kind = row["kind"]
            key = (kind, row["urgency"])
            if row["time_limit"]:
                limit = {"amount": float(row["time_limit"]), "unit": row["time_unit"]}
            else:
                limit = DEFAULT_HANDLING_LIMITS[key]
            process = _process_of(row, fixed)
            prefix = HOTLINE_PREFIX if fixed == workflow.HOTLINE_12345.code else KIND_PREFIX[kind]
            session.add(
                Category(
                    code=f"{prefix}{row['major_code']}{row['minor_code']}",
                    name=row["minor_name"],
                    kind=kind,
                    standard=STANDARD_2013 if process == URBAN else "practice",
                    major_code=row["major_code"],
                    major_name=row["major_name"],
                    minor_code=row["minor_code"],
                    department_code=departments[row["default_department"]],
                    urgency=row["urgency"],
                    time_limits={"handling": limit},
                    process=process,
                    open311=process == URBAN and (kind, row["major_code"]) in OPEN311_MAJORS,
                    dispute=process == workflow.SOCIAL_GOVERNANCE.code
                    and row["major_code"] in DISPUTE_MAJORS,
                )
            )
            count += 1
    session.flush()
    return count


def seed_rules(session: Session, governments: dict[str, str]) -> int:
    """Each class goes to its default department county-wide; township matters go to the town."""
    count = 0
    for category in session.scalars(select(Category).order_by(Category.code)):
        assert category.department_code is not None
        session.add(
            ResponsibilityRule(
                category_code=category.code,
                area_code=COUNTY,
                department_code=category.department_code,
                note="directory default",
            )
        )
        count += 1
        if category.department_code in {"street-office", "justice"}:
            for street_code, gov in governments.items():
                session.add(
                    ResponsibilityRule(
                        category_code=category.code,
                        area_code=street_code,
                        department_code=gov,
                        note="township matter",
                    )
                )
                count += 1
    session.flush()
    return count


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    department: str | None = None
    grids: tuple[str, ...] = ()
    district: str | None = None


def demo_users(session: Session) -> list[DemoUser]:
    """The demo users of DESIGN §9, then one handler per department a rule can choose."""
    communities = list(
        session.scalars(
            select(Area.code)
            .where(Area.level == "community", Area.parent_code == COUNTY_SEAT)
            .order_by(Area.code)
        )
    )
    gridded = [
        c
        for c in communities
        if (
            session.scalar(
                select(func.count())
                .select_from(Area)
                .where(Area.level == "grid", Area.parent_code == c)
            )
            or 0
        )
        > 1
    ]
    first = _grids_of(session, gridded[0])
    second = _grids_of(session, gridded[1])
    named = [
        DemoUser("grid_worker", "grid_worker", grids=tuple(first), district=COUNTY),
        DemoUser("grid_worker2", "grid_worker", grids=tuple(second), district=COUNTY),
        DemoUser("acceptor", "acceptor", district=COUNTY),
        DemoUser("dispatcher", "dispatcher", district=COUNTY),
        DemoUser("shift_leader", "shift_leader", district=COUNTY),
        DemoUser("handler", "handler", department="urban-enforcement", district=COUNTY),
        DemoUser("handler2", "handler", department="sanitation", district=COUNTY),
        DemoUser("dept_admin", "dept_admin", department="urban-enforcement", district=COUNTY),
        DemoUser("supervisor", "supervisor", district=COUNTY),
        DemoUser("admin", "admin", district=COUNTY),
        DemoUser("hotline_operator", "hotline_operator", district=COUNTY),
        # The governance centres (综治中心) of grid_worker's community and street, which hold
        # social-governance events level by level (the county's dispatcher holds the last one).
        DemoUser("community_center", "dispatcher", district=gridded[0]),
        DemoUser("street_center", "dispatcher", district=gridded[0][:STREET_CODE_LENGTH]),
        # The separated duties (三权分立) beside `admin`: users and sessions; the audit trail.
        DemoUser("security_admin", DutyRole.security_admin.value),
        DemoUser("audit_admin", DutyRole.audit_admin.value),
    ]
    # A case dispatched by the rules must reach someone who can take it: every department a
    # rule or a category default names gets a handler, unless a named handler covers it.
    covered = {u.department for u in named if u.role == "handler"}
    return named + [
        DemoUser(f"handler-{code}", "handler", department=code, district=COUNTY)
        for code in responsible_departments(session)
        if code not in covered
    ]


def responsible_departments(session: Session) -> list[str]:
    """Return the departments a responsibility rule or a category default can choose."""
    chosen = select(ResponsibilityRule.department_code).union(
        select(Category.department_code).where(Category.department_code.is_not(None))
    )
    return sorted(session.scalars(chosen))


def _grids_of(session: Session, community: str) -> list[str]:
    return list(
        session.scalars(
            select(Area.code)
            .where(Area.level == "grid", Area.parent_code == community)
            .order_by(Area.code)
        )
    )


def seed_users(session: Session) -> list[User]:
    """Create the demo users, all with the demo password."""
    from gridapp.core.security import MFA_ROLES, hash_password

    # One argon2 hash for the one published password: hashing it afresh for each of some fifty
    # users would cost most of a second apiece, on every `make run` and test run.
    password_hash = hash_password(DEMO_PASSWORD)
    users = [
        User(
            username=demo.username,
            password_hash=password_hash,
            role=demo.role,
            display_name=f"演示 {demo.username}",
            department_code=demo.department,
            district_code=demo.district,
            totp_secret=DEMO_TOTP_SECRET if demo.role in MFA_ROLES else None,
            grids=[UserGrid(grid_code=code) for code in sorted(demo.grids)],
        )
        for demo in demo_users(session)
    ]
    session.add_all(users)
    session.flush()
    return users


def seed_components(session: Session, per_class: int = 12) -> int:
    """Register manhole covers and street lamps at the centres of urban unit grids."""
    grids = list(
        session.scalars(
            select(Area)
            .where(Area.level == "grid", Area.parent_code.like(f"{COUNTY_SEAT}%"))
            .order_by(Area.code)
        )
    )
    urban = [g for g in grids if len(g.code) == 15 and g.area_km2 < 0.02]
    count = 0
    for category_code in ("BJ0101", "BJ0102", "BJ0103", "BJ0114"):
        category = session.scalar(select(Category).where(Category.code == category_code))
        if category is None:
            continue
        step = max(1, len(urban) // per_class)
        for seq, grid in enumerate(urban[::step][:per_class], start=1):
            point = grid.geometry.representative_point()
            session.add(
                Component(
                    code=f"{COUNTY}{category.major_code}{category.minor_code}{seq:06d}",
                    category_code=category.code,
                    name=f"{category.name} {seq}",
                    location=point,
                    lon=point.x,
                    lat=point.y,
                    grid_code=grid.code,
                    department_code=category.department_code,
                )
            )
            count += 1
    session.flush()
    return count


@dataclass(frozen=True)
class SeedReport:
    areas: dict[str, int]
    categories: int
    departments: int
    rules: int
    components: int
    users: list[DemoUser]
    sample_point: tuple[float, float] | None = None


def is_seeded(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Area)) not in (0, None)


def seed_channels(session: Session, grid_code: str, secret_key: str | None) -> None:
    """Seed the demo Open311 key and the demo sensor on a manhole cover in grid_worker's grid."""
    from flask import current_app

    from gridapp.channels.iot.services import DEMO_DEVICE, DEMO_DEVICE_SECRET, register_device
    from gridapp.channels.open311.services import issue_key

    issue_key(session, None, "demo integrator", secret=DEMO_OPEN311_KEY)
    grid = session.scalar(select(Area).where(Area.code == grid_code))
    category = session.scalar(select(Category).where(Category.code == "BJ0101"))
    if grid is None or category is None:
        return
    point = grid.geometry.representative_point()
    # Sequence 900001 and up: the demo's sensor-fitted covers, apart from the registry's 1–12.
    code = f"{COUNTY}{category.major_code}{category.minor_code}900001"
    session.add(
        Component(
            code=code,
            category_code=category.code,
            name=f"{category.name} 900001",
            location=point,
            lon=point.x,
            lat=point.y,
            grid_code=grid.code,
            department_code=category.department_code,
        )
    )
    session.flush()
    register_device(
        session,
        secret_key or current_app.config["GRIDAPP"].secret_key,
        None,
        code=DEMO_DEVICE,
        component=code,
        name="井盖倾斜传感器",
        secret=DEMO_DEVICE_SECRET,
    )


def seed_demo(session: Session, secret_key: str | None = None) -> SeedReport:
    """Seed the whole demo county into an empty database (flushes; the caller commits).

    The demo sensor's secret is encrypted under ``secret_key`` (the app's SECRET_KEY when
    not given).
    """
    demo = build_demo_map()
    import_grid_map(session, demo.feature_collection(), generated=True, source="seed")
    departments = seed_departments(session)
    governments = seed_township_governments(session)
    categories = seed_categories(session, departments)
    rules = seed_rules(session, governments)
    users = demo_users(session)
    seed_users(session)
    components = seed_components(session)
    seed_channels(session, users[0].grids[0], secret_key)
    first_grid = session.scalar(select(Area).where(Area.code == users[0].grids[0]))
    sample = None
    if first_grid is not None:
        p = first_grid.geometry.representative_point()
        sample = (round(p.x, 6), round(p.y, 6))
        locate_point(session, *sample, check_seconds=0)  # the demo must locate its own grids
    return SeedReport(
        areas={lvl: demo.count(lvl) for lvl in ("district", "street", "community", "grid")},
        categories=categories,
        departments=len(departments) + len(governments),
        rules=rules,
        components=components,
        users=users,
        sample_point=sample,
    )
