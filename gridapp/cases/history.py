"""The case history (办理记录): append-only events, each chained to the previous by sha256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import bindparam, func, select
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session

import workflow
from gridapp.cases.models import Case, CaseEvent
from gridapp.core.rows import insert_loaded

GENESIS = "0" * 64
LAST_EVENT = (
    select(CaseEvent.seq, CaseEvent.hash)
    .where(CaseEvent.case_id == bindparam("case_id"))
    .order_by(CaseEvent.seq.desc())
    .limit(1)
)
# session.info key: per case id, when it last entered each state, as this transaction knows it.
ENTERED_KEY = "cases.states_entered"
KNOWN_STATES = frozenset(state.value for state in workflow.State)


def _entered_known(session: Session) -> dict[int, dict[workflow.State, datetime]]:
    return cast(dict[int, dict[workflow.State, datetime]], session.info.setdefault(ENTERED_KEY, {}))


# session.info key: per case id, the (seq, hash) of its last event, read with the case row's
# lock (`remember_head`) and kept in step by `append_event`, so appending reads nothing.
HEAD_KEY = "cases.chain_head"


def _of_last_event(column: Any) -> Any:
    """`column` of the case's last event, as a scalar subquery correlated to the case row."""
    return (
        select(column)
        .where(CaseEvent.case_id == Case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )


# The last event's seq and hash of the case in the same row as the case: for the statement that
# locks the case (`gridapp.cases.actions`), one round trip instead of two.
HEAD_SEQ = _of_last_event(CaseEvent.seq)
HEAD_HASH = _of_last_event(CaseEvent.hash)


@listens_for(Session, "after_commit")
@listens_for(Session, "after_soft_rollback")
def _forget_entered(session: Session, *_args: Any) -> None:
    # After a commit another process may append events; after a rollback (a savepoint's too)
    # the events this transaction appended are gone. Either way the history is read again.
    session.info.pop(ENTERED_KEY, None)
    session.info.pop(HEAD_KEY, None)


def remember_head(session: Session, case_id: int, seq: int | None, digest: str | None) -> None:
    """Remember a case's last event as read by the statement that locked the case row.

    Only from that statement: the lock keeps every other append out until this transaction
    ends. (On PostgreSQL a lock that had to wait returns the newer row but the older history;
    the caller's version check refuses that case before anything is appended.)
    """
    heads = cast(dict[int, tuple[int, str]], session.info.setdefault(HEAD_KEY, {}))
    if seq is not None and digest is not None:
        heads[case_id] = (seq, digest)


# What an event's hash covers: every column but its id and the hash itself.
HASHED = (
    "case_id",
    "seq",
    "action",
    "actor_id",
    "role",
    "from_state",
    "to_state",
    "comment",
    "data",
    "created_at",
    "prev_hash",
)


def event_digest(event: CaseEvent) -> str:
    """Hash an event's content together with the previous event's hash."""
    return content_digest({name: getattr(event, name) for name in HASHED})


def content_digest(values: Mapping[str, Any]) -> str:
    """Hash an event's column values (those `HASHED` names) as `event_digest` does."""
    content = {name: values[name] for name in HASHED}
    content["created_at"] = values["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append_event(
    session: Session,
    case: Case,
    *,
    action: str,
    actor_id: int | None,
    role: str | None,
    from_state: str | None,
    to_state: str,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    first: bool = False,
) -> CaseEvent:
    """Append one event to a case's chain (the case row is locked by the caller's version bump).

    ``first`` says the case was created in this transaction, so its chain starts here.
    """
    heads = cast(dict[int, tuple[int, str]], session.info.setdefault(HEAD_KEY, {}))
    if first:
        last: tuple[int, str] | None = None
    elif case.id in heads:
        last = heads[case.id]
    else:
        row = session.execute(LAST_EVENT, {"case_id": case.id}).first()
        last = (row[0], row[1]) if row else None
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    values: dict[str, Any] = {
        "case_id": case.id,
        "seq": seq,
        "action": action,
        "actor_id": actor_id,
        "role": role,
        "from_state": from_state,
        "to_state": to_state,
        "comment": comment,
        "data": data or {},
        "created_at": at or datetime.now(UTC),
        "prev_hash": prev,
    }
    values["hash"] = content_digest(values)
    # One INSERT with the values as parameters (a cached statement), then the event joins the
    # session as the row it is: the unit of work's flush of one object cost more than the row.
    (event,) = insert_loaded(session, CaseEvent, [values])
    heads[case.id] = (seq, event.hash)
    # Keep what states_entered would read in step: the actions listed in the answer (a new
    # case's, an acted-on case's) then need no second read of the history. Only a new case or
    # one whose history this transaction has read (its row locked by the version bump) counts.
    known = _entered_known(session)
    if first:
        known[case.id] = {}
    entered = known.get(case.id)
    if entered is not None and to_state in KNOWN_STATES:
        state = workflow.State(to_state)
        at = event.created_at
        if state not in entered or entered[state] < at:
            entered[state] = at
    return event


def latest_event(session: Session, case_id: int) -> CaseEvent | None:
    return session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq.desc())
    )


