"""The real MLflow client (mlflow-skinny 3.x) logging to a setpoint server unchanged:
experiments, runs, params, metrics, tags, search and metric history land in setpoint, and
MLflow's error shapes come back."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest

mlflow = pytest.importorskip("mlflow")

TRAIN = """
import mlflow
mlflow.set_experiment("fraud")
with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_params({"max_depth": 8, "lr": 0.1})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"auc": 0.91, "acc": 0.88})
    mlflow.log_metric("diverged", float("nan"))
    mlflow.log_metrics({"ratio": float("inf"), "floor": float("-inf")})
    mlflow.set_tag("team", "risk")
print(run.info.run_id)
"""


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_unmodified_mlflow_code_logs_to_setpoint(
    client: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    server = serve(client)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TRAIN)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    run_id = out.stdout.strip().splitlines()[-1]
    run = client.get_run(run_id)
    assert run.project == "fraud" and run.name == "baseline" and run.status == "finished"
    assert run.params == {"max_depth": "8", "lr": "0.1"}
    assert {k: v for k, v in run.metrics.items() if k != "diverged"} == {
        "loss": 0.2,
        "auc": 0.91,
        "acc": 0.88,
        "ratio": math.inf,
        "floor": -math.inf,
    }
    assert all(math.isnan(v) for v in client.get_metric_history(run_id, "diverged").values)
    assert run.tags["team"] == "risk"
    assert client.get_metric_history(run_id, "loss").values == [1.0, 0.5, 1 / 3, 0.25, 0.2]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from mlflow.tracking import MlflowClient

    ml = MlflowClient(server.url)
    experiment = ml.get_experiment_by_name("fraud")
    assert experiment is not None and experiment.name == "fraud"
    found = ml.search_runs(
        [experiment.experiment_id], "metrics.auc > 0.9 and params.max_depth = '8'"
    )
    assert [r.info.run_id for r in found] == [run_id]
    fetched = ml.get_run(run_id)
    assert fetched.data.params["lr"] == "0.1" and fetched.data.metrics["auc"] == 0.91
    # NaN and the infinities come back as themselves (a plain JSON encoder writes null,
    # which the client read as 0.0)
    assert math.isnan(fetched.data.metrics["diverged"])
    assert (fetched.data.metrics["ratio"], fetched.data.metrics["floor"]) == (math.inf, -math.inf)
    assert [m.value for m in ml.get_metric_history(run_id, "ratio")] == [math.inf]
    [searched] = ml.search_runs([experiment.experiment_id], "params.lr = '0.1'")
    assert searched.data.metrics["floor"] == -math.inf
    assert fetched.info.status == "FINISHED"
    history = ml.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert ml.get_experiment_by_name("no-such-experiment") is None
    ml.update_run(run_id, name="renamed")  # MLflow renames runs; so does setpoint
    assert ml.get_run(run_id).info.run_name == "renamed"
    assert client.get_run(run_id).name == "renamed"


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_mlflow_experiments_runs_and_batches_behave_as_mlflows(
    client: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    server = serve(client)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ml = MlflowClient(server.url)
    # experiment 0 (the default project) is there from the start
    assert ml.get_experiment("0").name == "Default"
    for name in ("alpha-1", "alpha-2", "beta-1"):
        ml.create_experiment(name, tags={"team": "y"} if name == "beta-1" else None)
    names = lambda found: [e.name for e in found]  # noqa: E731
    assert names(ml.search_experiments(filter_string="name LIKE 'alpha%'")) == [
        "alpha-2",
        "alpha-1",
    ]
    assert names(ml.search_experiments(filter_string="tags.team = 'y'")) == ["beta-1"]
    assert names(ml.search_experiments(order_by=["name ASC"])) == [  # as MLflow's SQL orders
        "Default",
        "alpha-1",
        "alpha-2",
        "beta-1",
    ]
    first = ml.search_experiments(max_results=1, order_by=["name"])
    assert names(first) == ["Default"] and first.token
    rest = ml.search_experiments(max_results=3, order_by=["name"], page_token=first.token)
    assert names(rest) == ["alpha-1", "alpha-2", "beta-1"] and not rest.token
    ids = [e.experiment_id for e in ml.search_experiments(order_by=["experiment_id DESC"])]
    assert ids == sorted(ids, reverse=True)  # experiment ids are names here: text order
    for bad in (["size"], ["name UP"], ["name DESC ASC"]):
        with pytest.raises(MlflowException, match="order") as refused:
            ml.search_experiments(order_by=bad)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="filter"):
        ml.search_experiments(filter_string="name ~~ 'x'")
    # a batch naming one param twice stores nothing (one of the values would be lost)
    run = ml.create_run("0")
    with pytest.raises(MlflowException, match="Duplicate parameter keys"):
        ml.log_batch(run.info.run_id, params=[Param("k", "1"), Param("k", "2")])
    assert ml.get_run(run.info.run_id).data.params == {}
    # nested runs have their parent; user and name are kept
    child = ml.create_run("0", tags={"mlflow.parentRunId": run.info.run_id, "mlflow.user": "alice"})
    assert client.get_run(child.info.run_id).parent_id == run.info.run_id
    assert ml.get_run(child.info.run_id).info.user_id == "alice"
    # a parent tag copied from elsewhere is kept as a tag only
    copied = ml.create_run("0", tags={"mlflow.parentRunId": "0123456789abcdef" * 2})
    assert client.get_run(copied.info.run_id).parent_id is None
    ml.delete_run(copied.info.run_id)
    # MLflow's attribute names in filters: user_id, created, run_uuid
    for text in (
        "attributes.user_id = 'alice'",
        f"attributes.created >= {child.info.start_time}",
        f"attributes.run_uuid = '{child.info.run_id}'",
    ):
        assert [r.info.run_id for r in ml.search_runs(["0"], text)] == [child.info.run_id], text
    # an ended run is not reopened behind the caller's back: a clear refusal
    ml.set_terminated(run.info.run_id)
    with pytest.raises(MlflowException, match="has ended") as ended:
        ml.update_run(run.info.run_id, status="RUNNING")
    assert ended.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="max_results"):
        ml.search_runs(["0"], max_results=0)
    # the times a client gives (a backfill) are the run's, not the moments the server saw
    backfilled = ml.create_run("0", start_time=1_600_000_000_000)
    ml.set_terminated(backfilled.info.run_id, end_time=1_600_000_360_000)
    info = ml.get_run(backfilled.info.run_id).info
    assert (info.start_time, info.end_time) == (1_600_000_000_000, 1_600_000_360_000)
    stored = client.get_run(backfilled.info.run_id)
    assert (stored.start_time, stored.end_time) == (1_600_000_000_000, 1_600_000_360_000)
    bad = httpx.post(
        f"{server.url}/api/2.0/mlflow/runs/create",
        json={"experiment_id": "0", "start_time": "yesterday"},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "start_time" in bad.json()["message"]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_experiment_filters_take_mlflows_attributes_and_prefix(ml: Any) -> None:
    """search_experiments filters as MLflow 3.17's: ``attribute.`` before an attribute (the
    one prefix it takes there), creation_time and last_update_time compared as numbers,
    experiment_id."""
    from mlflow.exceptions import MlflowException

    ml.create_experiment("first")
    made = ml.get_experiment(ml.create_experiment("second", tags={"x": "z"})).creation_time
    names = lambda text: sorted(e.name for e in ml.search_experiments(filter_string=text))  # noqa: E731
    assert names("attribute.name = 'first'") == ["first"]
    assert names("attribute.name LIKE '%ond' AND tags.x != 'y'") == ["second"]
    assert names("tags.x != 'y'") == ["second"]  # not those without the tag, as MLflow
    assert names(f"creation_time >= {made} AND name != 'Default'") == ["second"]
    assert "first" in names(f"attribute.creation_time <= {made}")
    assert names(f"last_update_time > {made + 10**9}") == []
    assert names("experiment_id IN ('0', 'first')") == ["Default", "first"]
    for bad in ("attributes.name = 'first'", "attr.name = 'first'", "creation_time LIKE '1'"):
        with pytest.raises(MlflowException) as refused:  # as MLflow refuses them
            ml.search_experiments(filter_string=bad)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", bad


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_mlflow_errors_keep_mlflows_shape(client: Any, serve: Any) -> None:
    server = serve(client)
    api = f"{server.url}/api/2.0/mlflow"
    with httpx.Client() as http:
        r = http.post(f"{api}/no/such/endpoint", json={})
        assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        for method in ("PUT", "HEAD", "OPTIONS"):  # a method no MLflow route takes
            r = http.request(method, f"{api}/runs/create")
            assert r.status_code == 404, method
            if method != "HEAD":
                assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND", method
        r = http.get(f"{api}/runs/get", params={"run_id": "0" * 32})
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        run = http.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
        r = http.post(
            f"{api}/runs/search", json={"experiment_ids": ["0"], "filter": "metrics.auc >"}
        )
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        for path, body in (
            ("runs/search", {"experiment_ids": ["0"], "max_results": "many"}),
            ("logged-models/search", {"experiment_ids": ["0"], "max_results": "many"}),
        ):
            r = http.post(f"{api}/{path}", json=body)  # a client's mistake: 400, not 500
            assert r.status_code == 400 and "max_results" in r.json()["message"], path
        r = http.get(f"{api}/model-versions/search", params={"max_results": "9" * 5000})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        r = http.post(f"{api}/runs/search", json={"experiment_ids": ["0"], "max_results": 50001})
        assert "max_results must be between 1 and 50000, not 50001" in r.json()["message"]
        too_many = [{"key": f"m{i}", "value": 1.0, "timestamp": 0, "step": 0} for i in range(1001)]
        r = http.post(
            f"{api}/runs/log-batch", json={"run_id": run["info"]["run_id"], "metrics": too_many}
        )
        assert r.status_code == 400 and "at most 1000 metrics" in r.json()["message"]
        # each kind within its limit, their sum beyond MLflow's 1000: refused, as MLflow does
        both = {
            "run_id": run["info"]["run_id"],
            "metrics": too_many[:900],
            "params": [{"key": f"p{i}", "value": "1"} for i in range(100)],
            "tags": [{"key": f"t{i}", "value": "1"} for i in range(100)],
        }
        r = http.post(f"{api}/runs/log-batch", json=both)
        assert r.status_code == 400, r.text
        assert "at most 1000 metrics, params, and tags. Got 1100" in r.json()["message"]
        r = http.post(f"{api}/experiments/create", json={"name": "dup"})
        r = http.post(f"{api}/experiments/create", json={"name": "dup"})
        assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
        r = http.post(
            f"{api}/runs/log-batch", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_ui_prefix_answers_the_same_api_and_others_mlflows_errors(
    client: Any, serve: Any
) -> None:
    """MLflow's server answers its JSON API under the UI's /ajax-api/2.0/mlflow/ too; what is
    not implemented (there, or MLflow 3's /api/3.0/mlflow/, where the client's
    search_datasets goes) is ENDPOINT_NOT_FOUND, not FastAPI's {"detail": ...}, which the
    client read as INTERNAL_ERROR."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    server = serve(client)
    with httpx.Client() as http:
        r = http.get(f"{server.url}/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
        assert r.status_code == 200 and r.json()["experiment"]["experiment_id"] == "0"
        r = http.post(f"{server.url}/ajax-api/2.0/mlflow/experiments/search", json={})
        assert r.status_code == 200 and r.json()["experiments"][0]["experiment_id"] == "0"
        for path in (
            "/ajax-api/2.0/mlflow/experiments/search-datasets",
            "/ajax-api/2.0/mlflow/no/such",
            "/api/3.0/mlflow/datasets/search",
            "/ajax-api/3.0/mlflow/no/such",
            "/api/2.0/preview/mlflow/runs/create",
        ):
            r = http.post(f"{server.url}{path}", json={"experiment_ids": ["0"]})
            assert r.status_code == 404, path
            assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND", path
        # a tokenless server answers the UI's prefix to programs on this machine only
        r = http.post(
            f"{server.url}/ajax-api/2.0/mlflow/experiments/create",
            json={"name": "x"},
            headers={"origin": "https://evil.example"},
        )
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    store = MlflowClient(server.url)._tracking_client.store
    with pytest.raises(MlflowException) as missing:
        store.search_datasets(["0"])
    assert missing.value.error_code == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_long_param_and_tag_values_are_cut_as_mlflows_server_cuts_them(
    client: Any, ml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's server cuts a param value to 6,000 characters and a run tag's to 8,000
    (log-parameter, set-tag, log-batch; create-run's tags too) rather than refusing the
    batch; logging the same long param again is no conflict with what was stored."""
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    run = mlflow.start_run(experiment_id="0", tags={"made": "m" * 8100})
    mlflow.log_params({"ok": "1", "cfg": "q" * 7000})
    mlflow.set_tag("big", "z" * 8001)
    mlflow.log_param("cfg", "q" * 7000)  # the same long value again: no conflict
    run_id = run.info.run_id
    data = ml.get_run(run_id).data
    assert data.params == {"ok": "1", "cfg": "q" * 6000}
    assert data.tags["big"] == "z" * 8000 and data.tags["made"] == "m" * 8000
    ml.log_batch(run_id, params=[Param("cfg", "q" * 6500)], tags=[RunTag("b2", "y" * 9000)])
    ml.log_param(run_id, "one", "o" * 6001)
    stored = client.get_run(run_id)  # setpoint keeps what MLflow's server would
    assert stored.params["cfg"] == "q" * 6000 and stored.params["one"] == "o" * 6000
    assert stored.tags["b2"] == "y" * 8000
    with pytest.raises(MlflowException, match="cfg") as changed:  # a param is write-once
        ml.log_param(run_id, "cfg", "r" * 7000)
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    # as with MLflow's server, MLFLOW_TRUNCATE_LONG_VALUES=false refuses them instead
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false")
    with pytest.raises(MlflowException, match="at most 6000") as refused:
        ml.log_batch(run_id, params=[Param("new", "1"), Param("long", "l" * 6001)])
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "new" not in ml.get_run(run_id).data.params
    mlflow.end_run()


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_bad_metric_points_are_refused_and_the_batch_stores_nothing(
    client: Any, serve: Any
) -> None:
    server = serve(client)
    api = f"{server.url}/api/2.0/mlflow"
    with httpx.Client() as http:
        run_id = http.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
            "run_id"
        ]
        good = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
        for field, bad in (
            ("step", "abc"),
            ("step", [1]),
            ("step", 1.7),
            ("step", 2**64),
            ("timestamp", "x"),
            ("timestamp", {}),
            ("value", "abc"),
            ("value", True),
            ("value", None),
        ):
            point = {**good, field: bad}
            r = http.post(f"{api}/runs/log-metric", json={"run_id": run_id, **point})
            assert r.status_code == 400, (field, bad, r.text)
            assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and field in r.text
            r = http.post(
                f"{api}/runs/log-batch",
                json={
                    "run_id": run_id,
                    "params": [{"key": "lr", "value": "0.1"}],
                    "tags": [{"key": "t", "value": "v"}],
                    "metrics": [good, point],
                },
            )
            assert r.status_code == 400, (field, bad, r.text)
        for bad_params in ([{"key": "p", "value": {"a": 1}}], [{"key": "p", "value": [1]}]):
            r = http.post(f"{api}/runs/log-batch", json={"run_id": run_id, "params": bad_params})
            assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        # nothing of the refused batches was stored, not even their params and tags
        run = client.get_run(run_id)
        assert run.params == {} and "t" not in run.tags and run.metrics == {}
        # a param that conflicts with a logged one stores nothing else of its batch either
        r = http.post(
            f"{api}/runs/log-batch",
            json={"run_id": run_id, "params": [{"key": "lr", "value": "0.1"}]},
        )
        assert r.status_code == 200
        r = http.post(
            f"{api}/runs/log-batch",
            json={
                "run_id": run_id,
                "params": [{"key": "lr", "value": "0.2"}],
                "metrics": [good],
                "tags": [{"key": "t", "value": "v"}],
            },
        )
        assert r.status_code == 400
        run = client.get_run(run_id)
        assert run.params == {"lr": "0.1"} and run.metrics == {} and "t" not in run.tags
        # protobuf's JSON spellings are understood: digits as strings, non-finite values
        r = http.post(
            f"{api}/runs/log-metric",
            json={"run_id": run_id, "key": "n", "value": "NaN", "timestamp": "5", "step": "3"},
        )
        assert r.status_code == 200
        history = client.get_metric_history(run_id, "n")
        assert history.steps == [3] and history.timestamps == [5]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_wrong_json_types_are_invalid_parameters_not_server_errors(client: Any, serve: Any) -> None:
    server = serve(client)
    api = f"{server.url}/api/2.0/mlflow"
    with httpx.Client() as http:
        run_id = http.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
            "run_id"
        ]
        assert http.post(f"{api}/registered-models/create", json={"name": "det"}).is_success
        r = http.post(f"{api}/registered-models/create", json={"name": "det"})
        assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
        r = http.post(f"{api}/registered-models/create", json={"name": "p/new"})
        assert r.status_code == 200  # project/name that does not exist yet is not taken
        for bad in ("bad\tname", "bad project!/det", "x" * 129):  # names are free text
            r = http.post(f"{api}/registered-models/create", json={"name": bad})
            assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        for method, path, body, field in (
            ("POST", "experiments/search", {"view_type": []}, "view_type"),
            ("POST", "experiments/search", {"view_type": {"a": 1}}, "view_type"),
            ("POST", "runs/search", {"experiment_ids": ["0"], "run_view_type": [1]}, "view"),
            ("POST", "runs/search", {"experiment_ids": ["0"], "filter": 5}, "filter"),
            ("POST", "runs/search", {"experiment_ids": ["0"], "filter": ["a"]}, "filter"),
            ("POST", "runs/search", {"experiment_ids": ["0"], "order_by": [5]}, "order_by"),
            ("POST", "runs/search", {"experiment_ids": ["0"], "page_token": 5}, "page_token"),
            ("POST", "logged-models/search", {"page_token": ["x"]}, "page_token"),
            ("POST", "runs/outputs", {"run_id": run_id, "models": "abc"}, "models"),
            ("POST", "runs/outputs", {"run_id": run_id, "models": [5]}, "models"),
            ("POST", "logged-models", {"source_run_id": {"a": 1}}, "source_run_id"),
            (
                "POST",
                "registered-models/get-latest-versions",
                {"name": "det", "stages": 5},
                "stages",
            ),
            ("PATCH", "registered-models/update", {"name": "det", "description": {}}, "desc"),
            ("POST", "registered-models/set-tag", {"name": "det", "key": "k", "value": []}, "v"),
            (
                "POST",
                "model-versions/create",
                {"name": "det", "source": f"runs:/{run_id}/model", "run_id": ["x"]},
                "run_id",
            ),
        ):
            r = http.request(method, f"{api}/{path}", json=body)
            assert r.status_code == 400, (path, body, r.text)
            assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and field in r.text
        # a number where a string is due is taken as its digits, as before
        r = http.post(f"{api}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": 0})
        assert r.status_code == 200 and client.get_run(run_id).tags["k"] == "0"


def test_mlflow_tokens_are_setpoint_tokens_and_roles_apply(
    sqlite_settings: Any, serve: Any
) -> None:
    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    try:
        for project in ("fraud", "other"):  # MLflow's runs go into experiments made first
            local.create_project(project)
        for role in ("viewer", "editor"):
            local.users.create(role)
            local.users.grant(role, "fraud", role)
        secrets = {r: local.tokens.create(f"{r}-laptop", r) for r in ("viewer", "editor")}
        server = serve(local, enforce_roles=True)
        api = f"{server.url}/api/2.0/mlflow"
        with httpx.Client() as http:
            r = http.post(f"{api}/runs/create", json={"experiment_id": "fraud"})
            assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
            as_viewer = {"authorization": f"Bearer {secrets['viewer']}"}
            r = http.post(f"{api}/runs/create", json={"experiment_id": "fraud"}, headers=as_viewer)
            assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
            as_editor = {"authorization": f"Bearer {secrets['editor']}"}
            r = http.post(f"{api}/runs/create", json={"experiment_id": "fraud"}, headers=as_editor)
            assert r.status_code == 200
            assert local.get_run(r.json()["run"]["info"]["run_id"]).project == "fraud"
            r = http.post(f"{api}/runs/create", json={"experiment_id": "other"}, headers=as_editor)
            assert r.status_code == 403  # no role in that project
            r = http.post(f"{api}/runs/create", json={"experiment_id": "nope"}, headers=as_editor)
            assert r.status_code == 404  # no such experiment (any role may list them)
    finally:
        local.close()


def test_mlflow_username_and_password_are_a_user_and_their_token(
    sqlite_settings: Any, serve: Any
) -> None:
    import os

    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    try:
        local.users.create("alice")
        local.users.grant("alice", "fraud", "editor")
        secret = local.tokens.create("alice-laptop", "alice")
        local.users.create("bob")
        server = serve(local, enforce_roles=True)
        base = {
            **os.environ,
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        }
        as_alice = {**base, "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": secret}
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(TRAIN)],
            env=as_alice,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        run_id = out.stdout.strip().splitlines()[-1]
        assert local.get_run(run_id).project == "fraud"
        events = local.audit.list(subject_kind="run", subject=run_id)
        assert events and events[0].actor == "alice"  # who the token says, not the client
        # alice's token under bob's name, and a wrong password: refused
        for user, password in (("bob", secret), ("alice", "spt_wrong")):
            env = {**base, "MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
            out = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(TRAIN)],
                env=env,
                capture_output=True,
                text=True,
            )
            assert out.returncode != 0
            assert "401" in out.stderr or "UNAUTHENTICATED" in out.stderr
    finally:
        local.close()


ARTIFACTS = """
import os, tempfile
import mlflow
mlflow.set_experiment("files")
folder = tempfile.mkdtemp()
with open(os.path.join(folder, "report.txt"), "w") as fh:
    fh.write("all good")
os.makedirs(os.path.join(folder, "plots"))
with open(os.path.join(folder, "plots", "roc.csv"), "w") as fh:
    fh.write("fpr,tpr\\n0,0\\n1,1\\n")
with mlflow.start_run() as run:
    mlflow.log_artifact(os.path.join(folder, "report.txt"))
    mlflow.log_artifacts(folder, artifact_path="everything")
client = mlflow.MlflowClient()
print(sorted(f.path for f in client.list_artifacts(run.info.run_id)))
print(sorted(f.path for f in client.list_artifacts(run.info.run_id, "everything/plots")))
local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="everything/plots/roc.csv")
print(open(local).read().splitlines()[0])
print(run.info.run_id)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_an_oversized_mlflow_body_is_refused_before_it_is_read(client: Any, serve: Any) -> None:
    server = serve(client, max_json_body=2000)
    api = f"{server.url}/api/2.0/mlflow"
    with httpx.Client() as http:
        run_id = http.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
        run_id = run_id["info"]["run_id"]
        metrics = [{"key": f"m{i}", "value": 1.0, "timestamp": 0, "step": 0} for i in range(100)]
        r = http.post(f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "2000 byte limit" in r.json()["message"]

        def chunks() -> Any:  # no Content-Length: the limit holds while the body streams
            yield b'{"run_id": "' + run_id.encode() + b'", "metrics": ['
            for _ in range(100):
                yield b'{"key": "m", "value": 1.0, "timestamp": 0, "step": 0},'
            yield b"]}"

        r = http.post(f"{api}/runs/log-batch", content=chunks())
        assert r.status_code == 400 and "byte limit" in r.json()["message"]
        assert client.get_run(run_id).metrics == {}  # nothing of either was logged
        small = {"run_id": run_id, "metrics": metrics[:3]}
        assert http.post(f"{api}/runs/log-batch", json=small).status_code == 200


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_artifacts_go_through_the_proxy_into_setpoint(client: Any, serve: Any) -> None:
    import os

    server = serve(client)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ARTIFACTS)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    top, plots, first, run_id = out.stdout.strip().splitlines()[-4:]
    assert top == "['everything', 'report.txt']"
    assert plots == "['everything/plots/roc.csv']"
    assert first == "fpr,tpr"
    paths = sorted(a.path for a in client.list_artifacts(run_id))
    assert paths == ["everything/plots/roc.csv", "everything/report.txt", "report.txt"]
    api = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
    with httpx.Client() as http:
        # a client that keeps ".." (encoded, so no URL normalization removes it) is refused
        r = http.put(f"{api}/files/{run_id}/artifacts/%2e%2e/%2e%2e/escape.txt", content=b"x")
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "escape.txt" not in str(client.list_artifacts(run_id))
        r = http.get(api, params={"path": f"files/{run_id}/artifacts/../../x"})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        r = http.get(f"{api}/files/{run_id}/artifacts/missing.txt")
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        r = http.put(f"{api}/files/{run_id}/artifacts/report.txt/inner.txt", content=b"x")
        assert r.status_code == 400  # report.txt is a file: it cannot hold one
        r = http.get(f"{api}/files/{run_id}/artifacts/everything/plots")  # a folder of one
        assert r.status_code == 400 and "folder" in r.json()["message"]
        # the run's folder is under its own experiment only
        r = http.put(f"{api}/other/{run_id}/artifacts/stray.txt", content=b"x")
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert "stray.txt" not in str(client.list_artifacts(run_id))
        r = http.get(api, params={"path": f"default/{run_id}/artifacts"})
        assert r.status_code == 404 and "not in experiment '0'" in r.json()["message"]
        assert http.get(f"{api}/0/{run_id}/artifacts/report.txt").status_code == 404


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_client_set_for_multipart_uploads_uploads_the_file_whole(client: Any, serve: Any) -> None:
    """With MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD, log_artifact failed on a 404 in FastAPI's
    shape; told in MLflow's words that multipart is not supported, the client uploads the
    file whole, as against MLflow's server on a store without multipart."""
    import os

    server = serve(client)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1024",
    }
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(ARTIFACTS).replace("all good", "x" * 5000)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = out.stdout.strip().splitlines()[-1]
    paths = sorted(a.path for a in client.list_artifacts(run_id))
    assert paths == ["everything/plots/roc.csv", "everything/report.txt", "report.txt"]
    with httpx.Client() as http:  # what no route takes: MLflow's shape, not FastAPI's
        for method, path in (("DELETE", f"artifacts/files/{run_id}/artifacts/report.txt"),
                             ("GET", "nothing/here")):  # fmt: skip
            r = http.request(method, f"{server.url}/api/2.0/mlflow-artifacts/{path}")
            assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_an_mlflow_run_is_never_failed_for_silence(sqlite_settings: Any, serve: Any) -> None:
    """MLflow's clients send no heartbeats: a run they made stays running through a long
    quiet fit, and logging into it afterwards works."""
    from setpoint.client.local import LocalClient
    from setpoint.core.clock import ManualClock

    clock = ManualClock()
    local = LocalClient(sqlite_settings, clock=clock).open()
    try:
        server = serve(local)
        api = f"{server.url}/api/2.0/mlflow"
        with httpx.Client() as http:
            run = http.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
            run_id = run["info"]["run_id"]
            metric = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 0, "step": 0}
            assert http.post(f"{api}/runs/log-metric", json=metric).status_code == 200
            sdk_run = local.create_run("default", "sdk-run")  # heartbeats, then goes silent
            clock.advance(3_600_000)  # an hour without a word
            assert local.runs.reap_stale_runs() == [sdk_run.id]
            assert local.get_run(run_id).status == "running"
            metric["step"] = 1
            assert http.post(f"{api}/runs/log-metric", json=metric).status_code == 200
            done = {"run_id": run_id, "status": "FINISHED", "end_time": 1}
            assert http.post(f"{api}/runs/update", json=done).status_code == 200
        assert local.get_run(run_id).status == "finished"
    finally:
        local.close()


