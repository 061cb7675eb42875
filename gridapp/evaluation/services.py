"""Evaluation over the case history (综合评价): rankings, explanations, rules, snapshots.

The counting is `workflow.evaluation`'s (indicators as data, counters over one case's events);
this module loads the histories, keeps to the caller's scope, sums daily snapshots for closed
days and counts the rest live, and names the subjects.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Text, cast, delete, func, select
from sqlalchemy.orm import Session

import workflow
from gridapp.accounts.models import User, UserGrid
from gridapp.cases.models import Case, CaseEvent
from gridapp.catalogue.models import Department
from gridapp.core.audit import record_audit
from gridapp.core.errors import Forbidden, NotFound, ValidationFailed
from gridapp.core.i18n import _
from gridapp.evaluation.models import (
    EvaluationRuleVersion,
    EvaluationSnapshot,
    EvaluationSnapshotDay,
)
from gridapp.evaluation.tasks import count_department_tasks
from gridapp.grid.models import Area

K = workflow.Kind
Role = workflow.Role
# A case counts where the event it is counted for lies; its outcome may come later (a report
# filed next week) or its deadline may pass long after its last event. Histories are read from
# this far before a period's start.
LOOKBACK = timedelta(days=62)
# Whose rows each kind of person ranks.
ROLE_OF_KIND: Mapping[workflow.Kind, str] = {
    K.grid_workers: Role.grid_worker,
    K.acceptors: Role.acceptor,
    K.shift_leaders: Role.shift_leader,
    K.dispatchers: Role.dispatcher,
}
MAX_DAYS = 366
# The data of an event that recorded none: read only, so one is shared.
_NO_DATA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Scope:
    """Which cases a caller's numbers come from, and whose rows they may see."""

    district: str | None  # None: every district
    own_subject: str | None = None  # a grid worker sees only their own row


def evaluation_scope(user: User, kind: workflow.Kind) -> Scope:
    """Say what the caller may read: supervisors their district, admins all, a grid worker
    their own row among grid workers; anyone else is refused."""
    if user.role == Role.admin:
        return Scope(None)
    if user.role == Role.supervisor:
        return Scope(user.district_code)
    if user.role == Role.grid_worker and kind is K.grid_workers:
        return Scope(None, own_subject=str(user.id))
    raise Forbidden(_("Only supervisors and admins read evaluations."))


def local_start(day: date) -> datetime:
    """Return the instant an Asia/Shanghai day starts, in UTC."""
    return datetime.combine(day, time(0), tzinfo=workflow.LOCAL_ZONE).astimezone(UTC)


def check_period(start: date, end: date) -> None:
    if end < start:
        raise ValidationFailed(
            _("The period ends before it starts."), errors={"to": _("On or after from.")}
        )
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(
            _("The period is too long."), errors={"to": _("At most 366 days after from.")}
        )


# --- histories -----------------------------------------------------------------------------


class _EventData(Mapping[str, Any]):
    """An event's data as stored (its JSON text), decoded the first time a counter reads it.

    Counters read the data of a few actions only (a dispatch's department, a step's
    deadline, a call-back's answer); decoding every event's up front was the largest part of
    loading a month's histories.
    """

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            self._value = json.loads(self._text) or {}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._decoded()

    def get(self, key: str, default: Any = None) -> Any:
        return self._decoded().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def _event_data(text: str | None) -> Mapping[str, Any]:
    # A JSON null (an event stored without data) reads as no data, as an empty object does.
    return _NO_DATA if text is None or text in ("{}", "null") else _EventData(text)


