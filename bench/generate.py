"""The benchmarks' data: a county's grid map and a year of cases, from a fixed seed.

Run: python -m bench.generate DATABASE_URL [--size city|county|test] [--seed N]

The map (单元网格) is what a real county hands over: jittered Voronoi cells clipped to an
irregular county outline, their edges bent so each has about 20 vertices; some cells have a hole
(a park or a compound that is a unit grid of its own) and the ones a river crosses are
MultiPolygons (both banks; the water is a cell of its own). Cells are grouped into communities
and streets by their nearest centre, as the codes' hierarchy needs.

The cases (案卷) are spread over a year with the proportions a city sees: most closed on time,
some overdue (the SLA sweep's 督办 in their history), reworked, extended, suspended, returned to
dispatch, rejected; the last weeks' still open at each step. Each case has its full history
(``case_event``) and each event the facts the workflow's own records and evaluation reads: the
department a dispatch named, the deadline of the step an action ended and whether it came in
time, each new deadline (signing for, 签收, starts the handling clock), the extension asked for
and granted, the time a suspension paused. Step limits are the urban process's in natural
hours (no calendar); actors are not named, and hashes are left empty (the chain is not what is
measured).

Everything is vectorised with numpy and written in bulk: ``COPY`` on PostgreSQL, one
``executemany`` per table on SQLite, the secondary indexes of ``case`` and ``case_event``
dropped first and built once after; a million cases take a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Polygon

import geo
from geo.generate import M_PER_DEG_LAT, m_per_deg_lon
from workflow import LOCAL_ZONE

CENTRE_LON = 112.45  # 衡阳县, roughly: north-west of the demo county
CENTRE_LAT = 27.10
COUNTY = "430421"
COUNTY_NAME = "衡阳县"
CELL_M = 200.0  # a unit grid is about 200 m across, as in a county seat
GRIDS_PER_COMMUNITY = 100
COMMUNITIES_PER_STREET = 20
YEAR_SECONDS = 365 * 86400


def year_start(end: datetime | None = None) -> datetime:
    """The start of the generated year, which ends at ``end`` (default: today's local midnight).

    Cases end where the clock is now, so open steps are as overdue as real ones: only the
    dates move with the day, the seed decides everything else.
    """
    if end is None:
        today = datetime.now(LOCAL_ZONE).date()
        end = datetime.combine(today, datetime.min.time(), tzinfo=LOCAL_ZONE)
    return (end - timedelta(seconds=YEAR_SECONDS)).astimezone(UTC)


@dataclass(frozen=True)
class Size:
    """How much data: unit grids on the map and cases over the year."""

    cells: int
    cases: int


SIZES = {
    "city": Size(100_000, 1_000_000),
    "county": Size(10_000, 100_000),
    "test": Size(400, 3_000),
}


# -- the map ----------------------------------------------------------------------------------


def _outline(rng: np.random.Generator, radius_m: float) -> Polygon:
    """An irregular county outline about radius_m across, in local metres around (0, 0)."""
    angles = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    radii = radius_m * (1 + 0.18 * np.sin(3 * angles + rng.uniform(0, 6)))
    radii *= 1 + 0.06 * np.sin(11 * angles + rng.uniform(0, 6))
    radii *= rng.uniform(0.97, 1.03, angles.size)
    outline: Polygon = Polygon(np.c_[radii * np.cos(angles), radii * np.sin(angles)]).buffer(0)
    return outline


def _bend(coords: NDArray[np.float64], phase: NDArray[np.float64]) -> NDArray[np.float64]:
    """Displace every vertex by a smooth field: shared vertices stay shared, edges wiggle."""
    x, y = coords[:, 0], coords[:, 1]
    a = 0.06 * CELL_M
    dx = a * np.sin(y / (0.23 * CELL_M) + phase[0]) + a * np.sin(x / (0.71 * CELL_M) + phase[1])
    dy = a * np.sin(x / (0.19 * CELL_M) + phase[2]) + a * np.sin(y / (0.67 * CELL_M) + phase[3])
    return np.c_[x + dx, y + dy]


def _to_lonlat(geoms: Any) -> Any:
    scale = np.array([m_per_deg_lon(CENTRE_LAT), M_PER_DEG_LAT])

    def transform(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.round(coords / scale + [CENTRE_LON, CENTRE_LAT], 7)

    return shapely.transform(geoms, transform)


def _polygonal(geom: Any, min_area: float = 1.0) -> Polygon | MultiPolygon | None:
    """The polygons of a geometry bigger than ``min_area`` (square metres locally)."""
    parts = [
        p for p in shapely.get_parts(geom).tolist() if isinstance(p, Polygon) and p.area > min_area
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _lattice(rng: np.random.Generator, extent: float, spacing: float) -> NDArray[np.float64]:
    """Jittered hexagonal lattice points over a square: regions of even size, ~6 neighbours."""
    step = spacing * 1.0746  # a hexagon of this spacing has the area of a spacing² square
    dy = step * math.sqrt(3) / 2
    gx, gy = np.meshgrid(np.arange(-extent, extent, step), np.arange(-extent, extent, dy))
    gx = gx + (np.arange(gx.shape[0])[:, None] % 2) * step / 2
    points = np.c_[gx.ravel(), gy.ravel()]
    return points + rng.uniform(-0.3, 0.3, points.shape) * step


def _regions(
    rng: np.random.Generator, parents: NDArray[Any], extent: float, spacing: float, phase: Any
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Cut each parent region into bent Voronoi cells of about ``spacing``; return the pieces
    and the index of the parent each lies in (pieces of one cell in two parents are two)."""
    seeds = _lattice(rng, extent, spacing)
    envelope = shapely.envelope(shapely.union_all(shapely.envelope(parents))).buffer(2 * spacing)
    seeds = seeds[shapely.contains_xy(envelope, seeds[:, 0], seeds[:, 1])]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=envelope.buffer(spacing))
    )
    # About 20 vertices a cell: every edge cut in three, then bent by one smooth field.
    cells = shapely.transform(shapely.segmentize(cells, spacing / 5.5), lambda c: _bend(c, phase))
    shapely.prepare(parents)
    cell_i, parent_i = shapely.STRtree(parents).query(cells, predicate="intersects")
    whole = shapely.contains_properly(parents[parent_i], cells[cell_i])
    pieces = np.where(whole, cells[cell_i], shapely.intersection(cells[cell_i], parents[parent_i]))
    keep = ~shapely.is_empty(pieces) & (shapely.area(pieces) > 1.0)
    pieces = np.array([_polygonal(g) for g in pieces[keep]], dtype=object)
    found = np.array([g is not None for g in pieces], dtype=bool)
    return pieces[found], parent_i[keep][found]


