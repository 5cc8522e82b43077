"""A PythonModel logged through MLflow (`mlflow.pyfunc.log_model(python_model=...)`) is a
setpoint model: registered as MLflow registers it, loaded by MLflow from setpoint, and loaded
by setpoint (as `setpoint serve` loads it) with its artifacts and config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import setpoint as sp

mlflow = pytest.importorskip("mlflow")
# MLflow warns once, when its pyfunc module is first imported
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_python_model_logged_through_mlflow_is_registered_and_loaded_by_both(
    client: Any, ml: Any, tmp_path: Path
) -> None:
    """Registering it was refused ("setpoint loads MLflow models of the flavors sklearn,
    xgboost, lightgbm; this one has python_function"), leaving a model without versions."""
    import mlflow.pyfunc

    class Weighted(mlflow.pyfunc.PythonModel):
        def load_context(self, context):  # type: ignore[no-untyped-def]
            self.weights = np.loadtxt(context.artifacts["weights"])

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            scores = model_input[["a", "b"]].to_numpy() @ self.weights
            return scores + context.model_config["bias"]

    np.savetxt(tmp_path / "weights.txt", [0.5, -2.0])
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, -1.0]})
    mlflow.set_experiment("py")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="weighted",
            python_model=Weighted(),
            artifacts={"weights": str(tmp_path / "weights.txt")},
            model_config={"bias": 10.0},
            registered_model_name="weighted",
            pip_requirements=["numpy"],
        )
    ml.set_registered_model_alias("weighted", "champion", "1")
    expected = [10.5, 9.0, 13.5]
    by_mlflow = mlflow.pyfunc.load_model("models:/weighted@champion").predict(x)
    np.testing.assert_allclose(by_mlflow, expected)
    mv = client.resolve_alias("weighted", "champion", "py")
    assert mv.version == 1
    np.testing.assert_allclose(sp.load_model("py/weighted@champion").predict(x), expected)
