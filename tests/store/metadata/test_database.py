"""The SQLite store's background checkpointer: commits never pay for checkpoints, and the
database file still receives the data while the store is open."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from setpoint.store.metadata.database import CHECKPOINT_EVERY_S, Database
from sqlite_locks import write_lock_free


def test_the_wal_reaches_the_database_file_while_open(tmp_path: Path) -> None:
    path = tmp_path / "setpoint.db"
    db = Database(f"sqlite:///{path}").open()
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE filler (x TEXT)")
    size_before = os.path.getsize(path)
    for _ in range(50):
        with db.write() as conn:
            conn.exec_driver_sql("INSERT INTO filler VALUES (?)", ("x" * 4000,))
    deadline = time.monotonic() + 10 * CHECKPOINT_EVERY_S + 5
    while os.path.getsize(path) < size_before + 50 * 4000:
        assert time.monotonic() < deadline, "the WAL was never checkpointed"
        time.sleep(CHECKPOINT_EVERY_S / 2)
    db.close()


def test_closing_checkpoints_everything(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "setpoint.db"
    db = Database(f"sqlite:///{path}").open()
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (42)")
    db.close()
    # Opened read-only and ignoring the WAL, the file alone holds the row.
    raw = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    assert raw.execute("SELECT x FROM t").fetchall() == [(42,)]
    raw.close()


def test_the_wal_stays_bounded_under_steady_writes(tmp_path: Path, monkeypatch) -> None:
    """A long-running server commits all the time; a passive checkpoint alone never lets
    SQLite start the WAL over, and the file grew by gigabytes during a day of logging."""
    import struct

    from setpoint.store.metadata import database

    monkeypatch.setattr(database, "WAL_MAX_FRAMES", 200)
    path = tmp_path / "setpoint.db"
    wal = Path(f"{path}-wal")
    db = Database(f"sqlite:///{path}").open()
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER, pad TEXT)")
    writes = 0
    starts = set()  # the WAL header's checkpoint sequence: it changes when the WAL starts over
    deadline = time.monotonic() + 8 * CHECKPOINT_EVERY_S
    while time.monotonic() < deadline:
        with db.write() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (writes, "x" * 3000))
        writes += 1
        with db.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM t").all()
        with wal.open("rb") as fh:
            starts.add(struct.unpack(">I", fh.read(16)[12:16])[0])
    # started over again and again: the file's space is reused instead of growing on
    assert len(starts) >= 3
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*), max(x) FROM t").one() == (writes, writes - 1)
    db.close()


def test_a_pool_that_stays_busy_is_a_store_busy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers that wait longer than the pool allows get a 503-class error, not the pool's
    TimeoutError (which a server answered as a 500)."""
    from setpoint.core.errors import StoreBusyError
    from setpoint.store.metadata import database

    monkeypatch.setattr(database, "POOL_TIMEOUT_S", 0.2)
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}").open()
    held = [db.engine.connect() for _ in range(15)]  # the pool's 5 and its 10 more
    try:
        with pytest.raises(StoreBusyError) as err, db.read():
            pass
        assert err.value.status == 503
    finally:
        for conn in held:
            conn.close()
        db.close()


def test_a_connection_lost_mid_read_is_a_store_unavailable_error(pg_database: str) -> None:
    """A read whose connection the server dropped (a restart) raised SQLAlchemy's own error,
    SQL text and all, out of `run.log_bytes` and the like; it is a 503-class SetpointError
    of one line, and the next read works."""
    from sqlalchemy import create_engine, text

    from setpoint.core.errors import StoreUnavailableError

    db = Database(pg_database).open()
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        with pytest.raises(StoreUnavailableError) as err, db.read() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.execute(text("SELECT 1"))
        assert err.value.status == 503 and "SELECT" not in err.value.message
        assert len(err.value.message.splitlines()) == 1
        with db.read() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        admin.dispose()
        db.close()


def _interrupted(db: Database, fn: Any) -> pytest.ExceptionInfo[KeyboardInterrupt]:
    with pytest.raises(KeyboardInterrupt) as caught:
        db.write_retrying(fn)
    return caught  # kept, as an exception being handled is: its traceback holds the cursor


def test_a_write_interrupted_during_a_statement_leaves_no_lock_behind(tmp_path: Path) -> None:
    """Ctrl-C (SIGTERM, in the CLI) while a statement of a write ran: the connection was
    closed with its statement open, which SQLite keeps, transaction and write lock with it,
    for as long as the exception's traceback lives; so the process's next write (a killed
    pipeline ending its runs) waited out the busy timeout on a lock it held itself."""
    from sqlalchemy import event

    path = tmp_path / "setpoint.db"
    db = Database(f"sqlite:///{path}").open()
    db.write_retrying(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x INTEGER)"))
    db.write_retrying(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (1), (2)"))

    def interrupt(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT x"):
            raise KeyboardInterrupt

    event.listen(db.engine, "after_cursor_execute", interrupt)
    try:
        caught = _interrupted(db, lambda conn: conn.exec_driver_sql("SELECT x FROM t").all())
    finally:
        event.remove(db.engine, "after_cursor_execute", interrupt)
    assert write_lock_free(path)
    db.write_retrying(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (3)"))
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 3
    del caught
    db.close()


def test_a_write_interrupted_between_statements_leaves_its_connection_usable(
    tmp_path: Path,
) -> None:
    """Interrupted with a statement's rows unread: rolled back, but the statement stayed in
    progress on the pooled connection, and the next write on it could not commit."""
    path = tmp_path / "setpoint.db"
    db = Database(f"sqlite:///{path}").open()
    db.write_retrying(lambda conn: conn.exec_driver_sql("CREATE TABLE t (x INTEGER)"))
    db.write_retrying(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (1), (2)"))

    def update_then_interrupt(conn: Any) -> None:
        rows = conn.exec_driver_sql("UPDATE t SET x = x + 10 RETURNING x")
        rows.fetchone()  # the second row unread
        raise KeyboardInterrupt

    caught = _interrupted(db, update_then_interrupt)
    assert write_lock_free(path)
    for _ in range(3):  # whichever pooled connection each gets
        db.write_retrying(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (3)"))
    with db.read() as conn:
        assert sorted(r[0] for r in conn.exec_driver_sql("SELECT x FROM t")) == [1, 2, 3, 3, 3]
    del caught
    db.close()
