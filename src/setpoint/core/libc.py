"""Linux C library calls that Python's ``os`` module lacks, through ctypes: each a hint or
a safeguard, so that where there is none (another system, a Python built without libffi,
a C library without the call) setpoint works as it would without it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h
FALLOC_FL_KEEP_SIZE = 1  # linux/falloc.h


def function(name: str) -> Any | None:
    """The C library's function ``name`` on Linux, or None where it cannot be had. Looked up
    on each call (a lookup is cheap next to what the callers do)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes  # a Python built without libffi has none

        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (ImportError, OSError, AttributeError):
        return None


def parent_death_tie(parent: int) -> Callable[[], bool] | None:
    """What ties a child process to ``parent``: called in the child (between fork and exec,
    or once it runs), it has the kernel send the child SIGTERM when the parent dies, even by
    SIGKILL (``prctl(PR_SET_PDEATHSIG)``), and says whether the parent is still its parent
    (False: it died before the tie was made). None where nothing can tie them. Looked up
    here, in the parent: nothing is loaded after a fork."""
    prctl = function("prctl")
    if prctl is None:
        return None

    def tie() -> bool:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        return os.getppid() == parent

    return tie
