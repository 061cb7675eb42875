"""The CPU a request that ``bench.bench_http`` prints beside each run's requests/s."""

from __future__ import annotations

import subprocess
import sys

from bench.bench_http import (
    Round,
    WrkResult,
    children_cpu_s,
    cpu_summary,
    machine_cpu_s,
)


def run(name: str, requests: int, cpu_s: float | None) -> WrkResult:
    return WrkResult(name, requests, 10.0, requests / 10.0, 0, 0, "", cpu_s)


def test_a_run_costs_its_cpu_over_its_requests() -> None:
    assert run("reports", 2_000, 7.0).cpu_ms == 3.5
    assert run("reports", 0, 7.0).cpu_ms is None
    assert run("reports", 2_000, None).cpu_ms is None
    assert "3.50 ms of CPU a request" in run("reports", 2_000, 7.0).describe()


def test_the_summary_sets_each_write_beside_the_targets_budget() -> None:
    rounds = [
        Round(
            hello=run("hello", 40_000, 16.0),
            floor=run("bare", 10_000, 11.0),
            reports=run("reports", 2_000, 7.0),
            dispatch=run("dispatch", 1_000, 8.0),
        )
    ]
    summary = cpu_summary(rounds)
    assert summary is not None
    assert "hello-world 0.40 ms, bare write 1.10, reports 3.50, dispatch 8.00" in summary
    # At a third of hello-world's requests/s, three of its requests' CPU.
    assert "may cost about 1.21 ms" in summary
    no_reading = [Round(*(run(n, 100, None) for n in ("hello", "bare", "reports", "dispatch")))]
    assert cpu_summary(no_reading) is None


def test_the_machines_cpu_counts_a_busy_child() -> None:
    busy, children = machine_cpu_s(), children_cpu_s()
    assert busy is not None
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)
    busy_after = machine_cpu_s()
    assert busy_after is not None
    # The child's 0.3 s of CPU shows in its own usage and in the machine's.
    assert children_cpu_s() - children >= 0.3
    assert busy_after - busy >= 0.25
