"""`setpoint import mlflow` of an MLflow registry (made by the real MLflow client): version
numbers kept as MLflow's, logged models that were never registered, models without versions,
a version made in another experiment, MLflow file stores, and what a run's record lacks."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli, seed
from setpoint.client.mlflow_database import MlflowDatabase
from setpoint.client.mlflow_import import IMPORTED_MODEL, IMPORTED_RUN, MlflowImporter

pytest.importorskip("mlflow")

# churn: v1, v2, v3 made by three runs, v2 deleted, @best on v3; cross: v1 by a run of
# "shop", v2 by a run of "other"; a logged model never registered; a model with no version.
SEED = r"""
import json, os, pathlib, sys, tempfile
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

root = pathlib.Path(sys.argv[1])
uri = f"sqlite:///{root}/mlflow.db"
mlflow.set_tracking_uri(uri)
c = MlflowClient(uri)
shop = c.create_experiment("shop", artifact_location=str(root / "mlruns" / "1"))
other = c.create_experiment("other", artifact_location=str(root / "mlruns" / "2"))
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
folder = pathlib.Path(tempfile.mkdtemp()) / "model"
mlflow.sklearn.save_model(model, str(folder), pip_requirements=[])
T = 1_700_000_000_000
ids = {}

def trained(exp, name):
    r = c.create_run(exp, run_name=name, start_time=T)
    c.log_artifacts(r.info.run_id, str(folder), "model")
    c.set_terminated(r.info.run_id, "FINISHED", end_time=T + 1)
    ids[name] = r.info.run_id
    return r.info.run_id

c.create_registered_model("churn")
for i in (1, 2, 3):
    rid = trained(shop, f"train-{i}")
    c.create_model_version("churn", f"runs:/{rid}/model", run_id=rid)
c.delete_model_version("churn", "2")
c.set_registered_model_alias("churn", "best", "3")
c.create_registered_model("cross")
rid = trained(shop, "cross-1")
c.create_model_version("cross", f"runs:/{rid}/model", run_id=rid)
rid = trained(other, "cross-2")
c.create_model_version("cross", f"runs:/{rid}/model", run_id=rid)
with mlflow.start_run(experiment_id=shop, run_name="logged") as lr:
    info = mlflow.sklearn.log_model(model, name="clf", pip_requirements=[])
