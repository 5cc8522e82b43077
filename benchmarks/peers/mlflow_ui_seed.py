"""MLflow UI peer: fill an MLflow SQLite store with N runs (20 params and 20 metrics each, the
data bench_ui.py gives setpoint) and one run with a P-point metric, for `mlflow server`.

The first run and the long metric go through MlflowClient (so the schema and every column
are MLflow's own); the other runs are copies of the first written straight into its tables,
as bench_ui.py does for setpoint: through the API, 100,000 runs take most of an hour.
Run with the peer venv's python; prints one JSON line: experiment id, run ids, names.
"""

import argparse
import json
import os
import sqlite3
import sys
import time
import uuid
from contextlib import redirect_stdout

os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import mlflow
from mlflow.entities import Metric, Param
from mlflow_rows import RunTemplate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True, help="the SQLite file to fill")
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    with redirect_stdout(sys.stderr):
        result = seed(args)
    print(json.dumps(result), flush=True)


def seed(args):
    mlflow.set_tracking_uri(f"sqlite:///{args.db}")
    c = mlflow.MlflowClient()
    exp = c.create_experiment("search", artifact_location=args.artifacts)
    ts = int(time.time() * 1000)
    first = c.create_run(exp, run_name="r0", start_time=ts)
    c.log_batch(
        first.info.run_id,
        metrics=[Metric(f"m{j}", (0 * 7919 + j) % 1000 / 1000, ts, 0) for j in range(20)],
        params=[Param(f"p{j}", str(j % 10)) for j in range(20)],
    )
    c.set_terminated(first.info.run_id, end_time=ts)
    con = sqlite3.connect(args.db)
    template = RunTemplate(con, first.info.run_id)
    chunk = 20_000
    for start in range(1, args.runs, chunk):
        runs, params, metrics, latest, tag_rows = [], [], [], [], []
        for i in range(start, min(start + chunk, args.runs)):
            rid = uuid.uuid4().hex
            runs.append(template.run_row(rid, f"r{i}", ts + i, ts + i))
            params.extend((f"p{j}", str((i + j) % 10), rid) for j in range(20))
            for j in range(20):
                v = (i * 7919 + j) % 1000 / 1000
                metrics.append((f"m{j}", v, ts, rid, 0, 0))
                latest.append((f"m{j}", v, ts, 0, 0, rid))
            tag_rows.extend(template.tag_rows(rid, f"r{i}"))
        con.executemany(template.insert_run, runs)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
            metrics,
        )
        con.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
            latest,
        )
        con.executemany(template.insert_tags, tag_rows)
        con.commit()
    # the long curve: a sine with one spike (MLflow's API takes 1,000 points a call)
    import math

    curve = c.create_run(exp, run_name="long-curve", start_time=ts + args.runs + 1)
    last = args.points - 1
    c.log_batch(curve.info.run_id, metrics=[Metric("loss", math.sin(last / 5000.0), ts, last)])
    points = []
    for k in range(args.points - 1):
        v = 25.0 if k == args.points // 3 else math.sin(k / 5000.0)
        points.append(("loss", v, ts, curve.info.run_id, k, 0))
    con.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
        points,
    )
    con.commit()
    c.set_terminated(curve.info.run_id, end_time=ts + args.runs + 2)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return {"experiment_id": exp, "curve_run": curve.info.run_id, "newest_name": "long-curve"}


if __name__ == "__main__":
    main()
