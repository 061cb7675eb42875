"""Keep a gunicorn worker alive while it builds what takes longer than gunicorn's timeout.

gunicorn's master kills a worker that has not told it it is alive for ``--timeout`` seconds
(30 by default, as `make run` keeps it): a sync worker tells it between requests. A worker's
grid index at city size takes 15-20 s of CPU to build on an idle core and minutes on a loaded
one (docs/performance.md), so the master killed the worker half-way through, the request that
needed the index failed, and the next worker started the same build again. While a build runs
under `kept_alive`, a thread tells the master the worker is alive; a build still running after
`BUILD_LIMIT_SECONDS` is left to the timeout, as a hung request is.

`gridapp/core/gunicorn_conf.py` registers the worker's own heartbeat (`beat_with`); outside
gunicorn nothing is registered and `kept_alive` does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

# Longer than any build of the largest map we know of under load (minutes at load 15).
BUILD_LIMIT_SECONDS: Final = 600.0

_heartbeat: tuple[Callable[[], None], float] | None = None


def beat_with(notify: Callable[[], None] | None, period: float = 1.0) -> None:
    """Register how this process tells its master it is alive, and how often to (None: no one
    to tell)."""
    global _heartbeat
    _heartbeat = None if notify is None else (notify, period)


@contextmanager
def kept_alive(limit: float = BUILD_LIMIT_SECONDS) -> Iterator[None]:
    """Tell the master every period that this worker is alive, for at most ``limit`` seconds."""
    if _heartbeat is None:
        yield
        return
    notify, period = _heartbeat
    done = threading.Event()
    deadline = time.monotonic() + limit

    def beat() -> None:
        while not done.wait(period) and time.monotonic() < deadline:
            notify()

    thread = threading.Thread(target=beat, name="gridapp-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
