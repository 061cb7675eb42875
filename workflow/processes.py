"""The process definitions: 数字城管 (urban), 社会治理 (social) and 12345 热线 (hotline).

Default step limits, from common city practice (GB/T 30428 family and local rules), all in
working time so nights, weekends and holidays do not count; cities override them:

| state | urban | social | hotline |
|---|---|---|---|
| reported (受理) | 10 working minutes | 2 working hours | 30 working minutes |
| checking (核实) | 1 working hour, rural grids 2 | – | – |
| self_handled (自处置审核) | 30 working minutes | – | – |
| accepted (立案) | 30 working minutes for 立案+派遣 together, urgent cases 10 | – | – |
| filed (派遣) | what accepted left; after a return 30, urgent 10 | – | 30 working minutes |
| dispatched (签收) | 30 working minutes | – | – |
| handling (处置) | 3 working days, fallback: the category's limit wins | – | 5 working days |
| return/extension requested (审批) | 2 working hours | – | 2 working hours |
| suspension_requested (挂账审批) | 4 working hours | – | – |
| handled (派核查 / 答复) | 30 working minutes | 1 working day | 1 working day |
| verifying (核查) | 1 working hour, rural grids 2 | – | – |
| verified (结案) | 1 working hour | – | – |
| community / street / county handling | – | 3 / 5 / 10 working days | – |
| replied (回访) / called_back (办结) | – | – | 2 / 1 working days |

`suspended`, `closed` and the ends have no limit: a suspended case's clock is paused and a
reporter may never rate a closed one.

Urban centre steps as Taiyuan runs them: 立案 and 派遣 together within 30 working minutes, 10
for an urgent case (urgent cases count every hour, `gridapp.cases.clock.is_working_clock`). Two
states keep their own actors and their own on-time rates (the shift leader files, the dispatcher
dispatches), so `accept` starts one step and `file` carries it on (`Effect.carry_clock`): the
filing is judged against the deadline in force when it came, and the dispatch against the same
step's deadline recomputed from acceptance for the urgency filing settled (a filing that makes
the case urgent leaves 10 minutes from acceptance, not a fresh 10). A returned case re-enters
`filed` with a fresh dispatch limit. The department's clock starts at 签收 (`acknowledge`), not at
dispatch. A misrouted case is returned after acknowledging (`request_return` from `handling`):
a denial sends it back to handling with its handling deadline, which a case still waiting in
`dispatched` would not have. On-site check and verification limits follow the case's grid
(`area.setting`, copied onto the case at intake): rural grids take twice as long to reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from workflow.model import (
    Action,
    Effect,
    Facts,
    FieldKind,
    LimitBy,
    Permit,
    ProcessDefinition,
    Relation,
    Requirement,
    Role,
    State,
    Transition,
)
from workflow.sla import TimeLimit, TimeUnit

A, S, R, K, E = Action, State, Role, FieldKind, Effect
REPORTER, CHECKER, VERIFIER = (
    Relation.reporter,
    Relation.assigned_checker,
    Relation.assigned_verifier,
)
MEMBER, CENTER = Relation.department_member, Relation.holding_center


def _by(*roles: Role, relation: Relation | None = None) -> tuple[Permit, ...]:
    return tuple(Permit(role, relation) for role in roles)


def _needs(*fields: tuple[str, FieldKind]) -> tuple[Requirement, ...]:
    return tuple(Requirement(name, kind) for name, kind in fields)


def _may(*fields: tuple[str, FieldKind]) -> tuple[Requirement, ...]:
    return tuple(Requirement(name, kind, required=False) for name, kind in fields)


def _minutes(amount: float) -> TimeLimit:
    return TimeLimit(amount, TimeUnit.working_minutes)


def _hours(amount: float) -> TimeLimit:
    return TimeLimit(amount, TimeUnit.working_hours)


def _days(amount: float) -> TimeLimit:
    return TimeLimit(amount, TimeUnit.working_days)


# Guards: each returns the refusal sentence, or None to allow.


def verification_passed(facts: Facts) -> str | None:
    """Refuse to close unless the latest verification (核查) passed."""
    if facts.verification_passed is not True:
        return "Can't close when verification did not pass"
    return None


def citizen_satisfied(facts: Facts) -> str | None:
    """Refuse to close a hotline case unless the call-back found the citizen satisfied."""
    if facts.satisfied is not True:
        return "Can't close when the citizen is not satisfied"
    return None


def names_a_duplicate(facts: Facts) -> str | None:
    """Refuse to merge without another case to merge into."""
    if facts.duplicate_of is None:
        return "Can't merge when duplicate_of is not given"
    if facts.case_id is not None and facts.duplicate_of == facts.case_id:
        return "Can't merge a case into itself"
    return None


def not_from_grid_worker(facts: Facts) -> str | None:
    """Refuse an on-site check (核实) of a grid worker's own report: they were there."""
    if facts.source == Role.grid_worker:
        return "Can't request_check when a grid worker reported the case"
    return None


