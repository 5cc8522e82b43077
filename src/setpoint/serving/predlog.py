"""The prediction log: every request's id, time, model version, role, inputs, outputs and
latency, and the ground truth sent back later as feedback, written in batches as Parquet
files to the artifact store, one file per deployment, kind and UTC day per flush.

Appending never blocks a request: entries go to a bounded buffer that a background thread
empties every ``interval`` seconds. When the buffer is full, only every ``sample``-th
request is kept until it drains, and what was dropped is counted (in the next file's record
and in the server's metrics).
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

# (kind, day, parquet bytes, rows, first ms, last ms, dropped rows) -> None; may raise
Sink = Callable[[str, str, bytes, int, int, int, int], None]


@dataclass(frozen=True, kw_only=True)
class Entry:
    request_id: str
    time_ms: int
    version: int
    role: str  # primary | canary | shadow
    latency_ms: float
    rows: int
    columns: dict[str, np.ndarray] | None
    tensor: np.ndarray | None
    outputs: np.ndarray
    status: str = "ok"
    scores: np.ndarray | None = None  # the positive class's probability (--log-scores)


@dataclass(frozen=True, kw_only=True)
class Feedback:
    request_id: str
    time_ms: int
    label: Any


class PredictionLog:
    def __init__(
        self,
        sink: Sink,
        *,
        interval: float = 5.0,
        max_rows: int = 200_000,
        sample: int = 10,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.max_rows = max_rows
        self.sample = sample
        self.on_error = on_error
        self._entries: deque[Entry] = deque()
        self._feedback: deque[Feedback] = deque()
        self._rows = 0
        self._seen = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0  # rows dropped since start (metrics)
        self._dropped_unreported = 0
        self.written = 0  # rows written since start
        self.failures = 0

    def start(self) -> PredictionLog:
        self._thread = threading.Thread(target=self._loop, name="setpoint-prediction-log")
        self._thread.daemon = True
        self._thread.start()
        return self

    def append(self, entry: Entry) -> None:
        with self._lock:
            self._seen += 1
            if self._rows + entry.rows > self.max_rows and self._seen % self.sample:
                self.dropped += entry.rows
                self._dropped_unreported += entry.rows
                return
            self._entries.append(entry)
            self._rows += entry.rows

    def feedback(self, items: list[Feedback]) -> None:
        with self._lock:
            self._feedback.extend(items)

    def flush(self) -> None:
        """Write what is buffered now (the background thread calls this every interval).
        What the store refused is kept for the next try; what was written is not written
        again; rows that cannot be encoded at all are dropped and counted."""
        with self._lock:
            entries, self._entries = self._entries, deque()
            feedback, self._feedback = self._feedback, deque()
            self._rows = 0
            dropped, self._dropped_unreported = self._dropped_unreported, 0
        pending = _groups(entries)
        failure: BaseException | None = None
        for key in list(pending):
            group = pending[key]
            try:
                data, rows = _predictions_table(group)
            except Exception as exc:  # not encodable: retrying would block the log for good
                lost = sum(e.rows for e in group)
                self.dropped += lost
                dropped += lost
                del pending[key]
                self._report(exc)
                continue
            try:
                self.sink(
                    "predictions", key[0], data, rows, group[0].time_ms, group[-1].time_ms, dropped
                )
            except Exception as exc:
                failure = exc
                break
            del pending[key]
            dropped = 0
            self.written += rows
        feedback_left: list[Feedback] = []
        days = _by_day(feedback, lambda f: f.time_ms)
        for day, fb in days.items():
            if failure is None:
                try:
                    data = _feedback_table(fb)
                    self.sink("feedback", day, data, len(fb), fb[0].time_ms, fb[-1].time_ms, 0)
                    continue
                except Exception as exc:
                    failure = exc
            feedback_left.extend(fb)  # not written: kept, in order
        if failure is None:
            return
        # the store is away: put back what was not written (bounded) and try again later
        self.failures += 1
        left = [e for group in pending.values() for e in group]
        with self._lock:
            self._entries.extendleft(reversed(left))
            self._rows += sum(e.rows for e in left)
            while self._rows > self.max_rows and self._entries:
                oldest = self._entries.popleft()
                self._rows -= oldest.rows
                self.dropped += oldest.rows
                self._dropped_unreported += oldest.rows
            self._feedback.extendleft(reversed(feedback_left))
            self._dropped_unreported += dropped
        self._report(failure)

    def _report(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)

    def close(self) -> None:
        """Write everything buffered and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()


