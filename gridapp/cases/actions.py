"""Acting on a case: `workflow.select` decides, the row's effects change the case, one event.

`act_on_case` is the only way a case changes after intake: it checks the version, asks the
process definition whether this user may take this action now (role, relation to the case,
guard), checks the payload, then applies exactly the effects the definition's row names
(`gridapp.cases.effects`) and appends one history event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager, object_session
from sqlalchemy.orm.attributes import set_committed_value

import workflow
from gridapp.accounts.models import User
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import keep_warn_at
from gridapp.cases.effects import CLOCK, RECORDING, TELLING, ActionContext, holding_area
from gridapp.cases.history import (
    HEAD_HASH,
    HEAD_SEQ,
    LAST_EVENT,
    append_event,
    latest_event,
    remember_head,
    states_entered,
    states_entered_of,
)
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.partitions import case_month, in_month, load_case, partitioned
from gridapp.cases.queries import get_case
from gridapp.cases.scope import case_visible
from gridapp.catalogue.services import find_category
from gridapp.core.answer import commit_before_answer
from gridapp.core.errors import (
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from gridapp.core.i18n import _
from gridapp.core.rows import update_loaded
from gridapp.media.services import attachments_for_claim

R = workflow.Relation
# Who the history names for what nobody did by hand (the SLA sweep's automatic 督办).
SYSTEM_ROLE = "system"
# One entity tag whose opaque part is a version: up to 9 ASCII digits (versions are INTEGERs).
IF_MATCH_TAG = re.compile(r'(?:W/)?"?([0-9]{1,9})"?', re.ASCII)
# The desk roles whose members sit in a centre (指挥中心 / 综治中心) at one level.
CENTER_ROLES = frozenset(
    {workflow.Role.acceptor, workflow.Role.dispatcher, workflow.Role.shift_leader}
)


def relations(user: User, case: Case) -> frozenset[workflow.Relation]:
    """Return the user's relations to the case that the process's permits may ask for."""
    found = set()
    if case.reporter_id == user.id:
        found.add(R.reporter)
    if case.verifier_id == user.id:
        found.add(R.assigned_verifier)
    if case.checker_id == user.id:
        found.add(R.assigned_checker)
    if user.department_code is not None and case.department_code == user.department_code:
        found.add(R.department_member)
    if user.role in CENTER_ROLES:
        definition = workflow.PROCESSES[case.process]
        area = holding_area(case, definition, workflow.State(case.state))
        # Staff act for the level holding the case: a community centre's staff in
        # community_handling, the street's once it was escalated (层级上报).
        if area is not None and user.district_code == area:
            found.add(R.holding_center)
    return frozenset(found)


def facts(
    user: User, case: Case, payload: Mapping[str, Any] | None = None, *, now: datetime | None = None
) -> workflow.Facts:
    """Return what the guards, windows and relation checks know about the case and its actor.

    The history and the calendar are read only when a row leaving the case's state has a
    window or a guard that may need them; most actions cost no query here.
    """
    given = dict(payload or {})
    known = case_facts(case)
    session = object_session(case)
    timed = session is not None and reads_history(case)
    return replace(
        known,
        duplicate_of=given.get("duplicate_of"),
        relations=relations(user, case),
        role=workflow.Role(user.role),
        payload=MappingProxyType(given),
        now=now or datetime.now(UTC),
        calendar=work_calendar(session) if timed and session is not None else None,
        entered=_entered(session, case) if timed and session is not None else {},
    )


def reads_history(case: Case) -> bool:
    """Say whether a row leaving the case's state has a window or a guard (facts from history)."""
    definition = workflow.PROCESSES[case.process]
    rows = definition.transitions_from(workflow.State(case.state))
    return any(r.within is not None or r.guard for r in rows)


# When each case of a page last entered each state, read for the whole page at once
# (`prefetched_facts`), by (case id, version): a case changed since is read afresh.
_ENTERED = "gridapp.cases.entered"


def _entered(session: Session, case: Case) -> dict[workflow.State, datetime]:
    known = session.info.get(_ENTERED, {}).get((case.id, case.version))
    return known if known is not None else states_entered(session, case.id)