def states_entered(session: Session, case_id: int) -> dict[workflow.State, datetime]:
    """Return when the case last entered each state it has been in (for action windows).

    Read once per transaction and case: the events this transaction appends keep it in step.
    """
    known = _entered_known(session)
    if case_id not in known:
        known[case_id] = states_entered_of(session, [case_id])[case_id]
    return dict(known[case_id])


def states_entered_of(
    session: Session, case_ids: Sequence[int]
) -> dict[int, dict[workflow.State, datetime]]:
    """Return `states_entered` of several cases in one query (a page of a list)."""
    rows = session.execute(
        select(CaseEvent.case_id, CaseEvent.to_state, func.max(CaseEvent.created_at))
        .where(CaseEvent.case_id.in_(case_ids))
        .group_by(CaseEvent.case_id, CaseEvent.to_state)
    )
    found: dict[int, dict[workflow.State, datetime]] = {case_id: {} for case_id in case_ids}
    for case_id, state, at in rows:
        if state in KNOWN_STATES and at is not None:
            found[case_id][workflow.State(state)] = at
    return found


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    events: int
    first_broken_seq: int | None
    reason: str | None


def verify_chain(session: Session, case_id: int) -> ChainReport:
    """Recompute every hash of a case's history and say whether the chain is intact."""
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
    ).all()
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return ChainReport(False, len(events), event.seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return ChainReport(False, len(events), event.seq, "link to the previous event broken")
        if event_digest(event) != event.hash:
            return ChainReport(False, len(events), event.seq, "content does not match its hash")
        prev = event.hash
    return ChainReport(True, len(events), None, None)


@dataclass(frozen=True)
class HistoryReport:
    cases: int
    events: int
    broken: list[tuple[int, ChainReport]]


def verify_every_chain(session: Session) -> HistoryReport:
    """Recompute every case's chain in one pass over the history (``flask audit verify``)."""
    broken: list[tuple[int, ChainReport]] = []
    cases = events = 0
    current: int | None = None
    prev, expected_seq, failed = GENESIS, 1, False
    rows = session.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq))
    for event in rows.yield_per(2000):
        events += 1
        if event.case_id != current:
            current, prev, expected_seq, failed = event.case_id, GENESIS, 1, False
            cases += 1
        if failed:
            continue
        reason = None
        if event.seq != expected_seq:
            reason = f"event {expected_seq} is missing"
        elif event.prev_hash != prev:
            reason = "link to the previous event broken"
        elif event_digest(event) != event.hash:
            reason = "content does not match its hash"
        if reason is not None:
            broken.append((event.case_id, ChainReport(False, 0, event.seq, reason)))
            failed = True
            continue
        prev, expected_seq = event.hash, expected_seq + 1
    return HistoryReport(cases, events, broken)
