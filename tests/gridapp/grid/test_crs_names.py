"""A CRS name is case-insensitive wherever a point is accepted: report body and desk intake."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

import geo
from gridapp.core.schemas import CrsField, PointWithCrsSchema
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import problem_of


@pytest.mark.parametrize("name", ["gcj02", "GCJ02", "Gcj02", "BD09", "WGS84", "CGCS2000"])
def test_the_field_reads_any_letter_case_as_the_lower_case_name(name):
    loaded = PointWithCrsSchema().load({"lon": 112.7, "lat": 27.2, "crs": name})

    assert loaded["crs"] == name.lower()
    assert geo.parse_crs(loaded["crs"]).value == loaded["crs"]


def test_the_field_defaults_to_wgs84_and_refuses_unknown_names():
    assert PointWithCrsSchema().load({"lon": 112.7, "lat": 27.2})["crs"] == "wgs84"
    with pytest.raises(ValidationError) as caught:
        PointWithCrsSchema().load({"lon": 112.7, "lat": 27.2, "crs": "EPSG:3857"})
    assert list(caught.value.messages) == ["crs"]
    with pytest.raises(ValidationError):
        PointWithCrsSchema().load({"lon": 112.7, "lat": 27.2, "crs": 3857})


def test_every_schema_that_takes_a_crs_uses_the_field():
    from mobile_api.views import ReportLocationSchema

    from gridapp.cases.schemas import DeskIntakeSchema

    assert isinstance(PointWithCrsSchema().fields["crs"], CrsField)
    assert isinstance(ReportLocationSchema().fields["crs"], CrsField)
    location = DeskIntakeSchema().fields["location"]
    assert isinstance(location.schema.fields["crs"], CrsField)  # type: ignore[attr-defined]


def test_a_report_in_capital_gcj02_lands_in_its_grid(client, auth):
    headers = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=headers).get_json()["grids"][0]
    lon, lat = grid_point(client, headers, grid)
    gcj_lon, gcj_lat = geo.wgs84_to_gcj02(lon, lat)

    response = report(client, headers, gcj_lon, gcj_lat, crs="GCJ02")

    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["grid_code"] == grid
    assert case["original_location"]["crs"] == "gcj02"
    assert geo.haversine_m(lon, lat, case["location"]["lon"], case["location"]["lat"]) < 0.5


def test_a_desk_intake_in_capital_bd09_lands_in_its_grid(client, auth):
    worker = auth("grid_worker")
    grid = client.get("/api/v1/auth/me", headers=worker).get_json()["grids"][0]
    lon, lat = grid_point(client, worker, grid)
    bd_lon, bd_lat = geo.wgs84_to_bd09(lon, lat)

    response = client.post(
        "/api/v1/cases",
        json={
            "category": "SJ0102",
            "description": "热线: 暴露垃圾",
            "source": "hotline",
            "location": {"lon": bd_lon, "lat": bd_lat, "crs": "BD09"},
        },
        headers=auth("hotline_operator"),
    )

    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["grid_code"] == grid
    assert case["original_location"]["crs"] == "bd09"


def test_a_report_with_an_unknown_crs_names_the_field(client, auth):
    headers = auth("grid_worker")

    body = problem_of(report(client, headers, 112.7, 27.2, crs="Mercator"), 422)

    assert list(body["errors"]) == ["location.crs"]
