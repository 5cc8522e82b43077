"""Evidently drift peer: DataDriftPreset on N rows x (20 numeric + 5 categorical) columns made
by benchmarks/drift_data.py (the same frames setpoint's side uses); wall time and each
column's decision. Prints one JSON line."""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drift_data import frames


def main() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ref, cur = frames(n)
    t = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds = time.perf_counter() - t
    decisions = {}
    for metric in snapshot.dict()["metrics"]:
        name = metric.get("metric_name", "")
        if name.startswith("ValueDrift(column="):
            column = name.split("column=", 1)[1].split(",", 1)[0]
            method = name.split("method=", 1)[1].split(",", 1)[0] if "method=" in name else ""
            threshold = (
                float(name.split("threshold=", 1)[1].rstrip(")")) if "threshold=" in name else None
            )
            value = metric["value"]
            decisions[column] = {"method": method, "value": value, "threshold": threshold}
    print(json.dumps({"seconds": seconds, "columns": decisions}))


if __name__ == "__main__":
    main()
