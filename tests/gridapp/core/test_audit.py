"""The audit trail's chain: entries link in order and a row altered by hand is found."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from gridapp.core.audit import AuditEntry, record_audit, verify_audit_chain


def test_entries_chain_and_an_altered_row_is_found(session: Any) -> None:
    first = record_audit(session, "test.first", target_type="thing", target_id=1)
    second = record_audit(
        session, "test.second", target_type="thing", target_id=1, before={"a": 1}, after={"a": 2}
    )
    assert second.prev_hash == first.hash
    assert second.details == {"before": {"a": 1}, "after": {"a": 2}}
    assert verify_audit_chain(session).intact

    session.execute(
        update(AuditEntry).where(AuditEntry.id == first.id).values(action="test.forged")
    )
    session.expire_all()
    report = verify_audit_chain(session)
    assert not report.intact
    assert report.first_broken_id == first.id