def prefetch_facts(cases: Sequence[Case]) -> None:
    """Read the history facts of a page of cases in one query, for the page's ``actions``.

    Without it each case whose state has a window or a guard reads its history on its own
    (N+1: a desk list of reported cases is all such cases). `forget_facts` ends it.
    """
    timed = [case for case in cases if reads_history(case)]
    session = object_session(timed[0]) if timed else None
    if session is None:
        return
    found = states_entered_of(session, [case.id for case in timed])
    session.info[_ENTERED] = {(case.id, case.version): found[case.id] for case in timed}


def keep_facts(session: Session, cases: Sequence[Case]) -> None:
    """Keep the history facts this transaction knows of ``cases`` past its commit.

    For an answer written after the commit (`gridapp.core.answer`): the facts as committed,
    by (case id, version) as `prefetch_facts` keeps them; the dump ends them (`forget_facts`).
    A case the transaction made or locked needs no query here.
    """
    # Only a case whose state has a row with a window or a guard reads them (`facts`): for the
    # others (a dispatched case) nothing is read here, inside the write lock.
    kept = {
        (case.id, case.version): states_entered(session, case.id)
        for case in cases
        if reads_history(case)
    }
    session.info[_ENTERED] = {**session.info.get(_ENTERED, {}), **kept}


def commit_for_answer(session: Session, cases: Sequence[Case]) -> None:
    """Commit the request now and answer ``cases`` after it, outside the write lock
    (`gridapp.core.answer`), with the facts their ``actions`` read as committed."""
    keep_facts(session, cases)
    commit_before_answer()


def forget_facts(cases: Sequence[Case]) -> None:
    """Drop what `prefetch_facts` read, once the page is written."""
    session = object_session(cases[0]) if cases else None
    if session is not None:
        session.info.pop(_ENTERED, None)


def case_facts(case: Case) -> workflow.Facts:
    """Return what the case itself tells the definitions (no actor, no payload)."""
    return workflow.Facts(
        source=case.source,
        verification_passed=case.verification_passed,
        check_confirmed=case.check_confirmed,
        satisfied=case.satisfied,
        satisfaction=case.satisfaction,
        unreached_calls=case.unreached_calls or 0,
        deadline=case.deadline,
        case_id=case.id,
        rework_count=case.rework_count,
        extension_count=case.extension_count or 0,
        urgency=case.urgency,
        setting=case.setting,
    )


def available_actions(
    user: User, case: Case, *, now: datetime | None = None
) -> list[workflow.Transition]:
    """Return the rows this user may take on the case now (the case's ``actions``).

    Guards that read the payload (a merge's target) are judged when the payload comes.
    ``now`` is the moment a whole page is judged at (one moment for every case of it).
    """
    definition = workflow.PROCESSES[case.process]
    known = facts(user, case, {"duplicate_of": -1}, now=now)
    role = workflow.Role(user.role)
    # The checks `workflow.select` makes, without building a refusal per row (a list page
    # asks this of every row of every case; profiled: most of a page's time).
    return [
        row
        for row in definition.transitions_from(workflow.State(case.state))
        if workflow.refusal(row, role, known) is None
    ]


@dataclass(frozen=True)
class Acted:
    """The case after an action and the event the action wrote (a replay: the latest one).

    It reads as the case it wraps, so the case's schema serializes it with its event.
    """

    case: Case
    event: CaseEvent | None
    replayed: bool = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.case, name)


def parse_if_match(header: str | None) -> int:
    """Read a case version from ``If-Match: "<version>"``."""
    if header is None:
        raise PreconditionRequired(
            _("State-changing calls need If-Match with the case's ETag (its version).")
        )
    # One entity tag, strong or weak ("3", W/"3", or bare 3 from older phones). A list or "*"
    # names no single version, so it cannot guard a change; digits are 0-9 only (int() reads
    # ٣ and ３ too), and short enough to be a version at all.
    match = IF_MATCH_TAG.fullmatch(header.strip())
    if match is None:
        raise PreconditionFailed(
            _("If-Match %(header)r is not a case version.", header=header[:40])
        )
    return int(match.group(1))


