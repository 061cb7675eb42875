"""``make faults``: break the running service on purpose and check that nothing was lost.

On PostgreSQL/PostGIS and Redis, with processes on this machine and a bounded load: it starts
a private PostgreSQL cluster (``initdb`` + ``pg_ctl`` on a free port; without ``initdb`` it
uses the shared server at ``FAULTS_PG_URL`` and terminates its database's backends instead of
restarting it), a private ``redis-server`` (AOF, noeviction) on a free port, its own gunicorn and
RQ worker under ``make run``'s supervisor, and a few threads that report cases with photos and
dispatch them (thumbnail and notification jobs). Meanwhile it:

1. kills the RQ worker with SIGKILL while a job is running (the supervisor restarts it);
2. stops Redis for 30 s, then starts it again from its AOF;
3. kills a gunicorn worker with SIGKILL in the middle of a request (the client retries);
4. restarts PostgreSQL.

Then it waits (bounded) for the service to catch up and checks: every report the server
acknowledged exists exactly once, every job's effect exists exactly once (thumbnails,
notifications), no outbox row is unfinished, and the SLA sweep caught up. It prints a summary and
exits non-zero on any failure. ``--quick`` shortens the outage and the load (for a smoke run).

    .venv/bin/python -m tests.faults
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "demo-pass-2026"
MFA = ("acceptor", "shift_leader", "dispatcher")


# --- helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], seconds: float, step: float = 0.2) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass (every wait here is bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        time.sleep(step)
    return False


def log(message: str) -> None:
    print(f"[faults {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def totp(secret: str, at: float | None = None) -> str:
    """Return the RFC 6238 code (30 s, 6 digits) of a base32 secret."""
    padded = secret + "=" * (-len(secret) % 8)
    key = __import__("base64").b32decode(padded, casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def photo_bytes(seed: int) -> bytes:
    """A noisy 1600×1200 JPEG: big enough that its thumbnail job takes a while."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.frombytes("RGB", (400, 300), rng.randbytes(400 * 300 * 3))
    image = image.resize((1600, 1200))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# --- private servers ------------------------------------------------------------------------


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres user then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port (restartable without hurting anyone)."""

    kind = "private cluster (restarted with pg_ctl)"

    def __init__(self, root: Path) -> None:
        self.root = root / "pg"
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/gridapp_faults"
        self.pg_ctl = _pg_bin("pg_ctl") or "pg_ctl"

    @staticmethod
    def available() -> bool:
        if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
            return False
        return os.geteuid() != 0 or shutil.which("runuser") is not None

    def start(self) -> None:
        self.root.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = _pg_bin("initdb") or "initdb"
        subprocess.run(
            _as_postgres(
                [initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._ctl("start")
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE gridapp_faults",
            ],
            check=True,
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_postgres(
                [
                    self.pg_ctl,
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    options,
                    "-w",
                    action,
                    *extra,
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def fault(self) -> str:
        self._ctl("restart", "-m", "fast")
        return "PostgreSQL restarted (pg_ctl restart -m fast)"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "immediate")


class SharedPostgres:
    """The shared server: its own database; a "restart" ends every backend of that database."""

    kind = "shared server (all backends of the faults database terminated, not restarted)"

    def __init__(self, root: Path) -> None:
        base = os.environ.get("FAULTS_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.admin = base
        self.name = f"gridapp_faults_{os.getpid()}"
        self.url = base.rsplit("/", 1)[0] + f"/{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)

    def start(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')

    def fault(self) -> str:
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )
        return "every backend of the faults database terminated (shared server not restarted)"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.fault()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')


class PrivateRedis:
    """A redis-server of our own with AOF and noeviction, which we may stop and start."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None and os.geteuid() == 0 and shutil.which("apt-get"):
            log("redis-server is missing: installing it from Debian")
            subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True)
            server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
            ],
            stdout=(self.dir / "log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        import redis

        if not wait_for(lambda: bool(redis.Redis.from_url(self.url).ping()), 20):
            raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its AOF and exits
            self.process.wait(timeout=30)


# --- the load -------------------------------------------------------------------------------


class Api:
    """A tiny HTTP client for one demo user, shared by the load threads.

    A TOTP code is good once, so one user signs in once and the threads share the token; when
    it dies (401) the first thread to notice signs in again with a fresh code.
    """

    _codes: ClassVar[dict[str, str]] = {}  # the last code each user signed in with
    _guard = threading.Lock()

    def __init__(self, base: str, username: str, totp_secret: str) -> None:
        self.base = base
        self.username = username
        self.secret = totp_secret
        self.token: str | None = None
        self.lock = threading.Lock()

    def login(self, stale: str | None = None) -> None:
        with self.lock:
            if stale is not None and self.token != stale:
                return  # another thread signed in again meanwhile
            body: dict[str, Any] = {"username": self.username, "password": PASSWORD}
            if self.username in MFA:
                code = totp(self.secret)
                with Api._guard:
                    used = Api._codes.get(self.username)
                if code == used:  # wait for the next 30 s window
                    time.sleep(31 - time.time() % 30)
                    code = totp(self.secret)
                with Api._guard:
                    Api._codes[self.username] = code
                body["otp"] = code
            status, answer, _ = self.call("POST", "/api/v1/auth/login", body, auth=False)
            if status != 200:
                raise RuntimeError(f"login {self.username}: {status} {answer}")
            self.token = answer["access_token"]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any, dict[str, str]]:
        """Send one request; answer (status, JSON or None, headers); 0 for a broken connection."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
                return response.status, _json(payload), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read()), dict(exc.headers)
        except (OSError, urllib.error.URLError):
            return 0, None, {}

    def retry(
        self, method: str, path: str, body: Any = None, *, seconds: float = 150, **kw: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """Retry what a broken connection, a 5xx or an expired token interrupted (bounded)."""
        deadline = time.monotonic() + seconds
        while True:
            token = self.token
            status, answer, headers = self.call(method, path, body, **kw)
            if status == 401 and kw.get("auth", True):
                with contextlib.suppress(RuntimeError):
                    self.login(stale=token)
            elif status not in (0, 429, 500, 502, 503, 504):
                return status, answer, headers
            if time.monotonic() > deadline:
                return status, answer, headers
            time.sleep(1.0)


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return None


def _multipart(name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


@dataclass
class Ledger:
    """What the server acknowledged: client id → case id, and the cases dispatched."""

    run: str
    acks: dict[str, int] = field(default_factory=dict)
    dispatched: set[int] = field(default_factory=set)
    photos: dict[int, int] = field(default_factory=dict)  # photo id → case id
    # Cases whose step was made overdue mid-run: the sweep must supervise each exactly once.
    overdue: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    """A few threads, each reporting cases with a photo and moving them on to dispatch."""

    def __init__(self, base: str, ledger: Ledger, point: tuple[float, float], secret: str):
        self.base = base
        self.ledger = ledger
        self.point = point
        self.secret = secret
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.reporter: Api
        self.desk: dict[str, Api]

    def start(self, threads: int, cases_each: int) -> None:
        self.reporter = Api(self.base, "grid_worker", self.secret)
        self.desk = {role: Api(self.base, role, self.secret) for role in MFA}
        for api in (self.reporter, *self.desk.values()):
            api.login()
        for n in range(threads):
            thread = threading.Thread(target=self._run, args=(n, cases_each), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _run(self, n: int, cases_each: int) -> None:
        reporter, desk = self.reporter, self.desk
        for i in range(cases_each):
            if self.stop.is_set():
                return
            try:
                self._one_case(reporter, desk, f"{self.ledger.run}-{n}-{i}", n * 1000 + i)
            except Exception as exc:  # a load thread reports, never dies
                self.ledger.problems.append(f"load thread {n}, case {i}: {exc!r}")
            time.sleep(0.2)

    def _one_case(self, reporter: Api, desk: dict[str, Api], client_id: str, seed: int) -> None:
        raw, content_type = _multipart("file", f"{client_id}.jpg", photo_bytes(seed))
        status, photo, _ = reporter.retry(
            "POST", "/api/v1/mobile/media", raw=raw, content_type=content_type
        )
        if status != 201:
            self.ledger.problems.append(f"{client_id}: upload answered {status} {photo}")
            return
        lon, lat = self.point
        body = {
            "category": "SJ0102",
            "description": f"faults {client_id}",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"},
            "photos": [photo["id"]],
            "client_id": client_id,
        }
        status, case, _ = reporter.retry("POST", "/api/v1/mobile/reports", body)
        if status not in (200, 201):
            self.ledger.problems.append(f"{client_id}: report answered {status} {case}")
            return
        with self.ledger.lock:
            self.ledger.acks[client_id] = case["id"]
            self.ledger.photos[photo["id"]] = case["id"]
        for role, action, after in (
            ("acceptor", "accept", "accepted"),
            ("shift_leader", "file", "filed"),
            ("dispatcher", "dispatch", "dispatched"),
        ):
            case = self._act(desk[role], case, action, after)
            if case is None:
                return
        with self.ledger.lock:
            self.ledger.dispatched.add(case["id"])

    def _act(self, api: Api, case: dict[str, Any], action: str, after: str) -> Any:
        """Take an action; after a lost answer, read the case: the action may have happened."""
        path = f"/api/v1/cases/{case['id']}"
        for _ in range(5):
            status, answer, _ = api.retry(
                "POST",
                f"{path}/actions/{action}",
                {},
                headers={"If-Match": f'"{case["version"]}"'},
            )
            if status == 200:
                return answer
            status, current, _ = api.retry("GET", path)
            if status == 200 and current["state"] == after:
                return current
            if status == 200:
                case = current
        self.ledger.problems.append(f"case {case['id']}: {action} never went through")
        return None


# --- the checks -----------------------------------------------------------------------------


def check_outcome(session: Any, ledger: Ledger, media_dir: Path) -> list[str]:
    """Return every way the data breaks "nothing lost, nothing twice" (empty: all held)."""
    from sqlalchemy import func, select

    from gridapp.cases.models import Case, CaseEvent
    from gridapp.core.models import OutboxMessage
    from gridapp.media.models import Attachment
    from gridapp.notifications.models import Notification

    failures: list[str] = []
    marker = f"faults {ledger.run}-%"
    rows = session.execute(
        # In id order: a scan's order is none (a partitioned case table returns the months'
        # rows as the planner appends them), and the report names the copies in order.
        select(Case.id, Case.client_id).where(Case.description.like(marker)).order_by(Case.id)
    ).all()
    by_client: dict[str | None, list[int]] = {}
    for case_id, client_id in rows:
        by_client.setdefault(client_id, []).append(case_id)
    for client_id, case_ids in by_client.items():
        if len(case_ids) > 1:
            failures.append(f"report {client_id} exists {len(case_ids)} times: {case_ids}")
    for client_id, case_id in ledger.acks.items():
        found = by_client.get(client_id, [])
        if found != [case_id]:
            failures.append(f"acknowledged report {client_id} (case {case_id}) found as {found}")

    for photo_id, case_id in ledger.photos.items():
        attachment = session.get(Attachment, photo_id)
        if attachment is None or attachment.case_id != case_id:
            failures.append(f"photo {photo_id} of case {case_id} is missing or unclaimed")
        elif not attachment.thumbnail_key:
            failures.append(f"photo {photo_id}: no thumbnail")
        elif not (media_dir / attachment.thumbnail_key).is_file():
            failures.append(f"photo {photo_id}: thumbnail file {attachment.thumbnail_key} missing")
        elif (media_dir / attachment.thumbnail_key).stat().st_size == 0:
            failures.append(f"photo {photo_id}: thumbnail file is empty")
    leftovers = list((media_dir / "thumbs").rglob(".thumb-*")) if media_dir.exists() else []
    if leftovers:
        failures.append(f"{len(leftovers)} half-written thumbnails left: {leftovers[:3]}")

    for case_id in sorted(ledger.dispatched):
        notes = session.execute(
            select(Notification.user_id, Notification.delivered_at).where(
                Notification.case_id == case_id, Notification.kind == "dispatch"
            )
        ).all()
        users = [user_id for user_id, _ in notes]
        if not notes:
            failures.append(f"case {case_id}: dispatched but nobody was notified")
        if len(users) != len(set(users)):
            failures.append(f"case {case_id}: a dispatch notification exists twice ({users})")
        undelivered = [user_id for user_id, delivered in notes if delivered is None]
        if undelivered:
            failures.append(f"case {case_id}: notifications never delivered to {undelivered}")

    for case_id in sorted(ledger.overdue):
        case = session.get(Case, case_id)
        supervised = session.scalar(
            select(func.count()).where(
                CaseEvent.case_id == case_id,
                CaseEvent.action == "supervise",
                CaseEvent.actor_id.is_(None),
            )
        )
        if case is None or case.sla_flag != "overdue":
            failures.append(f"case {case_id}: overdue but not flagged by the SLA sweep")
        if supervised != 1:
            failures.append(f"case {case_id}: supervised by the sweep {supervised} times, not once")
        told = session.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case_id, Notification.kind == "sla_overdue"
            )
        ).all()
        if not told or len(told) != len(set(told)):
            failures.append(f"case {case_id}: overdue notifications {told} (want one per leader)")

    unfinished = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.done_at.is_(None))
    )
    if unfinished:
        failures.append(f"{unfinished} outbox rows unfinished")
    return failures


def sweep_is_behind(session: Any) -> str | None:
    """Run the SLA sweep in a transaction that is rolled back: caught up means it finds nothing."""
    from gridapp.cases.sla import sweep_sla

    nested = session.begin_nested()
    try:
        result = sweep_sla(session)
    finally:
        nested.rollback()
    if result.warned or result.overdue:
        return f"the SLA sweep is behind: {result.warned} warnings, {result.overdue} overdue due"
    return None


def last_sweep_end(connection: Any, prefix: str) -> datetime | None:
    """Return when the last SLA sweep job finished, from RQ's finished-job registry."""
    from rq import Queue
    from rq.job import Job

    queue = Queue(f"{prefix}-default", connection=connection)
    ended: list[datetime] = []
    for job_id in queue.finished_job_registry.get_job_ids():
        if "sla-sweep" not in job_id:
            continue
        with contextlib.suppress(Exception):
            job = Job.fetch(job_id, connection=connection)
            if job.ended_at is not None:
                ended.append(job.ended_at.replace(tzinfo=UTC))
    return max(ended) if ended else None


