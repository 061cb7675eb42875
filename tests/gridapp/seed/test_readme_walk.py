"""The README's walk of one case runs as written against `make run`, and the case ends evaluated.

The server is `python -m gridapp.core.serve` (what `make run` starts: migrations, the demo
seed, gunicorn and an RQ worker) on a free loopback port, with its own throw-away database,
media folder and queue prefix; everything is stopped and removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKEND, REDIS_URL
from tests.gridapp.conftest import DEMO_PASSWORD, DEMO_TOTP_SECRET, totp_code
from tests.gridapp.throwaway import throwaway_database

ROOT = Path(__file__).resolve().parents[3]
HEADING = "## Walk one case from report to evaluation"
README_BASE = "http://127.0.0.1:5000"
README_PYTHON = ".venv/bin/python"
# Guards against a hung server or walk, not pauses: nothing waits for a timer to run out.
START_SECONDS = 180
WALK_SECONDS = 300


def walk_script() -> str:
    """Return the one ```sh block of the README section that walks a case."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in readme
    section = readme.split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"expected one sh block under {HEADING!r}, found {len(blocks)}"
    return str(blocks[0])


@dataclass
class Server:
    """A running `make run` server and everything it printed so far."""

    base: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        """Keep the pipe drained; note when gunicorn listens (or the server died)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "Listening at:" in line:
                self.listening.set()
        self.listening.set()

    def log(self) -> str:
        return "".join(self.output[-200:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(var_dir: Path, database_url: str, port: int, queue_prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "GRIDAPP_ENV"}}
    env.update(
        GRIDAPP_VAR_DIR=str(var_dir),
        GRIDAPP_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(32),
        DEMO="1",
        QUEUE_PREFIX=queue_prefix,
    )
    if BACKEND == "postgres":
        env["REDIS_URL"] = REDIS_URL
    return env


def forget_queues(prefix: str) -> None:
    """Remove what the server's jobs left in the shared Redis (SQLite runs an embedded one)."""
    if BACKEND != "postgres":
        return
    import redis

    conn = redis.Redis.from_url(REDIS_URL)
    for key in conn.scan_iter(match=f"*{prefix}*"):
        conn.delete(key)
    ours = [q for q in conn.smembers("rq:queues") if prefix.encode() in q]
    if ours:
        conn.srem("rq:queues", *ours)
    # The stopped worker's record is named at random; its queues say it was ours.
    for key in conn.scan_iter(match="rq:worker:*", _type="hash"):
        if prefix.encode() in (conn.hget(key, "queues") or b""):
            conn.delete(key)
    conn.close()


@pytest.fixture()
def server(run_id: str, postgis_template: str | None) -> Iterator[Server]:
    var_dir = Path(tempfile.mkdtemp(prefix="gridapp-walk-"))
    prefix = f"test{run_id}walk"
    try:
        with throwaway_database(var_dir, "walk", postgis_template) as database_url:
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "gridapp.core.serve"],
                cwd=ROOT,
                env=server_env(var_dir, database_url, port, prefix),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own group: the teardown can stop all of it
            )
            running = Server(f"http://127.0.0.1:{port}", process)
            reader = threading.Thread(target=running.read, daemon=True)
            reader.start()
            try:
                assert running.listening.wait(START_SECONDS), running.log()
                assert process.poll() is None, running.log()
                yield running
            finally:
                stop(process)
                reader.join(timeout=30)
    finally:
        forget_queues(prefix)
        shutil.rmtree(var_dir, ignore_errors=True)


def stop(process: subprocess.Popen[str]) -> None:
    """Stop the server as Ctrl-C does (it stops gunicorn and the worker); kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def call(base: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_walk_in_the_readme_takes_a_case_to_evaluated(server):
    script = walk_script().replace(README_BASE, server.base).replace(README_PYTHON, sys.executable)

    walk = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WALK_SECONDS,
    )

    assert walk.returncode == 0, f"{walk.stdout}\n{walk.stderr}\n--- server ---\n{server.log()}"
    assert walk.stdout.rstrip().endswith("evaluated"), walk.stdout
    login = {"username": "supervisor", "password": DEMO_PASSWORD}
    token = call(
        server.base,
        "/api/v1/auth/login",
        login | {"otp": totp_code(DEMO_TOTP_SECRET, time.time() + 30)},
    )
    cases = call(server.base, "/api/v1/cases", token=token["access_token"])["items"]
    assert [(c["category"], c["state"]) for c in cases] == [("BJ0101", "evaluated")]
    assert f"dispatched to {cases[0]['department']}" in walk.stdout