# The case row locked, with its last event (the chain's head) and its reporter in the same
# statement: the answer names the reporter, who never changes in an action (a lazy load after
# it cost a round trip and a tenth of a dispatch's CPU). Only the case row is locked.
CASE_WITH_HEAD_FOR_UPDATE = (
    select(Case, HEAD_SEQ, HEAD_HASH)
    .outerjoin(Case.reporter)
    .options(contains_eager(Case.reporter))
    .where(Case.id == bindparam("case_id"))
    .with_for_update(of=Case)
)
# Partitioned by month, that statement costs more than its two halves apart: PostgreSQL's plan
# cache keeps planning it anew for each execution, over every month of both tables (6.4 ms a
# locked read at 17 months, against 1.7 + 0.8 ms for the case and then its head;
# docs/performance.md). There the case is read (its month, read first, named: `in_month`) and
# locked first, and the head after it: the lock keeps every other append out, so the head
# read next is the last.
case_and_reporter_for_update = in_month(
    select(Case)
    .outerjoin(Case.reporter)
    .options(contains_eager(Case.reporter))
    .where(Case.id == bindparam("case_id"))
    .with_for_update(of=Case)
)


def _locked_case(session: Session, user: User, case_id: int) -> Case:
    """`get_case` with the row locked, remembering the chain's head read under the lock."""
    if partitioned(session):
        month = case_month(session, case_id)
        found = (
            None
            if month is None
            else session.scalar(
                case_and_reporter_for_update(month), {"case_id": case_id, "month": month}
            )
        )
        head = None if found is None else session.execute(LAST_EVENT, {"case_id": case_id}).first()
        row: Any = None if found is None else (found, *(head or (None, None)))
    else:
        row = session.execute(CASE_WITH_HEAD_FOR_UPDATE, {"case_id": case_id}).first()
    if row is None or not case_visible(user, row[0]):
        # As get_case: out of scope answers as unknown (and is recorded as a denial there).
        return get_case(session, user, case_id)
    case: Case = row[0]
    remember_head(session, case.id, row[1], row[2])
    return case


def act_on_case(
    session: Session,
    user: User,
    case_id: int,
    action: str,
    payload: dict[str, Any],
    if_match: str | None,
    *,
    idempotency_key: str | None = None,
) -> Acted:
    """Take one action of the process on a case; it writes exactly one history event.

    A retry carrying the Idempotency-Key of an action already taken answers the case as it is,
    without a second event (a phone that lost the first answer must not see a 412).
    """
    case = _locked_case(session, user, case_id)
    if idempotency_key and _already_taken(session, case.id, user.id, action, idempotency_key):
        return Acted(case, latest_event(session, case.id), replayed=True)
    version = parse_if_match(if_match)
    if version != case.version:
        raise PreconditionFailed(
            _(
                "The case changed (version %(current)s, you sent %(sent)s); reload it.",
                current=case.version,
                sent=version,
            ),
            extra={"current_version": case.version},
        )
    definition = workflow.PROCESSES[case.process]
    try:
        row = workflow.select(definition, case.state, action, user.role, facts(user, case, payload))
    except workflow.UnknownAction as exc:
        raise NotFound(
            _(
                "No action %(action)r in the %(process)s process.",
                action=action,
                process=case.process,
            )
        ) from exc
    workflow.check_payload(definition, case.state, action, payload)
    photos = attachments_for_claim(
        session, user, [int(p) for p in payload.get("photos") or []], case
    )
    event = apply_transition(
        session,
        case,
        row,
        actor=user,
        payload=payload,
        photo_ids=[p.id for p in photos],
        idempotency_key=idempotency_key,
    )
    for photo in photos:
        photo.case_id, photo.event_id = case.id, event.id
    session.flush()
    return Acted(case, event)


