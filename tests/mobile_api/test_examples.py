"""The checked-in worked examples are what the walk gives today (mobile-api/examples).

Ids, times, hashes, cursors and tokens change from run to run, so the walk is compared with
``examples.json`` by shape: the same operations and named examples, the same statuses, the same
keys and kinds of values, the same states and actions.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from gridapp.core.openapi_examples import EXAMPLES_FILE

GENERATE = Path(__file__).resolve().parents[2] / "mobile-api" / "examples" / "generate.py"
HINT = (
    "mobile-api/examples is out of date: run `.venv/bin/python mobile-api/examples/generate.py`,"
    " then `make openapi`, and commit the results."
)
# Values that say where the walk went, the same in every run.
STABLE_KEYS = frozenset(
    {"state", "from_state", "to_state", "action", "role", "kind", "process", "department"}
)


def shape(value: Any, key: str | None = None) -> Any:
    """Keep the structure and the stable values; replace the others by their kind."""
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v, key) for v in value]
    if value is None or isinstance(value, bool) or key in STABLE_KEYS:
        return value
    return "number" if isinstance(value, int | float) else type(value).__name__


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("examples_generate", GENERATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_examples_match_a_fresh_walk(app, client):
    checked_in = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))

    walked = load_generator().walk(app, client).examples

    assert sorted(walked) == sorted(checked_in), HINT
    for key, named in walked.items():
        assert sorted(named) == sorted(checked_in[key]), f"{key}: {HINT}"
        for name, example in named.items():
            assert shape(example) == shape(checked_in[key][name]), f"{key} [{name}]: {HINT}"


def test_the_examples_walk_to_evaluation_and_show_the_refusals():
    examples = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    readme = (GENERATE.parent / "README.md").read_text(encoding="utf-8")

    phone = examples["POST /api/v1/mobile/cases/{case_id}/actions/{action}"]
    assert phone["evaluate"]["response"]["state"] == "evaluated"
    for status in ("401 UNAUTHORIZED", "409 CONFLICT", "412 PRECONDITION FAILED"):
        assert f"HTTP/1.1 {status}" in readme
    assert '"waiting_for"' in readme


def test_no_token_is_written_out():
    def tokens(value: Any) -> list[str]:
        if isinstance(value, dict):
            found = [v for k, v in value.items() if k.endswith("_token") and isinstance(v, str)]
            return found + [t for v in value.values() for t in tokens(v)]
        if isinstance(value, list):
            return [t for v in value for t in tokens(v)]
        return []

    examples = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))

    assert tokens(examples)
    assert {t for t in tokens(examples)} <= {"<access token>", "<refresh token>"}
