"""Vocabulary of the workflow: roles, states, actions and a process definition as data.

A process is a frozen table of `Transition` rows. Each row says, for one (state, action):
the next state, who may take it (`Permit`: a role, optionally bound by a `Relation` to the
case such as "the reporter"), what the payload needs (`Requirement`, `min_photos`), what it
does (`Effect`s, exactly one of them to the step clock) and an optional `Guard` over the
case's `Facts`. The application implements each effect once and applies nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any

from workflow.calendar import WorkCalendar
from workflow.errors import WorkflowError
from workflow.sla import TimeLimit


class Role(StrEnum):
    """Name who acts on a case (DESIGN §1)."""

    grid_worker = "grid_worker"  # 网格员 / 监督员
    acceptor = "acceptor"  # 受理员
    dispatcher = "dispatcher"  # 派遣员
    shift_leader = "shift_leader"  # 值班长
    handler = "handler"  # 专业部门处置人员
    dept_admin = "dept_admin"  # 部门管理员
    supervisor = "supervisor"  # 领导 / 考核
    admin = "admin"  # 系统管理员
    hotline_operator = "hotline_operator"  # 12345 话务员
    # Sources without a user account of the staff kind.
    citizen = "citizen"  # 市民 (Open311)
    hotline = "hotline"  # 12345 热线
    sensor = "sensor"  # 物联感知


# The roles people sign in with (accounts); citizen, hotline and sensor are sources only.
STAFF_ROLES: tuple[Role, ...] = (
    Role.grid_worker,
    Role.acceptor,
    Role.dispatcher,
    Role.shift_leader,
    Role.handler,
    Role.hotline_operator,
    Role.dept_admin,
    Role.supervisor,
    Role.admin,
)

ROLE_LABELS: Mapping[Role, str] = MappingProxyType(
    {
        Role.grid_worker: "网格员",
        Role.acceptor: "受理员",
        Role.dispatcher: "派遣员",
        Role.shift_leader: "值班长",
        Role.handler: "处置人员",
        Role.dept_admin: "部门管理员",
        Role.supervisor: "领导",
        Role.admin: "系统管理员",
        Role.hotline_operator: "12345话务员",
        Role.citizen: "市民",
        Role.hotline: "12345热线",
        Role.sensor: "物联感知",
    }
)


class State(StrEnum):
    """Name where a case stands; one vocabulary shared by every process definition."""

    # 数字城管 (urban), DESIGN §5
    reported = "reported"
    checking = "checking"
    accepted = "accepted"
    filed = "filed"
    dispatched = "dispatched"
    handling = "handling"
    return_requested = "return_requested"
    extension_requested = "extension_requested"
    suspension_requested = "suspension_requested"
    suspended = "suspended"
    handled = "handled"
    self_handled = "self_handled"
    verifying = "verifying"
    verified = "verified"
    closed = "closed"
    void = "void"
    evaluated = "evaluated"
    # 社会治理 (social): level-by-level escalation, each level accepting (受理) then handling
    community_accepting = "community_accepting"
    community_handling = "community_handling"
    street_accepting = "street_accepting"
    street_handling = "street_handling"
    county_accepting = "county_accepting"
    county_handling = "county_handling"
    # 12345 热线 (hotline): reply and satisfaction call-back
    replied = "replied"
    called_back = "called_back"


STATE_LABELS: Mapping[State, str] = MappingProxyType(
    {
        State.reported: "待受理",
        State.checking: "待核实",
        State.accepted: "待立案",
        State.filed: "待派遣",
        State.dispatched: "待签收",
        State.handling: "处置中",
        State.return_requested: "回退申请",
        State.extension_requested: "延期申请",
        State.suspension_requested: "挂账申请",
        State.suspended: "挂账",
        State.handled: "待核查",
        State.self_handled: "自处置待审核",
        State.verifying: "核查中",
        State.verified: "待结案",
        State.closed: "已结案",
        State.void: "作废",
        State.evaluated: "已评价",
        State.community_accepting: "待社区受理",
        State.community_handling: "社区处置中",
        State.street_accepting: "待街道受理",
        State.street_handling: "街道处置中",
        State.county_accepting: "待县级受理",
        State.county_handling: "县级处置中",
        State.replied: "待回访",
        State.called_back: "已回访",
    }
)


class Action(StrEnum):
    """Name what an actor does to a case; the URL segment of `…/actions/{action}`."""

    accept = "accept"
    request_check = "request_check"
    reject = "reject"
    merge = "merge"
    self_handle = "self_handle"
    approve_self_handling = "approve_self_handling"
    deny_self_handling = "deny_self_handling"
    check_reply = "check_reply"
    file = "file"
    dispatch = "dispatch"
    acknowledge = "acknowledge"
    void = "void"
    feedback = "feedback"
    request_return = "request_return"
    request_extension = "request_extension"
    request_suspension = "request_suspension"
    approve_return = "approve_return"
    deny_return = "deny_return"
    approve_extension = "approve_extension"
    deny_extension = "deny_extension"
    approve_suspension = "approve_suspension"
    deny_suspension = "deny_suspension"
    resume = "resume"
    assign_verification = "assign_verification"
    verify_reply = "verify_reply"
    close = "close"
    rework = "rework"
    evaluate = "evaluate"
    supervise = "supervise"
    # social and hotline processes
    escalate = "escalate"
    reply = "reply"
    call_back = "call_back"


ACTION_LABELS: Mapping[Action, str] = MappingProxyType(
    {
        Action.accept: "受理",
        Action.request_check: "核实",
        Action.reject: "不予立案",
        Action.merge: "合并",
        Action.self_handle: "自行处置",
        Action.approve_self_handling: "同意自处置",
        Action.deny_self_handling: "驳回自处置",
        Action.check_reply: "核实反馈",
        Action.file: "立案",
        Action.dispatch: "派遣",
        Action.acknowledge: "签收",
        Action.void: "作废",
        Action.feedback: "处置反馈",
        Action.request_return: "申请回退",
        Action.request_extension: "申请延期",
        Action.request_suspension: "申请挂账",
        Action.approve_return: "同意回退",
        Action.deny_return: "驳回回退",
        Action.approve_extension: "同意延期",
        Action.deny_extension: "驳回延期",
        Action.approve_suspension: "同意挂账",
        Action.deny_suspension: "驳回挂账",
        Action.resume: "恢复处置",
        Action.assign_verification: "派发核查",
        Action.verify_reply: "核查反馈",
        Action.close: "结案",
        Action.rework: "返工",
        Action.evaluate: "评价",
        Action.supervise: "督办",
        Action.escalate: "上报上级",
        Action.reply: "答复市民",
        Action.call_back: "满意度回访",
    }
)


class Relation(StrEnum):
    """Say which actor in particular, beyond the role, may act (the service checks it)."""

    reporter = "reporter"  # the user or citizen who reported the case
    assigned_checker = "assigned_checker"  # the grid worker a check (核实) was sent to
    assigned_verifier = "assigned_verifier"  # the grid worker a verification (核查) was sent to
    department_member = "department_member"  # a member of the department handling the case
    holding_center = "holding_center"  # staff of the level's centre now holding the case


class Effect(StrEnum):
    """Name what an action does to a case besides moving its state (DESIGN §5).

    The first seven are the step clock's: every transition has exactly one of them (the
    definition fills in the usual one where a row names none). The application implements
    each effect once (`gridapp.cases.effects`).
    """

    # The step clock (时限)
    start_clock = "start_clock"  # the target step's own limit runs from now
    keep_clock = "keep_clock"  # the running step's deadline stays (requests, denials, 督办)
    # One limit over two states (立案+派遣): the step's start stays, its deadline is the next
    # state's limit counted from that start for the case's facts now (filing may make it urgent).
    carry_clock = "carry_clock"
    pause_clock = "pause_clock"  # suspension approved: the clock stops counting (挂账)
    resume_clock = "resume_clock"  # back from suspension: the working time left runs again
    extend_clock = "extend_clock"  # extension approved: the deadline moves to `until`
    stop_clock = "stop_clock"  # an end: no clock runs
    # What the case records
    record_reason = "record_reason"  # the reason given (不予立案, 回退, 作废 …)
    link_duplicate = "link_duplicate"  # merge: the case duplicates another open one
    assign_checker = "assign_checker"  # an on-site check (核实) goes to a grid worker
    record_check = "record_check"  # the check confirmed the report or not
    set_category = "set_category"  # filing may correct the category and urgency
    set_department = "set_department"  # the department, by responsibility rule when omitted
    clear_department = "clear_department"  # a return: no department holds the case
    record_extension_request = "record_extension_request"  # the asked-for deadline and why
    record_handler = "record_handler"  # who reported the case handled
    assign_verifier = "assign_verifier"  # verification (核查) goes to a grid worker
    record_verification = "record_verification"  # the verification passed or not
    record_satisfaction = "record_satisfaction"  # the call-back: resolved, satisfaction (回访)
    # A dispute (矛盾纠纷, a category marked `dispute`) says whether it was resolved (化解)
    record_dispute_resolution = "record_dispute_resolution"
    count_rework = "count_rework"  # rework count + 1, verification forgotten
    count_supervision = "count_supervision"  # supervision count + 1 (督办)
    record_filing = "record_filing"  # when the case was filed (立案)
    record_closure = "record_closure"  # when the case closed
    record_score = "record_score"  # the evaluation's score (评价)
    # Who is told
    notify_next_actor = "notify_next_actor"  # whoever may act in the state now reached
    notify_reporter = "notify_reporter"  # the reporter learns the outcome


CLOCK_EFFECTS = frozenset(
    {
        Effect.start_clock,
        Effect.keep_clock,
        Effect.carry_clock,
        Effect.pause_clock,
        Effect.resume_clock,
        Effect.extend_clock,
        Effect.stop_clock,
    }
)


class FieldKind(StrEnum):
    """Say what a payload field must hold."""

    text = "text"  # a non-blank string
    flag = "flag"  # true or false
    score = "score"  # a number from 0 to 100
    ident = "ident"  # a positive integer id (case, user)
    code = "code"  # a non-blank code string (department, category)
    moment = "moment"  # an aware datetime or an ISO 8601 string with offset


class Satisfaction(StrEnum):
    """Name what a citizen says of the result at a call-back (回访满意度)."""

    satisfied = "satisfied"  # 满意
    basically_satisfied = "basically_satisfied"  # 基本满意
    unsatisfied = "unsatisfied"  # 不满意


# What counts as satisfied in the 满意率 (and the case's `satisfied` flag): 满意 + 基本满意.
CONTENT = frozenset({Satisfaction.satisfied, Satisfaction.basically_satisfied})


@dataclass(frozen=True)
class Requirement:
    """Say that an action's payload needs (or may carry) a field of a kind."""

    field: str
    kind: FieldKind
    required: bool = True  # False: checked when present, e.g. dispatch's department


