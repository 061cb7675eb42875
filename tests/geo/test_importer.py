"""Grid map import checks: every problem listed at once, by feature number."""

from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geo import (
    CRS,
    AreaShape,
    GridImportError,
    ImportProblem,
    Level,
    check_feature_collection,
    generate_unit_grids,
    wgs84_to_gcj02,
)
from tests.geo.maps import COMMUNITY, DISTRICT, STREET, square

LAKE = square(1, 1)  # the middle of the 3 x 3 community is water: no grid there


def feature(
    code: object,
    level: str,
    geometry: BaseGeometry | dict[str, Any] | None,
    parent: str | None = None,
    name: str | None = None,
    **props: Any,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": code,
        "name": name or f"区域{code}",
        "level": level,
        **props,
    }
    if parent is not None:
        properties["parent"] = parent
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": geometry if isinstance(geometry, dict | None) else mapping(geometry),
    }


def collection(features: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **top}


def good_features() -> list[dict[str, Any]]:
    """District, street, community (3 x 3 cells) and eight grids around a lake."""
    area = square(0, 0, 3)
    grids = [square(c, r) for r in range(3) for c in range(3) if (c, r) != (1, 1)]
    return [
        feature(DISTRICT, "district", area, name="衡山县"),
        feature(STREET, "street", area, parent=DISTRICT),
        feature(COMMUNITY, "community", area, parent=STREET),
    ] + [
        feature(f"{COMMUNITY}{i + 1:03d}", "grid", g, parent=COMMUNITY) for i, g in enumerate(grids)
    ]


def problems_of(data: dict[str, Any], **kw: Any) -> list[ImportProblem]:
    with pytest.raises(GridImportError) as caught:
        check_feature_collection(data, **kw)
    return caught.value.problems


def test_a_good_file_passes_with_a_gap_warning():
    result = check_feature_collection(collection(good_features()))
    assert result.crs is CRS.wgs84
    assert [a.level for a in result.areas[:3]] == [Level.district, Level.street, Level.community]
    assert len(result.areas) == 11
    first_grid = result.areas[3]
    assert first_grid == AreaShape(
        code="430423100001001",
        name="区域430423100001001",
        level=Level.grid,
        parent=COMMUNITY,
        geometry=first_grid.geometry,
        layer="urban",
    )
    assert first_grid.geometry.equals(square(0, 0))
    assert result.areas[0].parent is None
    [gap] = result.warnings
    assert (gap.feature, gap.code, gap.field) == (2, COMMUNITY, "geometry")
    assert "covered by no grid" in gap.message
    # The lake is one cell: about 100 m x 100 m.
    lake_m2 = float(gap.message.split(" m²")[0])
    assert 9_000 < lake_m2 < 11_000


def test_parents_come_before_children_whatever_the_file_order():
    features = list(reversed(good_features()))
    result = check_feature_collection(collection(features))
    ranks = [a.level.rank for a in result.areas]
    assert ranks == sorted(ranks)


