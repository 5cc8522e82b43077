"""MLflow's model registry on SQLite: register a version, set an alias, resolve an alias (median ms)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def median_ms(fn, repeat):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{root}/mlflow.db")
    client = MlflowClient()
    # artifacts under the scratch folder, not ./mlruns of whoever runs the benchmark
    mlflow.set_experiment(
        experiment_id=client.create_experiment("bench", artifact_location=f"{root}/artifacts")
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 5))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    client.create_registered_model("reg")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=x[:5])
    source = info.model_uri
    register = median_ms(lambda: client.create_model_version("reg", source, run.info.run_id), 50)
    versions = iter(range(1, 10_000))
    set_alias = median_ms(
        lambda: client.set_registered_model_alias("reg", "champion", str(next(versions))), 50
    )
    resolve = median_ms(lambda: client.get_model_version_by_alias("reg", "champion"), 200)

    def log_model() -> None:
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="reg")

    whole = median_ms(log_model, 10)
    print(
        json.dumps(
            {"register": register, "set_alias": set_alias, "resolve": resolve, "log_model": whole}
        )
    )


if __name__ == "__main__":
    main()
