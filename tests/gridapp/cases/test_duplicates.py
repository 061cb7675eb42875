"""Likely duplicates: open cases of the same category within 50 m and 24 h (per category)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import geo
from tests.gridapp.case_helpers import act, grid_point


@pytest.fixture()
def origin(app: Any, client: Any, auth: Any) -> tuple[float, float]:
    grid = app.config["DEMO_REPORT"].users[0].grids[0]
    return grid_point(client, auth("grid_worker"), grid)


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    """Return the point ``metres`` due north, by the same formula the rule uses."""
    lon, lat = point
    per_degree = geo.haversine_m(lon, lat, lon, lat + 0.001) / 0.001
    return lon, lat + metres / per_degree


def open_case(session: Any, app: Any, lon: float, lat: float, category: str = "SJ0102") -> Any:
    from gridapp.cases.services import receive_case

    return receive_case(
        session,
        app.config["GRIDAPP"],
        source="citizen",
        category=category,
        description="rubbish",
        lon=lon,
        lat=lat,
    )


def near(session: Any, case: Any) -> set[int]:
    from gridapp.cases.services import likely_duplicates

    return {d.id for d in likely_duplicates(session, case)}


def test_the_radius_is_50_metres(session, app, origin):
    new = open_case(session, app, *origin)
    inside = open_case(session, app, *north_of(origin, 49))
    outside = open_case(session, app, *north_of(origin, 51))
    found = near(session, new)
    assert inside.id in found
    assert outside.id not in found


def test_the_window_is_24_hours(session, app, origin):
    new = open_case(session, app, *origin)
    recent = open_case(session, app, *north_of(origin, 10))
    old = open_case(session, app, *north_of(origin, 10))
    recent.created_at = new.created_at - timedelta(hours=23)
    old.created_at = new.created_at - timedelta(hours=25)
    session.flush()
    found = near(session, new)
    assert recent.id in found
    assert old.id not in found


def test_other_categories_and_finished_cases_are_not_duplicates(session, app, client, auth, origin):
    new = open_case(session, app, *origin)
    other = open_case(session, app, *north_of(origin, 5), category="SJ0101")
    finished = open_case(session, app, *north_of(origin, 5))
    acceptor = auth("acceptor")
    case = client.get(f"/api/v1/cases/{finished.id}", headers=acceptor).get_json()
    act(client, acceptor, case, "reject", {"reason": "a test"})
    found = near(session, new)
    assert other.id not in found
    assert finished.id not in found


def test_the_rule_is_the_categorys(session, app, origin):
    from gridapp.catalogue.services import find_category

    new = open_case(session, app, *origin)
    at_80 = open_case(session, app, *north_of(origin, 80))
    assert at_80.id not in near(session, new)
    category = find_category(session, "SJ0102")
    category.duplicate_radius_m = 100.0
    session.flush()
    assert at_80.id in near(session, new)


def test_the_desk_sees_them_on_the_case_and_in_its_queue(session, app, client, auth, origin):
    first = open_case(session, app, *origin)
    second = open_case(session, app, *north_of(origin, 20))
    acceptor = auth("acceptor")
    shown = client.get(f"/api/v1/cases/{second.id}", headers=acceptor).get_json()
    [duplicate] = [d for d in shown["duplicates"] if d["id"] == first.id]
    assert duplicate["number"] == first.number
    assert 19 <= duplicate["distance_m"] <= 21
    assert duplicate["created_at"]

    queue = client.get(
        "/api/v1/cases", query_string={"state": "reported", "limit": 200}, headers=acceptor
    ).get_json()["items"]
    listed = next(item for item in queue if item["id"] == second.id)
    assert first.id in {d["id"] for d in listed["duplicates"]}

    # So merging is one action.
    merged = act(client, acceptor, shown, "merge", {"duplicate_of": first.id})
    assert merged["state"] == "void" and merged["duplicate_of"] == first.id
    assert merged["duplicates"] == []


def test_others_do_not_see_them(session, app, client, auth, origin):
    open_case(session, app, *origin)
    own = client.post(
        "/api/v1/mobile/reports",
        json={
            "category": "SJ0102",
            "description": "again",
            "location": {"lon": origin[0], "lat": origin[1]},
        },
        headers=auth("grid_worker"),
    )
    assert own.status_code == 201, own.get_json()
    assert own.get_json().get("duplicates") is None
