"""The metric buffer: ``log_metric`` appends to memory; a background thread writes in batches.

The sink may also write other pending state of the run (its params) when ``has_pending`` says
there is some, so one background flush carries everything a run logged since the last one.

Points reach the store at the latest one flush interval after they were logged, when the
buffer fills, when the run ends, and at interpreter exit. A write that fails for a transient
reason keeps its points for the next attempt; nothing logged is dropped silently.

Each batch carries an id, and its requests ids made from it (the batch's id and where the
request starts in it). A batch that failed is kept apart and sent again first, alone, under
the same id: when its first attempt did get through (its answer was lost), the store knows
the id and stores nothing twice.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from setpoint.core.errors import SetpointError

# (keys, values, steps, timestamps, batch id, offset): the points are those of the batch from
# ``offset`` on; the sink names a request starting at point i of them ``f"{id}:{offset + i}"``.
Sink = Callable[[list[str], list[float], list[int], list[int], str, int], None]
Columns = tuple[list[str], list[float], list[int], list[int]]

MAX_PENDING = 50_000  # points that trigger an immediate flush
SLACK = 0.001  # seconds a timed wait may end early by


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
        # a batch that failed: (its id, how many of its points are stored, the rest)
        self._unsent: tuple[str, int, Columns] | None = None
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

    def flush(self, leave: int = 0) -> None:
        """Write everything buffered now but the last ``leave`` points (a batch that failed
        earlier first); raises if the store refuses the points."""
        with self._flush_lock:
            if self._unsent is not None:
                self._send(*self._unsent)
            with self._lock:
                cut = max(0, len(self._keys) - leave)
                batch: Columns = (
                    self._keys[:cut],
                    self._values[:cut],
                    self._steps[:cut],
                    self._stamps[:cut],
                )
                del self._keys[:cut], self._values[:cut], self._steps[:cut], self._stamps[:cut]
            if not batch[0] and not self._has_pending():
                return
            self._send(uuid.uuid4().hex, 0, batch)

    def _send(self, batch_id: str, offset: int, batch: Columns) -> None:
        """Write the batch's points from ``offset`` on; on a failure worth retrying, keep
        what is not stored as the batch to send first next time."""
        try:
            self._sink(*batch, batch_id, offset)
            self._unsent = None
            return
        except PartlyWritten as partial:
            offset += partial.written
            batch = (
                batch[0][partial.written :],
                batch[1][partial.written :],
                batch[2][partial.written :],
                batch[3][partial.written :],
            )
            failure: BaseException = partial.cause
        except BaseException as exc:  # Ctrl-C too: the batch is kept, under its id
            failure = exc
        self._unsent = (batch_id, offset, batch) if batch[0] else None
        if not isinstance(failure, Exception):
            raise failure
        if isinstance(failure, SetpointError):
            if failure.status < 500:
                # Refused for good (e.g. the run was ended elsewhere): keep the reason.
                self._unsent = None
                self.error = failure
                raise failure
        elif not _transient(failure):
            # A batch that can never be written must not block the ones after it.
            self._unsent = None
            self.error = SetpointError(f"metric points could not be written: {failure!r}")
            raise failure
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

    def _loop(self) -> None:
        import time

        last_beat = last_flush = time.monotonic()
        beat = self._heartbeat
        while not self._stopped.is_set():
            # Heartbeats keep their own pace: a flush interval longer than the heartbeat
            # timeout must not let a live run be taken for a dead one.
            flush_at = last_flush + self._flush_interval
            beat_at = last_beat + self._heartbeat_interval if beat is not None else flush_at
            woken = self._wake.wait(max(0.0, min(flush_at, beat_at) - time.monotonic()))
            self._wake.clear()
            if self._stopped.is_set():
                return
            if woken or time.monotonic() + SLACK >= flush_at:
                if not self._attempt(self.flush):
                    return
                last_flush = time.monotonic()
            if beat is not None and time.monotonic() + SLACK >= beat_at:
                if not self._attempt(beat):
                    return
                last_beat = time.monotonic()

    @staticmethod
    def _attempt(act: Callable[[], None]) -> bool:
        """Run a flush or heartbeat of the background loop; False when the run is gone or
        has ended (the reason surfaces on the next call), True otherwise (a transient
        failure is tried again at its next turn)."""
        try:
            act()
        except SetpointError as exc:
            return exc.status >= 500
        except Exception:
            pass
        return True


def _transient(exc: Exception) -> bool:
    """Errors worth retrying: the network, the database connection, a timeout."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "httpx", "httpcore")
