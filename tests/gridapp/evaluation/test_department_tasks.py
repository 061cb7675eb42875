"""The departments' tasks counted in SQL (`gridapp.evaluation.tasks`) are `count_live`'s.

Histories of every kind a department task has (signed for in time or late, extended, suspended
and resumed, returned, reworked, handled late or never, closed, several departments in turn,
deadlines written with another offset or none at all, events out of time order), drawn at
random around a month boundary, are counted both ways for several periods, moments and scopes.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select, text

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.catalogue.models import Category
from gridapp.evaluation import tasks
from gridapp.evaluation.models import TASK_DEADLINE_INDEX
from gridapp.evaluation.services import LOOKBACK, count_live, department_totals, evaluate
from gridapp.evaluation.tasks import DEPARTMENT_COUNTERS
from tests.gridapp.case_helpers import write_history

Z = workflow.LOCAL_ZONE
A = workflow.Action
COUNTY = "430423"
OTHER = "430499"
DEPARTMENTS = ("sanitation", "municipal", "power")
_numbers = count(1)

Event = tuple[str, str, datetime, dict[str, Any]]


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=Z).astimezone(UTC)


def stamp(moment: datetime, rng: random.Random) -> str:
    """A deadline as the application writes it, now and then with another offset or without
    microseconds (both parse to the same instant)."""
    roll = rng.random()
    if roll < 0.15:
        return moment.astimezone(Z).isoformat()
    if roll < 0.3:
        return moment.replace(microsecond=0).isoformat()
    return moment.isoformat()


def make_case(
    session: Any, category: str, created: datetime, events: list[Event], district: str = COUNTY
) -> Case:
    case = Case(
        number=f"DT{next(_numbers):08d}",
        process="urban",
        state="reported",
        version=1,
        source="grid_worker",
        category_code=category,
        description="department task history",
        district_code=district,
        created_at=created,
        updated_at=created,
    )
    session.add(case)
    session.flush()
    steps = [(action, to_state, at, "system", data) for action, to_state, at, data in events]
    case.state = write_history(session, case, "grid_worker", steps)
    session.flush()
    return case


class Story:
    """One case's history drawn step by step, each step a little after the last."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.at = start
        self.events: list[Event] = []
        self.deadline: datetime | None = None  # the latest one written

    def later(self) -> datetime:
        scale = self.rng.choice((600.0, 3 * 3600.0, 2 * 86400.0, 9 * 86400.0))
        self.at += timedelta(seconds=self.rng.expovariate(1 / scale), microseconds=7)
        return self.at

    def add(self, action: str, to_state: str, data: dict[str, Any] | None = None) -> None:
        self.events.append((action, to_state, self.later(), data or {}))

    def sets(self, key: str, hours: float) -> None:
        """The last event sets a deadline ``hours`` (more or less) after it, written as the
        application does, now and then not at all or as something that is no time."""
        moment = self.at + timedelta(hours=hours * self.rng.uniform(0.2, 2.0))
        roll = self.rng.random()
        if roll < 0.04:
            return
        if roll < 0.06:
            self.events[-1][3][key] = "next Tuesday"
            return
        text = stamp(moment, self.rng)
        self.events[-1][3][key] = text
        self.deadline = datetime.fromisoformat(text)

    def stay(self) -> bool:
        """Dispatch to a department and go on; False when the history stops there."""
        rng = self.rng
        department: Any = rng.choice(DEPARTMENTS)
        if rng.random() < 0.05:
            department = None if rng.random() < 0.5 else 42
        self.add("dispatch", "dispatched", {} if department is None else {"department": department})
        self.sets("deadline", 0.5)
        if rng.random() < 0.1:
            return False  # never signed for: due once its deadline passes
        self.add("acknowledge", "handling")
        self.sets("deadline", 72)
        while rng.random() < 0.3:
            self.add("supervise", "handling")
        if rng.random() < 0.15:
            self.add("request_extension", "extension_requested")
            if rng.random() < 0.7:
                self.add("approve_extension", "handling")
                self.sets("until", 120)
            else:
                self.add("deny_extension", "handling")
        if rng.random() < 0.12:
            self.add("request_suspension", "suspension_requested")
            self.add("approve_suspension", "suspended")
            if rng.random() < 0.2:
                return False  # still suspended
            self.add("resume", "handling")
            self.sets("deadline", 48)
        if rng.random() < 0.1:
            self.add("request_return", "return_requested")
            if rng.random() < 0.7:
                self.add("approve_return", "filed")
                return True
            self.add("deny_return", "handling")
        if rng.random() < 0.1:
            return False  # never handled
        if self.deadline is not None and self.deadline > self.at and rng.random() < 0.3:
            # Handled at the very instant the deadline runs out: in time (late is after it).
            self.at = self.deadline
            self.events.append(("feedback", "handled", self.at, {}))
        else:
            self.add("feedback", "handled")
        while True:
            self.add("assign_verification", "verifying")
            self.add("verify_reply", "verified")
            if rng.random() < 0.2:
                self.add("rework", "handling")
                self.add("feedback", "handled")
                continue
            break
        if rng.random() < 0.1:
            return True  # verified, then sent to another department
        self.add("close", "closed")
        if rng.random() < 0.3:
            self.add("evaluate", "evaluated")
        return False


