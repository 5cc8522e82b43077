"""The MLflow client's own floor: a server that stores nothing and answers each call the
load script makes (benchmarks/peers/mlflow_client_load.py) at once, with responses shaped
and sized like setpoint's (the search answer is 100 runs of 20 params and 20 metrics,
written by setpoint's own MLflow serializer). Whatever the client takes against it is
time no server can win back.

Usage: python benchmarks/canned_mlflow_server.py PORT
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import orjson


def _search_answer() -> bytes:
    from setpoint.core.types import Run
    from setpoint.server.mlflow_api import _run

    runs = [
        Run(
            id=f"{i:032x}",
            project="search",
            name=f"run-{i:08x}",
            status="finished",
            start_time=1_795_000_000_000 + i,
            end_time=1_795_000_000_025 + i,
            user="",
            params={f"p{j}": str((i + j) % 10) for j in range(20)},
            metrics={f"m{j}": (i * 7919 + j) % 1000 / 1000 for j in range(20)},
        )
        for i in range(100)
    ]
    return orjson.dumps({"runs": [_run(r) for r in runs]})


def app_factory() -> Any:
    search = _search_answer()
    ids = itertools.count()
    experiment = orjson.dumps(
        {
            "experiment": {
                "experiment_id": "search",
                "name": "search",
                "artifact_location": "mlflow-artifacts:/search",
                "lifecycle_stage": "active",
            }
        }
    )

    def run_info() -> bytes:
        run_id = f"{next(ids):032x}"
        info = {
            "run_id": run_id,
            "run_uuid": run_id,
            "run_name": "run",
            "experiment_id": "search",
            "status": "RUNNING",
            "start_time": 1_795_000_000_000,
            "artifact_uri": f"mlflow-artifacts:/search/{run_id}/artifacts",
            "lifecycle_stage": "active",
        }
        return orjson.dumps({"run": {"info": info, "data": {}}, "run_info": info})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        if path.endswith(("experiments/get-by-name", "experiments/get")):
            body = experiment
        elif path.endswith("experiments/create"):
            body = b'{"experiment_id": "search"}'
        elif path.endswith(("runs/create", "runs/update", "runs/get")):
            body = run_info()
        elif path.endswith("runs/search"):
            body = search
        else:
            body = b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app_factory(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
