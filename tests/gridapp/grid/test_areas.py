"""The grid map's areas: lists, cursor pages, detail and GeoJSON (DESIGN §3, §4)."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import select

from gridapp.grid.models import Area
from tests.gridapp.conftest import problem_of

AREAS = "/api/v1/areas"
COUNTY = "430423"
COUNTY_SEAT = "430423100"


@pytest.fixture()
def headers(auth: Any) -> dict[str, str]:
    return auth("grid_worker")


def get_page(client: Any, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = client.get(AREAS, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_streets_of_the_county(client, headers):
    page = get_page(client, headers, level="street")

    streets = page["items"]
    assert len(streets) == 12
    assert page["next_cursor"] is None
    assert {s["parent"] for s in streets} == {COUNTY}
    assert {s["level"] for s in streets} == {"street"}
    assert [s["code"] for s in streets] == sorted(s["code"] for s in streets)
    assert COUNTY_SEAT in [s["code"] for s in streets]
    assert next(s for s in streets if s["code"] == COUNTY_SEAT)["name"] == "开云镇"


def test_area_fields(client, headers):
    street = get_page(client, headers, level="street", limit=1)["items"][0]

    assert {"code", "name", "level", "parent", "layer", "area_km2", "generated", "bbox"} <= set(
        street
    )
    assert street["layer"] == "urban"
    assert street["area_km2"] > 0
    min_lon, min_lat, max_lon, max_lat = street["bbox"]
    assert 112 < min_lon < max_lon < 114
    assert 26 < min_lat < max_lat < 28


def test_communities_of_the_county_seat(client, headers):
    communities = get_page(client, headers, level="community", parent=COUNTY_SEAT)["items"]

    assert len(communities) >= 8
    for community in communities:
        assert community["level"] == "community"
        assert community["parent"] == COUNTY_SEAT
        assert community["code"].startswith(COUNTY_SEAT) and len(community["code"]) == 12


def test_parent_without_level_lists_children(client, headers):
    children = get_page(client, headers, parent=COUNTY)["items"]

    assert len(children) == 12
    assert {c["level"] for c in children} == {"street"}


def test_cursor_pages_walk_every_street_once(client, headers):
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query: dict[str, Any] = {"level": "street", "limit": 5}
        if cursor:
            query["cursor"] = cursor
        page = get_page(client, headers, **query)
        pages += 1
        assert len(page["items"]) <= 5
        seen += [a["code"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"

    assert pages == 3  # 5 + 5 + 2
    assert len(seen) == len(set(seen)) == 12
    assert seen == sorted(seen)
    everything = get_page(client, headers, level="street")["items"]
    assert seen == [a["code"] for a in everything]


def test_exact_page_size_has_no_empty_last_page(client, headers):
    page = get_page(client, headers, level="street", limit=12)

    assert len(page["items"]) == 12
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 1001}, {"limit": "many"}, {"level": "province"}],
)
def test_bad_list_arguments(client, headers, query):
    body = problem_of(client.get(AREAS, query_string=query, headers=headers), 422)

    assert set(query) <= set(body["errors"])


def test_other_layer_is_empty(client, headers):
    assert get_page(client, headers, layer="environment")["items"] == []


def test_county_detail(client, headers):
    response = client.get(f"{AREAS}/{COUNTY}", headers=headers)

    assert response.status_code == 200, response.get_json()
    county = response.get_json()
    assert county["code"] == COUNTY
    assert county["name"] == "衡山县"
    assert county["level"] == "district"
    assert county["parent"] is None
    assert county["generated"] is True


def test_geojson_feature(client, headers):
    response = client.get(f"{AREAS}/{COUNTY}", query_string={"format": "geojson"}, headers=headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    feature = response.get_json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert feature["properties"]["code"] == COUNTY
    assert feature["properties"]["name"] == "衡山县"
    assert feature["properties"]["level"] == "district"
    geometry = shape(feature["geometry"])
    assert geometry.is_valid and not geometry.is_empty
    # 南岳区 is an enclave: the county has a hole (an interior ring).
    polygons = shapely.get_parts(geometry)
    assert sum(len(p.interiors) for p in polygons) >= 1


def test_geojson_of_a_grid_lies_in_its_community(client, headers):
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    code = me["grids"][0]

    grid = client.get(f"{AREAS}/{code}?format=geojson", headers=headers).get_json()
    community = client.get(f"{AREAS}/{code[:12]}?format=geojson", headers=headers).get_json()

    assert grid["properties"]["parent"] == code[:12]
    grid_shape, community_shape = shape(grid["geometry"]), shape(community["geometry"])
    assert community_shape.buffer(1e-7).covers(grid_shape)


def test_unknown_area(client, headers):
    body = problem_of(client.get(f"{AREAS}/430423999999", headers=headers), 404)

    assert "430423999999" in body["detail"]


def test_bad_format(client, headers):
    body = problem_of(client.get(f"{AREAS}/{COUNTY}?format=kml", headers=headers), 422)

    assert "format" in body["errors"]


def test_areas_need_a_token(client):
    problem_of(client.get(AREAS), 401)
    problem_of(client.get(f"{AREAS}/{COUNTY}"), 401)


# -- the demo map itself -----------------------------------------------------------------------


def test_demo_map_counts(session):
    areas = session.execute(select(Area.code, Area.level, Area.parent_code, Area.generated)).all()
    by_level: dict[str, list[Any]] = {}
    for row in areas:
        by_level.setdefault(row.level, []).append(row)

    assert [a.code for a in by_level["district"]] == [COUNTY]
    assert len(by_level["street"]) >= 3
    assert len(by_level["community"]) >= 8
    assert len(by_level["grid"]) >= 500
    assert all(a.generated for a in areas)


def test_demo_codes_nest(session):
    codes = {
        code: (level, parent)
        for code, level, parent in session.execute(select(Area.code, Area.level, Area.parent_code))
    }
    lengths = {"district": 6, "street": 9, "community": 12, "grid": 15}
    parent_level = {"street": "district", "community": "street", "grid": "community"}
    for code, (level, parent) in codes.items():
        assert code.isdigit() and len(code) == lengths[level], code
        if level == "district":
            assert parent is None
            continue
        assert parent in codes, code
        assert codes[parent][0] == parent_level[level], code
        assert code.startswith(parent), code


def test_every_grid_is_inside_its_community(session):
    areas = {a.code: a for a in session.scalars(select(Area))}
    grids = [a for a in areas.values() if a.level == "grid"]
    for grid in grids:
        parent = areas[grid.parent_code]
        outside = grid.geometry.difference(parent.geometry.buffer(1e-6))
        assert outside.area < 1e-10, grid.code
