"""Patrols (巡查): batches stored once, tracks as GeoJSON to whom may read them, coverage."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely
from sqlalchemy import func, select, update

import geo
import workflow
from gridapp.accounts.models import User
from gridapp.core.audit import AuditEntry
from gridapp.core.extensions import db
from gridapp.patrol.jobs import next_run
from gridapp.patrol.models import PatrolBatch, PatrolPoint
from gridapp.patrol.services import MAX_BATCH_POINTS, coverage, prune_tracks
from tests.gridapp.case_helpers import grid_point
from tests.gridapp.conftest import problem_of

EARTH_RADIUS_M = 6371008.8
# 10:00 Asia/Shanghai on a fixed day, so the local day is known.
DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def user(username: str) -> User:
    found = db.session().scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture()
def worker(client: Any, auth: Any) -> dict[str, Any]:
    """grid_worker's headers, id, grids and a point inside each of the first two grids."""
    headers = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    points = [grid_point(client, headers, code) for code in me["grids"][:2]]
    return {"headers": headers, "id": me["id"], "grids": me["grids"], "points": points}


def post(client: Any, headers: dict[str, str], batch_id: str, points: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/mobile/patrol", json={"batch_id": batch_id, "points": points}, headers=headers
    )


def test_a_batch_is_stored_in_wgs84_with_its_grid_and_original_coordinates(client, worker):
    (lon, lat), _second = worker["points"]
    gcj_lon, gcj_lat = geo.wgs84_to_gcj02(lon, lat)
    points = [
        {"lon": lon, "lat": lat, "t": iso(T0)},
        {"lon": gcj_lon, "lat": gcj_lat, "crs": "GCJ02", "t": iso(T0 + timedelta(seconds=30))},
        {"lon": 0.0, "lat": 0.0, "t": iso(T0 + timedelta(seconds=60))},  # far outside
    ]

    response = post(client, worker["headers"], "b-1", points)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "batch_id": "b-1",
        "stored": 3,
        "outside": 1,
        "first_at": iso(T0),
        "last_at": iso(T0 + timedelta(seconds=60)),
    }
    rows = (
        db.session()
        .scalars(
            select(PatrolPoint).where(PatrolPoint.user_id == worker["id"]).order_by(PatrolPoint.id)
        )
        .all()
    )
    assert [r.grid_code for r in rows] == [worker["grids"][0], worker["grids"][0], None]
    assert [r.original_crs for r in rows] == ["wgs84", "gcj02", "wgs84"]
    assert (rows[1].original_lon, rows[1].original_lat) == (gcj_lon, gcj_lat)
    assert rows[1].lon == pytest.approx(lon, abs=1e-5)
    assert rows[1].lat == pytest.approx(lat, abs=1e-5)
    assert rows[0].location.equals(shapely.Point(lon, lat))
    assert rows[0].recorded_at == T0


def test_a_replayed_batch_is_stored_once_and_answered_the_same(client, worker):
    lon, lat = worker["points"][0]
    points = [{"lon": lon, "lat": lat, "t": iso(T0 + timedelta(seconds=i))} for i in range(5)]
    first = post(client, worker["headers"], "replay", points)
    again = post(client, worker["headers"], "replay", points)

    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    stored = db.session().scalar(
        select(func.count()).select_from(PatrolPoint).where(PatrolPoint.user_id == worker["id"])
    )
    assert stored == 5
    batches = db.session().scalar(
        select(func.count()).select_from(PatrolBatch).where(PatrolBatch.batch_id == "replay")
    )
    assert batches == 1


def test_the_same_batch_id_with_other_points_is_refused(client, worker):
    lon, lat = worker["points"][0]
    assert (
        post(client, worker["headers"], "x", [{"lon": lon, "lat": lat, "t": iso(T0)}]).status_code
        == 200
    )

    other = post(
        client, worker["headers"], "x", [{"lon": lon, "lat": lat, "t": iso(T0 + timedelta(1))}]
    )

    assert "batch_id" in problem_of(other, 422)["errors"]


def test_batch_ids_are_per_worker(client, worker, auth):
    other = auth("grid_worker2")
    lon, lat = worker["points"][0]
    body = [{"lon": lon, "lat": lat, "t": iso(T0)}]
    assert post(client, worker["headers"], "same", body).status_code == 200
    assert post(client, other, "same", body).status_code == 200
    assert (
        db.session().scalar(
            select(func.count()).select_from(PatrolPoint).where(PatrolPoint.batch_id == "same")
        )
        == 2
    )


def test_a_batch_too_large_or_empty_or_from_the_future_is_a_clear_422(client, worker):
    lon, lat = worker["points"][0]
    many = [{"lon": lon, "lat": lat, "t": iso(T0)}] * (MAX_BATCH_POINTS + 1)
    body = problem_of(post(client, worker["headers"], "big", many), 422)
    assert str(MAX_BATCH_POINTS) in body["errors"]["points"][0]

    assert "points" in problem_of(post(client, worker["headers"], "empty", []), 422)["errors"]

    future = datetime.now(UTC) + timedelta(days=2)
    body = problem_of(
        post(client, worker["headers"], "future", [{"lon": lon, "lat": lat, "t": iso(future)}]),
        422,
    )
    assert "points.0.t" in body["errors"]
    assert (
        db.session().scalar(
            select(func.count()).select_from(PatrolBatch).where(PatrolBatch.user_id == worker["id"])
        )
        == 0
    )