def load_histories(
    session: Session, since: datetime, until: datetime, district: str | None
) -> list[workflow.CaseHistory]:
    """Load the cases with an event in [since, until), each with its whole history."""
    touched = (
        select(CaseEvent.case_id)
        .where(CaseEvent.created_at >= since, CaseEvent.created_at < until)
        .distinct()
    )
    query = select(
        Case.id,
        Case.number,
        Case.process,
        Case.reporter_id,
        Case.grid_code,
        Case.community_code,
        Case.street_code,
        Case.district_code,
    ).where(Case.id.in_(touched))
    if district is not None:
        query = query.where(Case.district_code == district)
    cases = {row.id: row for row in session.execute(query)}
    if not cases:
        return []
    events: dict[int, list[workflow.EventFact]] = defaultdict(list)
    rows = session.execute(
        select(
            CaseEvent.case_id,
            CaseEvent.seq,
            CaseEvent.action,
            CaseEvent.actor_id,
            CaseEvent.role,
            CaseEvent.created_at,
            CaseEvent.from_state,
            CaseEvent.to_state,
            # As text, decoded only when read (`_EventData`).
            cast(CaseEvent.data, Text),
        )
        .where(CaseEvent.case_id.in_(touched))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
    )
    # Rows as plain tuples, unpacked in place: a named attribute per column of a row cost as
    # much as the rest of the loading (a month's recompute reads hundreds of thousands).
    for case_id, seq, action, actor_id, role, at, from_state, to_state, data in rows:
        if case_id in cases:
            events[case_id].append(
                workflow.EventFact(
                    seq, action, actor_id, role, at, from_state, to_state, _event_data(data)
                )
            )
    return [
        workflow.CaseHistory(
            case_id=c.id,
            number=c.number,
            process=c.process,
            reporter_id=c.reporter_id,
            grid_code=c.grid_code,
            community_code=c.community_code,
            street_code=c.street_code,
            district_code=c.district_code,
            events=tuple(events[c.id]),
        )
        for c in cases.values()
    ]


def grid_workers_by_grid(session: Session) -> dict[str, list[int]]:
    """Return who holds each unit grid now (the missed-report rate reads it)."""
    held: dict[str, list[int]] = defaultdict(list)
    rows = session.execute(
        select(UserGrid.grid_code, UserGrid.user_id)
        .join(User, User.id == UserGrid.user_id)
        .where(User.role == Role.grid_worker)
    )
    for grid_code, user_id in rows:
        held[grid_code].append(user_id)
    return dict(held)


@dataclass(frozen=True)
class Counted:
    """One hit of one counter, with its case (for the district and the explanation)."""

    counter: str
    hit: workflow.Hit
    case: workflow.CaseHistory


def count_live(
    session: Session,
    kind: workflow.Kind,
    level: str,
    start: date,
    end: date,
    district: str | None,
    now: datetime,
) -> Iterator[Counted]:
    """Count the period [start, end] (local days, inclusive) from the history."""
    since, until = local_start(start), local_start(end + timedelta(days=1))
    ctx = workflow.Context(now=now, grid_workers=grid_workers_by_grid(session), level=level)
    for case in load_histories(session, since - LOOKBACK, until, district):
        for counter, hit in workflow.count_case(kind, case, ctx):
            if since <= hit.at < until:
                yield Counted(counter, hit, case)


Totals = dict[str, dict[str, float]]  # subject → counter → count
# Counters an indicator row may name that do not read the case history (a patrol's coverage):
# counter name → a function (session, first day, last day, district or None) → subject → count.
ExternalCount = Callable[[Session, date, date, str | None], dict[str, float]]


def _patrol_coverage(field: str) -> ExternalCount:
    """Sum one field of the patrol coverage (巡查覆盖) of each grid worker over the days."""

    def count(session: Session, start: date, end: date, district: str | None) -> dict[str, float]:
        from gridapp.patrol.services import coverage

        workers = {
            worker
            for grid, held in grid_workers_by_grid(session).items()
            if district is None or grid.startswith(district)
            for worker in held
        }
        totals: dict[str, float] = {}
        for day in coverage(session, sorted(workers), start, end):
            subject = str(day.worker_id)
            totals[subject] = totals.get(subject, 0.0) + getattr(day, field)
        return totals

    return count


EXTERNAL_COUNTS: dict[str, ExternalCount] = {
    "grid_days_visited": _patrol_coverage("grids_visited"),
    "grid_days_assigned": _patrol_coverage("grids_assigned"),
}


def department_totals(
    session: Session, start: date, end: date, district: str | None, now: datetime
) -> Totals:
    """Count the departments' tasks of [start, end] (local days) as `count_live` would, in
    the database (`gridapp.evaluation.tasks`): the same numbers without loading a history."""
    since, until = local_start(start), local_start(end + timedelta(days=1))
    return count_department_tasks(session, since, until, since - LOOKBACK, district, now)


def _add_totals(totals: Totals, counted: Totals) -> None:
    for who, counts in counted.items():
        subject = totals.setdefault(who, {})
        for counter, count in counts.items():
            subject[counter] = subject.get(counter, 0) + count


def _add_live(totals: Totals, counted: Iterable[Counted]) -> None:
    for item in counted:
        subject = totals.setdefault(item.hit.subject, {})
        subject[item.counter] = subject.get(item.counter, 0) + 1


