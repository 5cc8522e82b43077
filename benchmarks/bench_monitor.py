"""Incremental monitor benchmark: a monitor over a prediction log of W one-hour windows of
100,000 rows x 25 columns has computed them all; one more window arrives; `run_monitor`
(reading the log, computing, storing, applying the rules) against computing that window
alone in memory. The target: at most 2x, i.e. the cost follows the new rows only.

Usage: python benchmarks/bench_monitor.py [--windows 5] [--rows 100000]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np
from drift_data import frame

HOUR = 3_600_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-monitor-") as tmp:
        os.environ["SETPOINT_HOME"] = os.path.join(tmp, "home")
        import setpoint as sp
        from setpoint.client import sdk
        from setpoint.monitoring.windows import compute
        from setpoint.serving.predlog import Entry, PredictionLog

        c = sdk.client()
        rng = np.random.default_rng(0)
        reference = sp.log_dataset(frame(args.rows, 0.0, rng), "reference", project="bench")

        def sink(kind, day, data, rows, first, last, dropped):  # type: ignore[no-untyped-def]
            digest = c.upload_blob(io.BytesIO(data)).digest
            c.record_prediction_log("svc", kind, day, digest, rows, first, last, "bench", dropped)

        log = PredictionLog(sink, interval=3600)

        def window(k: int, shift: float) -> None:
            f = frame(args.rows, shift, rng)
            chunk = 1000
            for i in range(0, args.rows, chunk):
                part = f.iloc[i : i + chunk]
                log.append(
                    Entry(
                        request_id=f"w{k}-{i}",
                        time_ms=T0 + k * HOUR + i,
                        version=1,
                        role="primary",
                        latency_ms=1.0,
                        rows=len(part),
                        columns={col: part[col].to_numpy() for col in part.columns},
                        tensor=None,
                        outputs=np.zeros(len(part), dtype=np.int64),
                    )
                )
            log.flush()

        for k in range(args.windows):
            window(k, 0.0)
        sp.add_monitor("m", deployment="svc", reference=reference.ref, window="1h", project="bench")
        t = time.perf_counter()
        settle = 120_000  # past the monitor's grace period for late log rows
        first = sp.run_monitor("m", project="bench", now=T0 + args.windows * HOUR + settle)
        all_s = time.perf_counter() - t
        assert len(first["computed"]) == args.windows
        window(args.windows, 0.1)
        t = time.perf_counter()
        more = sp.run_monitor("m", project="bench", now=T0 + (args.windows + 1) * HOUR + settle)
        incremental = time.perf_counter() - t
        assert [w.start_at for w in more["computed"]] == [T0 + args.windows * HOUR]
        # the same window computed alone, from rows already in memory
        rows = sp.prediction_log("svc", project="bench").iloc[-args.rows :]  # oldest first
        profile = reference.profile
        config = c.get_monitor("m", "bench").config
        t = time.perf_counter()
        compute(rows, profile, config)
        alone = time.perf_counter() - t
    print(f"| measure ({args.rows:,} rows × 25 columns per window) | seconds | target |")
    print("|---|---|---|")
    print(f"| first run, {args.windows} windows | {all_s:.2f} s | – |")
    print(f"| computing the new window alone (rows in memory) | {alone:.2f} s | – |")
    print(
        f"| incremental run after one new window (read, compute, store, rules) | "
        f"{incremental:.2f} s: {incremental / alone:.2f}× the window alone | ≤ 2× |"
    )


if __name__ == "__main__":
    main()
