"""A case list's statement is built once per shape, its values bound (`list_cases`): it must
select and order exactly what the same filters written with their values in select.

The general path here is the statement made for one use (`filter_conditions`, `case_scope`,
the values in the SQL); the fast path is `list_cases`, walked page by page by its cursor.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select

import workflow
from bench.bench_city import tile_xy
from geo.tiles import BUFFER, decode_tile, tile_bounds_lonlat
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.cases.queries import (
    _SORT_COLUMNS,
    NULLABLE,
    CaseFilters,
    CaseSort,
    filter_conditions,
    list_cases,
)
from gridapp.cases.scope import case_scope
from gridapp.cases.tiles import END_STATES, LAYER, case_tile
from tests.gridapp.case_helpers import grid_point, report

T = TypeVar("T")
MARK = "bound-list-5e2"
STATES = ("reported", "filed", "handling", "verifying", "suspended", "closed")
USERS = (
    "admin",
    "acceptor",
    "handler",
    "handler2",
    "grid_worker",
    "grid_worker2",
    "community_center",
    "street_center",
    "audit_admin",
)


def _cases(client: Any, auth: Any, session: Any, now: datetime) -> list[Case]:
    """Cases of both workers' grids in every kind of state and clock (paused, overdue, none)."""
    made = []
    for username in ("grid_worker", "grid_worker2"):
        worker = auth(username)
        me = client.get("/api/v1/auth/me", headers=worker).get_json()
        for grid in me["grids"][:2]:
            point = grid_point(client, worker, grid)
            for n in range(4):
                answer = report(client, worker, *point, description=f"{MARK} {username} {n}")
                assert answer.status_code == 201, answer.get_json()
                made.append(session.get(Case, answer.get_json()["id"]))
    rng = random.Random(11)
    for n, case in enumerate(made):
        case.state = STATES[n % len(STATES)]
        case.department_code = rng.choice((None, "urban-enforcement", "sanitation"))
        case.source = rng.choice(("grid_worker", "hotline"))
        case.urgency = "urgent"  # natural hours: nothing depends on today's working hours
        case.step_started_at = now - timedelta(hours=rng.choice((1, 10, 30)))
        case.deadline = rng.choice((None, now + timedelta(hours=rng.choice((-5, 1, 9)))))
        case.paused_at = rng.choice((None, None, now - timedelta(hours=2)))
        # A few share a deadline, so the cursor's (value, id) tie-break is walked too.
        if n % 5 == 0 and case.deadline is not None:
            case.deadline = now + timedelta(hours=3)
    session.flush()  # warn_at follows the clock on flush
    return made


def _general(
    session: Any, user: User, filters: CaseFilters, sort: CaseSort, now: datetime
) -> list[int]:
    """Every case the filters select, in the list's order: the statement made for one use."""
    descending = sort.value.startswith("-")
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    first = column.desc() if descending else column.asc()
    if column.key in NULLABLE:
        first = first.nulls_last()
    order = [first] if column is Case.id else [first, Case.id.desc() if descending else Case.id]
    query = select(Case.id).where(case_scope(user), *filter_conditions(filters, now))
    return list(session.scalars(query.order_by(*order)))


def _walked(
    session: Any, user: User, filters: CaseFilters, sort: CaseSort, now: datetime, limit: int
) -> list[int]:
    """Every case `list_cases` gives, page after page by its cursor."""
    found: list[int] = []
    cursor = None
    while True:
        page, cursor = list_cases(
            session, user, filters, sort=sort, cursor=cursor, limit=limit, now=now
        )
        found.extend(case.id for case in page)
        assert len(found) <= 200, "the cursor does not move on"
        if cursor is None:
            return found


def _filters(rng: random.Random, cases: list[Case], now: datetime) -> CaseFilters:
    one = rng.choice(cases)

    def maybe(value: T) -> T | None:
        return value if rng.random() < 0.2 else None

    return CaseFilters(
        states=rng.choice(((), (one.state,), tuple(rng.sample(STATES, 2)))),
        category=maybe(one.category_code),
        street=maybe(one.street_code),
        community=maybe(one.community_code),
        grid=maybe(one.grid_code),
        department=maybe(one.department_code),
        source=maybe(one.source),
        process=maybe(one.process),
        overdue=rng.choice((None, None, True, False)),
        due_before=maybe(now + timedelta(hours=rng.choice((-1, 2, 5)))),
        reported_from=maybe(now - timedelta(days=1)),
        reported_to=maybe(now + timedelta(days=1)),
        text=rng.choice((None, None, None, MARK, "grid_worker2", "%", "no such words")),
        sla=rng.choice((None, None, *workflow.SlaState)),
    )


def test_bound_statements_list_what_the_literal_ones_select(client, auth, session):
    now = datetime.now(UTC).replace(microsecond=0)
    cases = _cases(client, auth, session, now)
    users = {u: session.scalar(select(User).where(User.username == u)) for u in USERS}
    rng = random.Random(5)
    shapes = set()
    nonempty = 0
    for _ in range(240):
        user = users[rng.choice(USERS)]
        filters = _filters(rng, cases, now)
        sort = rng.choice(list(CaseSort))
        expected = _general(session, user, filters, sort, now)
        assert _walked(session, user, filters, sort, now, rng.choice((1, 2, 3, 50))) == expected
        shapes.add((user.role, sort, filters.overdue, filters.sla, bool(filters.states)))
        nonempty += bool(expected)
    # The draws reached many shapes, and a good part of them selected something.
    assert len(shapes) > 100 and nonempty > 50, (len(shapes), nonempty)


def test_case_tiles_hold_what_the_literal_conditions_select(client, auth, session):
    """The open-cases tile's statement is bound the same way (`gridapp.cases.tiles`)."""
    now = datetime.now(UTC).replace(microsecond=0)
    cases = _cases(client, auth, session, now)
    users = {u: session.scalar(select(User).where(User.username == u)) for u in USERS}
    z = 11
    x, y = tile_xy(cases[0].lon, cases[0].lat, z)
    west, south, east, north = tile_bounds_lonlat(z, x, y, BUFFER)
    rng = random.Random(8)
    nonempty = 0
    for _ in range(100):
        user = users[rng.choice(USERS)]
        filters = _filters(rng, cases, now)
        literal = select(Case.id).where(
            case_scope(user),
            *filter_conditions(filters, now),
            Case.state.not_in(END_STATES),
            Case.lon.between(west, east),
            Case.lat.between(south, north),
        )
        expected = sorted(session.scalars(literal))
        data = case_tile(session, user, z, x, y, filters=filters, now=now)
        shown = sorted(f["id"] for f in decode_tile(data).get(LAYER, [])) if data else []
        assert shown == expected
        nonempty += bool(expected)
    assert nonempty > 10, nonempty
