"""Queue lists: the SLA filter of `GET /api/v1/cases` and the exact `total` of a queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from gridapp.cases.models import Case
from gridapp.core.extensions import db
from tests.gridapp.case_helpers import grid_point, report


def _clocked_cases(client: Any, auth: Any, session: Any, mark: str) -> dict[str, int]:
    """Report cases and set their clocks: ok, warning, overdue, and two paused (挂账) ones."""
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])
    now = datetime.now(UTC)
    # (hours since the step started, hours to its deadline, paused): natural hours (urgent),
    # so nothing depends on today's working hours; the warning share is 80 %.
    # A paused clock stands where it stood when the pause began (5 minutes ago).
    clocks = {"ok": (1, 10, False), "warning": (10, 1, False), "overdue": (10, -1, False)}
    clocks |= {"paused_in_time": (1, 10, True), "paused_late": (10, -1, True)}
    ids = {}
    for name, (started, due, paused) in clocks.items():
        made = report(client, worker, *point, description=f"{mark} {name}").get_json()
        case = session.get(Case, made["id"])
        case.urgency = "urgent"
        case.step_started_at = now - timedelta(hours=started)
        case.deadline = now + timedelta(hours=due)
        if paused:
            case.paused_at = now - timedelta(minutes=5)
        ids[name] = case.id
    session.flush()  # warn_at is computed from the clock on flush
    return ids


def _listed(client: Any, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = client.get("/api/v1/cases", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_sla_filter_agrees_with_each_case_clock(client, auth, session):
    ids = _clocked_cases(client, auth, session, "sla-filter-7d1")
    acceptor = auth("acceptor")
    for status, expected in (
        ("warning", {ids["warning"]}),
        ("overdue", {ids["overdue"], ids["paused_late"]}),
        ("ok", {ids["ok"], ids["paused_in_time"]}),
    ):
        page = _listed(client, acceptor, q="sla-filter-7d1", sla=status, sort="deadline")
        assert {c["id"] for c in page["items"]} == expected, status
        assert {c["sla"]["status"] for c in page["items"]} == {status}
    overdue = _listed(client, acceptor, q="sla-filter-7d1", overdue="true")["items"]
    assert {c["id"] for c in overdue} == {ids["overdue"], ids["paused_late"]}
    not_overdue = _listed(client, acceptor, q="sla-filter-7d1", overdue="false")["items"]
    assert {c["id"] for c in not_overdue} == {ids["ok"], ids["warning"], ids["paused_in_time"]}


def test_total_counts_the_whole_queue_not_the_page(client, auth, session):
    ids = _clocked_cases(client, auth, session, "sla-total-9c4")
    acceptor = auth("acceptor")
    page = _listed(client, acceptor, q="sla-total-9c4", limit=1, total="true")
    assert page["total"] == len(ids) and len(page["items"]) == 1 and page["next_cursor"]
    assert _listed(client, acceptor, q="sla-total-9c4", sla="warning", total="true")["total"] == 1
    assert _listed(client, acceptor, q="sla-total-9c4")["total"] is None  # only when asked
    # Scope holds for the count too: another district's desk sees none of them.
    handler2 = auth("handler2")
    assert _listed(client, handler2, q="sla-total-9c4", total="true")["total"] == 0


def test_bad_sla_value_is_a_field_error(client, auth):
    response = client.get("/api/v1/cases", query_string={"sla": "late"}, headers=auth("acceptor"))
    assert response.status_code == 422
    assert "sla" in response.get_json()["errors"]


NAMES = ("category_name", "department_name", "reporter_name", "handler_name")


def test_a_page_names_each_case_as_its_own_answer_does(client, auth, session):
    """A list's names (category, department, reporter, handler) come from the catalogue's copy
    and one query for the page's people, not from joins: each case on the desk's list and in
    the phone's sync names what its own answer names, with and without a department and a
    handler."""
    from tests.gridapp.case_helpers import act, photo_id

    mark = "page-names-4c1"
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])
    handled, waiting = (
        report(client, worker, *point, description=f"{mark} {n}").get_json() for n in range(2)
    )
    handled = act(client, auth("acceptor"), handled, "accept")
    handled = act(client, auth("shift_leader"), handled, "file")
    handled = act(client, auth("dispatcher"), handled, "dispatch")
    handler = auth("handler2")
    handled = act(client, handler, handled, "acknowledge")
    feedback = {"photos": [photo_id(client, handler)], "comment": "cleaned"}
    handled = act(client, handler, handled, "feedback", feedback)
    desk = auth("supervisor")
    own = {
        case["id"]: client.get(f"/api/v1/cases/{case['id']}", headers=desk).get_json()
        for case in (handled, waiting)
    }
    assert all(own[handled["id"]][name] for name in NAMES), own[handled["id"]]
    assert own[waiting["id"]]["department_name"] is None
    assert own[waiting["id"]]["handler_name"] is None
    assert own[waiting["id"]]["reporter_name"] == own[handled["id"]]["reporter_name"]

    listed = _listed(client, desk, q=mark)["items"]
    synced = client.get("/api/v1/mobile/sync", headers=worker)
    assert synced.status_code == 200, synced.get_json()
    fed = [item for item in synced.get_json()["cases"] if item["id"] in own]
    assert len(listed) == len(fed) == 2
    for item in listed + fed:
        assert {name: item[name] for name in NAMES} == {
            name: own[item["id"]][name] for name in NAMES
        }


def test_a_category_the_catalogue_copy_does_not_know_yet_is_read(client, auth, session):
    """Another process's new category can be younger than this process's copy (it is re-read
    every few seconds): the page reads that one name itself."""
    from sqlalchemy import insert, select

    from gridapp.accounts.models import User
    from gridapp.cases.queries import with_names
    from gridapp.catalogue.models import Category
    from gridapp.catalogue.services import catalogue_copy, forget_catalogue

    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    made = report(client, worker, *grid_point(client, worker, me["grids"][0])).get_json()
    case = session.get(Case, made["id"])
    template = session.scalars(select(Category).where(Category.code == case.category_code)).one()
    forget_catalogue()
    catalogue_copy(session)  # the copy, made before the category exists
    columns = {
        column.key: getattr(template, column.key)
        for column in Category.__table__.columns
        if column.key != "id"
    }
    # Written past the ORM, as another process's change looks to this one: no version moved.
    session.execute(insert(Category).values(columns | {"code": "NEW-9f3", "name": "新类 9f3"}))
    case.category_code = "NEW-9f3"
    session.flush()
    session.expire(case)
    assert "NEW-9f3" not in catalogue_copy(session).categories
    (named,) = with_names(session, [case])
    assert named.category.name == "新类 9f3"
    reporter = session.get(User, case.reporter_id) if case.reporter_id else None
    assert named.reporter is reporter


def test_a_state_set_is_one_statement_with_its_states_written_in(client, auth, session):
    """Each state set is a statement of its own, the same in any order, so PostgreSQL can keep a
    plan for it (gridapp.cases.queries._WRITTEN_IN); what it lists is unchanged."""
    worker = auth("grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    point = grid_point(client, worker, me["grids"][0])
    made = report(client, worker, *point, description="state-set-3e8").get_json()
    acceptor = auth("acceptor")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "LIMIT" in statement.upper():
            statements.append(statement)

    engine = db.engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", seen)
    try:
        pages = [
            _listed(client, acceptor, q="state-set-3e8", state=states, process="urban")
            for states in (["reported", "filed"], ["filed", "reported"], ["filed"])
        ]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [[c["id"] for c in page["items"]] for page in pages] == [[made["id"]], [made["id"]], []]
    case_pages = [s for s in statements if '"case".state IN' in s]
    assert len(case_pages) == 3, statements
    assert case_pages[0] == case_pages[1] != case_pages[2]
    assert "'filed', 'reported'" in case_pages[0] and "'urban'" in case_pages[0]