def story(rng: random.Random, start: datetime) -> list[Event]:
    told = Story(rng, start)
    told.add("accept", "accepted")
    told.add("file", "filed")
    for _ in range(3):
        if not told.stay():
            break
    if rng.random() < 0.05 and len(told.events) > 3:
        # An event stamped before the one ahead of it (a clock set wrong).
        action, state, at, data = told.events[-1]
        told.events[-1] = (action, state, at - timedelta(days=rng.uniform(0, 3)), data)
    return told.events


@pytest.fixture()
def histories(session: Any) -> int:
    """Two hundred histories drawn from January to April 2026."""
    category = session.scalar(select(Category.code).order_by(Category.code).limit(1))
    rng = random.Random(2026)
    begin = local(1, 1)
    for _ in range(200):
        start = begin + timedelta(seconds=rng.uniform(0, 105 * 86400))
        district = OTHER if rng.random() < 0.1 else COUNTY
        make_case(session, category, start, story(rng, start), district)
    return 200


PERIODS = (
    (date(2026, 2, 1), date(2026, 2, 28)),
    (date(2026, 3, 1), date(2026, 3, 31)),
    (date(2026, 2, 27), date(2026, 3, 2)),
    (date(2026, 3, 3), date(2026, 3, 3)),
    (date(2026, 1, 1), date(2026, 4, 30)),
)
NOWS = (local(3, 10, 12), local(6, 1))


def by_python(
    session: Any, first: date, last: date, district: str | None, now: datetime
) -> dict[str, dict[str, int]]:
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for item in count_live(
        session, workflow.Kind.departments, "street", first, last, district, now
    ):
        counted[item.hit.subject][item.counter] += 1
    return {subject: dict(counts) for subject, counts in counted.items()}


def test_the_sql_counts_are_count_lives(session, histories):
    seen: Counter[str] = Counter()
    for now in NOWS:
        for district in (None, COUNTY):
            for first, last in PERIODS:
                expected = by_python(session, first, last, district, now)
                got = department_totals(session, first, last, district, now)
                assert got == expected, (first, last, district, now)
                for counts in expected.values():
                    seen.update(counts)
    # Every counter counted something, late tasks too: the comparison is not of empty sets.
    assert set(seen) == set(DEPARTMENT_COUNTERS)
    assert seen["due_on_time"] < seen["due"]


