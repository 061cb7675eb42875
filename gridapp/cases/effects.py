"""What an action does to a case (DESIGN §5): one implementation per `workflow.Effect`.

The process definitions in `workflow.processes` name, row by row, which effects an action has;
`gridapp.cases.actions` applies exactly those, in three phases: what the case records, then
the step clock (after the state moved), then who is told. Nothing else changes a case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import workflow
from gridapp.accounts.models import User, UserGrid
from gridapp.accounts.services import command_center, department_members
from gridapp.calendar.services import work_calendar
from gridapp.cases.clock import (
    carry_step,
    extend_step,
    pause_step,
    resume_step,
    start_step,
    stop_step,
)
from gridapp.cases.models import Case, CaseEvent
from gridapp.cases.partitions import load_case
from gridapp.cases.scope import case_visible
from gridapp.catalogue.models import Category
from gridapp.catalogue.services import (
    find_category,
    find_department,
    responsible_department,
)
from gridapp.core.errors import Conflict, ValidationFailed
from gridapp.core.i18n import _, action_label, state_label, stored_language
from gridapp.notifications.services import notify

E = workflow.Effect


@dataclass
class ActionContext:
    """Everything an effect may read or change while one action is applied."""

    session: Session
    user: User | None  # None: the system (the SLA sweep)
    case: Case
    row: workflow.Transition
    payload: Mapping[str, Any]
    now: datetime
    category: Category
    data: dict[str, Any] = field(default_factory=dict)  # what the history event records
    # A department's members as read during this action: dispatch checks them, then tells them.
    members: dict[str, list[int]] = field(default_factory=dict)

    @property
    def definition(self) -> workflow.ProcessDefinition:
        return workflow.PROCESSES[self.case.process]

    def department_members(self, code: str | None) -> list[int]:
        """Return the active handlers and admins of a department, read once per action."""
        if code is None:
            return []
        if code not in self.members:
            self.members[code] = department_members(self.session, code)
        return self.members[code]


Effect = Callable[[ActionContext], None]


# --- what the case records ---------------------------------------------------------------


def record_reason(ctx: ActionContext) -> None:
    if ctx.payload.get("reason"):
        ctx.data["reason"] = ctx.payload["reason"]


def link_duplicate(ctx: ActionContext) -> None:
    target_id = int(ctx.payload["duplicate_of"])
    target = load_case(ctx.session, target_id)
    visible = ctx.user is not None and target is not None and case_visible(ctx.user, target)
    if target is None or not visible or target.state == workflow.State.void:
        raise ValidationFailed(
            _("Unknown case to merge into."),
            errors={"duplicate_of": _("No open case %(id)s in your scope.", id=target_id)},
        )
    ctx.case.duplicate_of_id = target_id
    ctx.data["duplicate_of"] = target_id


def assign_checker(ctx: ActionContext) -> None:
    worker_id = ctx.payload.get("grid_worker")
    if worker_id is None:
        workers = _grid_workers(ctx.session, ctx.case.grid_code)
        if not workers:
            raise ValidationFailed(
                _("Nobody is assigned to this grid."),
                errors={"grid_worker": _("Name the grid worker who should check.")},
            )
        worker_id = workers[0]
    _require_grid_worker(ctx.session, int(worker_id))
    ctx.case.checker_id = int(worker_id)
    ctx.case.check_confirmed = None
    ctx.data["grid_worker"] = int(worker_id)


def record_check(ctx: ActionContext) -> None:
    ctx.case.check_confirmed = bool(ctx.payload["confirmed"])
    ctx.data["confirmed"] = ctx.case.check_confirmed


def set_category(ctx: ActionContext) -> None:
    code = ctx.payload.get("category")
    if code and code != ctx.case.category_code:
        category = find_category(ctx.session, code)
        if category is None:
            raise ValidationFailed(
                _("Unknown category."), errors={"category": _("No category %(code)r.", code=code)}
            )
        if category.process != ctx.case.process:
            raise ValidationFailed(
                _("That category runs another process."),
                errors={
                    "category": _(
                        "%(code)s belongs to the %(process)s process.",
                        code=code,
                        process=category.process,
                    )
                },
            )
        ctx.case.category_code, ctx.case.urgency = category.code, category.urgency
        ctx.category = category
        ctx.data["category"] = category.code
    urgency = ctx.payload.get("urgency")
    if urgency:
        if urgency not in URGENCIES:
            raise ValidationFailed(_("Unknown urgency."), errors={"urgency": _("normal or urgent")})
        ctx.case.urgency = urgency
        ctx.data["urgency"] = urgency


URGENCIES = ("normal", "urgent")


def set_department(ctx: ActionContext) -> None:
    case = ctx.case
    code = ctx.payload.get("department")
    if code:
        department = find_department(ctx.session, code)
        if department is None or not department.active:
            raise ValidationFailed(
                _("Unknown department."),
                errors={"department": _("No active department %(code)r.", code=code)},
            )
        ctx.data["rule"] = None
    else:
        rule = responsible_department(
            ctx.session,
            case.category_code,
            [case.grid_code, case.community_code, case.street_code, case.district_code],
        )
        if rule is None:
            raise ValidationFailed(
                _("No responsibility rule covers this case."),
                errors={"department": _("Name the department: no rule covers this category here.")},
            )
        code = rule.department_code
        ctx.data["rule"] = {
            "id": rule.id,
            "category": rule.category_code,
            "area": rule.area_code,
            "note": rule.note,
        }
    if not ctx.department_members(code):
        # A case sent where nobody can open it would wait unseen until it is overdue.
        raise Conflict(
            _(
                "Nobody in department %(code)s can handle cases (no active handler): add one, "
                "or dispatch to another department.",
                code=code,
            ),
            extra={"department": code},
        )
    case.department_code, case.handler_id = code, None
    # In hand from the catalogue's copy: the case's JSON names it without another query.
    set_committed_value(case, "department", find_department(ctx.session, code))
    ctx.data["department"] = code


def clear_department(ctx: ActionContext) -> None:
    ctx.data["department"] = ctx.case.department_code
    ctx.case.department_code, ctx.case.handler_id = None, None


def record_extension_request(ctx: ActionContext) -> None:
    until = _moment(ctx.payload["until"], "until")
    if until <= ctx.now:
        raise ValidationFailed(_("The new deadline is in the past."), errors={"until": _("future")})
    ctx.data.update(until=until.isoformat(), reason=ctx.payload.get("reason"))


def record_handler(ctx: ActionContext) -> None:
    ctx.case.handler_id = ctx.user.id if ctx.user else None


def assign_verifier(ctx: ActionContext) -> None:
    worker_id = int(ctx.payload["grid_worker"])
    _require_grid_worker(ctx.session, worker_id)
    ctx.case.verifier_id = worker_id
    ctx.case.verification_passed = None
    ctx.data["grid_worker"] = worker_id


def record_verification(ctx: ActionContext) -> None:
    ctx.case.verification_passed = bool(ctx.payload["passed"])
    ctx.data["passed"] = ctx.case.verification_passed


def record_satisfaction(ctx: ActionContext) -> None:
    """Record a call-back (回访): resolved and satisfaction, or one more unreachable attempt.

    A call that reached the citizen needs both answers, asked separately; one that did not
    (``unreachable``) needs neither and counts an attempt (the guards close the case after
    the last one). ``satisfied`` keeps meaning satisfied or basically satisfied.
    """
    case = ctx.case
    if ctx.payload.get("unreachable") is True:
        case.resolved, case.satisfaction, case.satisfied = None, None, None
        case.unreached_calls = (case.unreached_calls or 0) + 1
        ctx.data.update(reached=False, attempt=case.unreached_calls)
        return
    errors: dict[str, str] = {}
    if not isinstance(ctx.payload.get("resolved"), bool):
        errors["resolved"] = _("Say whether the problem was resolved (true or false).")
    satisfaction = ctx.payload.get("satisfaction")
    if not isinstance(satisfaction, str) or satisfaction not in set(workflow.Satisfaction):
        errors["satisfaction"] = _(
            "satisfied, basically_satisfied or unsatisfied (or unreachable: true)."
        )
    if errors:
        raise ValidationFailed(_("The call-back needs the citizen's answers."), errors=errors)
    case.resolved = bool(ctx.payload["resolved"])
    case.satisfaction = workflow.Satisfaction(str(satisfaction)).value
    case.satisfied = case.satisfaction in workflow.CONTENT
    ctx.data.update(
        reached=True,
        resolved=case.resolved,
        satisfaction=case.satisfaction,
        satisfied=case.satisfied,
    )


def record_dispute_resolution(ctx: ActionContext) -> None:
    """Record whether a dispute (矛盾纠纷) was resolved (化解); other classes record nothing.

    Which classes are disputes is catalogue data (``category.dispute``); the areas' 化解率
    reads the ``resolved`` this writes into the history.
    """
    if not ctx.category.dispute:
        return
    resolved = ctx.payload.get("resolved")
    if not isinstance(resolved, bool):
        raise ValidationFailed(
            _("A dispute says whether it was resolved."),
            errors={"resolved": _("true if the dispute was resolved, false if not.")},
        )
    ctx.data["resolved"] = resolved


def count_rework(ctx: ActionContext) -> None:
    ctx.case.rework_count += 1
    ctx.case.verification_passed, ctx.case.satisfied = None, None
    # A redone case is called back afresh (回访): the earlier answers judged the earlier work.
    ctx.case.resolved, ctx.case.satisfaction, ctx.case.unreached_calls = None, None, 0
    ctx.data["rework_count"] = ctx.case.rework_count


def count_supervision(ctx: ActionContext) -> None:
    ctx.case.supervise_count += 1
    ctx.data["supervise_count"] = ctx.case.supervise_count


def record_filing(ctx: ActionContext) -> None:
    ctx.case.filed_at = ctx.now


def record_closure(ctx: ActionContext) -> None:
    ctx.case.closed_at = ctx.now


def record_score(ctx: ActionContext) -> None:
    if ctx.payload.get("score") is not None:
        ctx.case.score = int(ctx.payload["score"])
        ctx.data["score"] = ctx.case.score


# --- the step clock (applied once the state has moved) -------------------------------------


def start_clock(ctx: ActionContext) -> None:
    start_step(ctx.case, ctx.case.state, ctx.category, work_calendar(ctx.session), ctx.now)


def keep_clock(ctx: ActionContext) -> None:
    """Leave the running step's deadline where it is: requests and denials live inside it."""


