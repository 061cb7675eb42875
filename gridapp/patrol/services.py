"""Patrols (巡查): store the phone's batches of fixes, read tracks, coverage and retention.

Tracks are personal information (PIPL art. 28): a track is read only by the worker, or by a
supervisor or admin of the worker's district, and every read is written to the audit trail.
Points are kept ``patrol_retention_days`` and then pruned (``prune_tracks``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import shapely
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import geo
import workflow
from gridapp.accounts.models import User, UserGrid
from gridapp.core.audit import record_audit
from gridapp.core.errors import Forbidden, NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.core.pagination import decode_cursor, paginate
from gridapp.grid.services import DEFAULT_LAYER, grid_index
from gridapp.patrol.models import PatrolBatch, PatrolPoint

R = workflow.Role
# The most fixes one batch may carry: an hour at one fix every 4 s; a phone sends more often.
MAX_BATCH_POINTS = 1000
# Two fixes further apart than this are two stretches of patrol: the time and the distance
# between them (a lunch break, the phone in a pocket without signal) do not count.
MAX_GAP = timedelta(minutes=5)
# A fix from further ahead than this of the server's clock comes from a phone with a wrong clock.
MAX_CLOCK_AHEAD = timedelta(hours=1)
# Who reads other people's tracks, within their district.
TRACK_READERS = frozenset({R.supervisor, R.admin})
READ_ACTION = "patrol.read"
COVERAGE_READ_ACTION = "patrol.coverage.read"


@dataclass(frozen=True)
class Fix:
    """One fix as the phone sent it: coordinates in ``crs`` and the time it was taken."""

    lon: float
    lat: float
    crs: str
    t: datetime


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC instants where an Asia/Shanghai day starts and the next one starts."""
    try:
        start = datetime.combine(day, time(0), tzinfo=workflow.LOCAL_ZONE)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=workflow.LOCAL_ZONE)
        return start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError as exc:  # the first or last day a datetime can hold
        raise ValidationFailed(
            _("No patrol on that day."), errors={"date": _("A day between years 1 and 9999.")}
        ) from exc


def _fingerprint(fixes: Sequence[Fix]) -> str:
    plain = [[f.lon, f.lat, f.crs, f.t.astimezone(UTC).isoformat()] for f in fixes]
    return hashlib.sha256(json.dumps(plain, separators=(",", ":")).encode()).hexdigest()


def _check_batch(fixes: Sequence[Fix], now: datetime) -> None:
    if not fixes:
        raise ValidationFailed(
            _("The batch has no points."), errors={"points": _("Send at least one point.")}
        )
    if len(fixes) > MAX_BATCH_POINTS:
        raise ValidationFailed(
            _("The batch is too large."),
            errors={
                "points": _(
                    "At most %(count)s points per batch: send the rest in another batch.",
                    count=MAX_BATCH_POINTS,
                )
            },
        )
    errors: dict[str, Any] = {}
    for i, fix in enumerate(fixes):
        if fix.t > now + MAX_CLOCK_AHEAD:
            errors[f"points.{i}.t"] = _("This time is in the future: check the phone's clock.")
    if errors:
        raise ValidationFailed(_("The batch has invalid points."), errors=errors)


def _answer_replay(batch: PatrolBatch, fingerprint: str) -> dict[str, Any]:
    if batch.fingerprint != fingerprint:
        raise ValidationFailed(
            _("This batch id was used for other points."),
            errors={"batch_id": _("Use a new batch id for new points.")},
        )
    return dict(batch.summary)


