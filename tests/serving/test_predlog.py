"""The prediction log's buffer: appending never waits, a full buffer samples and counts what
it dropped, and a store that fails keeps the rows for the next try."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from setpoint.serving.predlog import Entry, Feedback, PredictionLog


def _entry(i: int, rows: int = 1) -> Entry:
    return Entry(
        request_id=f"r{i}",
        time_ms=1_795_000_000_000 + i,
        version=1,
        role="primary",
        latency_ms=1.0,
        rows=rows,
        columns={"a": np.full(rows, float(i))},
        tensor=None,
        outputs=np.zeros(rows, dtype=np.int64),
    )


class Sink:
    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.files: list[tuple[str, str, bytes, int, int]] = []
        self.fail = fail
        self.delay = delay

    def __call__(
        self, kind: str, day: str, data: bytes, rows: int, first: int, last: int, dropped: int
    ) -> None:
        time.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise OSError("the store is away")
        self.files.append((kind, day, data, rows, dropped))


def test_a_full_buffer_samples_and_counts_instead_of_blocking() -> None:
    sink = Sink(delay=0.5)  # a slow store
    log = PredictionLog(sink, interval=3600, max_rows=100, sample=10).start()
    t0 = time.perf_counter()
    for i in range(1000):
        log.append(_entry(i))
    assert time.perf_counter() - t0 < 0.5  # never waited for the store
    kept = 100 + 90  # the first 100, then one in ten of the other 900
    assert log.dropped == 1000 - kept
    log.close()
    ((kind, day, data, rows, dropped),) = sink.files
    assert (kind, day, rows, dropped) == ("predictions", "2026-11-18", kept, 1000 - kept)
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names[:6] == [
        "request_id",
        "row",
        "time",
        "model_version",
        "role",
        "latency_ms",
    ]
    assert table.column("request_id").to_pylist()[:3] == ["r0", "r1", "r2"]


def test_rows_survive_a_store_that_fails_and_feedback_is_written_too() -> None:
    errors: list[BaseException] = []
    sink = Sink(fail=1)
    log = PredictionLog(sink, interval=3600, on_error=errors.append)
    for i in range(5):
        log.append(_entry(i, rows=3))
    log.feedback([Feedback(request_id="r1", time_ms=1_795_000_000_000, label={"y": 1})])
    log.flush()  # the store fails: kept for later
    assert len(errors) == 1 and sink.files == [] and log.failures == 1
    log.flush()
    kinds = sorted((k, rows) for k, _, _, rows, _ in sink.files)
    assert kinds == [("feedback", 1), ("predictions", 15)]
    assert log.written == 15


def test_appends_from_many_threads_lose_nothing() -> None:
    sink = Sink()
    log = PredictionLog(sink, interval=0.01).start()

    def append(start: int) -> None:
        for i in range(start, start + 500):
            log.append(_entry(i))

    threads = [threading.Thread(target=append, args=(k * 500,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    ids: list[Any] = []
    for kind, _, data, _, _ in sink.files:
        if kind == "predictions":
            ids += pq.read_table(io.BytesIO(data)).column("request_id").to_pylist()
    assert sorted(ids) == sorted(f"r{i}" for i in range(2000))


def test_what_was_written_is_not_written_again_and_unencodable_rows_are_dropped() -> None:
    class Fails:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def __call__(self, kind: str, *rest: Any) -> None:
            self.calls.append(kind)
            if kind == "feedback" and self.calls.count("feedback") == 1:
                raise OSError("the store went away between the two files")

    sink = Fails()
    errors: list[BaseException] = []
    log = PredictionLog(sink, interval=3600, on_error=errors.append)
    log.append(_entry(1, rows=2))
    log.feedback([Feedback(request_id="r1", time_ms=1_795_000_000_000, label=1)])
    log.flush()
    log.flush()
    assert sink.calls == ["predictions", "feedback", "feedback"]  # predictions once
    assert log.written == 2
    bad = Entry(
        request_id="x",
        time_ms=1_795_000_000_000,
        version=1,
        role="primary",
        latency_ms=1.0,
        rows=1,
        columns={"a": np.array([object()], dtype=object)},
        tensor=None,
        outputs=np.zeros(1, dtype=np.int64),
    )
    log.append(bad)
    log.flush()
    assert log.dropped == 1 and len(errors) == 2
    log.flush()  # nothing left to retry
    assert sink.calls.count("predictions") == 1


READ_AND_EXIT = """
import sys
from setpoint.serving.predlog import read_file
with open(sys.argv[1], "rb") as f:
    print(read_file(f.read()).num_rows)
"""


def test_a_script_reading_log_files_exits_cleanly(tmp_path: Path) -> None:
    """Arrow now and then aborts a process that exits right after reading Parquet bytes in
    memory with pq.read_table (exit 134, "terminate called without an active exception");
    a script reading the prediction log must exit 0 every time."""
    rng = np.random.default_rng(0)
    table = pa.table({f"input.f{i}": rng.random(200_000) for i in range(20)})
    path = tmp_path / "log.parquet"
    # many row groups keep Arrow's threads busy, as a day of traffic does
    pq.write_table(table, path, row_group_size=20_000, compression="zstd")
    for _ in range(12):
        pair = [
            subprocess.Popen(
                [sys.executable, "-c", READ_AND_EXIT, str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for proc in pair:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            assert out.strip() == b"200000"


def test_feedback_of_the_days_not_written_is_kept_and_only_that() -> None:
    """Feedback is written a file per day; a store that fails on the second day keeps that
    day's feedback, all of it and nothing of the first (20,000 items a day: the bookkeeping
    is per day, not per item against each file)."""

    class FailsOnce:
        def __init__(self) -> None:
            self.files: list[tuple[str, int]] = []
            self.failed = False

        def __call__(self, kind: str, day: str, data: bytes, rows: int, *rest: Any) -> None:
            if day == "2026-11-19" and not self.failed:
                self.failed = True
                raise OSError("the store is away")
            self.files.append((day, rows))

    sink = FailsOnce()
    log = PredictionLog(sink, interval=3600, on_error=lambda exc: None)
    day_ms = 86_400_000
    second = 1_795_046_400_000  # 2026-11-19, midnight UTC
    first = second - day_ms  # 2026-11-18
    log.feedback([Feedback(request_id=f"a{i}", time_ms=first, label=i) for i in range(20_000)])
    log.feedback([Feedback(request_id=f"b{i}", time_ms=second, label=i) for i in range(20_000)])
    log.flush()
    assert sink.files == [("2026-11-18", 20_000)]
    log.flush()
    assert sink.files == [("2026-11-18", 20_000), ("2026-11-19", 20_000)]
