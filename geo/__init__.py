"""Grid geography for gridapp: locate points in unit grids, convert datums, check grid maps.

A pure library (shapely, numpy): no Flask, no SQL. Coordinates are WGS84 lon/lat throughout.
"""

from geo.area import DEFAULT_LAYER, AreaRef, AreaShape
from geo.codes import (
    ComponentCode,
    Level,
    check_area_code,
    check_component_code,
    expected_parent_prefix,
    parent_level,
    parse_component_code,
)
from geo.crs import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    parse_crs,
    to_wgs84,
    to_wgs84_many,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import (
    GeoError,
    GridImportError,
    InvalidCode,
    PointOutsideGrids,
    UnknownArea,
    UnknownCRS,
)
from geo.generate import buffer_m, generate_unit_grids, partition_voronoi
from geo.importer import ImportProblem, ImportResult, check_feature_collection
from geo.index import GridIndex, Located

__all__ = [
    "CRS",
    "DEFAULT_LAYER",
    "AreaRef",
    "AreaShape",
    "ComponentCode",
    "GeoError",
    "GridImportError",
    "GridIndex",
    "ImportProblem",
    "ImportResult",
    "InvalidCode",
    "Level",
    "Located",
    "PointOutsideGrids",
    "UnknownArea",
    "UnknownCRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "buffer_m",
    "check_area_code",
    "check_component_code",
    "check_feature_collection",
    "expected_parent_prefix",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "generate_unit_grids",
    "haversine_m",
    "out_of_china",
    "parent_level",
    "parse_component_code",
    "parse_crs",
    "partition_voronoi",
    "to_wgs84",
    "to_wgs84_many",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
