"""Run a job in a thread, held at its slow part, and time a writer meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.core.extensions import db


class Hold:
    """Stands in for a job's slow part: waits (at most 20 s) until `release`, then runs it."""

    def __init__(self, slow: Callable[..., Any]) -> None:
        self.slow = slow
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self, *args: Any) -> Any:
        self.reached.set()
        self.released.wait(20)
        return self.slow(*args)


def write_wait_while_held(app: Any, hold: Hold, job: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``job`` in a thread of its own; once it reaches ``hold``, time a write transaction
    begun on another connection (on SQLite: the write lock), then release it. Return the wait
    and what the job returned."""
    done: list[Any] = []

    def run() -> None:
        with app.app_context():
            done.append(job())

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert hold.reached.wait(20)
        started = time.monotonic()
        with app.app_context(), Session(db.engine) as writer:
            writer.execute(select(1))
            writer.commit()
        waited = time.monotonic() - started
    finally:
        hold.released.set()
        worker.join(60)
    assert done, "the job did not return"
    return waited, done[0]
