"""The audit trail (审计日志): who did what, when, from where, with what result.

Append-only and hash-chained like the case history (``gridapp/cases/history.py``), but one chain
for the whole table: each entry hashes its content with the previous entry's hash. Writers
serialise on the chain's head (an advisory lock on PostgreSQL; SQLite has one writer anyway), so
two concurrent entries never claim the same predecessor. An entry is written in the caller's
transaction: a change that rolls back leaves no entry, and an entry never outlives its change.

``before``/``after`` carry what an administrative change replaced; personal data (phone numbers,
names of callers, passwords, secrets) never goes into an entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Index, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from gridapp.core.models import Base
from gridapp.core.types import JSONType, UTCDateTime

GENESIS = "0" * 64
# Any constant both writers agree on: it names the chain's head for pg_advisory_xact_lock.
CHAIN_LOCK = 0x67726964_61756469  # "gridaudi"
RESULTS = ("ok", "denied", "failed")


class AuditEntry(Base):
    """One audited act: a sign-in, a refusal, an administrative change, a read of personal data."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_id", "actor_id"),
        Index("ix_audit_log_action", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column()
    actor_role: Mapped[str | None] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[str] = mapped_column(String(10))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def entry_digest(entry: AuditEntry) -> str:
    """Hash an entry's content together with the previous entry's hash."""
    content = {
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "result": entry.result,
        "source_ip": entry.source_ip,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _request_facts() -> tuple[int | None, str | None, str | None]:
    """The caller and their address when inside a request (jobs and the CLI have neither)."""
    from flask import g, has_request_context, request

    if not has_request_context():
        return None, None, None
    user = g.get("user")
    return (
        getattr(user, "id", None),
        getattr(user, "role", None),
        request.remote_addr,
    )


def record_audit(
    session: Session,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object | None = None,
    result: str = "ok",
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    actor_id: int | None = None,
    actor_role: str | None = None,
    source_ip: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit chain in the caller's transaction.

    The actor and source address default to the current request's signed-in user and remote
    address; pass them for acts without a signed-in user (a failed sign-in names the account
    tried in ``details``, never the password).
    """
    if result not in RESULTS:
        raise ValueError(f"audit result must be one of {RESULTS}, not {result!r}")
    request_actor, request_role, request_ip = _request_facts()
    body = dict(details or {})
    if before is not None:
        body["before"] = before
    if after is not None:
        body["after"] = after
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    prev = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor_id=actor_id if actor_id is not None else request_actor,
        actor_role=actor_role if actor_role is not None else request_role,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        result=result,
        source_ip=source_ip if source_ip is not None else request_ip,
        details=body,
        prev_hash=prev or GENESIS,
        hash="",
    )
    entry.hash = entry_digest(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditChainReport:
    intact: bool
    entries: int
    first_broken_id: int | None
    reason: str | None


def verify_audit_chain(session: Session) -> AuditChainReport:
    """Recompute the chain in id order; the oldest kept entry anchors it (retention prunes
    from the old end, so the first entry's predecessor may be gone)."""
    prev: str | None = None
    count = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        count += 1
        if prev is not None and entry.prev_hash != prev:
            return AuditChainReport(False, count, entry.id, "link to the previous entry broken")
        if entry_digest(entry) != entry.hash:
            return AuditChainReport(False, count, entry.id, "content does not match its hash")
        prev = entry.hash
    return AuditChainReport(True, count, None, None)


# PostgreSQL: the app's role may not DELETE audit rows; pruning goes through this function
# (migration 0008), which itself refuses to delete anything younger than the legal minimum.
PRUNE_FUNCTION = text("SELECT gridapp_prune_audit(:cutoff)")


def prune_audit(session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Delete audit entries older than ``retention_days`` (never fewer than 180); the case
    history is never pruned. The oldest kept entry then anchors the chain."""
    from datetime import timedelta

    from sqlalchemy import delete

    from gridapp.core.config import MIN_AUDIT_RETENTION_DAYS

    days = max(retention_days, MIN_AUDIT_RETENTION_DAYS)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    if session.get_bind().dialect.name == "postgresql":
        return int(session.scalar(PRUNE_FUNCTION, {"cutoff": cutoff}) or 0)
    result = session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


ADMIN_PREFIX = "admin."


def list_changes(
    session: Session, *, cursor: str | None = None, limit: int = 50, action: str | None = None
) -> tuple[list[AuditEntry], str | None]:
    """List the administrative changes (``admin.*`` entries), newest first, a page at a time."""
    from gridapp.core.pagination import cursor_int, decode_cursor, paginate

    query = (
        select(AuditEntry)
        .where(AuditEntry.action.startswith(ADMIN_PREFIX, autoescape=True))
        .order_by(AuditEntry.id.desc())
        .limit(limit + 1)
    )
    if action:
        query = query.where(AuditEntry.action == action)
    after = decode_cursor(cursor, 1)
    if after is not None:
        query = query.where(AuditEntry.id < cursor_int(after[0]))
    return paginate(list(session.scalars(query)), limit, lambda e: (e.id,))