def store_batch(
    session: Session,
    worker: User,
    batch_id: str,
    fixes: Sequence[Fix],
    *,
    check_seconds: float = 5.0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store a batch of a grid worker's fixes once (巡查轨迹上传); a replay answers the same.

    Points are converted to WGS84 and placed on the unit grid they fall in; a point outside
    the jurisdiction is kept with no grid (a worker may walk across the county line).
    """
    now = now or datetime.now(UTC)
    fingerprint = _fingerprint(fixes)
    found = session.scalar(
        select(PatrolBatch).where(
            PatrolBatch.user_id == worker.id, PatrolBatch.batch_id == batch_id
        )
    )
    if found is not None:
        return _answer_replay(found, fingerprint)
    _check_batch(fixes, now)
    times = [f.t.astimezone(UTC) for f in fixes]
    summary: dict[str, Any] = {
        "batch_id": batch_id,
        "stored": len(fixes),
        "outside": 0,
        "first_at": min(times).isoformat(),
        "last_at": max(times).isoformat(),
    }
    batch = PatrolBatch(
        user_id=worker.id,
        batch_id=batch_id,
        fingerprint=fingerprint,
        summary=summary,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError:
        # The same batch sent twice at once: the other request stored it.
        found = session.scalar(
            select(PatrolBatch).where(
                PatrolBatch.user_id == worker.id, PatrolBatch.batch_id == batch_id
            )
        )
        if found is None:
            raise
        return _answer_replay(found, fingerprint)
    rows = _placed_rows(session, worker.id, batch_id, fixes, check_seconds)
    summary["outside"] = sum(1 for row in rows if row["grid_code"] is None)
    batch.summary = summary
    session.execute(insert(PatrolPoint), rows)
    session.flush()
    return dict(summary)


def _placed_rows(
    session: Session,
    worker_id: int,
    batch_id: str,
    fixes: Sequence[Fix],
    check_seconds: float,
) -> list[dict[str, Any]]:
    """Convert the fixes to WGS84 (one vectorised call per CRS) and find their unit grids."""
    lons = [0.0] * len(fixes)
    lats = [0.0] * len(fixes)
    by_crs: dict[str, list[int]] = defaultdict(list)
    for i, fix in enumerate(fixes):
        by_crs[fix.crs].append(i)
    for crs, positions in by_crs.items():
        wgs_lons, wgs_lats = geo.to_wgs84_many(
            [fixes[i].lon for i in positions], [fixes[i].lat for i in positions], crs
        )
        for j, i in enumerate(positions):
            lons[i], lats[i] = float(wgs_lons[j]), float(wgs_lats[j])
    codes = grid_index(session, DEFAULT_LAYER, check_seconds).codes_many(lons, lats)
    return [
        {
            "user_id": worker_id,
            "batch_id": batch_id,
            "location": shapely.Point(lons[i], lats[i]),
            "lon": lons[i],
            "lat": lats[i],
            "original_lon": fix.lon,
            "original_lat": fix.lat,
            "original_crs": fix.crs,
            "grid_code": codes[i],
            "recorded_at": fix.t.astimezone(UTC),
        }
        for i, fix in enumerate(fixes)
    ]


# -- who may read whose track ------------------------------------------------------------------


def in_district(worker: User, district: str | None) -> bool:
    """Say whether a worker belongs to an area: their own area code or one of their grids."""
    if district is None:
        return True
    codes = [worker.district_code or "", *worker.grid_codes]
    return any(code.startswith(district) for code in codes if code)


def readable_worker(session: Session, reader: User, worker_id: int) -> User:
    """Return the grid worker whose track ``reader`` may read, or raise.

    A grid worker reads their own only; supervisors and admins those of their district. A
    track out of reach answers 404 like a missing one, so its existence is not revealed.
    """
    if reader.role == R.grid_worker:
        if worker_id != reader.id:
            raise NotFound(_("No patrol track of this worker for you."))
        return reader
    if reader.role not in TRACK_READERS:
        raise Forbidden(_("Only the worker, and supervisors and admins, read patrol tracks."))
    worker = session.get(User, worker_id)
    if (
        worker is None
        or worker.role != R.grid_worker
        or not in_district(worker, reader.district_code)
    ):
        raise NotFound(_("No patrol track of this worker for you."))
    return worker


# -- tracks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """A worker's fixes of one day, in time order."""

    worker: User
    day: date
    points: Sequence[Any]


def read_track(session: Session, reader: User, worker_id: int, day: date) -> Track:
    """Return a worker's track of one day and write the read to the audit trail."""
    worker = readable_worker(session, reader, worker_id)
    start, end = day_bounds(day)
    points = session.execute(
        select(PatrolPoint.lon, PatrolPoint.lat, PatrolPoint.grid_code, PatrolPoint.recorded_at)
        .where(
            PatrolPoint.user_id == worker.id,
            PatrolPoint.recorded_at >= start,
            PatrolPoint.recorded_at < end,
        )
        .order_by(PatrolPoint.recorded_at, PatrolPoint.id)
    ).all()
    record_audit(
        session,
        READ_ACTION,
        target_type="user",
        target_id=worker.id,
        details={"date": day.isoformat()},
        actor_id=reader.id,
        actor_role=reader.role,
    )
    return Track(worker, day, points)


def _shown(moment: datetime) -> str:
    # UTC with its offset, as every other time the API answers.
    return moment.astimezone(UTC).isoformat()


def stretches(times: Sequence[datetime]) -> list[tuple[int, int]]:
    """Split a time-ordered track into stretches [start, stop) where no gap exceeds MAX_GAP."""
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[i - 1] > MAX_GAP:
            out.append((start, i))
            start = i
    return out if times else []


def track_geojson(track: Track) -> dict[str, Any]:
    """Return a track as a GeoJSON FeatureCollection (RFC 7946).

    One ``LineString`` per stretch of patrol (two or more fixes no further apart than MAX_GAP),
    then one ``MultiPoint`` with every fix; each carries its fixes' ``times``.
    """
    coords = [[round(p.lon, 8), round(p.lat, 8)] for p in track.points]
    times = [p.recorded_at for p in track.points]
    shown = [_shown(t) for t in times]
    features: list[dict[str, Any]] = []
    for start, stop in stretches(times):
        if stop - start < 2:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords[start:stop]},
                "properties": {"kind": "stretch", "times": shown[start:stop]},
            }
        )
    if coords:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "MultiPoint", "coordinates": coords},
                "properties": {
                    "kind": "fixes",
                    "times": shown,
                    "grid_codes": [p.grid_code for p in track.points],
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "worker": {"id": track.worker.id, "username": track.worker.username},
        "date": track.day.isoformat(),
        "features": features,
    }


