"""MLflow search peer: populate N runs (20 params, 20 metrics each), then time one filtered, ordered search_runs.

Run with the peer venv's python; prints one JSON line on stdout.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import mlflow
from mlflow.entities import Metric, Param

FILTER = "metrics.m3 > 0.5 and params.p7 = '3'"
ORDER_BY = ["metrics.m5 DESC"]
MAX_RESULTS = 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10000, help="runs to populate (default 10000)")
    p.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    p.add_argument(
        "--db-url",
        default=None,
        help="tracking store URI (default: sqlite file in the work folder)",
    )
    return p.parse_args(argv)


def bench(workdir, db_url, n):
    mlflow.set_tracking_uri(db_url or f"sqlite:///{os.path.join(workdir, 'mlflow.db')}")
    c = mlflow.MlflowClient()
    exp_id = c.create_experiment(
        f"bench-{os.getpid()}-{time.time_ns()}",
        artifact_location=os.path.join(workdir, "artifacts"),
    )
    ts = int(time.time() * 1000)
    t0 = time.perf_counter()
    for i in range(n):
        r = c.create_run(exp_id)
        c.log_batch(
            r.info.run_id,
            metrics=[Metric(f"m{j}", (i * 7919 + j) % 1000 / 1000, ts, 0) for j in range(20)],
            params=[Param(f"p{j}", str((i + j) % 10)) for j in range(20)],
        )
        c.set_terminated(r.info.run_id)
    populate_s = time.perf_counter() - t0

    search_s = None
    for _ in range(2):  # first call warms caches; report the second
        t0 = time.perf_counter()
        res = c.search_runs(
            [exp_id], filter_string=FILTER, order_by=ORDER_BY, max_results=MAX_RESULTS
        )
        search_s = time.perf_counter() - t0
    return {"populate_s": populate_s, "search_s": search_s, "rows": len(res), "n_runs": n}


def main(argv=None):
    args = parse_args(argv)
    if args.runs <= 0:
        raise SystemExit("--runs must be positive")
    with contextlib.ExitStack() as stack:
        if args.dir:
            os.makedirs(args.dir, exist_ok=True)
            workdir = tempfile.mkdtemp(prefix="mlflow-search-", dir=args.dir)
        else:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-search-"))
        cwd = os.getcwd()
        os.chdir(workdir)  # keep any default ./mlruns out of the caller's folder
        stack.callback(os.chdir, cwd)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
            result = bench(workdir, args.db_url, args.runs)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
