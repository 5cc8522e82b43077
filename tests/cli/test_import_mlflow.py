"""`setpoint import mlflow`: an MLflow database (made by the real MLflow client,
mlflow-skinny) copied into setpoint with the same values; twice changes nothing; a
half-corrupt store imports what it can and lists the rest; a bad source is one line, exit 2."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from conftest import fast_settings, run_cli, seed
from setpoint.client import sdk
from setpoint.client.mlflow_database import MlflowDatabase
from setpoint.client.mlflow_import import IMPORTED_PARENT, IMPORTED_RUN, MlflowImporter
from setpoint.core.errors import ConflictError
from setpoint.tracking.artifacts import IMPORTED_WITHOUT_FILES

pytest.importorskip("mlflow")

# Runs in a process of its own (MLflow keeps global state): two experiments, runs with
# params, tags, a metric history with a NaN and two points at one step, files, a scikit-learn
# model in a run's folder registered as v1 with an alias, and an MLflow 3 logged model as v2.
SEED = r"""
import json, math, os, pathlib, sys, tempfile
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from sklearn.linear_model import LogisticRegression

root = pathlib.Path(sys.argv[1])
uri = f"sqlite:///{root}/mlflow.db"
mlflow.set_tracking_uri(uri)
c = MlflowClient(uri)
exp = c.create_experiment("fraud", artifact_location=str(root / "mlruns" / "1"))
T = 1_700_000_000_000
base = c.create_run(exp, run_name="baseline", start_time=T, tags={"team": "risk"})
rid = base.info.run_id
loss = [1.0, 0.5, math.nan, 0.25]
c.log_batch(
    rid,
    metrics=[Metric("loss", v, T + 100 + i, i) for i, v in enumerate(loss)]
    + [Metric("acc", 0.7, T + 200, 5), Metric("acc", 0.8, T + 201, 5)],
    params=[Param("max_depth", "8"), Param("lr", "0.1")],
)
files = pathlib.Path(tempfile.mkdtemp())
(files / "notes.txt").write_text("hello")
(files / "plots").mkdir()
(files / "plots" / "roc.csv").write_text("a,b\n1,2\n")
c.log_artifacts(rid, str(files))
X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1]
model = LogisticRegression().fit(X, y)
folder = pathlib.Path(tempfile.mkdtemp()) / "model"
mlflow.sklearn.save_model(model, str(folder), pip_requirements=[])
c.log_artifacts(rid, str(folder), "model")
c.set_terminated(rid, "FINISHED", end_time=T + 5000)
c.create_registered_model("fraud-model")
v1 = c.create_model_version("fraud-model", f"runs:/{rid}/model", run_id=rid)
c.set_registered_model_alias("fraud-model", "champion", v1.version)
failed = c.create_run(exp, run_name="a failed run", start_time=T + 10_000)
c.log_param(failed.info.run_id, "max_depth", "12")
c.set_terminated(failed.info.run_id, "FAILED", end_time=T + 11_000)
default = c.create_run("0", run_name="in-default", start_time=T + 20_000)
c.set_terminated(default.info.run_id, "KILLED", end_time=T + 21_000)
with mlflow.start_run(experiment_id=exp, run_name="v3") as v3:
    mlflow.log_metric("auc", 0.9, step=1)
    mlflow.sklearn.log_model(
        model, name="clf", registered_model_name="fraud-model", pip_requirements=[]
    )
ids = {"baseline": rid, "failed": failed.info.run_id, "default": default.info.run_id,
       "v3": v3.info.run_id}
