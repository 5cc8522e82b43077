"""Schema migrations: check the version cheaply on open, upgrade under a cross-process lock.

Alembic is imported only when an upgrade is due, so opening an up-to-date store stays fast.
Several processes may start at once: PostgreSQL serialises upgrades with an advisory lock,
SQLite with an exclusive file lock beside the database file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from setpoint.core.errors import SchemaOutOfDateError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# The newest revision under migrations/versions; a test keeps the two in step.
HEAD = "0015"
_PG_LOCK_ID = 0x5E7901  # arbitrary, constant: "setpoint migrations"
MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def current_revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def ensure_current(engine: Engine, *, auto_upgrade: bool) -> None:
    with engine.connect() as conn:
        rev = current_revision(conn)
        conn.rollback()
    if rev == HEAD:
        return
    if not auto_upgrade:
        where = "an empty database" if rev is None else f"revision {rev}"
        raise SchemaOutOfDateError(
            f"the metadata database is at {where}, this setpoint needs revision {HEAD}: "
            "run `setpoint db upgrade`"
        )
    upgrade(engine)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to HEAD; safe to call from many processes at once. Returns (from, to)."""
    with _migration_lock(engine), engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
        if before != HEAD:
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", MIGRATIONS_DIR)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        return before, HEAD


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_ID})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_ID})
                conn.commit()
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    import fcntl

    with open(path + ".migrate-lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
