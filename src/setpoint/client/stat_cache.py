"""The stat cache of ``log_dataset``: what a file was last stored as, keyed by its path, size,
modification and change times and inode, so that re-adding an unchanged file reads nothing.

Standard library only (not even pathlib): ``setpoint data add`` consults it before anything
heavy is imported.
"""

from __future__ import annotations

import json
import os
import time

# A file modified this recently may change again within the same timestamp tick; such a
# stat is not trusted (git's "racy clean" rule), so the next add hashes it again.
RACY_SECONDS = 2.0
FILE_NAME = "data-stat-cache.json"


def stat_key(path: str) -> str | None:
    st = os.stat(path)
    if time.time() - max(st.st_mtime, st.st_ctime) < RACY_SECONDS:
        return None
    return json.dumps(
        [os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    )


class StatCache:
    """(kind, path stat) -> what was stored for it: for a table the digests of its Parquet and
    profile, for files the file's digest. Loaded once and saved once per add; best effort: a
    broken cache file is ignored."""

    LIMIT = 100_000

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._data: dict[str, str] | None = None
        self._dirty = False

    def _entries(self) -> dict[str, str]:
        if self._data is None:
            try:
                with open(self.path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                data = {}
            self._data = data if isinstance(data, dict) else {}
        return self._data

    def get(self, key: str) -> str | None:
        hit = self._entries().get(f"{self.kind} {key}")
        return hit if isinstance(hit, str) else None

    def put(self, key: str, value: str) -> None:
        self._entries()[f"{self.kind} {key}"] = value
        self._dirty = True

    def save(self) -> None:
        if not self._dirty or self._data is None:
            return
        data = self._data
        if len(data) > self.LIMIT:  # keep it bounded: drop the oldest entries
            data = dict(list(data.items())[-self.LIMIT :])
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)
        self._dirty = False


def cached_digest(cache_dir: str, path: str, kind: str) -> str | None:
    """The digest a file was last stored as (its Parquet for ``kind="table"``, its bytes for
    ``"files"``), if its stat still matches; nothing is read but the cache."""
    key = stat_key(path)
    hit = StatCache(os.path.join(cache_dir, FILE_NAME), kind).get(key) if key else None
    return None if hit is None else hit.partition(" ")[0]


def manifest_bytes(entries: list[dict[str, object]]) -> bytes:
    """The manifest of a ``files`` version: its digest is the version's (one spelling only)."""
    import orjson

    return orjson.dumps({"format": 1, "files": entries}, option=orjson.OPT_SORT_KEYS)
