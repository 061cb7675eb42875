"""One check for files generated from the code and checked in (openapi.json, processes.md)."""

from __future__ import annotations

import difflib


def assert_no_drift(checked_in: str, generated: str, names: tuple[str, str], hint: str) -> None:
    """Fail with the first lines of a unified diff when a checked-in file is out of date."""
    if generated == checked_in:
        return
    diff = "".join(
        list(
            difflib.unified_diff(
                checked_in.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                *names,
            )
        )[:60]
    )
    raise AssertionError(f"{hint}\n{diff}")