def test_every_problem_is_listed_with_its_feature_number():
    area = square(0, 0, 3)
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[112.0, 27.0], [112.001, 27.001], [112.001, 27.0], [112.0, 27.001],
                         [112.0, 27.0]]],
    }  # fmt: skip
    features = [
        feature(DISTRICT, "district", area),  # 0 fine
        feature(STREET, "street", area, parent=DISTRICT),  # 1 fine
        feature(COMMUNITY, "community", area, parent=STREET),  # 2 fine
        feature("430423100001001", "grid", square(0, 0), parent=COMMUNITY),  # 3 fine
        feature("430423100001002", "grid", bowtie, parent=COMMUNITY),  # 4 invalid polygon
        feature("430423100001001", "grid", square(2, 0), parent=COMMUNITY),  # 5 duplicate
        feature("430423100009001", "grid", square(2, 1), parent="430423100009"),  # 6 unknown
        feature("430423100001004", "grid", square(2, 2), parent=STREET),  # 7 wrong level
        feature("430423200001005", "grid", square(1, 2), parent=COMMUNITY),  # 8 bad prefix
        feature("430423100001006", "township", square(0, 2)),  # 9 unknown level
        feature("430423100001007", "grid", None, parent=COMMUNITY),  # 10 no geometry
        feature(
            "430423100001008",
            "grid",
            {"type": "Point", "coordinates": [112.0, 27.0]},
            parent=COMMUNITY,
        ),  # 11 not a polygon
        feature("43042310000100", "grid", square(5, 5), parent=COMMUNITY),  # 12 outside parent
        feature("430423100001010", "grid", square(0, 0, 2), parent=COMMUNITY),  # 13 overlaps 3
        feature(4304231000011, "grid", square(1, 0), parent=COMMUNITY),  # 14 numeric code
        feature("4304231000010", "grid", square(1, 0), parent=COMMUNITY),  # 15 bad length
        feature("430423100001011", "grid", square(1, 1)),  # 16 no parent
    ]
    problems = problems_of(collection(features))
    found = {(p.feature, p.field): p.message for p in problems}

    assert "Self-intersection" in found[(4, "geometry")]
    assert found[(5, "code")] == "duplicate code, already used by feature 3"
    assert found[(6, "parent")] == "parent 430423100009 is unknown"
    assert "is a street; a grid's parent must be a community" in found[(7, "parent")]
    assert found[(8, "code")] == "code does not start with its parent's code 430423100001"
    assert "level 'township' is unknown" in found[(9, "level")]
    assert found[(10, "geometry")] == "geometry is missing"
    assert found[(11, "geometry")] == "geometry is a Point, not a Polygon or MultiPolygon"
    assert "sticks out of its parent 430423100001" in found[(12, "geometry")]
    assert "overlaps feature 3 (code 430423100001001)" in found[(13, "geometry")]
    assert found[(14, "code")] == "code must be a string, not int"
    assert "15 or 14 digits" in found[(15, "code")]
    assert "parent is missing" in found[(16, "parent")]
    # Nothing is reported against the good features, and the list is in feature order.
    assert not {p.feature for p in problems} & {0, 1, 2, 3}
    numbers = [p.feature for p in problems if p.feature is not None]
    assert numbers == sorted(numbers)
    assert len(numbers) == len(problems)
    assert str(next(p for p in problems if p.feature == 6)) == (
        "feature 6 (code 430423100009001): parent 430423100009 is unknown"
    )


def test_the_error_message_summarises_the_count():
    features = good_features()
    features[3]["properties"]["parent"] = "430423100009"
    features[4]["properties"]["level"] = "cell"
    with pytest.raises(GridImportError, match=r"^Grid map refused: 2 problems: feature 3"):
        check_feature_collection(collection(features))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "Feature", "features": []}, "type must be FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
        ({"type": "FeatureCollection"}, "features must be a list"),
        (collection(good_features(), crs_name="epsg:3857"), "Unknown CRS 'epsg:3857'"),
    ],
)
def test_file_level_problems(data, fragment):
    problems = problems_of(data)
    assert problems[0].feature is None
    assert fragment in problems[0].message


def test_gcj02_file_lands_at_wgs84_coordinates():
    wgs_features = good_features()
    gcj_features = []
    for feat in wgs_features:
        geometry = shapely.transform(
            shape(feat["geometry"]),
            lambda coords: np.array([wgs84_to_gcj02(lon, lat) for lon, lat in coords]),
        )
        gcj_features.append({**feat, "geometry": mapping(geometry)})
    result = check_feature_collection(collection(gcj_features, crs_name="gcj02"))
    assert result.crs is CRS.gcj02
    by_code = {a.code: a for a in result.areas}
    for feat in wgs_features:
        want = shape(feat["geometry"])
        got = by_code[feat["properties"]["code"]].geometry
        # Back where the WGS84 file put it, to well under a millimetre (≈1e-8°).
        assert got.equals_exact(want, tolerance=1e-8)
    # The offset itself is hundreds of metres, so the test would fail without conversion.
    assert not shape(gcj_features[3]["geometry"]).equals_exact(
        shape(wgs_features[3]["geometry"]), tolerance=1e-4
    )


