"""The process definitions: 数字城管 (urban), 社会治理 (social) and 12345 热线 (hotline).

Default step limits, from common city practice (GB/T 30428 family and local rules), all in
working time so nights, weekends and holidays do not count; cities override them:

| state | urban | social | hotline |
|---|---|---|---|
| reported (受理) | 10 working minutes | 2 working hours | 30 working minutes |
| checking (核实) | 1 working hour, rural grids 2 | – | – |
| self_handled (自处置审核) | 30 working minutes | 1 working day | – |
| accepted (立案) | 30 working minutes for 立案+派遣 together, urgent cases 10 | – | – |
| filed (派遣 / 派单) | what accepted left; after a return 30, urgent 10 | – | 30 working minutes |
| dispatched (签收) | 30 working minutes | – | 2 working hours (urgent: 30 minutes) |
| handling (处置 / 办理) | 3 working days; the category's limit wins | – | 5 working days; same |
| return/extension requested (审批) | 2 working hours | – | 2 working hours |
| suspension_requested (挂账审批) | 4 working hours | – | – |
| handled (派核查 / 确认) | 30 working minutes | 1 working day | – |
| verifying (核查) | 1 working hour, rural grids 2 | – | – |
| verified (结案) | 1 working hour | – | – |
| community / street / county accepting (受理) | – | 2 / 4 working hours, 1 working day | – |
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
from datetime import datetime
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
    Satisfaction,
    State,
    Transition,
    Window,
)
from workflow.sla import TimeLimit, TimeUnit, deadline

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
        effects=(E.carry_clock, E.set_category, E.record_filing),
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

# Social-governance events (社会治理事件, 网格化服务管理): the grid worker who found the event
# fixes it on the spot and records it (自处置), which the community's centre reviews, or
# escalates it. Each level's governance centre (综治中心: community → street → county) first
# accepts it (受理, a step with its own limit), then handles it or passes it up to the next
# level. Centre staff act with the dispatcher role and the holding_center relation: the
# service checks they sit at the level holding the case, which the event's grid decides.
# The reporting grid worker confirms the result on site; an unresolved one goes back to the
# community (属地优先), which may escalate again. A dispute (矛盾纠纷) records whether it was
# resolved (化解) when handled: `resolved` on self_handle and feedback, required for the
# classes the catalogue marks as disputes.
_LEVELS: tuple[tuple[State, State, State | None], ...] = (
    (S.community_accepting, S.community_handling, S.street_accepting),
    (S.street_accepting, S.street_handling, S.county_accepting),
    (S.county_accepting, S.county_handling, None),
)
CENTER_STAFF = _by(R.dispatcher, relation=CENTER)
_SOCIAL_ROWS: tuple[Transition, ...] = (
    Transition(
        S.reported,
        A.self_handle,
        S.self_handled,
        _by(R.grid_worker, relation=REPORTER),
        _may(("resolved", K.flag)),
        min_photos=1,
        effects=(E.record_dispute_resolution, E.notify_next_actor),
        note="自处置: recorded on the spot, reviewed by the community",
    ),
    Transition(
        S.reported,
        A.escalate,
        S.community_accepting,
        _by(R.grid_worker, relation=REPORTER),
        _needs(("reason", K.text)),
        effects=(E.record_reason, E.notify_next_actor),
    ),
    Transition(
        S.reported,
        A.reject,
        S.void,
        CENTER_STAFF,
        _needs(("reason", K.text)),
        effects=(E.record_reason,),
    ),
    Transition(
        S.self_handled,
        A.approve_self_handling,
        S.closed,
        CENTER_STAFF,
        effects=(E.record_closure, E.notify_reporter),
    ),
    Transition(
        S.self_handled,
        A.deny_self_handling,
        S.reported,
        CENTER_STAFF,
        _needs(("reason", K.text)),
        effects=(E.record_reason, E.notify_next_actor),
        note="back to the grid worker, who handles it again or escalates it",
    ),
    *(
        row
        for accepting, handling, above in _LEVELS
        for row in (
            Transition(
                accepting,
                A.accept,
                handling,
                CENTER_STAFF,
                note="受理: the level's handling limit starts",
            ),
            Transition(
                accepting,
                A.reject,
                S.void,
                CENTER_STAFF,
                _needs(("reason", K.text)),
                effects=(E.record_reason, E.notify_reporter),
            ),
            Transition(
                handling,
                A.feedback,
                S.handled,
                CENTER_STAFF,
                _may(("resolved", K.flag)),
                min_photos=1,
                effects=(E.record_handler, E.record_dispute_resolution, E.notify_next_actor),
            ),
            *(
                ()
                if above is None
                else (
                    Transition(
                        handling,
                        A.escalate,
                        above,
                        CENTER_STAFF,
                        _needs(("reason", K.text)),
                        effects=(E.record_reason, E.notify_next_actor),
                    ),
                )
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
            S.self_handled: _days(1),
            S.community_accepting: _hours(2),
            S.community_handling: _days(3),
            S.street_accepting: _hours(4),
            S.street_handling: _days(5),
            S.county_accepting: _days(1),
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
    # first, then whoever it was escalated to); the case's grid names the areas.
    levels=MappingProxyType(
        {
            S.reported: "community",
            S.self_handled: "community",
            S.community_accepting: "community",
            S.community_handling: "community",
            S.street_accepting: "street",
            S.street_handling: "street",
            S.county_accepting: "district",
            S.county_handling: "district",
        }
    ),
)


HOTLINE_ENDS = frozenset({S.closed, S.void})

# The provincial 12345 rules (政务服务便民热线工单办理规范), as data. Each number is one row's
# (or one guard's) and named once here.
HOTLINE_REDOS = 1  # an unsatisfied call-back sends the case back for redo once (不满意重办一次)
CALL_BACK_ATTEMPTS = 3  # unreachable call-backs before the case closes unrated (三次未接通)
HOTLINE_EXTENSIONS = 1  # a department may have its deadline extended once (延期一次)
EXTENSION_REACH = _days(10)  # … by at most 10 working days past the deadline in force
# A department may ask to return a misrouted case (退回) within 2 working days of receiving it.
RETURN_WINDOW = Window(_days(2), since=S.dispatched)


def _instant(value: object) -> datetime | None:
    """Return an aware instant from a payload value, or None (the payload check words it)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    return None


