"""Map administration: import as a new version, the dry run, refusals, layers (issue 7)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.gridapp.conftest import problem_of

LAYER = "environment"


def square(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(
    code: str, name: str, level: str, geometry: dict[str, Any], parent: str | None = None
) -> dict[str, Any]:
    props = {"code": code, "name": name, "level": level, "layer": LAYER}
    if parent:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


DISTRICT = feature("430423", "衡山县 (环保)", "district", square(112.0, 27.0, 112.2, 27.2))
WEST = feature("430423100", "西片", "street", square(112.0, 27.0, 112.1, 27.2), "430423")
EAST = feature("430423101", "东片", "street", square(112.1, 27.0, 112.2, 27.2), "430423")


@pytest.fixture()
def admin(auth: Any) -> dict[str, str]:
    return auth("admin")


def post_map(client: Any, headers: dict[str, str], body: Any, **query: Any) -> Any:
    params = "&".join(f"{k}={str(v).lower()}" for k, v in query.items())
    return client.post(
        f"/api/v1/admin/maps?{params}",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_dry_run_reports_and_stores_nothing(client, admin, fresh_caches):
    response = post_map(client, admin, collection(DISTRICT, WEST), dry_run=True)

    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["dry_run"] is True and report["versions"] == {}
    assert [a["code"] for a in report["added"]] == ["430423", "430423100"]
    assert report["changed"] == [] and report["removed"] == []
    # The east half of the district has no street: a gap, reported as a warning.
    assert [w["code"] for w in report["warnings"]] == ["430423"]
    assert "gap" in report["warnings"][0]["message"]
    layers = client.get("/api/v1/admin/layers", headers=admin).get_json()
    assert LAYER not in {layer["layer"] for layer in layers}
    assert client.get(f"/api/v1/admin/maps?layer={LAYER}", headers=admin).get_json()["items"] == []


def test_import_makes_a_new_version_and_the_index_swaps(client, admin, fresh_caches):
    first = post_map(client, admin, collection(DISTRICT, WEST), dry_run=False).get_json()
    assert first["dry_run"] is False and first["versions"] == {LAYER: 1}

    again = post_map(client, admin, collection(DISTRICT, WEST), dry_run=False).get_json()
    assert again["versions"] == {} and again["unchanged"] == 2  # same file: nothing changes

    moved = dict(WEST, geometry=square(112.0, 27.0, 112.09, 27.2))
    plan = post_map(client, admin, collection(moved, EAST), dry_run=True).get_json()
    assert [(c["code"], c["fields"]) for c in plan["changed"]] == [("430423100", ["geometry"])]
    assert [a["code"] for a in plan["added"]] == ["430423101"]
    second = post_map(client, admin, collection(moved, EAST), dry_run=False)
    assert second.status_code == 200, second.get_json()  # the streets' parent is stored
    assert second.get_json()["versions"] == {LAYER: 2}

    versions = client.get(f"/api/v1/admin/maps?layer={LAYER}", headers=admin).get_json()
    assert [(v["number"], v["added"], v["changed"], v["areas"]) for v in versions["items"]] == [
        (2, 1, 1, 3),
        (1, 2, 0, 2),
    ]
    assert versions["items"][0]["source"] == "api"
    layer = next(
        item
        for item in client.get("/api/v1/admin/layers", headers=admin).get_json()
        if item["layer"] == LAYER
    )
    assert layer["version"] == 2
    assert layer["areas"] == {"district": 1, "street": 2, "community": 0, "grid": 0}
    changes = client.get("/api/v1/admin/changes?action=admin.map.import", headers=admin)
    entry = changes.get_json()["items"][0]
    assert entry["before"] == {LAYER: 1} and entry["after"]["versions"] == {LAYER: 2}


def test_replace_removes_what_the_file_lacks(client, admin, fresh_caches):
    post_map(client, admin, collection(DISTRICT, WEST, EAST), dry_run=False)

    plan = post_map(client, admin, collection(DISTRICT, WEST), dry_run=True, replace=True)
    assert [r["code"] for r in plan.get_json()["removed"]] == ["430423101"]
    done = post_map(client, admin, collection(DISTRICT, WEST), dry_run=False, replace=True)
    assert done.get_json()["versions"] == {LAYER: 2}
    layer = next(
        item
        for item in client.get("/api/v1/admin/layers", headers=admin).get_json()
        if item["layer"] == LAYER
    )
    assert layer["areas"]["street"] == 1


def test_a_refused_file_lists_every_problem_and_stores_nothing(client, admin, fresh_caches):
    bad_code = feature("43042X", "坏", "district", square(113.0, 27.0, 113.1, 27.1))
    orphan = feature("430423999", "孤", "street", square(112.0, 27.0, 112.1, 27.1), "439999")
    overlapping = feature("430423102", "重叠", "street", square(112.05, 27.0, 112.15, 27.2))
    overlapping["properties"]["parent"] = "430423"

    response = post_map(
        client, admin, collection(DISTRICT, WEST, bad_code, orphan, overlapping), dry_run=False
    )

    body = problem_of(response, 422)
    features = {p["feature"] for p in body["problems"]}
    assert {2, 3, 4} <= features
    assert "features.2.code" in body["errors"]
    assert "features.3.parent" in body["errors"]
    assert "features.4.geometry" in body["errors"]
    assert client.get(f"/api/v1/admin/maps?layer={LAYER}", headers=admin).get_json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"type": "FeatureCollection", "features": []}', b'"x"'],
)
def test_bodies_that_are_no_map_are_422(client, admin, body):
    response = client.post(
        "/api/v1/admin/maps?dry_run=false",
        data=body,
        content_type="application/json",
        headers=admin,
    )
    problem_of(response, 422)


def test_an_oversized_map_is_refused_before_it_is_read(client, admin):
    from gridapp.grid.services import MAP_IMPORT_MAX_BYTES

    response = client.post(
        "/api/v1/admin/maps?dry_run=true",
        data=b" " * (MAP_IMPORT_MAX_BYTES + 1),
        content_type="application/json",
        headers=admin,
    )
    problem_of(response, 413)


def test_unknown_query_parameters_are_refused(client, admin):
    problem_of(post_map(client, admin, collection(DISTRICT), dryrun=True), 422)


def test_the_urban_layer_lists_its_demo_version(client, admin):
    layers = client.get("/api/v1/admin/layers", headers=admin).get_json()
    urban = next(item for item in layers if item["layer"] == "urban")
    assert urban["version"] >= 1 and urban["areas"]["grid"] > 0
    versions = client.get("/api/v1/admin/maps?layer=urban", headers=admin).get_json()["items"]
    assert versions and versions[0]["number"] == urban["version"]
    assert versions[0]["source"] == "seed"


def test_the_grid_index_follows_the_new_version(client, admin, session, fresh_caches):
    from gridapp.grid.services import grid_index

    community = feature(
        "430423100001", "社区", "community", square(112.0, 27.0, 112.1, 27.2), "430423100"
    )
    grid = feature(
        "430423100001001", "网格甲", "grid", square(112.0, 27.0, 112.1, 27.2), "430423100001"
    )
    post_map(client, admin, collection(DISTRICT, WEST, community, grid), dry_run=False)
    assert grid_index(session, LAYER, 0).locate(112.05, 27.1).grid.name == "网格甲"

    renamed = {**grid, "properties": {**grid["properties"], "name": "网格乙"}}
    post_map(client, admin, collection(renamed), dry_run=False)

    assert grid_index(session, LAYER, 0).locate(112.05, 27.1).grid.name == "网格乙"
