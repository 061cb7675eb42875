"""Evaluation (综合评价) from a history written through the API, checked against hand counts."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

import workflow
from gridapp.accounts.models import User
from gridapp.cases.models import Case
from gridapp.core.audit import AuditEntry
from gridapp.evaluation.models import EvaluationSnapshot
from gridapp.evaluation.services import evaluate, snapshot_days
from tests.gridapp.case_helpers import act, grid_point, photo_id, report

NAMES = [
    "grid_worker",
    "acceptor",
    "dispatcher",
    "shift_leader",
    "handler",
    "handler2",
    "hotline_operator",
    "supervisor",
    "admin",
]


@pytest.fixture()
def people(auth: Any) -> dict[str, dict[str, str]]:
    return {name: auth(name) for name in NAMES}


def _late(session: Any, case: dict[str, Any]) -> None:
    """Move the running step's deadline into the past: the next action comes late."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    session.execute(update(Case).where(Case.id == case["id"]).values(deadline=past))
    session.flush()


@pytest.fixture()
def history(client: Any, session: Any, people: Any) -> dict[str, Any]:
    """Four urban cases (closed on time, late dispatch and rework, rejected, filed then voided)
    and four hotline calls, each ending the call-back another way (see below)."""
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    point = grid_point(client, people["grid_worker"], me["grids"][0])

    def new() -> dict[str, Any]:
        made = report(client, people["grid_worker"], *point)
        assert made.status_code == 201, made.get_json()
        return made.get_json()

    def handle(case: dict[str, Any]) -> dict[str, Any]:
        """The department acknowledges (签收) the case, then reports it handled."""
        if case["state"] == "dispatched":
            case = act(client, people["handler2"], case, "acknowledge")
        photo = photo_id(client, people["handler2"])
        return act(client, people["handler2"], case, "feedback", {"photos": [photo]})

    a = new()
    a = act(client, people["acceptor"], a, "accept")
    a = act(client, people["shift_leader"], a, "file")
    a = act(client, people["dispatcher"], a, "dispatch")
    a = handle(a)
    a = act(client, people["acceptor"], a, "assign_verification", {"grid_worker": me["id"]})
    a = act(client, people["grid_worker"], a, "verify_reply", {"passed": True}, mobile=True)
    a = act(client, people["shift_leader"], a, "close")

    b = new()
    b = act(client, people["acceptor"], b, "accept")
    b = act(client, people["shift_leader"], b, "file")
    _late(session, b)
    b = act(client, people["dispatcher"], b, "dispatch")
    b = handle(b)
    b = act(client, people["acceptor"], b, "assign_verification", {"grid_worker": me["id"]})
    b = act(client, people["grid_worker"], b, "verify_reply", {"passed": False}, mobile=True)
    b = act(client, people["shift_leader"], b, "rework", {"reason": "not clean"})

    c = new()
    c = act(client, people["acceptor"], c, "reject", {"reason": "not a problem"})

    d = new()
    d = act(client, people["acceptor"], d, "accept")
    d = act(client, people["shift_leader"], d, "file")
    d = act(client, people["shift_leader"], d, "void", {"reason": "filed by mistake"})

    hotline: list[dict[str, Any]] = []
    # Satisfied at once; unsatisfied, redone, then basically satisfied; unsatisfied twice
    # (closed as unsatisfied, resolved the second time); never reached (closed unrated).
    for call_backs in (
        [("satisfied", True)],
        [("unsatisfied", False), ("basically_satisfied", True)],
        [("unsatisfied", False), ("unsatisfied", True)],
        [None, None, None],
    ):
        taken = client.post(
            "/api/v1/cases",
            json={
                "category": "RX8004",
                "description": "噪音",
                "source": "hotline",
                "address": "开云镇建设路12号",
            },
            headers=people["hotline_operator"],
        )
        assert taken.status_code == 201, taken.get_json()
        h = act(client, people["hotline_operator"], taken.get_json(), "accept")
        h = act(client, people["dispatcher"], h, "dispatch")
        if len(hotline) == 1:
            _late(session, h)  # 签收 after its limit
        h = act(client, people["handler"], h, "acknowledge")
        h = act(client, people["handler"], h, "feedback", {"comment": "done"})
        for answer in call_backs:
            if h["state"] == "handling":
                h = act(client, people["handler"], h, "feedback", {"comment": "again"})
            body = (
                {"unreachable": True}
                if answer is None
                else {"satisfaction": answer[0], "resolved": answer[1]}
            )
            h = act(client, people["hotline_operator"], h, "call_back", body)
            if "rework" in [action["name"] for action in h["actions"]]:
                h = act(client, people["hotline_operator"], h, "rework", {"reason": "again"})
        h = act(client, people["shift_leader"], h, "close")
        hotline.append(h)
    return {"a": a, "b": b, "c": c, "d": d, "hotline": hotline, "worker": me}