def carry_clock(ctx: ActionContext) -> None:
    """Go on with the running step in the next state (立案+派遣 share one limit)."""
    carry_step(ctx.case, ctx.case.state, ctx.category, work_calendar(ctx.session), ctx.now)


def pause_clock(ctx: ActionContext) -> None:
    pause_step(ctx.case, ctx.now)


def resume_clock(ctx: ActionContext) -> None:
    paused = resume_step(ctx.case, work_calendar(ctx.session), ctx.now)
    ctx.data["paused_seconds"] = int(paused.total_seconds())


def extend_clock(ctx: ActionContext) -> None:
    requested = _last_event_data(ctx.session, ctx.case.id, workflow.Action.request_extension)
    until = _moment(ctx.payload.get("until") or requested.get("until"), "until")
    if until <= ctx.now:
        raise ValidationFailed(_("The new deadline is in the past."), errors={"until": _("future")})
    ctx.data["until"] = until.isoformat()
    ctx.data["previous_deadline"] = ctx.case.deadline.isoformat() if ctx.case.deadline else None
    ctx.case.extension_count = (ctx.case.extension_count or 0) + 1
    extend_step(ctx.case, until)


def stop_clock(ctx: ActionContext) -> None:
    stop_step(ctx.case)


# --- who is told ---------------------------------------------------------------------------


