"""The RQ worker: ``python -m gridapp.core.worker`` (one per core; ``make run`` starts one).

It builds the app once and runs jobs in its own process (RQ's SimpleWorker): forking a fresh
child per job would rebuild the app for every thumbnail and notification, about a second each.
Jobs are short and idempotent, so the isolation a fork gives is not worth that price here.

The scheduler RQ forks beside the worker dies with it (Linux's parent-death signal), so a
killed worker leaves no orphan holding the scheduler lock. Every maintenance round (each
minute) re-schedules the SLA and media sweeps and hands abandoned jobs (a worker killed
mid-job) back to RQ's retry.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from rq import SimpleWorker

from gridapp.cases.jobs import schedule_sweep
from gridapp.core.audit_jobs import schedule_audit_prune
from gridapp.core.extensions import redis
from gridapp.core.jobs import worker_app
from gridapp.core.lifetime import die_with_parent
from gridapp.core.malloc import keep_large_blocks_out_of_the_heap
from gridapp.core.partition_jobs import schedule_partitions
from gridapp.evaluation.jobs import schedule_snapshot
from gridapp.evaluation.rollup import schedule_dashboard_rollup
from gridapp.media.housekeeping import schedule_media_sweep
from gridapp.patrol.jobs import schedule_patrol_prune

log = logging.getLogger("gridapp.worker")

# RQ cleans its registries (abandoned jobs are retried there) every maintenance round; its
# default of ten minutes would leave a killed job waiting that long.
MAINTENANCE_SECONDS = 60
# An idle worker waits this long less 15 s on the queue between maintenance checks (RQ's
# default, 420, would keep a scheduler lost with a killed worker away for seven minutes).
WORKER_TTL = 60


# Every periodic job, each rescheduling itself; one job id per minute (per night) makes a
# repeated call a no-op, so the worker calls them at start and on every maintenance round.
PERIODIC = (
    schedule_sweep,
    schedule_media_sweep,
    schedule_audit_prune,
    schedule_patrol_prune,
    schedule_snapshot,
    schedule_partitions,
    schedule_dashboard_rollup,
)


def schedule_periodic() -> list[str]:
    """Schedule every periodic job (no-ops for those already scheduled); their job ids."""
    return [schedule() for schedule in PERIODIC]


class GridappWorker(SimpleWorker):
    """RQ's in-process worker whose maintenance also keeps the periodic sweeps scheduled."""

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        try:
            schedule_periodic()
        except Exception:
            log.exception("could not schedule the sweeps; next maintenance round tries again")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run gridapp's RQ worker with its scheduler.")
    parser.add_argument("--burst", action="store_true", help="Stop when the queues are empty.")
    parser.add_argument(
        "--without-scheduler",
        action="store_true",
        help="Never run RQ's scheduler here (by default every worker may; one holds the lock).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Its jobs hold large arrays too (the area tiles' render reads the whole map's shapes), so
    # numpy's huge-page advice is kept off its heap as off a web worker's. It builds no grid
    # index: patrol batches are placed in the request that uploads them.
    keep_large_blocks_out_of_the_heap()
    me = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with_parent(me))
    app = worker_app()
    with app.app_context():
        queues = redis.queues()
        schedule_periodic()
        worker = GridappWorker(
            queues,
            connection=redis.connection,
            maintenance_interval=MAINTENANCE_SECONDS,
            worker_ttl=WORKER_TTL,
        )
        worker.work(with_scheduler=not args.without_scheduler, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