@dataclass(frozen=True)
class CountyMap:
    """The generated map: every area, and the unit grids in the countryside (农村)."""

    areas: list[geo.AreaShape]
    rural: frozenset[str]

    @property
    def grids(self) -> list[geo.AreaShape]:
        return [a for a in self.areas if a.level == geo.Level.grid]


def county_map(cells: int, seed: int = 2026) -> CountyMap:
    """Return the county, its streets, communities and about ``cells`` unit grids (WGS84).

    Each level is a Voronoi partition of its own, clipped to the level above, so the levels
    nest exactly as a surveyed map does.
    """
    rng = np.random.default_rng(seed)
    # Clipping at every level adds pieces: about 0.73 Voronoi cells make one unit grid.
    radius = math.sqrt(0.73 * cells * CELL_M**2 / math.pi)
    extent = 1.3 * radius
    phase = rng.uniform(0, 2 * np.pi, 4)
    county = _outline(rng, radius)
    county = shapely.transform(shapely.segmentize(county, CELL_M / 3), lambda c: _bend(c, phase))
    county = county.buffer(0)
    community_m = CELL_M * math.sqrt(GRIDS_PER_COMMUNITY)
    street_m = community_m * math.sqrt(COMMUNITIES_PER_STREET)
    streets, _ = _regions(rng, np.array([county]), extent, street_m, phase)
    communities, street_of = _regions(rng, streets, extent, community_m, phase)
    grids, community_of = _regions(rng, communities, extent, CELL_M, phase)
    # A river across the county: the cells it crosses keep both banks as one MultiPolygon, the
    # water in each is a unit grid of its own.
    t = np.linspace(-1.2 * radius, 1.2 * radius, 400)
    river = LineString(np.c_[t, 0.25 * radius * np.sin(t / (0.3 * radius)) + 0.1 * radius])
    water = river.buffer(0.22 * CELL_M).intersection(county)
    shapely.prepare(water)
    crossed = shapely.intersects(water, grids)
    shapes: list[tuple[Polygon | MultiPolygon, str, int]] = []
    for n, cell in enumerate(grids.tolist()):
        parent = int(community_of[n])
        if crossed[n]:
            banks = _polygonal(shapely.difference(cell, water))
            stream = _polygonal(shapely.intersection(cell, water))
            if stream is not None:
                shapes.append((stream, "水域", parent))
            cell = banks
        elif n % 97 == 0 and isinstance(cell, Polygon):
            # A park or a walled compound inside the cell: a unit grid of its own, in its hole.
            inner = shapely.affinity.scale(cell, 0.35, 0.35, origin=cell.centroid)
            if cell.contains_properly(inner):
                shapes.append((inner, "园区", parent))
                cell = _polygonal(shapely.difference(cell, inner))
        if cell is not None:
            shapes.append((cell, "网格", parent))
    reps = shapely.point_on_surface(np.array([g for g, _, _ in shapes], dtype=object))
    rural = shapely.distance(shapely.points(0.0, 0.0), reps) > 0.75 * radius
    areas = [geo.AreaShape(COUNTY, COUNTY_NAME, geo.Level.district, None, _lonlat(county))]
    street_codes = [f"{COUNTY}{101 + s:03d}" for s in range(len(streets))]
    areas += [
        geo.AreaShape(code, f"街道{s + 1}", geo.Level.street, COUNTY, _lonlat(streets[s]))
        for s, code in enumerate(street_codes)
    ]
    community_codes: list[str] = []
    numbered: dict[str, int] = {}
    for c, street_i in enumerate(street_of.tolist()):
        street = street_codes[street_i]
        numbered[street] = numbered.get(street, 0) + 1
        community_codes.append(f"{street}{numbered[street]:03d}")
        areas.append(
            geo.AreaShape(
                community_codes[-1],
                f"社区{c + 1}",
                geo.Level.community,
                street,
                _lonlat(communities[c]),
            )
        )
    numbered = {}
    rural_codes: set[str] = set()
    for n, (cell, kind, parent) in enumerate(shapes):
        community = community_codes[parent]
        numbered[community] = numbered.get(community, 0) + 1
        areas.append(
            geo.AreaShape(
                f"{community}{numbered[community]:03d}",
                f"{kind}{numbered[community]}",
                geo.Level.grid,
                community,
                _lonlat(cell),
            )
        )
        if rural[n]:
            rural_codes.add(areas[-1].code)
    return CountyMap(areas, frozenset(rural_codes))


