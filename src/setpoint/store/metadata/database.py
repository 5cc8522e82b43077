"""The metadata database handle: engine set-up per dialect, read and write transactions.

SQLite runs in WAL mode and takes its write lock at ``BEGIN IMMEDIATE``, so that concurrent
writers queue on the busy timeout instead of failing with "database is locked" half-way through
a transaction. PostgreSQL connections are pre-pinged so a restarted server is survived.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from setpoint.core.errors import (
    ConfigurationError,
    InvalidArgumentError,
    StoreBusyError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 120
# How long a caller waits for a pooled connection when all are in use (SQLAlchemy: 30 s);
# writers queue on locks holding theirs, so a burst of them waits as long as a lock may take.
POOL_TIMEOUT_S = SQLITE_BUSY_TIMEOUT_S
# How often the background checkpointer copies the WAL into the database file.
CHECKPOINT_EVERY_S = 0.5
# A WAL longer than this many frames (pages; 4 KiB each by default, so 64 MiB) is started
# over once it is all copied. Under steady writes a passive checkpoint never catches up
# with the writer at the moment a transaction begins, which is when SQLite would start the
# WAL over itself, so without this it grows for as long as the writes go on. Starting over
# holds writers off for tens of milliseconds: a larger bound makes that rarer.
WAL_MAX_FRAMES = 16384
# How long starting the WAL over may hold off writers while it waits for readers.
WAL_RESTART_WAIT_MS = 50
_WRITE = "setpoint_write"


def normalize_url(url: str) -> str:
    """Accept the URLs users type (`postgresql://`, `postgres://`) and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """A metadata database. Construct freely; nothing connects until :meth:`open`."""

    def __init__(self, url: str, *, auto_upgrade: bool | None = None) -> None:
        self.url = normalize_url(url)
        # The embedded SQLite default upgrades itself; a shared server is upgraded explicitly.
        self.auto_upgrade = self.url.startswith("sqlite") if auto_upgrade is None else auto_upgrade
        self._engine: Engine | None = None
        self._checkpointer: _Checkpointer | None = None

    @property
    def dialect(self) -> str:
        return self.url.split(":", 1)[0].split("+", 1)[0]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("Database.open() has not been called")
        return self._engine

    def open(self) -> Database:
        if self._engine is not None:
            return self
        engine = self._create_engine()
        from sqlalchemy.exc import DBAPIError

        from setpoint.store.metadata import migrate

        try:
            migrate.ensure_current(engine, auto_upgrade=self.auto_upgrade)
        except (DBAPIError, ValueError) as exc:  # ValueError: a URL part that does not parse
            engine.dispose()
            if isinstance(exc, DBAPIError) and _transient(exc):
                raise unavailable_error(exc) from None
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"]
            where = engine.url.render_as_string(hide_password=True)
            raise ConfigurationError(
                f"cannot open the metadata database {where}: {reason[0]}",
                field="SETPOINT_DATABASE_URL",
            ) from None
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine
        if self.dialect == "sqlite":
            self._checkpointer = _Checkpointer(engine)
            self._checkpointer.start()
        return self

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            if self.dialect == "sqlite":
                path = self.url.split("///", 1)[1] if "///" in self.url else ""
                if path and path != ":memory:":
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                engine = create_engine(
                    self.url,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                    pool_timeout=POOL_TIMEOUT_S,
                )
                event.listen(engine, "connect", _sqlite_on_connect)
                event.listen(engine, "begin", _sqlite_on_begin)
                event.listen(engine, "handle_error", _sqlite_on_interrupt)
            else:
                engine = create_engine(
                    self.url, pool_pre_ping=True, pool_size=5, pool_timeout=POOL_TIMEOUT_S
                )
        except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ValueError) as exc:
            shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", self.url)  # no password
            raise ConfigurationError(
                f"cannot use database URL {shown!r}: {exc}", field="SETPOINT_DATABASE_URL"
            ) from None
        # A forked child must not reuse the parent's sockets or SQLite handles.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection to read with; a connection lost meanwhile is a StoreUnavailableError
        (reads change nothing: the caller may simply try again)."""
        from sqlalchemy.exc import DBAPIError

        with self._connect() as conn:
            try:
                yield conn
            except DBAPIError as exc:
                if _holds_nul(exc):
                    raise _nul_refused() from None
                if not _transient(exc):
                    raise
                raise unavailable_error(exc) from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; committed on success, rolled back on any exception."""
        with self._connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            try:
                with conn.begin():
                    yield conn
            except BaseException as exc:
                if not isinstance(exc, Exception) and not conn.invalidated:
                    # interrupted (Ctrl-C, SIGTERM): rolled back, but a statement of it may
                    # still be in progress, which a later commit on this connection would
                    # trip on; it is not handed out again
                    conn.invalidate()
                raise

    def _connect(self) -> Connection:
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        try:
            return self.engine.connect()
        except PoolTimeout:
            raise StoreBusyError(
                "every pooled connection to the metadata database stayed busy for "
                f"{POOL_TIMEOUT_S} s; try again"
            ) from None
        except DBAPIError as exc:  # the server is down or restarting
            if not _transient(exc):
                raise
            raise unavailable_error(exc) from exc

    def write_retrying(self, fn: Callable[[Connection], T], attempts: int = 4) -> T:
        """Run ``fn`` in a write transaction, retrying when the connection was lost."""
        from sqlalchemy.exc import DBAPIError

        for attempt in range(attempts):
            tx = self.write()
            try:
                with tx as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if _holds_nul(exc):
                    raise _nul_refused() from None
                if not _transient(exc):
                    if "readonly database" in str(exc.orig):
                        raise read_only_error(self.engine.url.database) from None
                    raise
                if attempt == attempts - 1:
                    raise unavailable_error(exc) from exc
            except StoreUnavailableError:  # from connecting
                if attempt == attempts - 1:
                    raise
            finally:
                # An interrupt landing as the transaction begins or ends, between write()
                # and the with statement, leaves write() suspended with its transaction
                # open (and the write lock held) until the traceback is collected: end it.
                tx.gen.close()
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")