def extension_allowed(facts: Facts) -> str | None:
    """Refuse a second extension, and one reaching more than 10 working days past the deadline.

    Without an `until` in the payload (the request's own, approved as asked) only the count is
    judged: the request was judged on its `until` against the same deadline.
    """
    if facts.extension_count >= HOTLINE_EXTENSIONS:
        return "Can't extend a hotline case more than once"
    until = _instant(facts.payload.get("until"))
    if until is None:
        return None
    if facts.deadline is None or facts.calendar is None:
        return "Can't extend a case whose step has no deadline"
    if until > deadline(facts.deadline, EXTENSION_REACH, facts.calendar):
        return "Can't extend more than 10 working days past the deadline"
    return None


def _redo_due(facts: Facts) -> bool:
    return facts.satisfaction == Satisfaction.unsatisfied and facts.rework_count < HOTLINE_REDOS


def _reached(facts: Facts) -> bool:
    return facts.satisfaction is not None


def call_back_settled(facts: Facts) -> str | None:
    """Refuse to close (办结) while the call-back still has something to do.

    Closes after a satisfied or basically satisfied call-back, after an unsatisfied one once
    the case was redone (closed as unsatisfied), and after the last allowed attempt failed to
    reach the citizen (closed unrated): a case never waits open for a rating.
    """
    if _redo_due(facts):
        return "Can't close when the citizen is unsatisfied and the case was not redone"
    if not _reached(facts) and facts.unreached_calls < CALL_BACK_ATTEMPTS:
        return "Can't close before the call-back reached the citizen or every attempt failed"
    return None


def redo_due(facts: Facts) -> str | None:
    """Refuse a redo (重办) unless the citizen is unsatisfied and the case was not redone yet."""
    if facts.satisfaction != Satisfaction.unsatisfied:
        return "Can't rework a hotline case unless the citizen is unsatisfied"
    if not _redo_due(facts):
        return "Can't rework a hotline case more than once"
    return None


def call_again(facts: Facts) -> str | None:
    """Refuse another call-back once the citizen was reached or every attempt failed."""
    if _reached(facts):
        return "Can't call back again after the citizen was reached"
    if facts.unreached_calls >= CALL_BACK_ATTEMPTS:
        return "Can't call back again after every attempt failed"
    return None


