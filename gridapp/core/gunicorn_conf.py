"""gunicorn's settings for gridapp: ``gunicorn -c gridapp/core/gunicorn_conf.py wsgi:app``.

`make run` (`gridapp/core/serve.py`) starts gunicorn with it, and so do the benchmarks that
measure the server as `make run` starts it; docs/deployment.md asks the same of a deployment.
gunicorn reads this file as a script of its own, not as part of the package: the master imports
nothing of gridapp, each worker imports the app after its fork (`wsgi.py`).
"""

from __future__ import annotations

from typing import Any


def post_fork(server: Any, worker: Any) -> None:
    """Before the new worker loads the app: its malloc setting (`gridapp.core.malloc`) and its
    heartbeat (`gridapp.core.heartbeat`).

    ``worker.timeout`` is half of ``--timeout`` (the margin gunicorn leaves itself); beating
    twice as often again keeps a long build well inside it.
    """
    from gridapp.core.heartbeat import beat_with
    from gridapp.core.malloc import keep_large_blocks_out_of_the_heap

    keep_large_blocks_out_of_the_heap()
    beat_with(worker.notify, period=max(worker.timeout / 2.0, 0.05))
