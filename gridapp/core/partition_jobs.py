"""The nightly partition job (按月分区维护), 04:10 Asia/Shanghai; it reschedules itself."""

from __future__ import annotations

import logging
from datetime import datetime, time

from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context
from gridapp.core.partitions import ensure_partitions, partition_states

AT = time(4, 10)

log = logging.getLogger("gridapp.partitions")


def ensure_partitions_job() -> list[str]:
    """Make the coming months' partitions of case and case_event; schedule the next night."""
    with job_context() as session:
        made = ensure_partitions(session)
        crowded = [s for s in partition_states(session) if s.default_rows]
    for state in crowded:
        # Rows outside every month (a clock far off, an imported archive): they are kept and
        # read like any other, only without pruning; an operator adds their months.
        log.warning("%s_default holds %d rows", state.table, state.default_rows)
    schedule_partitions()
    return made


def schedule_partitions(now: datetime | None = None) -> str:
    """Schedule the next nightly run; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        ensure_partitions_job,
        AT,
        name="partition-ensure",
        description="monthly partitions ahead",
        now=now,
    )
