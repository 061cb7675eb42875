"""Comprehensive evaluation (综合评价) as pure functions over case histories (DESIGN §5).

Every indicator is a row of a table (`INDICATORS`, one tuple per kind of subject): a name, a
Chinese label, the counter of its numerator and of its denominator (`COUNTERS`, by name), how its
value is scored and its default weight. A counter reads one case's history and yields *hits*:
the subject it counts for, the instant that decides its period (the event the indicator is
about) and the event that put it there, so every number can be explained case by case. A new
indicator is a new row (and, when no counter fits, a new counter).

Timeliness is what the history says: an action that ends a timed step records in its event's
``data["step"]`` the deadline in force then (extensions and suspensions included) and whether it
came in time; an action that starts, extends or resumes a step records the new deadline in
``data["deadline"]`` (``"until"`` for an extension). Events without that record count in no
on-time rate.

Scoring: a rate is 100 · numerator / denominator (None when nothing was counted); "lower is
better" rates enter the score as 100 − rate; volumes and densities are scored by bands (rules).
score = Σ wᵢ·vᵢ / Σ wᵢ over the indicators that have a value; the grade comes from the
cut-offs. Weights, bands and cut-offs are rules, versioned by the application.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from workflow.model import CONTENT, Action, Role, Satisfaction

NUMERATOR = "numerator"
DENOMINATOR = "denominator"
SIDES = (NUMERATOR, DENOMINATOR)
AREA_LEVELS = ("street", "community", "grid")


class Kind(StrEnum):
    """Name what is evaluated: the path segment of ``/api/v1/evaluation/{kind}``."""

    grid_workers = "grid_workers"
    acceptors = "acceptors"
    shift_leaders = "shift_leaders"
    dispatchers = "dispatchers"
    departments = "departments"
    areas = "areas"
    hotline = "hotline"


KIND_LABELS: Mapping[Kind, str] = MappingProxyType(
    {
        Kind.grid_workers: "监督员",
        Kind.acceptors: "受理员",
        Kind.shift_leaders: "值班长",
        Kind.dispatchers: "派遣员",
        Kind.departments: "专业部门",
        Kind.areas: "区域",
        Kind.hotline: "12345热线",
    }
)


class Scoring(StrEnum):
    """Say how an indicator's counts become a value between 0 and 100."""

    rate = "rate"  # 100 · n / d
    inverse = "inverse"  # 100 − 100 · n / d (lower is better)
    band = "band"  # the band the numerator falls in (a volume)
    density_band = "density_band"  # the band n / d falls in


@dataclass(frozen=True)
class EventFact:
    """One history event as evaluation reads it."""

    seq: int
    action: str
    actor_id: int | None
    role: str | None
    at: datetime
    from_state: str | None
    to_state: str
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def on_time(self) -> bool | None:
        """Whether the step this event ended was in time (None: no timed step recorded)."""
        step = self.data.get("step")
        if not isinstance(step, Mapping):
            return None
        value = step.get("on_time")
        return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class CaseHistory:
    """One case's fixed facts and its events in order."""

    case_id: int
    number: str
    process: str
    reporter_id: int | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    district_code: str | None
    events: tuple[EventFact, ...]

    def area(self, level: str) -> str | None:
        return {
            "grid": self.grid_code,
            "community": self.community_code,
            "street": self.street_code,
            "district": self.district_code,
        }.get(level)


