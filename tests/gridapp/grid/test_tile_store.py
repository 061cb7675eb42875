"""Area tiles precomputed after a map import into the store every process shares (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from geo import DEFAULT_LAYER
from geo.tiles import decode_tile
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.core.outbox import run_outbox_message
from gridapp.core.queue import job_path
from gridapp.core.versions import bump_version
from gridapp.grid import tiles as grid_tiles
from gridapp.grid.jobs import precompute_area_tiles
from gridapp.grid.services import map_version, version_key
from tests.gridapp.grid.test_admin_maps import LAYER, collection, feature, post_map, square
from tests.gridapp.held_jobs import Hold, written_while_held

# A district of about a kilometre (3 × 3 tiles at zoom 16: the precompute stays quick) and its
# two streets; the tile at zoom 12 holds all of it.
DISTRICT = feature("430423", "小区县", "district", square(112.0, 27.0, 112.01, 27.01))
WEST = feature("430423100", "西片", "street", square(112.0, 27.0, 112.005, 27.01), "430423")
EAST = feature("430423101", "东片", "street", square(112.005, 27.0, 112.01, 27.01), "430423")
Z, X, Y = 12, 3322, 1728


def store(app: Any) -> grid_tiles.TileStore:
    return grid_tiles.TileStore(app.config["GRIDAPP"].var_dir / "tiles")


def area_tile(client: Any, headers: dict[str, str], z: int = Z, x: int = X, y: int = Y) -> bytes:
    response = client.get(f"/api/v1/tiles/areas/{z}/{x}/{y}.mvt?map_layer={LAYER}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    data: bytes = response.get_data()
    return data


def test_an_import_enqueues_the_precompute_of_its_version(client, auth, session, fresh_caches):
    admin = auth("admin")
    assert post_map(client, admin, collection(DISTRICT, WEST), dry_run=False).status_code == 200

    jobs = session.scalars(
        select(OutboxMessage).where(OutboxMessage.job == job_path(precompute_area_tiles))
    ).all()
    assert [m.args for m in jobs] == [[LAYER, map_version(session, LAYER)]]
    assert post_map(client, admin, collection(DISTRICT, WEST), dry_run=False).status_code == 200
    again = session.scalars(
        select(OutboxMessage).where(OutboxMessage.job == job_path(precompute_area_tiles))
    ).all()
    assert len(again) == 1  # the same file again: no new version, nothing to render


def test_the_precompute_stores_the_tiles_made_on_demand(app, client, auth, session, fresh_caches):
    admin = auth("admin")
    post_map(client, admin, collection(DISTRICT, WEST, EAST), dry_run=False)
    version = map_version(session, LAYER)

    summary = precompute_area_tiles(LAYER, version)

    assert summary["version"] == version and summary["zooms"] == [0, 16]
    # A tile a zoom over this small box down to zoom 13 or so, then a few more a zoom.
    assert 17 <= summary["tiles"] <= 60 and summary["empty"] < summary["tiles"]
    kept = store(app)
    assert kept.complete(LAYER, version)
    stored = kept.read(LAYER, version, Z, X, Y)
    shown = grid_tiles.levels_at(Z)
    assert stored == grid_tiles.render_area_tile(session, LAYER, shown, Z, X, Y, "wgs84")
    assert {f["properties"]["code"] for f in decode_tile(stored)["street"]} == {
        WEST["properties"]["code"],
        EAST["properties"]["code"],
    }
    # Served from the store by any process: one whose own cache is empty reads the file.
    kept.write(LAYER, version, Z, X, Y, b"stored")
    grid_tiles.tile_cache.clear()
    assert area_tile(client, admin) == b"stored"
    # Another datum or a subset of the levels is not what the store keeps: made on demand.
    other = client.get(
        f"/api/v1/tiles/areas/{Z}/{X}/{Y}.mvt?map_layer={LAYER}&level=district", headers=admin
    )
    assert set(decode_tile(other.get_data())) == {"district"}


def test_a_new_version_is_never_served_the_old_tiles(app, client, auth, session, fresh_caches):
    admin = auth("admin")
    post_map(client, admin, collection(DISTRICT, WEST, EAST), dry_run=False)
    first = map_version(session, LAYER)
    precompute_area_tiles(LAYER, first)
    renamed = dict(WEST, properties={**WEST["properties"], "name": "西片 (新)"})
    moved = dict(renamed, geometry=square(112.0, 27.0, 112.004, 27.01))
    assert post_map(client, admin, collection(moved, EAST), dry_run=False).status_code == 200
    second = map_version(session, LAYER)

    # The first import's job, run late, renders nothing: its tiles could never be asked for.
    assert precompute_area_tiles(LAYER, first)["skipped"]
    names = {f["properties"]["name"] for f in decode_tile(area_tile(client, admin))["street"]}
    assert "西片 (新)" in names
    summary = precompute_area_tiles(LAYER, second)
    assert summary["removed_versions"] == [first]
    assert store(app).read(LAYER, first, Z, X, Y) is None
    assert store(app).read(LAYER, second, Z, X, Y) is not None


def test_a_render_the_map_moved_past_stops_and_leaves_the_newer_tiles(
    app, client, auth, session, fresh_caches, monkeypatch
):
    # Two workers render two versions at once (scale-out): the older one, finishing last, must
    # not remove the newer version's tiles, nor go on rendering tiles nobody can ask for.
    admin = auth("admin")
    post_map(client, admin, collection(DISTRICT, WEST, EAST), dry_run=False)
    first = map_version(session, LAYER)
    kept = store(app)
    render = grid_tiles.render_area_tile
    newer: list[str] = []

    def then_an_import(*args: Any) -> bytes:
        if not newer:  # the first tile: an import lands, its tile is already stored
            newer.append(bump_version(session, version_key(LAYER)))
            kept.write(LAYER, newer[0], Z, X, Y, b"newer")
        return render(*args)

    monkeypatch.setattr(grid_tiles, "render_area_tile", then_an_import)
    monkeypatch.setattr(grid_tiles, "RENEW_SECONDS", 0.0)  # asked before every tile

    summary = precompute_area_tiles(LAYER, first)

    assert summary["skipped"] and summary["tiles"] == 1
    assert summary["removed_versions"] == [first]
    assert not kept.complete(LAYER, first) and kept.read(LAYER, first, 0, 0, 0) is None
    assert kept.read(LAYER, newer[0], Z, X, Y) == b"newer"


def test_tiles_covering_a_box_are_those_its_corners_span():
    box = (112.0, 27.0, 112.01, 27.01)
    assert list(grid_tiles.tiles_covering(box, 0)) == [(0, 0)]
    assert list(grid_tiles.tiles_covering(box, 12)) == [(X, Y)]
    at_16 = list(grid_tiles.tiles_covering(box, 16))
    assert at_16 == [(x, y) for x in (53156, 53157, 53158) for y in (27658, 27659, 27660)]


def test_the_store_refuses_keys_that_are_no_layer_or_version(tmp_path):
    kept = grid_tiles.TileStore(tmp_path)
    for layer, version in (("../x", "1-ab"), ("urban", "1/../../x"), ("", "1")):
        with pytest.raises(ValueError):
            kept.path(layer, version, 0, 0, 0)
    assert kept.path("urban", "3-a1b2", 14, 5, 6) == tmp_path / "urban/3-a1b2/14/5/6.mvt"


def test_writers_go_on_while_the_precompute_renders(app, monkeypatch):
    # The job renders for minutes at a city's map. On SQLite a transaction that may write holds
    # the one write lock from its start (gridapp/core/db_sqlite.py): were the rendering inside
    # the outbox row's transaction, every report and action would wait for all of it. Committed
    # transactions on connections of their own (the suite's session shares one connection).
    with app.app_context(), Session(db.engine) as setup:
        version = map_version(setup, DEFAULT_LAYER)
        message = OutboxMessage(
            job=job_path(precompute_area_tiles), args=[DEFAULT_LAYER, version], queue="low"
        )
        setup.add(message)
        setup.commit()
        message_id = message.id
    hold = Hold(grid_tiles.render_area_tile)
    monkeypatch.setattr(grid_tiles, "render_area_tile", hold)
    # One tile a zoom: the demo county's whole pyramid is not what this is about.
    monkeypatch.setattr(grid_tiles, "tiles_covering", lambda bounds, z: iter([(0, 0)]))
    try:
        through, summary = written_while_held(app, hold, lambda: run_outbox_message(message_id))
        assert through  # while the render was held
        assert summary["version"] == version and summary["tiles"] == 17
        with app.app_context(), Session(db.engine) as check:
            assert check.get(OutboxMessage, message_id).done_at is not None
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))
            cleanup.commit()
