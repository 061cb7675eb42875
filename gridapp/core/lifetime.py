"""Tie a child process's life to its parent's, so a killed parent leaves no orphan."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def linux_libc() -> ctypes.CDLL | None:
    """The C library on Linux, for its process settings (prctl, mallopt); None elsewhere."""
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not name:
        return None
    return ctypes.CDLL(name, use_errno=True)


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux prctl).

    Call it in the child right after the fork. Elsewhere the supervisor's kill of the child's
    process group is the only guard. If the parent is already gone, exit at once.
    """
    libc = linux_libc()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)
