"""This process's area tiles kept in memory, bounded by bytes rather than by count (issue 11)."""

from __future__ import annotations

import dataclasses

from geo.tiles import decode_tile
from gridapp.grid import tiles as grid_tiles
from tests.gridapp.grid.test_admin_maps import LAYER, collection, feature, post_map, square
from tests.gridapp.grid.test_tile_store import DISTRICT, EAST, WEST, X, Y, Z, area_tile

OVERHEAD = grid_tiles._TileCache.ENTRY_OVERHEAD


def test_the_least_recently_used_tiles_go_when_the_bytes_pass_the_bound():
    cache = grid_tiles._TileCache(3 * (1000 + OVERHEAD))
    for name in ("a", "b", "c"):
        cache.put((name,), name.encode() * 1000)
    assert cache.size_bytes == 3 * (1000 + OVERHEAD)
    assert cache.get(("a",)) == b"a" * 1000  # now the most recently used
    cache.put(("d",), b"d" * 1000)
    assert cache.get(("b",)) is None
    assert [cache.get((n,)) is not None for n in "acd"] == [True, True, True]
    # A big tile pushes out as many as it needs, oldest first.
    cache.put(("e",), b"e" * 2000)
    assert cache.get(("c",)) is None and cache.get(("a",)) is None
    assert cache.get(("d",)) == b"d" * 1000 and cache.get(("e",)) == b"e" * 2000
    assert cache.size_bytes == 3000 + 2 * OVERHEAD <= cache.max_bytes


def test_a_key_put_again_is_counted_once_and_empty_tiles_count_too():
    cache = grid_tiles._TileCache(10 * OVERHEAD)
    cache.put(("a",), b"x" * 100)
    cache.put(("a",), b"y" * 300)
    assert len(cache) == 1 and cache.size_bytes == 300 + OVERHEAD
    for i in range(50):
        cache.put(("empty", i), b"")
    assert len(cache) == 10 and cache.size_bytes == 10 * OVERHEAD
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_a_tile_larger_than_the_bound_is_served_but_not_kept():
    cache = grid_tiles._TileCache(1000 + OVERHEAD)
    cache.put(("small",), b"s" * 10)
    cache.put(("huge",), b"h" * 2000)
    assert cache.get(("huge",)) is None
    assert cache.get(("small",)) == b"s" * 10
    # The per-call bound (the app's setting) wins over the cache's own.
    cache.put(("other",), b"o" * 100, max_bytes=50)
    assert cache.get(("other",)) is None


def test_the_app_setting_bounds_what_the_tile_route_keeps(app, client, auth, fresh_caches):
    admin = auth("admin")
    post_map(client, admin, collection(DISTRICT, WEST, EAST), dry_run=False)
    grid_tiles.tile_cache.clear()
    config = app.config["GRIDAPP"]
    try:
        # Room for one entry's overhead and a few bytes: no real tile fits, each is made afresh
        # and the answers stay the same.
        app.config["GRIDAPP"] = dataclasses.replace(config, tile_cache_bytes=OVERHEAD + 16)
        first = area_tile(client, admin)
        assert first and len(grid_tiles.tile_cache) == 0
        assert area_tile(client, admin) == first
        assert area_tile(client, admin, Z, X + 1, Y) == b""  # east of the map: empty, kept
        assert len(grid_tiles.tile_cache) == 1
        assert grid_tiles.tile_cache.size_bytes <= OVERHEAD + 16

        app.config["GRIDAPP"] = config  # the default bound keeps it
        assert area_tile(client, admin) == first
        assert len(grid_tiles.tile_cache) == 2
        assert config.tile_cache_bytes == grid_tiles.DEFAULT_TILE_CACHE_BYTES
    finally:
        app.config["GRIDAPP"] = config


def test_the_tiles_draw_the_unit_grids_from_the_grid_index(client, auth, session, fresh_caches):
    from gridapp.grid.services import grid_index

    community = feature(
        "430423100001", "社区", "community", square(112.0, 27.0, 112.005, 27.01), "430423100"
    )
    grids = [
        feature(
            f"43042310000100{i}",
            f"网格{i}",
            "grid",
            square(112.0 + 0.0025 * (i - 1), 27.0, 112.0 + 0.0025 * i, 27.01),
            "430423100001",
        )
        for i in (1, 2)
    ]
    imported = post_map(
        client, auth("admin"), collection(DISTRICT, WEST, community, *grids), dry_run=False
    )
    assert imported.status_code == 200, imported.get_data(as_text=True)
    codes = {grid["properties"]["code"] for grid in grids}
    shown = grid_tiles.levels_at(16)
    x, y = 53_157, 27_659  # the z16 tile over the grids' south-west corner
    grid_tiles.shape_cache.clear()
    try:
        alone = grid_tiles.render_area_tile(session, LAYER, shown, 16, x, y, "wgs84")
        own = grid_tiles.shape_cache.get(session, LAYER)
        assert own.index is None and {s.code for s in own.shapes} >= codes
        grid_tiles.shape_cache.clear()

        index = grid_index(session, LAYER, 0)
        assert len(index) == 2
        shared = grid_tiles.shape_cache.get(session, LAYER)
        # The grids are no longer kept by the cache but read from the index, alike.
        assert shared.index is index and shared.from_index.all()
        assert not {s.code for s in shared.shapes} & codes
        box = (111.9, 26.9, 112.1, 27.1)
        assert [
            (s.code, s.name, s.level, s.parent, s.geometry.wkb) for s in shared.in_box(*box)
        ] == [(s.code, s.name, s.level, s.parent, s.geometry.wkb) for s in own.in_box(*box)]
        assert shared.total_bounds() == own.total_bounds()
        drawn = grid_tiles.render_area_tile(session, LAYER, shown, 16, x, y, "wgs84")
        assert drawn == alone and {"grid", "street"} <= set(decode_tile(drawn))
    finally:
        grid_tiles.shape_cache.clear()
