"""Searching MLflow 3's logged models through the real client: its filter and order_by
are applied (they were ignored: every model came back, newest first, whatever was asked),
what setpoint cannot answer is refused, and `set_active_model(name=...)` finds its own."""

from __future__ import annotations

from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_logged_models_are_searched_by_their_filter_and_order(client: Any, ml: Any) -> None:
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("models")
    run = ml.create_run(exp).info.run_id
    made = {
        name: ml.create_logged_model(
            exp,
            name=name,
            source_run_id=run if name != "gamma" else None,
            params={"C": c},
            tags={"stage": stage},
        ).model_id
        for name, c, stage in (
            ("alpha", "1.0", "dev"),
            ("beta", "0.5", "prod"),
            ("gamma", "1.0", "dev"),
        )
    }

    def names(**how: Any) -> list[str]:
        found = ml.search_logged_models(experiment_ids=[exp], **how)
        return [m.name for m in found]

    assert names() == ["gamma", "beta", "alpha"]  # newest first, as MLflow
    assert names(filter_string="name = 'beta'") == ["beta"]
    assert names(filter_string="params.C = '1.0'") == ["gamma", "alpha"]
    assert names(filter_string="tags.stage = 'dev' AND params.C = '1.0'") == ["gamma", "alpha"]
    assert names(filter_string=f"source_run_id = '{run}'") == ["beta", "alpha"]
    assert names(filter_string="name LIKE 'a%' OR name = 'gamma'") == ["gamma", "alpha"]
    order = [{"field_name": "name", "ascending": False}]
    assert names(order_by=order) == ["gamma", "beta", "alpha"]
    assert names(order_by=[{"field_name": "creation_timestamp", "ascending": True}]) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert [m.model_id for m in ml.search_logged_models([exp], filter_string="name='alpha'")] == [
        made["alpha"]
    ]
    # what setpoint cannot answer is said, not ignored
    for how in (
        {"filter_string": "metrics.accuracy > 0.5"},
        {"order_by": [{"field_name": "metrics.accuracy", "ascending": False}]},
        {"filter_string": "model_id = 'm-1'"},
        {"filter_string": "name = 'alpha') OR (name LIKE '%'"},  # no way out of the models
    ):
        with pytest.raises(MlflowException) as refused:
            ml.search_logged_models(experiment_ids=[exp], **how)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"

    # set_active_model(name=) looks its model up by name: a new name is a new model
    mlflow.set_experiment(experiment_id=exp)
    active = mlflow.set_active_model(name="brand-new")
    assert active.model_id not in made.values()
    assert ml.get_logged_model(active.model_id).name == "brand-new"
    assert mlflow.set_active_model(name="beta").model_id == made["beta"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_run_given_no_name_has_its_name_in_the_runname_tag(ml: Any) -> None:
    exp = ml.create_experiment("names")
    run = ml.create_run(exp)
    name = run.info.run_name
    assert name and run.data.tags["mlflow.runName"] == name
    found = ml.search_runs([exp], filter_string=f"tags.`mlflow.runName` = '{name}'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    with mlflow.start_run(experiment_id=exp) as fluent:
        pass
    assert ml.get_run(fluent.info.run_id).data.tags["mlflow.runName"] == fluent.info.run_name


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_search_runs_ends_on_the_last_page_of_mlflow_s_runs(
    client: Any, ml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the runs of logged models (never answered) sorting after the page that filled,
    search_runs promised another page, which came back empty. Each page is one search of
    the store where no logged model is in the way."""
    from setpoint.tracking.runs import Runs

    searched = []
    real = Runs.search_runs

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        searched.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Runs, "search_runs", counted)
    exp = ml.create_experiment("paged")
    runs = [ml.create_run(exp).info.run_id for _ in range(6)]
    for i, run in enumerate(runs):
        ml.log_metric(run, "m", float(i))
        if i % 2:
            ml.create_logged_model(exp, name=f"model-{i}", source_run_id=run)
    pages, token = [], None
    while True:
        page = ml.search_runs([exp], order_by=["metrics.m ASC"], max_results=2, page_token=token)
        pages.append([r.info.run_id for r in page])
        token = page.token
        if not token:
            break
    assert pages == [runs[0:2], runs[2:4], runs[4:6]]
    # pages of runs alone: one search each (a full page looked ahead with a search of its own)
    searched.clear()
    page = ml.search_runs([exp], order_by=["metrics.m ASC"], max_results=2)
    assert [r.info.run_id for r in page] == runs[0:2] and page.token
    assert len(searched) == 1
