"""Where the registry answered MLflow clients unlike MLflow's own server (found by running
both side by side): versions of unregistered names, registered models with no version yet,
search order, latest versions per stage, empty tag values, missing tags and aliases,
reserved aliases and setpoint's own version tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.0
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
mlflow_version: 3.0.0
"""


def _source(ml: Any, tmp_path: Path) -> tuple[str, str]:
    """(source, run id) of an MLflow model folder logged to a run of the server."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(b"not really a model")
    run_id = ml.create_run("0").info.run_id
    ml.log_artifacts(run_id, str(folder), "model")
    return f"runs:/{run_id}/model", run_id


def _versions(ml: Any, tmp_path: Path, name: str, n: int) -> tuple[str, str]:
    source, run_id = _source(ml, tmp_path)
    for _ in range(n):
        ml.create_model_version(name, source, run_id=run_id)
    return source, run_id


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_version_needs_its_registered_model(client: Any, ml: Any, tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    source, run_id = _source(ml, tmp_path)
    with pytest.raises(MlflowException, match="name=never not found") as missing:
        ml.create_model_version("never", source, run_id=run_id)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.list_models("default") == []
    assert ml.search_registered_models() == []

    ml.create_registered_model("made")  # what log_model(registered_model_name=...) does first
    assert ml.create_model_version("made", source, run_id=run_id).version == "1"
    assert ml.create_model_version("made", source, run_id=run_id).version == "2"
    assert [m.name for m in client.list_models("default")] == ["made"]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.filterwarnings("ignore:.*get_latest_versions.*:FutureWarning")
def test_a_registered_model_with_no_version_yet_keeps_what_it_was_given(
    client: Any, ml: Any, tmp_path: Path
) -> None:
    ml.create_registered_model("early", tags={"owner": "me"}, description="first")
    got = ml.get_registered_model("early")
    assert (got.description, got.tags, got.latest_versions) == ("first", {"owner": "me"}, [])
    ml.update_registered_model("early", description="second")
    ml.set_registered_model_tag("early", "team", "risk")
    ml.delete_registered_model_tag("early", "owner")
    assert ml.get_latest_versions("early") == []
    found = ml.search_registered_models("tags.team = 'risk'")
    assert [(m.name, m.description, m.tags) for m in found] == [
        ("early", "second", {"team": "risk"})
    ]

    _versions(ml, tmp_path, "early", 1)  # the setpoint model is made with what it held
    model = client.get_model("early", "default")
    assert (model.description, model.tags) == ("second", {"team": "risk"})
    got = ml.get_registered_model("early")
    assert (got.description, got.tags) == ("second", {"team": "risk"})
    assert [m.name for m in ml.search_registered_models()] == ["early"]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_registered_model_with_no_version_outlives_its_server(
    client: Any, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made by one server, it is there for another over the same store (a restart), which
    gives its first version what it held and refuses to make it again."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    first, second = (MlflowClient(serve(client).url) for _ in range(2))
    first.create_registered_model("early", tags={"owner": "me"}, description="first")
    got = second.get_registered_model("early")
    assert (got.description, got.tags, got.latest_versions) == ("first", {"owner": "me"}, [])
    assert [m.name for m in second.search_registered_models()] == ["early"]
    with pytest.raises(MlflowException, match="already exists") as again:
        second.create_registered_model("early")
    assert again.value.error_code == "RESOURCE_ALREADY_EXISTS"
    second.set_registered_model_tag("early", "team", "risk")
    assert first.get_registered_model("early").tags == {"owner": "me", "team": "risk"}

    _versions(second, tmp_path, "early", 1)
    model = client.get_model("early", "default")
    assert (model.description, model.tags) == ("first", {"owner": "me", "team": "risk"})
    assert client.list_model_reservations() == []  # taken over by the model
    first.create_registered_model("later")
    first.delete_registered_model("later")
    with pytest.raises(MlflowException, match="not found"):
        second.get_registered_model("later")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_searches_follow_mlflow_order_and_page_in_it(ml: Any, tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    for name in ("c-model", "b-model", "a-model"):
        ml.create_registered_model(name)
    _versions(ml, tmp_path, "c-model", 1)
    _versions(ml, tmp_path, "b-model", 2)
    _versions(ml, tmp_path, "a-model", 1)

    def names(**kw: Any) -> list[str]:
        return [m.name for m in ml.search_registered_models(**kw)]

    assert names() == ["a-model", "b-model", "c-model"]  # MLflow's default: name ASC
    assert names(order_by=["name DESC"]) == ["c-model", "b-model", "a-model"]
    pages, token = [], None
    while True:
        got = ml.search_registered_models(max_results=1, order_by=["name DESC"], page_token=token)
        pages += [m.name for m in got]
        if not (token := got.token):
            break
    assert pages == ["c-model", "b-model", "a-model"]
    with pytest.raises(MlflowException, match="bogus") as bad:
        ml.search_registered_models(order_by=["bogus DESC"])
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"

    def versions(**kw: Any) -> list[tuple[str, str]]:
        return [(v.name, v.version) for v in ml.search_model_versions(**kw)]

    # MLflow's default: newest first (then name ASC, version DESC)
    newest = [("a-model", "1"), ("b-model", "2"), ("b-model", "1"), ("c-model", "1")]
    assert versions() == newest
    assert versions(filter_string="name = 'b-model'") == [("b-model", "2"), ("b-model", "1")]
    by_number = [("a-model", "1"), ("b-model", "1"), ("c-model", "1"), ("b-model", "2")]
    assert versions(order_by=["version_number ASC"]) == by_number
    first = ml.search_model_versions(max_results=2, order_by=["version_number ASC"])
    rest = ml.search_model_versions(
        max_results=2, order_by=["version_number ASC"], page_token=first.token
    )
    assert [(v.name, v.version) for v in [*first, *rest]] == by_number and not rest.token
    with pytest.raises(MlflowException, match="version DESC") as bad:
        ml.search_model_versions(order_by=["version DESC"])
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning")
def test_latest_versions_hold_the_newest_in_each_stage(ml: Any, tmp_path: Path) -> None:
    ml.create_registered_model("scorer")
    _versions(ml, tmp_path, "scorer", 4)
    ml.transition_model_version_stage("scorer", "1", "Production")
    ml.transition_model_version_stage("scorer", "2", "Staging")
    ml.transition_model_version_stage("scorer", "3", "Staging")
    latest = ml.get_registered_model("scorer").latest_versions
    assert [(v.version, v.current_stage) for v in latest] == [
        ("1", "Production"),
        ("3", "Staging"),
        ("4", "None"),
    ]
    found = ml.search_registered_models("name = 'scorer'")[0].latest_versions
    assert [v.version for v in found] == ["1", "3", "4"]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_an_empty_tag_value_is_accepted(ml: Any, tmp_path: Path) -> None:
    ml.create_registered_model("scorer")
    _versions(ml, tmp_path, "scorer", 1)
    ml.set_registered_model_tag("scorer", "note", "x")
    # accepted as MLflow does; in setpoint an empty value removes the tag
    ml.set_registered_model_tag("scorer", "note", "")
    ml.set_model_version_tag("scorer", "1", "note", "")
    assert ml.get_registered_model("scorer").tags == {}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_removing_a_tag_or_alias_that_is_not_there_is_done(ml: Any, tmp_path: Path) -> None:
    ml.create_registered_model("scorer")
    _versions(ml, tmp_path, "scorer", 1)
    ml.delete_registered_model_tag("scorer", "never")
    ml.delete_model_version_tag("scorer", "1", "never")
    ml.delete_registered_model_alias("scorer", "nope")
    assert ml.get_registered_model("scorer").aliases == {}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_version_aliases_are_reserved(ml: Any, tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    ml.create_registered_model("scorer")
    _versions(ml, tmp_path, "scorer", 1)
    for reserved in ("v3", "V1"):
        with pytest.raises(MlflowException, match=f"'{reserved}' is reserved") as refused:
            ml.set_registered_model_alias("scorer", reserved, "1")
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert ml.get_registered_model("scorer").aliases == {}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_missing_alias_is_an_invalid_parameter(ml: Any, tmp_path: Path) -> None:
    from mlflow.exceptions import MlflowException

    ml.create_registered_model("scorer")
    _versions(ml, tmp_path, "scorer", 1)
    with pytest.raises(MlflowException, match="alias nope not found") as missing:
        ml.get_model_version_by_alias("scorer", "nope")
    assert missing.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning")
def test_setpoints_own_version_tags_are_not_shown(ml: Any, tmp_path: Path) -> None:
    ml.create_registered_model("scorer")
    source, _ = _versions(ml, tmp_path, "scorer", 1)
    # source, model id and stage are fields to MLflow clients, not tags
    ml.transition_model_version_stage("scorer", "1", "Staging")
    ml.set_model_version_tag("scorer", "1", "reviewed", "yes")
    v1 = ml.get_model_version("scorer", "1")
    assert v1.tags == {"reviewed": "yes"}
    assert (v1.source, v1.current_stage) == (source, "Staging")
    ml.delete_model_version_tag("scorer", "1", "mlflow.source")  # not theirs to remove
    assert ml.get_model_version_download_uri("scorer", "1").endswith("/artifacts/model")
    assert [v.version for v in ml.search_model_versions("tags.`mlflow.stage` = 'Staging'")] == []


def test_only_editors_learn_of_a_registered_model_with_no_version(
    sqlite_settings: Any, serve: Any
) -> None:
    import httpx

    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    try:
        local.create_project("fraud")
        for role in ("viewer", "editor"):
            local.users.create(role)
            local.users.grant(role, "fraud", role)
        secrets = {r: local.tokens.create(f"{r}-laptop", r) for r in ("viewer", "editor")}
        api = f"{serve(local, enforce_roles=True).url}/api/2.0/mlflow"
        editor = {"authorization": f"Bearer {secrets['editor']}"}
        viewer = {"authorization": f"Bearer {secrets['viewer']}"}
        with httpx.Client() as http:
            made = {"name": "early", "description": "d", "tags": [{"key": "k", "value": "v"}]}
            assert http.post(f"{api}/registered-models/create", json=made, headers=editor)
            # to others it is no registered model at all
            for who, status, found in ((editor, 200, ["early"]), (viewer, 404, [])):
                r = http.get(f"{api}/registered-models/get", params={"name": "early"}, headers=who)
                assert r.status_code == status
                r = http.patch(
                    f"{api}/registered-models/update",
                    json={"name": "early", "description": "e"},
                    headers=who,
                )
                assert r.status_code == status
                r = http.get(f"{api}/registered-models/search", headers=who)
                assert [m["name"] for m in r.json().get("registered_models", [])] == found
            got = http.get(f"{api}/registered-models/get", params={"name": "early"}, headers=editor)
            assert got.json()["registered_model"]["description"] == "e"
    finally:
        local.close()
