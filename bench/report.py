"""One row of ``make bench``'s table: each benchmark prints its rows, ``python -m bench`` collects.

A benchmark module prints a row as one line ``BENCH-ROW {json}`` on stdout (``emit``); the
runner reads those lines from every module's output, prints the table and writes it as JSON
under ``var/bench/``. A row is met when its value is on the right side of its target.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

PREFIX = "BENCH-ROW "


@dataclass(frozen=True)
class Row:
    """A figure measured against its target: ``at_least`` for ratios, else ``at most``."""

    figure: str
    baseline: str
    value: float
    unit: str
    target: float
    at_least: bool

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value >= self.target if self.at_least else self.value <= self.target

    def cells(self) -> list[str]:
        sign = "≥" if self.at_least else "≤"
        return [
            self.figure,
            self.baseline or "—",
            f"{self.value:.2f} {self.unit}".strip(),
            f"{sign} {self.target:g} {self.unit}".strip(),
            "met" if self.met else "NOT met",
        ]


def emit(row: Row) -> None:
    """Print a row for the runner (and a reader of the module's own output)."""
    print(PREFIX + json.dumps(asdict(row), ensure_ascii=False), flush=True)


def parse(line: str) -> Row | None:
    if not line.startswith(PREFIX):
        return None
    return Row(**json.loads(line[len(PREFIX) :]))


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile (nearest rank) of some timings."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def table(rows: Sequence[Row]) -> str:
    """Rows as a Markdown table (what docs/performance.md quotes)."""
    header = ["figure", "baseline", "ratio / value", "target", "met"]
    lines = [header, ["---"] * len(header), *(row.cells() for row in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def interleaved_best(repeats: int, batches: int, fns: list[Callable[[int], object]]) -> list[float]:
    """Return each fn's seconds over all its batches, each batch its fastest of `repeats` runs.

    ``fn(b)`` works on batch b. The batches of every fn are timed one after another, round
    after round, so a burst of load on the shared machine falls on all of them alike rather
    than on whichever ran during it; the fastest run of a batch is the least disturbed one.
    """
    best = [[math.inf] * batches for _ in fns]
    for _ in range(repeats):
        for b in range(batches):
            for f, fn in enumerate(fns):
                start = time.perf_counter()
                fn(b)
                best[f][b] = min(best[f][b], time.perf_counter() - start)
    return [sum(row) for row in best]
