"""MLflow serving peer: `mlflow models serve --env-manager local -w 2` of a
HistGradientBoostingClassifier on scikit-learn's breast-cancer data, loaded with wrk
(-t2 -c16) with one-row and 64-row `dataframe_split` bodies. Prints one JSON line."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wrk import wrk


def main() -> None:
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    model = HistGradientBoostingClassifier(random_state=0).fit(X, y)
    with tempfile.TemporaryDirectory(prefix="mlflow-serve-") as tmp:
        tracking = f"sqlite:///{Path(tmp, 'mlflow.db')}"
        mlflow.set_tracking_uri(tracking)
        # artifacts in the temporary folder too (MLflow's default is ./mlruns)
        experiment = mlflow.create_experiment(
            "serve", artifact_location=Path(tmp, "artifacts").as_uri()
        )
        mlflow.set_experiment(experiment_id=experiment)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", input_example=X[:5], serialization_format="cloudpickle"
            )
        port = _free_port()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        env["MLFLOW_TRACKING_URI"] = tracking
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                "models",
                "serve",
                "-m",
                info.model_uri,
                "--env-manager",
                "local",
                "-w",
                "2",
                "-p",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url + "/ping")
            out = {}
            for key, rows in (("single", 1), ("batch64", 64)):
                body = json.dumps(
                    {
                        "dataframe_split": {
                            "columns": list(X.columns),
                            "data": X[:rows].values.tolist(),
                        }
                    }
                )
                wrk(url + "/invocations", body, seconds=2)  # warm up
                out[key] = wrk(url + "/invocations", body, seconds=seconds)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(json.dumps(out))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("mlflow models serve did not start")


if __name__ == "__main__":
    main()
