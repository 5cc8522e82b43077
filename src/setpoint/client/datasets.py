"""The SDK side of datasets: turn data into a Parquet blob, register it, read versions back.

Ingestion happens where the data is (this process), in both SDK modes; the store only ever
receives a finished Parquet blob. Re-adding an unchanged file skips the work through a stat
cache keyed by path, size, modification and change times and inode.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import ArtifactNotFoundError
from setpoint.core.types import DatasetVersion

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("setpoint")

# A file modified this recently may change again within the same timestamp tick; such a
# stat is not trusted (git's "racy clean" rule), so the next add hashes it again.
RACY_SECONDS = 2.0


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
        return f"<DatasetVersion {v.ref} rows={v.num_rows} hash={v.digest[:12]}>"

    def to_arrow(self) -> pa.Table:
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="setpoint-data-") as tmp:
            path = os.path.join(tmp, "data.parquet")
            self._client.download_blob(self.info.digest, path)  # verified against the hash
            return pq.read_table(path)

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()


def log_dataset(
    client: Any,
    data: object,
    name: str,
    project: str,
    description: str,
    parents: list[str] | None,
    cache_dir: str,
) -> VersionHandle:
    from setpoint.data.ingest import prepare, source_files
    from setpoint.tracking.environment import current_user

    user = current_user()
    files = source_files(data)
    key = _stat_key(files[0]) if files and len(files) == 1 else None
    cache = _StatCache(Path(cache_dir) / "data-stat-cache.json")
    digest = cache.get(key) if key else None
    if digest is not None and files:
        try:
            v = client.create_dataset_version(
                name, digest, project, _source(data), description, parents, user
            )
            return _said(VersionHandle(v, client))
        except ArtifactNotFoundError:
            pass  # the store lost or never had the blob: ingest again
    with tempfile.TemporaryDirectory(prefix="setpoint-ingest-") as tmp:
        prepared = prepare(data, tmp)
        with open(prepared.path, "rb") as fh:
            ref = client.upload_blob(fh)
    if key:
        cache.put(key, ref.digest)
    v = client.create_dataset_version(
        name, ref.digest, project, prepared.source, description, parents, user
    )
    return _said(VersionHandle(v, client))


def _said(handle: VersionHandle) -> VersionHandle:
    v = handle.info
    if v.created:
        log.info("logged %s: %d rows", v.ref, v.num_rows)
    else:
        log.info("unchanged: %s already holds this data", v.ref)
    return handle


def _source(data: object) -> str:
    return os.path.abspath(os.fspath(data))  # type: ignore[call-overload]


def _stat_key(path: str) -> str | None:
    st = os.stat(path)
    if time.time() - max(st.st_mtime, st.st_ctime) < RACY_SECONDS:
        return None
    return json.dumps(
        [os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    )


class _StatCache:
    """path stat -> digest of its Parquet. Best effort: a broken cache file is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        hit = self._load().get(key)
        return hit if isinstance(hit, str) else None

    def put(self, key: str, digest: str) -> None:
        data = self._load()
        data[key] = digest
        if len(data) > 10_000:  # keep it small: drop the oldest entries
            data = dict(list(data.items())[-10_000:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)
