"""A deployment's traffic from its prediction log: the files of the last days read (bounded,
cached by content), the split by version and role, request rate and latency per time bucket."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from setpoint.core.errors import NotFoundError
from setpoint.server.ui.context import Page
from setpoint.server.ui.templating import duration

DEFAULT_DAYS = 7
MAX_DAYS = 90
# What one page reads of a prediction log at most: the newest files first, until either cap.
MAX_FILES = 400
MAX_ROWS = 1_000_000
MAX_BUCKETS = 120  # time buckets of the rate and latency charts
ROLES = ("primary", "canary", "shadow")
# Bucket sizes (ms) a chart may use: the smallest that keeps the range within MAX_BUCKETS.
BUCKETS_MS = [
    s * 1000
    for s in (
        0.1,
        0.25,
        0.5,
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        21600,
        43200,
        86400,
    )
]


# ---------------------------------------------------------------- reading the prediction log


@dataclass(frozen=True)
class LogColumns:
    """The few columns of prediction log rows the pages use (one entry per predicted row)."""

    time: np.ndarray  # int64 epoch ms
    version: np.ndarray  # int64 model version
    role: np.ndarray  # int8 index into ROLES (len(ROLES): another role)
    latency: np.ndarray  # float64 ms of the request the row belongs to
    first: np.ndarray  # bool: the first row of its request (counts requests once)

    @property
    def rows(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class Traffic:
    columns: LogColumns
    since: str  # first UTC day asked for
    until: str  # last UTC day asked for
    files: int  # log files in those days
    read: int  # files read (the newest, within the caps)
    unreadable: int


class _ColumnCache:
    """Columns of log files by digest. A digest names immutable bytes, so an entry never goes
    stale; a page and the two chart requests it makes read the same files once."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self.entries: OrderedDict[str, LogColumns] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str) -> LogColumns | None:
        with self.lock:
            found = self.entries.get(digest)
            if found is not None:
                self.entries.move_to_end(digest)
            return found

    def put(self, digest: str, columns: LogColumns) -> None:
        with self.lock:
            if digest in self.entries or columns.rows > self.max_rows:
                return
            self.entries[digest] = columns
            self.rows += columns.rows
            while self.rows > self.max_rows:
                _, old = self.entries.popitem(last=False)
                self.rows -= old.rows


_CACHE = _ColumnCache(MAX_ROWS)
_FIELDS = [f.name for f in fields(LogColumns)]


def empty_columns() -> LogColumns:
    return LogColumns(
        time=np.zeros(0, np.int64),
        version=np.zeros(0, np.int64),
        role=np.zeros(0, np.int8),
        latency=np.zeros(0, np.float64),
        first=np.zeros(0, bool),
    )


def _day(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def read_traffic(p: Page, project: str, name: str, days: int, last_at: int | None) -> Traffic:
    """The deployment's predictions of the ``days`` UTC days up to its newest row (so a
    deployment that stopped serving still shows its last traffic), newest files first until
    MAX_FILES or MAX_ROWS."""
    end = _day(last_at) if last_at is not None else datetime.now(UTC)
    since = (end - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    until = end.strftime("%Y-%m-%d")
    files = p.call(
        "list_prediction_logs",
        deployment=name,
        project=project,
        kind="predictions",
        since=since,
        until=until,
    )
    chosen: list[Any] = []
    rows = 0
    for f in reversed(files):  # newest first
        if len(chosen) >= MAX_FILES or (chosen and rows + f.rows > MAX_ROWS):
            break
        chosen.append(f)
        rows += f.rows
    parts: list[LogColumns] = []
    unreadable = 0
    tmp: str | None = None
    try:
        for f in chosen:
            cols = _CACHE.get(f.digest)
            if cols is None:
                if tmp is None:
                    tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
                try:
                    cols = _read_file(p, f.digest, os.path.join(tmp, f.digest))
                except (
                    OSError,
                    ValueError,
                    TypeError,
                    KeyError,
                    NotImplementedError,
                    NotFoundError,
                ):
                    # gone from the store, or not a prediction log Arrow reads (a column of a
                    # type it cannot cast: ArrowNotImplementedError)
                    unreadable += 1
                    continue
                if cols.rows > MAX_ROWS:  # one file larger than the bound: its newest rows
                    cols = LogColumns(*(getattr(cols, k)[-MAX_ROWS:] for k in _FIELDS))
                _CACHE.put(f.digest, cols)
            parts.append(cols)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if not parts:
        merged = empty_columns()
    else:
        merged = LogColumns(*(np.concatenate([getattr(c, k) for c in parts]) for k in _FIELDS))
    order = np.argsort(merged.time, kind="stable")
    merged = LogColumns(*(getattr(merged, k)[order] for k in _FIELDS))
    return Traffic(merged, since, until, len(files), len(chosen), unreadable)


def _read_file(p: Page, digest: str, dest: str) -> LogColumns:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # download_blob checks the caller may read this blob, and its hash
    path = p.call("download_blob", digest=digest, dest=dest)
    wanted = ["time", "model_version", "role", "latency_ms", "row"]
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in wanted if c in present])
    n = table.num_rows
    kind = table.schema.field("time").type  # KeyError without a time column: not a log
    raw = table["time"].cast(pa.int64()).fill_null(0).to_numpy().astype(np.int64)
    unit = getattr(kind, "unit", "ms")
    times = raw * 1000 if unit == "s" else raw // {"us": 1000, "ns": 1_000_000}.get(unit, 1)
    version = (
        table["model_version"].cast("int64").fill_null(-1).to_numpy()
        if "model_version" in present
        else np.full(n, -1, np.int64)
    )
    if "role" in present:
        role_text = table["role"].fill_null("primary")
        role = np.full(n, len(ROLES), np.int8)
        for i, r in enumerate(ROLES):
            role[pc.equal(role_text, r).to_numpy(zero_copy_only=False)] = i
    else:
        role = np.zeros(n, np.int8)
    latency = (
        table["latency_ms"].cast("float64").to_numpy(zero_copy_only=False)
        if "latency_ms" in present
        else np.full(n, np.nan)
    )
    first = (table["row"].fill_null(0).to_numpy() == 0) if "row" in present else np.ones(n, bool)
    return LogColumns(
        time=np.asarray(times, np.int64),
        version=np.asarray(version, np.int64),
        role=role,
        latency=np.asarray(latency, np.float64),
        first=np.asarray(first, bool),
    )