def sum_counts(
    session: Session,
    kind: workflow.Kind,
    level: str,
    start: date,
    end: date,
    district: str | None,
    now: datetime,
) -> Totals:
    """Sum snapshots for the closed days that have them; count the other days live."""
    today = workflow.local_day(now)
    stored = set(
        session.scalars(
            select(EvaluationSnapshotDay.day).where(
                EvaluationSnapshotDay.day >= start,
                EvaluationSnapshotDay.day <= min(end, today - timedelta(days=1)),
            )
        )
    )
    totals: Totals = {}
    if stored:
        query = (
            select(
                EvaluationSnapshot.subject,
                EvaluationSnapshot.counter,
                func.sum(EvaluationSnapshot.count),
            )
            .where(
                EvaluationSnapshot.kind == kind.value,
                EvaluationSnapshot.level == _level_key(kind, level),
                EvaluationSnapshot.day.in_(sorted(stored)),
            )
            .group_by(EvaluationSnapshot.subject, EvaluationSnapshot.counter)
        )
        if district is not None:
            query = query.where(EvaluationSnapshot.district_code == district)
        for subject, counter, count in session.execute(query):
            totals.setdefault(subject, {})[counter] = float(count or 0)
    for first, last in _runs(start, end, stored):
        if kind is K.departments:
            _add_totals(totals, department_totals(session, first, last, district, now))
        else:
            _add_live(totals, count_live(session, kind, level, first, last, district, now))
    for name in workflow.evaluation.counted_names(kind):
        if name in workflow.COUNTERS or name not in EXTERNAL_COUNTS:
            continue
        external = EXTERNAL_COUNTS[name](session, start, end, district)
        for who, amount in external.items():
            totals.setdefault(who, {})[name] = amount
    return totals


def _runs(start: date, end: date, skip: set[date]) -> Iterator[tuple[date, date]]:
    """Yield the runs of consecutive days in [start, end] that are not in ``skip``."""
    first: date | None = None
    day = start
    while day <= end:
        if day in skip:
            if first is not None:
                yield first, day - timedelta(days=1)
                first = None
        elif first is None:
            first = day
        day += timedelta(days=1)
    if first is not None:
        yield first, end


def _level_key(kind: workflow.Kind, level: str) -> str:
    return level if kind is K.areas else ""


# --- rules ---------------------------------------------------------------------------------


