"""When a case entered each state, as the transaction knows it, is what the history says.

``states_entered`` is read once per transaction and case and kept in step by ``append_event``
(the write path lists the actions of the case it answers without reading the history again);
these tests compare what it answers with a fresh read of the history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

import workflow
from gridapp.accounts.models import User
from gridapp.cases.actions import act_on_case
from gridapp.cases.history import ENTERED_KEY, states_entered
from gridapp.cases.intake import report_case
from gridapp.cases.models import Case
from tests.gridapp.case_helpers import grid_point
from tests.gridapp.conftest import login_headers


def _fresh_read(session: Any, case_id: int) -> dict[Any, Any]:
    session.info.pop(ENTERED_KEY, None)
    return states_entered(session, case_id)


def _user(session: Any, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def _new_case(client: Any, app: Any, session: Any) -> Case:
    worker = login_headers(client, "grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    lon, lat = grid_point(client, worker, me["grids"][0])
    reported = report_case(
        session,
        app.config["GRIDAPP"],
        _user(session, "grid_worker"),
        category="SJ0102",
        description="暴露垃圾 on the pavement",
        lon=lon,
        lat=lat,
    )
    return reported.case


def test_a_new_case_and_each_action_on_it_agree_with_the_history(client, app, session):
    case = _new_case(client, app, session)
    known = states_entered(session, case.id)
    assert known == _fresh_read(session, case.id)
    state = workflow.State(case.state)
    assert list(known) == [state] and known[state] == case.created_at

    states_entered(session, case.id)  # read once: the action below keeps it in step
    acted = act_on_case(
        session, _user(session, "acceptor"), case.id, "accept", {}, f'"{case.version}"'
    )
    assert acted.event is not None
    kept = states_entered(session, case.id)
    assert kept[workflow.State(acted.case.state)] == acted.event.created_at
    assert kept == _fresh_read(session, case.id)


def test_a_commit_or_a_rollback_forgets_what_the_transaction_knew(client, app, session):
    case = _new_case(client, app, session)
    case_id = case.id
    states_entered(session, case_id)
    session.commit()
    assert ENTERED_KEY not in session.info

    states_entered(session, case_id)
    session.rollback()
    assert ENTERED_KEY not in session.info
