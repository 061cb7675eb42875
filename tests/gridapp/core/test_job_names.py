"""Jobs are named by their function, never by a dotted string (DESIGN §2, §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gridapp.cases.jobs import schedule_sweep, sla_sweep
from gridapp.core.extensions import redis
from gridapp.core.models import OutboxMessage
from gridapp.core.outbox import enqueue_after_commit
from gridapp.core.queue import job_path, resolve_job
from gridapp.media.housekeeping import media_sweep, schedule_media_sweep
from gridapp.media.jobs import make_thumbnail
from gridapp.notifications.jobs import deliver_notification
from gridapp.notifications.services import notify

EVERY_JOB = (deliver_notification, make_thumbnail, sla_sweep, media_sweep)


def _nested_job() -> Any:
    def inner(case_id: int) -> None:
        return None

    return inner


class _Holder:
    def method(self, case_id: int) -> None:
        return None


@pytest.mark.parametrize(
    "job",
    [
        "gridapp.notifications.jobs.deliver_notification",
        lambda case_id: None,
        _nested_job(),
        _Holder().method,
        _Holder.method,
        print,
    ],
    ids=["dotted string", "lambda", "nested function", "bound method", "method", "builtin"],
)
def test_a_job_that_is_not_an_importable_function_is_refused(session, job):
    before = session.scalar(select(func.count()).select_from(OutboxMessage))

    with pytest.raises(TypeError, match=r"function|module level"):
        enqueue_after_commit(session, job, [1])

    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before


def test_scheduling_refuses_a_string_too(app):
    with app.app_context(), pytest.raises(TypeError):
        redis.schedule(
            "gridapp.cases.jobs.sla_sweep",
            datetime.now(UTC) + timedelta(days=1),
            job_id=redis.job_id("never"),
            description="never",
        )


@pytest.mark.parametrize("job", EVERY_JOB, ids=lambda job: job.__name__)
def test_every_job_has_a_path_that_imports_back_to_it(job):
    assert resolve_job(job_path(job)) is job


def test_rows_written_with_dotted_strings_before_still_name_the_same_job():
    """Rows queued by an older release stored these strings; the paths computed now match."""
    assert job_path(deliver_notification) == "gridapp.notifications.jobs.deliver_notification"
    assert job_path(make_thumbnail) == "gridapp.media.jobs.make_thumbnail"
    assert job_path(sla_sweep) == "gridapp.cases.jobs.sla_sweep"
    assert job_path(media_sweep) == "gridapp.media.housekeeping.media_sweep"


def test_a_notification_row_stores_the_path_of_its_job(session):
    from gridapp.accounts.models import User

    user_id = session.scalar(select(User.id).where(User.username == "handler"))
    notify(session, [user_id], kind="test", case=None, message="job names")

    row = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert row.args and resolve_job(row.job) is deliver_notification


@pytest.mark.parametrize(
    ("schedule", "job", "queue"),
    [(schedule_sweep, sla_sweep, "default"), (schedule_media_sweep, media_sweep, "low")],
    ids=["sla sweep", "media sweep"],
)
def test_scheduled_jobs_name_their_function(app, schedule, job, queue):
    with app.app_context():
        job_id = schedule()
        registry = redis.queue(queue).scheduled_job_registry
        try:
            queued = redis.queue(queue).fetch_job(job_id)
            assert resolve_job(queued.func_name) is job
        finally:
            registry.remove(job_id, delete_job=True)
