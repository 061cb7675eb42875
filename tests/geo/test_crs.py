"""Datum conversions: reference values, round trips, and points outside China."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import (
    CRS,
    UnknownCRS,
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

# Published reference pairs (eviltransform; coordTransform_py), lon first.
SHANGHAI_WGS = (121.5272106, 31.1774276)
SHANGHAI_GCJ = (121.531541859215, 31.17530398364597)
BEIJING_WGS = (116.377817, 39.911954)
BEIJING_GCJ = (116.38404722455657, 39.91334545536069)
SAMPLE = (128.543, 37.065)
SAMPLE_WGS_TO_GCJ = (128.54820547949757, 37.065651049489816)
SAMPLE_GCJ_TO_BD = (128.54944656269413, 37.07113427883019)

# Mainland China, roughly; the hypothesis strategies draw from here.
china_lon = st.floats(min_value=73.5, max_value=135.0)
china_lat = st.floats(min_value=18.0, max_value=53.5)


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [(SHANGHAI_WGS, SHANGHAI_GCJ), (BEIJING_WGS, BEIJING_GCJ), (SAMPLE, SAMPLE_WGS_TO_GCJ)],
)
def test_wgs84_to_gcj02_matches_published_values(wgs, gcj):
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


def test_gcj02_to_bd09_matches_published_value():
    assert gcj02_to_bd09(*SAMPLE) == pytest.approx(SAMPLE_GCJ_TO_BD, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), [(SHANGHAI_WGS, SHANGHAI_GCJ), (BEIJING_WGS, BEIJING_GCJ)])
def test_gcj02_to_wgs84_inverts_to_within_a_centimetre(wgs, gcj):
    lon, lat = gcj02_to_wgs84(*gcj)
    assert haversine_m(lon, lat, *wgs) < 0.01


@settings(max_examples=200, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_wgs84_gcj02_round_trip_within_half_a_metre(lon, lat):
    gcj = wgs84_to_gcj02(lon, lat)
    back = gcj02_to_wgs84(*gcj)
    assert haversine_m(*back, lon, lat) < 0.5
    # The iteration converges far tighter than the contract asks.
    assert abs(back[0] - lon) < 1e-7
    assert abs(back[1] - lat) < 1e-7


@settings(max_examples=200, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_bd09_round_trips(lon, lat):
    bd = wgs84_to_bd09(lon, lat)
    assert haversine_m(*bd09_to_wgs84(*bd), lon, lat) < 0.5
    gcj = wgs84_to_gcj02(lon, lat)
    assert haversine_m(*bd09_to_gcj02(*gcj02_to_bd09(*gcj)), *gcj) < 0.5


def test_offset_is_hundreds_of_metres_in_china():
    # Guards against a conversion that silently does nothing.
    assert 100 < haversine_m(*SHANGHAI_WGS, *wgs84_to_gcj02(*SHANGHAI_WGS)) < 1000


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (100.5, -0.5)])
def test_points_outside_china_pass_unchanged(point):
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(point[0], point[1], "gcj02") == point


def test_out_of_china_is_false_inside():
    assert not out_of_china(*SHANGHAI_WGS)


@pytest.mark.parametrize("crs", [CRS.wgs84, "wgs84", "cgcs2000", "WGS84"])
def test_wgs84_and_cgcs2000_are_taken_as_is(crs):
    assert to_wgs84(112.5, 27.3, crs) == (112.5, 27.3)


def test_to_wgs84_dispatches_on_crs():
    assert to_wgs84(*SHANGHAI_GCJ, "gcj02") == gcj02_to_wgs84(*SHANGHAI_GCJ)
    bd_lon, bd_lat = SAMPLE_GCJ_TO_BD
    assert to_wgs84(bd_lon, bd_lat, CRS.bd09) == bd09_to_wgs84(bd_lon, bd_lat)


def test_unknown_crs_lists_the_valid_names():
    with pytest.raises(UnknownCRS, match=r"epsg:3857.*wgs84, gcj02, bd09, cgcs2000"):
        to_wgs84(112.5, 27.3, "epsg:3857")


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "wgs84"])
def test_vectorised_conversion_matches_scalar(crs):
    rng = np.random.default_rng(7)
    lons = np.append(rng.uniform(73.5, 135.0, 300), [2.35, -74.0])
    lats = np.append(rng.uniform(18.0, 53.5, 300), [48.85, 40.7])
    many_lons, many_lats = to_wgs84_many(lons, lats, crs)
    for lon, lat, got_lon, got_lat in zip(lons, lats, many_lons, many_lats, strict=True):
        want = to_wgs84(float(lon), float(lat), crs)
        assert math.isclose(got_lon, want[0], abs_tol=1e-9)
        assert math.isclose(got_lat, want[1], abs_tol=1e-9)


@pytest.mark.parametrize("name", ["GCJ02", "Gcj02", "gcj02", " gcj02\n"])
def test_crs_names_are_case_insensitive(name):
    assert parse_crs(name) is CRS.gcj02
    assert to_wgs84(*SHANGHAI_GCJ, name) == to_wgs84(*SHANGHAI_GCJ, "gcj02")
    many = to_wgs84_many([SHANGHAI_GCJ[0]], [SHANGHAI_GCJ[1]], name)
    assert (many[0][0], many[1][0]) == pytest.approx(to_wgs84(*SHANGHAI_GCJ, "gcj02"))


@pytest.mark.parametrize(("name", "crs"), [("WGS84", CRS.wgs84), ("BD09", CRS.bd09)])
def test_every_crs_reads_in_capitals(name, crs):
    assert parse_crs(name) is crs


def test_an_unknown_name_in_capitals_is_still_unknown():
    with pytest.raises(UnknownCRS):
        parse_crs("EPSG3857")
