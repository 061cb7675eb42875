"""A phone report's answer is written after its commit (gridapp.core.answer), from the facts
the transaction knew: the write lock is not held while the case's JSON is made, and the answer
is the one a fresh read of the case gives."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from gridapp.cases import schemas
from gridapp.cases.actions import reads_history
from gridapp.cases.models import Case
from gridapp.core.extensions import db
from tests.gridapp.case_helpers import TIME_DEPENDENT, own_grid_point, report


def test_the_report_commits_before_its_answer_is_written(
    client: Any, auth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
    seen: list[str] = []

    def sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    def committed(_session: Any) -> None:
        seen.append("COMMIT")

    written = schemas.CaseSchema._serialize

    def dumped(self: Any, obj: Any, **kwargs: Any) -> Any:
        seen.append("ANSWER")
        return written(self, obj, **kwargs)

    monkeypatch.setattr(schemas.CaseSchema, "_serialize", dumped)
    engine = db.engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", sent)
    event.listen(Session, "after_commit", committed)
    try:
        answer = report(client, {**worker, "Idempotency-Key": "answer-after-commit"}, *point)
    finally:
        event.remove(engine, "before_cursor_execute", sent)
        event.remove(Session, "after_commit", committed)
    assert answer.status_code == 201, answer.get_json()
    # Everything written, then the session committed (in a test, its savepoint released; a
    # savepoint of its own commits too, on PostgreSQL), then the answer made without another
    # statement.
    assert "INSERT" in seen and "ANSWER" in seen, seen
    answered = seen.index("ANSWER")
    assert seen[answered - 1] == "COMMIT" and "INSERT" in seen[:answered], seen
    assert set(seen[answered + 1 :]) <= {"COMMIT"}, seen


def test_the_answer_is_what_a_fresh_read_of_the_case_says(client: Any, auth: Any) -> None:
    worker = auth("grid_worker")
    point = own_grid_point(client, worker)
    answer = report(client, {**worker, "Idempotency-Key": "answer-as-read"}, *point)
    assert answer.status_code == 201, answer.get_json()
    case = db.session().get(Case, answer.get_json()["id"])
    assert case is not None
    # The reported state has guarded rows: its `actions` read the history's facts.
    assert reads_history(case)
    read = client.get(f"/api/v1/mobile/cases/{case.id}", headers=worker)
    assert read.status_code == 200
    assert read.headers["ETag"] == answer.headers["ETag"]

    def same(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in TIME_DEPENDENT}

    assert same(answer.get_json()) == same(read.get_json())
    assert answer.get_json()["actions"], "a grid worker may act on a case just reported"
