"""Deleting and restoring through the real MLflow client: runs and experiments leave
searches and refuse logging while deleted, come back when restored, and setpoint's own
listings and audit trail agree. Tags on experiments; deleting a run's tag."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_runs_are_deleted_and_restored(client: Any, ml: Any) -> None:
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("churn")
    keep, drop = (ml.create_run(exp, run_name=n).info.run_id for n in ("keep", "drop"))
    for run_id in (keep, drop):
        ml.log_metric(run_id, "auc", 0.9)
        ml.set_tag(run_id, "stage", "dev")
    ml.delete_run(drop)
    ml.delete_run(drop)  # as in MLflow, deleting again is no error

    assert ml.get_run(drop).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in ml.search_runs([exp])] == [keep]
    deleted = ml.search_runs([exp], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [drop]
    assert {r.info.run_id for r in ml.search_runs([exp], run_view_type=ViewType.ALL)} == {
        keep,
        drop,
    }
    with pytest.raises(MlflowException, match="deleted") as refused:
        ml.log_metric(drop, "auc", 0.95)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="deleted"):
        ml.set_tag(drop, "stage", "prod")
    # setpoint's own view agrees, and nothing logged was lost
    assert list(client.search_runs("churn").runs) == [client.get_run(keep)]
    assert client.get_run(drop).deleted_at is not None

    ml.restore_run(drop)
    assert ml.get_run(drop).info.lifecycle_stage == "active"
    ml.log_metric(drop, "auc", 0.95)
    assert client.get_metric_history(drop, "auc").values == [0.9, 0.95]
    assert len(ml.search_runs([exp])) == 2
    actions = [e.action for e in client.list_audit_events(project="churn", subject=drop)]
    assert "run.delete" in actions and "run.restore" in actions

    ml.delete_tag(keep, "stage")
    assert "stage" not in ml.get_run(keep).data.tags
    with pytest.raises(MlflowException) as missing:
        ml.delete_tag(keep, "stage")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_experiments_are_deleted_restored_and_tagged(client: Any, ml: Any) -> None:
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="at most") as bad:
        ml.create_experiment("ads", tags={"owner": "x" * 20_001})  # MLflow's limit: 20,000
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ml.get_experiment_by_name("ads") is None  # nothing half-made
    exp = ml.create_experiment("ads", tags={"owner": "growth"})
    run_id = ml.create_run(exp).info.run_id
    ml.set_experiment_tag(exp, "tier", "1")
    assert ml.get_experiment(exp).tags == {"owner": "growth", "tier": "1"}
    # an experiment's tag may be longer than a run's (8,000), as in MLflow
    ml.set_experiment_tag(exp, "notes", "n" * 20_000)
    assert ml.get_experiment(exp).tags["notes"] == "n" * 20_000
    with pytest.raises(MlflowException, match="at most") as long:
        ml.set_experiment_tag(exp, "notes", "n" * 20_001)
    assert long.value.error_code == "INVALID_PARAMETER_VALUE"
    ml.delete_experiment_tag(exp, "notes")
    ml.delete_experiment_tag(exp, "owner")
    assert ml.get_experiment(exp).tags == {"tier": "1"}

    ml.delete_experiment(exp)
    assert ml.get_experiment(exp).lifecycle_stage == "deleted"
    assert ml.get_experiment_by_name("ads").lifecycle_stage == "deleted"
    assert "ads" not in [e.name for e in ml.search_experiments()]
    gone = ml.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in gone] == ["ads"]
    assert "ads" not in [p.name for p in client.list_projects()]
    # a search of every project leaves its runs out; naming it still finds them
    assert run_id not in [r.id for r in client.search_runs().runs]
    assert [r.id for r in client.search_runs("ads").runs] == [run_id]
    with pytest.raises(MlflowException, match="restore") as refused:
        ml.create_run(exp)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    # nor do its runs take writes, as in MLflow (which deletes them with it)
    with pytest.raises(MlflowException, match=r"project of run .* is deleted") as closed:
        ml.log_metric(run_id, "auc", 0.5)
    assert closed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_metric_history(run_id, "auc").values == []
    with pytest.raises(MlflowException, match="deleted state"):
        ml.create_experiment("ads")
    # MLflow's own client refuses to make a deleted experiment the active one
    with pytest.raises(MlflowException, match="deleted"):
        mlflow.set_experiment("ads")

    ml.restore_experiment(exp)
    assert ml.get_experiment(exp).lifecycle_stage == "active"
    ml.log_metric(run_id, "auc", 0.5)
    assert client.get_metric_history(run_id, "auc").values == [0.5]
    assert ml.create_run(exp).info.lifecycle_stage == "active"
    with pytest.raises(MlflowException, match="rename") as rename:
        ml.rename_experiment(exp, "ads-2")
    assert rename.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_experiment_names_that_are_no_project_names_are_kept(client: Any, ml: Any) -> None:
    """MLflow's experiment names are free text ("/Users/<email>/<name>" on Databricks,
    "My Experiment"): each is kept in a project of its own, under the name MLflow gave it."""
    from mlflow.exceptions import MlflowException

    from setpoint.core.names import EXPERIMENT_NAME_TAG, experiment_project

    name = "/Users/ana@corp.com/fraud detection"
    exp = mlflow.set_experiment(name)
    assert exp.name == name and exp.tags == {}
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_metric("auc", 0.91)
    assert mlflow.set_experiment(name).experiment_id == exp.experiment_id  # found, not remade
    assert ml.get_experiment_by_name(name).experiment_id == exp.experiment_id
    assert ml.get_experiment(exp.experiment_id).name == name
    [found] = ml.search_experiments(filter_string="name LIKE '/Users/%'")
    assert found.name == name
    assert [r.info.run_id for r in ml.search_runs([exp.experiment_id])] == [run.info.run_id]

    # setpoint keeps it in a project with a name of its rules, and the name in a tag
    project = experiment_project(name)
    assert project == exp.experiment_id and project.startswith("Users-ana-corp.com-fraud-")
    assert client.get_project(project).tags[EXPERIMENT_NAME_TAG] == name
    assert [r.id for r in client.search_runs(project).runs] == [run.info.run_id]

    # names that differ only where a project name cannot are two experiments
    spaced = ml.create_experiment("My Experiment")
    dashed = ml.create_experiment("My-Experiment")
    assert len({spaced, dashed, exp.experiment_id}) == 3 and dashed == "My-Experiment"
    assert ml.get_experiment_by_name("My Experiment").experiment_id == spaced
    assert ml.get_experiment_by_name(spaced) is None  # the project's name is not the name
    with pytest.raises(MlflowException, match="already exists"):
        ml.create_experiment("My Experiment")
    with pytest.raises(MlflowException, match="keeps the experiment's name") as kept:
        ml.set_experiment_tag(spaced, EXPERIMENT_NAME_TAG, "other")
    assert kept.value.error_code == "INVALID_PARAMETER_VALUE"
    ml.rename_experiment(spaced, "My Experiment")  # to its own name: nothing to do
    assert ml.get_experiment(spaced).name == "My Experiment"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_experiment_0_is_mlflows_default(
    client: Any, ml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow calls experiment 0 "Default": found by that name (and by its project's,
    "default"), set_experiment("Default") logs where runs without an experiment go, and it
    cannot be made again; a name tag on the default project names it instead."""
    from mlflow.exceptions import MlflowException

    from setpoint.core.names import EXPERIMENT_NAME_TAG

    # no experiment set (an earlier test's set_experiment is forgotten): experiment 0
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    with mlflow.start_run() as plain:
        pass
    assert ml.get_experiment("0").name == "Default"
    assert ml.get_experiment_by_name("Default").experiment_id == "0"
    assert ml.get_experiment_by_name("default").experiment_id == "0"
    assert mlflow.set_experiment("Default").experiment_id == "0"
    with mlflow.start_run() as named:
        pass
    assert {r.info.run_id for r in ml.search_runs(["0"])} == {
        plain.info.run_id,
        named.info.run_id,
    }
    assert [r.project for r in map(client.get_run, (plain.info.run_id, named.info.run_id))] == [
        "default",
        "default",
    ]
    assert "Default" not in [p.name for p in client.list_projects()]
    for name in ("Default", "default"):
        with pytest.raises(MlflowException, match="already exists") as again:
            ml.create_experiment(name)
        assert again.value.error_code == "RESOURCE_ALREADY_EXISTS"
    [found] = ml.search_experiments(filter_string="name = 'Default'")
    assert found.experiment_id == "0"
    assert [e.name for e in ml.search_experiments(filter_string="name LIKE 'def%'")] == []

    # an explicit name (as an import may give it) is the one MLflow sees
    client.set_project_tags("default", {EXPERIMENT_NAME_TAG: "Main"})
    assert ml.get_experiment("0").name == "Main"
    assert ml.get_experiment_by_name("Main").experiment_id == "0"
    assert ml.get_experiment_by_name("Default") is None
    assert ml.get_experiment_by_name("default") is None
    # a project setpoint's SDK called "Default" keeps the name: MLflow finds it by it
    client.delete_project_tag("default", EXPERIMENT_NAME_TAG)
    client.create_project("Default")
    assert ml.get_experiment_by_name("Default").experiment_id == "Default"
    assert mlflow.set_experiment("Default").experiment_id == "Default"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_dataset_and_model_inputs_are_kept_with_the_run(client: Any, ml: Any) -> None:
    import pandas as pd
    from mlflow.entities import LoggedModelInput
    from mlflow.exceptions import MlflowException

    df = pd.DataFrame({"amount": [1.0, 2.5, 3.0], "label": [0.0, 1.0, 0.0]})
    dataset = mlflow.data.from_pandas(df, source="s3://bucket/train.parquet", name="train")
    exp = ml.create_experiment("inputs")
    producer = ml.create_run(exp).info.run_id
    model = ml.create_logged_model(exp, source_run_id=producer, name="scorer")
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")  # the same dataset again: kept once
        ml.log_inputs(run.info.run_id, models=[LoggedModelInput(model.model_id)])
    # setpoint's own lineage from the run to a plain run is not a model input to MLflow
    client.add_lineage("run", run.info.run_id, "consumed", "run", producer)

    inputs = ml.get_run(run.info.run_id).inputs
    [kept] = inputs.dataset_inputs
    assert (kept.dataset.name, kept.dataset.digest) == ("train", dataset.digest)
    assert kept.dataset.source_type == "s3" and "train.parquet" in kept.dataset.source
    assert "amount" in kept.dataset.schema and kept.dataset.profile
    assert {t.key: t.value for t in kept.tags} == {"mlflow.data.context": "training"}
    assert [m.model_id for m in inputs.model_inputs] == [model.model_id]
    # setpoint's own view: the dataset input, and lineage from the run to the model's run
    [record] = client.list_run_inputs(run.info.run_id)
    assert record.digest == dataset.digest and record.tags == {"mlflow.data.context": "training"}
    edges = client.get_lineage("run", run.info.run_id)
    assert any(e.relation == "consumed" and e.target_id == model.model_id[2:] for e in edges)

    # a plain run is not a logged model: refused, and the datasets sent with it are not kept
    other = mlflow.data.from_pandas(df.assign(amount=df.amount * 2), name="other")
    from mlflow.entities import DatasetInput

    with pytest.raises(MlflowException) as not_a_model:
        ml.log_inputs(
            run.info.run_id,
            datasets=[DatasetInput(other._to_mlflow_entity())],
            models=[LoggedModelInput(f"m-{producer}")],
        )
    assert not_a_model.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [i.name for i in client.list_run_inputs(run.info.run_id)] == ["train"]

    # what the client would never send is refused with the field named
    r = httpx.post(
        f"{ml.tracking_uri}/api/2.0/mlflow/runs/log-inputs",
        json={"run_id": run.info.run_id, "datasets": [{"dataset": {"digest": "x"}}]},
    )
    assert r.status_code == 400 and "datasets[0].name" in r.json()["message"]
    ml.delete_run(run.info.run_id)
    with pytest.raises(MlflowException, match="deleted"):
        ml.log_inputs(run.info.run_id, models=[LoggedModelInput(model.model_id)])
