"""`setpoint import mlflow --from http://...`: an MLflow tracking server read through its REST
API and artifact proxy. The source is a live `setpoint server` (it answers MLflow's API)
seeded by the real MLflow client; what arrives is compared with what the source holds; twice
changes nothing; a run whose files cannot be fetched is listed and the rest imported; an
unreachable server, or one that is not MLflow, is one line and exit 2; tokens are sent."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ServerThread, fast_settings, run_cli
from ports import free_port
from setpoint.client import sdk
from setpoint.client.local import LocalClient
from setpoint.client.mlflow_import import IMPORTED_RUN, MlflowImporter
from setpoint.client.mlflow_server import MlflowServer

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")

# Runs in a process of its own (MLflow keeps global state), against the source server: runs
# with params, tags, a metric history longer than a page, files (one in a sub-folder, one
# with a space in its name), a scikit-learn model in a run's folder registered as v1 with an
# alias, and an MLflow 3 logged model registered as v2.
SEED = r"""
import json, os, pathlib, tempfile
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from sklearn.linear_model import LogisticRegression

c = MlflowClient()
exp = c.create_experiment("fraud", tags={"owner": "risk-team"})
T = 1_700_000_000_000
base = c.create_run(exp, run_name="baseline", tags={"team": "risk"})
rid = base.info.run_id
points = [Metric("loss", 1.0 / (i + 1), T + i, i) for i in range(2500)]
points += [Metric("acc", 0.7, T + 200, 5), Metric("acc", 0.8, T + 201, 5)]
for i in range(0, len(points), 1000):
    c.log_batch(rid, metrics=points[i : i + 1000])
c.log_batch(rid, params=[Param("max_depth", "8"), Param("lr", "0.1")])
files = pathlib.Path(tempfile.mkdtemp())
(files / "notes.txt").write_text("hello")
(files / "plots").mkdir()
(files / "plots" / "roc curve.csv").write_text("a,b\n1,2\n")
c.log_artifacts(rid, str(files))
X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1]
model = LogisticRegression().fit(X, y)
folder = pathlib.Path(tempfile.mkdtemp()) / "model"
mlflow.sklearn.save_model(model, str(folder), pip_requirements=[])
c.log_artifacts(rid, str(folder), "model")
c.set_terminated(rid, "FINISHED")
c.create_registered_model("fraud-model")
v1 = c.create_model_version("fraud-model", f"runs:/{rid}/model", run_id=rid)
c.set_registered_model_alias("fraud-model", "champion", v1.version)
c.update_registered_model("fraud-model", description="Scores card payments")
c.set_registered_model_tag("fraud-model", "tier", "gold")
failed = c.create_run(exp, run_name="a-failed-run")
c.log_param(failed.info.run_id, "max_depth", "12")
c.set_terminated(failed.info.run_id, "FAILED")
default = c.create_run("0", run_name="in-default")
c.set_terminated(default.info.run_id, "KILLED")
with mlflow.start_run(experiment_id=exp, run_name="v3") as v3:
    mlflow.log_metric("auc", 0.9, step=1)
    mlflow.sklearn.log_model(
        model, name="clf", registered_model_name="fraud-model", pip_requirements=[]
    )
print(json.dumps({"baseline": rid, "failed": failed.info.run_id,
                  "default": default.info.run_id, "v3": v3.info.run_id}))
