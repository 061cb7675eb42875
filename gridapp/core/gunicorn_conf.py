"""gunicorn's settings for gridapp: ``gunicorn -c gridapp/core/gunicorn_conf.py wsgi:app``.

`make run` (`gridapp/core/serve.py`) starts gunicorn with it, and so do the benchmarks that
measure the server as `make run` starts it; docs/deployment.md asks the same of a deployment.
gunicorn reads this file as a script of its own, not as part of the package: the master imports
nothing of gridapp, each worker imports the app after its fork (`wsgi.py`).
"""

from __future__ import annotations

from typing import Any


def post_fork(server: Any, worker: Any) -> None:
    """Register the new worker's heartbeat before it loads the app (`gridapp.core.heartbeat`).

    ``worker.timeout`` is half of ``--timeout`` (the margin gunicorn leaves itself); beating
    twice as often again keeps a long build well inside it.
    """
    from gridapp.core.heartbeat import beat_with

    beat_with(worker.notify, period=max(worker.timeout / 2.0, 0.05))