LOG_MODEL = """
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
X = np.random.default_rng(0).random((60, 3)); y = (X[:, 0] > 0.5).astype(int)
model = LogisticRegression().fit(X, y)
mlflow.set_experiment("fraud")
with mlflow.start_run(run_name="train") as run:
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:3], params={"C": 1.0})
loaded = mlflow.pyfunc.load_model(info.model_uri)
assert (loaded.predict(X[:10]) == model.predict(X[:10])).all()
client = mlflow.MlflowClient()
assert client.get_logged_model(info.model_id).status.name == "READY"
found = client.search_logged_models(experiment_ids=[run.info.experiment_id])
assert [m.model_id for m in found] == [info.model_id], found
print(run.info.run_id, info.model_id)
"""


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_log_model_and_load_it_back_through_setpoint(client: Any, serve: Any) -> None:
    pytest.importorskip("sklearn")
    import os

    server = serve(client)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOG_MODEL)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run_id, model_id = out.stdout.strip().splitlines()[-1].split()
    model_run = client.get_run(model_id.removeprefix("m-"))
    # the logged model is a run under the training run, its files that run's artifacts
    assert model_run.parent_id == run_id and model_run.project == "fraud"
    assert model_run.tags["kind"] == "mlflow_model" and model_run.status == "finished"
    assert model_run.params == {"C": "1.0"}
    files = {a.path for a in client.list_artifacts(model_run.id)}
    assert "MLmodel" in files and files & {"model.skops", "model.pkl"}
    edges = client.get_lineage("run", run_id)
    assert any(e.relation == "produced" and e.target_id == model_run.id for e in edges)