@dataclass(frozen=True)
class Context:
    """What counters need besides one case: the time now, who holds which grid, the level."""

    now: datetime
    grid_workers: Mapping[str, Sequence[int]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    level: str = "street"


@dataclass(frozen=True)
class Hit:
    """One count: for whom, when it counts (its period), and the event that put it there."""

    subject: str
    at: datetime
    event: EventFact


Counter = Callable[[CaseHistory, Context], Iterator[Hit]]


@dataclass(frozen=True)
class Indicator:
    """One row of an indicator table."""

    name: str
    label: str
    numerator: str
    denominator: str | None  # a counter, None for a plain count, "@name" for a caller's constant
    scoring: Scoring = Scoring.rate
    weight: float = 0.0
    band: str | None = None


# --- helpers over one history ------------------------------------------------------------

# A self-handling (自处置) closes where the process says so: at once (social events) or once the
# acceptor approves it (urban); the state it reached tells, not the action's name.
SELF_HANDLING = frozenset({Action.self_handle, Action.approve_self_handling})
CLOSED = "closed"


def _valid(event: EventFact) -> bool:
    """Whether the event made the report valid: filed, or closed by a self-handling."""
    return event.action == Action.file or (
        event.action in SELF_HANDLING and event.to_state == CLOSED
    )


def _closing(event: EventFact) -> bool:
    """Whether the event closed the case (结案, or a self-handling that closed it)."""
    return event.action == Action.close or (
        event.action in SELF_HANDLING and event.to_state == CLOSED
    )


_DECISIONS = frozenset({Action.accept, Action.reject, Action.merge, Action.request_check})


def _first(events: Iterable[EventFact], actions: Iterable[str]) -> EventFact | None:
    wanted = frozenset(actions)
    return next((event for event in events if event.action in wanted), None)


def _first_where(
    events: Iterable[EventFact], test: Callable[[EventFact], bool]
) -> EventFact | None:
    return next((event for event in events if test(event)), None)


def _after(case: CaseHistory, event: EventFact) -> tuple[EventFact, ...]:
    return tuple(e for e in case.events if e.seq > event.seq)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _by(case: CaseHistory, actions: Iterable[str], role: str | None = None) -> Iterator[EventFact]:
    wanted = frozenset(actions)
    for event in case.events:
        known = event.action in wanted and event.actor_id is not None
        if known and (role is None or event.role == role):
            yield event


def _actions_counter(actions: Iterable[str], role: str | None = None) -> Counter:
    """Count each of these actions for its actor, in the period it was taken."""
    wanted = frozenset(actions)

    def count(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
        for event in _by(case, wanted, role):
            yield Hit(str(event.actor_id), event.at, event)

    return count


def _timed_counter(actions: Iterable[str], *, on_time: bool, role: str | None = None) -> Counter:
    """Count these actions whose step timeliness is known (or only those in time)."""
    wanted = frozenset(actions)

    def count(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
        for event in _by(case, wanted, role):
            known = event.on_time
            if known is None or (on_time and not known):
                continue
            yield Hit(str(event.actor_id), event.at, event)

    return count


def _kept_counter(
    actions: Iterable[str], undone_by: Iterable[str], until: Iterable[str] = ()
) -> Counter:
    """Count these actions not undone later (before any of ``until``)."""
    wanted, undo, stop = frozenset(actions), frozenset(undone_by), frozenset(until)

    def count(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
        for event in _by(case, wanted):
            for later in _after(case, event):
                if later.action in undo:
                    break
                if later.action in stop:
                    yield Hit(str(event.actor_id), event.at, event)
                    break
            else:
                yield Hit(str(event.actor_id), event.at, event)

    return count


# --- grid workers (监督员) ----------------------------------------------------------------


def _reports(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    report = case.events[0] if case.events else None
    if report is not None and report.action == "report" and report.role == Role.grid_worker:
        yield Hit(str(report.actor_id), report.at, report)


def _valid_reports(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for hit in _reports(case, ctx):
        valid = _first_where(case.events, _valid)
        if valid is not None:
            yield Hit(hit.subject, hit.at, valid)


def _filed_in_grids(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    valid = _first_where(case.events, _valid)
    if valid is None or case.grid_code is None:
        return
    for worker in ctx.grid_workers.get(case.grid_code, ()):
        yield Hit(str(worker), valid.at, valid)


def _missed_in_grids(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    valid = _first_where(case.events, _valid)
    if valid is None or case.grid_code is None or not case.events:
        return
    for worker in ctx.grid_workers.get(case.grid_code, ()):
        if case.reporter_id != worker:
            # Explained by the report someone else made in the worker's grid.
            yield Hit(str(worker), valid.at, case.events[0])


# --- departments (专业部门) -----------------------------------------------------------------


# A department task's clock (`_tasks`): each action that sets a new deadline, with the key of
# its data that records it. `gridapp.evaluation.tasks` counts the same tasks in SQL from it.
TASK_DEADLINES: Mapping[str, str] = MappingProxyType(
    {
        Action.dispatch: "deadline",  # the limit to sign for it (签收)
        Action.acknowledge: "deadline",  # the handling limit, from signing for it
        Action.resume: "deadline",  # the time left when suspended (挂账), from resuming
        Action.approve_extension: "until",  # the extension granted (延期)
    }
)
# The dispatch's data key naming the department (`gridapp.cases.effects`).
TASK_DEPARTMENT = "department"


@dataclass(frozen=True)
class _Task:
    """A stay of a case with a department that fell due: handled, or overdue unhandled."""

    department: str
    due_at: datetime
    due_event: EventFact
    on_time: bool
    stay: tuple[EventFact, ...]


def _tasks(case: CaseHistory, ctx: Context) -> Iterator[_Task]:
    """Yield each stay with a department (dispatch to the next dispatch) once it fell due.

    The department first has the acknowledgement limit (签收, the dispatch's deadline), then,
    from acknowledging, the handling limit (the acknowledgement's deadline): on-time handling
    counts from acknowledgement; a signature after its limit makes the task late (the department
    missed one of its two limits), and a case left unacknowledged falls due like one unhandled.
    A stay falls due when handled (first feedback) or when its deadline passes unhandled,
    whichever comes first (before the department signs for it, 签收, the deadline is the
    signature's); while suspended (挂账) the clock is paused and nothing falls due, and
    an approved return (回退) takes the stay out: it counts against the dispatcher.
    """
    events = case.events
    starts = [i for i, event in enumerate(events) if event.action == Action.dispatch]
    for position, start in enumerate(starts):
        dispatch = events[start]
        department = dispatch.data.get(TASK_DEPARTMENT)
        end = starts[position + 1] if position + 1 < len(starts) else len(events)
        stay = events[start + 1 : end]
        if not isinstance(department, str) or any(
            event.action == Action.approve_return for event in stay
        ):
            continue
        deadline = _moment(dispatch.data.get(TASK_DEADLINES[Action.dispatch]))
        setter, paused = dispatch, False
        due: tuple[datetime, EventFact, bool] | None = None
        for event in stay:
            if not paused and deadline is not None and deadline < event.at:
                due = (deadline, setter, False)
                break
            if event.action == Action.feedback:
                due = (event.at, event, True)
                break
            if event.action == Action.approve_suspension:
                paused = True
            elif event.action in TASK_DEADLINES:
                # Signed for (签收) in time, extended or resumed: a new deadline runs from here
                # (a resume also ends the pause; no dispatch is inside a stay).
                paused = paused and event.action != Action.resume
                key = TASK_DEADLINES[event.action]
                deadline, setter = _moment(event.data.get(key)) or deadline, event
        if due is None and not paused and deadline is not None and deadline < ctx.now:
            due = (deadline, setter, False)
        if due is not None:
            yield _Task(department, due[0], due[1], due[2], tuple(stay))


def _due(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for task in _tasks(case, ctx):
        yield Hit(task.department, task.due_at, task.due_event)


def _due_on_time(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for task in _tasks(case, ctx):
        if task.on_time:
            yield Hit(task.department, task.due_at, task.due_event)


def _due_closed(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for task in _tasks(case, ctx):
        closing = _first_where(task.stay, _closing)
        if closing is not None:
            yield Hit(task.department, task.due_at, closing)


def _reworks(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for task in _tasks(case, ctx):
        for event in task.stay:
            if event.action == Action.rework:
                yield Hit(task.department, task.due_at, event)


# --- areas (街道 / 社区 / 网格) --------------------------------------------------------------


def _area_valid(case: CaseHistory, ctx: Context) -> Iterator[tuple[str, EventFact]]:
    code = case.area(ctx.level)
    valid = _first_where(case.events, _valid)
    if code is not None and valid is not None:
        yield code, valid


def _valid_cases(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for code, valid in _area_valid(case, ctx):
        yield Hit(code, valid.at, valid)


def _valid_closed(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for code, valid in _area_valid(case, ctx):
        closing = _first_where(case.events, _closing)
        if closing is not None:
            yield Hit(code, valid.at, closing)


def _valid_closed_on_time(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    for code, valid in _area_valid(case, ctx):
        closing = _first_where(case.events, _closing)
        feedbacks = [e for e in case.events if e.action == Action.feedback]
        if closing is not None and all(e.on_time is not False for e in feedbacks):
            yield Hit(code, valid.at, closing)


# 办结率 (completion) and 化解率 (dispute resolution), per area. A case is closed (办结) when
# an event takes it to `closed`, whatever the action (close, approve_self_handling …).
_VOID = "void"


def _closing_event(case: CaseHistory) -> EventFact | None:
    """Return the event that took the case to `closed`, whatever its action."""
    return next((e for e in case.events if e.to_state == CLOSED), None)


def _fell_due(case: CaseHistory, ctx: Context) -> tuple[datetime, EventFact] | None:
    """Return when the case fell due (应办结) and the event that explains it, if it did.

    A case falls due when it closes, or when a step deadline its history records (the event
    that started, extended or resumed the step) passes while it is still open, whichever
    comes first. A suspended (挂账) step falls due only once resumed; a voided case never does.
    """
    if any(e.to_state == _VOID for e in case.events):
        return None
    deadline: datetime | None = None
    setter: EventFact | None = None
    paused = False
    for event in case.events:
        if not paused and deadline is not None and setter is not None and deadline < event.at:
            return deadline, setter
        if event.to_state == CLOSED:
            return event.at, event
        if event.action == Action.approve_suspension:
            paused = True
        elif "deadline" in event.data or event.action == Action.approve_extension:
            paused = False
            deadline = _moment(event.data.get("until") or event.data.get("deadline"))
            setter = event if deadline is not None else None
        elif "step" in event.data:
            # The step ended and no new deadline was recorded: no known clock runs now.
            deadline, setter = None, None
    if not paused and deadline is not None and setter is not None and deadline < ctx.now:
        return deadline, setter
    return None


def _area_due(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    code, due = case.area(ctx.level), _fell_due(case, ctx)
    if code is not None and due is not None:
        yield Hit(code, due[0], due[1])


def _area_due_closed(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    code, due, closing = case.area(ctx.level), _fell_due(case, ctx), _closing_event(case)
    if code is not None and due is not None and closing is not None:
        yield Hit(code, due[0], closing)


def _dispute_outcome(case: CaseHistory) -> tuple[EventFact, EventFact] | None:
    """Return a closed dispute's closing and the last `resolved` record before it.

    Only disputes record ``resolved`` (化解); a record undone by a rework or a denied
    self-handling is superseded by the next one, so the last before closing counts.
    """
    closing = _closing_event(case)
    if closing is None:
        return None
    records = [
        e for e in case.events if e.seq <= closing.seq and isinstance(e.data.get("resolved"), bool)
    ]
    return (closing, records[-1]) if records else None


def _disputes_handled(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    code, outcome = case.area(ctx.level), _dispute_outcome(case)
    if code is not None and outcome is not None:
        yield Hit(code, outcome[0].at, outcome[1])


def _disputes_resolved(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    code, outcome = case.area(ctx.level), _dispute_outcome(case)
    if code is not None and outcome is not None and outcome[1].data["resolved"] is True:
        yield Hit(code, outcome[0].at, outcome[1])


# --- the 12345 hotline (三率) ---------------------------------------------------------------

HOTLINE_PROCESS = "hotline"


def _hotline_closing(case: CaseHistory) -> tuple[str, EventFact] | None:
    """Return the case's district and the event that closed it (办结), for hotline cases.

    The three rates are over cases closed in the period (DESIGN §5): each count is dated by
    the closing, whatever it counts (a dispatch, a call-back).
    """
    if case.process != HOTLINE_PROCESS or case.district_code is None:
        return None
    closing = next((e for e in reversed(case.events) if e.to_state == "closed"), None)
    return None if closing is None else (case.district_code, closing)


def _hotline_dispatches(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    """Count each work order sent to a department (派单/转办) of a closed hotline case."""
    found = _hotline_closing(case)
    if found is None:
        return
    district, closing = found
    for event in case.events:
        if event.action == Action.dispatch:
            yield Hit(district, closing.at, event)


def _hotline_acknowledged_on_time(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    """Count the work orders the department signed for (签收) within the limit (按时响应)."""
    found = _hotline_closing(case)
    if found is None:
        return
    district, closing = found
    for dispatch in (e for e in case.events if e.action == Action.dispatch):
        later = _after(case, dispatch)
        # The answer to this dispatch: its acknowledgement, before any later dispatch.
        answer = _first(later, {Action.acknowledge, Action.dispatch})
        if answer is not None and answer.action == Action.acknowledge and answer.on_time:
            yield Hit(district, closing.at, answer)


def _final_call_back(case: CaseHistory) -> tuple[str, EventFact, EventFact] | None:
    """Return district, closing and the case's final call-back when it reached the citizen.

    The last call-back counts (a redone case's earlier answer judged the earlier work); one
    that never reached the citizen (unreachable up to the last attempt) counts in no rate.
    """
    found = _hotline_closing(case)
    if found is None:
        return None
    district, closing = found
    call = next((e for e in reversed(case.events) if e.action == Action.call_back), None)
    if call is None or call.data.get("reached") is False:
        return None
    return district, closing, call


def _call_back_satisfaction(call: EventFact) -> str | None:
    value = call.data.get("satisfaction")
    if isinstance(value, str):
        return value
    # Call-backs recorded before satisfaction was asked in three grades knew only satisfied.
    old = call.data.get("satisfied")
    if isinstance(old, bool):
        return Satisfaction.satisfied.value if old else Satisfaction.unsatisfied.value
    return None


def _hotline_reached(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    found = _final_call_back(case)
    if found is not None:
        district, closing, call = found
        yield Hit(district, closing.at, call)


def _hotline_resolved(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    found = _final_call_back(case)
    if found is not None and found[2].data.get("resolved") is True:
        district, closing, call = found
        yield Hit(district, closing.at, call)


def _hotline_satisfied(case: CaseHistory, ctx: Context) -> Iterator[Hit]:
    found = _final_call_back(case)
    if found is not None and _call_back_satisfaction(found[2]) in CONTENT:
        district, closing, call = found
        yield Hit(district, closing.at, call)


A = Action
COUNTERS: Mapping[str, Counter] = MappingProxyType(
    {
        "reports": _reports,
        "valid_reports": _valid_reports,
        "filed_in_grids": _filed_in_grids,
        "missed_in_grids": _missed_in_grids,
        "checks": _timed_counter({A.check_reply}, on_time=False),
        "checks_on_time": _timed_counter({A.check_reply}, on_time=True),
        "verifications": _timed_counter({A.verify_reply}, on_time=False),
        "verifications_on_time": _timed_counter({A.verify_reply}, on_time=True),
        "acceptances": _actions_counter(_DECISIONS, Role.acceptor),
        "check_assignments": _timed_counter({A.request_check}, on_time=False),
        "check_assignments_on_time": _timed_counter({A.request_check}, on_time=True),
        "verification_assignments": _timed_counter({A.assign_verification}, on_time=False),
        "verification_assignments_on_time": _timed_counter({A.assign_verification}, on_time=True),
        "filings": _actions_counter({A.file}),
        "timed_filings": _timed_counter({A.file}, on_time=False),
        "filings_on_time": _timed_counter({A.file}, on_time=True),
        "filings_kept": _kept_counter({A.file}, {A.void}),
        "closings": _timed_counter({A.close}, on_time=False),
        "closings_on_time": _timed_counter({A.close}, on_time=True),
        "dispatches": _actions_counter({A.dispatch}),
        "timed_dispatches": _timed_counter({A.dispatch}, on_time=False),
        "dispatches_on_time": _timed_counter({A.dispatch}, on_time=True),
        "dispatches_kept": _kept_counter({A.dispatch}, {A.approve_return}, {A.dispatch}),
        "due": _due,
        "due_on_time": _due_on_time,
        "due_closed": _due_closed,
        "reworks": _reworks,
        "valid_cases": _valid_cases,
        "valid_closed": _valid_closed,
        "valid_closed_on_time": _valid_closed_on_time,
        "area_due": _area_due,
        "area_due_closed": _area_due_closed,
        "disputes_handled": _disputes_handled,
        "disputes_resolved": _disputes_resolved,
        "hotline_dispatches": _hotline_dispatches,
        "hotline_acknowledged_on_time": _hotline_acknowledged_on_time,
        "hotline_reached": _hotline_reached,
        "hotline_resolved": _hotline_resolved,
        "hotline_satisfied": _hotline_satisfied,
    }
)

Row = Indicator
S = Scoring
# Counters an indicator names that the application counts outside the case history (from the
# patrol tracks); `gridapp/evaluation/services.py` implements each.
EXTERNAL_COUNTERS = frozenset({"grid_days_visited", "grid_days_assigned"})
# The defaults of DESIGN §5 (China Unicom's urban management platform, GB/T 30428.4 family).
INDICATORS: Mapping[Kind, tuple[Indicator, ...]] = MappingProxyType(
    {
        Kind.grid_workers: (
            Row("valid_report", "有效上报率", "valid_reports", "reports", weight=40),
            Row("missed_report", "漏报率", "missed_in_grids", "filed_in_grids", S.inverse, 20),
            Row("on_time_check", "按时核实率", "checks_on_time", "checks", weight=20),
            Row(
                "on_time_verification",
                "按时核查率",
                "verifications_on_time",
                "verifications",
                weight=20,
            ),
            # Patrol coverage: assigned grids visited per day over grid-days assigned, counted
            # from the tracks by the application (not the case history); weight 0 by default.
            Row("patrol_coverage", "巡查覆盖率", "grid_days_visited", "grid_days_assigned"),
        ),
        Kind.acceptors: (
            Row("volume", "受理数", "acceptances", None, S.band, 25, "volume"),
            Row(
                "on_time_check_assignment",
                "按时派发核实率",
                "check_assignments_on_time",
                "check_assignments",
                weight=40,
            ),
            Row(
                "on_time_verification_assignment",
                "按时派发核查率",
                "verification_assignments_on_time",
                "verification_assignments",
                weight=35,
            ),
        ),
        Kind.shift_leaders: (
            Row("on_time_filing", "按时立案率", "filings_on_time", "timed_filings", weight=25),
            Row("accurate_filing", "准确立案率", "filings_kept", "filings", weight=40),
            Row("on_time_closing", "按时结案率", "closings_on_time", "closings", weight=35),
        ),
        Kind.dispatchers: (
            Row("volume", "派遣数", "dispatches", None, S.band, 20, "volume"),
            Row(
                "on_time_dispatch",
                "按时派遣率",
                "dispatches_on_time",
                "timed_dispatches",
                weight=40,
            ),
            Row("accurate_dispatch", "准确派遣率", "dispatches_kept", "dispatches", weight=40),
        ),
        Kind.departments: (
            Row("closure", "结案率", "due_closed", "due", weight=30),
            Row("on_time_handling", "按时处置率", "due_on_time", "due", weight=30),
            Row("rework", "返工率", "reworks", "due", S.inverse, 30),
            Row("volume", "问题数", "due", None, S.band, 10, "department_volume"),
        ),
        Kind.areas: (
            Row("density", "案件密度", "valid_cases", "@area_km2", S.density_band, 1, "density"),
            Row("closure", "结案率", "valid_closed", "valid_cases", weight=1),
            Row("on_time_closure", "按时结案率", "valid_closed_on_time", "valid_cases", weight=1),
            # Social governance's two rates; weight 0 by default, so version 1's scores stand
            # (docs/evaluation.md): a city weighs them in a rules version of its own.
            Row("completion", "办结率", "area_due_closed", "area_due"),
            Row("dispute_resolution", "化解率", "disputes_resolved", "disputes_handled"),
        ),
        Kind.hotline: (
            # 按时响应率: work orders signed for (签收) in time / work orders sent (派单).
            Row(
                "response",
                "响应率",
                "hotline_acknowledged_on_time",
                "hotline_dispatches",
                weight=30,
            ),
            # 解决率 and 满意率 (满意 + 基本满意) over final call-backs that reached the citizen.
            Row("resolution", "解决率", "hotline_resolved", "hotline_reached", weight=35),
            Row("satisfaction", "满意率", "hotline_satisfied", "hotline_reached", weight=35),
        ),
    }
)

# Bands: (lowest value of the band, score), lowest first; a value scores its band's score.
DEFAULT_BANDS: Mapping[str, tuple[tuple[float, float], ...]] = MappingProxyType(
    {
        # > 2000 reports → 100, 1201–2000 → 90, 501–1200 → 75, 301–500 → 60, fewer → 40.
        "volume": ((0, 40), (301, 60), (501, 75), (1201, 90), (2001, 100)),
        # Fewer problems score more: ≤ 50 → all 10 points, 51–200 → 8, 201–500 → 5,
        # 501–1000 → 2, more → 0 (as a share of the indicator's weight).
        "department_volume": ((0, 100), (51, 80), (201, 50), (501, 20), (1001, 0)),
        # Valid cases per km²: a cleaner area scores more.
        "density": ((0, 100), (10, 80), (50, 60), (100, 40), (200, 20)),
    }
)
DEFAULT_GRADES: tuple[tuple[float, str], ...] = ((90, "A"), (75, "B"), (60, "C"), (40, "D"))
LOWEST_GRADE = "E"


def default_rules() -> dict[str, Any]:
    """Return the rules of DESIGN §5 as stored configuration (version 1)."""
    return {
        "weights": {
            kind.value: {row.name: row.weight for row in rows} for kind, rows in INDICATORS.items()
        },
        "bands": {name: [list(step) for step in steps] for name, steps in DEFAULT_BANDS.items()},
        "grades": [list(step) for step in DEFAULT_GRADES],
        "lowest_grade": LOWEST_GRADE,
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The problem codes `validate_rules` answers (the application words them for the reader).
RULE_PROBLEMS = (
    "weights_missing",
    "unknown_kind",
    "unknown_indicator",
    "negative_weight",
    "bands_missing",
    "unknown_band",
    "band_steps",
    "bands_order",
    "band_score",
    "grade_steps",
    "grades_order",
    "grade_letter",
)


def validate_rules(rules: Mapping[str, Any]) -> dict[str, str]:
    """Return what is wrong with a rules document: dotted field → problem code (empty: valid).

    Weights are non-negative numbers for known indicators; every band's lower bounds rise;
    grade cut-offs fall, each with a letter.
    """
    errors: dict[str, str] = {}
    weights = rules.get("weights")
    if not isinstance(weights, Mapping):
        errors["weights"] = "weights_missing"
    else:
        for kind, table in weights.items():
            if kind not in Kind.__members__ or not isinstance(table, Mapping):
                errors[f"weights.{kind}"] = "unknown_kind"
                continue
            known = {row.name for row in INDICATORS[Kind(kind)]}
            for name, weight in table.items():
                if name not in known:
                    errors[f"weights.{kind}.{name}"] = "unknown_indicator"
                elif not _number(weight) or weight < 0:
                    errors[f"weights.{kind}.{name}"] = "negative_weight"
    bands = rules.get("bands")
    if not isinstance(bands, Mapping):
        errors["bands"] = "bands_missing"
    else:
        for name in bands:
            if name not in DEFAULT_BANDS:
                errors[f"bands.{name}"] = "unknown_band"
        for name in DEFAULT_BANDS:
            steps = bands.get(name)
            path = f"bands.{name}"
            if not isinstance(steps, list) or not steps:
                errors[path] = "band_steps"
                continue
            if not all(
                isinstance(step, list | tuple) and len(step) == 2 and all(map(_number, step))
                for step in steps
            ):
                errors[path] = "band_steps"
                continue
            lows = [float(step[0]) for step in steps]
            if lows[0] != 0 or any(b <= a for a, b in pairwise(lows)):
                errors[path] = "bands_order"
            elif any(not 0 <= float(step[1]) <= 100 for step in steps):
                errors[path] = "band_score"
    grades = rules.get("grades")
    if (
        not isinstance(grades, list)
        or not grades
        or not all(
            isinstance(step, list | tuple)
            and len(step) == 2
            and _number(step[0])
            and isinstance(step[1], str)
            and step[1]
            for step in grades
        )
    ):
        errors["grades"] = "grade_steps"
    else:
        cuts = [float(step[0]) for step in grades]
        if any(b >= a for a, b in pairwise(cuts)):
            errors["grades"] = "grades_order"
    if not isinstance(rules.get("lowest_grade", LOWEST_GRADE), str):
        errors["lowest_grade"] = "grade_letter"
    return errors


def band_score(steps: Sequence[Sequence[float]], value: float) -> float:
    """Return the score of the band ``value`` falls in."""
    score = float(steps[0][1])
    for low, points in steps:
        if value >= low:
            score = float(points)
    return score


def indicator_value(
    row: Indicator, numerator: float, denominator: float | None, rules: Mapping[str, Any]
) -> float | None:
    """Return an indicator's value (0–100) from its counts, or None when nothing was counted."""
    bands = rules.get("bands", {})
    if row.scoring is Scoring.band:
        return band_score(bands.get(row.band) or DEFAULT_BANDS[row.band or ""], numerator)
    if not denominator:
        return None
    rate = numerator / denominator
    if row.scoring is Scoring.density_band:
        return band_score(bands.get(row.band) or DEFAULT_BANDS[row.band or ""], rate)
    if row.scoring is Scoring.inverse:
        return 100.0 - 100.0 * rate
    return 100.0 * rate


def weighted_score(
    values: Mapping[str, float | None], weights: Mapping[str, float]
) -> float | None:
    """Return Σ w·v / Σ w over the values present with a positive weight (None if none)."""
    present = [
        (float(weights.get(name, 0.0)), value)
        for name, value in values.items()
        if value is not None and weights.get(name, 0.0) > 0
    ]
    total = sum(weight for weight, _ in present)
    if not present or total <= 0:
        return None
    return sum(weight * value for weight, value in present) / total


def grade(score: float, rules: Mapping[str, Any] | None = None) -> str:
    """Return the grade of a score (等级): by default A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E."""
    steps = (rules or {}).get("grades") or DEFAULT_GRADES
    for floor, letter in steps:
        if score >= floor:
            return str(letter)
    return str((rules or {}).get("lowest_grade", LOWEST_GRADE))


def counted_names(kind: Kind) -> tuple[str, ...]:
    """Return the counters a kind's table needs (numerators and denominators), once each."""
    names: list[str] = []
    for row in INDICATORS[kind]:
        for name in (row.numerator, row.denominator):
            if name and not name.startswith("@") and name not in names:
                names.append(name)
    return tuple(names)


def count_case(kind: Kind, case: CaseHistory, ctx: Context) -> Iterator[tuple[str, Hit]]:
    """Yield (counter name, hit) for everything one case counts for this kind.

    A counter a row names that is not in `COUNTERS` is counted outside the case history (a
    patrol's coverage): the application supplies its totals.
    """
    for name in counted_names(kind):
        counter = COUNTERS.get(name)
        if counter is None:
            continue
        for hit in counter(case, ctx):
            yield name, hit


@dataclass(frozen=True)
class Scored:
    """One subject's indicators, score and grade."""

    subject: str
    counts: Mapping[str, tuple[float, float | None]]  # indicator → (numerator, denominator)
    values: Mapping[str, float | None]
    score: float | None
    grade: str | None


def score_subject(
    kind: Kind,
    subject: str,
    totals: Mapping[str, float],
    rules: Mapping[str, Any],
    constants: Mapping[str, float] | None = None,
) -> Scored:
    """Score one subject from its counter totals (counter name → count) under ``rules``."""
    counts: dict[str, tuple[float, float | None]] = {}
    values: dict[str, float | None] = {}
    for row in INDICATORS[kind]:
        numerator = totals.get(row.numerator, 0)
        denominator: float | None
        if row.denominator is None:
            denominator = None
        elif row.denominator.startswith("@"):
            denominator = (constants or {}).get(row.denominator[1:])
        else:
            denominator = totals.get(row.denominator, 0)
        counts[row.name] = (numerator, denominator)
        values[row.name] = indicator_value(row, numerator, denominator, rules)
    weights = (rules.get("weights") or {}).get(kind.value) or {
        row.name: row.weight for row in INDICATORS[kind]
    }
    total = weighted_score(values, weights)
    return Scored(
        subject=subject,
        counts=MappingProxyType(counts),
        values=MappingProxyType(values),
        score=total,
        grade=None if total is None else grade(total, rules),
    )


def rank(scored: Iterable[Scored]) -> list[tuple[Scored, int | None]]:
    """Order subjects best first; equal scores share a rank (1, 2, 2, 4); no score, no rank."""
    ordered = sorted(scored, key=lambda s: (s.score is None, -(s.score or 0.0), s.subject))
    ranked: list[tuple[Scored, int | None]] = []
    previous: float | None = None
    position = 0
    for index, item in enumerate(ordered, start=1):
        if item.score is None:
            ranked.append((item, None))
            continue
        if previous is None or round(item.score, 9) != round(previous, 9):
            position = index
        previous = item.score
        ranked.append((item, position))
    return ranked
