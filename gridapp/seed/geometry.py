"""Generate the demo county's polygons around real centre points.

No openly licensed boundaries exist for 衡山县's townships and villages, so every polygon here is
generated (and stored with ``generated = true``): townships are Voronoi cells of their real
centres inside a hull of them, villages are cells inside their township, and the county seat's
urban communities are cut into 100 m unit grids. 南岳区, the enclave inside the county, is a hole.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely import affinity
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

import geo

M_PER_DEG_LAT = 110_574.0


def ellipse_m(lon: float, lat: float, radius_m: float) -> Polygon:
    """Return a circle of ``radius_m`` metres around a lon/lat point, in degrees."""
    r_lat = radius_m / M_PER_DEG_LAT
    circle = Point(lon, lat).buffer(r_lat, quad_segs=16)
    return affinity.scale(circle, xfact=1 / math.cos(math.radians(lat)), yfact=1.0)


def hull_m(points: Sequence[tuple[float, float]], margin_m: float) -> BaseGeometry:
    """Return the convex hull of lon/lat points grown by ``margin_m`` metres."""
    lat = sum(p[1] for p in points) / len(points)
    k = math.cos(math.radians(lat))
    # Buffer in a locally isotropic frame (lon scaled by cos lat), then scale back.
    squeezed = MultiPoint([(lon * k, lat_) for lon, lat_ in points]).convex_hull
    grown = squeezed.buffer(margin_m / M_PER_DEG_LAT, quad_segs=16)
    return affinity.scale(grown, xfact=1 / k, yfact=1.0, origin=(0, 0))


def seeds_inside(
    polygon: BaseGeometry,
    known: Sequence[tuple[float, float] | None],
    rng_seed: int,
) -> list[tuple[float, float]]:
    """Return one seed per entry: the known centre when inside ``polygon``, else a random point.

    Random points keep a distance from each other so that no village gets a sliver.
    """
    rng = random.Random(rng_seed)
    minx, miny, maxx, maxy = polygon.bounds
    prepared = prep(polygon)
    chosen: list[tuple[float, float]] = []
    spacing = math.sqrt(polygon.area / max(len(known), 1)) * 0.45
    for centre in known:
        if (
            centre is not None
            and prepared.contains(Point(centre))
            and all(math.dist(centre, c) > spacing * 0.2 for c in chosen)
        ):
            chosen.append(centre)
            continue
        for attempt in range(2000):
            candidate = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            relax = 1.0 if attempt < 1500 else 0.2
            if prepared.contains(Point(candidate)) and all(
                math.dist(candidate, c) > spacing * relax for c in chosen
            ):
                chosen.append(candidate)
                break
        else:  # pragma: no cover - only for degenerate polygons
            raise RuntimeError("could not place a seed inside the polygon")
    return chosen


@dataclass(frozen=True)
class Cell:
    code: str
    name: str
    level: str
    parent: str | None
    geometry: BaseGeometry
    setting: str | None = None  # urban or rural (城区 / 农村); None: the parent's


def largest_polygon(geometry: BaseGeometry) -> BaseGeometry:
    """Keep the geometry valid and polygonal (Voronoi clipping may leave stray lines)."""
    geometry = shapely.make_valid(geometry)
    parts = [
        g
        for g in getattr(geometry, "geoms", [geometry])
        if g.geom_type in {"Polygon", "MultiPolygon"}
    ]
    polygons: list[BaseGeometry] = []
    for part in parts:
        polygons.extend(getattr(part, "geoms", [part]))
    if len(polygons) == 1:
        return polygons[0]
    return shapely.MultiPolygon(polygons)


def partition(boundary: BaseGeometry, seeds: Sequence[tuple[float, float]]) -> list[BaseGeometry]:
    return [largest_polygon(g) for g in geo.partition_voronoi(boundary, seeds)]
