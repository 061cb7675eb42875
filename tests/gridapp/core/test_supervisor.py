"""`make run`'s supervisor restarts a dead child; a killed worker leaves no orphan (issue 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from gridapp.core.serve import BACKOFF_FIRST, Child, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state letter in /proc tells.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"


def _wait_until(predicate: Callable[[], object], attempts: int = 200) -> bool:
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_killed_child_is_restarted_with_back_off_and_the_others_keep_running():
    web, worker = Child("web", SLEEPER), Child("worker", SLEEPER)
    supervisor = Supervisor([web, worker])
    supervisor.start()
    try:
        assert worker.process is not None and web.process is not None
        first, web_pid = worker.process.pid, web.process.pid
        os.kill(first, signal.SIGKILL)
        worker.process.wait()

        now = time.monotonic()
        supervisor.check(now)
        assert worker.restart_at is not None  # noticed, waiting out its back-off
        supervisor.check(now + BACKOFF_FIRST)

        assert worker.process.pid != first and worker.process.poll() is None
        assert worker.restarts == 1 and worker.backoff == 2 * BACKOFF_FIRST
        assert web.process.pid == web_pid and web.process.poll() is None
        assert not supervisor.stopping
    finally:
        supervisor.stop(grace=5)
    assert all(c.process is not None and c.process.poll() is not None for c in (web, worker))


def test_a_forked_scheduler_dies_with_its_killed_worker(tmp_path):
    """The worker forks RQ's scheduler; kill -9 the worker and the scheduler must go too."""
    pid_file = tmp_path / "scheduler.pid"
    script = textwrap.dedent(
        f"""
        import multiprocessing, os, time
        from gridapp.core.lifetime import die_with_parent

        me = os.getpid()
        os.register_at_fork(after_in_child=lambda: die_with_parent(me))

        def scheduler():
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(600)

        multiprocessing.get_context("fork").Process(target=scheduler).start()
        time.sleep(600)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        assert _wait_until(lambda: pid_file.exists() and pid_file.read_text())
        scheduler = int(pid_file.read_text())
        assert _alive(scheduler)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        assert _wait_until(lambda: not _alive(scheduler)), "the scheduler outlived its worker"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
