"""Prometheus metrics of a prediction server, rendered in the text exposition format:
requests and errors, latency and batch-size histograms, per model version and role."""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Iterable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, n in zip(self.buckets, self.counts, strict=False):
            running += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class Metrics:
    """Counters and histograms of one server process (each worker has its own; the
    ``worker`` label tells them apart)."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.worker = str(os.getpid())
        self.requests: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.batch_rows = Histogram(ROW_BUCKETS)
        self.predict_seconds = Histogram(LATENCY_BUCKETS)
        self.reload_failures = 0
        self.reloads = 0
        self.shadow_skipped = 0

    def request(self, version: str, role: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(version, role, endpoint, str(status))] += 1
        hist = self.latency.get((version, role))
        if hist is None:
            hist = self.latency[(version, role)] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.predict_seconds.observe(seconds)

    def render(self, gauges: dict[str, float]) -> bytes:
        base = f'deployment="{_escape(self.deployment)}",worker="{self.worker}"'
        lines = [
            "# HELP setpoint_requests_total Prediction requests by model version, role, "
            "endpoint and HTTP status.",
            "# TYPE setpoint_requests_total counter",
        ]
        for (version, role, endpoint, status), n in sorted(self.requests.items()):
            lines.append(
                f'setpoint_requests_total{{{base},version="{version}",role="{role}",'
                f'endpoint="{endpoint}",status="{status}"}} {n}'
            )
        lines += [
            "# HELP setpoint_request_seconds Time from request to answer.",
            "# TYPE setpoint_request_seconds histogram",
        ]
        for (version, role), hist in sorted(self.latency.items()):
            labels = f'{base},version="{version}",role="{role}"'
            lines += hist.lines("setpoint_request_seconds", labels)
        lines += [
            "# HELP setpoint_batch_rows Rows per predict call (micro-batches).",
            "# TYPE setpoint_batch_rows histogram",
            *self.batch_rows.lines("setpoint_batch_rows", base),
            "# HELP setpoint_predict_seconds Time of each predict call.",
            "# TYPE setpoint_predict_seconds histogram",
            *self.predict_seconds.lines("setpoint_predict_seconds", base),
        ]
        for name, value in sorted(
            {
                "setpoint_reloads_total": self.reloads,
                "setpoint_reload_failures_total": self.reload_failures,
                "setpoint_shadow_skipped_total": self.shadow_skipped,
                **gauges,
            }.items()
        ):
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE {name} {kind}", f"{name}{{{base}}} {value:g}"]
        return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
