"""MLflow store for the import benchmark: N runs × P metric points in an MLflow SQLite file.

The first run goes through MlflowClient (so the schema and every column are MLflow's own),
with 10 params, 5 tags and a P-point metric; the other runs are copies of it written straight
into its tables, as mlflow_ui_seed.py does (through MLflow's API, a million points take long).
Run with the peer venv's python; prints one JSON line: runs, points, seconds taken.
"""

import argparse
import json
import math
import os
import sqlite3
import sys
import time
import uuid
from contextlib import redirect_stdout

os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import mlflow
from mlflow.entities import Param
from mlflow_rows import RunTemplate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True, help="the SQLite file to fill")
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=1000, help="metric points per run")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with redirect_stdout(sys.stderr):
        seed(args)
    out = {"runs": args.runs, "points": args.points, "seconds": time.perf_counter() - t0}
    print(json.dumps(out), flush=True)


def seed(args):
    mlflow.set_tracking_uri(f"sqlite:///{args.db}")
    c = mlflow.MlflowClient()
    exp = c.create_experiment("import-bench", artifact_location=args.artifacts)
    ts = int(time.time() * 1000)
    first = c.create_run(exp, run_name="r0", start_time=ts, tags={f"t{j}": "x" for j in range(5)})
    c.log_batch(first.info.run_id, params=[Param(f"p{j}", str(j)) for j in range(10)])
    c.set_terminated(first.info.run_id, end_time=ts + 1000)
    con = sqlite3.connect(args.db)
    template = RunTemplate(con, first.info.run_id)
    for i in range(args.runs):
        rid = first.info.run_id if i == 0 else uuid.uuid4().hex
        if i:
            con.execute(template.insert_run, template.run_row(rid, f"r{i}", ts + i, ts + i))
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(f"p{j}", str((i + j) % 10), rid) for j in range(10)],
            )
            con.executemany(template.insert_tags, template.tag_rows(rid))
        points = [
            ("loss", math.exp(-k / 300) + (i % 7) / 100, ts + k, rid, k, 0)
            for k in range(args.points)
        ]
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            points,
        )
        last = points[-1]
        con.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (last[0], last[1], last[2], last[4], 0, rid),
        )
        if i % 100 == 99:
            con.commit()
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


if __name__ == "__main__":
    main()
