"""Evaluation jobs: the nightly snapshot (每日快照) and large exports."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app

import workflow
from gridapp.accounts.models import User
from gridapp.core.extensions import redis
from gridapp.core.jobs import job_context, own_transactions
from gridapp.core.queue import next_local_time
from gridapp.evaluation.export import export_dir, remove_old_exports, render
from gridapp.evaluation.models import EvaluationExport
from gridapp.evaluation.services import evaluate, snapshot_days

AT = time(2, 0)
# Each night recomputes this many closed days: outcomes that come later (a report filed, a
# case closed) settle into the days they count for.
SETTLE_DAYS = 35


def nightly_snapshot() -> dict[str, int]:
    """Snapshot the last closed days, forget day-old exports, schedule the next night's run."""
    now = datetime.now(UTC)
    yesterday = workflow.local_day(now) - timedelta(days=1)
    with job_context() as session:
        rows = snapshot_days(session, yesterday - timedelta(days=SETTLE_DAYS - 1), yesterday, now)
        removed = remove_old_exports(session, current_app.config["GRIDAPP"], now)
    schedule_snapshot()
    return {"rows": rows, "exports_removed": removed}


def next_run(now: datetime) -> datetime:
    """The next 02:00 in Asia/Shanghai after ``now``, in UTC."""
    return next_local_time(now, AT)


def schedule_snapshot(now: datetime | None = None) -> str:
    """Schedule the next nightly snapshot; one job id per night dedupes repeated scheduling."""
    return redis.schedule_nightly(
        nightly_snapshot, AT, name="evaluation-snapshot", description="evaluation snapshot", now=now
    )


@own_transactions
def build_export(export_id: int) -> str:
    """Write a large export's file; a second run of a finished export changes nothing.

    The evaluation is read (seconds from the history at a city's million cases) in a read-only
    transaction and the file written outside any; only the export's row is written, briefly.
    """
    with job_context(read_only=True) as session:
        export = session.get(EvaluationExport, export_id)
        if export is None or export.status == "done":
            return "skipped"
        user = session.get(User, export.user_id)
        assert user is not None  # a foreign key
        params = export.params
        answer = evaluate(
            session,
            user,
            workflow.Kind(params["kind"]),
            date.fromisoformat(params["from"]),
            date.fromisoformat(params["to"]),
            level=params.get("level") or "street",
            subject=params.get("subject"),
        )
        fmt = params["format"]
        data = render(answer, fmt)
    folder = export_dir(current_app.config["GRIDAPP"])
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{export_id}.{fmt}"
    # A partial file of this run's own: a second run of the row (the outbox may start one while
    # this one is slow) writes its own and renames it over the same name, whole either way.
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f"{name}.", suffix=".partial")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(partial, folder / name)
    with job_context() as session:
        export = session.get(EvaluationExport, export_id)
        if export is None:  # forgotten meanwhile (a day old): its file goes too
            (folder / name).unlink(missing_ok=True)
            return "skipped"
        if export.status == "done":  # another run finished first, with the same file
            return "skipped"
        export.filename, export.status = name, "done"
        export.finished_at = datetime.now(UTC)
        return "done"
