"""The embedded SQLite store opened with the standard library alone, for work that needs only
the hand-written SQL of the hot paths (statements.py): starting and ending runs, logging
their params and points, finding runs by their tags, making and reading dataset versions,
lineage edges, and the audit events of those.

Importing SQLAlchemy costs a command more than such work does (about 0.15 s of a 0.35 s
`setpoint pipeline run` whose every step is cached). :class:`LiteDatabase` has the
interface of :class:`~setpoint.store.metadata.database.Database` that those paths use
(``read``, ``write``, ``write_retrying``, connections with ``exec_driver_sql``), with the
same connection set-up and transactions (BEGIN IMMEDIATE for writes), so the services run
on it unchanged. A statement built with SQLAlchemy is refused with
:class:`NeedsSqlAlchemy`, and so is a transaction begun inside another (the full store gives
it a connection of its own): what needs either goes through the full store instead
(client/lite.py does).

It opens only a store whose schema is current; anything else (no file, an older schema,
another database) is :class:`NeedsSqlAlchemy` too, and the full store migrates or opens it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from setpoint.store.metadata.database import (
    SQLITE_BUSY_TIMEOUT_S,
    configure_sqlite,
    read_only_error,
    transient_message,
    unavailable_error,
)
from setpoint.store.metadata.peek import schema_is_current, sqlite_path

T = TypeVar("T")


class NeedsSqlAlchemy(Exception):
    """What was asked of a lite store needs the full one (not an error a user sees)."""


class WouldWait(NeedsSqlAlchemy):
    """The store is busy (another connection is writing) and this lite store was opened not
    to wait: the full store, which waits, does it instead."""


class _Dialect:
    name = "sqlite"
    paramstyle = "qmark"


class LiteResult:
    """The rows of one statement, read as SQLAlchemy's results are read here."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def first(self) -> Any:
        try:
            return self._cursor.fetchone()
        finally:
            self._cursor.close()

    def all(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        finally:
            self._cursor.close()

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())


class _Raw:
    """What ``conn.connection`` is to the code that takes the driver's cursor itself."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.dbapi_connection = raw

    def cursor(self) -> sqlite3.Cursor:
        return self.dbapi_connection.cursor()


class LiteConnection:
    """A connection inside one transaction, taking hand-written SQL only."""

    dialect = _Dialect()

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.connection = _Raw(raw)

    def exec_driver_sql(self, sql: str, params: Any = ()) -> LiteResult:
        cursor = self.connection.dbapi_connection.cursor()
        if isinstance(params, list):  # a list of rows: one statement for each
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return LiteResult(cursor)

    def execute(self, *_args: Any, **_kwargs: Any) -> Any:
        raise NeedsSqlAlchemy("a statement built with SQLAlchemy")


class LiteDatabase:
    """The embedded store's file, opened without SQLAlchemy. Construct freely; :meth:`open`
    connects (or raises NeedsSqlAlchemy). One connection, used by one thread at a time.

    ``wait=False`` opens it for a thread that must not block, such as a server's event loop:
    where another connection holds the store, a statement fails at once and a write raises
    :class:`WouldWait` (rolled back) instead of waiting for it."""

    dialect = "sqlite"

    def __init__(self, url: str, *, wait: bool = True) -> None:
        self.url = url
        self.wait = wait
        self.path = sqlite_path(url)
        self._raw: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._reopen = False  # in a forked child of a process that had it open
        self._inside = False  # a transaction is open (by the thread holding the lock)
        self._inherited: list[sqlite3.Connection] = []

    def open(self) -> LiteDatabase:
        if self._raw is not None:
            return self
        if self.path is None or "?" in self.url or not os.path.isfile(self.path):
            # (options in the URL are SQLAlchemy's to read: it may name another file)
            raise NeedsSqlAlchemy("not an existing SQLite store named by its path alone")
        self._raw = self._connect(self.path, self.wait)
        ref = weakref.ref(self)

        def in_child() -> None:  # a forked child must not use the parent's connection
            db = ref()
            if db is not None:
                db._forked()

        os.register_at_fork(after_in_child=in_child)
        return self

    @staticmethod
    def _connect(path: str, wait: bool) -> sqlite3.Connection:
        timeout = SQLITE_BUSY_TIMEOUT_S if wait else 0
        try:
            raw = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        except sqlite3.Error:
            raise NeedsSqlAlchemy("the file does not open") from None
        try:
            configure_sqlite(raw)
            if not wait:
                raw.execute("PRAGMA busy_timeout=0")
            current = schema_is_current(raw)
        except sqlite3.Error:
            raw.close()
            raise NeedsSqlAlchemy("not a store this version can read as it is") from None
        if not current:
            raw.close()
            raise NeedsSqlAlchemy("the store's schema is not current")
        return raw

    def _forked(self) -> None:
        self._lock = threading.RLock()
        self._inside = False
        if self._raw is not None:
            self._inherited.append(self._raw)  # left as it is: closing it is the parent's
            self._raw = None
            self._reopen = True

    def close(self) -> None:
        """Close, first copying what this process wrote into the database file (as the
        full store's closing checkpoint does), so the next process need not read it from
        the WAL."""
        with self._lock:
            if self._raw is None:
                return
            try:
                self._raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:  # busy: the next checkpoint copies it
                pass
            self._raw.close()
            self._raw = None

    def read(self) -> AbstractContextManager[LiteConnection]:
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[LiteConnection]:
        """One write transaction; committed on success, rolled back on any exception."""
        return self._transaction("BEGIN IMMEDIATE")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[LiteConnection]:
        with self._lock:
            if self._raw is None and self._reopen and self.path is not None:
                self._raw = self._connect(self.path, self.wait)
            raw = self._raw
            if raw is None:
                raise RuntimeError("the lite store is not open (not opened yet, or closed)")
            if self._inside:  # this thread's own transaction is open: not one to undo
                raise NeedsSqlAlchemy("a transaction inside a transaction")
            self._inside = True
            try:
                if raw.in_transaction:  # left open by an interrupt: nothing of it is kept
                    raw.rollback()
                # An interrupt (Ctrl-C, SIGTERM in the CLI) is raised right after the lock
                # is taken: inside the try, so that it is rolled back.
                raw.execute(begin)
                yield LiteConnection(raw)
                raw.execute("COMMIT")
            except BaseException:
                raw.rollback()  # a no-op once nothing is open
                raise
            finally:
                self._inside = False

    def write_retrying(self, fn: Callable[[LiteConnection], T], attempts: int = 4) -> T:
        """Run ``fn`` in a write transaction, trying again while the store is busy (as
        Database.write_retrying does); opened not to wait, WouldWait at once instead."""
        for attempt in range(attempts):
            tx = self.write()
            try:
                with tx as conn:
                    return fn(conn)
            except sqlite3.Error as exc:
                if "readonly database" in str(exc):
                    raise read_only_error(self.path) from None
                if not transient_message(str(exc)):
                    raise
                if not self.wait:
                    raise WouldWait(str(exc)) from exc
                if attempt == attempts - 1:
                    raise unavailable_error(exc) from exc
            finally:
                # An interrupt landing as the transaction begins, before the with statement
                # holds it, would leave it suspended (holding the lock): end it.
                tx.gen.close()  # type: ignore[attr-defined]
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")
