"""A case's JSON at list speed: the compiled dump writes what marshmallow's machinery writes,
a page reads its likely duplicates in one query, and a page's statements do not grow with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import g
from marshmallow import Schema
from sqlalchemy import event, select

from gridapp.accounts.models import User
from gridapp.cases.duplicates import likely_duplicates, likely_duplicates_of
from gridapp.cases.models import Case
from gridapp.cases.schemas import ActionResultSchema, CaseSchema, compile_dump, dumping
from tests.gridapp.case_helpers import report
from tests.gridapp.cases.test_duplicates import north_of, open_case


@pytest.fixture()
def origin(app: Any, client: Any, auth: Any) -> tuple[float, float]:
    from tests.gridapp.case_helpers import grid_point

    grid = app.config["DEMO_REPORT"].users[0].grids[0]
    return grid_point(client, auth("grid_worker"), grid)


def _cluster(session: Any, app: Any, origin: tuple[float, float]) -> list[Case]:
    """Open cases a few metres apart (likely duplicates of each other), one of another class,
    one out of the window and one beyond the radius."""
    cases = [open_case(session, app, *north_of(origin, 7 * n)) for n in range(6)]
    cases.append(open_case(session, app, *north_of(origin, 3), category="SJ0101"))
    late = open_case(session, app, *north_of(origin, 5))
    late.created_at = cases[0].created_at + timedelta(hours=30)
    cases.append(late)
    cases.append(open_case(session, app, *north_of(origin, 140)))
    session.flush()
    return cases


def test_a_page_reads_the_duplicates_each_case_would_read_alone(session, app, origin):
    cases = _cluster(session, app, origin)
    together = likely_duplicates_of(session, cases)
    alone = {case.id: likely_duplicates(session, case) for case in cases}
    assert together == alone
    # Not vacuous: the cluster's cases find each other, nearest first.
    assert len(together[cases[0].id]) >= 4
    assert together[cases[0].id][0].id == cases[1].id


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("username", ["acceptor", "dispatcher", "handler", "grid_worker", "admin"])
def test_the_compiled_dump_writes_what_marshmallow_writes(app, session, origin, username, language):
    cases = _cluster(session, app, origin)
    _spread(session, cases)
    assert len({case.state for case in cases}) > 4
    schema = CaseSchema()
    writer = compile_dump(schema)
    assert writer is not None
    user = session.scalar(select(User).where(User.username == username))
    now = datetime.now(UTC)
    with app.test_request_context("/", headers={"Accept-Language": language}):
        g.user = user
        with dumping(cases, now):
            for case in cases:
                # Schema._serialize: marshmallow's own per-field machinery, field by field.
                assert writer(case) == Schema._serialize(schema, case), case.id
            # The page's dump is the same as one case's at a time (no state between cases).
            page = schema.dump(cases, many=True)
        assert page == [schema.dump(case) for case in cases] or _only_clock_moved(page, cases)


def _spread(session: Any, cases: list[Case]) -> None:
    """Put the cases in states and clocks a list shows: handled, overdue, paused, closed."""
    now = datetime.now(UTC)
    handler = session.scalar(select(User).where(User.username == "handler"))
    worker = session.scalar(select(User).where(User.username == "grid_worker"))
    handling, overdue, paused, verifying, closed = cases[1:6]
    for case in (handling, overdue, paused):
        case.state = "handling"
        case.department_code = handler.department_code
        case.handler_id = handler.id
        case.step_started_at = now - timedelta(days=2)
        case.deadline = now + timedelta(days=3)
    overdue.deadline = now - timedelta(hours=5)
    overdue.urgency = "urgent"
    paused.state = "suspended"
    paused.paused_at = now - timedelta(hours=1)
    paused.step_pauses = [
        [(now - timedelta(days=1)).isoformat(), (now - timedelta(hours=20)).isoformat()]
    ]
    verifying.state = "verifying"
    verifying.verifier_id = worker.id
    closed.state = "closed"
    closed.closed_at = now
    closed.satisfaction, closed.satisfied, closed.resolved, closed.score = (
        "basically_satisfied",
        True,
        True,
        90,
    )
    cases[0].reporter_contact = {"name": "王", "phone": "13800000000"}
    session.flush()


def _only_clock_moved(page: list[dict[str, Any]], cases: list[Case]) -> bool:
    """A case dumped alone reads the clock later than its page did: only `sla` may differ."""
    return [{k: v for k, v in item.items() if k != "sla"} for item in page] == [
        {k: v for k, v in CaseSchema().dump(case).items() if k != "sla"} for case in cases
    ]


def test_an_action_answer_writes_its_event_as_marshmallow_does(client, auth, app, session, origin):
    # The action's answer nests its event: a kind of field compile_dump leaves to the field's
    # own serialize, in its place among the case's fields.
    from gridapp.cases.actions import act_on_case

    case = _cluster(session, app, origin)[0]
    acceptor = session.scalar(select(User).where(User.username == "acceptor"))
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        g.user = acceptor
        acted = act_on_case(
            session, acceptor, case.id, "reject", {"reason": "not ours"}, f'"{case.version}"'
        )
        schema = ActionResultSchema()
        writer = compile_dump(schema)
        assert writer is not None
        with dumping([acted]):
            written = writer(acted)
            assert written == Schema._serialize(schema, acted)
    assert list(written)[-1] == "event" and written["event"]["action"] == "reject"
    assert written["state"] == acted.case.state


@contextmanager
def _statements(session: Any) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind().engine

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_desk_page_of_reported_cases_costs_the_same_statements_for_2_or_8(
    client, auth, app, session, origin
):
    worker = auth("grid_worker")
    mark = "dump-page-5e2"
    for n in range(8):
        made = report(client, worker, *north_of(origin, 6 * n), description=f"{mark} {n}")
        assert made.status_code == 201, made.get_json()
    acceptor = auth("acceptor")

    def page(limit: int) -> tuple[list[dict[str, Any]], int]:
        with _statements(session) as seen:
            answer = client.get(
                "/api/v1/cases",
                query_string={"q": mark, "state": "reported", "limit": limit},
                headers=acceptor,
            )
        assert answer.status_code == 200, answer.get_json()
        # The statements reading cases and their histories: the per-process caches (calendar,
        # catalogue) re-check their stored versions on timers of their own.
        reads = [sql for sql in seen if '"case"' in sql or "case_event" in sql]
        return answer.get_json()["items"], len(reads)

    page(1)  # the first request of a process fills its caches (calendar, catalogue)
    small, small_statements = page(2)
    large, large_statements = page(8)
    assert len(small) == 2 and len(large) == 8
    assert large_statements == small_statements
    # Each case's duplicates are those its own answer lists (read on its own there).
    for item in large:
        alone = client.get(f"/api/v1/cases/{item['id']}", headers=acceptor).get_json()
        assert item["duplicates"] == alone["duplicates"]
        assert item["actions"] == alone["actions"]
    assert any(item["duplicates"] for item in large)


@pytest.mark.parametrize(
    "username",
    ["acceptor", "dispatcher", "shift_leader", "handler", "dept_admin", "grid_worker", "admin"],
)
def test_a_role_no_row_permits_has_the_actions_available_actions_gives(
    app, session, origin, username
):
    """`CasesDump.may_act` skips the facts when no row leaving the state permits the role:
    in every state of every process the case's actions are still `available_actions`'."""
    import workflow
    from gridapp.cases.actions import available_actions

    cases = _cluster(session, app, origin)
    _spread(session, cases)
    user = session.scalar(select(User).where(User.username == username))
    now = datetime.now(UTC)
    schema = CaseSchema()
    skipped = 0
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        g.user = user
        for process, definition in workflow.PROCESSES.items():
            for state in definition.states:
                for case in cases[:3]:
                    case.process, case.state = process, state.value
                    with dumping([case], now) as dump:
                        rows = available_actions(user, case, now=now)
                        assert schema._actions(case) == [dump.action(row) for row in rows]
                        skipped += not dump.may_act(case)
    assert skipped > 0
