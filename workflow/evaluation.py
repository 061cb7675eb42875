"""Comprehensive evaluation (综合评价) as pure functions over case histories.

Follows the GB/T 30428.4 family: every indicator is a ratio of counts taken from the case
events alone, so a score can always be recomputed and explained. Rates are percentages
(0–100); a rate whose denominator is zero is None, never 0.

Scoring rule: score = Σ wᵢ·vᵢ / Σ wᵢ over the indicators that have a value, where vᵢ is the
rate, or 100 − rate for "lower is better" rates (missed reports, rework). An indicator without
a value drops out and the others' weights are renormalised; with none the score is None.
Weights are configuration: pass a mapping with any of the documented keys (missing keys weigh 0).

`on_time` on an event is the caller's: whether the action came within the deadline of the
step it concludes, from the SLA clock. Events whose `on_time` is None are not counted in
on-time rates.

Nothing calls this module yet: the evaluation domain (the issue "Supervision: evaluation you can
explain …") is its caller to be.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from workflow.errors import WorkflowError
from workflow.model import Action, Role, State

GRID_WORKER_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"valid": 0.4, "missed": 0.2, "check": 0.2, "verification": 0.2}
)
ACCEPTOR_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"on_time_acceptance": 0.4, "accurate_acceptance": 0.4, "on_time_assignment": 0.2}
)
SHIFT_LEADER_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"on_time_filing": 0.4, "accurate_filing": 0.3, "on_time_closing": 0.3}
)
DISPATCHER_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"on_time_dispatch": 0.5, "accurate_dispatch": 0.5}
)
DEPARTMENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"closure": 0.3, "on_time_handling": 0.3, "rework": 0.3, "volume": 0.1}
)
AREA_WEIGHTS: Mapping[str, float] = MappingProxyType({"closure": 0.5, "on_time_closure": 0.5})

# Rates where less is better enter the score as 100 − rate.
INVERTED = frozenset({"missed", "rework"})

GRADES: tuple[tuple[float, str], ...] = ((90, "A"), (75, "B"), (60, "C"), (40, "D"))

# A case counts as valid (a real problem) once filed, or fixed on the spot by its reporter.
_VALID = frozenset({Action.file, Action.self_handle})
_CLOSING = frozenset({Action.close, Action.self_handle})
_DECISIONS = frozenset({Action.accept, Action.reject, Action.merge, Action.request_check})
_DISCARDS = frozenset({Action.reject, Action.void, Action.merge})


@dataclass(frozen=True)
class EventRecord:
    """One case event as evaluation sees it."""

    case_id: int
    action: Action
    actor_id: int | None
    role: Role | None
    at: datetime
    from_state: State | None
    to_state: State
    department: str | None = None  # dispatch: the department sent to; others: the actor's
    grid_code: str | None = None
    on_time: bool | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class CaseRecord:
    """One case and its history as evaluation sees it."""

    case_id: int
    source: str
    reporter_id: int | None
    grid_code: str | None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    department: str | None = None
    state: State = State.reported
    created_at: datetime | None = None
    events: tuple[EventRecord, ...] = ()
    overdue: bool = False  # the current step is past its deadline (the caller's SLA clock)

    def ordered(self) -> tuple[EventRecord, ...]:
        """Return the events in time order."""
        return tuple(sorted(self.events, key=lambda event: event.at))

    def has(self, actions: Collection[Action]) -> bool:
        """Return whether any event is one of the actions."""
        return any(event.action in actions for event in self.events)


@dataclass(frozen=True)
class Ratio:
    """Keep an indicator's counts; its rate is derived so it can always be explained."""

    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        """Return the percentage, or None when there is nothing to count."""
        if self.denominator == 0:
            return None
        return 100.0 * self.numerator / self.denominator