"""


@dataclass
class Source:
    url: str
    local: LocalClient
    ids: dict[str, str]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """A `setpoint server` seeded by the MLflow client (read only in the tests below)."""
    from setpoint.server.app import create_app

    root = tmp_path_factory.mktemp("mlflow-server")
    local = LocalClient(fast_settings(root / "home")).open()
    with ServerThread(create_app(local)) as server:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        }
        for var in CREDENTIALS:
            env.pop(var, None)
        out = subprocess.run(
            [sys.executable, "-c", SEED], capture_output=True, text=True, env=env, cwd=root
        )
        assert out.returncode == 0, out.stderr[-3000:]
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        # a NaN point (MLflow's client cannot send one to a server whose JSON has no NaN)
        run = local.create_run("fraud", "with-nan", heartbeats=False)
        local.log_metrics(run.id, ["loss"] * 3, [0.5, math.nan, 0.25], [0, 1, 2], [1, 2, 3])
        local.end_run(run.id)
        ids["nan"] = run.id
        yield Source(server.url, local, ids)
    local.close()


@pytest.fixture(autouse=True)
def no_mlflow_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CREDENTIALS:
        monkeypatch.delenv(var, raising=False)


def imported(c: Any) -> dict[str, Any]:
    """MLflow run id -> the setpoint run imported from it."""
    page = c.search_runs(None, f"tags.`{IMPORTED_RUN}` LIKE '%'", None, 1000, None)
    return {r.tags[IMPORTED_RUN]: r for r in page.runs}


def same_history(a: Any, b: Any) -> bool:
    def points(h: Any) -> list[tuple[int, int, str]]:
        return list(zip(h.steps, h.timestamps, map(repr, h.values), strict=True))

    return points(a) == points(b)


def check_everything_there(c: Any, src: Source) -> None:
    """Each run of the source arrived with its name, status, times, params, tags, whole metric
    history and files (same digests: same bytes); the registry with its versions and alias."""
    runs = imported(c)
    # a logged model's run is no run to MLflow (its runs/search leaves it out, as MLflow's
    # does): what comes across of it is the model version made from it
    every = src.local.search_runs(None, None, None, 1000, None).runs
    source_runs = [r for r in every if r.tags.get("kind") != "mlflow_model"]
    assert len(source_runs) == len(every) - 1
    assert set(runs) == {r.id for r in source_runs}
    for s in source_runs:
        t = runs[s.id]
        assert (t.project, t.name, t.status) == (s.project, s.name, s.status)
        assert (t.start_time, t.end_time, t.params) == (s.start_time, s.end_time, s.params)
        assert {k: t.tags.get(k) for k in s.tags} == s.tags
        assert set(t.metrics) == set(s.metrics)
        for key in s.metrics:
            want, got = src.local.get_metric_history(s.id, key), c.get_metric_history(t.id, key)
            assert same_history(got, want), (s.name, key)
        files = {a.path: a.digest for a in src.local.list_artifacts(s.id)}
        assert {a.path: a.digest for a in c.list_artifacts(t.id)} == files

    base = runs[src.ids["baseline"]]
    assert (base.project, base.status) == ("fraud", "finished")
    assert base.params == {"max_depth": "8", "lr": "0.1"} and base.tags["team"] == "risk"
    assert len(c.get_metric_history(base.id, "loss").steps) == 2500
    assert c.get_metric_history(base.id, "acc").values == [0.7, 0.8]
    nan = c.get_metric_history(runs[src.ids["nan"]].id, "loss").values
    assert nan[0] == 0.5 and math.isnan(nan[1]) and nan[2] == 0.25
    failed = runs[src.ids["failed"]]
    assert (failed.status, failed.params) == ("failed", {"max_depth": "12"})
    assert runs[src.ids["default"]].project == "default"

    versions = c.list_model_versions("fraud-model", "fraud")
    assert [(v.version, v.flavor) for v in versions] == [(1, "mlflow"), (2, "mlflow")]
    assert versions[0].run_id == base.id
    assert versions[1].run_id == runs[src.ids["v3"]].id
    assert versions[1].tags["mlflow.model_id"].startswith("m-")
    model = c.get_model("fraud-model", "fraud")
    assert model.aliases == {"champion": 1}
    assert (model.description, model.tags["tier"]) == ("Scores card payments", "gold")
    assert c.get_project("fraud").tags["owner"] == "risk-team"


def test_import_from_a_server_copies_everything_and_twice_changes_nothing(
    home: Path, source: Source, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", source.url)
    assert code == 0, out + err
    assert "0 not imported" in out
    c = sdk.client()
    check_everything_there(c, source)
    base = imported(c)[source.ids["baseline"]]
    c.download_artifact(base.id, "plots/roc curve.csv", home.parent / "out")
    assert (home.parent / "out" / "roc curve.csv").read_text() == "a,b\n1,2\n"

    import numpy as np

    from setpoint.client.models import load_model

    loaded = load_model(c, "fraud/fraud-model@champion", None, home.parent / "cache")
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]

    before = (len(c.list_audit_events(limit=10_000)), c.search_runs(None).runs)
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", source.url + "/", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert sum(report["new"].values()) == 0 and report["failures"] == []
    assert report["existing"]["runs"] == len(imported(c))
    assert report["existing"]["model versions"] == 2 and report["existing"]["aliases"] == 1
    assert (len(c.list_audit_events(limit=10_000)), c.search_runs(None).runs) == before


def test_small_pages_through_each_client_mode(client: Any, source: Source) -> None:
    """Every listing read in pages of two gives the same import; the fetched files are gone
    once the source is closed."""
    server = MlflowServer(source.url, page=2).open()
    try:
        report = MlflowImporter(client, server).run()
        assert report.failures == []
        check_everything_there(client, source)
        again = MlflowImporter(client, server).run()
        folder = server.folder
    finally:
        server.close()
    assert sum(again.new.values()) == 0 and again.existing["runs"] == report.new["runs"]
    assert folder is not None and not folder.exists()


def fake_mlflow(request: httpx.Request) -> httpx.Response:
    """What an MLflow 2 server answers: int64 fields as text, a metric history in pages of
    two with NaN and Infinity as text, and no logged-model API (an HTML 404)."""
    path, query = request.url.path, request.url.params
    if path.endswith("/experiments/search"):
        experiment = {"experiment_id": "1", "name": "fraud", "lifecycle_stage": "active"}
        return httpx.Response(200, json={"experiments": [experiment]})
    if path.endswith("/runs/search"):
        info = {
            "run_uuid": "a" * 32,
            "experiment_id": "1",
            "run_name": "baseline",
            "status": "FINISHED",
            "start_time": "1700000000000",
            "end_time": "1700000005000",
            "lifecycle_stage": "active",
        }
        data = {"metrics": [{"key": "loss", "value": 0.25, "timestamp": "4", "step": "3"}]}
        return httpx.Response(200, json={"runs": [{"info": info, "data": data}]})
    if path.endswith("/metrics/get-history"):
        history = [(0, 1.0), (1, "NaN"), (2, "Infinity"), (3, 0.25)]
        start = int(query.get("page_token") or 0)
        size = int(query["max_results"])
        page: dict[str, Any] = {
            "metrics": [
                {"key": "loss", "value": v, "timestamp": str(s + 1), "step": str(s)}
                for s, v in history[start : start + size]
            ]
        }
        if start + size < len(history):
            page["next_page_token"] = str(start + size)
        return httpx.Response(200, json=page)
    if path.endswith(("/registered-models/search", "/model-versions/search")):
        return httpx.Response(200, json={})
    return httpx.Response(404, text="<h1>Not Found</h1>", headers={"content-type": "text/html"})


def import_through(c: Any, handler: Any, **options: Any) -> Any:
    """The report of importing, into ``c``, what an MLflow server answering with ``handler``
    holds."""
    source = MlflowServer(
        "http://mlflow.invalid", transport=httpx.MockTransport(handler), **options
    )
    source.open()
    try:
        return MlflowImporter(c, source).run()
    finally:
        source.close()


def test_mlflow_shapes_paged_history_nan_and_int64_text(home: Path) -> None:
    c = sdk.client()
    report = import_through(c, fake_mlflow, page=2)
    assert report.failures == [] and report.new["metric points"] == 4
    run = imported(c)["a" * 32]
    assert (run.project, run.start_time, run.end_time) == (
        "fraud",
        1_700_000_000_000,
        1_700_000_005_000,
    )
    history = c.get_metric_history(run.id, "loss")
    assert history.steps == [0, 1, 2, 3] and history.timestamps == [1, 2, 3, 4]
    assert history.values[0] == 1.0 and math.isnan(history.values[1])
    assert history.values[2:] == [math.inf, 0.25]


def test_a_registry_the_server_cannot_list_is_listed_and_the_runs_imported(home: Path) -> None:
    def failing_registry(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/model-versions/search"):
            error = {"error_code": "INTERNAL_ERROR", "message": "database is locked"}
            return httpx.Response(500, json=error)
        return fake_mlflow(request)

    c = sdk.client()
    report = import_through(c, failing_registry)
    assert [(f.kind, f.item) for f in report.failures] == [
        ("model version", "(every model version)")
    ]
    assert "database is locked" in report.failures[0].reason
    assert set(imported(c)) == {"a" * 32}


def test_a_run_whose_files_cannot_be_fetched_is_listed_and_the_rest_imported(
    home: Path, tmp_path: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    local = LocalClient(fast_settings(tmp_path / "source")).open()
    ids = {}
    for name in ("good", "broken"):
        run = local.create_run("fraud", name, heartbeats=False)
        local.log_params(run.id, {"lr": "0.1"})
        local.upload_artifact(run.id, "notes.txt", io.BytesIO(f"{name} notes".encode()))
        local.end_run(run.id)
        ids[name] = run.id
    digest = local.list_artifacts(ids["broken"])[0].digest
    for blob in (tmp_path / "source").rglob(digest):
        blob.unlink()  # the source server cannot give this file any more
    server = serve(local)

    for _ in range(2):  # the run that failed is tried again the next time
        code, out, err = run_cli(capsys, "import", "mlflow", "--from", server.url, "--json")
        assert code == 1, err
        failures = json.loads(out)["failures"]
        assert [(f["kind"], f["item"]) for f in failures] == [("run", ids["broken"])]
        assert "notes.txt" in failures[0]["reason"]
    runs = imported(sdk.client())
    assert set(runs) == {ids["good"]}
    assert [a.path for a in sdk.client().list_artifacts(runs[ids["good"]].id)] == ["notes.txt"]
    local.close()


async def not_mlflow(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A web server that answers every request with a page (as a web UI or a proxy would)."""
    headers = [(b"content-type", b"text/html")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"<html>hello</html>"})


