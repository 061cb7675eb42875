"""Ids past the id columns' range name nothing: 404 in a path, a field error in a body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import problem_of

HUGE = 2**64 + 7
JUST_PAST = 2**31  # one past PostgreSQL's INTEGER


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("supervisor", f"/api/v1/cases/{HUGE}"),
        ("supervisor", f"/api/v1/cases/{HUGE}/history"),
        ("supervisor", f"/api/v1/cases/{HUGE}/history/verify"),
        ("grid_worker", f"/api/v1/mobile/cases/{HUGE}"),
        ("grid_worker", f"/api/v1/media/{HUGE}"),
        ("grid_worker", "/api/v1/cases/0"),
        ("supervisor", f"/api/v1/cases/{JUST_PAST}"),
    ],
)
def test_an_id_too_large_or_zero_in_a_path_is_not_found(client, auth, user, path):
    problem_of(client.get(path, headers=auth(user)), 404)


def test_an_action_on_a_huge_case_id_is_not_found(client, auth):
    headers = {**auth("supervisor"), "If-Match": '"1"'}

    problem_of(client.post(f"/api/v1/cases/{HUGE}/actions/accept", json={}, headers=headers), 404)


@pytest.mark.parametrize("field", ["duplicate_of", "grid_worker"])
def test_a_huge_id_in_an_action_body_is_a_field_error(client, auth, field):
    headers = {**auth("supervisor"), "If-Match": '"1"'}

    response = client.post("/api/v1/cases/1/actions/merge", json={field: HUGE}, headers=headers)

    body = problem_of(response, 422)
    assert field in str(body["errors"])


@pytest.mark.parametrize("photo", [HUGE, 0, -3])
def test_a_report_with_an_impossible_photo_id_is_a_field_error(client, auth, photo: Any):
    headers = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    lon, lat = grid_point(client, headers, me["grids"][0])

    body = problem_of(report(client, headers, lon, lat, photos=[photo]), 422)

    assert "photos" in str(body["errors"])
