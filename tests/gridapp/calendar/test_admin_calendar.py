"""Calendar administration: years present, the December warning, a year's atomic import."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.gridapp.conftest import problem_of

# 2031: a year chinese-calendar does not know, as a year the State Council has yet to publish.
YEAR_2031 = [
    {"date": "2031-01-01", "kind": "holiday", "name": "元旦"},
    {"date": "2031-01-23", "kind": "holiday", "name": "春节"},
    {"date": "2031-01-24", "kind": "holiday", "name": "春节"},
    {"date": "2031-01-19", "kind": "workday", "name": "春节"},  # a Sunday
]


@pytest.fixture()
def admin(auth: Any) -> dict[str, str]:
    return auth("admin")


def test_the_overview_lists_the_seeded_years(client, admin):
    body = client.get("/api/v1/admin/calendar", headers=admin).get_json()

    years = {y["year"]: y for y in body["years"]}
    assert 2026 in years and years[2026]["holidays"] > 0 and years[2026]["workdays"] > 0
    assert 2031 not in years


def test_a_year_is_imported_replaced_and_recorded(client, admin, fresh_caches):
    response = client.put("/api/v1/admin/calendar/2031", json={"entries": YEAR_2031}, headers=admin)

    assert response.status_code == 200, response.get_json()
    stored = response.get_json()
    assert [e["date"] for e in stored["entries"]] == sorted(e["date"] for e in YEAR_2031)
    assert client.get("/api/v1/admin/calendar/2031", headers=admin).get_json() == stored
    years = client.get("/api/v1/admin/calendar", headers=admin).get_json()["years"]
    assert {"year": 2031, "holidays": 3, "workdays": 1} in years

    # A second import replaces the year: the day it no longer names is gone.
    again = client.put(
        "/api/v1/admin/calendar/2031", json={"entries": YEAR_2031[:2]}, headers=admin
    ).get_json()
    assert [e["date"] for e in again["entries"]] == ["2031-01-01", "2031-01-23"]
    change = client.get(
        "/api/v1/admin/changes?action=admin.calendar.replace", headers=admin
    ).get_json()["items"][0]
    assert change["target_id"] == "2031" and len(change["before"]) == 4
    assert len(change["after"]) == 2


def test_deadlines_use_the_imported_year_at_once(client, admin, session, fresh_caches):
    from gridapp.calendar.services import work_calendar

    calendar = work_calendar(session)
    assert calendar.is_workday(date(2031, 1, 23))  # a Thursday, before the import
    client.put("/api/v1/admin/calendar/2031", json={"entries": YEAR_2031}, headers=admin)

    calendar = work_calendar(session)
    assert not calendar.is_workday(date(2031, 1, 23))
    assert calendar.is_workday(date(2031, 1, 19))


def test_another_process_sees_the_import_by_the_stored_version(client, admin, session):
    """A worker that kept its copy rebuilds it once the stored version has moved."""
    from gridapp.calendar import services

    services._calendars.forget()
    cached = services._calendars.get(
        session, "calendar", services.VERSION_KEY, lambda: services._load(session), 3600
    )
    # Another process imports: the version moves in the database, this process's copy stays.
    from gridapp.core.versions import bump_version

    bump_version(session, services.VERSION_KEY)
    again = services._calendars.get(
        session, "calendar", services.VERSION_KEY, lambda: services._load(session), 0
    )
    assert again is not cached
    services._calendars.forget()


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"date": "2030-12-31", "kind": "holiday"}], "entries.0.date"),
        ([{"date": "2031-01-06", "kind": "workday"}], "entries.0.date"),  # a Monday
        (YEAR_2031[:1] * 2, "entries.1.date"),
        ([{"date": "2031-02-30", "kind": "holiday"}], "entries.0.date"),
        ([{"date": "2031-01-01", "kind": "day off"}], "entries.0.kind"),
        ([], "entries"),
        ([{"date": "2031-01-01", "kind": "holiday", "colour": "red"}], "entries.0.colour"),
    ],
)
def test_a_bad_year_is_refused_and_the_stored_one_kept(client, admin, entries, field):
    client.put("/api/v1/admin/calendar/2031", json={"entries": YEAR_2031}, headers=admin)

    response = client.put("/api/v1/admin/calendar/2031", json={"entries": entries}, headers=admin)

    assert field in problem_of(response, 422)["errors"]
    kept = client.get("/api/v1/admin/calendar/2031", headers=admin).get_json()["entries"]
    assert len(kept) == len(YEAR_2031)


def test_every_problem_is_listed_at_once(client, admin):
    entries = [
        {"date": "2030-12-31", "kind": "holiday"},
        {"date": "2031-01-06", "kind": "workday"},
    ]
    response = client.put("/api/v1/admin/calendar/2031", json={"entries": entries}, headers=admin)
    assert {"entries.0.date", "entries.1.date"} <= set(problem_of(response, 422)["errors"])


def test_years_out_of_range_are_404(client, admin):
    problem_of(client.get("/api/v1/admin/calendar/1800", headers=admin), 404)
    problem_of(client.put("/api/v1/admin/calendar/3000", json={"entries": []}, headers=admin), 404)


def test_the_december_warning_names_next_year(session):
    from gridapp.calendar.services import calendar_overview

    overview = calendar_overview(session, today=date(2030, 12, 1))
    assert overview.missing_years == [2030, 2031] or overview.missing_years == [2031]
    assert overview.warning is not None and "2031" in overview.warning
    november = calendar_overview(session, today=date(2030, 11, 30))
    assert 2031 not in november.missing_years


def test_the_warning_is_the_one_readyz_gives(client, admin):
    overview = client.get("/api/v1/admin/calendar", headers=admin).get_json()
    ready = client.get("/readyz", headers=admin).get_json()  # details for admins
    assert ([overview["warning"]] if overview["warning"] else []) == [
        w for w in ready["warnings"] if "calendar" in w
    ]
