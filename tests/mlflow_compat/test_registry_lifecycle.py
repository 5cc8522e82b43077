"""The registry's housekeeping through the real MLflow client: descriptions, tags (and
searching by them), stages, deleting versions and models; setpoint's own view agrees and the
aliases that guard production are respected."""

from __future__ import annotations

from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sklearn")


def _versions(n: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import setpoint as sp

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (x.a > 0).astype(int)
    for c in range(1, n + 1):
        with sp.start_run(project="fraud") as run:
            run.log_model(LogisticRegression(C=c).fit(x, y), "scorer", input_example=x[:3])


def _versions_in(project: str) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import setpoint as sp

    x = np.random.default_rng(1).normal(size=(40, 2))
    with sp.start_run(project=project) as run:
        run.log_model(LogisticRegression().fit(x, x[:, 0] > 0), "another")


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:.*get_latest_versions.*:FutureWarning")
def test_registry_housekeeping_through_mlflow(
    client: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _versions(3)
    server = serve(client)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    ml = MlflowClient(server.url)

    ml.update_registered_model("scorer", description="scores card payments")
    ml.set_registered_model_tag("scorer", "team", "risk")
    got = ml.get_registered_model("scorer")
    assert got.description == "scores card payments" and got.tags == {"team": "risk"}
    assert [m.name for m in ml.search_registered_models("tags.team = 'risk'")] == ["scorer"]
    assert ml.search_registered_models("tags.team = 'growth'") == []
    _versions_in("other")
    # a model without the tag is not one whose tag differs, as in MLflow
    assert [m.name for m in ml.search_registered_models("tags.team != 'growth'")] == ["scorer"]
    page = ml.search_registered_models(max_results=1)
    assert len(page) == 1 and page.token
    rest = ml.search_registered_models(max_results=1, page_token=page.token)
    assert len(rest) == 1 and not rest.token
    ml.delete_registered_model_tag("scorer", "team")
    assert ml.get_registered_model("scorer").tags == {}
    assert client.get_model("scorer", "fraud").description == "scores card payments"

    ml.update_model_version("scorer", "2", description="tuned C")
    ml.set_model_version_tag("scorer", "2", "reviewed", "yes")
    v2 = ml.get_model_version("scorer", "2")
    assert v2.description == "tuned C" and v2.tags["reviewed"] == "yes"
    found = ml.search_model_versions("name = 'scorer' and tags.reviewed = 'yes'")
    assert [v.version for v in found] == ["2"]
    found = ml.search_model_versions("name = 'scorer' and tags.reviewed != 'no'")
    assert [v.version for v in found] == ["2"]
    ml.delete_model_version_tag("scorer", "2", "reviewed")
    # pages: a search cut at max_results said nothing of what followed
    first = ml.search_model_versions("name = 'scorer'", max_results=2)
    assert len(first) == 2 and first.token
    rest = ml.search_model_versions("name = 'scorer'", max_results=2, page_token=first.token)
    assert sorted(v.version for v in [*first, *rest]) == ["1", "2", "3"] and not rest.token
    with pytest.raises(MlflowException, match="page_token") as bad:
        ml.search_model_versions("name = 'scorer'", page_token="x")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "reviewed" not in ml.get_model_version("scorer", "2").tags

    # stages (deprecated in MLflow, kept as a tag) with archive_existing_versions
    ml.transition_model_version_stage("scorer", "1", "Production")
    moved = ml.transition_model_version_stage(
        "scorer", "2", "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert ml.get_model_version("scorer", "1").current_stage == "Archived"
    assert [v.version for v in ml.get_latest_versions("scorer", ["Production"])] == ["2"]
    assert [v.version for v in ml.get_latest_versions("scorer", ["Staging"])] == []
    # what models:/scorer/Production resolves through: the version in that stage, not v3
    assert [v.version for v in ml.get_latest_versions("scorer")] == ["1", "2", "3"]
    with pytest.raises(MlflowException, match="stage"):
        ml.transition_model_version_stage("scorer", "3", "Canary")

    ml.set_registered_model_alias("scorer", "champion", "3")
    with pytest.raises(MlflowException, match="champion") as aliased:
        ml.delete_model_version("scorer", "3")
    assert aliased.value.error_code == "INVALID_PARAMETER_VALUE"
    ml.delete_model_version("scorer", "1")
    assert [v.version for v in ml.search_model_versions("name = 'scorer'")] == ["3", "2"]
    with pytest.raises(MlflowException) as gone:
        ml.get_model_version("scorer", "1")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="rename"):
        ml.rename_registered_model("scorer", "scorer-2")

    with pytest.raises(MlflowException, match="champion"):
        ml.delete_registered_model("scorer")
    ml.delete_registered_model_alias("scorer", "champion")
    ml.delete_registered_model("scorer")
    assert [m.name for m in ml.search_registered_models()] == ["another"]
    assert client.list_models("fraud") == []
    actions = {e.action for e in client.list_audit_events(project="fraud", limit=1000)}
    assert {"model.delete", "model_version.delete", "model.update"} <= actions


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning")
def test_registered_model_names_that_are_no_model_names_are_kept(client: Any, ml: Any) -> None:
    """MLflow's registered model names are free text ("Fraud Detector"): log_model registers
    it, and every registry call sees and takes the name as given, while setpoint keeps the
    model under a name of its rules with the name in a tag."""
    import numpy as np
    from mlflow.exceptions import MlflowException
    from sklearn.linear_model import LogisticRegression

    from setpoint.core.names import MODEL_NAME_TAG, registered_model

    name = "Fraud Detector"
    x = np.random.default_rng(0).normal(size=(60, 3))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    mlflow.set_experiment("fraud")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="m", registered_model_name=name, pip_requirements=[])
        mlflow.sklearn.log_model(model, name="m2", registered_model_name=name, pip_requirements=[])
    ml.set_registered_model_alias(name, "champion", "2")
    ml.set_registered_model_tag(name, "team", "risk")

    got = ml.get_registered_model(name)
    assert got.name == name and got.tags == {"team": "risk"}
    assert got.aliases == {"champion": "2"}
    assert [v.name for v in got.latest_versions] == [name]
    v2 = ml.get_model_version_by_alias(name, "champion")
    assert (v2.name, v2.version, v2.run_id) == (name, "2", run.info.run_id)
    assert ml.get_model_version(name, "1").name == name
    assert [m.name for m in ml.search_registered_models("name LIKE 'Fraud %'")] == [name]
    assert [m.name for m in ml.search_registered_models("name = 'Fraud-Detector'")] == []
    found = ml.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in found) == ["1", "2"] and {v.name for v in found} == {name}
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert (loaded.predict(x[:5]) == model.predict(x[:5])).all()
    with pytest.raises(MlflowException, match="already exists"):
        ml.create_registered_model(name)
    with pytest.raises(MlflowException, match="keeps the registered model's name") as kept:
        ml.set_registered_model_tag(name, MODEL_NAME_TAG, "other")
    assert kept.value.error_code == "INVALID_PARAMETER_VALUE"

    # setpoint's own view: a model of its rules, the name kept in a tag
    kept_as = registered_model(name)
    assert kept_as.startswith("Fraud-Detector-") and kept_as != name
    m = client.get_model(kept_as, "fraud")
    assert m.tags == {MODEL_NAME_TAG: name, "team": "risk"} and m.aliases == {"champion": 2}

    # a name made before its first version, and a name differing only where setpoint's
    # names cannot, are other registered models
    ml.create_registered_model("fraud detector", tags={"stage": "draft"})
    assert ml.get_registered_model("fraud detector").tags == {"stage": "draft"}
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model, name="m", registered_model_name="fraud detector", pip_requirements=[]
        )
    other = ml.get_registered_model("fraud detector")
    assert other.tags == {"stage": "draft"} and other.latest_versions[0].version == "1"
    assert client.get_model(registered_model("fraud detector"), "fraud").tags[MODEL_NAME_TAG]
    ml.delete_registered_model("fraud detector")
    assert [m.name for m in ml.search_registered_models()] == [name]
    # LIKE as in SQL: '_' any one character, '\_' an underscore
    assert [m.name for m in ml.search_registered_models("name LIKE 'Fraud_D%'")] == [name]
    assert ml.search_registered_models("name LIKE 'Fraud\\_D%'") == []
