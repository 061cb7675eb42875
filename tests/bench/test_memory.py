"""The worker-memory benchmark (``bench.bench_memory``): reading RSS, and its row on a small map."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from bench import bench_memory
from bench.report import PREFIX, parse
from bench.serving import memory_mb, worker_pids


def test_memory_and_children_are_read_from_proc() -> None:
    rss, peak = memory_mb(os.getpid())
    assert 1 < rss <= peak
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in worker_pids(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_a_worker_on_a_small_map_gives_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    # The whole benchmark on a generated map of a few hundred cells (SQLite): gunicorn with one
    # worker, the typical requests answered, the worker's resident set read.
    assert bench_memory.main(["--cells", "200"]) == 0
    out = capsys.readouterr().out
    rows: list[Any] = [parse(line) for line in out.splitlines() if line.startswith(PREFIX)]
    assert len(rows) == 1
    assert "bare Flask worker" in rows[0].baseline
    assert rows[0].unit == "MB" and rows[0].value > 0
    assert "'locate': 48" in out, "the grid index was asked twice for each of 24 points"
