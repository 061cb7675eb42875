"""Convert coordinates between WGS84, GCJ-02 (火星坐标) and BD-09 (百度坐标).

GCJ-02 is the obfuscated datum every map SDK in mainland China returns (AMap, Tencent, most phone
SDKs); BD-09 is Baidu's further offset of it. Inside the system everything is WGS84 lon/lat.
CGCS2000 differs from WGS84 by centimetres, far below phone GPS accuracy, so it is taken as WGS84.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.errors import UnknownCRS

__all__ = [
    "CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "haversine_m",
    "out_of_china",
    "parse_crs",
    "to_wgs84",
    "to_wgs84_many",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_many",
]

FloatArray = NDArray[np.float64]

# Krasovsky 1940 ellipsoid, as the published GCJ-02 algorithm uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_EARTH_RADIUS_M = 6371008.8
# The inverses iterate to this; far tighter than the 1e-7° (≈1 cm) the callers need.
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30


class CRS(StrEnum):
    """Name a coordinate reference system a client may send (坐标系)."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"
    cgcs2000 = "cgcs2000"


def parse_crs(crs: CRS | str) -> CRS:
    """Return the CRS named by `crs` (case-insensitive), or raise UnknownCRS."""
    if isinstance(crs, CRS):
        return crs
    try:
        return CRS(str(crs).strip().lower())
    except ValueError:
        valid = ", ".join(c.value for c in CRS)
        raise UnknownCRS(f"Unknown CRS {crs!r}; use one of {valid}") from None


def out_of_china(lon: float, lat: float) -> bool:
    """Tell whether a point lies outside the rough box where GCJ-02 applies its offset."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lon: float, lat: float) -> tuple[float, float]:
    """Return the GCJ-02 (dlon, dlat) offset in degrees at a WGS84 point."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += common
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += common
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (
        (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Offset a WGS84 point into GCJ-02; points outside China pass unchanged."""
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(gcj_lon: float, gcj_lat: float) -> tuple[float, float]:
    """Undo the GCJ-02 offset by fixed-point iteration (error well under 1 cm)."""
    if out_of_china(gcj_lon, gcj_lat):
        return gcj_lon, gcj_lat
    # The offset varies slowly (its Jacobian is close to zero), so subtracting the offset found
    # at the current guess converges in a handful of steps; the one-step inverse most libraries
    # use is off by up to a few metres.
    lon, lat = gcj_lon, gcj_lat
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = wgs84_to_gcj02(lon, lat)
        err_lon = fwd_lon - gcj_lon
        err_lat = fwd_lat - gcj_lat
        lon -= err_lon
        lat -= err_lat
        if abs(err_lon) < _TOLERANCE_DEG and abs(err_lat) < _TOLERANCE_DEG:
            break
    return lon, lat


def gcj02_to_bd09(gcj_lon: float, gcj_lat: float) -> tuple[float, float]:
    """Offset a GCJ-02 point into Baidu's BD-09."""
    z = math.hypot(gcj_lon, gcj_lat) + 0.00002 * math.sin(gcj_lat * _X_PI)
    theta = math.atan2(gcj_lat, gcj_lon) + 0.000003 * math.cos(gcj_lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd09_to_gcj02_once(bd_lon: float, bd_lat: float) -> tuple[float, float]:
    x = bd_lon - 0.0065
    y = bd_lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_gcj02(bd_lon: float, bd_lat: float) -> tuple[float, float]:
    """Undo Baidu's BD-09 offset, refining Baidu's approximate inverse by iteration."""
    lon, lat = _bd09_to_gcj02_once(bd_lon, bd_lat)
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = gcj02_to_bd09(lon, lat)
        err_lon = fwd_lon - bd_lon
        err_lat = fwd_lat - bd_lat
        if abs(err_lon) < _TOLERANCE_DEG and abs(err_lat) < _TOLERANCE_DEG:
            break
        lon -= err_lon
        lat -= err_lat
    return lon, lat


def bd09_to_wgs84(bd_lon: float, bd_lat: float) -> tuple[float, float]:
    """Convert a Baidu BD-09 point to WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(bd_lon, bd_lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS84 point to Baidu's BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Convert a point given in `crs` to WGS84 lon/lat."""
    match parse_crs(crs):
        case CRS.gcj02:
            return gcj02_to_wgs84(lon, lat)
        case CRS.bd09:
            return bd09_to_wgs84(lon, lat)
        case CRS.wgs84 | CRS.cgcs2000:
            return float(lon), float(lat)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two WGS84 points."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# Vectorised variants: same formulas on numpy arrays, for whole files of coordinates.


def _out_of_china_many(lons: FloatArray, lats: FloatArray) -> NDArray[np.bool_]:
    inside = (lons >= 72.004) & (lons <= 137.8347) & (lats >= 0.8293) & (lats <= 55.8271)
    return ~inside


def _offset_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    pi = np.pi
    x = lons - 105.0
    y = lats - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lats / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return dlon, dlat


def wgs84_to_gcj02_many(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Offset arrays of WGS84 points into GCJ-02."""
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    )
    dlon, dlat = _offset_many(lon_arr, lat_arr)
    outside = _out_of_china_many(lon_arr, lat_arr)
    return (
        np.where(outside, lon_arr, lon_arr + dlon),
        np.where(outside, lat_arr, lat_arr + dlat),
    )


def _gcj02_to_wgs84_many(
    gcj_lons: FloatArray, gcj_lats: FloatArray
) -> tuple[FloatArray, FloatArray]:
    lons = gcj_lons.copy()
    lats = gcj_lats.copy()
    for _ in range(_MAX_ITERATIONS):
        fwd_lons, fwd_lats = wgs84_to_gcj02_many(lons, lats)
        err_lons = fwd_lons - gcj_lons
        err_lats = fwd_lats - gcj_lats
        lons -= err_lons
        lats -= err_lats
        if np.all(np.abs(err_lons) < _TOLERANCE_DEG) and np.all(np.abs(err_lats) < _TOLERANCE_DEG):
            break
    outside = _out_of_china_many(gcj_lons, gcj_lats)
    return np.where(outside, gcj_lons, lons), np.where(outside, gcj_lats, lats)


def _gcj02_to_bd09_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lons, lats) + 0.00002 * np.sin(lats * _X_PI)
    theta = np.arctan2(lats, lons) + 0.000003 * np.cos(lons * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_many(bd_lons: FloatArray, bd_lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = bd_lons - 0.0065
    y = bd_lats - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    lons = z * np.cos(theta)
    lats = z * np.sin(theta)
    for _ in range(_MAX_ITERATIONS):
        fwd_lons, fwd_lats = _gcj02_to_bd09_many(lons, lats)
        err_lons = fwd_lons - bd_lons
        err_lats = fwd_lats - bd_lats
        if np.all(np.abs(err_lons) < _TOLERANCE_DEG) and np.all(np.abs(err_lats) < _TOLERANCE_DEG):
            break
        lons = lons - err_lons
        lats = lats - err_lats
    return lons, lats


def to_wgs84_many(
    lons: ArrayLike, lats: ArrayLike, crs: CRS | str
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of points given in `crs` to WGS84 lon/lat arrays."""
    parsed = parse_crs(crs)
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    )
    match parsed:
        case CRS.gcj02:
            return _gcj02_to_wgs84_many(lon_arr, lat_arr)
        case CRS.bd09:
            return _gcj02_to_wgs84_many(*_bd09_to_gcj02_many(lon_arr, lat_arr))
        case CRS.wgs84 | CRS.cgcs2000:
            return lon_arr.copy(), lat_arr.copy()
