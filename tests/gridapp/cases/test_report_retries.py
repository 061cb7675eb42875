"""A phone's retry of a report: found by the INSERT itself (its idempotency key), not a look-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gridapp.cases.models import Case, Counter
from gridapp.catalogue.models import Category
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.notifications.models import Notification
from tests.gridapp.case_helpers import grid_point, report


def _point(client: Any, worker: dict[str, str]) -> tuple[float, float]:
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    return grid_point(client, worker, me["grids"][0])


def _counter(number: str) -> int | None:
    return db.session().scalar(select(Counter.value).where(Counter.name == f"case:{number[:8]}"))


def test_a_retry_gives_back_the_number_it_took(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = _point(client, worker)
    keyed = {**worker, "Idempotency-Key": "retry-number-1"}
    first = report(client, keyed, *point)
    assert first.status_code == 201
    number = first.get_json()["number"]
    assert _counter(number) == int(number[8:])
    told = (
        db.session()
        .scalars(select(Notification.id).where(Notification.case_id == first.get_json()["id"]))
        .all()
    )

    again = report(client, keyed, *point)
    assert again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["number"] == number
    # The retry's INSERT found the key taken: its number went back, nobody was told twice.
    assert _counter(number) == int(number[8:])
    assert (
        db.session()
        .scalars(select(Notification.id).where(Notification.case_id == first.get_json()["id"]))
        .all()
        == told
    )
    # So the next report's number follows the first's without a gap.
    following = report(client, {**worker, "Idempotency-Key": "retry-number-2"}, *point)
    assert following.status_code == 201
    assert int(following.get_json()["number"][8:]) == int(number[8:]) + 1


def test_a_retry_answers_its_case_after_its_category_was_retired(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = _point(client, worker)
    keyed = {**worker, "Idempotency-Key": "retry-retired-1"}
    first = report(client, keyed, *point, category="SJ0102")
    assert first.status_code == 201
    session = db.session()
    # Retired as the catalogue's admin does (a change the catalogue's version follows).
    category = session.scalar(select(Category).where(Category.code == "SJ0102"))
    assert category is not None
    category.active = False
    session.commit()

    again = report(client, keyed, *point, category="SJ0102")
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    # A new report in the retired category is refused as before.
    fresh = report(client, {**worker, "Idempotency-Key": "retry-retired-2"}, *point)
    assert fresh.status_code == 422 and "category" in fresh.get_json()["errors"]
    assert db.session().scalar(select(Case.id).where(Case.client_id == "retry-retired-2")) is None


def test_a_request_writes_its_jobs_claimed_and_hands_them_over(client: Any, auth: Any) -> None:
    """Dispatch tells the department: its delivery jobs are in Redis when the answer comes."""
    from tests.gridapp.case_helpers import act

    worker = auth("grid_worker")
    case = report(client, worker, *_point(client, worker)).get_json()
    case = act(client, auth("acceptor"), case, "accept")
    case = act(client, auth("shift_leader"), case, "file")
    before = db.session().scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))
    act(client, auth("dispatcher"), case, "dispatch")
    rows = (
        db.session()
        .scalars(
            select(OutboxMessage).where(OutboxMessage.id > (before or 0)).order_by(OutboxMessage.id)
        )
        .all()
    )
    assert rows, "dispatch tells the department's handlers"
    from rq.job import Job

    from gridapp.core.extensions import redis
    from gridapp.core.outbox import rq_job_id

    for row in rows:
        assert row.enqueued_at is not None and row.attempts == 1 and row.done_at is None
        job = Job.fetch(rq_job_id(redis, row.id, row.attempts), connection=redis.connection)
        assert job.args == [row.id]
