"""A version made from another registered version (``copy_model_version``,
``register_model("models:/name/1", ...)``), and finding versions by their run, number and
source, through the real MLflow client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
# importing mlflow.pyfunc (here, or through the client in whichever test runs first) warns
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")
pytest.importorskip("sklearn")


def _model_version(ml: Any, tmp_path: Path, name: str) -> tuple[str, Any]:
    """(run id, features) of a scikit-learn model saved in MLflow's format to a run's
    artifacts and registered as a version of ``name`` from ``runs:/`` (so it has no
    logged model id: only its source says where it is)."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(60, 2))
    folder = tmp_path / "saved"
    mlflow.sklearn.save_model(LogisticRegression().fit(x, x[:, 0] > 0), str(folder))
    run_id = ml.create_run("0").info.run_id
    ml.log_artifacts(run_id, str(folder), "model")
    ml.create_registered_model(name)
    ml.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return run_id, x


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_registered_version_is_a_source(client: Any, ml: Any, tmp_path: Path) -> None:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    run_id, x = _model_version(ml, tmp_path, "credit")
    ml.set_registered_model_alias("credit", "champion", "1")
    expected = mlflow.pyfunc.load_model("models:/credit/1").predict(x)

    by_alias = ml.copy_model_version("models:/credit@champion", "credit_copy")
    assert (by_alias.name, by_alias.version) == ("credit_copy", "1")
    assert by_alias.source == "models:/credit/1" and by_alias.run_id == run_id
    by_version = ml.copy_model_version("models:/credit/1", "credit_copy")
    assert by_version.version == "2"
    registered = mlflow.register_model("models:/credit/1", "other")
    assert (registered.name, registered.version) == ("other", "1")
    for uri in ("models:/credit_copy/1", "models:/credit_copy/2", "models:/other/1"):
        assert (mlflow.pyfunc.load_model(uri).predict(x) == expected).all()
    # as MLflow, the source is kept as the version it named, whatever its alias does next
    ml.create_model_version("credit", f"runs:/{run_id}/model", run_id=run_id)
    ml.set_registered_model_alias("credit", "champion", "2")
    made = ml.create_model_version("other", "models:/credit@champion")
    assert (made.version, made.source, made.run_id) == ("2", "models:/credit/2", run_id)
    ml.set_registered_model_alias("credit", "champion", "1")
    assert ml.get_model_version_download_uri("other", "2").endswith(f"/{run_id}/artifacts/model")
    assert client.get_model_version("other", 2, "default").digest == (
        client.get_model_version("credit", 2, "default").digest
    )
    assert ml.create_model_version("other", "models:/credit/latest").source == "models:/credit/2"

    for missing in ("models:/nope/1", "models:/credit/9", "models:/credit/Production"):
        with pytest.raises(MlflowException) as refused:
            ml.create_model_version("other", missing)
        assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST", missing
    with pytest.raises(MlflowException, match="alias nope not found") as refused:
        ml.create_model_version("other", "models:/credit@nope")  # MLflow's answer
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="models:/name/version") as refused:
        ml.create_model_version("other", "models:/credit/Someday")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="run_id and model_id") as refused:
        ml.create_model_version("other", "models:/credit/1", run_id=ml.create_run("0").info.run_id)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert [v.version for v in ml.search_model_versions("name = 'other'")] == ["3", "2", "1"]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_versions_are_found_by_run_number_and_source(ml: Any, tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    first, _ = _model_version(ml, tmp_path, "credit")
    second = ml.create_run("0").info.run_id
    ml.log_artifacts(second, str(tmp_path / "saved"), "model")
    ml.create_model_version("credit", f"runs:/{second}/model", run_id=second)
    ml.create_model_version("credit", f"runs:/{second}/model", run_id=second)

    def found(text: str) -> list[str]:
        return sorted(v.version for v in ml.search_model_versions(text))

    assert found(f"run_id = '{first}'") == ["1"]
    assert found(f"run_id='{second}'") == ["2", "3"]
    assert found(f"run_id != '{first}'") == ["2", "3"]
    assert found(f"run_id IN ('{first}', '{second}')") == ["1", "2", "3"]
    assert found(f"run_id NOT IN ('{second}')") == ["1"]
    assert found("run_id IN ('nothing')") == []
    assert found("name='credit' and version_number > 1") == ["2", "3"]
    assert found("version_number <= 2 AND version_number != 1") == ["2"]
    assert found("version_number >= '3'") == ["3"]
    assert found(f"name = 'credit' AND run_id = '{second}' AND version_number < 3") == ["2"]
    assert found(f"source_path = 'runs:/{second}/model'") == ["2", "3"]
    assert found("source_path LIKE 'runs:/%'") == ["1", "2", "3"]
    assert found("name IN ('credit', 'other')") == ["1", "2", "3"]
    # an AND inside a quoted value is part of it
    ml.set_model_version_tag("credit", "2", "team", "R and D")
    ml.set_registered_model_tag("credit", "team", "R and D")
    assert found("tags.team = 'R and D' and name = 'credit'") == ["2"]
    assert [m.name for m in ml.search_registered_models("tags.team = 'R and D'")] == ["credit"]

    for wrong in (
        "version_number LIKE '1'",
        "version_number > 1.5",
        "source_path IN ('x')",
        "run_id > 'a'",
        "status = 'READY'",
    ):
        with pytest.raises(MlflowException, match="run_id") as refused:
            ml.search_model_versions(wrong)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", wrong
    # registered models are searched by name and tags only, as MLflow
    with pytest.raises(MlflowException, match="name = ") as refused:
        ml.search_registered_models(f"run_id = '{first}'")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