def _lonlat(geom: Any) -> Polygon | MultiPolygon:
    """The geometry in WGS84 to 1e-7 degrees (1 cm), made valid if rounding folded an edge."""
    result = _to_lonlat(geom)
    if not result.is_valid:
        result = _polygonal(shapely.make_valid(result), 0.0)
    assert result is not None
    return result


# -- the cases --------------------------------------------------------------------------------

# One step of a history: action, from state, to state, role, mean delay before it (hours).
Step = tuple[str, str | None, str, str, float]
# The department signs for (签收) a dispatched case: its handling clock starts then. Its delays
# come from a generator of their own, so the seed's other draws are what they were without it.
ACKNOWLEDGE: Step = ("acknowledge", "dispatched", "handling", "handler", 0.3)
_ACCEPT: list[Step] = [
    ("accept", "reported", "accepted", "acceptor", 0.15),
    ("file", "accepted", "filed", "shift_leader", 0.3),
    ("dispatch", "filed", "dispatched", "dispatcher", 0.3),
    ACKNOWLEDGE,
]
_FEEDBACK: list[Step] = [
    ("feedback", "handling", "handled", "handler", 30.0),
    ("assign_verification", "handled", "verifying", "acceptor", 0.3),
    ("verify_reply", "verifying", "verified", "grid_worker", 1.5),
]
_CLOSE: list[Step] = [("close", "verified", "closed", "shift_leader", 0.5)]
# The proportions a city sees over a year (share of all cases) and each kind's history.
HISTORIES: dict[str, tuple[float, list[Step]]] = {
    "closed_on_time": (0.55, _ACCEPT + _FEEDBACK + _CLOSE),
    "evaluated": (
        0.05,
        _ACCEPT + _FEEDBACK + _CLOSE + [("evaluate", "closed", "evaluated", "supervisor", 24.0)],
    ),
    "overdue": (
        0.08,
        [
            *_ACCEPT,
            ("supervise", "handling", "handling", "system", 60.0),
            ("feedback", "handling", "handled", "handler", 20.0),
            *_FEEDBACK[1:],
            *_CLOSE,
        ],
    ),
    "reworked": (
        0.06,
        _ACCEPT
        + _FEEDBACK
        + [
            ("rework", "verified", "handling", "shift_leader", 0.5),
        ]
        + _FEEDBACK
        + _CLOSE,
    ),
    "extended": (
        0.05,
        [
            *_ACCEPT,
            ("request_extension", "handling", "extension_requested", "handler", 20.0),
            ("approve_extension", "extension_requested", "handling", "dispatcher", 1.0),
            *_FEEDBACK,
            *_CLOSE,
        ],
    ),
    "suspended": (
        0.02,
        [
            *_ACCEPT,
            ("request_suspension", "handling", "suspension_requested", "handler", 10.0),
            ("approve_suspension", "suspension_requested", "suspended", "shift_leader", 2.0),
            ("resume", "suspended", "handling", "dispatcher", 400.0),
            *_FEEDBACK,
            *_CLOSE,
        ],
    ),
    "returned": (
        0.04,
        [
            *_ACCEPT,
            ("request_return", "handling", "return_requested", "handler", 4.0),
            ("approve_return", "return_requested", "filed", "dispatcher", 1.0),
            ("dispatch", "filed", "dispatched", "dispatcher", 0.3),
            ACKNOWLEDGE,
            *_FEEDBACK,
            *_CLOSE,
        ],
    ),
    "rejected": (0.07, [("reject", "reported", "void", "acceptor", 0.2)]),
    "self_handled": (0.08, [("self_handle", "reported", "closed", "grid_worker", 0.3)]),
}
SOURCES = (("grid_worker", 0.62), ("hotline", 0.2), ("citizen", 0.13), ("sensor", 0.05))
HANDLING_HOURS = 72.0  # the usual handling limit: the deadline of a case open in handling
# Each state's step limit in hours, as the urban process sets them (`workflow.processes`), in
# natural time (the generator has no calendar); a state absent here has no clock of its own.
LIMIT_HOURS = {
    "reported": 10 / 60,
    "accepted": 0.5,  # 立案+派遣 together: `file` carries this step into `filed`
    "filed": 0.5,  # a returned case's dispatch
    "dispatched": 0.5,  # 签收
    "handling": HANDLING_HOURS,
    "handled": 0.5,
    "verifying": 1.0,  # rural grids: twice that
    "verified": 1.0,
}
# Rows that keep the running step's deadline (requests, 督办); the others end it.
KEEP_CLOCK = frozenset({"supervise", "request_return", "request_extension", "request_suspension"})


