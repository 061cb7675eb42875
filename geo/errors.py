"""Exceptions raised by the geo library; every one is a GeoError."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geo.importer import ImportProblem

__all__ = [
    "GeoError",
    "GridImportError",
    "InvalidCode",
    "PointOutsideGrids",
    "UnknownArea",
    "UnknownCRS",
]


class GeoError(Exception):
    """Base of every error the geo library raises."""


class PointOutsideGrids(GeoError):
    """Say that no unit grid (单元网格) covers a point: it is outside the jurisdiction."""

    # BaseException's own constructor keeps (lon, lat) in args, and the message is written only
    # when asked for: callers placing many points (a bulk import, a phone's replay) catch this
    # for every point outside and never read it, and a Python __init__ or formatting two floats
    # costs more than finding the point.
    if TYPE_CHECKING:

        def __init__(self, lon: float, lat: float) -> None: ...

    @property
    def lon(self) -> float:
        lon: float = self.args[0]
        return lon

    @property
    def lat(self) -> float:
        lat: float = self.args[1]
        return lat

    def __str__(self) -> str:
        return f"Point ({self.lon}, {self.lat}) is outside the jurisdiction"


class UnknownCRS(GeoError):
    """Say that a coordinate reference system name is not one we convert from."""


class InvalidCode(GeoError):
    """Say that an area or component code breaks GB/T 30428.1."""


class UnknownArea(GeoError):
    """Say that an area code is not in the grid map."""


class GridImportError(GeoError):
    """Refuse a grid map file, listing every problem found in it at once."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        shown = "; ".join(str(p) for p in problems[:5])
        more = f"; … and {count - 5} more" if count > 5 else ""
        super().__init__(f"Grid map refused: {count} {noun}: {shown}{more}")
