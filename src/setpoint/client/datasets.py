"""The SDK side of datasets: turn data into blobs, register them, read versions back.

Ingestion happens where the data is (this process), in both SDK modes; the store only ever
receives finished blobs: a Parquet file and its profile for tables, the files themselves and
a manifest listing them for anything else. Re-adding an unchanged file skips the work
through a stat cache keyed by path, size, modification and change times and inode.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from setpoint.client.stat_cache import FILE_NAME, StatCache, manifest_bytes, stat_key
from setpoint.core import names
from setpoint.core.errors import ArtifactNotFoundError, DatasetNotFoundError, InvalidArgumentError
from setpoint.core.types import DatasetFile, DatasetVersion

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("setpoint")


@dataclass(frozen=True)
class VersionHandle:
    """A dataset version plus the client to read its data: ``v.to_pandas()``."""

    info: DatasetVersion
    _client: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("info", "_client"):
            raise AttributeError(name)  # copy/pickle probe before the fields exist
        return getattr(self.info, name)

    @property
    def hash(self) -> str:
        return self.info.digest

    def __repr__(self) -> str:
        v = self.info
        if v.kind == "files":
            return f"<DatasetVersion {v.ref} files={v.num_rows} hash={v.digest[:12]}>"
        return f"<DatasetVersion {v.ref} rows={v.num_rows} hash={v.digest[:12]}>"

    @cached_property
    def profile(self) -> dict[str, Any] | None:
        """The stored profile (per-column statistics); None for files. A table version made
        before profiles existed is profiled from its data here (not stored: versions are
        immutable)."""
        if self.info.kind != "table":
            return None
        if self.info.profile_digest is None:
            from setpoint.data.profile import profile_parquet

            with tempfile.TemporaryDirectory(prefix="setpoint-data-") as tmp:
                return profile_parquet(self.parquet_path(tmp))
        return _json_blob(self._client, self.info.profile_digest)  # type: ignore[no-any-return]

    def files(self) -> list[DatasetFile]:
        """The files of a ``files`` version."""
        v = self.info
        return list(self._client.list_dataset_files(v.name, v.version, v.project))

    def download(self, dest: str | os.PathLike[str]) -> list[str]:
        """Write a ``files`` version's files under ``dest`` (verified); returns their paths."""
        from setpoint.data.versions import check_relative_path

        root = Path(dest).resolve()
        out = []
        for f in self.files():
            target = root.joinpath(*check_relative_path(f.path).split("/"))
            if not target.resolve().is_relative_to(root):  # e.g. through a symlink in dest
                raise InvalidArgumentError(f"{f.path!r} leads outside {root}", field="dest")
            self._client.download_blob(f.digest, str(target))
            out.append(str(target))
        return out

    def _require_table(self) -> None:
        if self.info.kind != "table":
            raise InvalidArgumentError(
                f"{self.info.ref} holds files, not a table: use .files() or .download(dest)",
                field="kind",
            )

    def parquet_path(self, workdir: str) -> str:
        """A local path to this version's Parquet, its bytes verified: the store's own file
        when the store is a local folder, else a download into ``workdir``."""
        self._require_table()
        local = getattr(self._client, "local_blob_path", None)
        path = local(self.info.digest) if local else None
        if path is None:
            path = os.path.join(workdir, "data.parquet")
            self._client.download_blob(self.info.digest, path)  # verified against the hash
        return path

    def to_arrow(self) -> pa.Table:
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="setpoint-data-") as tmp:
            return pq.read_table(self.parquet_path(tmp))

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()


def _json_blob(client: Any, digest: str) -> Any:
    import orjson

    with tempfile.TemporaryDirectory(prefix="setpoint-data-") as tmp:
        path = os.path.join(tmp, "blob.json")
        client.download_blob(digest, path)  # verified against the hash
        with open(path, "rb") as fh:
            return orjson.loads(fh.read())


def log_dataset(
    client: Any,
    data: object,
    name: str,
    project: str,
    description: str,
    parents: list[str] | None,
    cache_dir: str,
    kind: str | None = None,
) -> VersionHandle:
    from setpoint.data.ingest import is_tabular, source_files, table_folder
    from setpoint.tracking.environment import current_user

    if kind not in (None, "table", "files"):
        raise InvalidArgumentError("kind must be 'table', 'files' or None (decide)", field="kind")
    # checked before any data is read or stored
    names.check_name(name, "name")
    names.check_name(project, "project")
    if not isinstance(description, str):
        raise InvalidArgumentError("description must be text", field="description")
    for parent in parents or []:
        _check_parent(client, parent)
    files = source_files(data, tabular_only=kind == "table")
    if kind is None:
        if files is not None and not is_tabular(files) and table_folder(data, files):
            files = source_files(data, tabular_only=True)  # without its markers
        kind = "table" if files is None or is_tabular(files) else "files"
    if kind == "files" and files is None:
        raise InvalidArgumentError("kind='files' needs a path to files", field="data")
    cache = StatCache(os.path.join(cache_dir, FILE_NAME), kind)
    args = (name, project, description, parents, current_user())
    try:
        if kind == "files":
            assert files is not None
            return _said(_log_files(client, data, files, cache, args))
        return _said(_log_table(client, data, files, cache, args))
    finally:
        cache.save()