def _clock_facts(
    step: Step,
    rows: NDArray[np.int64],
    at: NDArray[np.float64],
    running: NDArray[np.float64],
    paused: NDArray[np.float64],
    asked: NDArray[np.float64],
    rural: NDArray[np.bool_],
) -> dict[str, Any]:
    """Run the step clock for ``rows`` taking ``step`` at ``at`` and return what its event
    records, as `gridapp.cases.actions._record_clock` and the clock effects write it.

    ``running`` (the deadline in force), ``paused`` and ``asked`` are updated in place. Values
    are arrays over ``rows`` (NaN: not recorded for that case).
    """
    action, from_state, to_state, _, _ = step
    now_due = running[rows]
    data: dict[str, Any] = {}
    if action in KEEP_CLOCK:
        if action == "request_extension":
            # Asks for one more handling limit (`record_extension_request`: ``until``).
            asked[rows] = now_due + HANDLING_HOURS * 3600.0
            data["until"] = asked[rows]
    elif action == "approve_suspension":
        paused[rows] = at  # 挂账: the clock stops; nothing else is recorded
    elif action == "resume":
        # The working time left when paused runs again from now.
        running[rows] = at + (now_due - paused[rows])
        data["deadline"] = running[rows]
        data["paused_seconds"] = np.floor(at - paused[rows])
    elif action == "approve_extension":
        running[rows] = asked[rows]
        data["until"] = asked[rows]
        data["previous_deadline"] = now_due
    else:
        # The step ends: its deadline and whether this came in time; the next one starts
        # (none into a state without a limit), or carries on for a filing (立案+派遣).
        data["step"] = (from_state, now_due, at <= now_due)
        if action == "file":
            new = now_due
        elif to_state in LIMIT_HOURS:
            hours = np.full(rows.size, LIMIT_HOURS[to_state])
            if to_state == "verifying":
                hours[rural[rows]] *= 2
            new = at + hours * 3600.0
        else:
            new = np.full(rows.size, np.nan)
        running[rows] = new
        data["deadline"] = new
    return data


def _iso(seconds: NDArray[np.float64], start: datetime) -> list[str | None]:
    """Aware UTC ISO times, as an event's data holds them (``datetime.isoformat``)."""
    base = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    stamps = base + (np.nan_to_num(seconds) * 1e6).astype("timedelta64[us]")
    text = np.char.add(np.datetime_as_string(stamps, unit="us"), "+00:00").tolist()
    return [None if gone else t for gone, t in zip(np.isnan(seconds).tolist(), text, strict=True)]


def _event_data(
    data: dict[str, Any], departments: NDArray[Any], start: datetime
) -> NDArray[np.object_]:
    """One JSON text per row: the facts ``_clock_facts`` and the history loop gathered."""
    size = departments.size
    parts: list[list[str]] = []
    if data.get("department"):
        parts.append([f'"department": {code}' for code in departments.tolist()])
    if "step" in data:
        state, due, on_time = data["step"]
        parts.append(
            [
                ""
                if t is None
                else f'"step": {{"state": "{state}", "deadline": "{t}", '
                f'"on_time": {"true" if ok else "false"}}}'
                for t, ok in zip(_iso(due, start), on_time.tolist(), strict=True)
            ]
        )
    for name in ("deadline", "until", "previous_deadline"):
        if name in data:
            parts.append(["" if t is None else f'"{name}": "{t}"' for t in _iso(data[name], start)])
    for name in ("paused_seconds", "rework_count", "supervise_count"):
        if name in data:
            parts.append([f'"{name}": {int(v)}' for v in data[name].tolist()])
    if "passed" in data:
        parts.append([f'"passed": {"true" if data["passed"] else "false"}'] * size)
    texts = ["{" + ", ".join(p for p in row if p) + "}" for row in zip(*parts, strict=True)]
    return np.array(texts if parts else ["{}"] * size, dtype=object)


@dataclass
class Cases:
    """A year of cases as column arrays, and their events (``case_event``) likewise."""

    case: dict[str, NDArray[Any]]
    event: dict[str, NDArray[Any]]
    start: datetime  # times are seconds since this instant

    def __len__(self) -> int:
        return int(self.case["id"].size)


TIME_COLUMNS = frozenset(
    {
        "created_at",
        "updated_at",
        "step_started_at",
        "deadline",
        "paused_at",
        "filed_at",
        "closed_at",
    }
)