@pytest.mark.parametrize(
    "point",
    [
        {"lon": 181, "lat": 27, "t": "2026-11-20T10:00:00+08:00"},
        {"lon": 112, "lat": 27, "t": "2026-11-20T10:00:00"},  # no offset
        {"lon": 112, "lat": 27, "crs": "utm", "t": "2026-11-20T10:00:00+08:00"},
        {"lon": 112, "lat": 27},
        {"lon": 112, "lat": 27, "t": "2026-11-20T10:00:00+08:00", "speed": 3},
    ],
    ids=["lon", "naive time", "crs", "no time", "unknown field"],
)
def test_bad_points_are_422_and_store_nothing(client, worker, point):
    problem_of(post(client, worker["headers"], "bad", [point]), 422)
    assert db.session().scalar(select(func.count()).select_from(PatrolPoint)) == 0


def test_only_grid_workers_upload(client, auth):
    response = post(client, auth("handler"), "h", [{"lon": 112.7, "lat": 27.2, "t": iso(T0)}])
    problem_of(response, 403)


def _walk(client: Any, worker: dict[str, Any]) -> list[dict[str, Any]]:
    """Three fixes a minute apart, a 10-minute pause, two more: two stretches."""
    lon, lat = worker["points"][0]
    offsets = [0, 60, 120, 720, 780]
    points = [
        {"lon": lon, "lat": lat + 0.0001 * i, "t": iso(T0 + timedelta(seconds=s))}
        for i, s in enumerate(offsets)
    ]
    assert post(client, worker["headers"], "walk", points).status_code == 200
    return points


def test_the_worker_reads_their_track_as_geojson_and_the_read_is_audited(client, worker):
    points = _walk(client, worker)

    response = client.get(f"/api/v1/patrols?date={DAY}", headers=worker["headers"])

    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/geo+json"
    track = response.get_json()
    assert track["type"] == "FeatureCollection"
    assert track["date"] == DAY.isoformat()
    assert track["worker"]["id"] == worker["id"]
    lines = [f for f in track["features"] if f["geometry"]["type"] == "LineString"]
    assert [len(f["geometry"]["coordinates"]) for f in lines] == [3, 2]
    assert lines[0]["properties"]["times"][0] == "2026-11-20T02:00:00+00:00"
    fixes = [f for f in track["features"] if f["geometry"]["type"] == "MultiPoint"]
    assert len(fixes) == 1
    assert fixes[0]["geometry"]["coordinates"] == [
        [round(p["lon"], 8), round(p["lat"], 8)] for p in points
    ]
    assert fixes[0]["properties"]["grid_codes"][0] == worker["grids"][0]
    audit = (
        db.session()
        .scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "patrol.read")
            .order_by(AuditEntry.id.desc())
        )
        .first()
    )
    assert audit is not None
    assert (audit.target_type, audit.target_id, audit.actor_id) == (
        "user",
        str(worker["id"]),
        worker["id"],
    )
    assert audit.details == {"date": DAY.isoformat()}


def test_another_day_is_an_empty_collection(client, worker):
    _walk(client, worker)
    track = client.get("/api/v1/patrols?date=2026-11-21", headers=worker["headers"]).get_json()
    assert track["features"] == []


def test_tracks_in_and_out_of_scope(client, worker, auth, session):
    _walk(client, worker)
    url = f"/api/v1/patrols?worker={worker['id']}&date={DAY}"
    for reader in ("supervisor", "admin"):
        response = client.get(url, headers=auth(reader))
        assert response.status_code == 200, (reader, response.get_json())
        assert len(response.get_json()["features"]) == 3
    problem_of(client.get(url, headers=auth("grid_worker2")), 404)
    for role in ("handler", "dispatcher", "acceptor", "dept_admin"):
        problem_of(client.get(url, headers=auth(role)), 403)
    # A supervisor of another county sees nothing of this one.
    supervisor = user("supervisor")
    supervisor.district_code = "430000"[:4] + "99"
    session.flush()
    problem_of(client.get(url, headers=auth("supervisor")), 404)
    # Nor does anyone find a user who is not a grid worker, or no user.
    admin = auth("admin")
    problem_of(client.get(f"/api/v1/patrols?worker={user('handler').id}", headers=admin), 404)
    problem_of(client.get("/api/v1/patrols?worker=999999", headers=admin), 404)


def test_reads_refused_write_no_audit_entry(client, worker, auth):
    before = db.session().scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "patrol.read")
    )
    client.get(f"/api/v1/patrols?worker={worker['id']}", headers=auth("grid_worker2"))
    after = db.session().scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "patrol.read")
    )
    assert after == before