@dataclass(frozen=True)
class Evaluation:
    """Report a subject's indicators, the values scored, the weights, score and grade."""

    subject: str
    ratios: Mapping[str, Ratio]
    components: Mapping[str, float | None]
    weights: Mapping[str, float]
    score: float | None
    grade: str | None
    extra: Mapping[str, float | None] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def rate(self, name: str) -> float | None:
        """Return one indicator's rate in percent."""
        return self.ratios[name].rate

    def explain(self) -> str:
        """Return a few lines showing how the score came about."""
        lines = [f"{self.subject}:"]
        for name, ratio in self.ratios.items():
            rate = "n/a" if ratio.rate is None else f"{ratio.rate:.1f} %"
            scored = self.components.get(name)
            used = "" if scored is None else f" → {scored:.1f} × {self.weights.get(name, 0):g}"
            lines.append(f"  {name}: {ratio.numerator}/{ratio.denominator} = {rate}{used}")
        for name, value in self.components.items():
            if name not in self.ratios and value is not None:
                lines.append(f"  {name}: {value:.1f} × {self.weights.get(name, 0):g}")
        total = "n/a" if self.score is None else f"{self.score:.1f} ({self.grade})"
        lines.append(f"  score: {total}")
        return "\n".join(lines)


def grade(score: float) -> str:
    """Return the grade of a score (等级): A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E."""
    for floor, letter in GRADES:
        if score >= floor:
            return letter
    return "E"


def weighted_score(
    components: Mapping[str, float | None], weights: Mapping[str, float]
) -> float | None:
    """Return Σ w·v / Σ w over the components that have a value (None if none has)."""
    present = [
        (weights.get(name, 0.0), value)
        for name, value in components.items()
        if value is not None and weights.get(name, 0.0) > 0
    ]
    total = sum(weight for weight, _ in present)
    if not present or total <= 0:
        return None
    return sum(weight * value for weight, value in present) / total


def _evaluate(
    subject: str,
    ratios: Mapping[str, Ratio],
    weights: Mapping[str, float],
    defaults: Mapping[str, float],
    extra_components: Mapping[str, float | None] | None = None,
    extra: Mapping[str, float | None] | None = None,
) -> Evaluation:
    unknown = set(weights) - set(defaults)
    if unknown:
        raise WorkflowError(f"Unknown weight {sorted(unknown)[0]!r} for {subject}")
    if any(weight < 0 for weight in weights.values()):
        raise WorkflowError("Weights must not be negative")
    components: dict[str, float | None] = {}
    for name, ratio in ratios.items():
        rate = ratio.rate
        components[name] = None if rate is None else (100.0 - rate if name in INVERTED else rate)
    components.update(extra_components or {})
    score = weighted_score(components, weights)
    return Evaluation(
        subject=subject,
        ratios=MappingProxyType(dict(ratios)),
        components=MappingProxyType(components),
        weights=MappingProxyType(dict(weights)),
        score=score,
        grade=None if score is None else grade(score),
        extra=MappingProxyType(dict(extra or {})),
    )


def _on_time(events: Iterable[EventRecord]) -> Ratio:
    """Count events on time among those whose timeliness is known."""
    known = [event.on_time for event in events if event.on_time is not None]
    return Ratio(sum(1 for value in known if value), len(known))


def _events(
    cases: Iterable[CaseRecord], actions: Collection[Action], actor_id: int
) -> Iterator[EventRecord]:
    for case in cases:
        for event in case.events:
            if event.action in actions and event.actor_id == actor_id:
                yield event


def _acted_then(
    cases: Iterable[CaseRecord],
    actions: Collection[Action],
    actor_id: int,
    undone_by: Collection[Action],
    until: Collection[Action] = frozenset(),
) -> Ratio:
    """Count the actor's actions not undone later: (acted − undone) / acted.

    An action is undone when one of `undone_by` follows it before any of `until`.
    """
    acted = undone = 0
    for case in cases:
        history = case.ordered()
        for index, event in enumerate(history):
            if event.action not in actions or event.actor_id != actor_id:
                continue
            acted += 1
            for later in history[index + 1 :]:
                if later.action in undone_by:
                    undone += 1
                    break
                if later.action in until:
                    break
    return Ratio(acted - undone, acted)


