"""Roles on MLflow's writes that change nothing: with `setpoint server --auth`, removing an
alias or a tag that is not there, and logging no outputs to a run, are refused to a caller
without the editor role (403, MLflow's PERMISSION_DENIED) as the same call with something to
remove is: what exists is not what decides who may write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from setpoint.client.local import LocalClient

pytest.importorskip("mlflow")

MLMODEL = """artifact_path: model
flavors:
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
mlflow_version: 3.0.0
"""


@pytest.fixture
def server(
    sqlite_settings: Any, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A --auth server with model "modelA" (v1, a model tag, a version tag and alias "prod")
    in project A, a run in project B, and users viewer and editor of A; yields (url, tokens,
    runs)."""
    from mlflow import MlflowClient

    local = LocalClient(sqlite_settings).open()
    try:
        for project in ("A", "B"):
            local.create_project(project)
        in_b = local.create_run("B", "in-B", heartbeats=False)
        local.end_run(in_b.id)
        for role in ("viewer", "editor"):
            local.users.create(role)
            local.users.grant(role, "A", role)
        tokens = {r: local.tokens.create(f"{r}-laptop", r) for r in ("viewer", "editor")}
        url = serve(local, enforce_roles=True).url
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["editor"])
        c = MlflowClient(url)
        run = c.create_run(c.get_experiment_by_name("A").experiment_id, run_name="train")
        files = tmp_path / "model"
        files.mkdir()
        (files / "MLmodel").write_text(MLMODEL)
        (files / "model.pkl").write_bytes(b"not really a model")
        c.log_artifacts(run.info.run_id, str(files), "model")
        c.set_terminated(run.info.run_id)
        c.create_registered_model("modelA")
        c.create_model_version("modelA", f"runs:/{run.info.run_id}/model", run.info.run_id)
        c.set_registered_model_tag("modelA", "k", "v")
        c.set_model_version_tag("modelA", "1", "k", "v")
        c.set_registered_model_alias("modelA", "prod", "1")
        yield url, tokens, {"A": run.info.run_id, "B": in_b.id}
    finally:
        local.close()


def test_removing_what_is_not_there_needs_the_editor_role(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    url, tokens, _ = server
    c = MlflowClient(url)
    calls = {
        "delete_registered_model_alias": ("modelA", "nonexistent"),
        "delete_model_version_tag": ("modelA", "1", "nokey"),
        "delete_registered_model_tag": ("modelA", "nokey"),
    }
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["viewer"])
    for method, args in calls.items():
        with pytest.raises(MlflowException) as refused:
            getattr(c, method)(*args)
        assert refused.value.error_code == "PERMISSION_DENIED", method
        assert "editor role" in refused.value.message, method
    # as with something to remove
    with pytest.raises(MlflowException, match="editor role"):
        c.delete_registered_model_alias("modelA", "prod")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens["editor"])
    for method, args in calls.items():
        getattr(c, method)(*args)  # an editor removes nothing, as MLflow answers
    m = c.get_registered_model("modelA")
    assert (m.aliases, m.tags) == ({"prod": "1"}, {"k": "v"})
    assert c.get_model_version("modelA", "1").tags == {"k": "v"}


def test_logging_no_outputs_to_a_run_needs_the_editor_role_in_its_project(server: Any) -> None:
    url, tokens, runs = server
    api = f"{url}/api/2.0/mlflow/runs/outputs"
    as_viewer = {"authorization": f"Bearer {tokens['viewer']}"}
    as_editor = {"authorization": f"Bearer {tokens['editor']}"}
    with httpx.Client() as http:
        for who, run_id, status in (
            (as_viewer, runs["A"], 403),  # may read it, not write to it
            (as_viewer, runs["B"], 403),
            (as_editor, runs["B"], 403),  # no role in B
            (as_viewer, "../../x", 404),
            (as_editor, "0" * 32, 404),
            (as_editor, runs["A"], 200),
        ):
            r = http.post(api, json={"run_id": run_id}, headers=who)
            assert r.status_code == status, (run_id, r.text)
            if status == 403:
                assert r.json()["error_code"] == "PERMISSION_DENIED"
            elif status == 404:
                assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            r = http.post(api, json={"run_id": run_id, "models": []}, headers=who)
            assert r.status_code == status, (run_id, r.text)


def test_updating_a_run_needs_the_editor_role_also_where_nothing_changes(server: Any) -> None:
    """`runs/update` the run as it is (its status again, or nothing): a viewer's was
    answered 200, where MLflow refuses a reader's update."""
    url, tokens, runs = server
    api = f"{url}/api/2.0/mlflow/runs/update"
    with httpx.Client() as http:
        for body in ({"run_id": runs["A"], "status": "FINISHED"}, {"run_id": runs["A"]}):
            for who, status in (("viewer", 403), ("editor", 200)):
                headers = {"authorization": f"Bearer {tokens[who]}"}
                r = http.post(api, json=body, headers=headers)
                assert r.status_code == status, (who, body, r.text)
                if status == 403:
                    assert r.json()["error_code"] == "PERMISSION_DENIED"
                    assert "editor role" in r.json()["message"]