def notify_next_actor(ctx: ActionContext) -> None:
    """Tell whoever may move the case on from the state it is in now (督办 included)."""
    state = workflow.State(ctx.case.state)
    found = next_actors(
        ctx.session, ctx.case, ctx.definition, state, members=ctx.department_members
    )
    recipients = set(found) - _actor(ctx)
    with stored_language():
        message = _(
            "Case %(number)s: %(action)s; now %(state)s, please act on it.",
            number=ctx.case.number,
            action=action_label(ctx.row.action),
            state=state_label(state, ctx.definition),
        )
    notify(ctx.session, recipients, kind=ctx.row.action.value, case=ctx.case, message=message)


def notify_reporter(ctx: ActionContext) -> None:
    if ctx.case.reporter_id is None or ctx.case.reporter_id in _actor(ctx):
        return
    state = workflow.State(ctx.case.state)
    with stored_language():
        message = _(
            "The case %(number)s you reported: %(state)s.",
            number=ctx.case.number,
            state=state_label(state, ctx.definition),
        )
    notify(
        ctx.session,
        [ctx.case.reporter_id],
        kind=ctx.row.action.value,
        case=ctx.case,
        message=message,
    )


def _actor(ctx: ActionContext) -> set[int]:
    return {ctx.user.id} if ctx.user else set()


