"""Evaluation metrics agree with scikit-learn's; slices, importance and latency are reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as m
from sklearn.linear_model import LinearRegression, LogisticRegression

from setpoint.models.evaluation import evaluate, scores


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # rounded: ties in the ranks
    pred = (p > 0.5).astype(int)
    s = scores("classification", y, pred, p, [0, 1])
    assert s["accuracy"] == pytest.approx(m.accuracy_score(y, pred))
    assert s["precision"] == pytest.approx(m.precision_score(y, pred))
    assert s["recall"] == pytest.approx(m.recall_score(y, pred))
    assert s["f1"] == pytest.approx(m.f1_score(y, pred))
    assert s["roc_auc"] == pytest.approx(m.roc_auc_score(y, p))
    assert s["log_loss"] == pytest.approx(m.log_loss(y, np.column_stack([1 - p, p])))


def test_multiclass_and_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(["a", "b", "c"], 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    s = scores("classification", y, pred, proba, ["a", "b", "c"])
    assert s["f1"] == pytest.approx(m.f1_score(y, pred, average="macro"))
    assert s["roc_auc"] == pytest.approx(m.roc_auc_score(y, proba, multi_class="ovr"))
    yr = rng.normal(size=200)
    pr = yr + rng.normal(scale=0.3, size=200)
    r = scores("regression", yr, pr, None, [])
    assert r["mae"] == pytest.approx(m.mean_absolute_error(yr, pr))
    assert r["rmse"] == pytest.approx(np.sqrt(m.mean_squared_error(yr, pr)))
    assert r["r2"] == pytest.approx(m.r2_score(yr, pr))


def test_evaluate_reports_slices_importance_confusion_and_latency() -> None:
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"signal": rng.normal(size=600), "noise": rng.normal(size=600)})
    y = (x.signal > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(x, y)
    group = rng.choice(["f", "m"], 600)
    task, metrics, result = evaluate(
        model.predict, model.predict_proba, x, y, slices={"gender": group}, example=x[:5]
    )
    assert task == "classification" and metrics["accuracy"] > 0.9
    assert np.array(result["confusion_matrix"]).sum() == 600
    assert set(result["slices"]["gender"]) == {"f", "m"}
    assert sum(g["count"] for g in result["slices"]["gender"].values()) == 600
    drop = result["importance"]["drop"]
    assert next(iter(drop)) == "signal" and drop["signal"] > drop["noise"]
    assert metrics["latency_p95_ms"] > 0
    reg = LinearRegression().fit(x, x.signal * 2)
    task, metrics, _ = evaluate(reg.predict, None, x, (x.signal * 2).to_numpy())
    assert task == "regression" and metrics["r2"] == pytest.approx(1.0)


def test_numeric_labels_keep_the_models_order() -> None:
    # labels 2 and 10: ordering them as text would swap the probability columns
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"signal": rng.normal(size=400)})
    y = np.where(x.signal > 0, 10, 2)
    model = LogisticRegression().fit(x, y)
    _, metrics, result = evaluate(model.predict, model.predict_proba, x, y, importance=False)
    assert metrics["roc_auc"] == pytest.approx(m.roc_auc_score(y, model.predict_proba(x)[:, 1]))
    assert metrics["precision"] == pytest.approx(
        m.precision_score(y, model.predict(x), pos_label=10)
    )
    assert result["classes"] == [2, 10]
    # the model's own order wins over the natural one
    _, again, _ = evaluate(
        model.predict, model.predict_proba, x, y, importance=False, classes=model.classes_
    )
    assert again["roc_auc"] == pytest.approx(metrics["roc_auc"])


def test_float_labels_of_whole_numbers_are_classes() -> None:
    from setpoint.models.evaluation import infer_task

    assert infer_task(np.array([0.0, 1.0, 1.0]), has_proba=False) == "classification"
    assert infer_task(np.array([0.5, 1.25, 3.0]), has_proba=False) == "regression"
    assert infer_task(np.array(["a", "b"]), has_proba=False) == "classification"


def test_a_regressor_on_whole_number_targets_is_evaluated_as_one() -> None:
    """Prices as whole numbers were scored as 583 classes, accuracy 0, and stored so."""
    from sklearn.ensemble import RandomForestRegressor

    from setpoint.models.evaluation import infer_task

    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.normal(size=300)})
    price = (x.a * 1000 + 50_000).round().astype(int).to_numpy()
    for model in (LinearRegression(), RandomForestRegressor(n_estimators=5, random_state=0)):
        model.fit(x, price)
        task, metrics, _ = evaluate(model.predict, None, x, price, estimator=model)
        assert task == "regression" and "mae" in metrics, type(model).__name__
    # without the estimator: predictions that are not whole numbers are a regression's
    predicted = price + rng.normal(size=price.size)
    assert infer_task(price, has_proba=False, pred=predicted) == "regression"
    assert infer_task(price % 3, has_proba=False, pred=price % 3) == "classification"