(root / "ids.json").write_text(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mlflow-store")
    seed(SEED, root)
    return root


@pytest.fixture
def mlflow_copy(store: Path, tmp_path: Path) -> Path:
    """A copy of the store (its DB names the original's paths: --artifacts points here)."""
    return Path(shutil.copytree(store, tmp_path / "mlflow"))


def import_args(src: Path, *extra: str) -> list[str]:
    db = f"sqlite:///{src / 'mlflow.db'}"
    return ["import", "mlflow", "--from", db, "--artifacts", str(src / "mlruns"), *extra]


def imported(c: Any) -> dict[str, Any]:
    """MLflow run id -> the setpoint run imported from it."""
    page = c.search_runs(None, f"tags.`{IMPORTED_RUN}` LIKE '%'", None, 1000, None)
    return {r.tags[IMPORTED_RUN]: r for r in page.runs}


def check_everything_there(c: Any, ids: dict[str, str]) -> None:
    runs = imported(c)
    assert set(runs) == set(ids.values())
    base = runs[ids["baseline"]]
    assert (base.project, base.name, base.status) == ("fraud", "baseline", "finished")
    assert (base.start_time, base.end_time) == (1_700_000_000_000, 1_700_000_005_000)
    assert base.params == {"max_depth": "8", "lr": "0.1"}
    assert base.tags["team"] == "risk" and base.tags["mlflow.runName"] == "baseline"
    loss = c.get_metric_history(base.id, "loss")
    assert loss.steps == [0, 1, 2, 3]
    assert loss.timestamps == [1_700_000_000_100 + i for i in range(4)]
    assert loss.values[:2] == [1.0, 0.5] and math.isnan(loss.values[2])
    assert loss.values[3] == 0.25
    acc = c.get_metric_history(base.id, "acc")
    assert (acc.steps, acc.values) == ([5, 5], [0.7, 0.8])
    paths = {a.path for a in c.list_artifacts(base.id)}
    assert {"notes.txt", "plots/roc.csv", "model/MLmodel"} <= paths
    failed = runs[ids["failed"]]
    assert (failed.name, failed.status, failed.end_time) == (
        "a failed run",  # as MLflow has it (it became "a-failed-run")
        "failed",
        1_700_000_011_000,
    )
    assert failed.tags["mlflow.runName"] == "a failed run"
    default = runs[ids["default"]]
    assert (default.project, default.status) == ("default", "killed")
    v3 = runs[ids["v3"]]
    assert c.get_metric_history(v3.id, "auc").steps == [1]

    versions = c.list_model_versions("fraud-model", "fraud")
    assert [(v.version, v.flavor) for v in versions] == [(1, "mlflow"), (2, "mlflow")]
    assert versions[0].run_id == base.id and versions[1].run_id == v3.id
    assert versions[0].tags["mlflow.source"] == f"runs:/{base.id}/model"
    assert versions[1].tags["mlflow.model_id"].startswith("m-")
    assert c.get_model("fraud-model", "fraud").aliases == {"champion": 1}


def test_import_copies_everything_and_twice_changes_nothing(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    code, out, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    assert "0 not imported" in out
    c = sdk.client()
    check_everything_there(c, ids)
    base = imported(c)[ids["baseline"]]
    dest = home.parent / "out"
    c.download_artifact(base.id, "plots/roc.csv", dest)
    assert (dest / "roc.csv").read_text() == "a,b\n1,2\n"

    import numpy as np

    from setpoint.client.models import load_model

    loaded = load_model(c, "fraud/fraud-model@champion", None, home.parent / "cache")
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]

    before = (len(c.list_audit_events(limit=10_000)), c.search_runs(None).runs)
    code, out, err = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    assert code == 0, err
    report = json.loads(out)
    assert sum(report["new"].values()) == 0 and report["failures"] == []
    assert report["existing"]["runs"] == 4 and report["existing"]["model versions"] == 2
    assert (len(c.list_audit_events(limit=10_000)), c.search_runs(None).runs) == before
    code, out, _ = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0 and "0 new" in out

    # An alias moved in setpoint since is left where it is, and said so.
    c.set_alias("fraud-model", "champion", 2, "fraud")
    code, out, _ = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    assert code == 1
    assert [f["item"] for f in json.loads(out)["failures"]] == ["fraud-model@champion"]
    assert c.get_model("fraud-model", "fraud").aliases == {"champion": 2}


def test_what_was_deleted_in_setpoint_since_is_not_imported_again(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    c = sdk.client()
    base = imported(c)[ids["baseline"]]
    c.delete_run(base.id)
    code, out, err = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    assert code == 0, err
    assert json.loads(out)["new"]["runs"] == 0  # the deleted run is not brought back
    assert c.search_runs("fraud", f"tags.`{IMPORTED_RUN}` = '{ids['baseline']}'").runs == []

    c.delete_model_version("fraud-model", 2, "fraud")  # v1 holds the alias
    code, out, err = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    assert code == 0, err
    assert json.loads(out)["new"]["model versions"] == 0  # nor is the deleted version
    assert [v.version for v in c.list_model_versions("fraud-model", "fraud")] == [1]
    kept = c.list_model_versions("fraud-model", "fraud", "deleted")
    assert [v.version for v in kept] == [2] and kept[0].deleted_at is not None
    code, out, _ = run_cli(
        capsys, "models", "versions", "fraud-model", "-p", "fraud", "--lifecycle", "all"
    )
    assert code == 0 and "fraud-model: 2 versions" in out and "│ deleted" in out

    c.delete_project("fraud")
    code, out, _ = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    report = json.loads(out)
    assert code == 1 and report["new"]["runs"] == 0
    failed = {f["kind"]: f["reason"] for f in report["failures"]}
    assert "deleted in setpoint" in failed["experiment"]
    assert "fraud" not in [p.name for p in c.list_projects()]


def test_half_corrupt_store_imports_what_it_can_and_lists_the_rest(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    con = sqlite3.connect(mlflow_copy / "mlflow.db")
    with con:
        # a metric value that is not a number, a run of an experiment that is not there
        con.execute(
            "UPDATE metrics SET value = 'oops' WHERE key = 'loss' AND step = 1 AND run_uuid = ?",
            (ids["baseline"],),
        )
        con.execute("PRAGMA foreign_keys = OFF")
        con.execute("UPDATE runs SET experiment_id = 99 WHERE run_uuid = ?", (ids["default"],))
    con.close()
    folder = mlflow_copy / "mlruns" / "1" / ids["baseline"] / "artifacts"
    (folder / "model" / "MLmodel").unlink()  # v1's folder is no MLflow model any more
    (folder / "gone.bin").symlink_to(folder / "nowhere.bin")  # a file that is not there

    code, out, err = run_cli(capsys, *import_args(mlflow_copy, "--json"))
    assert code == 1, err
    report = json.loads(out)
    failed = {(f["kind"], f["item"]) for f in report["failures"]}
    assert failed == {
        ("metric", f"{ids['baseline']} loss"),
        ("run", ids["default"]),
        ("artifact", f"{ids['baseline']} gone.bin"),
        ("model version", "fraud-model v1"),
        ("alias", "fraud-model@champion"),
    }
    c = sdk.client()
    runs = imported(c)
    assert set(runs) == {ids["baseline"], ids["failed"], ids["v3"]}
    loss = c.get_metric_history(runs[ids["baseline"]].id, "loss")
    assert loss.steps == [0, 2, 3]
    # MLflow's number is kept: its v1 could not be read, its v2 is setpoint's v2
    assert [v.version for v in c.list_model_versions("fraud-model", "fraud")] == [2]
    assert c.get_model_version("fraud-model", 2, "fraud").tags["mlflow.imported_version"] == (
        "fraud-model/2"
    )

    # Again: what is still missing is listed again (the file of a run imported without it
    # is looked for again; the points of a run that was imported are not looked at twice).
    code, out, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 1 and "0 new" in out and "4 not imported" in out


@pytest.mark.parametrize(
    "url",
    ["nonsense", "sqlite:///no/such/mlflow.db", "postgresql+psycopg://nobody@127.0.0.1:1/x"],
)
def test_bad_source_is_one_line_and_exit_2(
    home: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", url)
    assert out == ""
    assert code == 2
    assert err.startswith("error (from): ") and len(err.strip().splitlines()) == 1


def test_a_database_that_is_not_mlflows_is_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x INTEGER)")
    code, _, err = run_cli(capsys, "import", "mlflow", "--from", f"sqlite:///{other}")
    assert code == 2 and "not an MLflow tracking database" in err
    code, _, err = run_cli(
        capsys, "import", "mlflow", "--from", f"sqlite:///{other}", "--artifacts", "/no/such"
    )
    assert code == 2 and err.count("\n") == 1


def test_import_through_each_client_mode(client: Any, mlflow_copy: Path) -> None:
    """The importer only uses the client's operations: local SQLite, PostgreSQL, remote."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    source = MlflowDatabase(f"sqlite:///{mlflow_copy / 'mlflow.db'}").open()
    try:
        report = MlflowImporter(client, source, str(mlflow_copy / "mlruns")).run()
        assert report.failures == []
        check_everything_there(client, ids)
        again = MlflowImporter(client, source, str(mlflow_copy / "mlruns")).run()
    finally:
        source.close()
    assert sum(again.new.values()) == 0 and again.existing["runs"] == 4


def test_a_long_run_goes_to_a_server_in_parts(
    sqlite_settings: Any, serve: Any, mlflow_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client import mlflow_import
    from setpoint.client.local import LocalClient
    from setpoint.client.remote import RemoteClient

    monkeypatch.setattr(mlflow_import, "REMOTE_POINTS", 3)  # the baseline run has 6 points
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    local = LocalClient(sqlite_settings).open()
    remote = RemoteClient(serve(local).url).open()
    report, again = import_twice(remote, mlflow_copy)
    assert report.failures == [] and again.new["runs"] == 0
    base = imported(local)[ids["baseline"]]
    assert base.status == "finished" and base.start_time == 1_700_000_000_000
    assert base.end_time == 1_700_000_005_000  # MLflow's, not the moment the parts ended
    assert c_steps(local, base.id, "loss") == [0, 1, 2, 3]
    assert c_steps(local, base.id, "acc") == [5, 5]
    local.close()


def test_a_user_with_roles_in_some_projects_imports_into_them(
    sqlite_settings: Any, serve: Any, mlflow_copy: Path
) -> None:
    """Earlier imports were looked for across every project at once, which a server under
    --auth allows only to a '*' grant: a user with roles in the projects imported into could
    not import at all."""
    from setpoint.client.local import LocalClient
    from setpoint.client.remote import RemoteClient

    local = LocalClient(sqlite_settings).open()
    local.users.create("ana")
    for project in ("default", "fraud"):
        local.users.grant("ana", project, "editor")
    local.create_project("secret")
    remote = RemoteClient(serve(local, enforce_roles=True).url, local.tokens.create("a", "ana"))
    report, again = import_twice(remote, mlflow_copy)
    assert report.failures == [] and report.new["runs"] == 4
    assert sum(again.new.values()) == 0 and again.existing["runs"] == 4
    local.close()


def import_twice(client: Any, src: Path) -> tuple[Any, Any]:
    """The reports of importing the store at ``src`` twice through ``client`` (closed
    after)."""
    source = MlflowDatabase(f"sqlite:///{src / 'mlflow.db'}").open()
    try:
        first = MlflowImporter(client, source, str(src / "mlruns")).run()
        return first, MlflowImporter(client, source, str(src / "mlruns")).run()
    finally:
        source.close()
        client.close()


def c_steps(c: Any, run_id: str, key: str) -> list[int]:
    return list(c.get_metric_history(run_id, key).steps)


NESTED = r"""
import os, pathlib, sys
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
from mlflow import MlflowClient

root = pathlib.Path(sys.argv[1])
c = MlflowClient(f"sqlite:///{root}/mlflow.db")
exp = c.create_experiment("nest", artifact_location=str(root / "mlruns" / "1"))
parent = c.create_run(exp, run_name="parent", start_time=5000)
for name, start in (("early", 4000), ("same-time", 5000)):  # listed before the parent
    child = c.create_run(
        exp, run_name=name, start_time=start, tags={"mlflow.parentRunId": parent.info.run_id}
    )
    c.set_terminated(child.info.run_id, "FINISHED", end_time=6000)
c.set_terminated(parent.info.run_id, "FINISHED", end_time=7000)
print(parent.info.run_id)
"""


def test_children_listed_before_their_parent_still_get_it(home: Path, tmp_path: Path) -> None:
    """MLflow lists runs by start time: a child that started first (or at the same time,
    with a smaller id) was imported without its parent, and a second import kept it so."""
    parent_id = seed(NESTED, tmp_path).strip().splitlines()[-1]
    c = sdk.client()
    source = MlflowDatabase(f"sqlite:///{tmp_path / 'mlflow.db'}").open()
    try:
        report = MlflowImporter(c, source).run()
    finally:
        source.close()
    assert report.failures == [] and report.new["runs"] == 3
    runs = {r.name: r for r in imported(c).values()}
    assert runs["parent"].tags[IMPORTED_RUN] == parent_id
    assert runs["early"].parent_id == runs["same-time"].parent_id == runs["parent"].id
    # MLflow's clients find children by their tag: it names the parent's id here (it named
    # the parent's id in MLflow, which no run here has)
    for child in ("early", "same-time"):
        assert runs[child].tags["mlflow.parentRunId"] == runs["parent"].id
        assert runs[child].tags[IMPORTED_PARENT] == parent_id
    found = c.search_runs(filter=f"tags.`mlflow.parentRunId` = '{runs['parent'].id}'")
    assert sorted(r.name for r in found.runs) == ["early", "same-time"]


SPACED = r"""
import os, pathlib, sys, tempfile
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

root = pathlib.Path(sys.argv[1])
c = MlflowClient(f"sqlite:///{root}/mlflow.db")
exp = c.create_experiment("fraud", artifact_location=str(root / "mlruns" / "1"))
run = c.create_run(exp, run_name="train")
folder = pathlib.Path(tempfile.mkdtemp()) / "model"
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
mlflow.sklearn.save_model(model, str(folder), pip_requirements=[])
c.log_artifacts(run.info.run_id, str(folder), "model")
c.set_terminated(run.info.run_id, "FINISHED")
c.create_registered_model("Fraud Detector", tags={"team": "risk"})
v = c.create_model_version("Fraud Detector", f"runs:/{run.info.run_id}/model", run.info.run_id)
c.set_registered_model_alias("Fraud Detector", "champion", v.version)
"""


def test_registered_model_names_that_are_no_model_names_are_kept(
    home: Path, tmp_path: Path
) -> None:
    """An MLflow registered model named "Fraud Detector" is imported as the model the
    MLflow API keeps it as, with its name in a tag; a second import finds it there."""
    from setpoint.core.names import MODEL_NAME_TAG, registered_model

    seed(SPACED, tmp_path)
    c = sdk.client()
    for _ in range(2):
        source = MlflowDatabase(f"sqlite:///{tmp_path / 'mlflow.db'}").open()
        try:
            report = MlflowImporter(c, source, str(tmp_path / "mlruns")).run()
        finally:
            source.close()
        assert report.failures == []
    assert report.new["model versions"] == 0 and report.existing["model versions"] == 1
    m = c.get_model(registered_model("Fraud Detector"), "fraud")
    assert m.tags == {MODEL_NAME_TAG: "Fraud Detector", "team": "risk"}
    assert m.aliases == {"champion": 1} and m.latest_version == 1


def edit(src: Path, *sql: tuple[str, tuple[Any, ...]]) -> None:
    """Change the MLflow database of ``src`` as a broken or hostile store would be."""
    con = sqlite3.connect(src / "mlflow.db")
    con.execute("PRAGMA foreign_keys = OFF")
    with con:
        for statement, args in sql:
            con.execute(statement, args)
    con.close()


def report_of(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(capsys, *args, "--json")
    assert out, err
    return code, json.loads(out)


def failed_items(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["kind"], f["item"]) for f in report["failures"]}


def test_files_outside_the_artifact_root_or_behind_links_are_not_read(
    home: Path, mlflow_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store's paths are not trusted: '..', a path elsewhere and links are refused."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    secret = tmp_path / "secret"  # beside the copy, outside its mlruns
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE")
    edit(
        mlflow_copy,
        (
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
            ("mlflow-artifacts:/../../secret", ids["failed"]),
        ),
        (
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
            (f"file://{secret}", ids["default"]),
        ),
    )
    folder = mlflow_copy / "mlruns" / "1" / ids["baseline"] / "artifacts"
    (folder / "leak.txt").symlink_to(secret / "id_rsa")
    (folder / "plots" / "leaks").symlink_to(secret)
    (folder / "inside.txt").symlink_to(folder / "notes.txt")  # a link within is fine

    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1
    assert failed_items(report) == {
        ("artifacts", ids["failed"]),
        ("artifacts", ids["default"]),
        ("artifact", f"{ids['baseline']} leak.txt"),
        ("artifact", f"{ids['baseline']} plots/leaks"),
    }
    c = sdk.client()
    runs = imported(c)
    assert set(runs) == set(ids.values())  # the runs are imported, without those files
    assert c.list_artifacts(runs[ids["failed"]].id) == []
    assert c.list_artifacts(runs[ids["default"]].id) == []
    paths = {a.path for a in c.list_artifacts(runs[ids["baseline"]].id)}
    assert "inside.txt" in paths and not {"leak.txt", "plots/leaks/id_rsa"} & paths

    # without --artifacts, only what is under the experiment's artifact location is read
    from setpoint.client.local import LocalClient

    other = LocalClient(fast_settings(tmp_path / "other")).open()
    source = MlflowDatabase(f"sqlite:///{mlflow_copy / 'mlflow.db'}").open()
    try:
        alone = MlflowImporter(other, source).run()
        runs = imported(other)
        assert other.list_artifacts(runs[ids["default"]].id) == []
    finally:
        source.close()
        other.close()
    why = {f.item: f.reason for f in alone.failures if f.kind == "artifacts"}
    assert str(secret) in why[ids["default"]] and "outside" in why[ids["default"]]


def corrupt(db: Path, table: str) -> None:
    """Overwrite the first page of ``table`` with garbage, as a failing disk would."""
    con = sqlite3.connect(db)
    size = con.execute("PRAGMA page_size").fetchone()[0]
    page = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    con.close()
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xff" * size)


def test_an_unreadable_registry_is_listed_and_the_runs_imported(
    home: Path, mlflow_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    corrupt(mlflow_copy / "mlflow.db", "model_versions")
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1
    assert failed_items(report) == {
        ("model version", "(every model version)"),
        ("alias", "fraud-model@champion"),
    }
    reason = report["failures"][0]["reason"]
    assert "model_versions" in reason and "malformed" in reason
    assert set(imported(sdk.client())) == set(ids.values())

    # with nothing to import (its experiments unreadable): one line naming the URL given
    broken = Path(shutil.copytree(mlflow_copy, tmp_path / "broken"))
    corrupt(broken / "mlflow.db", "experiments")
    url = f"sqlite:///{broken / 'mlflow.db'}"
    code, out, err = run_cli(capsys, "import", "mlflow", "--from", url)
    assert (code, out) == (2, "")
    assert err.startswith(f"error (from): cannot read table experiments of {url}: ")
    assert len(err.strip().splitlines()) == 1 and "mode=ro" not in err


def test_a_version_tag_setpoint_refuses_is_listed_and_the_version_kept(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add = "INSERT INTO model_version_tags (key, value, name, version) VALUES (?, ?, ?, ?)"
    edit(
        mlflow_copy,
        (add, ("précision", "high", "fraud-model", 1)),  # a key MLflow takes: so does setpoint
        (add, ("a//b", "y", "fraud-model", 1)),  # one neither takes (written to the table)
        (add, ("notes", "x" * 9000, "fraud-model", 1)),  # longer than setpoint's tags
        (add, ("team", "risk", "fraud-model", 1)),
    )
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1
    assert failed_items(report) == {
        ("model version tag", "fraud-model v1 a//b"),
        ("model version tag", "fraud-model v1 notes"),
    }
    c = sdk.client()
    v1 = c.get_model_version("fraud-model", 1, "fraud")
    assert v1.tags["team"] == "risk" and v1.tags["précision"] == "high"
    assert "notes" not in v1.tags and "a//b" not in v1.tags
    assert c.get_model("fraud-model", "fraud").aliases == {"champion": 1}


def test_run_files_that_cannot_be_read_here_are_listed(home: Path, mlflow_copy: Path) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    uri = f"s3://bucket/1/{ids['failed']}/artifacts"
    edit(mlflow_copy, ("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (uri, ids["failed"])))
    c = sdk.client()
    source = MlflowDatabase(f"sqlite:///{mlflow_copy / 'mlflow.db'}").open()
    try:
        report = MlflowImporter(c, source).run()  # no --artifacts
    finally:
        source.close()
    why = {f.item: f.reason for f in report.failures if f.kind == "artifacts"}
    assert list(why) == [ids["failed"]] and uri in why[ids["failed"]]
    assert "--artifacts" in why[ids["failed"]]
    assert ids["failed"] in imported(c)  # imported all the same, without files


def _baseline_at(src: Path, uri: str) -> tuple[dict[str, str], Any]:
    """The store's ids, and its opened database, its baseline run's artifact_uri set to
    ``uri`` (``{run}`` standing for the run's id)."""
    ids = json.loads((src / "ids.json").read_text())
    at = uri.format(run=ids["baseline"])
    edit(src, ("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (at, ids["baseline"])))
    return ids, MlflowDatabase(f"sqlite:///{src / 'mlflow.db'}").open()


def test_files_a_first_import_could_not_read_are_added_by_the_next(
    client: Any, mlflow_copy: Path
) -> None:
    """Told to "give --artifacts", a user who does gets the files: the run imported without
    them (tagged so) gets them then, in every client mode; then the tag is gone, a third
    import adds nothing, and no other ended run takes files this way."""
    ids, source = _baseline_at(mlflow_copy, "s3://bucket/1/{run}/artifacts")
    try:
        first = MlflowImporter(client, source).run()  # no --artifacts
        base = imported(client)[ids["baseline"]]
        assert client.list_artifacts(base.id) == []
        assert "--artifacts" in base.tags[IMPORTED_WITHOUT_FILES]
        assert ("artifacts", ids["baseline"]) in {(f.kind, f.item) for f in first.failures}
        again = MlflowImporter(client, source).run()  # still unreadable: listed again
        assert [f.item for f in again.failures if f.kind == "artifacts"] == [ids["baseline"]]
        assert "imported before without its files" in again.failures[0].reason
        given = MlflowImporter(client, source, str(mlflow_copy / "mlruns")).run()
        third = MlflowImporter(client, source, str(mlflow_copy / "mlruns")).run()
    finally:
        source.close()
    assert given.failures == [] and given.new["runs"] == 0
    assert given.new["artifacts"] == len(client.list_artifacts(base.id)) >= 3
    base = imported(client)[ids["baseline"]]
    assert IMPORTED_WITHOUT_FILES not in base.tags and base.status == "finished"
    assert client.download_artifact(base.id, "notes.txt", mlflow_copy / "out")
    assert (mlflow_copy / "out" / "notes.txt").read_text() == "hello"
    assert third.failures == [] and sum(third.new.values()) == 0
    other = imported(client)[ids["failed"]]
    ref = client.upload_file(mlflow_copy / "out" / "notes.txt")
    with pytest.raises(ConflictError, match="not imported without files"):
        client.log_imported_artifacts(other.id, {"late.txt": ref})
    assert "late.txt" not in {a.path for a in client.list_artifacts(other.id)}


def test_files_of_a_store_copied_from_another_machine_are_not_taken_for_none(
    client: Any, mlflow_copy: Path
) -> None:
    """A run's folder under an artifact root that is not on this machine was taken for a run
    that logged no file: imported without them, unsaid, and never added by an import given
    --artifacts later."""
    ids, source = _baseline_at(mlflow_copy, "/srv/elsewhere/mlruns/1/{run}/artifacts")
    try:
        first = MlflowImporter(client, source).run()  # no --artifacts
        base = imported(client)[ids["baseline"]]
        assert client.list_artifacts(base.id) == []
        # said once for the root, and on the run (it may have logged none: not a failure;
        # the model version registered from its files is one, as their source is not here)
        assert [f.kind for f in first.failures] == ["model version", "alias"]
        [said] = [w for w in first.warnings if w.kind == "artifacts"]
        assert said.item == "/srv/elsewhere/mlruns" and "1 run(s)" in said.reason
        assert "/srv/elsewhere/mlruns was not on this machine" in base.tags[IMPORTED_WITHOUT_FILES]
        again = MlflowImporter(client, source).run()  # still not here: still said
        assert IMPORTED_WITHOUT_FILES in imported(client)[ids["baseline"]].tags
        assert "artifacts" not in {f.kind for f in again.failures}
        given = MlflowImporter(client, source, str(mlflow_copy / "mlruns")).run()
    finally:
        source.close()
    assert given.failures == [] and given.new["artifacts"] >= 3
    base = imported(client)[ids["baseline"]]
    assert IMPORTED_WITHOUT_FILES not in base.tags
    assert "notes.txt" in {a.path for a in client.list_artifacts(base.id)}


def test_a_store_whose_model_versions_table_is_gone_says_so(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its versions vanished unsaid (only an alias was listed, naming a version), and each
    registered model was made empty, in the default project."""
    edit(mlflow_copy, ("DROP TABLE model_versions", ()))
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1
    why = {(f["kind"], f["item"]): f["reason"] for f in report["failures"]}
    assert "table model_versions is missing" in why["model version", "(every model version)"]
    assert report["new"]["runs"] == 4  # the rest is imported
    assert sdk.client().list_models() == []


def test_a_file_that_could_not_be_read_is_added_once_it_can(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One unreadable file among a run's (a FIFO) is listed and said on the run; once it
    is a file, the next import adds it and the run says nothing more."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    fifo = mlflow_copy / "mlruns" / "1" / ids["baseline"] / "artifacts" / "plots" / "pipe"
    os.mkfifo(fifo)
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and ("artifact", f"{ids['baseline']} plots/pipe") in failed_items(report)
    c = sdk.client()
    assert imported(c)[ids["baseline"]].tags[IMPORTED_WITHOUT_FILES] == (
        "1 of its files could not be read"
    )
    fifo.unlink()
    fifo.write_text("now a file")
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 0 and report["failures"] == [], report
    base = imported(c)[ids["baseline"]]
    assert "plots/pipe" in {a.path for a in c.list_artifacts(base.id)}
    assert IMPORTED_WITHOUT_FILES not in base.tags


def test_renaming_an_experiment_in_mlflow_does_not_import_its_runs_again(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    edit(mlflow_copy, ("UPDATE experiments SET name = 'fraud-v2' WHERE name = 'fraud'", ()))
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 0, report["failures"]
    assert report["new"]["runs"] == 0 and report["existing"]["runs"] == 4
    assert report["new"]["model versions"] == 0
    assert len(imported(sdk.client())) == 4


def test_registry_is_not_imported_twice_into_another_project(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Earlier versions are found by their import tag in any project: not in the first
    project that has a model of that name, and not only in live projects."""
    c = sdk.client()
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    c.create_project("aaa")
    c.create_model("fraud-model", "aaa")  # another team's model of the same name
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 0 and report["new"]["model versions"] == 0, report
    assert c.list_model_versions("fraud-model", "aaa") == []

    c.delete_project("fraud")
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and sum(report["new"].values()) == 0
    assert "fraud-model" not in {m.name for m in c.list_models("default")}
    assert c.list_model_versions("fraud-model", "aaa") == []


def test_experiments_default_and_Default_are_not_merged(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    edit(
        mlflow_copy,
        (
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage)"
            " VALUES (7, 'default', NULL, 'active')",
            (),
        ),
        ("UPDATE runs SET experiment_id = 7 WHERE run_uuid = ?", (ids["failed"],)),
    )
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1
    assert failed_items(report) == {("experiment", "default (id 7)"), ("run", ids["failed"])}
    why = report["failures"][0]["reason"]
    assert "'default'" in why and "Default (id 0)" in why
    runs = imported(sdk.client())
    assert runs[ids["default"]].project == "default" and ids["failed"] not in runs


def test_an_experiment_name_that_is_no_project_name_is_imported_where_the_api_finds_it(
    home: Path, mlflow_copy: Path, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    name = "/Users/ana@corp.com/fraud"
    edit(mlflow_copy, ("UPDATE experiments SET name = ? WHERE name = 'fraud'", (name,)))
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 0, report["failures"]
    c = sdk.client()
    [project] = {r.project for r in imported(c).values()} - {"default"}
    assert project.startswith("Users-ana-corp.com-fraud-")
    assert c.get_project(project).tags["mlflow.experimentName"] == name
    # MLflow code pointed at a setpoint server over the same store finds it by its name
    ml = MlflowClient(serve(c).url)
    assert ml.get_experiment_by_name(name).experiment_id == project
    assert len(ml.search_runs([project])) == 3
    code, report = report_of(capsys, *import_args(mlflow_copy))  # twice changes nothing
    assert code == 0 and sum(report["new"].values()) == 0, report


def test_a_run_imported_while_running_that_ended_since_is_listed(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    set_status = "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?"
    edit(mlflow_copy, (set_status, ("RUNNING", None, ids["failed"])))
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    assert imported(sdk.client())[ids["failed"]].status == "running"

    edit(mlflow_copy, (set_status, ("FAILED", 1_700_000_011_000, ids["failed"])))
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and report["existing"]["runs"] == 3
    assert failed_items(report) == {("run", ids["failed"])}
    assert "has ended in MLflow since (FAILED)" in report["failures"][0]["reason"]


def test_experiment_tags_and_a_registered_models_description_and_tags_are_kept(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        mlflow_copy,
        (
            "INSERT INTO experiment_tags (key, value, experiment_id)"
            " SELECT 'owner', 'risk-team', experiment_id FROM experiments WHERE name = 'fraud'",
            (),
        ),
        ("UPDATE registered_models SET description = 'Scores card payments'", ()),
        (
            "INSERT INTO registered_model_tags (key, value, name) VALUES (?, ?, ?)",
            ("tier", "gold", "fraud-model"),
        ),
    )
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    c = sdk.client()
    assert c.get_project("fraud").tags["owner"] == "risk-team"
    model = c.get_model("fraud-model", "fraud")
    assert (model.description, model.tags["tier"]) == ("Scores card payments", "gold")
    # what was changed in setpoint since is not overwritten, and twice changes nothing
    c.update_model("fraud-model", "fraud", "Ours now", None)
    before = len(c.list_audit_events(limit=10_000))
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    assert c.get_model("fraud-model", "fraud").description == "Ours now"
    assert len(c.list_audit_events(limit=10_000)) == before


def test_another_version_under_an_imported_name_and_number_is_imported_too(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version was known by its name and number only: a model deleted and made again in
    MLflow (or another store's model of that name) had its versions skipped as imported."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    # fraud-model deleted and made again: its v1 is now the logged model of run v3
    con = sqlite3.connect(mlflow_copy / "mlflow.db")
    source = con.execute("SELECT source FROM model_versions WHERE version = 2").fetchone()[0]
    con.close()
    edit(
        mlflow_copy,
        (
            "UPDATE model_versions SET source = ?, run_id = ? WHERE version = 1",
            (source, ids["v3"]),
        ),
        (
            "INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)",
            ("fraud-model", "challenger", 1),
        ),
    )
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert report["new"]["model versions"] == 1 and report["existing"]["model versions"] == 1
    c = sdk.client()
    v3 = c.get_model_version("fraud-model", 3, "fraud")
    assert v3.tags["mlflow.imported_version"] == "fraud-model/1"
    assert v3.tags["mlflow.imported_source"] == source
    assert v3.run_id == imported(c)[ids["v3"]].id
    # the aliases follow MLflow's v1; one set to the old v1 before is listed, not moved
    assert c.get_model("fraud-model", "fraud").aliases == {"champion": 1, "challenger": 3}
    assert code == 1 and failed_items(report) == {("alias", "fraud-model@champion")}

    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert sum(report["new"].values()) == 0 and report["existing"]["model versions"] == 2


def test_a_version_whose_run_is_not_imported_yet_waits_for_it(
    home: Path, mlflow_copy: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version whose run failed to import was registered without it in `default`, and the
    model's later versions followed it there."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    corrupt(mlflow_copy / "mlflow.db", "metrics")  # the runs with metrics cannot be imported
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and report["new"]["model versions"] == 0
    assert {ids["baseline"], ids["v3"]} <= {f["item"] for f in report["failures"]}
    why = {f["item"]: f["reason"] for f in report["failures"] if f["kind"] == "model version"}
    assert set(why) == {"fraud-model v1", "fraud-model v2"}
    assert f"its run {ids['baseline']} is not imported" in why["fraud-model v1"]
    c = sdk.client()
    assert "fraud-model" not in {m.name for m in c.list_models()}

    shutil.copy(store / "mlflow.db", mlflow_copy / "mlflow.db")  # the table mended
    code, _, err = run_cli(capsys, *import_args(mlflow_copy))
    assert code == 0, err
    check_everything_there(c, ids)  # in the runs' project, with their runs, alias and all


def test_versions_of_unreadable_runs_wait_for_them(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(mlflow_copy / "mlflow.db", "runs")
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and report["new"]["model versions"] == 0
    assert {"fraud-model v1", "fraud-model v2"} <= {f["item"] for f in report["failures"]}
    assert "fraud-model" not in {m.name for m in sdk.client().list_models()}


def test_a_child_whose_parent_failed_is_imported_with_it_later(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children whose parent failed were imported without one, and stayed so for good."""
    parent_id = seed(NESTED, tmp_path).strip().splitlines()[-1]
    c = sdk.client()
    source = MlflowDatabase(f"sqlite:///{tmp_path / 'mlflow.db'}").open()
    metrics = source.metrics

    def failing(run_id: str) -> list[Any]:
        if run_id == parent_id:
            raise OSError("disk I/O error")
        return metrics(run_id)

    try:
        monkeypatch.setattr(source, "metrics", failing)
        report = MlflowImporter(c, source).run()
        assert report.new["runs"] == 0 and imported(c) == {}
        assert len(report.failures) == 3
        assert all(f.kind == "run" for f in report.failures)
        children = [f for f in report.failures if f.item != parent_id]
        assert all(f"parent run {parent_id} is not imported" in f.reason for f in children)
        monkeypatch.setattr(source, "metrics", metrics)
        again = MlflowImporter(c, source).run()
    finally:
        source.close()
    assert again.failures == [] and again.new["runs"] == 3
    runs = {r.name: r for r in imported(c).values()}
    assert runs["early"].parent_id == runs["same-time"].parent_id == runs["parent"].id


def test_a_fifo_among_the_files_is_listed_not_waited_on(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening a FIFO waits for a writer: the import hung for good on one."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    folder = mlflow_copy / "mlruns" / "1" / ids["baseline"] / "artifacts"
    fifos = [folder / "plots" / "pipe", folder / "model" / "pipe"]
    for fifo in fifos:
        os.mkfifo(fifo)
    stop = threading.Event()

    def rescue() -> None:  # frees a reader stuck on a FIFO, so that a hang fails instead
        while not stop.wait(0.2):
            for fifo in fifos:
                with suppress(OSError):  # no reader: nobody to free
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    writer = threading.Thread(target=rescue, daemon=True)
    writer.start()
    try:
        code, report = report_of(capsys, *import_args(mlflow_copy))
    finally:
        stop.set()
        writer.join()
    assert code == 1
    why = {(f["kind"], f["item"]): f["reason"] for f in report["failures"]}
    assert set(why) == {
        ("artifact", f"{ids['baseline']} plots/pipe"),
        ("artifact", f"{ids['baseline']} model/pipe"),
        ("model version", "fraud-model v1"),  # it may not load without the file
        ("alias", "fraud-model@champion"),
    }
    assert "a FIFO, not a regular file" in why[("artifact", f"{ids['baseline']} plots/pipe")]
    assert f"{folder / 'model'}/pipe is a FIFO" in why[("model version", "fraud-model v1")]
    c = sdk.client()
    paths = {a.path for a in c.list_artifacts(imported(c)[ids["baseline"]].id)}
    assert "plots/roc.csv" in paths and not {"plots/pipe", "model/pipe"} & paths


@pytest.mark.filterwarnings("ignore::UserWarning")  # MLflow's, on the model's signature
def test_a_logged_model_version_loads_through_setpoints_mlflow_api(
    sqlite_settings: Any, serve: Any, mlflow_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MLflow 3 logged model (v2's source, models:/m-...) becomes setpoint's own logged
    model, made once: MLflow's client loads the version through a `setpoint server`. The
    version kept MLflow's id of the model, which that server knows nothing of."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient

    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    report, again = import_twice(LocalClient(sqlite_settings).open(), mlflow_copy)
    assert report.failures == [] and sum(again.new.values()) == 0
    models = local.search_runs(None, "tags.kind = 'mlflow_model'", None, 100, None, "all").runs
    assert len(models) == 1  # the second import found it
    server = serve(local)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ml = MlflowClient(server.url)
    v = ml.get_model_version("fraud-model", "2")  # MLflow's client drops its model_id
    model_id = v.source.removeprefix("models:/")
    assert model_id == f"m-{models[0].id}"
    model = ml.get_logged_model(model_id)
    assert (model.name, model.source_run_id) == ("clf", v.run_id)
    assert "MLmodel" in {a.path for a in ml.list_logged_model_artifacts(model_id)}
    loaded = mlflow.pyfunc.load_model("models:/fraud-model/2")
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]
    local.close()


def test_a_version_made_from_another_gets_its_files(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version whose source names another registered version (models:/name@alias,
    models:/name/2: MLflow's copy_model_version) has that version's files, found without
    the storage_location a server's REST API does not give."""
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    add = (
        "INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
        "current_stage, source, run_id, status) VALUES ('fraud-model', ?, 1, 1, 'None', ?, ?, "
        "'READY')"
    )
    edit(
        mlflow_copy,
        (add, (3, "models:/fraud-model@champion", ids["baseline"])),
        (add, (4, "models:/fraud-model/2", ids["v3"])),
    )
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 0 and report["new"]["model versions"] == 4
    c = sdk.client()
    v1, v2, v3, v4 = c.list_model_versions("fraud-model", "fraud")
    assert (v3.digest, v4.digest) == (v1.digest, v2.digest)
    assert v3.tags["mlflow.source"] == f"runs:/{imported(c)[ids['baseline']].id}/model"
    assert v4.tags["mlflow.model_id"] == v2.tags["mlflow.model_id"]  # one logged model
    assert len(c.search_runs(None, "tags.kind = 'mlflow_model'").runs) == 1


def test_a_binary_param_is_text_when_it_is_utf8_and_listed_when_not(
    home: Path, mlflow_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = json.loads((mlflow_copy / "ids.json").read_text())
    set_value = "UPDATE params SET value = ? WHERE run_uuid = ? AND key = ?"
    edit(
        mlflow_copy,
        (set_value, ("déjà".encode(), ids["baseline"], "lr")),
        (set_value, (b"\xff\x00", ids["baseline"], "max_depth")),
    )
    code, report = report_of(capsys, *import_args(mlflow_copy))
    assert code == 1 and failed_items(report) == {("param", f"{ids['baseline']} max_depth")}
    assert "binary data" in report["failures"][0]["reason"]
    assert imported(sdk.client())[ids["baseline"]].params == {"lr": "déjà"}
