"""MLflow tracking-throughput peer: single/batch metric logging, history reads, run creation.

Run with the peer venv's python; prints one JSON line on stdout.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid

os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"

import mlflow
from mlflow.entities import Metric, Param

BATCH_CHUNK = 1000  # points per log_batch call (MLflow's per-request metric limit)
RUN_PARAMS = 20
RUN_METRICS = 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--single", type=int, default=2000, help="log_metric calls (default 2000)")
    p.add_argument(
        "--batch", type=int, default=100000, help="points logged via log_batch (default 100000)"
    )
    p.add_argument(
        "--runs", type=int, default=200, help="runs created for create_run_ms (default 200)"
    )
    p.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    p.add_argument(
        "--db-url",
        default=None,
        help="tracking store URI (default: sqlite file in the work folder), "
        "e.g. postgresql://user@host:5432/dbname",
    )
    return p.parse_args(argv)


def bench(workdir, db_url, n_single, n_batch, n_runs):
    uri = db_url or f"sqlite:///{os.path.join(workdir, 'mlflow.db')}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    tag = uuid.uuid4().hex[:8]
    artifacts = os.path.join(workdir, "artifacts")
    # Store creation/migrations happen here, outside the timed sections.
    exp_id = client.create_experiment(f"tracking-{tag}", artifact_location=artifacts)

    out = {}
    with mlflow.start_run(experiment_id=exp_id) as run:
        run_id = run.info.run_id

        t0 = time.perf_counter()
        for i in range(n_single):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        dt = time.perf_counter() - t0
        out["log_metric_per_s"] = n_single / dt
        out["log_metric_ms"] = dt * 1000 / n_single

        ts = int(time.time() * 1000)
        t0 = time.perf_counter()
        for off in range(0, n_batch, BATCH_CHUNK):
            end = min(off + BATCH_CHUNK, n_batch)
            client.log_batch(
                run_id, metrics=[Metric("acc", i / n_batch, ts, i) for i in range(off, end)]
            )
        dt = time.perf_counter() - t0
        out["log_batch_points_per_s"] = n_batch / dt

        t0 = time.perf_counter()
        hist = client.get_metric_history(run_id, "acc")
        dt = time.perf_counter() - t0
        if len(hist) != n_batch:
            raise SystemExit(f"metric history returned {len(hist)} points, expected {n_batch}")
        out["history_points_per_s"] = len(hist) / dt

    run_exp = client.create_experiment(f"create-runs-{tag}", artifact_location=artifacts)
    ts = int(time.time() * 1000)
    t0 = time.perf_counter()
    for i in range(n_runs):
        r = client.create_run(run_exp)
        client.log_batch(
            r.info.run_id,
            metrics=[
                Metric(f"m{j}", (i * 7919 + j) % 1000 / 1000, ts, 0) for j in range(RUN_METRICS)
            ],
            params=[Param(f"p{j}", str((i + j) % 10)) for j in range(RUN_PARAMS)],
        )
        client.set_terminated(r.info.run_id)
    dt = time.perf_counter() - t0
    out["create_run_ms"] = dt * 1000 / n_runs
    out["version"] = mlflow.__version__
    return out


def main(argv=None):
    args = parse_args(argv)
    for name in ("single", "batch", "runs"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name} must be positive")
    with contextlib.ExitStack() as stack:
        if args.dir:
            os.makedirs(args.dir, exist_ok=True)
            workdir = tempfile.mkdtemp(prefix="mlflow-tracking-", dir=args.dir)
        else:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="mlflow-tracking-"))
        cwd = os.getcwd()
        os.chdir(workdir)  # keep any default ./mlruns out of the caller's folder
        stack.callback(os.chdir, cwd)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON line
            result = bench(workdir, args.db_url, args.single, args.batch, args.runs)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