def second_extension_by_shift_leader(facts: Facts) -> str | None:
    """Refuse a second extension (延期) unless the shift leader approves it."""
    if facts.extension_count >= 1 and facts.role is not Role.shift_leader:
        return "Can't approve_extension a second time: only the shift leader may"
    return None


SUPERVISORS = _by(R.shift_leader, R.supervisor)


def _supervision(states: Iterable[State], ends: frozenset[State]) -> tuple[Transition, ...]:
    """Return 督办 rows for every state but the ends: a counted reminder, no change of state."""
    return tuple(
        Transition(
            state,
            A.supervise,
            None,
            SUPERVISORS,
            _may(("comment", K.text)),
            effects=(E.count_supervision, E.notify_next_actor),
        )
        for state in dict.fromkeys(states)
        if state not in ends
    )


def _with_supervision(
    rows: tuple[Transition, ...], initial: State, ends: frozenset[State]
) -> tuple[Transition, ...]:
    states = [initial]
    for row in rows:
        states.append(row.source)
        if row.target is not None:
            states.append(row.target)
    return rows + _supervision(states, ends)


URBAN_ENDS = frozenset({S.void, S.evaluated})

# 立案+派遣 within 10 minutes for an urgent case, 30 otherwise (Taiyuan's centre steps).
CENTER_STEPS = LimitBy("urgency", {"urgent": _minutes(10)}, otherwise=_minutes(30))
# On-site check (核实) and verification (核查): a rural grid is further to reach.
ON_SITE = LimitBy("setting", {"rural": _hours(2)}, otherwise=_hours(1))

