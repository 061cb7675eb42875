"""The RQ worker: ``python -m gridapp.core.worker`` (one per core; ``make run`` starts one).

It builds the app once and runs jobs in its own process (RQ's SimpleWorker): forking a fresh
child per job would rebuild the app for every thumbnail and notification, about a second each.
Jobs are short and idempotent, so the isolation a fork gives is not worth that price here.
"""

from __future__ import annotations

import argparse
import logging
import sys

from rq import SimpleWorker

from gridapp.cases.jobs import schedule_sweep
from gridapp.core.audit_jobs import schedule_audit_prune
from gridapp.core.extensions import redis
from gridapp.core.jobs import worker_app
from gridapp.evaluation.jobs import schedule_snapshot
from gridapp.media.housekeeping import schedule_media_sweep
from gridapp.patrol.jobs import schedule_patrol_prune


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run gridapp's RQ worker with its scheduler.")
    parser.add_argument("--burst", action="store_true", help="Stop when the queues are empty.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = worker_app()
    with app.app_context():
        queues = redis.queues()
        schedule_sweep()
        schedule_media_sweep()
        schedule_audit_prune()
        schedule_patrol_prune()
        schedule_snapshot()
        worker = SimpleWorker(queues, connection=redis.connection)
        worker.work(with_scheduler=True, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