# 12345 hotline (政务服务便民热线), as the provincial rules run it: the operator takes the call
# (受理) or answers a question on the call at once (直接答复, closed); the 12345 centre sends
# the work order to a department (派单/转办: the operator, as 12345 centres do, or a
# dispatcher); the department signs for it (签收) within its own limit, then handles it within
# the limit (5 working days, the category's own handling limit wins) and ends with its reply to
# the citizen (答复, `feedback` carries the text); the operator calls the citizen back (回访)
# recording resolved and satisfaction separately, then closes it (办结) or, when unsatisfied,
# sends it back for redo once.
HOTLINE_DESK = _by(R.acceptor, R.hotline_operator)  # 受理, 回访, 办结 (acceptors stand in)
HOTLINE_CENTER = _by(R.hotline_operator, R.dispatcher)  # 派单, returns (退回审核)
HOTLINE_APPROVERS = _by(R.hotline_operator, R.dispatcher, R.shift_leader)  # 延期审核
_HOTLINE_ROWS: tuple[Transition, ...] = (
    Transition(S.reported, A.accept, S.filed, HOTLINE_DESK),
    Transition(
        S.reported,
        A.reply,
        S.closed,
        HOTLINE_DESK,
        _needs(("comment", K.text)),
        effects=(E.record_closure,),
        note="直接答复: a question answered on the call",
    ),
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
        S.dispatched,
        HOTLINE_CENTER,
        _may(("department", K.code)),
        effects=(E.set_department, E.notify_next_actor),
        note="派单/转办; department omitted: the responsibility rules decide",
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
        note="签收; starts the handling limit",
    ),
    Transition(
        S.handling,
        A.feedback,
        S.replied,
        _by(R.handler, relation=MEMBER),
        _needs(("comment", K.text)),
        effects=(E.record_handler, E.notify_next_actor),
        note="答复: the comment is the reply to the citizen",
    ),
    Transition(
        S.handling,
        A.request_return,
        S.return_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
        within=RETURN_WINDOW,
        note="within 2 working days of receiving the case",
    ),
    Transition(
        S.handling,
        A.request_extension,
        S.extension_requested,
        _by(R.handler, relation=MEMBER),
        _needs(("until", K.moment), ("reason", K.text)),
        effects=(E.keep_clock, E.record_extension_request),
        guard=extension_allowed,
        note="once, up to 10 working days past the deadline",
    ),
    Transition(
        S.return_requested,
        A.approve_return,
        S.filed,
        HOTLINE_CENTER,
        effects=(E.clear_department,),
        note="the centre sends it again (转办)",
    ),
    Transition(
        S.return_requested,
        A.deny_return,
        S.handling,
        HOTLINE_CENTER,
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.extension_requested,
        A.approve_extension,
        S.handling,
        HOTLINE_APPROVERS,
        _may(("until", K.moment)),
        effects=(E.extend_clock,),
        guard=extension_allowed,
        note="until omitted: the requested one",
    ),
    Transition(
        S.extension_requested,
        A.deny_extension,
        S.handling,
        HOTLINE_APPROVERS,
        _may(("reason", K.text)),
        effects=(E.keep_clock, E.record_reason),
    ),
    Transition(
        S.replied,
        A.call_back,
        S.called_back,
        HOTLINE_DESK,
        _may(("resolved", K.flag), ("satisfaction", K.code), ("unreachable", K.flag)),
        effects=(E.record_satisfaction,),
        note="resolved and satisfaction, or unreachable: true",
    ),
    Transition(
        S.called_back,
        A.call_back,
        S.called_back,
        HOTLINE_DESK,
        _may(("resolved", K.flag), ("satisfaction", K.code), ("unreachable", K.flag)),
        effects=(E.record_satisfaction,),
        guard=call_again,
        note="another attempt after the citizen could not be reached (up to 3)",
    ),
    Transition(
        S.called_back,
        A.rework,
        S.handling,
        HOTLINE_DESK,
        _may(("reason", K.text)),
        effects=(E.count_rework, E.record_reason, E.notify_next_actor),
        guard=redo_due,
        note="不满意重办, once",
    ),
    Transition(
        S.called_back,
        A.close,
        S.closed,
        HOTLINE_DESK + _by(R.shift_leader),
        effects=(E.record_closure, E.notify_reporter),
        guard=call_back_settled,
        note="办结",
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
            # 签收: urgent work orders at once, the others within 2 working hours.
            S.dispatched: LimitBy("urgency", {"urgent": _minutes(30)}, otherwise=_hours(2)),
            S.handling: _days(5),
            S.return_requested: _hours(2),
            S.extension_requested: _hours(2),
            S.replied: _days(2),
            S.called_back: _days(1),
        }
    ),
    labels=MappingProxyType(
        {
            S.filed: "待派单",
            S.handling: "办理中",
            S.replied: "待回访",
        }
    ),
)

PROCESSES: Mapping[str, ProcessDefinition] = MappingProxyType(
    {p.code: p for p in (URBAN_MANAGEMENT, SOCIAL_GOVERNANCE, HOTLINE_12345)}
)