def grid_worker_indicators(
    cases: Iterable[CaseRecord],
    worker_id: int,
    worker_grids: Collection[str],
    *,
    weights: Mapping[str, float] = GRID_WORKER_WEIGHTS,
) -> Evaluation:
    """Evaluate a grid worker (监督员): valid, missed reports, on-time checks and verifications.

    valid = reports filed or fixed on the spot / reports; missed = valid cases in the worker's
    grids first reported by someone else / valid cases there; check and verification = on-time
    replies / replies (tasks still open are counted once answered).
    """
    cases = tuple(cases)
    own = [case for case in cases if case.reporter_id == worker_id]
    there = [case for case in cases if case.grid_code in worker_grids and case.has(_VALID)]
    ratios = {
        "valid": Ratio(sum(1 for case in own if case.has(_VALID)), len(own)),
        "missed": Ratio(sum(1 for case in there if case.reporter_id != worker_id), len(there)),
        "check": _on_time(_events(cases, {Action.check_reply}, worker_id)),
        "verification": _on_time(_events(cases, {Action.verify_reply}, worker_id)),
    }
    return _evaluate(f"grid_worker {worker_id}", ratios, weights, GRID_WORKER_WEIGHTS)


def acceptor_indicators(
    cases: Iterable[CaseRecord],
    acceptor_id: int,
    *,
    weights: Mapping[str, float] = ACCEPTOR_WEIGHTS,
) -> Evaluation:
    """Evaluate an acceptor (受理员): on-time and accurate acceptance, on-time assignment.

    on_time_acceptance covers every decision on a reported case (accept, reject, merge,
    request_check); accurate_acceptance = (accepted − later rejected or voided) / accepted;
    on_time_assignment covers assign_verification.
    """
    cases = tuple(cases)
    ratios = {
        "on_time_acceptance": _on_time(_events(cases, _DECISIONS, acceptor_id)),
        "accurate_acceptance": _acted_then(cases, {Action.accept}, acceptor_id, _DISCARDS),
        "on_time_assignment": _on_time(_events(cases, {Action.assign_verification}, acceptor_id)),
    }
    return _evaluate(f"acceptor {acceptor_id}", ratios, weights, ACCEPTOR_WEIGHTS)


def shift_leader_indicators(
    cases: Iterable[CaseRecord],
    leader_id: int,
    *,
    weights: Mapping[str, float] = SHIFT_LEADER_WEIGHTS,
) -> Evaluation:
    """Evaluate a shift leader (值班长): on-time filing, accurate filing, on-time closing.

    accurate_filing = (filed − later voided) / filed.
    """
    cases = tuple(cases)
    ratios = {
        "on_time_filing": _on_time(_events(cases, {Action.file}, leader_id)),
        "accurate_filing": _acted_then(cases, {Action.file}, leader_id, {Action.void}),
        "on_time_closing": _on_time(_events(cases, {Action.close}, leader_id)),
    }
    return _evaluate(f"shift_leader {leader_id}", ratios, weights, SHIFT_LEADER_WEIGHTS)


def dispatcher_indicators(
    cases: Iterable[CaseRecord],
    dispatcher_id: int,
    *,
    weights: Mapping[str, float] = DISPATCHER_WEIGHTS,
) -> Evaluation:
    """Evaluate a dispatcher (派遣员): on-time dispatch, accurate dispatch.

    accurate_dispatch = (dispatched − returned) / dispatched, a dispatch being returned when
    an approved return (回退) follows it before the next dispatch.
    """
    cases = tuple(cases)
    ratios = {
        "on_time_dispatch": _on_time(_events(cases, {Action.dispatch}, dispatcher_id)),
        "accurate_dispatch": _acted_then(
            cases, {Action.dispatch}, dispatcher_id, {Action.approve_return}, {Action.dispatch}
        ),
    }
    return _evaluate(f"dispatcher {dispatcher_id}", ratios, weights, DISPATCHER_WEIGHTS)


@dataclass(frozen=True)
class _Episode:
    """One stay of a case with a department: from a dispatch to the next dispatch or return."""

    events: tuple[EventRecord, ...]
    returned: bool
    last: bool

    def first(self, action: Action) -> EventRecord | None:
        return next((event for event in self.events if event.action is action), None)


def _episodes(case: CaseRecord, department: str) -> Iterator[_Episode]:
    history = case.ordered()
    starts = [i for i, event in enumerate(history) if event.action is Action.dispatch]
    for position, start in enumerate(starts):
        if history[start].department != department:
            continue
        end = starts[position + 1] if position + 1 < len(starts) else len(history)
        stay = history[start + 1 : end]
        returned = any(event.action is Action.approve_return for event in stay)
        yield _Episode(stay, returned, position + 1 == len(starts))