def year_of_cases(
    n: int,
    grids: Sequence[geo.AreaShape],
    rural: frozenset[str],
    categories: Sequence[str],
    departments: Sequence[str],
    seed: int = 2026,
    first_id: int = 1,
    start: datetime | None = None,
) -> Cases:
    """Return ``n`` cases created over the year and their histories up to its end."""
    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    # More cases by day than at night, and some grids (a market, a station) far more than most.
    hour_weights = np.array(
        [1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 7, 8, 9, 9, 9, 8, 6, 5, 4, 3, 2, 1],
        dtype=np.float64,
    )
    day = rng.integers(0, 365, n)
    hour = rng.choice(24, n, p=hour_weights / hour_weights.sum())
    created = np.sort(day * 86400.0 + hour * 3600.0 + rng.uniform(0, 3600, n))
    weights = rng.lognormal(0.0, 1.2, len(grids))
    grid_i = rng.choice(len(grids), n, p=weights / weights.sum())
    reps = shapely.point_on_surface(np.array([g.geometry for g in grids], dtype=object))
    lon = shapely.get_x(reps)[grid_i]
    lat = shapely.get_y(reps)[grid_i]
    grid_codes = np.array([g.code for g in grids])[grid_i]
    kinds = list(HISTORIES)
    shares = np.array([HISTORIES[k][0] for k in kinds])
    kind_i = rng.choice(len(kinds), n, p=shares / shares.sum())
    source = np.array([s for s, _ in SOURCES])[
        rng.choice(len(SOURCES), n, p=[w for _, w in SOURCES])
    ]
    # Only a grid worker fixes what they found on the spot.
    kind_i[(kind_i == kinds.index("self_handled")) & (source != "grid_worker")] = 0
    end = float(YEAR_SECONDS)
    origin = start or year_start()
    is_rural = np.isin(grid_codes, list(rural))
    # The acknowledgements' delays: a generator of their own (see ACKNOWLEDGE).
    side = np.random.default_rng([seed, 1])
    state = np.full(n, "reported", dtype=object)
    updated = created.copy()
    closed = np.full(n, np.nan)
    filed = np.full(n, np.nan)
    dispatched = np.full(n, np.nan)
    # The step clock as the process runs it: the deadline in force (NaN: none), when a
    # suspension paused it, the extension asked for.
    running = created + LIMIT_HOURS["reported"] * 3600.0
    paused = np.full(n, np.nan)
    asked = np.full(n, np.nan)
    counts = {c: np.zeros(n, dtype=np.int64) for c in ("rework", "extension", "supervise")}
    events: dict[str, list[NDArray[Any]]] = {
        k: [] for k in ("case_id", "seq", "action", "role", "from_state", "to_state", "at")
    }
    facts: list[tuple[NDArray[np.int64], dict[str, Any]]] = []

    def add(
        rows: NDArray[np.int64],
        seq: int,
        step: Step,
        at: NDArray[np.float64],
        data: dict[str, Any],
    ) -> None:
        action, from_state, to_state, role, _ = step
        events["case_id"].append(ids[rows])
        events["seq"].append(np.full(rows.size, seq))
        events["action"].append(np.full(rows.size, action, dtype=object))
        events["role"].append(
            np.full(rows.size, role, dtype=object) if role != "report" else source[rows]
        )
        events["from_state"].append(np.full(rows.size, from_state, dtype=object))
        events["to_state"].append(np.full(rows.size, to_state, dtype=object))
        events["at"].append(at)
        facts.append((rows, data))

    add(np.arange(n), 1, ("report", None, "reported", "report", 0.0), created, {})
    for k, kind in enumerate(kinds):
        rows = np.flatnonzero(kind_i == k)
        at = created[rows].copy()
        alive = np.ones(rows.size, dtype=bool)
        verified_once = False
        for seq, step in enumerate(HISTORIES[kind][1], start=2):
            delays = side if step[0] == ACKNOWLEDGE[0] else rng
            at = at + delays.exponential(step[4] * 3600.0, rows.size) + 30.0
            alive &= at < end  # the year ends: later steps have not happened yet
            done = rows[alive]
            now = at[alive]
            action, _, to_state, _, _ = step
            if action != "supervise":
                state[done] = to_state
            updated[done] = now
            if to_state == "closed":
                closed[done] = now
            if action == "file":
                filed[done] = now
            if action in ("dispatch", "rework", "resume", "approve_extension"):
                dispatched[done] = now
            for counter, name in (
                ("rework", "rework"),
                ("extension", "approve_extension"),
                ("supervise", "supervise"),
            ):
                if action == name:
                    counts[counter][done] += 1
            data = _clock_facts(step, done, now, running, paused, asked, is_rural)
            if action in ("dispatch", "approve_return"):
                data["department"] = True  # the case's, once drawn below
            if action == "verify_reply":
                # A reworked case's first verification found the work not done.
                data["passed"] = not (kind == "reworked" and not verified_once)
                verified_once = True
            if action == "rework":
                data["rework_count"] = counts["rework"][done]
            if action == "supervise":
                data["supervise_count"] = counts["supervise"][done]
            add(done, seq, step, now, data)
    open_ = ~np.isin(state, ["closed", "void", "evaluated"])
    # The case's deadline is the running step's (none while suspended, as the clock is paused).
    deadline = np.where(open_ & (state != "suspended"), running, np.nan)
    category = np.array(categories)[rng.integers(0, len(categories), n)]
    department = np.array(departments, dtype=object)[rng.integers(0, len(departments), n)]
    # The events name the department a dispatch sent the case to (and a return took it from).
    codes = np.array([json.dumps(str(d), ensure_ascii=False) for d in department], dtype=object)
    datas = [_event_data(data, codes[rows], origin) for rows, data in facts]
    department[np.isnan(dispatched) | (state == "filed")] = None
    event = {k: np.concatenate(v) for k, v in events.items()}
    event["data"] = np.concatenate(datas)
    order = np.lexsort((event["seq"], event["case_id"]))
    event = {k: v[order] for k, v in event.items()}
    case = {
        "id": ids,
        "number": np.char.add("G", ids.astype(str)),
        "state": state,
        "source": source,
        "category_code": category,
        "lon": lon,
        "lat": lat,
        "setting": np.where(is_rural, "rural", "urban"),
        "grid_code": grid_codes,
        "community_code": np.array([c[:12] for c in grid_codes.tolist()]),
        "street_code": np.array([c[:9] for c in grid_codes.tolist()]),
        "district_code": np.array([c[:6] for c in grid_codes.tolist()]),
        "department_code": department,
        "sla_flag": np.where(
            open_ & (updated + 3600 < end) & (state == "handling") & (deadline < end),
            "overdue",
            "ok",
        ),
        "rework_count": counts["rework"],
        "extension_count": counts["extension"],
        "supervise_count": counts["supervise"],
        # Times as seconds into the year, NaN for none: the writers format them per backend.
        "created_at": created,
        "updated_at": updated,
        "step_started_at": np.where(open_, updated, np.nan),
        "deadline": deadline,
        "paused_at": np.where(state == "suspended", updated, np.nan),
        "filed_at": filed,
        "closed_at": closed,
    }
    event["created_at"] = event.pop("at")
    return Cases(case, event, origin)