def test_an_unreachable_server_or_one_that_is_not_mlflow_is_one_line_and_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ServerThread(not_mlflow) as other:
        for url, why in (
            (f"http://127.0.0.1:{free_port()}", "cannot reach"),
            (other.url, "is not an MLflow tracking server"),
            ("https://", "names no host"),
        ):
            code, out, err = run_cli(capsys, "import", "mlflow", "--from", url)
            assert (code, out) == (2, ""), url
            assert err.startswith("error (from): ") and why in err, err
            assert len(err.strip().splitlines()) == 1


def test_a_server_that_requires_tokens_gets_mlflows_credentials(
    home: Path,
    tmp_path: Path,
    serve: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = LocalClient(fast_settings(tmp_path / "source")).open()
    run = local.create_run("fraud", "baseline", heartbeats=False)
    local.log_params(run.id, {"lr": "0.1"})
    local.end_run(run.id)
    local.users.create("alice")
    for project in ("fraud", "default"):
        local.users.grant("alice", project, "viewer")
    secret = local.tokens.create("alice-laptop", "alice")
    server = serve(local, enforce_roles=True)
    args = ("import", "mlflow", "--from", server.url, "--json")

    for token in (None, "spt_wrong"):
        if token:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        code, out, err = run_cli(capsys, *args)
        assert (code, out) == (2, "")
        assert "refused" in err and "MLFLOW_TRACKING_TOKEN" in err
        assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["new"]["runs"] == 1
    assert imported(sdk.client())[run.id].params == {"lr": "0.1"}

    # MLflow's user name and password (a setpoint user and a token of theirs) work too
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret)
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert json.loads(out)["existing"]["runs"] == 1
    local.close()


