"""Liveness, readiness, the OpenAPI document and the work calendar's warning (DESIGN §5, §6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from openapi_spec_validator import validate

import workflow
from gridapp.calendar.services import calendar_warning, import_calendar_entries, work_calendar

# /readyz details are for local probes and admins (the client fixture calls from 10.x).
LOCAL_PROBE = {"REMOTE_ADDR": "127.0.0.1"}


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz(client):
    response = client.get("/readyz", environ_base=LOCAL_PROBE)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert isinstance(body["warnings"], list)


def test_readyz_names_the_backend(app, client):
    from tests.conftest import BACKEND

    body = client.get("/readyz", environ_base=LOCAL_PROBE).get_json()

    assert body["checks"]["database"]["backend"] == (
        "sqlite" if BACKEND == "sqlite" else "postgresql"
    )
    assert body["checks"]["redis"]["embedded"] is (BACKEND == "sqlite")


def test_metrics(client):
    response = client.get("/metrics", environ_base=LOCAL_PROBE)

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "gridapp_outbox_pending" in response.get_data(as_text=True)
    assert "gridapp_outbox_unfinished" in response.get_data(as_text=True)


def test_metrics_are_for_local_scrapers_and_admins(client, auth):
    remote = client.get("/metrics")
    forwarded = client.get(
        "/metrics", environ_base=LOCAL_PROBE, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    grid_worker = client.get("/metrics", headers=auth("grid_worker"))
    admin = client.get("/metrics", headers=auth("admin"))

    assert remote.status_code == 403
    assert remote.mimetype == "application/problem+json"
    assert "gridapp_cases" not in remote.get_data(as_text=True)
    assert forwarded.status_code == 403  # nginx forwarded it: not a local scraper
    assert grid_worker.status_code == 403
    assert admin.status_code == 200
    assert "gridapp_outbox_pending" in admin.get_data(as_text=True)


def test_openapi_document_is_valid(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/grid/locate" in spec["paths"]
    assert "/api/v1/auth/login" in spec["paths"]
    locate = spec["paths"]["/api/v1/grid/locate"]["get"]
    assert locate["summary"]
    assert {p["name"] for p in locate["parameters"]} >= {"lon", "lat", "crs"}


def test_docs_page(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "swagger" in response.get_data(as_text=True).lower()


# -- the work calendar -------------------------------------------------------------------------


@pytest.fixture()
def calendar_until_2026(session, fresh_caches) -> Iterator[None]:
    """The stored calendar as the migration seeds it (chinese-calendar knows up to 2026)."""
    years = work_calendar(session).years
    assert 2026 in years
    assert max(years) == 2026, f"the seeded calendar now reaches {max(years)}: update this test"
    yield


def test_no_warning_before_december(session, calendar_until_2026):
    assert calendar_warning(session, today=date(2026, 11, 30)) is None
    assert calendar_warning(session, today=date(2026, 1, 1)) is None


def test_warning_from_first_december(session, calendar_until_2026):
    warning = calendar_warning(session, today=date(2026, 12, 1))

    assert warning is not None
    assert "2027" in warning
    assert calendar_warning(session, today=date(2026, 12, 31)) is not None


def test_warning_for_a_year_without_entries(session, calendar_until_2026):
    warning = calendar_warning(session, today=date(2027, 3, 1))

    assert warning is not None and "2027" in warning


def test_importing_next_year_silences_the_warning(session, calendar_until_2026):
    entries = [
        workflow.CalendarEntry(date(2027, 1, 1), workflow.EntryKind.holiday, "元旦"),
        workflow.CalendarEntry(date(2027, 2, 6), workflow.EntryKind.holiday, "春节"),
        workflow.CalendarEntry(date(2027, 2, 20), workflow.EntryKind.workday, "春节调休"),
    ]

    assert import_calendar_entries(session, entries) == 3

    assert calendar_warning(session, today=date(2026, 12, 1)) is None
    assert calendar_warning(session, today=date(2027, 6, 1)) is None
    calendar = work_calendar(session)
    assert 2027 in calendar.years
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.is_workday(date(2027, 2, 20))  # a Saturday, made a working day


def test_readyz_reports_the_calendar_warning(client, session, calendar_until_2026):
    expected = calendar_warning(session)
    assert client.get("/readyz", environ_base=LOCAL_PROBE).get_json()["warnings"] == (
        [expected] if expected else []
    )

    this_year = date.today().year
    import_calendar_entries(
        session,
        [
            workflow.CalendarEntry(date(year, 1, 1), workflow.EntryKind.holiday, "元旦")
            for year in (this_year, this_year + 1)
        ],
    )

    assert calendar_warning(session) is None
    body = client.get("/readyz", environ_base=LOCAL_PROBE).get_json()
    assert body["status"] == "ok"
    assert body["warnings"] == []


def test_docs_ui_is_served_without_a_cdn(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in page
    script = client.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.get_data()) > 100_000
    assert client.get("/docs/static/swagger-ui.css").status_code == 200
