"""The SQLite writer queue: BEGIN IMMEDIATE behind an flock, released by commit or rollback."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from gridapp.core.db import make_engine
from gridapp.core.db_sqlite import QueuedConnection


def connect(path: Path) -> QueuedConnection:
    conn = sqlite3.connect(
        str(path),
        isolation_level=None,
        factory=QueuedConnection,
        timeout=5,
        check_same_thread=False,
    )
    assert isinstance(conn, QueuedConnection)
    return conn


def wait_until_a_writer_queues_on(lock_file: Path) -> None:
    """Return once some process or thread waits for the flock of ``lock_file``.

    Linux lists a blocked flock in /proc/locks with "->"; seeing it proves the second writer
    is inside the queue, so the order asserted below is not an accident of scheduling.
    """
    inode = f":{lock_file.stat().st_ino} "
    pause = threading.Event()
    for _ in range(2000):
        locks = Path("/proc/locks").read_text().splitlines()
        if any("->" in line and inode in line for line in locks):
            return
        pause.wait(0.005)
    raise AssertionError(f"nobody queued on {lock_file}")


def second_writer_waits_for(path: Path, end_first: str) -> list[str]:
    """Start a transaction, let another thread try to begin one, then end the first."""
    first, second = connect(path), connect(path)
    first.execute("CREATE TABLE IF NOT EXISTS t (x)")
    # SQLite alone would give up after 10 ms; only the queue makes the second writer wait.
    second.execute("PRAGMA busy_timeout=10")
    order: list[str] = []
    first.begin_immediate()
    first.execute("INSERT INTO t VALUES (1)")

    def other() -> None:
        try:
            second.begin_immediate()
        except sqlite3.OperationalError as exc:
            order.append(f"second failed: {exc}")
            return
        order.append("second began")
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    thread = threading.Thread(target=other)
    thread.start()
    wait_until_a_writer_queues_on(Path(f"{path}.writelock"))
    order.append("first ends")
    getattr(first, end_first)()
    thread.join(timeout=10)
    assert not thread.is_alive()
    first.close()
    second.close()
    return order


@pytest.mark.parametrize("end_first", ["commit", "rollback", "close"])
def test_a_second_writer_queues_until_the_first_ends(tmp_path, end_first):
    path = tmp_path / "queue.db"

    order = second_writer_waits_for(path, end_first)

    assert order == ["first ends", "second began"]
    assert (tmp_path / "queue.db.writelock").exists()
    check = sqlite3.connect(str(path))
    rows = sorted(x for (x,) in check.execute("SELECT x FROM t"))
    check.close()
    assert rows == ([1, 2] if end_first == "commit" else [2])


def test_a_failed_begin_leaves_the_queue(tmp_path):
    path = tmp_path / "busy.db"
    outsider = sqlite3.connect(str(path), isolation_level=None)  # takes no queue, like a shell
    outsider.execute("BEGIN IMMEDIATE")
    queued = connect(path)
    queued.execute("PRAGMA busy_timeout=50")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        queued.begin_immediate()

    outsider.rollback()
    other = connect(path)
    other.begin_immediate()  # would block for ever if the failed begin had kept the flock
    other.rollback()
    for conn in (outsider, queued, other):
        conn.close()


def test_in_memory_databases_take_no_lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    conn = connect(Path(":memory:"))
    conn.begin_immediate()
    conn.rollback()
    conn.close()

    assert list(tmp_path.iterdir()) == []


def test_engine_sessions_take_the_queue(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    try:
        with engine.begin() as conn:
            dbapi = conn.connection.dbapi_connection
            assert isinstance(dbapi, QueuedConnection)
            conn.execute(text("CREATE TABLE t (x)"))
            assert dbapi._queued
        assert not dbapi._queued
    finally:
        engine.dispose()