def rules_in_force(session: Session, day: date) -> EvaluationRuleVersion:
    """Return the rules version in force on ``day`` (the latest effective on or before it)."""
    found = session.scalar(
        select(EvaluationRuleVersion)
        .where(EvaluationRuleVersion.effective_from <= day)
        .order_by(EvaluationRuleVersion.effective_from.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(_("No evaluation rules are in force on %(day)s.", day=day.isoformat()))
    return found


def list_rule_versions(session: Session) -> list[EvaluationRuleVersion]:
    """List every rules version, the oldest first."""
    return list(
        session.scalars(select(EvaluationRuleVersion).order_by(EvaluationRuleVersion.version))
    )


def _problem_sentence(code: str) -> str:
    sentences = {
        "weights_missing": _("Give the weights per kind."),
        "unknown_kind": _("Unknown kind."),
        "unknown_indicator": _("Unknown indicator."),
        "negative_weight": _("Weights are numbers, not negative."),
        "bands_missing": _("Give the bands."),
        "unknown_band": _("Unknown band."),
        "band_steps": _("Give the band's steps as [lowest value, score] pairs."),
        "bands_order": _("Bands start at 0 and their lowest values rise."),
        "band_score": _("Band scores are between 0 and 100."),
        "grade_steps": _("Give the grades as [cut-off, letter] pairs."),
        "grades_order": _("Grade cut-offs fall from the best grade to the worst."),
        "grade_letter": _("A letter."),
    }
    return sentences.get(code, code)


def create_rule_version(
    session: Session,
    actor: User,
    effective_from: date,
    changes: Mapping[str, Any],
    note: str | None = None,
    now: datetime | None = None,
) -> EvaluationRuleVersion:
    """Add a rules version from a date on; parts not given are the version then in force's.

    A version never takes effect before today: a past period keeps the rules it was scored
    with, so last month's ranking comes out the same next year.
    """
    today = workflow.local_day(now or datetime.now(UTC))
    if effective_from < today:
        raise ValidationFailed(
            _("A new rules version can't take effect in the past."),
            errors={"effective_from": _("Today or later.")},
        )
    taken = session.scalar(
        select(EvaluationRuleVersion).where(EvaluationRuleVersion.effective_from == effective_from)
    )
    if taken is not None:
        raise ValidationFailed(
            _("A rules version already takes effect on that day."),
            errors={"effective_from": _("Version %(v)s starts that day.", v=taken.version)},
        )
    current = rules_in_force(session, effective_from)
    rules = {**current.rules, **{k: v for k, v in changes.items() if v is not None}}
    if "weights" in changes and changes["weights"] is not None:
        weights = {kind: dict(table) for kind, table in current.rules["weights"].items()}
        for kind, table in changes["weights"].items():
            weights[kind] = {**weights.get(kind, {}), **table} if isinstance(table, dict) else table
        rules["weights"] = weights
    if "bands" in changes and changes["bands"] is not None:
        rules["bands"] = {**current.rules["bands"], **changes["bands"]}
    problems = workflow.validate_rules(rules)
    if problems:
        raise ValidationFailed(
            _("The rules are not valid."),
            errors={path: _problem_sentence(code) for path, code in problems.items()},
        )
    version = (session.scalar(select(func.max(EvaluationRuleVersion.version))) or 0) + 1
    row = EvaluationRuleVersion(
        version=version,
        effective_from=effective_from,
        rules=rules,
        note=note,
        created_by=actor.id,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        "admin.evaluation_rules.create",
        target_type="evaluation_rule_version",
        target_id=version,
        before={"version": current.version, "rules": current.rules},
        after={"version": version, "effective_from": effective_from.isoformat(), "rules": rules},
    )
    return row


# --- the ranking ---------------------------------------------------------------------------


def subject_names(session: Session, kind: workflow.Kind, subjects: Iterable[str]) -> dict[str, str]:
    """Return the display name of each subject (a user, a department, an area)."""
    wanted = list(subjects)
    if not wanted:
        return {}
    if kind in ROLE_OF_KIND:
        ids = [int(s) for s in wanted if s.isdigit()]
        return {
            str(uid): name or username
            for uid, name, username in session.execute(
                select(User.id, User.display_name, User.username).where(User.id.in_(ids))
            )
        }
    if kind is K.departments:
        return dict(
            session.execute(
                select(Department.code, Department.name).where(Department.code.in_(wanted))
            ).all()
        )
    return {
        code: name
        for code, name in session.execute(
            select(Area.code, Area.name).where(Area.code.in_(wanted))
        ).all()
    }


def _user_subjects(session: Session, kind: workflow.Kind, subjects: Iterable[str]) -> set[str]:
    ids = [int(s) for s in subjects if s.isdigit()]
    role = ROLE_OF_KIND[kind]
    return {
        str(uid)
        for uid in session.scalars(select(User.id).where(User.id.in_(ids), User.role == role))
    }


def evaluate(
    session: Session,
    user: User,
    kind: workflow.Kind,
    start: date,
    end: date,
    *,
    level: str = "street",
    subject: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rank the subjects of one kind over a period (to inclusive), with the rules then in force."""
    check_period(start, end)
    scope = evaluation_scope(user, kind)
    now = now or datetime.now(UTC)
    rules = rules_in_force(session, start)
    totals = sum_counts(session, kind, level, start, end, scope.district, now)
    if kind in ROLE_OF_KIND:
        keep = _user_subjects(session, kind, totals)
        totals = {s: t for s, t in totals.items() if s in keep}
    constants: dict[str, dict[str, float]] = {}
    if kind is K.areas:
        for code, km2 in session.execute(
            select(Area.code, Area.area_km2).where(Area.code.in_(list(totals)))
        ):
            constants[code] = {"area_km2": round(float(km2), 4)}
    scored = [
        workflow.score_subject(kind, name, counts, rules.rules, constants.get(name))
        for name, counts in totals.items()
    ]
    ranked = workflow.rank(scored)
    wanted = scope.own_subject or subject
    if wanted is not None:
        ranked = [(item, place) for item, place in ranked if item.subject == wanted]
    names = subject_names(session, kind, [item.subject for item, _place in ranked])
    key = "id" if kind in ROLE_OF_KIND else "code"
    items = []
    for item, place in ranked:
        ident: int | str = int(item.subject) if key == "id" else item.subject
        items.append(
            {
                "subject": {key: ident, "name": names.get(item.subject, item.subject)},
                "indicators": {
                    name: {
                        "numerator": _number(numerator),
                        "denominator": None if denominator is None else _number(denominator),
                        "value": None
                        if item.values[name] is None
                        else round(item.values[name] or 0, 2),
                    }
                    for name, (numerator, denominator) in item.counts.items()
                },
                "score": None if item.score is None else round(item.score, 2),
                "grade": item.grade,
                "rank": place,
            }
        )
    return {
        "from": start,
        "to": end,
        "kind": kind.value,
        "level": level if kind is K.areas else None,
        "rules_version": rules.version,
        "items": items,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 4)


def explain(
    session: Session,
    user: User,
    kind: workflow.Kind,
    start: date,
    end: date,
    *,
    subject: str,
    indicator: str,
    level: str = "street",
    now: datetime | None = None,
) -> dict[str, Any]:
    """List the cases behind one indicator's numerator and denominator, with their events."""
    check_period(start, end)
    scope = evaluation_scope(user, kind)
    if scope.own_subject is not None and subject != scope.own_subject:
        raise Forbidden(_("You may read only your own numbers."))
    if not subject:
        raise ValidationFailed(
            _("Name whose number to explain."),
            errors={"subject": _("A user id or a code, with explain.")},
        )
    rows = {row.name: row for row in workflow.INDICATORS[kind]}
    if indicator not in rows:
        raise ValidationFailed(
            _("Unknown indicator."),
            errors={"explain": _("One of: %(names)s.", names=", ".join(rows))},
        )
    row = rows[indicator]
    sides = {row.numerator: workflow.evaluation.NUMERATOR}
    if row.denominator and not row.denominator.startswith("@"):
        sides[row.denominator] = workflow.evaluation.DENOMINATOR
    cases: list[dict[str, Any]] = []
    counts = {workflow.evaluation.NUMERATOR: 0, workflow.evaluation.DENOMINATOR: 0}
    now = now or datetime.now(UTC)
    for item in count_live(session, kind, level, start, end, scope.district, now):
        if item.hit.subject != subject or item.counter not in sides:
            continue
        # A counter may be both sides of one indicator only in name; each side is listed.
        for counter, side in sides.items():
            if counter != item.counter:
                continue
            counts[side] += 1
            cases.append(
                {
                    "case_id": item.case.case_id,
                    "number": item.case.number,
                    "side": side,
                    "counted_at": item.hit.at,
                    "event": {
                        "seq": item.hit.event.seq,
                        "action": item.hit.event.action,
                        "at": item.hit.event.at,
                    },
                }
            )
    cases.sort(key=lambda c: (c["side"] != "numerator", c["case_id"], c["event"]["seq"]))
    return {
        "from": start,
        "to": end,
        "kind": kind.value,
        "subject": subject,
        "indicator": indicator,
        "numerator": counts[workflow.evaluation.NUMERATOR],
        "denominator": counts[workflow.evaluation.DENOMINATOR] if len(sides) > 1 else None,
        "cases": cases,
    }


# --- snapshots -----------------------------------------------------------------------------


def snapshot_days(session: Session, first: date, last: date, now: datetime | None = None) -> int:
    """Store every kind's daily counts for [first, last]; recomputing a day replaces it.

    Returns the rows written. Days from today on are not stored: they are still moving.
    """
    now = now or datetime.now(UTC)
    last = min(last, workflow.local_day(now) - timedelta(days=1))
    if last < first:
        return 0
    session.execute(
        delete(EvaluationSnapshot).where(
            EvaluationSnapshot.day >= first, EvaluationSnapshot.day <= last
        )
    )
    written = 0
    since, until = local_start(first), local_start(last + timedelta(days=1))
    histories = load_histories(session, since - LOOKBACK, until, None)
    workers = grid_workers_by_grid(session)
    for kind in workflow.Kind:
        for level in workflow.evaluation.AREA_LEVELS if kind is K.areas else ("",):
            ctx = workflow.Context(now=now, grid_workers=workers, level=level or "street")
            sums: dict[tuple[date, str, str, str], int] = defaultdict(int)
            for case in histories:
                for counter, hit in workflow.count_case(kind, case, ctx):
                    if since <= hit.at < until:
                        key = (
                            workflow.local_day(hit.at),
                            hit.subject,
                            counter,
                            case.district_code or "",
                        )
                        sums[key] += 1
            session.add_all(
                EvaluationSnapshot(
                    day=day,
                    kind=kind.value,
                    level=level,
                    subject=subject,
                    counter=counter,
                    district_code=district,
                    count=count,
                )
                for (day, subject, counter, district), count in sums.items()
            )
            written += len(sums)
    day = first
    while day <= last:
        marked = session.get(EvaluationSnapshotDay, day)
        if marked is None:
            session.add(EvaluationSnapshotDay(day=day, computed_at=now))
        else:
            marked.computed_at = now
        day += timedelta(days=1)
    session.flush()
    return written
