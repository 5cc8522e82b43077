"""sp.autolog(): scikit-learn fit calls become runs with data, metrics and a registered model."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import setpoint as sp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def autologging(client: Any) -> Iterator[Any]:
    sp.autolog(project="auto")
    yield client
    sp.autolog(disable=True)


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_each_outermost_fit_is_one_run(autologging: Any) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series((x.a > 0).astype(int), name="label")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    runs = sp.search_runs(project="auto")
    assert len(runs) == 1  # the pipeline, not its steps
    run = runs.iloc[0]
    assert run["params.estimator"] == "sklearn.pipeline.Pipeline"
    assert run["metrics.training_accuracy"] > 0.9 and "metrics.training_roc_auc" in runs
    edges = sp.lineage(run["run_id"])
    consumed = [e.target_id for e in edges if e.relation == "consumed"]
    produced = [e.target_id for e in edges if e.relation == "produced"]
    assert consumed == ["auto/Pipeline-training@1"] and produced == ["auto/Pipeline/1"]
    data = sp.get_dataset("auto/Pipeline-training@1").to_pandas()
    assert list(data.columns) == ["a", "b", "label"] and len(data) == 200
    loaded = sp.load_model("auto/Pipeline/1")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_fits_inside_a_run_nest_under_it_and_disable_restores(autologging: Any) -> None:
    x = np.random.default_rng(1).normal(size=(100, 3))
    y = (x[:, 0] > 0).astype(int)
    with sp.start_run(project="auto", name="sweep") as parent:
        for depth in (2, 4):
            RandomForestClassifier(n_estimators=5, max_depth=depth).fit(x, y)
    children = sp.search_runs(project="auto", filter="tags.autolog = 'sklearn'")
    assert len(children) == 2 and set(children["parent_id"]) == {parent.id}
    assert sorted(children["params.max_depth"]) == ["2", "4"]
    assert sp.get_model_version("auto/RandomForestClassifier").version == 2
    sp.autolog(disable=True)
    LogisticRegression().fit(x, y)
    assert len(sp.search_runs(project="auto")) == 3  # the sweep and its two fits only


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_regressor_on_whole_numbers_and_a_label_named_like_a_feature(
    autologging: Any,
) -> None:
    """A regressor fitted on prices (whole numbers) got training_accuracy; a target named
    like a feature replaced that feature in the logged training data."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    price = pd.Series((x.a * 1000 + 50_000).round().astype(int), name="a")
    LinearRegression().fit(x, price)
    [run] = sp.search_runs(project="auto").to_dict("records")
    assert "metrics.training_r2" in run and "metrics.training_accuracy" not in run
    data = sp.get_dataset("auto/LinearRegression-training@1").to_pandas()
    assert list(data.columns) == ["a", "b", "a_target"]
    assert data["a"].tolist() == x["a"].tolist()


def test_the_seed_articles_script_is_tracked_by_two_added_lines(tmp_path: Path) -> None:
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    script = ROOT / "examples" / "sklearn_autolog.py"
    added = [line for line in script.read_text().splitlines() if line.endswith("# setpoint")]
    assert len(added) == 2
    p = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Accuracy:")
    p = subprocess.run(
        [sys.executable, "-m", "setpoint", "models", "versions", "seed-random-forest", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert '"flavor": "sklearn"' in p.stdout and '"run_id": "' in p.stdout
