"""Small grid maps for the geo tests, built from squares in lon/lat near 衡山县 (430423)."""

from shapely.geometry import MultiPolygon, Polygon, box

from geo import AreaShape, Level

DISTRICT = "430423"
STREET = "430423100"
COMMUNITY = "430423100001"
# Cells are 0.001° squares (about 100 m) starting here.
LON0 = 112.0
LAT0 = 27.0
STEP = 0.001


def square(col: int, row: int, size: int = 1) -> Polygon:
    """Return the square of `size` cells whose south-west corner is cell (col, row)."""
    return box(
        LON0 + col * STEP, LAT0 + row * STEP, LON0 + (col + size) * STEP, LAT0 + (row + size) * STEP
    )


def grid(code: str, geometry: Polygon | MultiPolygon, parent: str = COMMUNITY, **kw) -> AreaShape:
    return AreaShape(
        code=code, name=f"网格{code[-3:]}", level=Level.grid, parent=parent, geometry=geometry, **kw
    )


def hierarchy(extent: Polygon | None = None) -> list[AreaShape]:
    """Return the district, street and community above the test grids."""
    shape = extent if extent is not None else square(-10, -10, 30)
    return [
        AreaShape(DISTRICT, "衡山县", Level.district, None, shape),
        AreaShape(STREET, "开云镇", Level.street, DISTRICT, shape),
        AreaShape(COMMUNITY, "师古社区", Level.community, STREET, shape),
    ]
