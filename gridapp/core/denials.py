"""Permission denials in the audit trail (越权访问审计), each in a transaction of its own.

A refused request rolls its transaction back (the boundary in ``create_app`` does), which would
take an audit entry written in it along. So the refusal is written after that rollback, in a short
transaction of its own: the attempt is on record although nothing it tried happened. The entry
names who, what and from where; never the body, a query string or anything the caller typed.
"""

from __future__ import annotations

import logging

from flask import request

from gridapp.core import db_sqlite
from gridapp.core.audit import record_audit
from gridapp.core.errors import GridappError
from gridapp.core.extensions import db

DENIED = "access.denied"
log = logging.getLogger(__name__)


def record_denial(exc: GridappError) -> None:
    """Audit a 403, or a 404 for an object outside the caller's scope."""
    session = db.session()
    # A GET's transaction is a deferred read on SQLite; this one writes, so it queues as writers do.
    writing = db_sqlite.READ_ONLY.set(False)
    try:
        session.rollback()
        record_audit(
            session,
            DENIED,
            target_type=getattr(exc, "target_type", None),
            target_id=getattr(exc, "target_id", None),
            result="denied",
            # The route's pattern, not the path: ids sit in target_id, nothing else from the URL.
            details={
                "status": exc.status,
                "method": request.method,
                "route": request.url_rule.rule if request.url_rule else None,
                "reason": exc.type_slug,
            },
        )
        session.commit()
    except Exception:  # the refusal is answered even when the audit trail can't be written
        session.rollback()
        log.exception("could not audit a denied request")
    finally:
        db_sqlite.READ_ONLY.reset(writing)
