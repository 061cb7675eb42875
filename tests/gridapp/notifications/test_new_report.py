"""A new report tells the acceptors of its district (待受理)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from gridapp.accounts.models import User
from gridapp.accounts.services import create_user
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category
from gridapp.notifications.models import Notification
from gridapp.notifications.services import notify_new_report
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import login_headers


def reported_case(client: Any) -> dict[str, Any]:
    worker = login_headers(client, "grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    response = report(client, worker, *grid_point(client, worker, me["grids"][0]))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def acceptor_named(
    session: Any, username: str, district: str | None, *, active: bool = True
) -> int:
    user = create_user(
        session, username=username, password="demo-pass-2026", role="acceptor", district=district
    )
    user.active = active
    session.flush()
    return user.id


def told(session: Any, case_id: int) -> dict[int, Notification]:
    notes = session.scalars(
        select(Notification).where(
            Notification.case_id == case_id, Notification.kind == "new_report"
        )
    )
    return {n.user_id: n for n in notes}


# These call notify_new_report directly and check what is stored, so they hold whether or not
# the intake calls it too (a second call is a no-op).
def test_new_report_tells_the_acceptors_of_its_district(client, session):
    county_wide = acceptor_named(session, "acceptor_county", None)
    elsewhere = acceptor_named(session, "acceptor_nanyue", "430412")
    retired = acceptor_named(session, "acceptor_retired", "430423", active=False)
    session.commit()  # as a request would, so the report's request cannot roll them back
    case = session.get(Case, reported_case(client)["id"])
    assert case.district_code == "430423"
    acceptor = session.scalar(select(User.id).where(User.username == "acceptor"))
    dispatcher = session.scalar(select(User.id).where(User.username == "dispatcher"))

    notify_new_report(session, case)

    notes = told(session, case.id)
    assert set(notes) == {acceptor, county_wide}
    assert not {elsewhere, retired, dispatcher} & set(notes)
    category = session.scalar(select(Category.name).where(Category.code == case.category_code))
    for note in notes.values():
        assert case.number in note.message and category in note.message


def test_telling_twice_writes_each_acceptor_once(client, session):
    case = session.get(Case, reported_case(client)["id"])
    notify_new_report(session, case)
    assert notify_new_report(session, case) == []
    assert len(told(session, case.id)) == 1  # the demo county has one acceptor


def test_a_case_outside_any_district_tells_only_county_wide_acceptors(client, session):
    county_wide = acceptor_named(session, "acceptor_county", None)
    session.commit()
    case = session.get(Case, reported_case(client)["id"])
    session.execute(delete(Notification).where(Notification.case_id == case.id))
    case.district_code = None
    session.flush()

    notify_new_report(session, case)

    assert set(told(session, case.id)) == {county_wide}


def test_the_acceptor_lists_it_as_unread(client, session):
    case = session.get(Case, reported_case(client)["id"])
    notify_new_report(session, case)
    acceptor = login_headers(client, "acceptor")
    notes = client.get("/api/v1/notifications?unread=true&limit=500", headers=acceptor).get_json()
    assert [n for n in notes if n["kind"] == "new_report" and n["case"] == case.id]


def test_reporting_through_the_phone_tells_the_acceptor(client, session):
    case = reported_case(client)
    acceptor = login_headers(client, "acceptor")
    notes = client.get("/api/v1/notifications?limit=500", headers=acceptor).get_json()
    assert [n for n in notes if n["kind"] == "new_report" and n["case"] == case["id"]]
