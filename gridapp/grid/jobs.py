"""Grid map jobs: the area tiles of a new map version, rendered once for every process."""

from __future__ import annotations

from typing import Any

from gridapp.core.jobs import job_context
from gridapp.grid.services import map_version
from gridapp.grid.tiles import precompute_area_tiles as precompute
from gridapp.grid.tiles import tile_store


def precompute_area_tiles(layer: str, version: str) -> dict[str, Any]:
    """Render a map version's area tiles into the shared store (after an import, 地图导入).

    Enqueued by the import that made ``version``; a later import has made its own job, so this
    one does nothing once the layer has moved on (its tiles would be unreachable at once).
    """
    with job_context() as session:
        if map_version(session, layer) != version:
            return {"layer": layer, "version": version, "skipped": "a newer map version"}
        store = tile_store()
        assert store is not None  # job_context gives an app context
        return precompute(session, store, layer)