def test_a_user_who_reads_some_experiments_imports_those_and_the_others_are_listed(
    home: Path,
    tmp_path: Path,
    serve: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every experiment is listed to a token's user, but a user with a role in some projects
    only is refused (403) the runs and logged models of the others: what it may read is
    imported, each experiment it may not is listed once (not made a project), and a 403 does
    not ask for credentials (the server knows them: that is for a 401)."""
    local = LocalClient(fast_settings(tmp_path / "source")).open()
    runs = {}
    for project in ("A", "B", "default"):
        run = local.create_run(project, f"in-{project}", heartbeats=False)
        local.log_params(run.id, {"where": project})
        local.end_run(run.id)
        runs[project] = run.id
    for user, role in (("vic", "viewer"), ("ed", "editor")):
        local.users.create(user)
        local.users.grant(user, "A", role)
    vic, ed = (local.tokens.create(f"{u}-laptop", u) for u in ("vic", "ed"))
    server = serve(local, enforce_roles=True)
    api = f"{server.url}/api/2.0/mlflow"
    with httpx.Client(headers={"authorization": f"Bearer {ed}"}) as http:
        exp = http.get(f"{api}/experiments/get-by-name", params={"experiment_name": "A"})
        made = http.post(
            f"{api}/logged-models",
            json={"experiment_id": exp.json()["experiment"]["experiment_id"], "name": "clf"},
        )
        assert made.status_code == 200, made.text
    model_id = made.json()["model"]["info"]["model_id"]

    source = MlflowServer(server.url, env={"MLFLOW_TRACKING_TOKEN": vic}).open()
    try:
        assert {e.name for e in source.experiments()} >= {"A", "B"}  # listed to anyone
        assert [r.id for r in source.runs() if r.name == "in-A"] == [runs["A"]]
        assert not {runs["B"], runs["default"]} & {r.id for r in source.runs()}
        assert list(source.logged_models()) == [model_id]
        refused = {e.name for e in source.experiments() if e.id in source.refused_experiments()}
        assert refused == {"B", "Default"}
    finally:
        source.close()

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", vic)
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", server.url, "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["new"]["runs"] == 1
    assert imported(sdk.client())[runs["A"]].params == {"where": "A"}
    failures = report["failures"]
    assert sorted(f["item"].split(" (id ")[0] for f in failures) == ["B", "Default"], failures
    for f in failures:
        assert f["kind"] == "experiment"
        assert f["reason"] == "the server refuses to let this user read it (403)"
    assert "MLFLOW_TRACKING" not in out
    assert "B" not in {p.name for p in sdk.client().list_projects()}
    local.close()


@pytest.mark.filterwarnings("ignore::UserWarning")  # MLflow's, on the model's signature
def test_a_version_made_from_another_gets_its_files(
    home: Path, tmp_path: Path, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version whose source names another registered version (models:/name/1, as MLflow's
    copy_model_version makes) is imported with that version's files: MLflow's REST API
    gives no storage_location. Later versions keep MLflow's numbers."""
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    local = LocalClient(fast_settings(tmp_path / "source")).open()
    server = serve(local)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ml = MlflowClient(server.url)
    run = ml.create_run(ml.create_experiment("fraud")).info.run_id
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), pip_requirements=[])
    ml.log_artifacts(run, str(tmp_path / "model"), "model")
    ml.set_terminated(run)
    ml.create_registered_model("Fraud Detector")
    ml.create_model_version("Fraud Detector", f"runs:/{run}/model", run_id=run)
    ml.create_model_version("Fraud Detector", "models:/Fraud Detector/1")
    ml.create_model_version("Fraud Detector", f"runs:/{run}/model", run_id=run)

    source = MlflowServer(server.url).open()
    try:
        report = MlflowImporter(sdk.client(), source).run()
    finally:
        source.close()
    assert report.failures == []
    c = sdk.client()
    versions = c.list_model_versions(c.list_models("fraud")[0].name, "fraud")
    assert [v.tags["mlflow.imported_version"] for v in versions] == [
        f"Fraud Detector/{n}" for n in (1, 2, 3)
    ]
    assert versions[1].digest == versions[0].digest
    assert versions[1].tags["mlflow.source"] == versions[0].tags["mlflow.source"]
    local.close()


