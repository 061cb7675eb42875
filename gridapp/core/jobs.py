"""RQ jobs: module-level functions taking ids, idempotent, each committing once.

A job runs in the worker process, outside any request: ``job_context`` gives it an app context
(one app per worker process, made from the environment) and commits when the job succeeds.
A job run for an outbox row runs inside the row's own ``job_context``: the inner one joins that
transaction, so the job's effect and the row's ``done_at`` commit together or not at all. A long
job with a slow part that may run twice (`own_transactions`) runs after that transaction instead.
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
# The import paths of the jobs declared with `own_transactions`.
_OWN_TRANSACTIONS: set[str] = set()
J = TypeVar("J", bound=Callable[..., Any])


def own_transactions(job: J) -> J:
    """Declare a job that runs outside its outbox row's transaction, in short ones of its own.

    An outbox row's job runs in the row's transaction, so that its effect and the row's done_at
    commit together. That transaction may write: on SQLite it holds the one write lock from its
    start (gridapp/core/db_sqlite.py), so a job's slow part (a render of minutes, a photo
    decoded) would keep every report and action waiting for all of it. A job declared so does
    its slow part outside any write transaction (reading in ``job_context(read_only=True)``)
    and commits what it writes in a short ``job_context()`` of its own. It may run twice: its
    row is marked done once it has succeeded, and a run that fails leaves the row to its retry.
    """
    _OWN_TRANSACTIONS.add(f"{job.__module__}.{job.__qualname__}")
    return job


def has_own_transactions(job: Callable[..., Any]) -> bool:
    """Whether ``job`` was declared with `own_transactions`."""
    return f"{job.__module__}.{job.__qualname__}" in _OWN_TRANSACTIONS


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