@dataclass(frozen=True)
class Facts:
    """Carry what guards, windows, relation checks and step limits know about a case and actor.

    `relations` are the actor's relations to the case. `None` means the caller checks
    relations itself (the service's scope check); a set makes `fire` check them too.
    `entered` holds when the case last entered each state it has been in; with `now` and
    `calendar` it answers a row's `within` window. A window with any of the three missing
    refuses (a forgotten fact refuses, as a guard over `Facts()` does).
    """

    source: str | None = None  # grid_worker, citizen, hotline, sensor
    verification_passed: bool | None = None  # the latest verify_reply's `passed`
    check_confirmed: bool | None = None  # the latest check_reply's `confirmed`
    satisfied: bool | None = None  # the latest call_back found the citizen (basically) satisfied
    satisfaction: str | None = None  # the latest reached call-back's `Satisfaction` (回访)
    unreached_calls: int = 0  # call-backs in a row that could not reach the citizen
    deadline: datetime | None = None  # the running step's deadline (an extension moves it)
    case_id: int | None = None
    duplicate_of: int | None = None  # merge's target, from the payload
    rework_count: int = 0
    extension_count: int = 0  # approved extensions so far (延期次数)
    relations: frozenset[Relation] | None = None
    role: Role | None = None  # the actor's role (a second extension needs the shift leader)
    urgency: str | None = None  # the case's urgency (`urgent`, `normal`)
    setting: str | None = None  # the case's grid is `urban` or `rural` (城区 / 农村)
    payload: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    now: datetime | None = None
    calendar: WorkCalendar | None = None
    entered: Mapping[State, datetime] = field(default_factory=lambda: MappingProxyType({}))

    def fact(self, name: str) -> str | None:
        """Return a fact a `LimitBy` may choose on (`urgency`, `setting`, `source`)."""
        value = getattr(self, name, None)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class LimitBy:
    """Give a step a time limit that depends on one fact of the case (data, not code).

    `LimitBy("urgency", {"urgent": 10 min}, otherwise=30 min)`: the urgent case's step has
    10 working minutes, every other case 30 (center steps as in Taiyuan's rules);
    `LimitBy("setting", {"rural": 2 h}, otherwise=1 h)`: a check in a rural grid may take
    twice as long as one in the urban core.
    """

    fact: str
    limits: Mapping[str, TimeLimit]
    otherwise: TimeLimit

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))

    def __hash__(self) -> int:
        return hash((self.fact, tuple(sorted(self.limits.items())), self.otherwise))

    def choose(self, facts: Facts) -> TimeLimit:
        """Return the limit for a case with these facts."""
        value = facts.fact(self.fact)
        return self.limits.get(value, self.otherwise) if value is not None else self.otherwise


