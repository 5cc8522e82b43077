"""Run artifacts: files, folders, bytes and JSON logged under a path of a run.

Bytes go to the content-addressed blob store first; the row that makes them visible is written
only after the blob is complete, so a crash never exposes a partial artifact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from setpoint.core.clock import Clock
from setpoint.core.errors import (
    ArtifactNotFoundError,
    ConflictError,
    InvalidArgumentError,
)
from setpoint.core.names import tag_value
from setpoint.core.types import Artifact, BlobRef, LineageEdge
from setpoint.store.metadata import runs as repo
from setpoint.tracking.runs import require_run

if TYPE_CHECKING:
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database

MAX_PATH = 1000
_REFUSED = "no artifact can be added"
# A run imported from another tracker without (some of) its files carries this tag, saying
# why; a later import that can read them adds them (the one way an ended run gets files).
IMPORTED_WITHOUT_FILES = "setpoint.imported_without_files"


def check_artifact_path(path: object, field: str = "path") -> str:
    """A relative POSIX path inside the run: no '..', no leading '/', no empty parts."""
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"{field} must be a non-empty string", field=field)
    if len(path) > MAX_PATH:
        raise InvalidArgumentError(f"{field} is longer than {MAX_PATH} characters", field=field)
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise InvalidArgumentError(
            f"{field} {path!r} must be a relative path like 'plots/roc.png' "
            "(no leading '/', no '.' or '..' parts, no backslashes)",
            field=field,
        )
    return path


def land_verified(
    items: list[tuple[PurePosixPath, Any]],
    dest: str | os.PathLike[str],
    fetch: Callable[[Any, Path], None],
) -> list[str]:
    """Write each item at its relative path under ``dest`` through ``fetch(item, file)``
    (which verifies what it writes), every one into a temporary folder first: nothing
    lands under ``dest`` until all arrived whole (a corrupted file leaves no other behind)."""
    import shutil
    import tempfile

    Path(dest).mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".setpoint-download-", dir=dest)
    try:
        for rel, item in items:
            file = Path(staging) / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            fetch(item, file)
        out = []
        for rel, _ in items:
            target = Path(dest) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(staging) / rel, target)
            out.append(str(target))
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class RunArtifacts:
    """Artifact operations for runs, over the metadata database and the blob store."""

    def __init__(self, db: Database, blobs: BlobStore, clock: Clock) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock

    def log_bytes(self, run_id: str, path: str, data: bytes) -> Artifact:
        check_artifact_path(path)
        return self._log(run_id, path, lambda: self.blobs.put_bytes(data))

    def log_stream(self, run_id: str, path: str, stream: BinaryIO) -> Artifact:
        check_artifact_path(path)
        return self._log(run_id, path, lambda: self.blobs.put_stream(stream))

    def log_blobs(
        self, run_id: str, files: Mapping[str, BlobRef], ended: bool = False
    ) -> list[Artifact]:
        """Record blobs stored first as the run's artifacts (path -> blob), all in one
        transaction: a folder becomes visible whole, or not at all. To a running run only,
        unless ``ended`` (not deleted)."""
        if not files:
            raise InvalidArgumentError("files must map artifact paths to blobs", field="files")
        self._require_kept(files)
        return self._record(run_id, files, ended)

    def log_imported(
        self, run_id: str, files: Mapping[str, BlobRef], missing: str | None = None
    ) -> list[Artifact]:
        """Add stored blobs (path -> blob) to a run imported without (some of) its files,
        ended or not: it carries the tag ``IMPORTED_WITHOUT_FILES``, which becomes
        ``missing`` (why some are still not there) or, with None, is removed; in one
        transaction. Any other ended run is refused, as by :meth:`log_blobs`."""
        if missing is not None:
            tag_value(missing, "missing")
        self._require_kept(files)

        def imported_without_files(conn):  # type: ignore[no-untyped-def]
            if repo.run_tag(conn, run_id, IMPORTED_WITHOUT_FILES) is None:
                raise ConflictError(
                    f"run {run_id} was not imported without files: {_REFUSED} this way",
                    field="run_id",
                )
            if missing is None:
                repo.delete_tag(conn, run_id, IMPORTED_WITHOUT_FILES)
            else:
                repo.set_tags(conn, run_id, {IMPORTED_WITHOUT_FILES: missing})

        return self._record(run_id, files, ended=True, also=imported_without_files)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        with self.db.read() as conn:
            require_run(conn, run_id, running=False)
            return repo.list_artifacts(conn, run_id, prefix)

    def get(self, run_id: str, path: str) -> Artifact:
        check_artifact_path(path)
        for a in self.list_artifacts(run_id, path):
            if a.path == path:
                return a
        raise ArtifactNotFoundError(f"run {run_id} has no artifact {path!r}", field="path")

    def read_bytes(self, run_id: str, path: str) -> bytes:
        return self.blobs.get_bytes(self.get(run_id, path).digest)

    def download(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> list[str]:
        """Write an artifact (or every artifact below a folder path) under ``dest``; verified."""
        check_artifact_path(path)
        found = self.list_artifacts(run_id, path)
        if not found:
            raise ArtifactNotFoundError(f"run {run_id} has no artifact {path!r}", field="path")
        return land_verified(
            [(PurePosixPath(a.path).relative_to(PurePosixPath(path).parent), a) for a in found],
            dest,
            lambda a, file: self.blobs.get_file(a.digest, file),
        )

    def require_stored(self, refs: Mapping[str, BlobRef]) -> None:
        """Raise unless every blob ``refs`` names (path -> blob) is in the store."""
        for path, ref in refs.items():
            if not self.blobs.held(ref.digest):
                raise ArtifactNotFoundError(
                    f"artifact {path!r}: blob {ref.digest} is not stored; upload it first",
                    field="artifacts",
                )

    # ------------------------------------------------------------ internals

    def _require_kept(self, files: Mapping[str, BlobRef]) -> None:
        """Raise unless ``files`` maps artifact paths to blobs that are stored with that
        size; those are kept from gc meanwhile."""
        if not isinstance(files, Mapping):
            raise InvalidArgumentError("files must map artifact paths to blobs", field="files")
        for path in files:
            check_artifact_path(path, "files")
        for path, ref in files.items():
            try:
                held = self.blobs.keep(ref.digest) == ref.size  # and kept from gc
            except ArtifactNotFoundError:
                held = False
            if not held:
                raise ArtifactNotFoundError(
                    f"artifact {path!r}: blob {ref.digest} of {ref.size} bytes is not stored; "
                    "upload it first",
                    field="files",
                )

    def _log(self, run_id: str, path: str, put: Callable[[], tuple[str, int]]) -> Artifact:
        # Checked before the bytes are stored (no upload to an ended run) and again in the
        # transaction that makes them visible (the run may end meanwhile).
        with self.db.read() as conn:
            require_run(conn, run_id, refused=_REFUSED)
        digest, size = put()
        return self._record(run_id, {path: BlobRef(digest=digest, size=size)})[0]

    def _record(
        self,
        run_id: str,
        files: Mapping[str, BlobRef],
        ended: bool = False,
        also: Callable[[Any], None] | None = None,
    ) -> list[Artifact]:
        """The rows of stored blobs, in one transaction, with their lineage: the run
        produced these bytes; ``also`` (given the connection) runs in that transaction."""
        now = self.clock.now_ms()
        edges = _produced(run_id, files, now)

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=not ended, live=True, refused=_REFUSED)
            if also is not None:
                also(conn)
            for path, ref in files.items():
                repo.put_artifact(conn, run_id, path, ref.digest, ref.size, now)
            repo.add_edges(conn, edges)

        self.db.write_retrying(tx)
        return [
            Artifact(run_id=run_id, path=p, digest=r.digest, size=r.size, created_at=now)
            for p, r in files.items()
        ]


def _produced(run_id: str, files: Mapping[str, BlobRef], now: int) -> list[LineageEdge]:
    """Lineage of files logged to a run: the run produced these bytes."""
    return [
        LineageEdge(
            source_kind="run",
            source_id=run_id,
            relation="produced",
            target_kind="artifact",
            target_id=digest,
            created_at=now,
        )
        for digest in dict.fromkeys(ref.digest for ref in files.values())
    ]