def _by_day(items: Any, time_ms: Callable[[Any], int]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        day = dt.datetime.fromtimestamp(time_ms(item) / 1000, tz=dt.UTC).strftime("%Y-%m-%d")
        out.setdefault(day, []).append(item)
    return out


def _groups(entries: Any) -> dict[tuple[str, int], list[Entry]]:
    """Entries by UTC day and model version (versions may take different columns)."""
    out: dict[tuple[str, int], list[Entry]] = {}
    for e in entries:
        day = dt.datetime.fromtimestamp(e.time_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")
        out.setdefault((day, e.version), []).append(e)
    return out


def _predictions_table(entries: list[Entry]) -> tuple[bytes, int]:
    """One row per predicted row: request id, row number, time, version, role, latency,
    status, the input columns as they were given (typed), and the prediction."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    counts = np.array([e.rows for e in entries])
    rows = int(counts.sum())
    table: dict[str, Any] = {
        "request_id": pa.array(np.repeat([e.request_id for e in entries], counts), pa.string()),
        "row": pa.array(np.concatenate([np.arange(e.rows) for e in entries]), pa.int32()),
        "time": pa.array(
            np.repeat([e.time_ms for e in entries], counts), pa.timestamp("ms", "UTC")
        ),
        "model_version": pa.array(np.repeat([e.version for e in entries], counts), pa.int32()),
        "role": pa.array(np.repeat([e.role for e in entries], counts), pa.string()),
        "latency_ms": pa.array(np.repeat([e.latency_ms for e in entries], counts), pa.float32()),
    }
    first = entries[0]
    if first.columns is not None:
        for name in first.columns:
            parts = [e.columns[name] for e in entries if e.columns is not None]
            table[f"input.{name}"] = pa.array(np.concatenate(parts))
    else:
        tensors = [e.tensor.reshape(e.rows, -1) for e in entries if e.tensor is not None]
        table["input"] = pa.array(list(np.concatenate(tensors)))
    outputs = np.concatenate([e.outputs.reshape(e.rows, -1) for e in entries])
    table["prediction"] = pa.array(outputs[:, 0] if outputs.shape[1] == 1 else list(outputs))
    if all(e.scores is not None for e in entries):
        table["score"] = pa.array(
            np.concatenate([e.scores for e in entries if e.scores is not None])
        )
    buf = io.BytesIO()
    pq.write_table(pa.table(table), buf, compression="zstd")
    return buf.getvalue(), rows


def _feedback_table(items: list[Feedback]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "request_id": pa.array([f.request_id for f in items], pa.string()),
            "time": pa.array([f.time_ms for f in items], pa.timestamp("ms", "UTC")),
            "label": pa.array([orjson.dumps(f.label).decode() for f in items], pa.string()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def read_file(data: bytes) -> Any:
    """A prediction log or feedback file (as written above) as an Arrow table.

    Read through ``ParquetFile``, not ``pq.read_table``, and on this thread: after reading
    bytes in memory on Arrow's thread pool, Arrow now and then aborts the process as it
    exits ("terminate called without an active exception", exit 134; apache/arrow#34314):
    one short script in about eight under load with ``read_table``, rarely still with
    ``ParquetFile.read`` on the pool."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)


def now_ms() -> int:
    return int(time.time() * 1000)
