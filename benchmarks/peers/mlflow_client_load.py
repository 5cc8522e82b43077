"""The real MLflow client (peer venv) against a tracking server given by URL: 10,000
`mlflow.log_metric` calls one at a time, the same points with `log_batch` (10 x 1,000), and
`search_runs` over N runs of 20 params and 20 metrics (made through the client first; the
peer-bench anchor's query), best of 3. Prints one JSON line.

Usage: mlflow_client_load.py URL [RUNS]
"""

import json
import sys
import time


def main() -> None:
    import mlflow
    from mlflow.entities import Metric, Param

    url = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    mlflow.set_tracking_uri(url)
    client = mlflow.MlflowClient(url)
    mlflow.set_experiment("load")
    out = {}
    with mlflow.start_run() as run:
        t = time.perf_counter()
        for i in range(10_000):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        out["one_at_a_time_s"] = time.perf_counter() - t
        ts = int(time.time() * 1000)
        t = time.perf_counter()
        for b in range(10):
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("batched", float(i), ts, b * 1000 + i) for i in range(1000)],
            )
        out["log_batch_s"] = time.perf_counter() - t
    exp = client.get_experiment_by_name("search") or None
    exp_id = exp.experiment_id if exp else client.create_experiment("search")
    t = time.perf_counter()
    ts = int(time.time() * 1000)
    for i in range(runs):
        r = client.create_run(exp_id)
        client.log_batch(
            r.info.run_id,
            metrics=[Metric(f"m{j}", (i * 7919 + j) % 1000 / 1000, ts, 0) for j in range(20)],
            params=[Param(f"p{j}", str((i + j) % 10)) for j in range(20)],
        )
        client.set_terminated(r.info.run_id)
    out["populate_s"] = time.perf_counter() - t
    best = None
    for _ in range(3):
        t = time.perf_counter()
        found = client.search_runs(
            [exp_id],
            filter_string="metrics.m3 > 0.5 and params.p7 = '3'",
            order_by=["metrics.m5 DESC"],
            max_results=100,
        )
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    out["search_s"] = best
    out["search_rows"] = len(found)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
