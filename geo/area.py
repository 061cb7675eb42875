"""Describe the areas of the grid hierarchy as plain values."""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon

from geo.codes import Level

__all__ = ["DEFAULT_LAYER", "DEFAULT_SETTING", "SETTINGS", "AreaRef", "AreaShape"]

DEFAULT_LAYER = "urban"
# 城区 or 农村: some step limits differ by it (a check in a rural grid may take longer).
SETTINGS = ("urban", "rural")
DEFAULT_SETTING = "urban"  # a top-level area that says nothing; lower ones inherit their parent's


@dataclass(frozen=True, slots=True)
class AreaRef:
    """Name an area: its code, name and level, without its shape."""

    code: str
    name: str
    level: Level


@dataclass(frozen=True, slots=True)
class AreaShape:
    """Hold one area of the grid map (district, street, community or unit grid) with its shape.

    The geometry is WGS84 lon/lat. `layer` tells which of several coexisting grid maps
    (多网融合: urban management, social governance, …) a unit grid belongs to; `setting` whether
    the area is urban or rural (城区 / 农村).
    """

    code: str
    name: str
    level: Level
    parent: str | None
    geometry: Polygon | MultiPolygon
    layer: str = DEFAULT_LAYER
    setting: str = DEFAULT_SETTING

    @property
    def ref(self) -> AreaRef:
        """Return the area's code, name and level."""
        return AreaRef(code=self.code, name=self.name, level=self.level)