# -- writing ----------------------------------------------------------------------------------

CHUNK = 200_000
_CASE_CONSTANTS = {
    "process": "urban",
    "version": 1,
    "urgency": "normal",
    "description": "",
    "original_crs": "wgs84",
    "layer": "urban",
    "reporter_contact": "{}",
    "step_pauses": "[]",
}


def _text_times(seconds: NDArray[np.float64], start: datetime, sqlite: bool) -> list[str | None]:
    """UTC times as the backend stores them (SQLite: naive text, as SQLAlchemy writes it)."""
    base = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    stamps = base + (np.nan_to_num(seconds) * 1e6).astype("timedelta64[us]")
    text = np.datetime_as_string(stamps, unit="us")
    text = np.char.replace(text, "T", " ") if sqlite else np.char.add(text, "+00")
    return [
        None if gone else t
        for gone, t in zip(np.isnan(seconds).tolist(), text.tolist(), strict=True)
    ]


def _columns(data: dict[str, NDArray[Any]], start: datetime, sqlite: bool) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, values in data.items():
        if name in TIME_COLUMNS:
            out[name] = _text_times(values, start, sqlite)
        else:
            out[name] = values.tolist()
    return out


def _copy(cursor: Any, table: str, columns: dict[str, list[Any]]) -> None:
    """COPY rows given as columns, formatting them as COPY's text format in one pass."""
    names = list(columns)
    with cursor.copy(f'COPY "{table}" ({", ".join(names)}) FROM STDIN') as copy:
        buffer = io.StringIO()
        for row in zip(*columns.values(), strict=True):
            buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            if buffer.tell() > 8_000_000:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _chunks(data: dict[str, NDArray[Any]], size: int) -> Iterator[dict[str, NDArray[Any]]]:
    total = next(iter(data.values())).size
    for start in range(0, total, size):
        yield {k: v[start : start + size] for k, v in data.items()}


def write_cases(
    connection: Any, cases: Cases, after_cases: Callable[[], None] | None = None
) -> None:
    """Write the cases and their events on a DBAPI connection (psycopg: COPY; sqlite3).

    ``after_cases`` runs between the two (the events' foreign key may need what it writes).
    """
    sqlite = isinstance(connection, sqlite3.Connection)
    if sqlite and not connection.in_transaction:
        # The app's SQLite connections run in autocommit: one transaction, not one per row.
        connection.execute("BEGIN")
    for part in _chunks(cases.case, CHUNK):
        columns = _columns(part, cases.start, sqlite)
        size = len(columns["id"])
        points = shapely.points(part["lon"], part["lat"])
        if sqlite:
            columns["location"] = shapely.to_wkb(points).tolist()
        else:
            columns["location"] = [f"SRID=4326;{w}" for w in shapely.to_wkt(points, 7).tolist()]
        columns["original_lon"] = columns["lon"]
        columns["original_lat"] = columns["lat"]
        for name, value in _CASE_CONSTANTS.items():
            columns[name] = [value] * size
        _insert(connection, sqlite, "case", columns)
    if after_cases is not None:
        after_cases()
    for part in _chunks(cases.event, CHUNK * 4):
        columns = _columns(part, cases.start, sqlite)
        size = len(columns["case_id"])
        columns["prev_hash"] = [""] * size
        columns["hash"] = [""] * size
        _insert(connection, sqlite, "case_event", columns)


