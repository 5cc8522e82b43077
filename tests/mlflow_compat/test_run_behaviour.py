"""Runs through the real MLflow client, as a real MLflow server answers: free-text run names,
logged models kept out of run searches, metrics' latest points, ended runs, status patterns
and the experiments a search names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

mlflow = pytest.importorskip("mlflow")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_run_names_are_free_text(client: Any, ml: Any) -> None:
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("names")
    with mlflow.start_run(experiment_id=exp, run_name="lr 0.1 / depth 3") as started:
        pass
    assert ml.get_run(started.info.run_id).info.run_name == "lr 0.1 / depth 3"
    made = ml.create_run(exp, run_name="baseline model v2 (final)").info.run_id
    assert client.get_run(made).name == "baseline model v2 (final)"
    ml.update_run(made, name="modèle")
    assert ml.get_run(made).info.run_name == "modèle" and client.get_run(made).name == "modèle"
    ml.set_tag(made, "mlflow.runName", "with space")
    assert ml.get_run(made).info.run_name == "with space"
    assert client.get_run(made).name == "with space"
    found = ml.search_runs([exp], "attributes.run_name = 'with space'")
    assert [r.info.run_id for r in found] == [made]
    # what a setpoint run's name cannot hold (control characters, over 128 characters) MLflow
    # still sees as given; the run's own name is it made plain
    ml.update_run(made, name="two\nlines")
    assert ml.get_run(made).info.run_name == "two\nlines"
    assert client.get_run(made).name == "two lines"
    long = "grid search " + "x" * 200
    with mlflow.start_run(experiment_id=exp, run_name="epoch\t1") as tabbed:
        mlflow.log_metric("loss", 0.5)
    with mlflow.start_run(experiment_id=exp, run_name=long) as lengthy:
        pass
    assert ml.get_run(tabbed.info.run_id).info.run_name == "epoch\t1"
    assert client.get_run(tabbed.info.run_id).name == "epoch 1"
    assert ml.get_run(lengthy.info.run_id).info.run_name == long
    assert client.get_run(lengthy.info.run_id).name == long[:128]
    client.rename_run(made, "renamed in setpoint")  # then setpoint's name is MLflow's too
    assert ml.get_run(made).info.run_name == "renamed in setpoint"
    with pytest.raises(MlflowException) as refused:
        ml.update_run(made, name="x" * 9000)  # more than a tag holds: nothing changes
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(made).name == "renamed in setpoint"


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_setting_the_run_name_tag_renames_the_run(client: Any, ml: Any) -> None:
    run_id = ml.create_run("0", run_name="before").info.run_id
    ml.set_tag(run_id, "mlflow.runName", "after")  # as on an MLflow server
    assert ml.get_run(run_id).info.run_name == "after" and client.get_run(run_id).name == "after"
    ml.set_terminated(run_id)
    ml.set_tag(run_id, "mlflow.runName", "ended")  # an ended run's name may change too
    assert client.get_run(run_id).name == "ended"
    assert ml.get_run(run_id).data.tags["mlflow.runName"] == "ended"
    # a name and a name tag that differ are refused, as MLflow refuses them (the run took
    # one as its name and kept the other as the tag)
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="Both 'run_name' argument and") as refused:
        ml.create_run("0", run_name="a", tags={"mlflow.runName": "b"})
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    same = ml.create_run("0", run_name="c", tags={"mlflow.runName": "c"}).info.run_id
    assert client.get_run(same).name == "c"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_logged_models_are_no_runs_in_searches_and_are_the_runs_outputs(ml: Any) -> None:
    from mlflow.entities import LoggedModelOutput

    exp = ml.create_experiment("models")
    trained = [ml.create_run(exp, run_name=f"train-{n}").info.run_id for n in range(3)]
    model = ml.create_logged_model(exp, name="model", source_run_id=trained[1])
    ml.log_outputs(trained[1], [LoggedModelOutput(model.model_id, 0)])
    newest_first = trained[::-1]
    assert [r.info.run_id for r in ml.search_runs([exp])] == newest_first
    # pages are filled past the model's run, and the last one says there is no more
    first = ml.search_runs([exp], max_results=2)
    rest = ml.search_runs([exp], max_results=2, page_token=first.token)
    assert [r.info.run_id for r in first] + [r.info.run_id for r in rest] == newest_first
    assert first.token and not rest.token


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_run_lists_the_models_it_logged_as_outputs(ml: Any) -> None:
    from mlflow.entities import LoggedModelOutput

    trained, other = (ml.create_run("0").info.run_id for _ in range(2))
    model = ml.create_logged_model("0", name="model", source_run_id=trained)
    ml.log_outputs(trained, [LoggedModelOutput(model.model_id, 0)])
    outputs = ml.get_run(trained).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 0)]
    assert ml.get_run(other).outputs.model_outputs == []


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_run_in_an_unknown_experiment_is_refused(client: Any, ml: Any, serve: Any) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="No Experiment with id=424242 exists") as missing:
        ml.create_run("424242")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "424242" not in {p.name for p in client.list_projects(lifecycle="all")}
    assert ml.create_run("0").info.experiment_id == "0"  # the default one is always there


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_metrics_carry_their_latest_points_step_and_timestamp(ml: Any) -> None:
    from mlflow.entities import Metric

    exp = ml.create_experiment("points")
    run_id = ml.create_run(exp).info.run_id
    ml.log_batch(
        run_id,
        metrics=[
            Metric("loss", 0.5, 1_700_000_000_300, 3),
            Metric("loss", 0.9, 1_700_000_000_100, 1),
            Metric("loss", 0.4, 1_700_000_000_200, 3),  # same step, earlier: not the latest
            Metric("auc", 0.8, 1_700_000_000_050, 0),
        ],
    )
    ml.set_terminated(run_id, end_time=1_700_000_009_999)
    expected = {"loss": (0.5, 3, 1_700_000_000_300), "auc": (0.8, 0, 1_700_000_000_050)}
    for run in (ml.get_run(run_id), ml.search_runs([exp])[0]):
        points = {m.key: (m.value, m.step, m.timestamp) for m in run.data._metric_objs}
        assert points == expected


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_point_a_batch_gives_twice_is_stored_once(ml: Any) -> None:
    """As MLflow's server stores it: the same key, value, step and timestamp once; a point
    that differs in any of them is a point of its own."""
    from mlflow.entities import Metric

    run_id = ml.create_run(ml.create_experiment("twice")).info.run_id
    t = 1_700_000_000_000
    ml.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.9, t, 1),
            Metric("acc", 0.8, t, 2),
            Metric("acc", 0.9, t, 1),
            Metric("acc", 0.9, t + 1, 1),
            Metric("nan", float("nan"), t, 0),
            Metric("nan", float("nan"), t, 0),
        ],
    )
    points = [(m.step, m.timestamp, m.value) for m in ml.get_metric_history(run_id, "acc")]
    assert sorted(points) == [(1, t, 0.9), (1, t + 1, 0.9), (2, t, 0.8)]
    assert len(ml.get_metric_history(run_id, "nan")) == 1


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_keys_mlflow_takes_are_kept_as_they_are(ml: Any) -> None:
    from mlflow.entities import Metric, Param, RunTag

    run_id = ml.create_run(ml.create_experiment("keys")).info.run_id
    keys = ["précision", "学习率", "loss..val", "-x"]
    ml.log_batch(
        run_id,
        metrics=[Metric(k, 0.5, 1_700_000_000_000, 0) for k in keys],
        params=[Param(k, "v") for k in keys],
        tags=[RunTag(k, "t") for k in keys],
    )
    data = ml.get_run(run_id).data
    assert set(data.metrics) == set(data.params) == set(keys) and set(keys) <= set(data.tags)


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_logging_waits_for_a_busy_store_and_the_server_answers_meanwhile(
    client: Any, ml: Any
) -> None:
    """Another program writing the embedded store: a point logged meanwhile waits for it
    (it is not lost, nor logged twice), and the server goes on answering other calls."""
    import sqlite3
    import threading
    import time

    run_id = ml.create_run(ml.create_experiment("busy")).info.run_id
    ml.log_metric(run_id, "loss", 1.0, step=0)
    other = sqlite3.connect(client.db.url.split("///", 1)[1], timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    failed: list[BaseException] = []

    def log() -> None:
        try:
            ml.log_metric(run_id, "loss", 0.5, step=1)
        except BaseException as exc:
            failed.append(exc)

    logging = threading.Thread(target=log)
    logging.start()
    time.sleep(0.5)
    assert logging.is_alive()  # waiting for the store
    assert ml.get_run(run_id).data.metrics == {"loss": 1.0}  # reads go on meanwhile
    other.execute("ROLLBACK")
    other.close()
    logging.join(timeout=30)
    assert not logging.is_alive() and not failed
    assert [m.value for m in ml.get_metric_history(run_id, "loss")] == [1.0, 0.5]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_an_ended_run_is_not_ended_again_otherwise(client: Any, ml: Any) -> None:
    from mlflow.exceptions import MlflowException

    run_id = ml.create_run("0").info.run_id
    ml.set_terminated(run_id, "FINISHED", end_time=1_700_000_000_000)
    ml.set_terminated(run_id, "FINISHED")  # the same again (a retried call): no change
    for status in ("FAILED", "KILLED"):
        with pytest.raises(MlflowException, match="has ended") as refused:
            ml.set_terminated(run_id, status, end_time=1_700_000_500_000)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    info = ml.get_run(run_id).info
    assert (info.status, info.end_time) == ("FINISHED", 1_700_000_000_000)
    assert client.get_run(run_id).status == "finished"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_status_patterns_match_mlflows_upper_case_names(ml: Any) -> None:
    exp = ml.create_experiment("statuses")
    done = ml.create_run(exp).info.run_id
    ml.set_terminated(done, "FINISHED")
    failed = ml.create_run(exp).info.run_id
    ml.set_terminated(failed, "FAILED")
    running = ml.create_run(exp).info.run_id
    ids = lambda text: {r.info.run_id for r in ml.search_runs([exp], text)}  # noqa: E731
    assert ids("attributes.status LIKE 'FIN%'") == {done}
    assert ids("attributes.status LIKE 'F%'") == {done, failed}
    assert ids("attributes.status ILIKE '%ing'") == {running}
    assert ids("attributes.status LIKE 'RUN_ING'") == {running}
    assert ids("attributes.status LIKE 'X%'") == set()


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_search_finds_the_runs_of_the_experiments_it_names(ml: Any, serve: Any) -> None:
    exp = ml.create_experiment("named")
    other = ml.create_experiment("other")
    mine, theirs = ml.create_run(exp).info.run_id, ml.create_run(other).info.run_id
    assert {r.info.run_id for r in ml.search_runs([exp, other])} == {mine, theirs}
    # no experiment: no runs (the client sends no experiment_ids at all)
    assert ml.search_runs([]) == []
    url = ml._tracking_client.tracking_uri
    for body in ({"experiment_ids": []}, {}):
        answer = httpx.post(f"{url}/api/2.0/mlflow/runs/search", json=body)
        assert answer.status_code == 200 and answer.json().get("runs", []) == []


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_search_leaves_out_experiments_that_do_not_exist(ml: Any) -> None:
    exp = ml.create_experiment("named")
    mine = ml.create_run(exp).info.run_id
    assert [r.info.run_id for r in ml.search_runs([exp, "987987"])] == [mine]
    assert ml.search_runs(["987987"]) == []


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_search_asks_whether_a_run_has_a_param_or_tag(ml: Any) -> None:
    """MLflow's ``IS NULL`` / ``IS NOT NULL`` on params and tags."""
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("presence")
    tuned, plain = (ml.create_run(exp).info.run_id for _ in range(2))
    ml.log_param(tuned, "lr", "0.1")
    ml.set_tag(plain, "note", "baseline")

    def found(text: str) -> set[str]:
        return {r.info.run_id for r in ml.search_runs([exp], filter_string=text)}

    assert found("params.lr IS NULL") == {plain}
    assert found("params.lr IS NOT NULL") == {tuned}
    assert found("tags.note IS NOT NULL and params.lr IS NULL") == {plain}
    with pytest.raises(MlflowException, match="IS NULL") as refused:
        ml.search_runs([exp], filter_string="metrics.auc IS NULL")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_search_finds_runs_by_their_dataset_inputs(ml: Any) -> None:
    """MLflow's ``datasets.name``, ``datasets.digest`` and ``datasets.context`` filters."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    exp = ml.create_experiment("inputs-search")
    df = pd.DataFrame({"x": [1.0, 2.0]})
    train = mlflow.data.from_pandas(df, name="train_v1")
    holdout = mlflow.data.from_pandas(df.assign(x=df.x * 3), name="holdout")
    ids = {}
    for label, dataset, context in (("a", train, "training"), ("b", holdout, "eval")):
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_input(dataset, context=context)
        ids[label] = run.info.run_id
    ids["c"] = ml.create_run(exp).info.run_id  # no inputs

    def found(text: str) -> set[str]:
        return {r.info.run_id for r in ml.search_runs([exp], filter_string=text)}

    assert found("datasets.name = 'train_v1'") == {ids["a"]}
    assert found(f"datasets.digest = '{holdout.digest}'") == {ids["b"]}
    assert found("datasets.context = 'eval'") == {ids["b"]}
    assert found("datasets.name IN ('train_v1', 'holdout')") == {ids["a"], ids["b"]}
    assert found("datasets.name LIKE 'train%' and datasets.context = 'training'") == {ids["a"]}
    assert found("datasets.name != 'train_v1'") == {ids["b"]}  # a run without inputs has none
    for wrong in ("datasets.size = '1'", "datasets.name > 'a'", "datasets.name IS NULL"):
        with pytest.raises(MlflowException) as refused:
            ml.search_runs([exp], filter_string=wrong)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", wrong
