"""What MLflow's clients write to runs that have ended, through the real client: MLflow
takes it, so setpoint's MLflow API does too (setpoint's own SDK still refuses it). Autolog's
metrics of a model's score came after the `fit` that ended its run and were lost; params of a
finalized logged model failed. And the logged-model deletions the client has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_an_ended_run_takes_what_mlflow_logs_to_it_and_stays_ended(
    client: Any, ml: Any, tmp_path: Path
) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    from setpoint.core.errors import RunNotActiveError

    run_id = ml.create_run(ml.create_experiment("late")).info.run_id
    ml.log_metric(run_id, "loss", 0.5, step=0)
    ml.set_terminated(run_id)
    ml.log_metric(run_id, "score", 0.9, step=1)
    ml.log_batch(
        run_id,
        metrics=[Metric("loss", 0.25, 1_700_000_000_000, 1)],
        params=[Param("late_param", "1")],
        tags=[RunTag("late_tag", "yes")],
    )
    ml.log_param(run_id, "other", "2")
    (tmp_path / "notes.txt").write_text("after the end")
    ml.log_artifact(run_id, str(tmp_path / "notes.txt"))
    got = ml.get_run(run_id)
    assert got.info.status == "FINISHED"  # it stays as it ended
    assert got.data.metrics == {"loss": 0.25, "score": 0.9}
    assert got.data.params == {"late_param": "1", "other": "2"}
    assert got.data.tags["late_tag"] == "yes"
    assert [m.step for m in ml.get_metric_history(run_id, "loss")] == [0, 1]
    assert [f.path for f in ml.list_artifacts(run_id)] == ["notes.txt"]
    # params stay write-once; a deleted run takes nothing
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        ml.log_param(run_id, "other", "3")
    ml.delete_run(run_id)
    with pytest.raises(MlflowException, match="deleted"):
        ml.log_metric(run_id, "score", 1.0)
    # setpoint's own SDK keeps an ended run as it ended
    ml.restore_run(run_id)
    with pytest.raises(RunNotActiveError):
        client.log_batch(run_id, keys=["score"], values=[1.0], steps=[2])


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
@pytest.mark.filterwarnings("ignore::UserWarning")  # MLflow's, on autolog and signatures
def test_autologs_score_after_a_bare_fit_is_kept(client: Any, ml: Any) -> None:
    """`fit` without a run: autolog makes one and ends it; `score` then logs to it (the
    metric is named after the variable passed: `x`)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        model = LogisticRegression().fit(x, y)
        model.score(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    run = ml.get_run(mlflow.last_active_run().info.run_id)
    assert run.info.status == "FINISHED"
    assert "training_score" in run.data.metrics
    assert run.data.metrics["LogisticRegression_score_x"] == pytest.approx(model.score(x, y))


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_finalized_logged_model_takes_params_and_loses_tags_and_itself(ml: Any) -> None:
    from mlflow.entities import LoggedModelStatus
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("models")
    model = ml.create_logged_model(exp, name="clf", tags={"stage": "dev", "team": "risk"})
    ml.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    mlflow.log_model_params({"extra": "1"}, model_id=model.model_id)
    assert ml.get_logged_model(model.model_id).params == {"extra": "1"}
    ml.delete_logged_model_tag(model.model_id, "stage")
    assert ml.get_logged_model(model.model_id).tags == {"team": "risk"}
    with pytest.raises(MlflowException, match="No tag with key 'stage'"):
        ml.delete_logged_model_tag(model.model_id, "stage")
    ml.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException, match="not found"):
        ml.get_logged_model(model.model_id)
    assert ml.search_logged_models([exp]) == []


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
@pytest.mark.filterwarnings("ignore::UserWarning")  # MLflow's, on the model's signature
def test_log_model_does_not_log_the_runs_points_again(client: Any, ml: Any) -> None:
    """MLflow 3's `log_model` sends the run's step-0 points again, naming the new model, to
    tie them to it: each point came back twice from the run's history (MLflow keeps one)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] > 0).astype(int)
    mlflow.set_experiment("tied")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("nan", float("nan"))
        mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="m")
        mlflow.sklearn.log_model(LogisticRegression(C=2.0).fit(x, y), name="m2")
        mlflow.log_metric("loss", 0.5, step=1)
    history = ml.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.5)]
    assert len(ml.get_metric_history(run.info.run_id, "nan")) == 1
    # a point that names a model but is new is logged
    ml.log_batch(
        run.info.run_id, metrics=[mlflow.entities.Metric("loss", 0.25, 1, 2, model_id="m-x")]
    )
    assert [m.step for m in ml.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2]