ids["logged"] = lr.info.run_id
ids["logged_model"] = info.model_id
c.create_registered_model("empty", tags={"team": "risk"}, description="nothing yet")
(root / "ids.json").write_text(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mlflow-registry")
    seed(SEED, root)
    return root


@pytest.fixture
def src(store: Path, tmp_path: Path) -> Path:
    """A copy of the store, to edit (its DB names the original's paths: --artifacts here)."""
    return Path(shutil.copytree(store, tmp_path / "mlflow"))


def import_into(client: Any, src: Path) -> Any:
    source = MlflowDatabase(f"sqlite:///{src / 'mlflow.db'}").open()
    try:
        return MlflowImporter(client, source, str(src / "mlruns")).run()
    finally:
        source.close()


def items(found: list[Any]) -> set[tuple[str, str]]:
    return {(f.kind, f.item) for f in found}


def by_mlflow(c: Any, name: str) -> dict[str, int]:
    """MLflow's name/number -> the setpoint version imported from it."""
    return {
        v.tags["mlflow.imported_version"]: v.version
        for v in c.list_model_versions(name, "shop", "all")
    }


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_version_numbers_are_mlflows_with_their_gaps(client: Any, src: Path) -> None:
    """MLflow's v3 (v2 deleted there) is setpoint's v3: models:/churn/3 names the same model
    in both, and models:/churn/2 none."""
    report = import_into(client, src)
    assert report.failures == []
    assert by_mlflow(client, "churn") == {"churn/1": 1, "churn/3": 3}
    assert client.get_model("churn", "shop").aliases == {"best": 3}
    assert client.get_model("churn", "shop").latest_version == 3


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_version_that_comes_on_a_later_import_keeps_its_number(client: Any, src: Path) -> None:
    ids = json.loads((src / "ids.json").read_text())
    held = src / "mlruns" / "1" / ids["train-1"] / "artifacts" / "model"
    shutil.move(held, src / "away")  # v1's files are not there: it fails this time
    report = import_into(client, src)
    assert ("model version", "churn v1") in items(report.failures)
    assert by_mlflow(client, "churn") == {"churn/3": 3}
    shutil.move(src / "away", held)
    again = import_into(client, src)
    assert again.failures == [] and again.new["model versions"] == 1
    assert by_mlflow(client, "churn") == {"churn/1": 1, "churn/3": 3}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_number_taken_in_setpoint_is_said_and_the_version_gets_the_next(
    client: Any, src: Path
) -> None:
    import_into(client, src)
    # the model deleted and made again in MLflow: its v1 is another model
    con = sqlite3.connect(src / "mlflow.db")
    con.execute("UPDATE model_versions SET source = source || '/' WHERE name = 'churn'")
    con.commit()
    con.close()
    report = import_into(client, src)
    assert items(report.failures) == {("alias", "churn@best")}  # left on the first v3
    assert items(report.warnings) >= {("model version", "churn v1"), ("model version", "churn v3")}
    assert sorted(v.version for v in client.list_model_versions("churn", "shop")) == [1, 3, 4, 5]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_logged_model_never_registered_is_imported_once(client: Any, src: Path) -> None:
    ids = json.loads((src / "ids.json").read_text())
    report = import_into(client, src)
    assert report.failures == [] and report.new["logged models"] == 1
    page = client.search_runs(None, f"tags.`{IMPORTED_MODEL}` LIKE '%'", None, 100, None)
    (model,) = page.runs
    assert model.tags[IMPORTED_MODEL] == ids["logged_model"] and model.name == "clf"
    logged = {
        r.tags[IMPORTED_RUN]: r
        for r in client.search_runs(None, None, None, 100, None).runs
        if IMPORTED_RUN in r.tags
    }[ids["logged"]]
    assert model.parent_id == logged.id and model.project == "shop"
    assert "MLmodel" in {a.path for a in client.list_artifacts(model.id)}
    # the run's output, as MLflow lists it in the run's outputs.model_outputs
    edges = client.get_lineage("run", logged.id)
    assert [(e.relation, e.target_id) for e in edges if e.source_id == logged.id] == [
        ("produced", model.id)
    ]
    again = import_into(client, src)
    assert again.new["logged models"] == 0 and again.existing["logged models"] == 1
    # an import made before the link was recorded gets it from the next import
    with client.db.write() as conn:
        conn.exec_driver_sql("DELETE FROM lineage_edges WHERE relation = 'produced'")
    assert import_into(client, src).existing["logged models"] == 1
    edges = client.get_lineage("run", logged.id)
    assert [(e.relation, e.target_id) for e in edges if e.source_id == logged.id] == [
        ("produced", model.id)
    ]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_logged_model_whose_files_cannot_be_read_is_listed(client: Any, src: Path) -> None:
    ids = json.loads((src / "ids.json").read_text())
    shutil.rmtree(src / "mlruns" / "1" / "models")
    con = sqlite3.connect(src / "mlflow.db")
    con.execute("UPDATE logged_models SET artifact_location = ?", (str(src / "gone"),))
    con.commit()
    con.close()
    report = import_into(client, src)
    assert items(report.failures) == {("logged model", f"clf ({ids['logged_model']})")}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_registered_model_without_versions_is_imported(client: Any, src: Path) -> None:
    report = import_into(client, src)
    assert report.failures == []
    empty = client.get_model("empty", "default")
    assert (empty.description, empty.tags, empty.latest_version) == (
        "nothing yet",
        {"team": "risk"},
        0,
    )
    again = import_into(client, src)
    assert again.failures == [] and sum(again.new.values()) == 0


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_version_made_in_another_experiment_keeps_its_run_as_lineage(
    client: Any, src: Path
) -> None:
    ids = json.loads((src / "ids.json").read_text())
    report = import_into(client, src)
    assert report.failures == [] and items(report.warnings) == {("model version", "cross v2")}
    v2 = client.get_model_version("cross", 2, "shop")
    assert v2.run_id is None and v2.tags["mlflow.imported_version_run"] == ids["cross-2"]
    made = {
        r.tags.get(IMPORTED_RUN): r.id for r in client.search_runs(None, None, None, 100, None).runs
    }
    edges = client.get_lineage("model_version", "shop/cross/2")
    assert [(e.source_kind, e.source_id, e.relation) for e in edges] == [
        ("run", made[ids["cross-2"]], "produced")
    ]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_status_or_time_mlflow_does_not_have_is_said(client: Any, src: Path) -> None:
    ids = json.loads((src / "ids.json").read_text())
    con = sqlite3.connect(src / "mlflow.db")
    con.execute("PRAGMA ignore_check_constraints = ON")  # a store MLflow did not check
    con.execute("UPDATE runs SET status = 'WEIRD' WHERE run_uuid = ?", (ids["train-1"],))
    con.execute(
        "UPDATE runs SET start_time = NULL, end_time = NULL WHERE run_uuid = ?", (ids["train-3"],)
    )
    con.commit()
    con.close()
    report = import_into(client, src)
    assert report.failures == []
    assert items(report.warnings) >= {("run", ids["train-1"]), ("run", ids["train-3"])}
    said = {w.reason for w in report.warnings if w.item == ids["train-3"]}
    assert any("no start time" in r for r in said) and any("without an end time" in r for r in said)


# ---------------------------------------------------------------- sources not read


def test_an_mlflow_file_store_is_one_line_naming_the_way_round(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlruns" / "0").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for url in (f"file://{tmp_path}/mlruns", "./mlruns", str(tmp_path / "mlruns")):
        code, out, err = run_cli(capsys, "import", "mlflow", "--from", url)
        assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1
        assert "MLflow file store" in err and "mlflow server --backend-store-uri" in err


CROSS_LOGGED = r"""
import os, pathlib, sys
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression

root = pathlib.Path(sys.argv[1])
mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
for exp in ("other", "shop", "shop"):  # v1 logged by a run of another experiment
    mlflow.set_experiment(exp)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="clf", registered_model_name="xlog", pip_requirements=[])
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_logged_model_behind_a_version_of_another_project_is_imported_once(
    client: Any, tmp_path: Path
) -> None:
    """A version lives with the model's other versions, its logged model with the run that
    logged it, in another project: the import made that logged model a second time."""
    root = tmp_path / "cross"
    root.mkdir()
    seed(CROSS_LOGGED, root)
    source = MlflowDatabase(f"sqlite:///{root / 'mlflow.db'}").open()
    try:
        report = MlflowImporter(client, source, str(root / "mlruns")).run()
        assert report.failures == [] and report.new["logged models"] == 3
        assert MlflowImporter(client, source, str(root / "mlruns")).run().new["logged models"] == 0
    finally:
        source.close()
    page = client.search_runs(None, f"tags.`{IMPORTED_MODEL}` LIKE '%'", None, 100, None)
    assert len(page.runs) == 3
    assert len({r.tags[IMPORTED_MODEL] for r in page.runs}) == 3
    (home,) = [m.project for m in client.list_models() if m.name == "xlog"]
    holders = {
        client.get_run(v.tags["mlflow.model_id"].removeprefix("m-")).project
        for v in client.list_model_versions("xlog", home)
    }
    # each where the run that logged it is, as in MLflow, the model's versions all in one
    assert holders == {"other", "shop"}