def _period() -> str:
    today = workflow.local_day(datetime.now(UTC)).isoformat()
    return f"from={today}&to={today}"


def _get(client: Any, headers: Any, kind: str, extra: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/evaluation/{kind}?{_period()}{extra}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _row(answer: dict[str, Any], key: str, ident: Any) -> dict[str, Any]:
    rows = [item for item in answer["items"] if item["subject"].get(key) == ident]
    assert len(rows) == 1, answer
    return rows[0]


def _counts(row: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    return {
        name: (v["numerator"], v["denominator"], v["value"])
        for name, v in row["indicators"].items()
    }


def _user_id(session: Any, username: str) -> int:
    return int(session.scalar(select(User.id).where(User.username == username)))


def test_grid_worker_by_hand(client, people, history):
    row = _row(_get(client, people["supervisor"], "grid_workers"), "id", history["worker"]["id"])
    # Reports 4 (a b c d), valid 3 (c rejected); missed 0 of the 3 valid ones in the grid;
    # no checks; verifications 2 of 2 in time; no patrol today in any of the worker's grids
    # (patrol coverage weighs 0 by default, so the score does not move).
    grids = len(client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()["grids"])
    assert _counts(row) == {
        "valid_report": (3, 4, 75.0),
        "missed_report": (0, 3, 100.0),
        "on_time_check": (0, 0, None),
        "on_time_verification": (2, 2, 100.0),
        "patrol_coverage": (0, grids, 0.0),
    }
    assert row["score"] == round((40 * 75 + 20 * 100 + 20 * 100) / 80, 2)
    assert row["grade"] == "B" and row["rank"] == 1


def test_patrol_coverage_counts_the_grids_walked_today(client, people):
    me = client.get("/api/v1/auth/me", headers=people["grid_worker"]).get_json()
    lon, lat = grid_point(client, people["grid_worker"], me["grids"][1])
    now = datetime.now(UTC)
    points = [
        {"lon": lon, "lat": lat, "t": (now - timedelta(minutes=m)).isoformat()} for m in (3, 1)
    ]
    sent = client.post(
        "/api/v1/mobile/patrol",
        json={"batch_id": "coverage-1", "points": points},
        headers=people["grid_worker"],
    )
    assert sent.status_code in (200, 201), sent.get_json()

    row = _row(_get(client, people["supervisor"], "grid_workers"), "id", me["id"])

    assert _counts(row)["patrol_coverage"] == (
        1,
        len(me["grids"]),
        round(100 / len(me["grids"]), 2),
    )


def test_acceptor_by_hand(client, session, people, history):
    row = _row(_get(client, people["supervisor"], "acceptors"), "id", _user_id(session, "acceptor"))
    # Decisions on reported cases: 3 accepts and 1 reject → volume band "fewer than 301" = 40.
    assert _counts(row) == {
        "volume": (4, None, 40.0),
        "on_time_check_assignment": (0, 0, None),
        "on_time_verification_assignment": (2, 2, 100.0),
    }
    assert row["score"] == round((25 * 40 + 35 * 100) / 60, 2)


def test_shift_leader_by_hand(client, session, people, history):
    answer = _get(client, people["supervisor"], "shift_leaders")
    row = _row(answer, "id", _user_id(session, "shift_leader"))
    # Filed a, b, d in time; d voided later; closed a in time and the four hotline calls too.
    assert _counts(row) == {
        "on_time_filing": (3, 3, 100.0),
        "accurate_filing": (2, 3, 66.67),
        "on_time_closing": (5, 5, 100.0),
    }
    assert row["score"] == round((25 * 100 + 40 * 200 / 3 + 35 * 100) / 100, 2)
    assert answer["rules_version"] == 1


def test_dispatcher_by_hand(client, session, people, history):
    row = _row(
        _get(client, people["supervisor"], "dispatchers"), "id", _user_id(session, "dispatcher")
    )
    # Dispatches: a (in time), b (late), four hotline calls (in time); none returned.
    assert _counts(row) == {
        "volume": (6, None, 40.0),
        "on_time_dispatch": (5, 6, 83.33),
        "accurate_dispatch": (6, 6, 100.0),
    }
    assert row["score"] == round((20 * 40 + 40 * 500 / 6 + 40 * 100) / 100, 2)


def test_department_by_hand(client, people, history):
    answer = _get(client, people["supervisor"], "departments")
    row = _row(answer, "code", history["a"]["department"])
    # Due: a and b, both handled in time; a closed; b reworked once; 2 problems → 10 points.
    assert _counts(row) == {
        "closure": (1, 2, 50.0),
        "on_time_handling": (2, 2, 100.0),
        "rework": (1, 2, 50.0),
        "volume": (2, None, 100.0),
    }
    assert row["score"] == 70.0 and row["grade"] == "C"


def test_area_by_hand(client, people, history):
    answer = _get(client, people["supervisor"], "areas", "&level=street")
    row = _row(answer, "code", history["a"]["street_code"])
    counts = _counts(row)
    # Valid cases a, b, d; a closed, in time.
    assert counts["closure"] == (1, 3, 33.33)
    assert counts["on_time_closure"] == (1, 3, 33.33)
    # 办结率: a is due (closed); b's recorded deadlines are all ahead; c and d were voided.
    # 化解率: no dispute here. Both weigh 0 by default, so the score below stands.
    assert counts["completion"] == (1, 1, 100.0)
    assert counts["dispute_resolution"] == (0, 0, None)
    cases, km2, density = counts["density"]
    assert cases == 3 and km2 > 0
    expected = workflow.evaluation.band_score(workflow.default_rules()["bands"]["density"], 3 / km2)
    assert density == expected
    assert row["score"] == round((expected + 100 / 3 + 100 / 3) / 3, 2)
    grid = _get(client, people["supervisor"], "areas", "&level=grid")
    assert (
        _row(grid, "code", history["a"]["grid_code"])["indicators"]["closure"]["denominator"] == 3
    )


def test_hotline_by_hand(client, people, history):
    row = _row(_get(client, people["supervisor"], "hotline"), "code", "430423")
    # Four calls closed, each dispatched once: all signed for (签收) in time but the second.
    # The final call-backs that reached the citizen: the first three (the fourth never did);
    # resolved in all three, satisfied or basically satisfied in the first two.
    assert _counts(row) == {
        "response": (3, 4, 75.0),
        "resolution": (3, 3, 100.0),
        "satisfaction": (2, 3, 66.67),
    }
    assert row["score"] == round((30 * 75 + 35 * 100 + 35 * 200 / 3) / 100, 2)
    assert row["grade"] == "B"
    explained = _get(
        client, people["supervisor"], "hotline", "&subject=430423&explain=satisfaction"
    )
    sides = sorted((c["side"], c["event"]["action"]) for c in explained["cases"])
    assert sides == [("denominator", "call_back")] * 3 + [("numerator", "call_back")] * 2


def test_explain_lists_the_cases_behind_a_number(client, people, history):
    department = history["a"]["department"]
    answer = _get(
        client, people["supervisor"], "departments", f"&subject={department}&explain=rework"
    )
    assert answer["numerator"] == 1 and answer["denominator"] == 2
    sides = {(c["case_id"], c["side"], c["event"]["action"]) for c in answer["cases"]}
    a, b = history["a"]["id"], history["b"]["id"]
    assert sides == {
        (b, "numerator", "rework"),
        (a, "denominator", "feedback"),
        (b, "denominator", "feedback"),
    }
    bad = client.get(
        f"/api/v1/evaluation/departments?{_period()}&subject={department}&explain=nope",
        headers=people["supervisor"],
    )
    assert bad.status_code == 422 and "explain" in bad.get_json()["errors"]
    alone = client.get(
        f"/api/v1/evaluation/departments?{_period()}&explain=rework",
        headers=people["supervisor"],
    )
    assert alone.status_code == 422 and "subject" in alone.get_json()["errors"]


def test_snapshots_and_recomputation_agree(session, people, history):
    admin = session.scalar(select(User).where(User.username == "admin"))
    today = workflow.local_day(datetime.now(UTC))
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    answers = {}
    for kind in workflow.Kind:
        live = evaluate(session, admin, kind, today, today, now=tomorrow)
        assert snapshot_days(session, today, today, now=tomorrow) > 0
        stored = evaluate(session, admin, kind, today, today, now=tomorrow)
        assert stored == live and live["items"], kind
        answers[kind] = live
    # The department of a and b: its stored "due" rows hold what the live count found (2 from
    # this history; the suite's other tests may have committed cases of their own today).
    department = history["a"]["department"]
    live_row = _row(answers[workflow.Kind.departments], "code", department)
    assert live_row["indicators"]["closure"]["denominator"] >= 2
    due = session.scalar(
        select(func.sum(EvaluationSnapshot.count)).where(
            EvaluationSnapshot.day == today,
            EvaluationSnapshot.kind == "departments",
            EvaluationSnapshot.subject == department,
            EvaluationSnapshot.counter == "due",
        )
    )
    assert due == live_row["indicators"]["closure"]["denominator"]
    # Recomputing the day replaces it: the same rows, not twice as many.
    before = session.query(EvaluationSnapshot).count()
    snapshot_days(session, today, today, now=tomorrow)
    assert session.query(EvaluationSnapshot).count() == before


def test_scope(client, people, history, auth):
    for name in ("acceptor", "dispatcher", "handler"):
        refused = client.get(f"/api/v1/evaluation/departments?{_period()}", headers=people[name])
        assert refused.status_code == 403
    mine = _get(client, people["grid_worker"], "grid_workers")
    assert [item["subject"]["id"] for item in mine["items"]] == [history["worker"]["id"]]
    other = client.get(f"/api/v1/evaluation/acceptors?{_period()}", headers=people["grid_worker"])
    assert other.status_code == 403
    bad = client.get(
        "/api/v1/evaluation/departments?from=2026-02-01&to=2026-01-01", headers=people["admin"]
    )
    assert bad.status_code == 422 and "to" in bad.get_json()["errors"]
    assert (
        client.get(f"/api/v1/evaluation/nobody?{_period()}", headers=people["admin"]).status_code
        == 404
    )


def test_exports_carry_the_same_numbers(client, session, people, history):
    answer = _get(client, people["supervisor"], "departments")
    row = _row(answer, "code", history["a"]["department"])
    got = client.get(
        f"/api/v1/evaluation/departments?{_period()}&format=csv", headers=people["supervisor"]
    )
    assert got.status_code == 200 and got.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    assert "专业部门综合评价" in lines[0][0] and answer["from"] in lines[0][0]
    assert lines[1][:4] == ["排名", "编号", "名称", "结案率分子"]
    mine = next(line for line in lines[2:] if line[1] == history["a"]["department"])
    assert float(mine[-2]) == row["score"] and mine[-1] == row["grade"]
    got = client.get(
        f"/api/v1/evaluation/departments?{_period()}&format=xlsx", headers=people["supervisor"]
    )
    assert got.status_code == 200
    sheet = load_workbook(io.BytesIO(got.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == lines[0][0] and list(values[1]) == lines[1]
    mine_x = next(v for v in values[2:] if v[1] == history["a"]["department"])
    assert mine_x[-2] == row["score"]
    audits = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "evaluation.export")
    ).all()
    assert [a.details["format"] for a in audits] == ["csv", "xlsx"]


def test_a_large_export_runs_as_a_job(app, client, people, history):
    from gridapp.evaluation.jobs import build_export

    config = app.config["GRIDAPP"]
    app.config["GRIDAPP"] = dataclasses.replace(config, evaluation_export_sync_rows=0)
    try:
        started = client.get(
            f"/api/v1/evaluation/departments?{_period()}&format=csv", headers=people["supervisor"]
        )
    finally:
        app.config["GRIDAPP"] = config
    assert started.status_code == 202
    location = started.headers["Location"]
    assert client.get(location, headers=people["supervisor"]).status_code == 202
    assert client.get(location, headers=people["dispatcher"]).status_code == 403
    export_id = int(location.rsplit("/", 1)[1])
    assert build_export(export_id) == "done"
    ready = client.get(location, headers=people["supervisor"])
    assert ready.status_code == 200 and "专业部门" in ready.data.decode("utf-8-sig")


def test_rules_versions(client, session, people):
    listed = client.get("/api/v1/admin/evaluation-rules", headers=people["admin"])
    assert listed.status_code == 200
    first = listed.get_json()[0]
    assert first["version"] == 1 and first["rules"] == workflow.default_rules()
    assert (
        client.get("/api/v1/admin/evaluation-rules", headers=people["supervisor"]).status_code
        == 403
    )
    later = (workflow.local_day(datetime.now(UTC)) + timedelta(days=30)).isoformat()
    bad = client.post(
        "/api/v1/admin/evaluation-rules",
        json={
            "effective_from": later,
            "weights": {"departments": {"rework": -1}},
            "grades": [[60, "C"], [90, "A"]],
        },
        headers=people["admin"],
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"weights.departments.rework", "grades"}
    past = client.post(
        "/api/v1/admin/evaluation-rules",
        json={"effective_from": "2020-01-01"},
        headers=people["admin"],
    )
    assert past.status_code == 422 and "effective_from" in past.get_json()["errors"]
    made = client.post(
        "/api/v1/admin/evaluation-rules",
        json={"effective_from": later, "weights": {"departments": {"volume": 0}}},
        headers=people["admin"],
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["version"] == 2 and body["rules"]["weights"]["departments"]["volume"] == 0
    assert body["rules"]["weights"]["departments"]["closure"] == 30
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "admin.evaluation_rules.create")
    )
    assert entry is not None and entry.target_id == "2"
    assert entry.details["before"]["version"] == 1
    # A period starting on that day is scored with version 2; one before, with version 1.
    answer = client.get(
        f"/api/v1/evaluation/departments?from={later}&to={later}", headers=people["admin"]
    ).get_json()
    assert answer["rules_version"] == 2


def test_the_snapshot_command_stores_closed_days(runner, session):
    yesterday = workflow.local_day(datetime.now(UTC)) - timedelta(days=1)
    result = runner.invoke(args=["evaluation", "snapshot", "--day", yesterday.isoformat()])
    assert result.exit_code == 0, result.output
    assert f"snapshot {yesterday}..{yesterday}" in result.output
    from gridapp.evaluation.models import EvaluationSnapshotDay

    assert session.get(EvaluationSnapshotDay, yesterday) is not None
    bad = runner.invoke(args=["evaluation", "snapshot", "--month", "2026-13"])
    assert bad.exit_code != 0
    both = runner.invoke(args=["evaluation", "snapshot"])
    assert both.exit_code != 0


def test_the_nightly_snapshot_runs_at_two_in_shanghai():
    from gridapp.evaluation.jobs import next_run

    at = next_run(datetime(2026, 11, 26, 17, 30, tzinfo=UTC))  # 01:30 in Shanghai
    assert at.astimezone(workflow.LOCAL_ZONE).hour == 2
    assert at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_every_external_counter_is_implemented() -> None:
    from gridapp.evaluation.services import EXTERNAL_COUNTS
    from workflow.evaluation import EXTERNAL_COUNTERS

    assert set(EXTERNAL_COUNTS) == EXTERNAL_COUNTERS


def test_writers_go_on_while_a_large_export_is_built(app, monkeypatch):
    # The evaluation behind a large export reads for seconds at a city's million cases; on
    # SQLite a transaction that may write holds the one write lock from its start, so the job
    # reads in a read-only one and writes its row briefly (committed rows on connections of
    # their own: the suite's session shares one).
    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from gridapp.core.extensions import db
    from gridapp.core.models import OutboxMessage
    from gridapp.core.outbox import run_outbox_message
    from gridapp.core.queue import job_path
    from gridapp.evaluation import jobs as evaluation_jobs
    from gridapp.evaluation.export import export_dir
    from gridapp.evaluation.export import render as export_render
    from gridapp.evaluation.models import EvaluationExport
    from tests.gridapp.held_jobs import Hold, written_while_held

    today = workflow.local_day(datetime.now(UTC)).isoformat()
    params = {"kind": "departments", "from": today, "to": today, "format": "csv"}
    with app.app_context(), Session(db.engine, expire_on_commit=False) as setup:
        supervisor = setup.scalar(select(User).where(User.username == "supervisor"))
        export = EvaluationExport(user_id=supervisor.id, params=params)
        setup.add(export)
        setup.flush()
        message = OutboxMessage(job=job_path(evaluation_jobs.build_export), args=[export.id])
        setup.add(message)
        setup.commit()
    hold = Hold(export_render)
    monkeypatch.setattr(evaluation_jobs, "render", hold)
    try:
        through, outcome = written_while_held(app, hold, lambda: run_outbox_message(message.id))
        assert through  # while the build was held
        assert outcome == "done"
        with app.app_context(), Session(db.engine) as check:
            built = check.get(EvaluationExport, export.id)
            assert built.status == "done" and built.filename == f"{export.id}.csv"
            assert check.get(OutboxMessage, message.id).done_at is not None
        written = export_dir(app.config["GRIDAPP"]) / built.filename
        assert "专业部门" in written.read_text(encoding="utf-8-sig")
    finally:
        with app.app_context(), Session(db.engine) as cleanup:
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id == message.id))
            cleanup.execute(delete(EvaluationExport).where(EvaluationExport.id == export.id))
            cleanup.commit()