# --- the run --------------------------------------------------------------------------------


def _started_jobs(connection: Any, prefix: str) -> list[str]:
    from rq import Queue

    from gridapp.core.queue import QUEUE_NAMES

    ids: list[str] = []
    for name in QUEUE_NAMES:
        ids += Queue(f"{prefix}-{name}", connection=connection).started_job_registry.get_job_ids()
    return ids


def _gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _socket_owner(server_port: int, client_port: int, candidates: list[int]) -> int | None:
    """Find which process holds the server end of one TCP connection (Linux /proc)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local, remote = parts[1], parts[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    inode = parts[9]
    if inode is None:
        return None
    for pid in candidates:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    return None


class Faults:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="gridapp-faults-"))
        os.chmod(self.root, 0o755)
        self.run = f"f{secrets.token_hex(3)}"
        self.pg: PrivatePostgres | SharedPostgres = (
            PrivatePostgres(self.root) if PrivatePostgres.available() else SharedPostgres(self.root)
        )
        self.redis = PrivateRedis(self.root)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.prefix = f"faults{self.run}"
        self.var_dir = self.root / "var"
        self.summary: list[str] = []
        self.failures: list[str] = []
        self.supervisor: Any = None
        self.watch = threading.Event()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.redis.url,
                "SECRET_KEY": secrets.token_urlsafe(48),
                "DEMO": "1",
                "QUEUE_PREFIX": self.prefix,
                "GRIDAPP_VAR_DIR": str(self.var_dir),
                "OUTBOX_RECONCILE_SECONDS": "30",
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "mobile-api")]),
            }
        )
        env.pop("GRIDAPP_ENV", None)
        return env

    @contextlib.contextmanager
    def services(self) -> Iterator[None]:
        try:
            log(f"PostgreSQL: {self.pg.kind}; Redis: private redis-server :{self.redis.port}")
            self.pg.start()
            self.redis.start()
            yield
        finally:
            self.watch.set()
            if self.supervisor is not None:
                self.supervisor.stop(grace=10)
            self.redis.stop()
            self.pg.stop()
            if not self.args.keep:
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                log(f"kept {self.root}")

    def app(self) -> Any:
        from gridapp import create_app
        from gridapp.core.config import Config

        return create_app(Config.from_env(self.env()))

    def prepare(self) -> Any:
        from gridapp.core.extensions import db
        from gridapp.core.migrate import upgrade
        from gridapp.seed.demo import seed_demo

        app = self.app()
        upgrade(self.pg.url)
        with app.app_context(), db.transaction() as session:
            seed_demo(session)
        return app

    def start_processes(self) -> None:
        from gridapp.core.serve import GUNICORN_CONFIG, Child, Supervisor

        bin_dir = Path(sys.executable).parent
        env = self.env()
        gunicorn = [
            str(bin_dir / "gunicorn"),
            "--config",
            GUNICORN_CONFIG,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            "--timeout",
            "60",
            "--chdir",
            str(ROOT),
            "wsgi:app",
        ]
        logs = (self.root / "processes.log").open("ab")
        self.supervisor = Supervisor(
            [
                Child("web", gunicorn, env, logs),
                Child("worker", [sys.executable, "-m", "gridapp.core.worker"], env, logs),
            ]
        )
        self.supervisor.start()

        def watch() -> None:
            while not self.watch.is_set():
                self.supervisor.check()
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()
        if not wait_for(lambda: Api(self.base, "", "").call("GET", "/healthz")[0] == 200, 60):
            raise RuntimeError("gunicorn did not come up")

    def redis_connection(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis.url, socket_timeout=5)

    # The faults ----------------------------------------------------------------------------

    def kill_worker_mid_job(self) -> None:
        """SIGKILL the RQ worker while RQ says a job is started; again if that job had ended."""
        from rq.job import Job, JobStatus

        worker = self.supervisor.children[1]
        connection = self.redis_connection()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = _started_jobs(connection, self.prefix)
            if not started:
                time.sleep(0.002)
                continue
            pid = worker.process.pid
            os.kill(pid, signal.SIGKILL)
            job = Job.fetch(started[0].split(":")[0], connection=connection)
            status = job.get_status()

            def restarted(old: int = pid) -> bool:
                return bool(worker.process.pid != old and worker.process.poll() is None)

            wait_for(restarted, 60)
            if status == JobStatus.STARTED:
                self.summary.append(
                    f"RQ worker {pid} killed (SIGKILL) in the middle of job {job.id}; "
                    "restarted by the supervisor"
                )
                return
            log(f"job {job.id} had ended ({status}) by the kill: killing again")
        self.failures.append("the RQ worker was never killed in the middle of a job (120 s)")

    def stop_redis(self, seconds: float) -> None:
        self.redis.stop()
        log(f"Redis stopped; back in {seconds:.0f} s")
        time.sleep(seconds)
        self.redis.start()
        self.summary.append(f"Redis stopped (SIGTERM) for {seconds:.0f} s and started from its AOF")

    def kill_web_worker_mid_request(self, reporter: Api) -> None:
        """Send a report's headers and half its body, then kill the gunicorn worker reading it."""
        web = self.supervisor.children[0]
        client_id = f"{self.run}-cut"
        body = json.dumps(
            {
                "category": "SJ0102",
                "description": f"faults {client_id}",
                "location": {"lon": self.point[0], "lat": self.point[1], "crs": "wgs84"},
                "client_id": client_id,
            }
        ).encode()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        head = (
            f"POST /api/v1/mobile/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {reporter.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body[: len(body) // 2])
        owner = None
        for _ in range(100):
            owner = _socket_owner(
                self.port, sock.getsockname()[1], _gunicorn_workers(web.process.pid)
            )
            if owner is not None:
                break
            time.sleep(0.05)
        if owner is None:
            sock.close()
            self.failures.append("could not find the gunicorn worker serving the cut request")
            return
        os.kill(owner, signal.SIGKILL)
        with contextlib.suppress(OSError):
            sock.sendall(body[len(body) // 2 :])
            sock.recv(100)
        sock.close()
        # The phone never saw an answer: it sends the same report again.
        status, case, _ = reporter.retry("POST", "/api/v1/mobile/reports", json.loads(body))
        if status in (200, 201):
            self.ledger.acks[client_id] = case["id"]
        else:
            self.failures.append(f"the report cut by the kill was refused on retry: {status}")
        self.summary.append(
            f"gunicorn worker {owner} killed (SIGKILL) half-way through reading a report; "
            f"the retry answered {status}"
        )

    def age_cases(self, app: Any) -> None:
        """Make a few dispatched cases overdue, as if their time had run out during the faults."""
        from sqlalchemy import update

        from gridapp.cases.models import Case
        from gridapp.core.extensions import db

        with self.ledger.lock:
            ids = sorted(self.ledger.dispatched)[:5]
        now = datetime.now(UTC)
        with app.app_context(), db.transaction() as session:
            session.execute(
                update(Case)
                .where(Case.id.in_(ids), Case.state == "dispatched")
                .values(
                    urgency="urgent",
                    step_started_at=now - timedelta(hours=30),
                    deadline=now - timedelta(hours=1),
                    warn_at=now - timedelta(hours=7),
                )
            )
        db.session.remove()
        self.ledger.overdue.update(ids)
        self.summary.append(
            f"{len(ids)} dispatched cases (not acknowledged) made overdue for the sweep to catch"
        )

    def main(self) -> int:
        with self.services():
            app = self.prepare()
            self.start_processes()
            log(f"serving {self.base}; workers supervised; run {self.run}")
            from gridapp.seed.demo import DEMO_TOTP_SECRET

            reporter = Api(self.base, "grid_worker", DEMO_TOTP_SECRET)
            reporter.login()
            me = reporter.call("GET", "/api/v1/auth/me")[1]
            feature = reporter.call("GET", f"/api/v1/areas/{me['grids'][0]}?format=geojson")[1]
            import shapely

            point = shapely.geometry.shape(feature["geometry"]).representative_point()
            self.point = (point.x, point.y)
            self.ledger = Ledger(self.run)
            load = Load(self.base, self.ledger, self.point, DEMO_TOTP_SECRET)
            # Each thread reports until the faults are over (and a little after), at most
            # ``cases`` reports: the load is bounded in count and in time.
            threads, cases = (2, 12) if self.args.quick else (3, 80)
            load.start(threads, cases)
            outage = 10.0 if self.args.quick else 30.0

            wait_for(lambda: len(self.ledger.acks) >= 3, 120)
            log("fault 1: kill -9 the RQ worker mid-job")
            self.kill_worker_mid_job()
            log("fault 2: stop Redis")
            self.stop_redis(outage)
            log("fault 3: kill -9 a gunicorn worker mid-request")
            self.kill_web_worker_mid_request(reporter)
            self.age_cases(app)
            log("fault 4: restart PostgreSQL")
            time.sleep(2)
            self.summary.append(self.pg.fault())
            faults_over = datetime.now(UTC)
            time.sleep(5 if self.args.quick else 15)
            load.stop.set()
            load.join(300)
            log(f"load done: {len(self.ledger.acks)} reports acknowledged; waiting to catch up")
            self.failures += self.ledger.problems
            self.catch_up(app, faults_over)
        self.print_summary()
        return 1 if self.failures else 0

    def catch_up(self, app: Any, faults_over: datetime) -> None:
        from gridapp.core.extensions import db
        from gridapp.core.outbox import unfinished_count

        connection = self.redis_connection()

        def caught_up() -> bool:
            with app.app_context():
                session = db.session()
                try:
                    if unfinished_count(session):
                        return False
                finally:
                    db.session.remove()
            ended = last_sweep_end(connection, self.prefix)
            return ended is not None and ended > faults_over

        started = time.monotonic()
        ok = wait_for(caught_up, self.args.catch_up, step=2)
        took = time.monotonic() - started
        self.summary.append(
            f"caught up {'in' if ok else 'NOT within'} {took:.0f} s after the last fault"
        )
        with app.app_context():
            session = db.session()
            try:
                self.failures += check_outcome(session, self.ledger, self.var_dir / "media")
                behind = sweep_is_behind(session)
                if behind:
                    self.failures.append(behind)
            finally:
                db.session.remove()
        ended = last_sweep_end(connection, self.prefix)
        if ended is None or ended <= faults_over:
            self.failures.append("no SLA sweep finished after the last fault")
        restarts = {c.name: c.restarts for c in self.supervisor.children}
        self.summary.append(
            f"{len(self.ledger.acks)} reports acknowledged, {len(self.ledger.photos)} photos, "
            f"{len(self.ledger.dispatched)} cases dispatched; restarts {restarts}"
        )

    def print_summary(self) -> None:
        print("\n== make faults ==", flush=True)
        for line in self.summary:
            print(f"  - {line}")
        if self.failures:
            print(f"FAILED: {len(self.failures)} problems")
            for line in self.failures[:50]:
                print(f"  ! {line}")
        else:
            print("PASSED: every acknowledged report once, every thumbnail and notification once,")
            print("        no outbox row unfinished, the SLA sweep caught up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter outage, smaller load")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--catch-up", type=float, default=300, help="seconds to wait for the service to catch up"
    )
    return Faults(parser.parse_args(argv)).main()


if __name__ == "__main__":
    sys.exit(main())