def _department_due(cases: Iterable[CaseRecord], department: str) -> list[tuple[_Episode, bool]]:
    """Return the department's due tasks: handled, or still open past the deadline."""
    due: list[tuple[_Episode, bool]] = []
    for case in cases:
        for episode in _episodes(case, department):
            if episode.returned:
                # Sent there by mistake: it counts against the dispatcher, not the department.
                continue
            handled = episode.first(Action.feedback) is not None
            if handled or (episode.last and case.overdue):
                due.append((episode, handled))
    return due


def department_indicators(
    cases: Iterable[CaseRecord],
    department: str,
    *,
    max_due: int | None = None,
    weights: Mapping[str, float] = DEPARTMENT_WEIGHTS,
) -> Evaluation:
    """Evaluate a department (专业部门): on-time handling, closure, rework, volume.

    A task is a stay of a case with the department from its dispatch (not returned); it is
    due once handled or when still open past its deadline (`CaseRecord.overdue`).
    on_time_handling = tasks whose first feedback was on time / due; closure = due tasks
    closed / due; rework = reworks / due. Volume (up to 10 of 100 by default) scores
    min(100, 100 × due / max_due), `max_due` being the most due among the departments
    compared (see `rank_departments`); without it volume drops out.
    """
    due = _department_due(cases, department)
    on_time = 0
    for episode, handled in due:
        feedback = episode.first(Action.feedback)
        on_time += bool(handled and feedback is not None and feedback.on_time)
    closed = sum(1 for episode, _ in due if episode.first(Action.close) is not None)
    reworks = sum(
        sum(1 for event in episode.events if event.action is Action.rework) for episode, _ in due
    )
    ratios = {
        "closure": Ratio(closed, len(due)),
        "on_time_handling": Ratio(on_time, len(due)),
        "rework": Ratio(reworks, len(due)),
    }
    volume = None if not max_due else min(100.0, 100.0 * len(due) / max_due)
    return _evaluate(
        f"department {department}",
        ratios,
        weights,
        DEPARTMENT_WEIGHTS,
        extra_components={"volume": volume},
        extra={"due": float(len(due))},
    )


def rank_departments(
    cases: Iterable[CaseRecord],
    departments: Iterable[str],
    *,
    weights: Mapping[str, float] = DEPARTMENT_WEIGHTS,
) -> tuple[Evaluation, ...]:
    """Evaluate departments against each other (volume relative to the busiest), best first."""
    cases = tuple(cases)
    codes = tuple(departments)
    most = max((len(_department_due(cases, code)) for code in codes), default=0)
    results = [
        department_indicators(cases, code, max_due=most or None, weights=weights) for code in codes
    ]
    return tuple(sorted(results, key=lambda e: (e.score is None, -(e.score or 0.0), e.subject)))


AREA_LEVELS: Mapping[str, Callable[[CaseRecord], str | None]] = MappingProxyType(
    {
        "grid": lambda case: case.grid_code,
        "community": lambda case: case.community_code,
        "street": lambda case: case.street_code,
        "district": lambda case: case.district_code,
    }
)


def area_indicators(
    cases: Iterable[CaseRecord],
    area_code: str,
    level: str,
    area_km2: float,
    *,
    weights: Mapping[str, float] = AREA_WEIGHTS,
) -> Evaluation:
    """Evaluate an area (街道 / 社区 / 网格): case density, closure, on-time closure.

    Counts valid cases (filed or fixed on the spot). density = valid cases per km²;
    closure = closed / valid; on_time_closure = closed with every handling feedback on time
    (fixed on the spot counts as on time) / valid.
    """
    try:
        code_of = AREA_LEVELS[level]
    except KeyError:
        raise WorkflowError(f"Unknown area level {level!r}") from None
    valid = [case for case in cases if code_of(case) == area_code and case.has(_VALID)]
    closed = [case for case in valid if case.has(_CLOSING)]
    on_time = [
        case
        for case in closed
        if all(
            event.on_time is not False for event in case.events if event.action is Action.feedback
        )
    ]
    ratios = {
        "closure": Ratio(len(closed), len(valid)),
        "on_time_closure": Ratio(len(on_time), len(valid)),
    }
    density = len(valid) / area_km2 if area_km2 > 0 else None
    return _evaluate(
        f"{level} {area_code}",
        ratios,
        weights,
        AREA_WEIGHTS,
        extra={"cases": float(len(valid)), "density": density},
    )