StepLimit = TimeLimit | LimitBy
"""A state's time limit: one for every case, or one chosen by a fact of the case."""


@dataclass(frozen=True)
class Window:
    """Allow an action only within a time after the case entered a state (data, not code).

    `Window(TimeLimit(2, working_days), since=State.dispatched)`: a department may return a
    misrouted hotline case within two working days of receiving it (两个工作日内申请退回).
    """

    limit: TimeLimit
    since: State


Guard = Callable[[Facts], str | None]
"""Return the sentence that refuses a transition, or None to allow it."""


@dataclass(frozen=True)
class Permit:
    """Let a role take an action, bound by a relation to the case when given."""

    role: Role
    relation: Relation | None = None


@dataclass(frozen=True)
class Transition:
    """Describe one (state, action) of a process: target, who, needs, clock and guard.

    `target` None means no change of state (督办). A role appears in at most one permit, so
    `relation_for(role)` is unambiguous; the reporter who may evaluate is one more permit
    (`Permit(Role.citizen, Relation.reporter)`) next to the supervisor's unbound one.
    """

    source: State
    action: Action
    target: State | None
    permits: tuple[Permit, ...]
    requirements: tuple[Requirement, ...] = ()
    min_photos: int = 0
    effects: tuple[Effect, ...] = ()
    guard: Guard | None = field(default=None, compare=False)
    note: str = ""
    within: Window | None = None  # the action is allowed only this long after `since`

    @property
    def clock(self) -> Effect:
        """Return what the transition does to the step clock (filled in by the definition)."""
        return next(effect for effect in self.effects if effect in CLOCK_EFFECTS)

    @property
    def roles(self) -> frozenset[Role]:
        """Return every role that may take the action (relations aside)."""
        return frozenset(permit.role for permit in self.permits)

    @property
    def required_fields(self) -> frozenset[str]:
        """Return the payload fields that must be present."""
        return frozenset(r.field for r in self.requirements if r.required)

    def relation_for(self, role: Role) -> Relation | None:
        """Return the relation a role must have to the case to act, if any."""
        for permit in self.permits:
            if permit.role is role:
                return permit.relation
        return None

    def relation_for_any(self, relation: Relation) -> bool:
        """Return whether any permit is bound by a relation."""
        return any(permit.relation is relation for permit in self.permits)

    def permits_role(self, role: Role) -> bool:
        """Return whether a role appears among the permits."""
        return any(permit.role is role for permit in self.permits)


