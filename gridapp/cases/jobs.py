"""The every-minute job: SLA sweep, then the outbox reconciler and relay for what a crash left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app

from gridapp.cases.sla import sweep_sla
from gridapp.core.config import Config
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.outbox import reconcile_outbox, relay_outbox

INTERVAL = timedelta(minutes=1)


def sla_sweep() -> dict[str, int]:
    """Schedule the next run, sweep the SLA clocks, reconcile and relay the outbox."""
    # The next run first: a sweep that fails half-way (database restarting) must not end the
    # chain; RQ retries this one and the next minute's comes anyway.
    schedule_sweep()
    with job_context() as session:
        result = sweep_sla(session)
    with job_context() as session:
        config: Config = current_app.config["GRIDAPP"]
        after = timedelta(seconds=config.outbox_reconcile_seconds)
        reconciled = reconcile_outbox(session, redis, after=after)
    with job_context() as session:
        relayed = relay_outbox(session, redis)
    return {
        "scanned": result.scanned,
        "warned": result.warned,
        "overdue": result.overdue,
        "reconciled": reconciled,
        "relayed": relayed,
    }


def schedule_sweep(now: datetime | None = None) -> str:
    """Schedule the next sweep at the next whole minute; one job id per minute dedupes it."""
    now = now or datetime.now(UTC)
    at = (now + INTERVAL).replace(second=0, microsecond=0)
    job_id = redis.job_id(f"sla-sweep-{at:%Y%m%d%H%M}")
    return redis.schedule(sla_sweep, at, queue="default", job_id=job_id, description="SLA sweep")
