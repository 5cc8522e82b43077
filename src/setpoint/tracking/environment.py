"""What ran and where: git commit and dirty flag, host, user, Python and key package versions.

Captured once per process and working directory (a ``git`` call costs milliseconds, a run
should not).
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache

# Packages whose versions are worth recording when the training code has imported them.
KEY_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "xgboost",
    "lightgbm",
    "torch",
    "tensorflow",
    "onnx",
    "onnxruntime",
    "polars",
    "setpoint",
)
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


@dataclass(frozen=True, kw_only=True)
class RunEnvironment:
    git_commit: str | None = None
    git_dirty: bool | None = None
    host: str | None = None
    user: str | None = None
    python_version: str | None = None
    packages: dict[str, str] = field(default_factory=dict)


def capture() -> RunEnvironment:
    commit, dirty = _git_state(os.getcwd())
    return RunEnvironment(
        git_commit=commit,
        git_dirty=dirty,
        host=_host(),
        user=_user(),
        python_version=platform.python_version(),
        packages=_packages(tuple(sorted(m for m in KEY_PACKAGES if m in sys.modules))),
    )


@lru_cache(maxsize=8)
def _git_state(cwd: str) -> tuple[str | None, bool | None]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    return head.stdout.strip() or None, bool(status.stdout.strip())


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def current_user() -> str | None:
    """The login name of this process's user (cheap; no git call)."""
    return _user()


@lru_cache(maxsize=1)
def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@lru_cache(maxsize=32)
def _packages(modules: tuple[str, ...]) -> dict[str, str]:
    """The version of each imported module: its ``__version__`` (what was imported, and
    without a scan of the installed distributions), else its distribution's."""
    out = {}
    for m in modules:
        dist = _DISTRIBUTIONS.get(m, m)
        given = getattr(sys.modules.get(m), "__version__", None)
        if isinstance(given, str) and given:
            out[dist] = given
            continue
        from importlib.metadata import PackageNotFoundError, version

        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out