@dataclass(frozen=True)
class ProcessDefinition:
    """Hold one process as a frozen table (流程定义).

    `time_limits` are the default step limits of states; the handling limit normally comes
    from the case's category and the definition's entry for `handling` is the fallback.
    `levels` names, for states held by a level's centre (`Relation.holding_center`), the level
    of the grid hierarchy whose centre holds the case (`community`, `street`, `district`).
    A row that names no clock effect gets the usual one: none when the state stays (督办),
    `stop_clock` into an end, `start_clock` into any other state.
    """

    code: str
    name: str
    initial: State
    ends: frozenset[State]
    transitions: tuple[Transition, ...]
    time_limits: Mapping[State, StepLimit] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    levels: Mapping[State, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    # Where a state means something else in this process than `STATE_LABELS` says (the
    # hotline's `handled` waits for a reply, not for verification).
    labels: Mapping[State, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_limits", MappingProxyType(dict(self.time_limits)))
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(
            self, "transitions", tuple(self._with_clock(row) for row in self.transitions)
        )
        seen: set[tuple[State, Action]] = set()
        for row in self.transitions:
            key = (row.source, row.action)
            if key in seen:
                raise WorkflowError(f"{self.code}: {row.action} twice from {row.source}")
            seen.add(key)
            if row.source in self.ends:
                raise WorkflowError(f"{self.code}: end state {row.source} has an action")
            if len({p.role for p in row.permits}) != len(row.permits):
                raise WorkflowError(f"{self.code}: a role twice in {row.action} from {row.source}")
        if self.initial not in self.states:
            raise WorkflowError(f"{self.code}: initial state {self.initial} has no transition")
        stray = set(self.time_limits) - set(self.states)
        if stray:
            raise WorkflowError(f"{self.code}: time limits for unknown states {sorted(stray)}")
        for row in self.transitions:
            if row.relation_for_any(Relation.holding_center) and row.source not in self.levels:
                raise WorkflowError(f"{self.code}: no level holds {row.source}")

    def limit_for(self, state: State, facts: Facts | None = None) -> TimeLimit | None:
        """Return a state's time limit for a case with these facts (None: no limit)."""
        limit = self.time_limits.get(state)
        if isinstance(limit, LimitBy):
            return limit.choose(facts if facts is not None else Facts())
        return limit

    def state_label(self, state: State) -> str:
        """Return the Chinese label of a state in this process."""
        return self.labels.get(state) or STATE_LABELS[state]

    def _with_clock(self, row: Transition) -> Transition:
        clocks = [effect for effect in row.effects if effect in CLOCK_EFFECTS]
        if len(clocks) > 1:
            raise WorkflowError(f"{self.code}: {row.action} from {row.source} has two clocks")
        if clocks:
            return row
        if row.target is None:
            usual = Effect.keep_clock
        elif row.target in self.ends:
            usual = Effect.stop_clock
        else:
            usual = Effect.start_clock
        return replace(row, effects=(usual, *row.effects))

    @cached_property
    def _index(self) -> Mapping[tuple[State, Action], Transition]:
        return MappingProxyType({(t.source, t.action): t for t in self.transitions})

    @cached_property
    def _from(self) -> Mapping[State, tuple[Transition, ...]]:
        # Every case of a list page asks for its state's rows (its actions, its facts).
        found: dict[State, list[Transition]] = {}
        for row in self.transitions:
            found.setdefault(row.source, []).append(row)
        return MappingProxyType({state: tuple(rows) for state, rows in found.items()})

    @cached_property
    def states(self) -> tuple[State, ...]:
        """Return the process's states in the order `State` declares them (DESIGN §5's)."""
        used = {self.initial, *self.ends}
        for row in self.transitions:
            used.add(row.source)
            if row.target is not None:
                used.add(row.target)
        return tuple(state for state in State if state in used)

    @cached_property
    def actions(self) -> tuple[Action, ...]:
        """Return every action the process uses, in table order."""
        return tuple(dict.fromkeys(row.action for row in self.transitions))

    def transition(self, state: State, action: Action) -> Transition | None:
        """Return the row for an action in a state, or None when the state does not take it."""
        return self._index.get((state, action))

    def actions_from(self, state: State) -> tuple[Action, ...]:
        """Return the actions a state takes, in table order."""
        return tuple(row.action for row in self.transitions if row.source is state)

    def actions_for(self, state: State, role: Role) -> tuple[Action, ...]:
        """Return the actions a role may take in a state (relations and guards aside)."""
        return tuple(
            row.action for row in self.transitions if row.source is state and row.permits_role(role)
        )

    def transitions_from(self, state: State) -> tuple[Transition, ...]:
        """Return the rows leaving a state, in table order."""
        return self._from.get(state, ())