def test_coverage_counts_grids_time_and_distance_by_hand(client, worker, session):
    (lon_a, lat_a), (lon_b, lat_b) = worker["points"]
    steps = [  # seconds after T0, where
        (0, lon_a, lat_a),
        (60, lon_a, lat_a + 0.001),  # 60 s, 0.001° of latitude
        (180, lon_a, lat_a + 0.002),  # 120 s, 0.001° more
        (1000, lon_b, lat_b),  # 820 s later: a pause, neither time nor distance
        (1100, lon_b, lat_b),  # 100 s standing still
    ]
    body = [{"lon": lo, "lat": la, "t": iso(T0 + timedelta(seconds=s))} for s, lo, la in steps]
    assert post(client, worker["headers"], "cov", body).status_code == 200
    # A fix on the next local day (00:30 Asia/Shanghai) belongs to that day.
    next_day = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    assert (
        post(
            client, worker["headers"], "cov2", [{"lon": lon_a, "lat": lat_a, "t": iso(next_day)}]
        ).status_code
        == 200
    )

    rows = coverage(session, [worker["id"]], DAY, DAY + timedelta(days=1))

    metre_per_mdeg = EARTH_RADIUS_M * math.radians(0.001)
    first, second = rows
    assert first.day == DAY
    assert first.grids_assigned == len(worker["grids"])
    assert first.grids_visited == (2 if worker["grids"][1] != worker["grids"][0] else 1)
    assert first.points == 5
    assert first.seconds == 60 + 120 + 100
    assert first.distance_m == pytest.approx(2 * metre_per_mdeg, abs=0.2)
    assert first.share == round(first.grids_visited / len(worker["grids"]), 4)
    assert (second.day, second.points, second.seconds, second.grids_visited) == (
        DAY + timedelta(days=1),
        1,
        0,
        1,
    )

    answer = client.get(f"/api/v1/patrols/coverage?date={DAY}", headers=worker["headers"])
    assert answer.status_code == 200, answer.get_json()
    (item,) = answer.get_json()["items"]
    assert item["worker"]["id"] == worker["id"]
    assert (item["points"], item["seconds"], item["grids_visited"]) == (5, 280, first.grids_visited)


def test_coverage_lists_the_district_for_supervisors_and_only_oneself_for_workers(
    client, worker, auth
):
    _walk(client, worker)
    listed = client.get(f"/api/v1/patrols/coverage?date={DAY}", headers=auth("supervisor"))
    assert listed.status_code == 200
    ids = [item["worker"]["id"] for item in listed.get_json()["items"]]
    assert worker["id"] in ids
    assert user("grid_worker2").id in ids
    walked = next(i for i in listed.get_json()["items"] if i["worker"]["id"] == worker["id"])
    assert walked["points"] == 5
    page = client.get(f"/api/v1/patrols/coverage?date={DAY}&limit=1", headers=auth("supervisor"))
    assert len(page.get_json()["items"]) == 1
    assert page.get_json()["next_cursor"]

    other = auth("grid_worker2")
    problem_of(client.get(f"/api/v1/patrols/coverage?worker={worker['id']}", headers=other), 404)
    problem_of(client.get("/api/v1/patrols/coverage", headers=auth("handler")), 403)


def test_prune_keeps_the_retention_period(client, worker, session, runner):
    lon, lat = worker["points"][0]
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=181), now - timedelta(days=179)
    assert (
        post(
            client, worker["headers"], "old", [{"lon": lon, "lat": lat, "t": iso(old)}]
        ).status_code
        == 200
    )
    assert (
        post(
            client, worker["headers"], "new", [{"lon": lon, "lat": lat, "t": iso(recent)}]
        ).status_code
        == 200
    )
    session.execute(
        update(PatrolBatch).where(PatrolBatch.batch_id == "old").values(received_at=old)
    )

    pruned = prune_tracks(session, 180, now=now)

    assert (pruned.points, pruned.batches) == (1, 1)
    left = session.scalars(
        select(PatrolPoint.batch_id).where(PatrolPoint.user_id == worker["id"])
    ).all()
    assert left == ["new"]

    result = runner.invoke(args=["patrol", "prune", "--days", "100"])
    assert result.exit_code == 0, result.output
    assert "pruned 1 track points" in result.output


def test_the_nightly_prune_runs_at_half_past_three_shanghai_time():
    at = next_run(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # 20:00 in Shanghai
    assert at.astimezone(workflow.LOCAL_ZONE) == datetime(
        2026, 11, 21, 3, 30, tzinfo=workflow.LOCAL_ZONE
    )


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_day_at_the_edge_of_the_calendar_is_a_422(client, worker, day):
    problem_of(client.get(f"/api/v1/patrols?date={day}", headers=worker["headers"]), 422)
    problem_of(client.get(f"/api/v1/patrols/coverage?date={day}", headers=worker["headers"]), 422)


@pytest.mark.parametrize("batch_id", ["", "a\x00b", "a b", "x" * 81, "批次"])
def test_a_batch_id_is_plain_ascii(client, worker, batch_id):
    lon, lat = worker["points"][0]
    response = post(client, worker["headers"], batch_id, [{"lon": lon, "lat": lat, "t": iso(T0)}])
    assert "batch_id" in problem_of(response, 422)["errors"]
