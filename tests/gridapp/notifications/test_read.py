"""Read receipts: a user marks their own notifications read, one, several or all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from gridapp.accounts.models import User
from gridapp.notifications.services import notify
from tests.gridapp.conftest import login_headers, problem_of


def user_id(session: Any, username: str) -> int:
    return int(session.scalar(select(User.id).where(User.username == username)))


def tell(session: Any, username: str, count: int = 1) -> list[int]:
    """Give a demo user ``count`` fresh notifications; return their ids."""
    uid = user_id(session, username)
    ids = [
        notify(session, [uid], kind="test", case=None, message=f"note {n}")[0].id
        for n in range(count)
    ]
    # Commit as a request would (a savepoint here): a later failing request rolls back its own
    # work only, not these rows.
    session.commit()
    return ids


@pytest.fixture()
def acceptor(client: Any) -> dict[str, str]:
    return login_headers(client, "acceptor")


def unread_ids(client: Any, headers: dict[str, str]) -> list[int]:
    response = client.get("/api/v1/notifications?unread=true&limit=500", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [n["id"] for n in response.get_json()]


def test_read_one_sets_read_at_and_leaves_the_unread_list(client, session, acceptor):
    first, second = tell(session, "acceptor", 2)
    response = client.post(f"/api/v1/notifications/{first}/read", headers=acceptor)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == first and body["kind"] == "test"
    read_at = datetime.fromisoformat(body["read_at"])
    assert read_at.utcoffset() is not None  # ISO 8601 with its offset
    unread = unread_ids(client, acceptor)
    assert first not in unread and second in unread
    listed = client.get(f"/api/v1/notifications?after={first - 1}", headers=acceptor).get_json()
    assert {n["id"]: n["read_at"] for n in listed}[first] == body["read_at"]
    assert {n["id"]: n["read_at"] for n in listed}[second] is None


def test_reading_twice_keeps_the_first_read_at(client, session, acceptor):
    (note,) = tell(session, "acceptor")
    first = client.post(f"/api/v1/notifications/{note}/read", headers=acceptor).get_json()
    again = client.post(f"/api/v1/notifications/{note}/read", headers=acceptor)
    assert again.status_code == 200
    assert again.get_json()["read_at"] == first["read_at"]


def test_another_users_notification_is_not_found(client, session, acceptor):
    (theirs,) = tell(session, "dispatcher")
    problem_of(client.post(f"/api/v1/notifications/{theirs}/read", headers=acceptor), 404)
    dispatcher = login_headers(client, "dispatcher")
    assert theirs in unread_ids(client, dispatcher)  # still unread for its owner


def test_a_missing_notification_is_not_found(client, session, acceptor):
    problem_of(client.post("/api/v1/notifications/2147483000/read", headers=acceptor), 404)


def test_read_several_counts_only_the_callers_unread_ones(client, session, acceptor):
    a, b, c = tell(session, "acceptor", 3)
    (theirs,) = tell(session, "dispatcher")
    client.post(f"/api/v1/notifications/{a}/read", headers=acceptor)
    response = client.post(
        "/api/v1/notifications/read", json={"ids": [a, b, theirs]}, headers=acceptor
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"marked": 1}  # a was read already, theirs is not ours
    unread = unread_ids(client, acceptor)
    assert a not in unread and b not in unread and c in unread
    assert theirs in unread_ids(client, login_headers(client, "dispatcher"))


def test_read_all_marks_every_one_of_the_callers(client, session, acceptor):
    tell(session, "acceptor", 3)
    (theirs,) = tell(session, "dispatcher")
    before = len(unread_ids(client, acceptor))
    assert before >= 3
    response = client.post("/api/v1/notifications/read", json={"all": True}, headers=acceptor)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"marked": before}
    assert unread_ids(client, acceptor) == []
    assert theirs in unread_ids(client, login_headers(client, "dispatcher"))
    again = client.post("/api/v1/notifications/read", json={"all": True}, headers=acceptor)
    assert again.get_json() == {"marked": 0}


def test_unread_filter_shrinks_as_notifications_are_read(client, session, acceptor):
    ids = tell(session, "acceptor", 4)
    assert set(ids) <= set(unread_ids(client, acceptor))
    client.post("/api/v1/notifications/read", json={"ids": ids[:3]}, headers=acceptor)
    unread = unread_ids(client, acceptor)
    assert ids[3] in unread and not set(ids[:3]) & set(unread)
    everything = client.get(f"/api/v1/notifications?after={ids[0] - 1}", headers=acceptor)
    assert [n["id"] for n in everything.get_json()][:4] == ids  # read ones are still listed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": 5}, "ids"),
        ({"ids": "1,2"}, "ids"),
        ({"ids": ["x"]}, "ids.0"),
        ({"ids": [0]}, "ids.0"),
        ({}, "ids"),
        ({"all": False}, "all"),
        ({"ids": [1], "all": True}, "all"),
        ({"all": "yes please"}, "all"),
        ({"ids": [1], "every": True}, "every"),
    ],
)
def test_bad_bodies_are_field_errors(client, session, acceptor, body, field):
    problem = problem_of(
        client.post("/api/v1/notifications/read", json=body, headers=acceptor), 422
    )
    assert field in problem["errors"], problem


def test_reading_needs_a_signed_in_user(client, session):
    problem_of(client.post("/api/v1/notifications/read", json={"all": True}), 401)
    problem_of(client.post("/api/v1/notifications/1/read"), 401)
