"""Point location on the grid map (落格): ``GET /api/v1/grid/locate`` (DESIGN §4, §9)."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

import geo
from tests.gridapp.conftest import problem_of

LOCATE = "/api/v1/grid/locate"
NANYUE_TOWN_CENTRE = (112.7378, 27.2348)  # 南岳镇, in the enclave 南岳区: a hole in the county


@pytest.fixture()
def worker(client: Any, auth: Any) -> dict[str, Any]:
    headers = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    return {"headers": headers, "me": me}


def grid_polygon(client: Any, headers: dict[str, str], code: str) -> Any:
    response = client.get(f"/api/v1/areas/{code}?format=geojson", headers=headers)
    assert response.status_code == 200, response.get_json()
    return shape(response.get_json()["geometry"])


@pytest.fixture()
def inside(client: Any, worker: dict[str, Any]) -> tuple[str, float, float]:
    """A grid of grid_worker and a WGS84 point well inside it."""
    code = worker["me"]["grids"][0]
    point = grid_polygon(client, worker["headers"], code).representative_point()
    return code, point.x, point.y


def locate(client: Any, headers: dict[str, str], **query: Any) -> Any:
    return client.get(LOCATE, query_string=query, headers=headers)


def test_point_inside_a_demo_grid(client, worker, inside):
    code, lon, lat = inside

    response = locate(client, worker["headers"], lon=lon, lat=lat)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grid"]["code"] == code
    assert body["community"]["code"] == code[:12]
    assert body["street"]["code"] == "430423100"
    assert body["district"]["code"] == "430423"
    assert body["district"]["name"] == "衡山县"
    assert body["street"]["name"] == "开云镇"
    for level in ("grid", "community", "street", "district"):
        assert body[level]["name"], level
    assert "grid_worker" in [w["username"] for w in body["grid_workers"]]
    assert "grid_worker2" not in [w["username"] for w in body["grid_workers"]]
    assert body["location"]["lon"] == pytest.approx(lon, abs=1e-7)
    assert body["location"]["lat"] == pytest.approx(lat, abs=1e-7)


def test_explicit_wgs84_is_the_default(client, worker, inside):
    _code, lon, lat = inside

    plain = locate(client, worker["headers"], lon=lon, lat=lat).get_json()
    explicit = locate(client, worker["headers"], lon=lon, lat=lat, crs="wgs84").get_json()

    assert plain["grid"] == explicit["grid"]
    assert plain["location"] == explicit["location"]


def test_every_grid_of_the_worker_locates_to_itself(client, worker):
    for code in worker["me"]["grids"][:5]:
        point = grid_polygon(client, worker["headers"], code).representative_point()
        body = locate(client, worker["headers"], lon=point.x, lat=point.y).get_json()
        assert body["grid"]["code"] == code


def test_grid_worker2_is_listed_for_their_own_grid(client, auth, worker):
    headers = auth("grid_worker2")
    code = client.get("/api/v1/auth/me", headers=headers).get_json()["grids"][0]
    point = grid_polygon(client, headers, code).representative_point()

    body = locate(client, headers, lon=point.x, lat=point.y).get_json()

    assert [w["username"] for w in body["grid_workers"]] == ["grid_worker2"]


@pytest.mark.parametrize(
    ("crs", "convert"),
    [("gcj02", geo.wgs84_to_gcj02), ("bd09", geo.wgs84_to_bd09)],
)
def test_chinese_coordinates_are_converted(client, worker, inside, crs, convert):
    code, lon, lat = inside
    shifted_lon, shifted_lat = convert(lon, lat)
    # The shift in China is hundreds of metres: a wrong (missing) conversion would show.
    assert geo.haversine_m(lon, lat, shifted_lon, shifted_lat) > 100

    response = locate(client, worker["headers"], lon=shifted_lon, lat=shifted_lat, crs=crs)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grid"]["code"] == code
    found = body["location"]
    assert geo.haversine_m(lon, lat, found["lon"], found["lat"]) < 0.5
    assert body["original_location"]["crs"] == crs
    assert body["original_location"]["lon"] == pytest.approx(shifted_lon)
    assert body["original_location"]["lat"] == pytest.approx(shifted_lat)


def test_cgcs2000_is_treated_as_wgs84(client, worker, inside):
    code, lon, lat = inside

    body = locate(client, worker["headers"], lon=lon, lat=lat, crs="cgcs2000").get_json()

    assert body["grid"]["code"] == code
    assert body["location"]["lon"] == pytest.approx(lon, abs=1e-7)


def test_gcj02_point_read_as_wgs84_lands_elsewhere(client, worker, inside):
    """Forgetting the crs parameter moves the point by hundreds of metres: not the same grid."""
    code, lon, lat = inside
    gcj_lon, gcj_lat = geo.wgs84_to_gcj02(lon, lat)

    response = locate(client, worker["headers"], lon=gcj_lon, lat=gcj_lat)

    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.get_json()["grid"]["code"] != code


def test_point_on_a_boundary_belongs_to_the_lowest_code(client, worker, inside):
    """Covers, not contains: a vertex shared by several grids goes to the lowest code."""
    code, _lon, _lat = inside
    headers = worker["headers"]
    polygon = grid_polygon(client, headers, code)
    vertices = shapely.get_coordinates(polygon.boundary).tolist()
    for lon, lat in vertices[:8]:
        body = locate(client, headers, lon=lon, lat=lat).get_json()
        assert body["grid"]["code"] <= code, (lon, lat, body)
        neighbours = shapely.Point(lon, lat)
        holder = grid_polygon(client, headers, body["grid"]["code"])
        assert holder.covers(neighbours)


def test_outside_the_county(client, worker):
    body = problem_of(locate(client, worker["headers"], lon=116.4, lat=39.9), 422)

    assert "location" in body["errors"]
    assert body["errors"]["location"]


def test_outside_china_too(client, worker):
    body = problem_of(locate(client, worker["headers"], lon=2.35, lat=48.85), 422)

    assert "location" in body["errors"]


def test_enclave_is_a_hole(client, worker):
    lon, lat = NANYUE_TOWN_CENTRE

    body = problem_of(locate(client, worker["headers"], lon=lon, lat=lat), 422)

    assert "location" in body["errors"]


def test_unknown_crs(client, worker, inside):
    _code, lon, lat = inside

    body = problem_of(locate(client, worker["headers"], lon=lon, lat=lat, crs="epsg3857"), 422)

    assert "crs" in body["errors"]


def test_missing_lat(client, worker, inside):
    _code, lon, _lat = inside

    body = problem_of(locate(client, worker["headers"], lon=lon), 422)

    assert "lat" in body["errors"]
    assert "lon" not in body["errors"]


def test_missing_both(client, worker):
    body = problem_of(locate(client, worker["headers"]), 422)

    assert {"lon", "lat"} <= set(body["errors"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lon": 500, "lat": 27.2}, "lon"),
        ({"lon": -180.5, "lat": 27.2}, "lon"),
        ({"lon": 112.8, "lat": 91}, "lat"),
        ({"lon": "east", "lat": 27.2}, "lon"),
        ({"lon": "nan", "lat": 27.2}, "lon"),
    ],
)
def test_coordinates_out_of_range(client, worker, query, field):
    body = problem_of(locate(client, worker["headers"], **query), 422)

    assert field in body["errors"]


def test_locate_is_public_but_hides_worker_accounts(client, worker, inside):
    code, lon, lat = inside

    response = client.get(LOCATE, query_string={"lon": lon, "lat": lat})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grid"]["code"] == code
    assert body["grid_workers"], "the public still sees who looks after the grid"
    for entry in body["grid_workers"]:
        assert set(entry) == {"display_name"}
    signed_in = locate(client, worker["headers"], lon=lon, lat=lat).get_json()
    assert [w["display_name"] for w in signed_in["grid_workers"]] == [
        w["display_name"] for w in body["grid_workers"]
    ]


def test_locate_rejects_a_bad_token_even_though_it_is_public(client, inside):
    _code, lon, lat = inside

    response = client.get(
        LOCATE, query_string={"lon": lon, "lat": lat}, headers={"Authorization": "Bearer nope"}
    )

    problem_of(response, 401)


def test_anonymous_point_outside_is_a_422(client):
    body = problem_of(client.get(LOCATE, query_string={"lon": 100.0, "lat": 27.2}), 422)

    assert "location" in body["errors"]


def test_locate_point_service_without_http(session, inside):
    from gridapp.grid.services import locate_point

    code, lon, lat = inside

    found = locate_point(session, lon, lat, check_seconds=0)

    assert found.located.grid.code == code
    assert found.located.district.code == "430423"
    assert [u.username for u in found.grid_workers] == ["grid_worker"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
    database=None,
)
@given(u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0), which=st.integers(0, 10**6))
def test_every_point_of_a_grid_locates_to_it(session, u, v, which):
    """Any point strictly inside a demo grid is located to exactly that grid (and its chain)."""
    from sqlalchemy import select

    from gridapp.grid.models import Area
    from gridapp.grid.services import locate_point

    codes = _urban_grid_codes(session)
    area = session.scalar(select(Area).where(Area.code == codes[which % len(codes)]))
    min_lon, min_lat, max_lon, max_lat = area.geometry.bounds
    lon, lat = min_lon + u * (max_lon - min_lon), min_lat + v * (max_lat - min_lat)
    point = shapely.Point(lon, lat)
    if not area.geometry.contains(point) or area.geometry.boundary.distance(point) < 1e-9:
        return

    found = locate_point(session, lon, lat, check_seconds=0).located

    assert found.grid.code == area.code
    assert found.community.code == area.parent_code
    assert found.district.code == "430423"


_GRID_CODES: list[str] = []


def _urban_grid_codes(session: Any) -> list[str]:
    if not _GRID_CODES:
        from sqlalchemy import select

        from gridapp.grid.models import Area

        _GRID_CODES.extend(
            session.scalars(select(Area.code).where(Area.level == "grid").order_by(Area.code))
        )
    return _GRID_CODES


def test_unknown_query_parameter_is_refused(client, auth):
    # A misspelt parameter must not silently fall back to a default datum.
    response = client.get(
        "/api/v1/grid/locate",
        query_string={"lon": 112.86, "lat": 27.23, "cs": "gcj02"},
        headers=auth("grid_worker"),
    )
    assert response.status_code == 422
    assert "cs" in response.get_json()["errors"]


@pytest.mark.parametrize("crs", ["GCJ02", "Gcj02", " gcj02 "])
def test_crs_names_are_case_insensitive(client, worker, inside, crs):
    code, lon, lat = inside
    gcj_lon, gcj_lat = geo.wgs84_to_gcj02(lon, lat)

    response = locate(client, worker["headers"], lon=gcj_lon, lat=gcj_lat, crs=crs)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grid"]["code"] == code
    assert geo.haversine_m(lon, lat, body["location"]["lon"], body["location"]["lat"]) < 0.5
    assert body["original_location"]["crs"] == "gcj02", "stored under its one lower-case name"


def test_upper_case_wgs84_is_wgs84(client, worker, inside):
    code, lon, lat = inside

    body = locate(client, worker["headers"], lon=lon, lat=lat, crs="WGS84").get_json()

    assert body["grid"]["code"] == code
    assert body["original_location"]["crs"] == "wgs84"


def test_an_unknown_crs_in_capitals_is_still_unknown(client, worker, inside):
    _code, lon, lat = inside

    body = problem_of(locate(client, worker["headers"], lon=lon, lat=lat, crs="EPSG3857"), 422)

    assert list(body["errors"]) == ["crs"]
