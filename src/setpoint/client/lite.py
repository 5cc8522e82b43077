"""The local client for a short command that mostly starts and ends runs or adds a dataset
version, such as ``setpoint pipeline run`` of a pipeline whose steps are cached, or
``setpoint data add``.

On the embedded SQLite store, the operations that need only hand-written SQL (starting and
ending runs, their params, tags, points and heartbeats, one run, the runs carrying some
tags; making a dataset version, reading one and its files; a lineage edge) go to the store
opened without SQLAlchemy (store/metadata/lite.py), and blobs to the blob folder. Every
other operation goes to a full :class:`LocalClient`, opened the first time one is asked for;
so does one of those whose transaction met a statement the lite store cannot run (rolled
back first, so the full client does it whole). The answers, the checks and the records are those of the full
client: the same services run on both stores.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from setpoint.api.operations import Api
from setpoint.core.clock import Clock, SystemClock
from setpoint.core.config import Settings
from setpoint.core.types import BlobRef
from setpoint.data.versions import DatasetVersions
from setpoint.governance.audit import AuditLog
from setpoint.store.artifacts.blobs import BlobStore
from setpoint.store.metadata.lite import LiteDatabase, NeedsSqlAlchemy
from setpoint.tracking.lineage import Lineage
from setpoint.tracking.runs import Runs

if TYPE_CHECKING:
    from setpoint.client.local import LocalClient
    from setpoint.store.metadata.database import Database

# Operations of the services served here that commit one transaction, at their end (before
# it, get_run and tagged_runs may fail runs whose heartbeat stopped, which done again
# changes nothing): one that fails on the lite store changed nothing, and the full client
# does it again.
LITE_RUN_OPERATIONS = frozenset(
    {
        "create_run",
        "end_run",
        "log_params",
        "set_tags",
        "log_metrics",
        "log_batch",
        "heartbeat",
        "get_run",
        "tagged_runs",
    }
)
LITE_DATASET_OPERATIONS = frozenset({"create", "get", "list_files"})
LITE_LINEAGE_OPERATIONS = frozenset({"add"})  # a step recording the data it consumed


def open_lite_client(settings: Settings) -> LiteClient | None:
    """A LiteClient for these settings, or None where one cannot serve (a server, another
    database, no store yet, a schema to upgrade): the full client is then the one to use."""
    if settings.remote:
        return None
    client = LiteClient(settings)
    try:
        return client.open()
    except NeedsSqlAlchemy:
        return None


def open_inline_client(full: LocalClient) -> LiteClient | None:
    """A LiteClient over the open ``full`` client's store for a thread that must not block,
    such as a server's event loop (a call through ``full`` goes to a thread of its own, which
    costs more than logging a point does): its lite operations never wait for the store,
    and raise NeedsSqlAlchemy (nothing done) where they cannot be done at once, for the
    caller to do them through ``full``. None where the store is not one it can open."""
    client = LiteClient(full.settings, clock=full.clock, full=full, wait=False)
    try:
        return client.open()
    except NeedsSqlAlchemy:
        return None


class LiteClient(Api):
    """All operations, in process; see the module's note. Construct, then :meth:`open`.
    ``full``: an open full client to use (not closed here) instead of opening one;
    ``wait=False``: see :func:`open_inline_client`."""

    mode = "local"

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        full: LocalClient | None = None,
        wait: bool = True,
    ) -> None:
        # Api's services are not all made here: ``runs`` and ``datasets`` are served here
        # (in part), and every other attribute comes from the full client (__getattr__).
        self.settings = settings
        self.clock = clock or SystemClock()
        self.lite = LiteDatabase(settings.database_url, wait=wait)
        self.blobs = BlobStore.for_settings(settings)
        self._full = full
        self._owns_full = full is None
        self._full_lock = threading.Lock()
        self._closed = False
        # the services take a Database; a LiteDatabase has the part of it they use here
        db = cast("Database", self.lite)
        audit = AuditLog(db, self.clock)
        lite_runs = Runs(
            db,
            self.clock,
            heartbeat_timeout_ms=int(settings.heartbeat_timeout * 1000),
            audit=audit,
        )
        lite_datasets = DatasetVersions(db, self.blobs, self.clock, audit)
        self.runs = _LiteService(  # type: ignore[assignment]
            lite_runs, lambda: self.full().runs, LITE_RUN_OPERATIONS, wait
        )
        self.datasets = _LiteService(  # type: ignore[assignment]
            lite_datasets, lambda: self.full().datasets, LITE_DATASET_OPERATIONS, wait
        )
        self.lineage = _LiteService(  # type: ignore[assignment]
            Lineage(db, self.clock), lambda: self.full().lineage, LITE_LINEAGE_OPERATIONS, wait
        )

    def open(self) -> LiteClient:
        """Open the lite store (NeedsSqlAlchemy where it cannot be) and the blob folder."""
        self.lite.open()
        try:
            self.blobs.open()
        except BaseException:
            self.lite.close()
            raise
        return self

    def full(self) -> LocalClient:
        """The full client, opened on first need."""
        with self._full_lock:
            if self._closed:
                raise RuntimeError("this client is closed")
            if self._full is None:
                from setpoint.client.local import LocalClient

                self._full = LocalClient(self.settings, clock=self.clock).open()
            return self._full

    def __getattr__(self, name: str) -> Any:
        # only for what this object lacks: Api's other services, LocalClient's own methods
        if name.startswith("_") or name in _OWN:
            raise AttributeError(name)
        return getattr(self.full(), name)

    # blobs: the artifact folder itself, as the full client's services use it

    def has_blob(self, digest: str) -> bool:
        return self.blobs.held(digest)

    def upload_blob(self, stream: BinaryIO) -> BlobRef:
        digest, size = self.blobs.put_stream(stream)
        return BlobRef(digest=digest, size=size)

    def upload_file(self, path: str | os.PathLike[str]) -> BlobRef:
        digest, size = self.blobs.put_file(path)
        return BlobRef(digest=digest, size=size)

    def local_blob_path(self, digest: str) -> str | None:
        return self.blobs.local_path(digest)

    def close(self) -> None:
        self.lite.close()
        with self._full_lock:
            self._closed = True
            if self._full is not None and self._owns_full:
                self._full.close()
            self._full = None


_OWN = frozenset({"settings", "clock", "lite", "blobs", "runs", "datasets", "lineage"})


class _LiteService:
    """A service as the client sees it: ``operations`` on the lite store first, everything
    else (and those, when the lite store cannot) on the full client's; with ``wait=False``,
    one of ``operations`` the lite store cannot do at once raises NeedsSqlAlchemy instead."""

    def __init__(
        self, lite: Any, full: Callable[[], Any], operations: frozenset[str], wait: bool = True
    ) -> None:
        self._lite = lite
        self._full = full
        self._operations = operations
        self._wait = wait
        self.clock = lite.clock  # the client's, as the full service's is (no need to open it)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._operations:
            return getattr(self._full(), name)
        lite_op = getattr(self._lite, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return lite_op(*args, **kwargs)
            except (NeedsSqlAlchemy, sqlite3.Error) as exc:  # rolled back: nothing was kept
                if not self._wait:
                    raise NeedsSqlAlchemy(f"{name}: {exc}") from exc
                return getattr(self._full(), name)(*args, **kwargs)

        return call