def test_the_counts_in_parts_add_up_to_the_whole(session, histories):
    """A month counted in parts of the cases (as PostgreSQL's connections count it at once)
    gives what one statement gives: every case and its tasks in exactly one part."""
    for first, last in PERIODS[:2]:
        since = local(first.month, first.day)
        until = local(last.month, last.day) + timedelta(days=1)
        whole = department_totals(session, first, last, None, NOWS[1])
        assert whole
        for n in (2, 3):
            parts = [
                session.execute(
                    tasks.department_tasks_statement(
                        session, since, until, since - LOOKBACK, None, NOWS[1], (k, n)
                    )
                ).all()
                for k in range(n)
            ]
            assert all(parts), "each part holds tasks: the split is not all-in-one"
            assert tasks.add_up(parts) == whole, (first, n)


def test_a_ranking_of_departments_has_those_counts(session, histories):
    admin = session.scalar(select(User).where(User.role == workflow.Role.admin))
    first, last, now = date(2026, 3, 1), date(2026, 3, 31), NOWS[1]
    answer = evaluate(session, admin, workflow.Kind.departments, first, last, now=now)
    expected = by_python(session, first, last, None, now)
    assert {
        item["subject"]["code"]: (
            item["indicators"]["closure"]["denominator"],
            item["indicators"]["closure"]["numerator"],
            item["indicators"]["on_time_handling"]["numerator"],
            item["indicators"]["rework"]["numerator"],
        )
        for item in answer["items"]
    } == {
        code: (
            counts["due"],
            counts.get("due_closed", 0),
            counts.get("due_on_time", 0),
            counts.get("reworks", 0),
        )
        for code, counts in expected.items()
    }


def test_only_cases_read_in_the_look_back_count(session):
    """Two tasks extended until 3 March, dispatched in November: the one untouched since is
    outside March's look-back (count_live never reads it), the one supervised on 1 February
    is read and falls due late on 3 March."""
    category = session.scalar(select(Category.code).order_by(Category.code).limit(1))
    old = local(11, 3) - timedelta(days=365)
    extended: list[Event] = [
        (
            "dispatch",
            "dispatched",
            old + timedelta(hours=1),
            {"department": "archive", "deadline": (old + timedelta(hours=2)).isoformat()},
        ),
        (
            "acknowledge",
            "handling",
            old + timedelta(hours=1, minutes=5),
            {"deadline": (old + timedelta(days=3)).isoformat()},
        ),
        (
            "approve_extension",
            "handling",
            old + timedelta(days=2),
            {"until": local(3, 3).isoformat()},
        ),
    ]
    make_case(session, category, old, extended)
    make_case(session, category, old, [*extended, ("supervise", "handling", local(2, 1), {})])
    first, last, now = date(2026, 3, 3), date(2026, 3, 3), local(6, 1)

    counted = department_totals(session, first, last, None, now)

    assert counted["archive"] == {"due": 1}
    assert counted == by_python(session, first, last, None, now)
    assert local(2, 1) >= local(3, 1) - LOOKBACK > local(11, 3) - timedelta(days=365)


def test_the_module_counts_the_department_tables_counters():
    assert set(DEPARTMENT_COUNTERS) == set(
        workflow.evaluation.counted_names(workflow.Kind.departments)
    )


def test_the_migrations_make_the_deadline_index(session):
    """The drift check passes over indexes on expressions: this one is made by migration 0026,
    and SQLite reads the period's deadlines through it (without statistics too)."""
    # Neither backend's reflection lists an index on expressions: the catalogues do.
    catalogue = {
        "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'case_event'",
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'case_event'",
    }[session.get_bind().dialect.name]
    names = set(session.scalars(text(catalogue)))
    assert TASK_DEADLINE_INDEX.name in names
    if session.get_bind().dialect.name == "sqlite":
        candidates = tasks._candidates(tasks._Sqlite(), local(3, 1), local(4, 1), None)
        sql = candidates.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        plan = " ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        assert TASK_DEADLINE_INDEX.name in plan