def unavailable_error(exc: Exception) -> StoreUnavailableError:
    """A lost or refused connection (or a lock held past the busy timeout) as one line,
    without the SQL."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["connection lost"]
    return StoreUnavailableError(
        f"the metadata database could not be reached or its connection was lost "
        f"({reason[0]}); try again"
    )


def read_only_error(database: str | None) -> ConfigurationError:
    """The SQLite file (or its folder) cannot be written."""
    return ConfigurationError(
        f"the metadata database {database} is read-only (its file or folder cannot be "
        "written): nothing was changed",
        field="SETPOINT_DATABASE_URL",
    )


def _holds_nul(exc: Exception) -> bool:
    """PostgreSQL refusing a text value with a NUL character in it."""
    return "0x00" in str(getattr(exc, "orig", None) or "")


def _nul_refused() -> InvalidArgumentError:
    return InvalidArgumentError(
        "a text value holds a NUL character (\\x00), which the metadata database cannot store",
        field="value",
    )


def _transient(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # the driver's own message: the statement and its values (which may hold any word) no
    return transient_message(str(getattr(exc, "orig", None) or exc))


def transient_message(message: str) -> bool:
    """Whether a driver's error message says trying again may succeed (a lock, a lost
    connection), not that the request itself is wrong."""
    text = message.lower()
    if "does not exist" in text or "authentication failed" in text:
        return False  # a wrong URL or password: trying again changes nothing
    return any(
        s in text
        for s in ("database is locked", "connection", "server closed", "terminating", "deadlock")
    )


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    configure_sqlite(dbapi_conn)


def configure_sqlite(dbapi_conn: Any) -> None:
    """Set up a new connection to the embedded store (here and in lite.py's, which opens it
    without SQLAlchemy): transactions begun explicitly, WAL, checkpoints left to the
    store's own checkpointer, foreign keys, PostgreSQL's case rules."""
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can ask for IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints (which fsync) run in a background thread instead of inside whichever commit
    # crosses the threshold; see _Checkpointer.
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.execute("PRAGMA foreign_keys=ON")
    # lower() of every letter, as PostgreSQL's (SQLite's own folds ASCII only): ILIKE in
    # search filters is lower(x) LIKE lower(y) here
    dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
    cur.execute(
        "PRAGMA case_sensitive_like=ON"
    )  # LIKE in filters is case-sensitive, as ILIKE is not
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()


def _lower(text: object) -> object:
    return text.lower() if isinstance(text, str) else text


def _sqlite_on_begin(conn) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _sqlite_on_interrupt(ctx) -> None:  # type: ignore[no-untyped-def]
    # Ctrl-C, or SIGTERM in the CLI, raised during a statement: SQLAlchemy takes the
    # connection for lost and closes it, but SQLite keeps a connection whose statement is
    # still open (its cursor, held by the exception's traceback) until that is freed, and
    # with it the transaction and its write lock: every later write of this process (ending
    # its runs on the way out) then waits out the busy timeout on a lock it holds itself.
    # Rolled back first, the connection closes holding nothing.
    conn = ctx.connection
    if isinstance(ctx.original_exception, Exception) or conn is None or conn.invalidated:
        return
    raw = conn.connection.dbapi_connection
    if raw is not None:
        try:
            raw.rollback()
        except Exception:  # closed already: nothing is held
            pass


class _Checkpointer:
    """Copies the SQLite WAL into the database file in the background (PASSIVE: it never
    blocks readers or writers), so no user's commit pays for a checkpoint's fsyncs. Every
    process that opens the store runs one; closing the store checkpoints once more."""

    def __init__(self, engine: Engine) -> None:
        import threading

        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="setpoint-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.checkpoint()

    def _run(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY_S):
            self.checkpoint()

    def checkpoint(self) -> None:
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                # cheap when nothing is new; gives (busy, frames in the WAL, frames copied)
                _, frames, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                # Only once everything is copied: then starting over has little to copy
                # and sync while writers wait.
                if frames > WAL_MAX_FRAMES and copied == frames:
                    self._restart(raw)
        except Exception:  # a busy or closed store: the next round (or process) retries
            return

    @staticmethod
    def _restart(raw: Any) -> None:
        """Copy what is left and have the next writer start the WAL from its beginning (the
        file keeps its size, reused: truncating it costs more). Writers wait meanwhile, at
        most WAL_RESTART_WAIT_MS for readers to finish; then it gives up until next round."""
        raw.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
        try:
            raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
