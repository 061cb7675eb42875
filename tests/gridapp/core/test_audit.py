"""The audit trail: one chain, found broken when a row is altered by hand; kept six months at
least; on PostgreSQL the app's role cannot rewrite it or the case history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import ProgrammingError

from gridapp.cases.models import CaseEvent
from gridapp.core.audit import (
    AuditEntry,
    entry_digest,
    prune_audit,
    record_audit,
    verify_audit_chain,
)
from gridapp.core.config import Config
from gridapp.core.errors import ConfigurationError
from tests.conftest import BACKEND, as_owner
from tests.gridapp.case_helpers import act, grid_point, report


def test_entries_chain_and_an_altered_row_is_found(session: Any) -> None:
    first = record_audit(session, "test.first", target_type="thing", target_id=1)
    second = record_audit(
        session, "test.second", target_type="thing", target_id=1, before={"a": 1}, after={"a": 2}
    )
    assert second.prev_hash == first.hash
    assert second.details == {"before": {"a": 1}, "after": {"a": 2}}
    assert verify_audit_chain(session).intact

    as_owner(session)
    session.execute(
        update(AuditEntry).where(AuditEntry.id == first.id).values(action="test.forged")
    )
    session.expire_all()
    report = verify_audit_chain(session)
    assert not report.intact
    assert report.first_broken_id == first.id


def test_prune_keeps_the_legal_minimum_and_the_chain_verifies_after(session: Any) -> None:
    as_owner(session)  # moving entries back in time is the owner's doing
    old = record_audit(session, "test.old")
    young = record_audit(session, "test.young")
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == old.id)
        .values(at=datetime.now(UTC) - timedelta(days=400))
    )
    session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == young.id)
        .values(at=datetime.now(UTC) - timedelta(days=179))
    )
    # Rehash the two rows moved in time, as if they had been written then.
    session.expire_all()
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        entry.hash = entry_digest(entry)
    session.flush()

    # Asked for 30 days, the prune still keeps 180.
    assert prune_audit(session, 30) >= 1
    session.expire_all()
    kept = set(session.scalars(select(AuditEntry.action)))
    assert "test.old" not in kept and "test.young" in kept


def test_retention_under_six_months_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AUDIT_RETENTION_DAYS"):
        Config.from_env({"AUDIT_RETENTION_DAYS": "90"}, testing=True)


def test_flask_audit_verify_names_the_first_broken_link(
    client: Any, runner: Any, auth: Any, session: Any
) -> None:
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    case = report(client, worker, lon, lat).get_json()
    act(client, auth("acceptor"), case, "accept")
    record_audit(session, "test.entry")

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output

    as_owner(session)
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == case["id"], CaseEvent.seq == 2)
        .values(comment="rewritten by hand")
    )
    session.expire_all()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"case {case['id']}: broken at event 2" in result.output


@pytest.mark.skipif(BACKEND != "postgres", reason="grants are PostgreSQL's; SQLite has no roles")
def test_the_writer_role_appends_but_never_rewrites_history(
    client: Any, auth: Any, session: Any
) -> None:
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    case = report(client, worker, lon, lat).get_json()
    record_audit(session, "test.entry")

    def as_writer(statement: str) -> None:
        with session.begin_nested():
            session.execute(text("SET LOCAL ROLE gridapp_writer"))
            session.execute(text(statement), {"case_id": case["id"]})

    as_writer("UPDATE \"case\" SET description = 'still editable' WHERE id = :case_id")
    as_writer("SELECT count(*) FROM case_event WHERE case_id = :case_id")
    for statement in (
        "UPDATE case_event SET comment = 'x' WHERE case_id = :case_id",
        "DELETE FROM case_event WHERE case_id = :case_id",
        "UPDATE audit_log SET action = 'x' WHERE :case_id > 0",
        "DELETE FROM audit_log WHERE :case_id > 0",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"):
            as_writer(statement)
    # The prune function runs with the owner's rights but keeps six months whoever asks.
    with pytest.raises(Exception, match="at least 180 days"):
        as_writer("SELECT gridapp_prune_audit(now() - interval '10 days') WHERE :case_id > 0")
    as_writer("SELECT gridapp_prune_audit(now() - interval '200 days') WHERE :case_id > 0")
