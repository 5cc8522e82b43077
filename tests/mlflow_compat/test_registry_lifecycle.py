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
