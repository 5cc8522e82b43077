"""Whether a SQLite file's write lock is free, as another connection finds it."""

from __future__ import annotations

import os
import sqlite3


def write_lock_free(path: str | os.PathLike[str]) -> bool:
    """Whether another connection can begin a write transaction on ``path`` at once (a
    transaction left open, or a lock never released, holds it)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        other.close()