def apply_transition(
    session: Session,
    case: Case,
    row: workflow.Transition,
    *,
    actor: User | None,
    payload: Mapping[str, Any],
    photo_ids: Sequence[int] = (),
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Apply a selected row's effects and state, and append its event (the only way a case
    changes). ``actor`` None is the system (the SLA sweep's automatic 督办).
    """
    category = find_category(session, case.category_code)
    assert category is not None  # a foreign key
    now = now or datetime.now(UTC)
    ctx = ActionContext(session, actor, case, row, payload, now, category)
    from_state = case.state
    for effect in row.effects:
        if effect in RECORDING:
            RECORDING[effect](ctx)
    # In hand already (filing may have changed it): the case's JSON names it without a query.
    set_committed_value(case, "category", ctx.category)
    case.state = (row.target or row.source).value
    ending = case.deadline if row.clock in STEP_ENDING else None
    CLOCK[row.clock](ctx)
    _record_clock(ctx, row, from_state, ending)
    # Before the telling, with the version in the same UPDATE: the row is written once, as a
    # Core UPDATE of what changed (the flush of the one object cost more than its UPDATE), with
    # the warning instant every flush of a case keeps in step.
    case.version += 1
    case.updated_at = now
    keep_warn_at(session, [case])
    update_loaded(session, case)
    for effect in row.effects:
        if effect in TELLING:
            TELLING[effect](ctx)
    if photo_ids:
        ctx.data["photos"] = list(photo_ids)
    if idempotency_key:
        ctx.data["idempotency_key"] = idempotency_key
    return append_event(
        session,
        case,
        action=row.action.value,
        actor_id=actor.id if actor else None,
        role=actor.role if actor else SYSTEM_ROLE,
        from_state=from_state,
        to_state=case.state,
        comment=payload.get("comment"),
        data=ctx.data,
        at=now,
    )


# The step clock effects that end the running state's step (a carried step ends one state's
# share of it: the filing is judged by the deadline in force), and those that set a deadline.
STEP_ENDING = frozenset(
    {workflow.Effect.start_clock, workflow.Effect.carry_clock, workflow.Effect.stop_clock}
)
DEADLINE_SETTING = frozenset(
    {workflow.Effect.start_clock, workflow.Effect.carry_clock, workflow.Effect.resume_clock}
)


def _record_clock(
    ctx: ActionContext, row: workflow.Transition, from_state: str, ending: datetime | None
) -> None:
    """Write into the event the deadline the ended step had and the one now running.

    Evaluation reads timeliness from the history alone (``workflow.evaluation``): the deadline
    in force when a step ended (extensions and suspensions included) and whether the action
    came in time, and each new deadline, so an overdue step is seen without the case row.
    """
    if ending is not None:
        ctx.data["step"] = {
            "state": from_state,
            "deadline": ending.isoformat(),
            "on_time": ctx.now <= ending,
        }
    if row.clock in DEADLINE_SETTING and ctx.case.deadline is not None:
        ctx.data["deadline"] = ctx.case.deadline.isoformat()


EVENTS_OF_ACTOR = select(CaseEvent.data).where(
    CaseEvent.case_id == bindparam("case_id"),
    CaseEvent.actor_id == bindparam("actor_id"),
    CaseEvent.action == bindparam("action"),
)


def _already_taken(session: Session, case_id: int, actor_id: int, action: str, key: str) -> bool:
    datas = session.scalars(
        EVENTS_OF_ACTOR, {"case_id": case_id, "actor_id": actor_id, "action": action}
    )
    return any((data or {}).get("idempotency_key") == key for data in datas)


NOTE_ACTION = "note"


def note_case(
    session: Session,
    case_id: int,
    *,
    role: str,
    comment: str | None = None,
    data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Append a note to a case's history without changing its state (e.g. a sensor's new alarm).

    Like ``supervise`` it writes one event and bumps the version, so a desk holding the old
    version reloads before acting on what it has not seen; no process row is involved.
    """
    case = load_case(session, case_id, lock=True)
    if case is None:
        raise NotFound(_("No case %(id)s.", id=case_id))
    now = now or datetime.now(UTC)
    case.version += 1
    case.updated_at = now
    return append_event(
        session,
        case,
        action=NOTE_ACTION,
        actor_id=None,
        role=role,
        from_state=case.state,
        to_state=case.state,
        comment=comment,
        data=dict(data or {}),
        at=now,
    )


def system_action(
    session: Session,
    case: Case,
    action: workflow.Action,
    payload: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> CaseEvent | None:
    """Take a process row as the system (role ``system``), or nothing when the row or its
    guard refuses, or its effects find nobody to act (e.g. no grid worker on the grid).

    For channels whose rules say what happens first to what they bring (a citizen's request
    goes to the on-site check, 核实): the same row and effects as a person's, one event.
    """
    definition = workflow.PROCESSES[case.process]
    row = definition.transition(workflow.State(case.state), action)
    if row is None:
        return None
    known = case_facts(case)
    if row.guard is not None and row.guard(known) is not None:
        return None
    try:
        with session.begin_nested():
            return apply_transition(
                session, case, row, actor=None, payload=dict(payload or {}), now=now
            )
    except ValidationFailed:
        # The desk decides instead (the acceptor names a worker or files it).
        return None