def role_name(code: int) -> str:
    return ROLES[code] if code < len(ROLES) else "other"


@dataclass(frozen=True)
class Split:
    version: int
    role: str
    rows: int
    requests: int
    share: float | None  # of the answered rows (shadow rows only copy answered requests)
    p50: float | None
    p95: float | None
    first_at: int
    last_at: int


def traffic_split(cols: LogColumns) -> list[Split]:
    """Rows and requests per served version and role, with their share and latency."""
    if not cols.rows:
        return []
    shadow = ROLES.index("shadow")
    answered = int(np.sum(cols.role != shadow))
    keys = np.unique(np.stack([cols.version, cols.role.astype(np.int64)], axis=1), axis=0)
    out = []
    for version, role in keys.tolist():
        mask = (cols.version == version) & (cols.role == role)
        rows = int(mask.sum())
        lat = cols.latency[mask & cols.first]
        lat = lat[np.isfinite(lat)]
        out.append(
            Split(
                version=int(version),
                role=role_name(int(role)),
                rows=rows,
                requests=int(np.sum(mask & cols.first)),
                share=(rows / answered) if role != shadow and answered else None,
                p50=float(np.percentile(lat, 50)) if lat.size else None,
                p95=float(np.percentile(lat, 95)) if lat.size else None,
                first_at=int(cols.time[mask].min()),
                last_at=int(cols.time[mask].max()),
            )
        )
    out.sort(key=lambda s: (ROLES.index(s.role) if s.role in ROLES else 9, -s.rows, s.version))
    return out


@dataclass(frozen=True)
class Buckets:
    start: int  # ms of the first bucket
    size: int  # ms
    count: int
    unit: str  # of the chart's x axis
    unit_ms: int

    def describe(self) -> str:
        return duration(self.size)


def buckets_for(cols: LogColumns) -> Buckets | None:
    if not cols.rows:
        return None
    lo, hi = int(cols.time[0]), int(cols.time[-1])
    span = max(hi - lo, 1)
    size = next((b for b in BUCKETS_MS if span / b <= MAX_BUCKETS), BUCKETS_MS[-1])
    size = int(size)
    start = lo - lo % size
    count = (hi - start) // size + 1
    if span < 120_000:
        unit, unit_ms = "s", 1000
    elif span < 3 * 3_600_000:
        unit, unit_ms = "min", 60_000
    elif span < 3 * 86_400_000:
        unit, unit_ms = "h", 3_600_000
    else:
        unit, unit_ms = "d", 86_400_000
    return Buckets(start, size, int(count), unit, unit_ms)


def rate_series(cols: LogColumns, b: Buckets) -> list[dict[str, Any]]:
    """Answered requests (and rows, when requests carry several) per bucket; a series per
    served version when several versions answered (a canary, or a promotion in the range)."""
    shadow = ROLES.index("shadow")
    answered = cols.role != shadow
    index = (cols.time - b.start) // b.size
    x = _bucket_x(b)

    def counts(mask: np.ndarray) -> list[float]:
        return np.bincount(index[mask], minlength=b.count).astype(float).tolist()

    requests = counts(answered & cols.first)
    series = [{"name": "requests", "x": x, "y": requests}]
    rows = counts(answered)
    if rows != requests:  # requests of several rows each: both lines say something
        series.append({"name": "rows", "x": x, "y": rows})
    versions = np.unique(cols.version[answered])
    if versions.size > 1:
        for v in versions.tolist():
            series.append(
                {
                    "name": f"v{v} requests",
                    "x": x,
                    "y": counts(answered & cols.first & (cols.version == v)),
                }
            )
    if np.any(cols.role == shadow):
        series.append({"name": "shadow requests", "x": x, "y": counts(~answered & cols.first)})
    return series


def latency_series(cols: LogColumns, b: Buckets) -> list[dict[str, Any]]:
    """p50 and p95 latency of the answered requests per bucket (a gap where none came)."""
    shadow = ROLES.index("shadow")
    mask = (cols.role != shadow) & cols.first & np.isfinite(cols.latency)
    index = (cols.time[mask] - b.start) // b.size
    lat = cols.latency[mask]
    p50: list[float | None] = [None] * b.count
    p95: list[float | None] = [None] * b.count
    if lat.size:
        order = np.argsort(index, kind="stable")
        index, lat = index[order], lat[order]
        bounds = np.flatnonzero(np.r_[True, index[1:] != index[:-1], True])
        for a, z in itertools.pairwise(bounds.tolist()):
            chunk = lat[a:z]
            p50[int(index[a])] = round(float(np.percentile(chunk, 50)), 4)
            p95[int(index[a])] = round(float(np.percentile(chunk, 95)), 4)
    x = _bucket_x(b)
    return [{"name": "p50", "x": x, "y": p50}, {"name": "p95", "x": x, "y": p95}]


def _bucket_x(b: Buckets) -> list[float]:
    """Bucket middles in the axis unit from the first bucket (the axis draws plain numbers)."""
    return [round((i + 0.5) * b.size / b.unit_ms, 6) for i in range(b.count)]