def _insert(connection: Any, sqlite: bool, table: str, columns: dict[str, list[Any]]) -> None:
    if sqlite:
        names = list(columns)
        connection.executemany(
            f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" for _ in names)})',
            zip(*columns.values(), strict=True),
        )
    else:
        with connection.cursor() as cursor:
            _copy(cursor, table, columns)


# The page cache of the connection that writes a generated year on SQLite (KiB): room for the
# index sorts after the rows are in. The engine is disposed after, so it ends with the write.
SQLITE_LOAD_CACHE_KIB = 256 * 1024


def _drop_secondary_indexes(connection: Any, tables: Sequence[str]) -> list[str]:
    """Drop the indexes no constraint owns; return the statements that rebuild them.

    Building an index once after the rows are in (a sort) is cheaper than keeping a dozen up
    to date row by row (a million cases and eight million events): on PostgreSQL several
    times; on SQLite the same CPU at ``county`` size, and at ``city`` size, where the indexes
    outgrow the page cache many times over, each insert no longer reads and rewrites a
    leaf page per index (docs/performance.md has the timings). A UNIQUE constraint's own
    index (SQLite's ``sqlite_autoindex_…``, no ``sql``; a PostgreSQL constraint's) stays.
    """
    if isinstance(connection, sqlite3.Connection):
        # Dropped inside the write's one transaction: a failed write leaves them in place.
        if not connection.in_transaction:
            connection.execute("BEGIN")
        # The sorts that rebuild them, and the tables' growing right edges, in memory.
        connection.execute(f"PRAGMA cache_size = -{SQLITE_LOAD_CACHE_KIB}")
        marks = ", ".join("?" for _ in tables)
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            tuple(tables),
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        return [definition for _, definition in indexes]
    rows = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        connection.execute(f'DROP INDEX "{name}"')
    # A partitioned table's (migration 0025) index is defined ``ON ONLY`` the parent: run as
    # it reads, it makes an invalid index on the parent alone and none on the partitions,
    # and every read scans every month. Without ONLY it is built on each partition and
    # attached (a plain table's definition has no ONLY).
    return [definition.replace(" ON ONLY ", " ON ", 1) for _, definition in rows]


# The tables a load writes in bulk, and the key tables of their monthly partitions (0025).
_KEYED = {"case": "case_key", "case_event": "case_event_key"}


def _exists(connection: Any, name: str) -> bool:
    """Whether the relation ``public.<name>`` exists (a table of a later migration)."""
    found = connection.execute("SELECT to_regclass(%s)", (f"public.{name}",)).fetchone()
    return found is not None and found[0] is not None


@contextlib.contextmanager
def row_triggers_off(connection: Any) -> Iterator[Callable[[str], None]]:
    """PostgreSQL: the cases' and events' row triggers off for a bulk load, on again after.

    Those triggers keep ``case_key`` and ``case_event_key`` in step (0025) and strike the
    dashboard roll-up's days (0027), one plpgsql call per row. Within one load transaction
    their plans are made while the key tables are empty (a sequential scan) and kept while the
    tables grow: the load went quadratic (a COPY of 800 000 events ran past half an hour). So
    they are off while the rows go in, and what they would have written is written in bulk:
    the yielded function fills a table's key rows (the cases' before the events, whose
    foreign key names them), and at the end every day of the roll-up is marked stale. On
    SQLite, whose triggers are statements of their own, nothing changes.

    The rows to key are those past the key table's highest id before the load: the load's ids
    come after every stored one (``first_id``, the sequences). (An anti-join against the key
    table, planned while it is empty, went quadratic the same way.)
    """
    if isinstance(connection, sqlite3.Connection):
        yield lambda table: None
        return
    keyed_before: dict[str, int] = {}
    for table, key in _KEYED.items():
        if _exists(connection, key):  # else the plain schema: no key tables
            row = connection.execute(f'SELECT coalesce(max(id), 0) FROM public."{key}"').fetchone()
            keyed_before[table] = int(row[0])
        connection.execute(f'ALTER TABLE public."{table}" DISABLE TRIGGER USER')

    def fill_keys(table: str) -> None:
        if table not in keyed_before:
            return
        key = _KEYED[table]
        columns = [
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = %s ORDER BY ordinal_position",
                (key,),
            ).fetchall()
        ]
        listed = ", ".join(columns)
        connection.execute(
            f'INSERT INTO public."{key}" ({listed}) SELECT {listed} FROM public."{table}" '
            "WHERE id > %s",
            (keyed_before[table],),
        )

    # A failed load rolls back, the ALTERs with it: the triggers come back on only here.
    yield fill_keys
    for table in _KEYED:
        connection.execute(f'ALTER TABLE public."{table}" ENABLE TRIGGER USER')
    if _exists(connection, "dashboard_rollup_day"):
        connection.execute("DELETE FROM public.dashboard_rollup_day")