# -- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How one grid worker patrolled on one day (巡查覆盖)."""

    worker_id: int
    day: date
    grids_assigned: int
    # Of the assigned grids, how many had at least one fix that day.
    grids_visited: int
    points: int
    # Sum of the gaps between consecutive fixes no further apart than MAX_GAP.
    seconds: int
    # Great-circle length of those same steps, in metres.
    distance_m: float
    first_at: datetime | None
    last_at: datetime | None

    @property
    def share(self) -> float | None:
        """Share of the assigned grids visited; None for a worker with no grids."""
        if not self.grids_assigned:
            return None
        return round(self.grids_visited / self.grids_assigned, 4)


def _day_coverage(worker_id: int, day: date, assigned: set[str], points: Sequence[Any]) -> Coverage:
    seconds = 0.0
    distance = 0.0
    for before, after in itertools.pairwise(points):
        gap = after.recorded_at - before.recorded_at
        if gap <= MAX_GAP:
            seconds += gap.total_seconds()
            distance += geo.haversine_m(before.lon, before.lat, after.lon, after.lat)
    visited = {p.grid_code for p in points} & assigned
    return Coverage(
        worker_id=worker_id,
        day=day,
        grids_assigned=len(assigned),
        grids_visited=len(visited),
        points=len(points),
        seconds=round(seconds),
        distance_m=round(distance, 1),
        first_at=points[0].recorded_at if points else None,
        last_at=points[-1].recorded_at if points else None,
    )