def _check_parent(client: Any, ref: str) -> None:
    """Refuse a parent that is no version before any data is read (the store checks again)."""
    from setpoint.data.versions import parse_parent

    project, name, version = parse_parent(ref)
    try:
        client.get_dataset_version(name, project, version)
    except DatasetNotFoundError as exc:
        raise DatasetNotFoundError(f"parent {ref!r}: {exc.message}", field="parents") from None


def _log_table(
    client: Any, data: object, files: list[str] | None, cache: StatCache, args: tuple
) -> VersionHandle:

    from setpoint.data.ingest import prepare

    name, project, description, parents, user = args
    # one file named as such: a folder of one file may give it partition columns too
    one = files and len(files) == 1 and not os.path.isdir(os.fspath(data))  # type: ignore[call-overload]
    key = stat_key(files[0]) if one and files else None
    hit = cache.get(key) if key else None
    if hit is not None and files:
        digest, _, profile = hit.partition(" ")
        try:
            v = client.create_dataset_version(
                name,
                digest,
                project,
                _source(data),
                description,
                parents,
                user,
                "table",
                profile or None,
            )
            return VersionHandle(v, client)
        except ArtifactNotFoundError:
            pass  # the store lost or never had the blob: ingest again
    before = [_stamp(f) for f in files or []]
    with tempfile.TemporaryDirectory(prefix="setpoint-ingest-", dir=_staging(client)) as tmp:
        prepared = prepare(data, tmp)
        _unchanged(files or [], before)
        profile_bytes = _profile_bytes(prepared.profile)  # before anything is uploaded
        with open(prepared.path, "rb") as fh:
            ref = client.upload_blob(fh)
    profile_ref = client.upload_blob(_bytes_stream(profile_bytes))
    if key:
        cache.put(key, f"{ref.digest} {profile_ref.digest}")
    v = client.create_dataset_version(
        name,
        ref.digest,
        project,
        prepared.source,
        description,
        parents,
        user,
        "table",
        profile_ref.digest,
    )
    return VersionHandle(v, client)


def _profile_bytes(profile: dict[str, Any]) -> bytes:
    """The profile as stored; refused, naming why, when the store would refuse it."""
    import orjson

    from setpoint.data.versions import MAX_PROFILE_BYTES

    out = orjson.dumps(profile)
    if len(out) > MAX_PROFILE_BYTES:
        columns = len(profile.get("columns", []))
        raise InvalidArgumentError(
            f"the profile of these {columns:,} columns takes {len(out) / 2**20:.0f} MiB, over "
            f"the {MAX_PROFILE_BYTES >> 20} MiB a dataset version's profile may take (some 4 KiB "
            "a numeric column): log the columns as several datasets",
            field="data",
        )
    return out


def _log_files(
    client: Any, data: object, files: list[str], cache: StatCache, args: tuple
) -> VersionHandle:
    """Store each file as a blob (unchanged files by their cached digest) and the manifest."""

    name, project, description, parents, user = args
    given = os.path.abspath(os.fspath(data))  # type: ignore[call-overload]
    # Paths in the manifest are relative to the folder given, or to the deepest folder
    # holding every file a glob matched.
    root = (
        given if os.path.isdir(given) else os.path.commonpath([os.path.dirname(f) for f in files])
    )
    entries = []
    for path in files:
        key = stat_key(path)
        hit = cache.get(key) if key else None
        if hit is not None and client.has_blob(hit):
            digest, size = hit, os.path.getsize(path)
        else:
            before = [_stamp(path)]
            ref = client.upload_file(path)
            _unchanged([path], before)
            digest, size = ref.digest, ref.size
            if key:
                cache.put(key, digest)
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        entries.append({"path": rel, "digest": digest, "size": size})
    ref = client.upload_blob(_bytes_stream(manifest_bytes(entries)))
    v = client.create_dataset_version(
        name, ref.digest, project, given, description, parents, user, "files", None
    )
    return VersionHandle(v, client)


def _stamp(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _unchanged(files: list[str], before: list[tuple[int, int, int, int]]) -> None:
    """Refuse a version read from files that changed while they were read: it would hold
    some of the old content and some of the new (a file written in place as it is added)."""
    for path, stamp in zip(files, before, strict=True):
        try:
            same = _stamp(path) == stamp
        except OSError:
            same = False
        if not same:
            raise InvalidArgumentError(
                f"{path} changed while it was read: add it again once it is written",
                field="data",
            )


def _bytes_stream(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _said(handle: VersionHandle) -> VersionHandle:
    v = handle.info
    if v.created:
        log.info("logged %s: %d rows", v.ref, v.num_rows)
    else:
        log.info("unchanged: %s already holds this data", v.ref)
    return handle


def _source(data: object) -> str:
    return os.path.abspath(os.fspath(data))  # type: ignore[call-overload]


def _staging(client: Any) -> str | None:
    """Where data is prepared: inside a local store (so `gc` removes what a killed process
    left), else the system's temporary folder."""
    blobs = getattr(client, "blobs", None)
    return blobs.staging_folder() if blobs is not None else None
