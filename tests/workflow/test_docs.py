"""docs/processes.md is generated from the definitions and never drifts from them."""

from __future__ import annotations

from pathlib import Path

from tests.drift import assert_no_drift
from workflow import PROCESSES, URBAN_MANAGEMENT, Action, State
from workflow.docs import REGENERATE, guard_sentence, render_processes_markdown, rows_by_state

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "processes.md"
HINT = f"docs/processes.md is out of date: run `make docs` ({REGENERATE}) and commit it."


def test_checked_in_document_matches_the_definitions():
    assert DOCUMENT.exists(), f"docs/processes.md is missing: run `make docs` ({REGENERATE})."
    checked_in = DOCUMENT.read_text(encoding="utf-8")

    generated = render_processes_markdown()

    assert_no_drift(
        checked_in,
        generated,
        ("docs/processes.md (checked in)", "generated from workflow/processes.py"),
        HINT,
    )


def test_every_process_state_and_action_is_documented():
    text = render_processes_markdown()

    for definition in PROCESSES.values():
        assert f"## {definition.name} (`{definition.code}`)" in text
        for state in definition.states:
            assert f"| `{state.value}` | {definition.state_label(state)} |" in text
        for row in definition.transitions:
            assert f"| `{row.source.value}` | `{row.action.value}` |" in text


def test_guard_sentence_is_the_docstrings_first_line():
    close = URBAN_MANAGEMENT.transition(State.verified, Action.close)
    accept = URBAN_MANAGEMENT.transition(State.reported, Action.accept)

    assert guard_sentence(close) == "Refuse to close unless the latest verification (核查) passed."
    assert guard_sentence(accept) is None


def test_rows_are_grouped_by_state_and_none_is_lost():
    rows = rows_by_state(URBAN_MANAGEMENT)

    assert len(rows) == len(URBAN_MANAGEMENT.transitions)
    assert set(rows) == set(URBAN_MANAGEMENT.transitions)
    order = [URBAN_MANAGEMENT.states.index(row.source) for row in rows]
    assert order == sorted(order)


def test_rendering_ends_with_one_newline():
    text = render_processes_markdown()

    assert text.endswith("|\n") and not text.endswith("\n\n")
