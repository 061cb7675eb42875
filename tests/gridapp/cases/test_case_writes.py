"""A case written by `update_loaded` (one Core UPDATE) is the case a flush would have written.

The action path sends the case's UPDATE itself (`gridapp.core.rows.update_loaded`) and keeps
``warn_at`` as the flush hook would (`gridapp.cases.clock.keep_warn_at`). These tests change a
case at random, write it once each way inside a savepoint, and compare what the database then
holds, and that the object is left clean as a flush leaves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import workflow
from gridapp.calendar.services import work_calendar
from gridapp.cases.actions import act_on_case
from gridapp.cases.clock import keep_warn_at, warning_time
from gridapp.cases.models import Case
from gridapp.core.rows import update_loaded
from tests.gridapp.cases.test_entered_states import _new_case, _user

MOMENTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
# Column changes an action makes, each drawn or left alone (None: not touched).
CHANGES: dict[str, st.SearchStrategy[Any]] = {
    "state": st.sampled_from([s.value for s in workflow.State]),
    "version": st.integers(1, 10**6),
    "department_code": st.sampled_from([None, "sanitation"]),
    "handler_id": st.sampled_from([None, 1, 2]),
    "step_started_at": MOMENTS,
    "deadline": st.one_of(st.none(), MOMENTS),
    "paused_at": st.one_of(st.none(), MOMENTS),
    "step_pauses": st.lists(
        st.lists(st.just("2026-02-01T00:00:00+00:00"), min_size=2, max_size=2), max_size=2
    ),
    "urgency": st.sampled_from(["normal", "urgent"]),
    "rework_count": st.integers(0, 5),
    "satisfied": st.sampled_from([None, True, False]),
    "updated_at": MOMENTS,
}


def _row(session: Any, case_id: int) -> dict[str, Any]:
    row = session.execute(select(Case.__table__).where(Case.__table__.c.id == case_id)).one()
    return dict(row._mapping)


def _apply(case: Case, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(case, name, [list(pair) for pair in value] if name == "step_pauses" else value)


def _written(
    session: Any, case: Case, changes: dict[str, Any], *, core: bool, expired: bool = False
) -> dict[str, Any]:
    nested = session.begin_nested()
    if expired:
        session.expire(case)
    try:
        _apply(case, changes)
        if core:
            keep_warn_at(session, [case])
            update_loaded(session, case)
            assert case not in session.dirty, "left clean, as a flush leaves it"
        else:
            session.flush()
        written = _row(session, case.id)
        held = {c.key: getattr(case, c.key) for c in Case.__table__.columns}
        assert held == written, "the object holds what was written"
        return written
    finally:
        nested.rollback()
        session.refresh(case)  # loaded afresh, as the action path loads it


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.fixed_dictionaries({}, optional=CHANGES), st.booleans())
def test_a_core_update_writes_what_the_flush_writes(client, app, session, changes, expired):
    case = session.get(Case, _shared_case(client, app, session))
    assert case is not None
    by_flush = _written(session, case, changes, core=False, expired=expired)
    by_core = _written(session, case, changes, core=True, expired=expired)
    assert by_core == by_flush, repr(sorted(changes.items()))


_CASES: dict[int, int] = {}


def _shared_case(client: Any, app: Any, session: Any) -> int:
    # One reported case per test run (the session's outer transaction holds it).
    key = id(session)
    if key not in _CASES:
        _CASES.clear()
        _CASES[key] = _new_case(client, app, session).id
    return _CASES[key]


def test_other_pending_changes_are_flushed_first_and_the_case_with_them(client, app, session):
    case = _new_case(client, app, session)
    other = _new_case(client, app, session)
    other.description = "changed first"
    case.urgency = "urgent"
    update_loaded(session, case)
    assert not session.dirty
    assert _row(session, other.id)["description"] == "changed first"
    assert _row(session, case.id)["urgency"] == "urgent"


def test_an_action_keeps_warn_at_as_the_flush_hook_does(client, app, session):
    case = _new_case(client, app, session)
    acted = act_on_case(
        session, _user(session, "acceptor"), case.id, "accept", {}, f'"{case.version}"'
    )
    written = _row(session, acted.case.id)
    assert written["version"] == case.version and written["state"] == acted.case.state
    assert written["warn_at"] is not None
    assert written["warn_at"] == warning_time(acted.case, work_calendar(session))


def test_a_savepoint_rolled_back_expires_the_case_as_after_a_flush(client, app, session):
    case = _new_case(client, app, session)
    before = case.urgency
    nested = session.begin_nested()
    case.urgency = "urgent" if before == "normal" else "normal"
    update_loaded(session, case)
    nested.rollback()
    assert case.urgency == before, "read again from the row the savepoint left"
