"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func, select, text

import workflow
from gridapp.calendar.services import calendar_warning
from gridapp.cases.models import Case
from gridapp.core.errors import Forbidden, GridappError
from gridapp.core.extensions import db, redis
from gridapp.core.i18n import _
from gridapp.core.models import OutboxMessage
from gridapp.core.outbox import unfinished_count
from gridapp.core.principal import optional_user

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer while the process serves requests."""
    return jsonify(status="ok")


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _may_see_details() -> bool:
    """Details (backends, errors, warnings) for an admin's token or a local probe only.

    A local probe is a call from loopback that no proxy forwarded (nginx adds X-Forwarded-For):
    the supervisor, systemd or an operator's curl on the machine. Anyone else learns ok or not.
    """
    if request.remote_addr in LOOPBACK and "X-Forwarded-For" not in request.headers:
        return True
    try:
        user = optional_user()
    except GridappError:
        return False
    return user is not None and user.role == workflow.Role.admin


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Check the database and Redis; warn when the work calendar lacks a year."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        db.session().execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "backend": db.dialect}
    except Exception as exc:  # readiness reports every failure instead of raising
        ok = False
        checks["database"] = {"status": "error", "detail": str(exc).splitlines()[0]}
    try:
        redis.connection.ping()
        embedded = redis.url is None or current_app.config["GRIDAPP"].embedded_redis
        checks["redis"] = {"status": "ok", "embedded": embedded}
    except Exception as exc:
        ok = False
        checks["redis"] = {"status": "error", "detail": str(exc).splitlines()[0]}
    warnings = []
    if checks["database"]["status"] == "ok":
        try:
            warning = calendar_warning(db.session())
        except Exception as exc:
            warning = f"The work calendar could not be read: {exc}"
        if warning:
            warnings.append(warning)
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable"}
    if _may_see_details():
        body.update(checks=checks, warnings=warnings)
    return jsonify(body), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Expose case and queue gauges in the Prometheus text format.

    The gauges say how much work the city has and where it waits: a local scraper or an
    admin's token sees them (as /readyz's details); anyone else gets 403.
    """
    if not _may_see_details():
        raise Forbidden(_("Metrics are for local scrapers and administrators."))
    session = db.session()
    lines = [
        "# HELP gridapp_cases Cases by state.",
        "# TYPE gridapp_cases gauge",
    ]
    for state, count in session.execute(select(Case.state, func.count()).group_by(Case.state)):
        lines.append(f'gridapp_cases{{state="{state}"}} {count}')
    pending = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.enqueued_at.is_(None))
    )
    lines += [
        "# HELP gridapp_outbox_pending Jobs written but not yet enqueued.",
        "# TYPE gridapp_outbox_pending gauge",
        f"gridapp_outbox_pending {pending or 0}",
        "# HELP gridapp_outbox_unfinished Jobs whose effect has not committed yet.",
        "# TYPE gridapp_outbox_unfinished gauge",
        f"gridapp_outbox_unfinished {unfinished_count(session)}",
        "# HELP gridapp_queue_jobs Jobs waiting in each RQ queue.",
        "# TYPE gridapp_queue_jobs gauge",
    ]
    try:
        for queue in redis.queues():
            lines.append(f'gridapp_queue_jobs{{queue="{queue.name}"}} {queue.count}')
    except Exception:  # metrics stay up when Redis is down; /readyz reports it
        current_app.logger.warning("metrics: Redis unreachable")
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
