"""Helpers of the serving tests: a live server (uvicorn with lifespan, in a thread) and two
registered versions of a small model (fixtures the test modules import)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import setpoint as sp
from conftest import free_port
from setpoint.client.serving import ServeSpec, build_app

COLUMNS = ["a", "b", "c", "d"]


class LiveServer:
    """uvicorn with lifespan on, in a thread: startup loads the models."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the prediction server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=COLUMNS)
    y = ((X["a"] + X["b"]) > 0).astype(int).to_numpy()
    return X, y


@pytest.fixture
def models(client: Any) -> dict[str, Any]:
    """churn v1 (champion, logistic regression) and v2 (challenger, a tree)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = _data()
    v1 = sp.log_model(LogisticRegression().fit(X, y), "churn", project="srv", input_example=X[:5])
    v2 = sp.log_model(
        DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y),
        "churn",
        project="srv",
        input_example=X[:5],
    )
    sp.set_alias("churn", "champion", v1.version, project="srv")
    sp.set_alias("churn", "challenger", v2.version, project="srv")
    return {"X": X, "v1": v1, "v2": v2}


def _spec(**kw: Any) -> ServeSpec:
    return ServeSpec(model="churn", project="srv", poll=0.2, log_interval=0.2, **kw)


@pytest.fixture
def server(client: Any, models: dict[str, Any], tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(build_app(_spec(), client, str(tmp_path / "cache"))) as live:
        yield live
