"""Grid map jobs: the area tiles of a new map version, rendered once for every process."""

from __future__ import annotations

from typing import Any

from gridapp.core.jobs import job_context, own_transactions
from gridapp.grid.services import map_version
from gridapp.grid.tiles import precompute_area_tiles as precompute
from gridapp.grid.tiles import tile_store


@own_transactions
def precompute_area_tiles(layer: str, version: str) -> dict[str, Any]:
    """Render a map version's area tiles into the shared store (after an import, 地图导入).

    Enqueued by the import that made ``version``; a later import has made its own job, so this
    one does nothing once the layer has moved on (its tiles would be unreachable at once), and
    stops if it moves on while this one renders. It only reads: writers go on meanwhile.
    """
    with job_context(read_only=True) as session:
        if map_version(session, layer) != version:
            return {"layer": layer, "version": version, "skipped": "a newer map version"}
        store = tile_store()
        assert store is not None  # job_context gives an app context

        def still_wanted() -> bool:
            # A fresh snapshot from here on, and the layer's version in it.
            session.commit()
            return map_version(session, layer) == version

        return precompute(session, store, layer, still_wanted=still_wanted)
