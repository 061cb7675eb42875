"""Reads of personal data in the audit trail (个人信息查阅审计, PIPL art. 51, MLPS).

Serialising a case for a desk role shows the caller's name and phone; the schema notes the case
here, and after the request's own transaction has committed one entry per request lists what was
shown. It is written in a short transaction of its own: a GET's transaction is a deferred read on
SQLite, and upgrading it to a write could fail under concurrent writers. The entry names the
cases, never the personal data itself.
"""

from __future__ import annotations

import logging

from flask import g, has_request_context, request

from gridapp.core import db_sqlite
from gridapp.core.audit import record_audit
from gridapp.core.extensions import db

READ = "personal_data.read"
log = logging.getLogger(__name__)


def note_personal_data_read(target_type: str, target_id: int | str) -> None:
    """Remember that this request shows an object's personal data (written after the commit)."""
    if not has_request_context():
        return
    shown: dict[str, set[str]] = g.setdefault("personal_data_read", {})
    shown.setdefault(target_type, set()).add(str(target_id))


def record_personal_data_reads() -> None:
    """Write one audit entry for what this request showed, if anything (after its commit)."""
    shown: dict[str, set[str]] | None = g.pop("personal_data_read", None)
    if not shown:
        return
    session = db.session()
    writing = db_sqlite.READ_ONLY.set(False)
    try:
        for target_type, ids in sorted(shown.items()):
            record_audit(
                session,
                READ,
                target_type=target_type,
                target_id=next(iter(ids)) if len(ids) == 1 else None,
                details={
                    "ids": sorted(ids, key=lambda v: (len(v), v)),
                    "method": request.method,
                    "route": request.url_rule.rule if request.url_rule else None,
                },
            )
        session.commit()
    except Exception:  # the answer stands even when the audit trail can't be written
        session.rollback()
        log.exception("could not audit a read of personal data")
    finally:
        db_sqlite.READ_ONLY.reset(writing)
