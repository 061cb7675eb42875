"""Texts are Simplified Chinese by default and English on ``Accept-Language: en`` (Flask-Babel).

The catalogues hold every msgid the code marks (and nothing else); no Chinese string sits in the
code outside comments and docstrings; the workflow's refusals are made again from their parts.
"""

from __future__ import annotations

import io
import re
import tokenize
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import workflow
from tests.gridapp.case_helpers import grid_point, report
from tests.gridapp.conftest import login_headers, problem_of

ROOT = Path(__file__).resolve().parents[3]
GRIDAPP = ROOT / "gridapp"
CATALOGUES = GRIDAPP / "translations"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Demo place names and the texts a Chinese user types live in these; migrations are history.
CJK_ALLOWED = ("seed", "data")


def extracted_msgids() -> set[tuple[str | None, str]]:
    """Extract (context, msgid) as ``make messages`` does (babel.cfg over gridapp/ and the
    phone API)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found = set()
    for folder in (GRIDAPP, ROOT / "mobile-api" / "mobile_api"):
        for _file, _line, message, _comments, context in extract_from_dir(
            str(folder), method_map, options_map
        ):
            msgid = message if isinstance(message, str) else message[0]
            found.add((context, msgid))
    return found


def catalogue(locale: str) -> Any:
    with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def keys(catalog: Any) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id != ""}


def test_the_chinese_catalogue_translates_every_msgid_and_holds_no_other():
    wanted = extracted_msgids()
    zh = catalogue("zh_Hans")

    assert len(wanted) > 150
    assert sorted(wanted - keys(zh), key=str) == [], "run `make messages` and translate"
    assert sorted(keys(zh) - wanted, key=str) == [], "obsolete msgids: run `make messages`"
    assert not zh.obsolete, "obsolete entries (#~): run `make messages`"
    untranslated = [
        m.id
        for m in zh
        if m.id != ""
        and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
    ]
    assert untranslated == []
    problems = [(m.id, errors) for m in zh if (errors := list(m.check(zh)))]
    assert problems == []


def test_the_english_catalogue_holds_the_same_msgids():
    assert keys(catalogue("en")) == extracted_msgids()


def _docstring_starts(tokens: list[tokenize.TokenInfo]) -> set[tuple[int, int]]:
    """Return where the docstrings start: strings that are a whole statement after a block."""
    starts = set()
    before = tokenize.NEWLINE
    for token in tokens:
        if token.type == tokenize.STRING and before in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.ENCODING,
        ):
            starts.add(token.start)
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            before = token.type
    return starts


def test_no_chinese_string_in_the_code():
    found = []
    for path in sorted(GRIDAPP.rglob("*.py")):
        if path.relative_to(GRIDAPP).parts[0] in CJK_ALLOWED:
            continue
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text("utf-8")).readline))
        docstrings = _docstring_starts(tokens)
        for token in tokens:
            text_parts = token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1))
            if text_parts and token.start not in docstrings and CJK.search(token.string):
                found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string[:60]}")
    assert found == [], "Chinese texts belong in the catalogue (gridapp/translations)"


def test_the_code_check_sees_chinese_strings_but_not_docstrings_or_comments():
    source = (
        '"""模块。"""\nX = "中文"  # 注释\n\n\ndef f():\n    """函数。"""\n    return f"{X}案卷"\n'
    )
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    docstrings = _docstring_starts(tokens)
    strings = [
        t.string
        for t in tokens
        if t.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1))
        and t.start not in docstrings
        and CJK.search(t.string)
    ]
    assert strings == ['"中文"', next(s for s in strings if "案卷" in s)]


# --- the workflow's refusals, made again from their parts -----------------------------------


def every_refusal() -> list[workflow.TransitionNotAllowed]:
    """Every refusal the process tables give: each state, action and role, without relations."""
    refusals = []
    for definition in workflow.PROCESSES.values():
        for state, action, role in product(definition.states, definition.actions, workflow.Role):
            facts = workflow.Facts(relations=frozenset())
            try:
                workflow.select(definition, state, action, role, facts)
            except workflow.TransitionNotAllowed as exc:
                refusals.append(exc)
    return refusals


def test_every_guard_sentence_is_in_the_catalogue():
    from gridapp.core.refusals import GUARD_REFUSALS

    samples = [
        workflow.Facts(),
        workflow.Facts(source="grid_worker", duplicate_of=7, case_id=7),
        workflow.Facts(verification_passed=False, satisfied=False, check_confirmed=False),
        workflow.Facts(satisfaction="unsatisfied", rework_count=1, extension_count=1),
        workflow.Facts(satisfaction="satisfied", unreached_calls=3),
    ]
    sentences = {
        refusal
        for definition in workflow.PROCESSES.values()
        for row in definition.transitions
        if row.guard is not None
        for facts in samples
        if (refusal := row.guard(facts)) is not None
    }
    assert sentences
    assert sentences <= set(GUARD_REFUSALS)


def test_a_field_means_one_kind_for_an_action_in_every_process():
    from gridapp.core.refusals import _kind_of, _min_photos

    for definition in workflow.PROCESSES.values():
        for row in definition.transitions:
            for need in row.requirements:
                assert _kind_of(row.action, need.field) is need.kind
            if row.min_photos:
                assert _min_photos(row.action) == row.min_photos


@pytest.mark.parametrize(("language", "chinese"), [("zh-CN", True), ("en", False)])
def test_every_refusal_reads_in_the_language_asked(app, language, chinese):
    from gridapp.core.refusals import GUARD_REFUSALS, refusal_detail

    refusals = every_refusal()
    assert len(refusals) > 1000
    with app.test_request_context(headers={"Accept-Language": language}):
        for exc in refusals:
            detail = refusal_detail(exc)
            assert "%(" not in detail
            if exc.message in GUARD_REFUSALS:
                continue
            if chinese:
                assert CJK.search(detail) and "when in" not in detail, exc.message
                state = workflow.State(exc.state)
                labels = {d.state_label(state) for d in workflow.PROCESSES.values()}
                assert any(label in detail for label in labels), detail
                assert "：等待" in detail or "终态" in detail, detail
            else:
                when = f"{exc.action} when in {exc.state}: ".replace("_", " ")
                assert when in detail, (detail, exc.message)
                assert not CJK.search(detail)


def test_a_relation_refusal_names_the_relation(app):
    from gridapp.core.refusals import refusal_detail

    definition = workflow.URBAN_MANAGEMENT
    with pytest.raises(workflow.TransitionNotAllowed) as caught:
        workflow.select(
            definition, "handling", "feedback", "handler", workflow.Facts(relations=frozenset())
        )
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        detail = refusal_detail(caught.value)
    assert detail.startswith(
        "处置中状态下只有处置部门可以处置反馈：等待处置人员（处置部门）处置反馈"
    )
    with app.test_request_context(headers={"Accept-Language": "en"}):
        detail = refusal_detail(caught.value)
    assert detail.startswith(
        "Only the handling department can feedback when in handling: waiting for the handler "
        "(the handling department) to feedback, request return"
    )


def test_a_missing_photo_is_said_with_the_count(app):
    from gridapp.core.refusals import requirement_messages

    with pytest.raises(workflow.MissingRequirement) as caught:
        workflow.check_payload(workflow.URBAN_MANAGEMENT, "handling", "feedback", {})
    with app.test_request_context():
        assert requirement_messages(caught.value) == {"photos": "处置反馈至少需要 1 张照片"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert requirement_messages(caught.value) == {"photos": "feedback needs at least 1 photo"}


# --- through the API ---------------------------------------------------------------------


@pytest.fixture()
def bare(app, session):
    """A client that sends no Accept-Language, as most phones and browsers in China read."""
    return app.test_client()


def reported(client: Any) -> dict[str, Any]:
    worker = login_headers(client, "grid_worker")
    me = client.get("/api/v1/auth/me", headers=worker).get_json()
    response = report(client, worker, *grid_point(client, worker, me["grids"][0]))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_a_missing_case_is_said_in_chinese_by_default(bare):
    headers = login_headers(bare, "supervisor")

    body = problem_of(bare.get("/api/v1/cases/999999", headers=headers), 404)
    assert body["detail"] == "没有案卷 999999。"
    assert body["title"] == "未找到"
    assert body["type"].endswith("/not-found")

    english = {**headers, "Accept-Language": "en-US,en;q=0.9"}
    body = problem_of(bare.get("/api/v1/cases/999999", headers=english), 404)
    assert body["detail"] == "No case 999999."
    assert body["title"] == "Not found"


@pytest.mark.parametrize(
    ("accept", "chinese"),
    [("zh-CN,zh;q=0.9", True), ("zh-TW", True), ("fr, de", True), ("en", False), ("*", True)],
)
def test_the_language_is_the_best_match_of_accept_language(bare, accept, chinese):
    body = problem_of(bare.get("/api/v1/no-such-thing", headers={"Accept-Language": accept}), 404)
    assert body["title"] == ("未找到" if chinese else "Not Found")
    assert body["type"].endswith("/not-found")


def test_a_refused_action_says_why_and_whom_it_waits_for_in_chinese(bare):
    case = reported(bare)
    dispatcher = login_headers(bare, "dispatcher")
    url = f"/api/v1/cases/{case['id']}/actions/dispatch"
    headers = {**dispatcher, "If-Match": f'"{case["version"]}"'}

    body = problem_of(bare.post(url, json={}, headers=headers), 409)
    assert body["title"] == "不允许该操作"
    assert body["detail"].startswith("待受理状态下不能派遣：等待受理员受理、核实、不予立案或合并；")
    assert body["state"] == "reported"
    assert body["waiting_for"][0]["role"] == "acceptor"

    english = bare.post(url, json={}, headers={**headers, "Accept-Language": "en"})
    assert problem_of(english, 409)["detail"].startswith(
        "Can't dispatch when in reported: waiting for the acceptor to accept, request check, "
        "reject or merge; "
    )


def test_a_missing_requirement_is_said_in_chinese(bare):
    case = reported(bare)
    acceptor = login_headers(bare, "acceptor")
    response = bare.post(
        f"/api/v1/cases/{case['id']}/actions/reject",
        json={},
        headers={**acceptor, "If-Match": f'"{case["version"]}"'},
    )

    body = problem_of(response, 422)
    assert body["errors"] == {"reason": ["不予立案需要填写 reason"]}
    assert body["detail"] == "不予立案需要填写 reason"


def test_field_messages_of_a_422_are_chinese_by_default(bare):
    body = problem_of(bare.post("/api/v1/auth/login", json={"user": "x"}), 422)

    assert body["detail"] == "请求中有无效字段。"
    assert body["errors"]["username"] == ["缺少必填字段。"]
    assert body["errors"]["user"] == ["未知字段。"]


def test_field_messages_with_values_are_translated(bare):
    headers = login_headers(bare, "supervisor")

    body = problem_of(bare.get("/api/v1/cases?state=nowhere", headers=headers), 422)
    (message,) = body["errors"]["state.0"]
    assert message.startswith("必须是以下之一：") and "reported" in message

    body = problem_of(bare.get("/api/v1/cases?limit=0", headers=headers), 422)
    assert body["errors"]["limit"] == ["必须大于等于 1 且小于等于 200。"]


def test_labels_are_the_definitions_in_chinese_and_words_in_english(bare):
    headers = login_headers(bare, "grid_worker")

    urban = bare.get("/api/v1/processes/urban", headers=headers).get_json()
    assert {s["code"]: s["label"] for s in urban["states"]}["handling"] == "处置中"
    english = {**headers, "Accept-Language": "en"}
    urban = bare.get("/api/v1/processes/urban", headers=english).get_json()
    labels = {s["code"]: s["label"] for s in urban["states"]}
    assert labels["handling"] == "handling"
    assert labels["return_requested"] == "return requested"


def test_notifications_are_stored_in_chinese_whatever_the_request_reads(client, session):
    from sqlalchemy import select

    from gridapp.notifications.models import Notification

    case = reported(client)  # the test client reads English
    notes = session.scalars(select(Notification).where(Notification.case_id == case["id"])).all()

    assert notes
    assert all(note.message.startswith("新上报案卷 " + case["number"]) for note in notes)