def test_parents_may_already_be_stored():
    stored = {a.code: a for a in check_feature_collection(collection(good_features()[:3])).areas}
    grids_only = collection(good_features()[3:])
    result = check_feature_collection(grids_only, existing=stored)
    assert {a.level for a in result.areas} == {Level.grid}
    [gap] = result.warnings
    assert (gap.feature, gap.code) == (None, COMMUNITY)
    assert str(gap).startswith(f"area {COMMUNITY}: ")


def test_overlap_with_a_stored_neighbour_is_an_error():
    stored_grid = AreaShape("430423100001901", "旧网格", Level.grid, COMMUNITY, square(0, 0))
    features = good_features()
    problems = problems_of(collection(features), existing={stored_grid.code: stored_grid})
    assert [str(p) for p in problems] == [
        "feature 3 (code 430423100001001): overlaps stored area 430423100001901 by 10967 m² "
        "(up to 52.3 m wide)"
    ]


def test_reimporting_the_same_codes_is_not_an_overlap():
    first = check_feature_collection(collection(good_features()))
    stored = {a.code: a for a in first.areas}
    again = check_feature_collection(collection(good_features()), existing=stored)
    assert [a.code for a in again.areas] == [a.code for a in first.areas]


def test_other_layers_may_overlap():
    features = [
        *good_features(),
        feature("430423100001901", "grid", square(0, 0, 3), parent=COMMUNITY, layer="social"),
    ]
    result = check_feature_collection(collection(features))
    assert result.areas[-1].layer == "social"


@pytest.mark.parametrize(("shift_m", "ok"), [(0.3, True), (20.0, False)])
def test_small_digitising_differences_are_tolerated(shift_m, ok):
    features = good_features()
    shift = shift_m / 111_320 / np.cos(np.radians(27.0))
    moved = shapely.affinity.translate(square(0, 0), xoff=-shift)  # pokes west out of the parent
    features[3]["geometry"] = mapping(moved)
    if ok:
        check_feature_collection(collection(features))
    else:
        [problem] = problems_of(collection(features))
        assert problem.feature == 3
        assert "sticks out of its parent" in problem.message


def test_generated_grids_import_cleanly():
    area = square(0, 0, 6).difference(square(2, 2, 2))
    cells = generate_unit_grids(area, cell_m=50.0)
    features = [
        feature(DISTRICT, "district", square(0, 0, 6)),
        feature(STREET, "street", square(0, 0, 6), parent=DISTRICT),
        feature(COMMUNITY, "community", area, parent=STREET),
    ] + [
        feature(f"{COMMUNITY}{i + 1:03d}", "grid", cell, parent=COMMUNITY)
        for i, cell in enumerate(cells)
    ]
    result = check_feature_collection(collection(features))
    assert len(result.areas) == 3 + len(cells)
    # The street has its community but the community does not fill it: one gap warning.
    assert [w.code for w in result.warnings] == [STREET]


def test_the_setting_is_inherited_from_the_parent_and_urban_at_the_top():
    features = good_features()
    assert {a.setting for a in check_feature_collection(collection(features)).areas} == {"urban"}
    features[2]["properties"]["setting"] = "rural"  # the community is a village (村)
    features[3]["properties"]["setting"] = "urban"  # one grid says otherwise
    areas = {a.code: a for a in check_feature_collection(collection(features)).areas}
    assert areas[DISTRICT].setting == areas[STREET].setting == "urban"
    assert areas[COMMUNITY].setting == "rural"
    assert areas[f"{COMMUNITY}001"].setting == "urban"
    assert {areas[f"{COMMUNITY}{i:03d}"].setting for i in range(2, 9)} == {"rural"}


def test_grids_inherit_the_setting_of_a_stored_parent():
    features = good_features()
    features[2]["properties"]["setting"] = "rural"
    stored = {a.code: a for a in check_feature_collection(collection(features[:3])).areas}
    result = check_feature_collection(collection(features[3:]), existing=stored)
    assert {a.setting for a in result.areas} == {"rural"}


def test_an_unknown_setting_is_a_problem():
    features = good_features()
    features[3]["properties"]["setting"] = "suburban"
    [problem] = problems_of(collection(features))
    assert (problem.feature, problem.field) == (3, "setting")
