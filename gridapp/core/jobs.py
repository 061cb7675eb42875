"""RQ jobs: module-level functions taking ids, idempotent, each committing once.

A job runs in the worker process, outside any request: ``job_context`` gives it an app context
(one app per worker process, made from the environment) and commits when the job succeeds.
A job run for an outbox row runs inside the row's own ``job_context``: the inner one joins that
transaction, so the job's effect and the row's ``done_at`` commit together or not at all. A long
job that writes nothing and may run twice (`reading_job`) runs after that transaction instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from gridapp.core import db_sqlite
from gridapp.core.extensions import db

_app: Flask | None = None
_open: ContextVar[Session | None] = ContextVar("gridapp_job_session", default=None)
# The import paths of the jobs declared with `reading_job`.
_READING: set[str] = set()
J = TypeVar("J", bound=Callable[..., Any])


def reading_job(job: J) -> J:
    """Declare a job that writes nothing to the database, may run twice, and may run long.

    An outbox row's job runs in the row's transaction, which may write: on SQLite it holds the
    one write lock from its start (gridapp/core/db_sqlite.py), so a render of minutes would
    keep every report and action waiting for all of it. Such a job runs once that transaction
    has ended, in read-only ones of its own (``job_context(read_only=True)``); its row is
    marked done after it, and a run that fails leaves the row to its retry.
    """
    _READING.add(f"{job.__module__}.{job.__qualname__}")
    return job


def is_reading_job(job: Callable[..., Any]) -> bool:
    """Whether ``job`` was declared with `reading_job`."""
    return f"{job.__module__}.{job.__qualname__}" in _READING


def worker_app() -> Flask:
    global _app
    if _app is None:
        from gridapp import create_app

        _app = create_app()
    return _app


@contextmanager
def job_context(*, read_only: bool = False) -> Iterator[Session]:
    """Yield a session inside an app context; commit at the end, roll back on error.

    ``read_only``: the job's transactions only read. On SQLite they then take neither the write
    lock nor the writers' queue (a WAL snapshot each, as a GET request's), and writers go on.
    """
    outer = _open.get()
    if outer is not None:
        # Nested (an outbox row's job): the outer block commits both, or neither.
        yield outer
        return
    # Called inline (tests, CLI) a job reuses the current app; in the worker it makes one.
    app = current_app._get_current_object() if has_app_context() else worker_app()  # type: ignore[attr-defined]
    reading = db_sqlite.READ_ONLY.set(read_only)
    try:
        with app.app_context(), db.transaction() as session:
            token = _open.set(session)
            try:
                yield session
            finally:
                _open.reset(token)
    finally:
        db_sqlite.READ_ONLY.reset(reading)
