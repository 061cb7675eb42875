"""A phone's retry of a report: found by its idempotency key before anything is written, or, when
it raced its first try past that read, by the INSERT on the key's unique constraint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from gridapp.cases import intake
from gridapp.cases.models import Case, Counter
from gridapp.catalogue.models import Category
from gridapp.core.extensions import db
from gridapp.core.models import OutboxMessage
from gridapp.notifications.models import Notification
from tests.gridapp.case_helpers import TIME_DEPENDENT, act, own_grid_point, report


def _counter(number: str) -> int | None:
    return db.session().scalar(select(Counter.value).where(Counter.name == f"case:{number[:8]}"))


def test_a_retry_gives_back_the_number_it_took(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
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
    # The retry took no number (or gave it back), and nobody was told twice.
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


def _answer(response: Any) -> tuple[int, str | None, dict[str, Any]]:
    body = {k: v for k, v in response.get_json().items() if k not in TIME_DEPENDENT}
    return response.status_code, response.headers.get("ETag"), body


def _notified(case_id: int) -> list[int]:
    return list(
        db.session().scalars(select(Notification.id).where(Notification.case_id == case_id)).all()
    )


def test_a_retry_writes_nothing_and_answers_as_the_first_try(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
    keyed = {**worker, "Idempotency-Key": "retry-read-1"}
    first = report(client, keyed, *point)
    assert first.status_code == 201
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    engine = db.engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", seen)
    try:
        again = report(client, keyed, *point)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert _answer(again) == _answer(first)
    # Found by its key before anything was numbered or written.
    assert statements and not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements


def test_a_retry_that_raced_its_first_try_answers_it_and_gives_back_its_number(
    client: Any, auth: Any, monkeypatch: Any
) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
    keyed = {**worker, "Idempotency-Key": "retry-raced-1"}
    first = report(client, keyed, *point)
    assert first.status_code == 201
    number, case_id = first.get_json()["number"], first.get_json()["id"]
    told = _notified(case_id)
    real = intake.find_reported
    reads: list[str] = []

    def before_the_first_commit(session: Any, reporter_id: int, client_id: str) -> Case | None:
        # The retry's read ran while the first try was still being written (another worker,
        # on PostgreSQL): it found nothing. Later reads find the committed case.
        reads.append(client_id)
        return None if len(reads) == 1 else real(session, reporter_id, client_id)

    monkeypatch.setattr(intake, "find_reported", before_the_first_commit)
    again = report(client, keyed, *point)
    # The read before the work, then the one after the INSERT found the key taken.
    assert reads == ["retry-raced-1", "retry-raced-1"]
    assert _answer(again) == _answer(first)
    assert _counter(number) == int(number[8:]), "the retry's number went back"
    assert _notified(case_id) == told
    stored = db.session().scalars(select(Case.id).where(Case.client_id == "retry-raced-1"))
    assert stored.all() == [case_id]


def test_a_retry_after_the_case_moved_on_answers_it_as_it_is_now(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
    keyed = {**worker, "Idempotency-Key": "retry-moved-1"}
    case = report(client, keyed, *point).get_json()
    case = act(client, auth("acceptor"), case, "accept")
    case = act(client, auth("shift_leader"), case, "file")
    case = act(client, auth("dispatcher"), case, "dispatch")
    assert case["department"] is not None

    again = report(client, keyed, *point)
    now = client.get(f"/api/v1/mobile/cases/{case['id']}", headers=worker)
    assert again.status_code == 201 and now.status_code == 200
    # The department's name (and the rest) as a read of the case gives them.
    assert _answer(again)[1:] == _answer(now)[1:]
    assert again.get_json()["department_name"]


def test_a_retry_answers_its_case_after_its_category_was_retired(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
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
    case = report(client, worker, *own_grid_point(client, worker)).get_json()
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
