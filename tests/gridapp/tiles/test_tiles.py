"""Vector tiles: the grid map by level and the open cases, scoped, the same on both backends."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from geo.crs import wgs84_to_gcj02
from geo.tiles import EXTENT, decode_tile
from gridapp.cases import tiles as case_tiles
from gridapp.cases.models import Case
from gridapp.cases.queries import CaseFilters
from gridapp.grid import tiles as grid_tiles
from tests.conftest import BACKEND
from tests.gridapp.case_helpers import grid_point, report


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, float, float]:
    """Return the tile holding a point and the point's pixel in it (y downwards)."""
    n = 2**z
    fx = (lon + 180) / 360 * n
    lat_r = math.radians(lat)
    fy = (1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n
    x, y = int(fx), int(fy)
    return x, y, (fx - x) * EXTENT, (fy - y) * EXTENT


@pytest.fixture()
def reported(client, auth):
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    response = report(client, worker, lon, lat)
    assert response.status_code == 201, response.get_json()
    return response.get_json(), me["grids"][0]


def get_tile(client: Any, headers: dict[str, str], path: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/tiles/{path}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return decode_tile(response.get_data()) if response.get_data() else {}


def test_case_tile_shows_an_open_case_where_it_is(client, auth, reported):
    case, _grid = reported
    x, y, px, py = tile_of(case["location"]["lon"], case["location"]["lat"], 16)
    layers = get_tile(client, auth("acceptor"), f"cases/16/{x}/{y}.mvt")
    found = [f for f in layers["cases"] if f["id"] == case["id"]]
    assert len(found) == 1
    feature = found[0]
    assert feature["properties"]["state"] == "reported"
    assert feature["properties"]["sla"] in ("ok", "warning", "overdue")
    assert feature["properties"]["number"] == case["number"]
    tx, ty = feature["geometry"]["coordinates"]
    assert abs(tx - px) <= 1 and abs(ty - py) <= 1


def test_case_tile_takes_the_case_list_filters(client, auth, reported):
    case, _grid = reported
    x, y, _px, _py = tile_of(case["location"]["lon"], case["location"]["lat"], 16)
    headers = auth("acceptor")
    kept = get_tile(
        client, headers, f"cases/16/{x}/{y}.mvt?state=reported&grid={case['grid_code']}"
    )
    assert case["id"] in [f["id"] for f in kept["cases"]]
    dropped = get_tile(client, headers, f"cases/16/{x}/{y}.mvt?state=filed")
    assert case["id"] not in [f["id"] for f in dropped.get("cases", [])]


def test_case_tile_is_scoped_to_the_caller(client, auth, reported):
    case, _grid = reported
    x, y, _px, _py = tile_of(case["location"]["lon"], case["location"]["lat"], 16)
    # A handler sees only cases dispatched to their department: not this one.
    layers = get_tile(client, auth("handler"), f"cases/16/{x}/{y}.mvt")
    assert case["id"] not in [f["id"] for f in layers.get("cases", [])]


def test_case_tile_in_gcj02_moves_the_point(client, auth, reported):
    case, _grid = reported
    lon, lat = wgs84_to_gcj02(case["location"]["lon"], case["location"]["lat"])
    x, y, px, py = tile_of(lon, lat, 16)
    layers = get_tile(client, auth("acceptor"), f"cases/16/{x}/{y}.mvt?datum=gcj02")
    (feature,) = [f for f in layers["cases"] if f["id"] == case["id"]]
    tx, ty = feature["geometry"]["coordinates"]
    assert abs(tx - px) <= 1 and abs(ty - py) <= 1


def test_area_tile_has_each_level_with_codes_and_names(client, auth, reported):
    case, grid = reported
    x, y, _px, _py = tile_of(case["location"]["lon"], case["location"]["lat"], 14)
    layers = get_tile(client, auth("dispatcher"), f"areas/14/{x}/{y}.mvt")
    assert set(layers) == {"district", "street", "community", "grid"}
    assert grid in {f["properties"]["code"] for f in layers["grid"]}
    assert case["community_code"] in {f["properties"]["code"] for f in layers["community"]}
    assert all(f["properties"]["name"] for f in layers["street"])
    # Below zoom 13 unit grids are not drawn; a level may be asked for alone.
    low = get_tile(client, auth("dispatcher"), f"areas/10/{x >> 4}/{y >> 4}.mvt")
    assert "grid" not in low and "street" in low
    only = get_tile(client, auth("dispatcher"), f"areas/14/{x}/{y}.mvt?level=community")
    assert set(only) == {"community"}


def test_tile_answers_need_a_user_and_a_real_tile(client, auth):
    assert client.get("/api/v1/tiles/areas/1/0/0.mvt").status_code == 401
    headers = auth("dispatcher")
    assert client.get("/api/v1/tiles/areas/3/9/0.mvt", headers=headers).status_code == 404
    assert client.get("/api/v1/tiles/roads/3/1/0.mvt", headers=headers).status_code == 404
    assert client.get("/api/v1/tiles/areas/3/1/0.mvt?datum=xy", headers=headers).status_code == 422
    empty = client.get("/api/v1/tiles/cases/5/0/0.mvt", headers=headers)
    assert empty.status_code == 200 and empty.get_data() == b""


def _features(data: bytes) -> dict[str, dict[str, tuple]]:
    """Index a tile's features by layer and code (or case id): properties and extent."""
    out: dict[str, dict[str, tuple]] = {}
    for layer, features in (decode_tile(data) if data else {}).items():
        for feature in features:
            key = str(feature.get("id") or feature["properties"]["code"])
            coords = feature["geometry"]["coordinates"]
            flat = list(_points(coords))
            xs, ys = [p[0] for p in flat], [p[1] for p in flat]
            out.setdefault(layer, {})[key] = (
                dict(feature["properties"]),
                (min(xs), min(ys), max(xs), max(ys)),
            )
    return out


def _points(coords: Any) -> Iterator[Any]:
    if coords and isinstance(coords[0], (int, float)):
        yield coords
        return
    for part in coords:
        yield from _points(part)


@pytest.mark.skipif(BACKEND != "postgres", reason="ST_AsMVT is PostGIS; SQLite has Python only")
def test_postgis_and_python_make_the_same_tiles(client, auth, session, reported):
    case, _grid = reported
    lon, lat = case["location"]["lon"], case["location"]["lat"]
    for z in (10, 13, 15):
        x, y, _px, _py = tile_of(lon, lat, z)
        shown = grid_tiles.levels_at(z)
        postgis = _features(grid_tiles._pg_tile(session, "urban", shown, z, x, y))
        python = _features(grid_tiles._python_tile(session, "urban", shown, z, x, y, "wgs84"))
        assert set(postgis) == set(python)
        for layer in postgis:
            # Areas that only graze the buffer may be kept by one and dropped by the other.
            inner = {k for k, (_p, box) in python[layer].items() if _inside(box)}
            assert inner <= set(postgis[layer]), layer
            for key in inner:
                assert postgis[layer][key][0] == python[layer][key][0]
                assert all(
                    abs(a - b) <= 2
                    for a, b in zip(postgis[layer][key][1], python[layer][key][1], strict=True)
                ), (layer, key)
    user = session.get(Case, case["id"]).reporter
    x, y, _px, _py = tile_of(lon, lat, 16)
    now = datetime.now(UTC)
    postgis_cases = _features(case_tiles._pg_tile(session, user, 16, x, y, now, CaseFilters()))
    python_cases = _features(
        case_tiles._python_tile(session, user, 16, x, y, "wgs84", now, CaseFilters())
    )
    assert postgis_cases == python_cases
    assert str(case["id"]) in postgis_cases["cases"]


def _inside(box: tuple) -> bool:
    return box[2] > 8 and box[3] > 8 and box[0] < EXTENT - 8 and box[1] < EXTENT - 8