def _add_month_partitions(connection: Any, start: datetime) -> None:
    """On the partitioned schema, a partition for every month of the generated year.

    The migration made only the months from today on (the database was empty): the year's
    rows would all land in DEFAULT, unlike a database that grew month by month and unlike
    what a month's read prunes to. Made empty, before the write, by the schema's own
    function (``gridapp_add_month_partition``).
    """
    if isinstance(connection, sqlite3.Connection):
        return
    found = connection.execute(
        "SELECT to_regprocedure('public.gridapp_add_month_partition(text, date)')"
    ).fetchone()
    if found is None or found[0] is None:
        return
    month = start.astimezone(LOCAL_ZONE).date().replace(day=1)
    this_month = datetime.now(LOCAL_ZONE).date().replace(day=1)
    while month <= this_month:
        for table in ("case", "case_event"):
            connection.execute("SELECT public.gridapp_add_month_partition(%s, %s)", (table, month))
        month = (month + timedelta(days=32)).replace(day=1)


def write_map(session: Any, county: CountyMap) -> None:
    """Insert the generated areas (Core, one statement per batch) and move the map version."""
    from sqlalchemy import insert

    from gridapp.core.versions import bump_version
    from gridapp.grid.models import Area
    from gridapp.grid.services import approx_area_km2, version_key

    now = datetime.now(UTC)
    rows = [
        {
            "code": a.code,
            "name": a.name,
            "level": str(a.level),
            "parent_code": a.parent,
            "layer": a.layer,
            "setting": "rural" if a.code in county.rural else "urban",
            "geometry": a.geometry,
            "area_km2": approx_area_km2(a.geometry),
            "generated": True,
            "created_at": now,
            "updated_at": now,
        }
        for a in county.areas
    ]
    for start in range(0, len(rows), 20_000):
        session.execute(insert(Area), rows[start : start + 20_000])
    bump_version(session, version_key(geo.DEFAULT_LAYER))


def generate(database_url: str, size: Size, seed: int = 2026) -> dict[str, float]:
    """Add the generated county and its year of cases to a migrated, seeded database.

    Returns the seconds each part took. The database must hold the catalogue (categories and
    departments), as ``seed_demo`` leaves it.
    """
    from sqlalchemy import select, text

    from gridapp.catalogue.models import Category, Department
    from gridapp.core.db import make_engine

    timings: dict[str, float] = {}
    start = time.perf_counter()
    county = county_map(size.cells, seed)
    timings["map generated"] = time.perf_counter() - start
    engine = make_engine(database_url)
    try:
        from sqlalchemy.orm import Session

        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            write_map(session, county)
            categories = list(session.scalars(select(Category.code).order_by(Category.code)))
            departments = list(session.scalars(select(Department.code).order_by(Department.code)))
            first_id = int(session.scalar(text('SELECT coalesce(max(id), 0) + 1 FROM "case"')))
        timings["map written"] = time.perf_counter() - start
        start = time.perf_counter()
        cases = year_of_cases(
            size.cases, county.grids, county.rural, categories, departments, seed, first_id
        )
        timings["cases generated"] = time.perf_counter() - start
        start = time.perf_counter()
        raw = engine.raw_connection()
        try:
            _add_month_partitions(raw.driver_connection, cases.start)
            rebuild = _drop_secondary_indexes(raw.driver_connection, ("case", "case_event"))
            with row_triggers_off(raw.driver_connection) as fill_keys:
                write_cases(raw.driver_connection, cases, lambda: fill_keys("case"))
                fill_keys("case_event")
            for statement in rebuild:
                raw.driver_connection.execute(statement)
            raw.commit()
        finally:
            raw.close()
        # SQLite is left without statistics (no ``ANALYZE``), as every deployment's file is:
        # the app never analyzes it, so the bench measures the plans production gets. (An
        # ``ANALYZE`` here ran inside the begin event's ``BEGIN IMMEDIATE`` and was rolled
        # back, so no measurement so far had statistics either.)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("case", "case_event"):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) "
                            f'FROM "{table}"'
                        )
                    )
                # As autovacuum would after a while: statistics, and the visibility map that
                # lets a month's cases be counted from the index alone.
                conn.execute(text('VACUUM ANALYZE "case", case_event, area'))
        timings["cases written"] = time.perf_counter() - start
        timings["events"] = float(cases.event["case_id"].size)
    finally:
        engine.dispose()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="a migrated database holding the demo catalogue")
    parser.add_argument("--size", choices=sorted(SIZES), default="county")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    for name, value in generate(args.database_url, SIZES[args.size], args.seed).items():
        print(f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