def test_an_experiment_without_a_name_is_listed_not_a_project_none(home: Path) -> None:
    def nameless(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/experiments/search"):
            experiments = [
                {"experiment_id": "1", "name": "fraud", "lifecycle_stage": "active"},
                {"experiment_id": "2", "name": None, "lifecycle_stage": "active"},
            ]
            return httpx.Response(200, json={"experiments": experiments})
        return fake_mlflow(request)

    c = sdk.client()
    report = import_through(c, nameless)
    assert ("experiment", "(id 2)") in {(f.kind, f.item) for f in report.failures}
    assert "None" not in {p.name for p in c.list_projects(lifecycle="all")}
    assert report.new["runs"] == 1  # the other experiment's run


def test_a_run_sent_in_parts_that_stopped_half_way_is_finished_by_the_next_import(
    sqlite_settings: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between parts, a remote import left a running run without its import tag,
    and the next one made a second copy: the run is tagged from its first part as one to
    finish, and the next import sends what it lacks and ends it."""
    from setpoint.client import mlflow_import
    from setpoint.client.remote import RemoteClient

    monkeypatch.setattr(mlflow_import, "REMOTE_POINTS", 1)  # the run has 4 points
    local = LocalClient(sqlite_settings).open()
    remote = RemoteClient(serve(local).url).open()
    sent = RemoteClient.log_metrics  # type: ignore[attr-defined]
    calls: list[int] = []

    def stops_at_the_third_part(self: Any, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the import is stopped there
        return sent(self, *args, **kw)

    def once() -> Any:
        return import_through(remote, fake_mlflow)

    monkeypatch.setattr(RemoteClient, "log_metrics", stops_at_the_third_part)
    with pytest.raises(KeyboardInterrupt):
        once()
    monkeypatch.setattr(RemoteClient, "log_metrics", sent)
    report = once()
    assert report.failures == [] and report.new["runs"] == 1
    (run,) = local.search_runs(None, None, None, 100, None, "all").runs
    assert run.tags[IMPORTED_RUN] == "a" * 32 and mlflow_import.INCOMPLETE not in run.tags
    assert (run.status, run.end_time) == ("finished", 1_700_000_005_000)
    assert local.get_metric_history(run.id, "loss").steps == [0, 1, 2, 3]
    again = once()
    assert sum(again.new.values()) == 0 and again.existing["runs"] == 1
    remote.close()
    local.close()