def next_actors(
    session: Session,
    case: Case,
    definition: workflow.ProcessDefinition,
    state: workflow.State,
    *,
    members: Callable[[str | None], list[int]] | None = None,
) -> list[int]:
    """Return the users who may move a case on from ``state`` (督办 aside), by their permits.

    ``members`` reads a department's members (an action's own reader remembers what it read).
    """
    read_members = members or (lambda code: department_members(session, code))
    found: list[int] = []
    for who in workflow.waiting_for(definition, state):
        role, relation = who["role"], who["relation"]
        if relation is None:
            found += command_center(session, case.district_code, (role,))
        elif relation == workflow.Relation.reporter:
            found += [case.reporter_id] if case.reporter_id else []
        elif relation == workflow.Relation.assigned_checker:
            found += [case.checker_id] if case.checker_id else []
        elif relation == workflow.Relation.assigned_verifier:
            found += [case.verifier_id] if case.verifier_id else []
        elif relation == workflow.Relation.department_member:
            found += read_members(case.department_code)
        elif relation == workflow.Relation.holding_center:
            code = holding_area(case, definition, state)
            found += command_center(session, code, (role,), exact=True) if code else []
    return found


def holding_area(
    case: Case, definition: workflow.ProcessDefinition, state: workflow.State
) -> str | None:
    """Return the code of the area whose centre holds the case in ``state`` (None: no level)."""
    level = definition.levels.get(state)
    codes = {
        "community": case.community_code,
        "street": case.street_code,
        "district": case.district_code,
    }
    return codes.get(level) if level else None


# --- the table -----------------------------------------------------------------------------

RECORDING: Mapping[workflow.Effect, Effect] = MappingProxyType(
    {
        E.record_reason: record_reason,
        E.link_duplicate: link_duplicate,
        E.assign_checker: assign_checker,
        E.record_check: record_check,
        E.set_category: set_category,
        E.set_department: set_department,
        E.clear_department: clear_department,
        E.record_extension_request: record_extension_request,
        E.record_handler: record_handler,
        E.assign_verifier: assign_verifier,
        E.record_verification: record_verification,
        E.record_satisfaction: record_satisfaction,
        E.record_dispute_resolution: record_dispute_resolution,
        E.count_rework: count_rework,
        E.count_supervision: count_supervision,
        E.record_filing: record_filing,
        E.record_closure: record_closure,
        E.record_score: record_score,
    }
)
CLOCK: Mapping[workflow.Effect, Effect] = MappingProxyType(
    {
        E.start_clock: start_clock,
        E.keep_clock: keep_clock,
        E.carry_clock: carry_clock,
        E.pause_clock: pause_clock,
        E.resume_clock: resume_clock,
        E.extend_clock: extend_clock,
        E.stop_clock: stop_clock,
    }
)
TELLING: Mapping[workflow.Effect, Effect] = MappingProxyType(
    {E.notify_next_actor: notify_next_actor, E.notify_reporter: notify_reporter}
)
IMPLEMENTATIONS: Mapping[workflow.Effect, Effect] = MappingProxyType(
    {**RECORDING, **CLOCK, **TELLING}
)


# --- helpers -------------------------------------------------------------------------------


def _moment(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ValidationFailed(
                _("Invalid time."), errors={name: _("ISO 8601 with offset")}
            ) from exc
    if moment.tzinfo is None:
        raise ValidationFailed(_("Time without offset."), errors={name: _("Give a UTC offset.")})
    return moment.astimezone(UTC)


def _last_event_data(session: Session, case_id: int, action: str) -> dict[str, Any]:
    data = session.scalar(
        select(CaseEvent.data)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == action)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    return dict(data or {})


def _grid_workers(session: Session, grid_code: str | None) -> list[int]:
    if grid_code is None:
        return []
    return list(
        session.scalars(
            select(User.id)
            .join(UserGrid, UserGrid.user_id == User.id)
            .where(UserGrid.grid_code == grid_code, User.active.is_(True))
            .order_by(User.id)
        )
    )


def _require_grid_worker(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is None or user.role != workflow.Role.grid_worker or not user.active:
        raise ValidationFailed(
            _("Not a grid worker."),
            errors={"grid_worker": _("No grid worker %(id)s.", id=user_id)},
        )