REGISTER = """
import sys
import mlflow, numpy as np
from sklearn.linear_model import LogisticRegression
X = np.random.default_rng(0).random((60, 3)); y = (X[:, 0] > 0.5).astype(int)
model = LogisticRegression().fit(X, y)
mlflow.set_experiment("fraud")
with mlflow.start_run(run_name="train") as run:
    mlflow.sklearn.log_model(model, name="model", registered_model_name="fraud-detector",
                             input_example=X[:3])
client = mlflow.MlflowClient()
client.set_registered_model_alias("fraud-detector", "champion", 1)
assert client.get_registered_model("fraud-detector").aliases == {"champion": "1"}
assert client.get_model_version_by_alias("fraud-detector", "champion").version == "1"
loaded = mlflow.pyfunc.load_model("models:/fraud-detector@champion")
assert (loaded.predict(X[:10]) == model.predict(X[:10])).all()
assert [m.name for m in client.search_registered_models("name = 'fraud-detector'")] == ["fraud-detector"]
try:
    client.set_registered_model_alias("fraud-detector", "guarded", 1)
except mlflow.exceptions.MlflowException as exc:
    print("refused:", exc.error_code, str(exc)[:300], file=sys.stderr)
else:
    raise SystemExit("a gated alias moved")
np.save(sys.argv[1], X[:10])
np.save(sys.argv[2], model.predict(X[:10]))
print(run.info.run_id)
"""


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_registered_through_mlflow_a_setpoint_model_gated_and_loaded(
    client: Any, serve: Any, tmp_path: Any
) -> None:
    pytest.importorskip("sklearn")
    import os

    import numpy as np

    from setpoint.client.models import load_model

    # a policy on alias "guarded" that version 1 cannot pass: its AUC was never evaluated
    client.create_model("fraud-detector", "fraud")
    client.set_policy(
        "fraud-detector", "guarded", "gates:\n  - metric: roc_auc\n    min: 0.9\n", "fraud"
    )
    server = serve(client)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    x, want = tmp_path / "x.npy", tmp_path / "y.npy"
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REGISTER), str(x), str(want)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "refused: INVALID_PARAMETER_VALUE" in out.stderr and "roc_auc" in out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    v = client.get_model_version("fraud-detector", 1, "fraud")
    assert v.flavor == "mlflow" and v.run_id == run_id and "champion" in v.aliases
    assert client.resolve_alias("fraud-detector", "champion", "fraud").version == 1
    moves = client.alias_history("fraud-detector", "fraud", "champion")
    assert moves and moves[-1].to_version == 1
    # setpoint loads the MLflow folder itself (skops, trusted types), and predicts the same
    model = load_model(client, "fraud/fraud-detector@champion", None, tmp_path / "cache")
    assert (np.asarray(model.predict(np.load(x))) == np.load(want)).all()
    # and `setpoint serve` serves it, with the signature MLflow recorded
    from setpoint.client.serving import ServeSpec, serving

    spec = ServeSpec(model="fraud-detector", project="fraud", log=False, access_log=False)
    with serving(spec, client) as url:
        meta = httpx.get(f"{url}/v2/models/fraud-detector").json()
        assert meta["inputs"][0]["shape"] == [-1, 3]
        rows = np.load(x)
        body = {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP64",
                            "data": rows.ravel().tolist()}]}  # fmt: skip
        answer = httpx.post(f"{url}/v2/models/fraud-detector/infer", json=body).json()
        assert answer["outputs"][0]["data"] == np.load(want).tolist()


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_bulk_metric_history_keeps_the_shape_within_the_limit(client: Any, serve: Any) -> None:
    import math

    run = client.create_run("default", "curve")
    n = 10_000
    values = [math.sin(i / 500) for i in range(n)]
    values[7_777] = 40.0
    client.log_metrics(run.id, ["loss"] * n, values, list(range(n)))
    client.end_run(run.id)
    server = serve(client)
    url = f"{server.url}/api/2.0/mlflow/metrics/get-history-bulk-interval"
    r = httpx.get(url, params={"run_ids": [run.id], "metric_key": "loss", "max_results": "320"})
    assert r.status_code == 200
    points = r.json()["metrics"]
    assert 0 < len(points) <= 320
    assert max(p["value"] for p in points) == 40.0  # one point in ten thousand, still there
    assert {p["run_id"] for p in points} == {run.id}
    steps = [p["step"] for p in points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == n - 1
    r = httpx.get(url, params={"run_ids": [run.id], "metric_key": "loss", "max_results": "x"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # steps below 0 too unless start_step says otherwise, and all points when they fit, as
    # MLflow (steps 0.. only were returned, and a quarter of max_results at most)
    short = client.create_run("default", "short")
    client.log_metrics(short.id, ["acc"] * 10, [float(s) for s in range(-5, 5)], list(range(-5, 5)))
    query = {"run_ids": [short.id], "metric_key": "acc", "max_results": "10"}
    got = [p["step"] for p in httpx.get(url, params=query).json()["metrics"]]
    assert got == list(range(-5, 5))
    got = [
        p["step"] for p in httpx.get(url, params={**query, "start_step": "-2"}).json()["metrics"]
    ]
    assert got == list(range(-2, 5))