# DESIGN §5, row by row. Photos are required only where DESIGN §9 says so (feedback,
# self_handle); check and verification photos are welcome but optional.
_URBAN_ROWS: tuple[Transition, ...] = (
    Transition(S.reported, A.accept, S.accepted, _by(R.acceptor)),
    Transition(
        S.reported,
        A.request_check,
        S.checking,
        _by(R.acceptor),
        _may(("grid_worker", K.ident)),
        effects=(E.assign_checker, E.notify_next_actor),
        guard=not_from_grid_worker,
        note="for citizen, hotline and sensor reports",
    ),
    Transition(
        S.reported,
        A.reject,
        S.void,
        _by(R.acceptor),
        _needs(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.reported,
        A.merge,
        S.void,
        _by(R.acceptor),
        _needs(("duplicate_of", K.ident)),
        effects=(E.link_duplicate,),
        guard=names_a_duplicate,
    ),
    Transition(
        S.reported,
        A.self_handle,
        S.self_handled,
        _by(R.grid_worker, relation=REPORTER),
        min_photos=1,
        effects=(E.notify_next_actor,),
        note="small issues fixed on the spot; the acceptor reviews",
    ),
    Transition(
        S.self_handled,
        A.approve_self_handling,
        S.closed,
        _by(R.acceptor),
        effects=(E.record_closure, E.notify_reporter),
    ),
    Transition(
        S.self_handled,
        A.deny_self_handling,
        S.reported,
        _by(R.acceptor),
        _needs(("reason", K.text)),
        effects=(E.record_reason, E.notify_reporter),
        note="the case goes on as a report",
    ),
    Transition(
        S.checking,
        A.check_reply,
        S.reported,
        _by(R.grid_worker, relation=CHECKER),
        _needs(("confirmed", K.flag)),
        effects=(E.record_check,),
    ),
    Transition(
        S.accepted,
        A.file,
        S.filed,
        _by(R.shift_leader),
        _may(("category", K.code), ("urgency", K.code)),
        effects=(E.carry_clock, E.set_category),
        note="sets the category and urgency; 立案+派遣 share one limit from acceptance",
    ),
    Transition(
        S.accepted,
        A.reject,
        S.void,
        _by(R.shift_leader),
        _needs(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.filed,
        A.dispatch,
        S.dispatched,
        _by(R.dispatcher),
        _may(("department", K.code)),
        effects=(E.set_department, E.notify_next_actor),
        note="department omitted: the responsibility rules decide; the department is told",
    ),
    Transition(
        S.filed,
        A.void,
        S.void,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.dispatched,
        A.acknowledge,
        S.handling,
        _by(R.handler, relation=MEMBER),
        note="签收: the handling clock starts now",
    ),
    Transition(
        S.handling,
        A.feedback,
        S.handled,
        _by(R.handler, relation=MEMBER),
        min_photos=1,
        effects=(E.record_handler,),
    ),
    Transition(
        S.handling,
        A.request_return,
        S.return_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.handling,
        A.request_extension,
        S.extension_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("until", K.moment), ("reason", K.text)),
        effects=(E.keep_clock, E.record_extension_request),
    ),
    Transition(
        S.handling,
        A.request_suspension,
        S.suspension_requested,
        _by(R.handler, relation=MEMBER),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.return_requested,
        A.approve_return,
        S.filed,
        _by(R.shift_leader),
        effects=(E.clear_department, E.notify_next_actor),
        note="the dispatcher re-dispatches",
    ),
    Transition(
        S.return_requested,
        A.deny_return,
        S.handling,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.extension_requested,
        A.approve_extension,
        S.handling,
        _by(R.dispatcher, R.shift_leader),
        _may(("until", K.moment)),
        effects=(E.extend_clock,),
        guard=second_extension_by_shift_leader,
        note="until omitted: the requested one; a second extension: the shift leader only",
    ),
    Transition(
        S.extension_requested,
        A.deny_extension,
        S.handling,
        _by(R.dispatcher, R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.suspension_requested,
        A.approve_suspension,
        S.suspended,
        _by(R.shift_leader),
        effects=(E.pause_clock,),
    ),
    Transition(
        S.suspension_requested,
        A.deny_suspension,
        S.handling,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.suspended,
        A.resume,
        S.handling,
        _by(R.dispatcher, R.shift_leader),
        effects=(E.resume_clock,),
    ),
    Transition(
        S.handled,
        A.assign_verification,
        S.verifying,
        _by(R.acceptor),
        _needs(("grid_worker", K.ident)),
        effects=(E.assign_verifier, E.notify_next_actor),
    ),
    Transition(
        S.verifying,
        A.verify_reply,
        S.verified,
        _by(R.grid_worker, relation=VERIFIER),
        _needs(("passed", K.flag)),
        effects=(E.record_verification,),
    ),
    Transition(
        S.verified,
        A.close,
        S.closed,
        _by(R.shift_leader),
        effects=(E.record_closure, E.notify_reporter),
        guard=verification_passed,
    ),
    Transition(
        S.verified,
        A.rework,
        S.handling,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.count_rework, E.record_reason, E.notify_next_actor),
        note="rework count + 1",
    ),
    Transition(
        S.closed,
        A.evaluate,
        S.evaluated,
        # The supervisor rates any case; a reporter only their own, whatever channel they
        # reported through: one permit per reporting role, bound to the case.
        _by(R.supervisor) + _by(R.grid_worker, R.citizen, R.hotline, relation=REPORTER),
        _needs(("score", K.score)),
        effects=(E.record_score,),
    ),
)

URBAN_MANAGEMENT = ProcessDefinition(
    code="urban",
    name="数字城管七步闭环",
    initial=S.reported,
    ends=URBAN_ENDS,
    transitions=_with_supervision(_URBAN_ROWS, S.reported, URBAN_ENDS),
    time_limits=MappingProxyType(
        {
            S.reported: _minutes(10),
            S.checking: ON_SITE,
            S.self_handled: _minutes(30),
            # 立案+派遣 together: `file` carries the step accept started into `filed`.
            S.accepted: CENTER_STEPS,
            S.filed: CENTER_STEPS,
            S.dispatched: _minutes(30),
            S.handling: _days(3),
            S.return_requested: _hours(2),
            S.extension_requested: _hours(2),
            S.suspension_requested: _hours(4),
            S.handled: _minutes(30),
            S.verifying: ON_SITE,
            S.verified: _hours(1),
        }
    ),
)


SOCIAL_ENDS = frozenset({S.closed, S.void})

# Social-governance events (社会治理事件): the grid worker who found the event fixes it on the
# spot (自处置) or escalates it; each level's governance centre (综治中心: community → street
# → county) handles it, escalates it or rejects it. Centre staff act with the dispatcher role
# and the holding_center relation: the service checks they sit at the level holding the case.
# The reporting grid worker confirms the result on site; an unresolved one goes back to the
# community (属地优先), which may escalate again.
_LEVELS: tuple[tuple[State, State | None], ...] = (
    (S.community_handling, S.street_handling),
    (S.street_handling, S.county_handling),
    (S.county_handling, None),
)
_SOCIAL_ROWS: tuple[Transition, ...] = (
    Transition(
        S.reported,
        A.self_handle,
        S.closed,
        _by(R.grid_worker, relation=REPORTER),
        min_photos=1,
        effects=(E.record_closure,),
        note="自处置",
    ),
    Transition(
        S.reported,
        A.escalate,
        S.community_handling,
        _by(R.grid_worker, relation=REPORTER),
        _needs(("reason", K.text)),
        effects=(E.record_reason, E.notify_next_actor),
    ),
    Transition(
        S.reported,
        A.reject,
        S.void,
        _by(R.dispatcher, relation=CENTER),
        _needs(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    *(
        row
        for level, above in _LEVELS
        for row in (
            Transition(
                level,
                A.feedback,
                S.handled,
                _by(R.dispatcher, relation=CENTER),
                min_photos=1,
                effects=(E.record_handler, E.notify_next_actor),
            ),
            *(
                ()
                if above is None
                else (
                    Transition(
                        level,
                        A.escalate,
                        above,
                        _by(R.dispatcher, relation=CENTER),
                        _needs(("reason", K.text)),
                        effects=(E.record_reason, E.notify_next_actor),
                    ),
                )
            ),
            Transition(
                level,
                A.reject,
                S.void,
                _by(R.dispatcher, relation=CENTER),
                _needs(("reason", K.text)),
                effects=(E.record_reason,),
            ),
        )
    ),
    Transition(
        S.handled,
        A.close,
        S.closed,
        _by(R.shift_leader) + _by(R.grid_worker, relation=REPORTER),
        effects=(E.record_closure,),
    ),
    Transition(
        S.handled,
        A.rework,
        S.community_handling,
        _by(R.shift_leader) + _by(R.grid_worker, relation=REPORTER),
        _needs(("reason", K.text)),
        effects=(E.count_rework, E.record_reason, E.notify_next_actor),
    ),
)

SOCIAL_GOVERNANCE = ProcessDefinition(
    code="social",
    name="社会治理事件",
    initial=S.reported,
    ends=SOCIAL_ENDS,
    transitions=_with_supervision(_SOCIAL_ROWS, S.reported, SOCIAL_ENDS),
    time_limits=MappingProxyType(
        {
            S.reported: _hours(2),
            S.community_handling: _days(3),
            S.street_handling: _days(5),
            S.county_handling: _days(10),
            S.handled: _days(1),
        }
    ),
    labels=MappingProxyType(
        {
            S.reported: "待处置",  # the grid worker fixes it on the spot or escalates it
            S.handled: "待确认",  # the reporter confirms the result on site
        }
    ),
    # Which level's governance centre holds the case in each state (属地优先: the community
    # first, then whoever it was escalated to).
    levels=MappingProxyType(
        {
            S.reported: "community",
            S.community_handling: "community",
            S.street_handling: "street",
            S.county_handling: "district",
        }
    ),
)


HOTLINE_ENDS = frozenset({S.closed, S.void})

# 12345 hotline (政务服务便民热线): accept, dispatch, handle, reply to the citizen, call back
# for satisfaction; a question answered on the call is replied to at once (直接答复). The
# hotline's operators (话务员) take the calls, reply and call back; acceptors may stand in.
HOTLINE_DESK = _by(R.acceptor, R.hotline_operator)
_HOTLINE_ROWS: tuple[Transition, ...] = (
    Transition(S.reported, A.accept, S.filed, HOTLINE_DESK),
    Transition(S.reported, A.reply, S.replied, HOTLINE_DESK, _needs(("comment", K.text))),
    Transition(
        S.reported,
        A.reject,
        S.void,
        HOTLINE_DESK,
        _needs(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.reported,
        A.merge,
        S.void,
        HOTLINE_DESK,
        _needs(("duplicate_of", K.ident)),
        effects=(E.link_duplicate,),
        guard=names_a_duplicate,
    ),
    Transition(
        S.filed,
        A.dispatch,
        S.handling,
        _by(R.dispatcher),
        _may(("department", K.code)),
        effects=(E.set_department, E.notify_next_actor),
    ),
    Transition(
        S.filed,
        A.void,
        S.void,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.handling,
        A.feedback,
        S.handled,
        _by(R.handler, relation=MEMBER),
        _needs(("comment", K.text)),
        effects=(E.record_handler,),
    ),
    Transition(
        S.handling,
        A.request_return,
        S.return_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.handling,
        A.request_extension,
        S.extension_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("until", K.moment), ("reason", K.text)),
        effects=(E.keep_clock, E.record_extension_request),
    ),
    Transition(
        S.return_requested,
        A.approve_return,
        S.filed,
        _by(R.dispatcher),
        effects=(E.clear_department,),
    ),
    Transition(
        S.return_requested,
        A.deny_return,
        S.handling,
        _by(R.dispatcher),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.extension_requested,
        A.approve_extension,
        S.handling,
        _by(R.dispatcher, R.shift_leader),
        _may(("until", K.moment)),
        effects=(E.extend_clock,),
    ),
    Transition(
        S.extension_requested,
        A.deny_extension,
        S.handling,
        _by(R.dispatcher, R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(S.handled, A.reply, S.replied, HOTLINE_DESK, _needs(("comment", K.text))),
    Transition(
        S.handled,
        A.rework,
        S.handling,
        _by(R.dispatcher),
        _may(("reason", K.text)),
        effects=(E.count_rework, E.record_reason, E.notify_next_actor),
    ),
    Transition(
        S.replied,
        A.call_back,
        S.called_back,
        HOTLINE_DESK,
        _needs(("satisfied", K.flag)) + _may(("score", K.score)),
        effects=(E.record_satisfaction, E.record_score),
    ),
    Transition(
        S.called_back,
        A.close,
        S.closed,
        _by(R.shift_leader),
        effects=(E.record_closure, E.notify_reporter),
        guard=citizen_satisfied,
    ),
    Transition(
        S.called_back,
        A.rework,
        S.handling,
        _by(R.shift_leader),
        _may(("reason", K.text)),
        effects=(E.count_rework, E.record_reason, E.notify_next_actor),
        note="不满意重办",
    ),
)

HOTLINE_12345 = ProcessDefinition(
    code="hotline",
    name="12345政务服务便民热线",
    initial=S.reported,
    ends=HOTLINE_ENDS,
    transitions=_with_supervision(_HOTLINE_ROWS, S.reported, HOTLINE_ENDS),
    time_limits=MappingProxyType(
        {
            S.reported: _minutes(30),
            S.filed: _minutes(30),
            S.handling: _days(5),
            S.return_requested: _hours(2),
            S.extension_requested: _hours(2),
            S.handled: _days(1),
            S.replied: _days(2),
            S.called_back: _days(1),
        }
    ),
    labels=MappingProxyType(
        {
            S.filed: "待派单",
            S.handled: "待答复",  # the department handled it: the citizen is told
        }
    ),
)

PROCESSES: Mapping[str, ProcessDefinition] = MappingProxyType(
    {p.code: p for p in (URBAN_MANAGEMENT, SOCIAL_GOVERNANCE, HOTLINE_12345)}
)
