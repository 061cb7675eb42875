"""RQ jobs: module-level functions taking ids, idempotent, each committing once.

A job runs in the worker process, outside any request: ``job_context`` gives it an app context
(one app per worker process, made from the environment) and commits when the job succeeds.
A job run for an outbox row runs inside the row's own ``job_context``: the inner one joins that
transaction, so the job's effect and the row's ``done_at`` commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from gridapp.core.extensions import db

_app: Flask | None = None
_open: ContextVar[Session | None] = ContextVar("gridapp_job_session", default=None)


def worker_app() -> Flask:
    global _app
    if _app is None:
        from gridapp import create_app

        _app = create_app()
    return _app


@contextmanager
def job_context() -> Iterator[Session]:
    """Yield a session inside an app context; commit at the end, roll back on error."""
    outer = _open.get()
    if outer is not None:
        # Nested (an outbox row's job): the outer block commits both, or neither.
        yield outer
        return
    # Called inline (tests, CLI) a job reuses the current app; in the worker it makes one.
    app = current_app._get_current_object() if has_app_context() else worker_app()  # type: ignore[attr-defined]
    with app.app_context(), db.transaction() as session:
        token = _open.set(session)
        try:
            yield session
        finally:
            _open.reset(token)
