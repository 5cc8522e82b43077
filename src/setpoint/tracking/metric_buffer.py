"""The metric buffer: ``log_metric`` appends to memory; a background thread writes in batches.

The sink may also write other pending state of the run (its params) when ``has_pending`` says
there is some, so one background flush carries everything a run logged since the last one.

Points reach the store at the latest one flush interval after they were logged, when the
buffer fills, when the run ends, and at interpreter exit. A write that fails for a transient
reason keeps its points for the next attempt; nothing logged is dropped silently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from setpoint.core.errors import SetpointError

Sink = Callable[[list[str], list[float], list[int], list[int]], None]

MAX_PENDING = 50_000  # points that trigger an immediate flush


class PartlyWritten(Exception):
    """Raised by a sink that wrote the first ``written`` points of a batch (in requests of
    their own) before ``cause`` stopped it: only the rest is kept for the next attempt, so
    no point is written twice."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(f"{written} points written, then: {cause!r}")
        self.written = written
        self.cause = cause


class MetricBuffer:
    def __init__(
        self,
        sink: Sink,
        *,
        flush_interval: float,
        has_pending: Callable[[], bool] | None = None,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_interval: float = 5.0,
    ) -> None:
        self._sink = sink
        self._has_pending = has_pending or (lambda: False)
        self._heartbeat = heartbeat
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._keys: list[str] = []
        self._values: list[float] = []
        self._steps: list[int] = []
        self._stamps: list[int] = []
        self.error: SetpointError | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="setpoint-metrics", daemon=True)
        self._thread.start()

    def add(self, key: str, value: float, step: int, timestamp: int) -> None:
        with self._lock:
            self._keys.append(key)
            self._values.append(value)
            self._steps.append(step)
            self._stamps.append(timestamp)
            full = len(self._keys) >= MAX_PENDING
        if full:
            self._wake.set()

    def add_many(
        self, keys: list[str], values: list[float], steps: list[int], stamps: list[int]
    ) -> None:
        with self._lock:
            self._keys.extend(keys)
            self._values.extend(values)
            self._steps.extend(steps)
            self._stamps.extend(stamps)
            full = len(self._keys) >= MAX_PENDING
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write everything buffered now; raises if the store refuses the points."""
        with self._flush_lock:
            with self._lock:
                batch: tuple[Any, ...] = (self._keys, self._values, self._steps, self._stamps)
                self._keys, self._values, self._steps, self._stamps = [], [], [], []
            if not batch[0] and not self._has_pending():
                return
            try:
                self._sink(*batch)
                return
            except PartlyWritten as partial:
                batch = tuple(column[partial.written :] for column in batch)
                if not isinstance(partial.cause, Exception):  # interrupted: keep the rest
                    self._requeue(batch)
                    raise partial.cause from None
                failure: Exception = partial.cause
            except Exception as exc:
                failure = exc
            if isinstance(failure, SetpointError):
                if failure.status < 500:
                    # Refused for good (e.g. the run was ended elsewhere): keep the reason.
                    self.error = failure
                    raise failure
            elif not _transient(failure):
                # A batch that can never be written must not block the ones after it.
                self.error = SetpointError(f"metric points could not be written: {failure!r}")
                raise failure
            self._requeue(batch)
            raise failure

    def close(self) -> None:
        self.stop()
        self.flush()

    def stop(self) -> None:
        """Stop the background thread (waiting for a flush it is in the middle of)."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def drain(self) -> tuple[list[str], list[float], list[int], list[int]]:
        """Stop, and hand over what is still buffered (for the caller to write itself)."""
        self.stop()
        with self._flush_lock, self._lock:
            batch = (self._keys, self._values, self._steps, self._stamps)
            self._keys, self._values, self._steps, self._stamps = [], [], [], []
        return batch

    def _requeue(self, batch: tuple[Any, ...]) -> None:
        with self._lock:
            self._keys[:0] = batch[0]
            self._values[:0] = batch[1]
            self._steps[:0] = batch[2]
            self._stamps[:0] = batch[3]

    def _loop(self) -> None:
        import time

        last_beat = time.monotonic()
        while not self._stopped.is_set():
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.flush()
                now = time.monotonic()
                if self._heartbeat is not None and now - last_beat >= self._heartbeat_interval:
                    self._heartbeat()
                    last_beat = now
            except SetpointError as exc:
                if exc.status < 500:
                    return  # the run is gone or ended; the reason surfaces on the next call
            except Exception:
                continue


def _transient(exc: Exception) -> bool:
    """Errors worth retrying: the network, the database connection, a timeout."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "httpx", "httpcore")
