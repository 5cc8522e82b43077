"""One question answered straight from a local SQLite store with the standard library: which
version of a dataset is the latest, and what does it hold?

``setpoint data add`` of an unchanged file needs only that answer; opening the store the
usual way (SQLAlchemy, the migration check, every lifecycle service) costs several times the
whole answer. Anything unusual (no file, an older schema, a locked or damaged database)
answers None, and the caller takes the usual way.
"""

from __future__ import annotations

import os
import sqlite3

from setpoint.store.metadata.migrate import HEAD

_LATEST = (
    "SELECT v.version, v.digest FROM dataset_versions v "
    "JOIN datasets d ON d.id = v.dataset_id JOIN projects p ON p.id = d.project_id "
    "WHERE p.name = ? AND d.name = ? ORDER BY v.version DESC LIMIT 1"
)


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL; None for any other database."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return url[len(prefix) :].split("?", 1)[0]


def _uri_path(path: str) -> str:
    """``path`` as the path of a ``file:`` URI: '%', '?' and '#' would end or bend it."""
    return os.path.abspath(path).replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def schema_is_current(conn: sqlite3.Connection) -> bool:
    """Whether the store's schema is the one this version reads (sqlite3.Error when the
    file holds no store)."""
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return revision is not None and revision[0] == HEAD


def latest_dataset_version(path: str, project: str, name: str) -> tuple[int, str] | None:
    """(version, digest) of the dataset's latest version, or None (see the module's note)."""
    if not os.path.isfile(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        if not schema_is_current(conn):
            return None
        row = conn.execute(_LATEST, (project, name)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))
    except sqlite3.Error:
        return None
    finally:
        conn.close()
