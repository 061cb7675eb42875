"""Run a job in a thread, held at its slow part, and write meanwhile on another connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.core.extensions import db


class Hold:
    """Stands in for a job's slow part: waits until `released`, then runs it.

    The wait gives up after 20 s only so that a job that blocks the writer cannot deadlock the
    test: `gave_up` then says the writer did not get through while the job was held.
    """

    def __init__(self, slow: Callable[..., Any]) -> None:
        self.slow = slow
        self.reached = threading.Event()
        self.released = threading.Event()
        self.gave_up = False

    def __call__(self, *args: Any) -> Any:
        self.reached.set()
        self.gave_up = not self.released.wait(20)
        return self.slow(*args)


def written_while_held(app: Any, hold: Hold, job: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``job`` in a thread of its own; once it reaches ``hold``, begin and commit a write
    transaction on another connection (on SQLite: the write lock), then release the job.
    Return whether the write went through while the job was still held, and what the job
    returned."""
    done: list[Any] = []

    def run() -> None:
        with app.app_context():
            done.append(job())

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert hold.reached.wait(20)
        with app.app_context(), Session(db.engine) as writer:
            writer.execute(select(1))
            writer.commit()
    finally:
        hold.released.set()
        worker.join(60)
    assert done, "the job did not return"
    return not hold.gave_up, done[0]