def coverage(
    session: Session, worker_ids: Iterable[int], start_day: date, end_day: date
) -> list[Coverage]:
    """Return each worker's coverage for each Asia/Shanghai day from start_day to end_day.

    Every (worker, day) pair is there, in worker then day order, a day without fixes with
    zeros; grids are the worker's assigned grids now. Two queries whatever the range.
    """
    ids = list(dict.fromkeys(worker_ids))
    if not ids or end_day < start_day:
        return []
    assigned: dict[int, set[str]] = defaultdict(set)
    for user_id, code in session.execute(
        select(UserGrid.user_id, UserGrid.grid_code).where(UserGrid.user_id.in_(ids))
    ):
        assigned[user_id].add(code)
    start, _unused = day_bounds(start_day)
    _unused, end = day_bounds(end_day)
    by_day: dict[tuple[int, date], list[Any]] = defaultdict(list)
    rows = session.execute(
        select(
            PatrolPoint.user_id,
            PatrolPoint.lon,
            PatrolPoint.lat,
            PatrolPoint.grid_code,
            PatrolPoint.recorded_at,
        )
        .where(
            PatrolPoint.user_id.in_(ids),
            PatrolPoint.recorded_at >= start,
            PatrolPoint.recorded_at < end,
        )
        .order_by(PatrolPoint.user_id, PatrolPoint.recorded_at, PatrolPoint.id)
    )
    for row in rows:
        by_day[(row.user_id, workflow.local_day(row.recorded_at))].append(row)
    days = [start_day + timedelta(days=n) for n in range((end_day - start_day).days + 1)]
    return [
        _day_coverage(worker_id, day, assigned[worker_id], by_day.get((worker_id, day), []))
        for worker_id in ids
        for day in days
    ]


def coverage_page(
    session: Session,
    reader: User,
    day: date,
    *,
    worker_id: int | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[tuple[User, Coverage]], str | None]:
    """List the coverage of one day for the grid workers ``reader`` may see, by user id.

    A grid worker sees their own; a supervisor or admin the grid workers of their district
    (or the one named by ``worker_id``). The read is written to the audit trail.
    """
    if worker_id is not None or reader.role == R.grid_worker:
        workers = [readable_worker(session, reader, worker_id or reader.id)]
        next_cursor = None
    else:
        if reader.role not in TRACK_READERS:
            raise Forbidden(_("Only the worker, and supervisors and admins, read patrol tracks."))
        query = (
            select(User)
            .where(User.role == R.grid_worker, User.active.is_(True))
            .order_by(User.id)
            .limit(limit + 1)
        )
        after = decode_cursor(cursor, 1)
        if after is not None:
            query = query.where(User.id > int(after[0]))
        if reader.district_code is not None:
            code = reader.district_code
            in_grids = select(UserGrid.user_id).where(UserGrid.grid_code.startswith(code))
            query = query.where(User.district_code.startswith(code) | User.id.in_(in_grids))
        workers, next_cursor = paginate(list(session.scalars(query)), limit, lambda u: (u.id,))
    rows = coverage(session, [w.id for w in workers], day, day)
    if workers:
        record_audit(
            session,
            COVERAGE_READ_ACTION,
            target_type="user",
            target_id=workers[0].id if len(workers) == 1 else None,
            details={"date": day.isoformat(), "workers": [w.id for w in workers]},
            actor_id=reader.id,
            actor_role=reader.role,
        )
    return list(zip(workers, rows, strict=True)), next_cursor


# -- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    points: int
    batches: int


def prune_tracks(session: Session, retention_days: int, now: datetime | None = None) -> Pruned:
    """Delete fixes taken, and batches received, more than ``retention_days`` ago."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    points = session.execute(
        delete(PatrolPoint)
        .where(PatrolPoint.recorded_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    batches = session.execute(
        delete(PatrolBatch)
        .where(PatrolBatch.received_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return Pruned(int(points.rowcount), int(batches.rowcount))  # type: ignore[attr-defined]


def fixes_from(points: Iterable[Mapping[str, Any]]) -> list[Fix]:
    """Return the fixes of a batch as read by the schema (``lon``, ``lat``, ``crs``, ``t``)."""
    return [Fix(float(p["lon"]), float(p["lat"]), str(p["crs"]), p["t"]) for p in points]
