"""Evaluation of a model on labelled data: standard metrics, per-slice metrics, permutation
importance and predict latency. Pure computation; the SDK stores the result with the version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from setpoint.core.errors import InvalidArgumentError

MAX_SLICE_VALUES = 20
IMPORTANCE_ROWS = 5_000
LATENCY_RUNS = 20


def infer_task(
    y: np.ndarray, has_proba: bool, pred: np.ndarray | None = None, estimator: Any = None
) -> str:
    """What the model does. A scikit-learn-style estimator says it (a regressor, a
    classifier); otherwise classification when the model gives probabilities, regression
    when it predicts numbers that are not whole (a classifier predicts labels), else
    classification when the target is not a number or is a float holding a few whole numbers
    (0.0/1.0 labels); regression otherwise. Whole-number targets (prices, counts) of a model
    predicting fractions are a regression."""
    said = _estimator_task(estimator)
    if said is not None:
        return said
    if has_proba:
        return "classification"
    if pred is not None:
        p = np.asarray(pred)[:10_000]
        if p.dtype.kind == "f":
            finite = p[np.isfinite(p)]
            if finite.size and not bool(np.all(np.mod(finite, 1) == 0)):
                return "regression"
    if y.dtype.kind not in "fc":
        return "classification"
    sample = y[:10_000]
    few_whole = len(np.unique(sample)) <= 20 and bool(np.all(np.mod(sample, 1) == 0))
    return "classification" if few_whole else "regression"


def _estimator_task(estimator: Any) -> str | None:
    """ "regression" or "classification" when ``estimator`` follows scikit-learn's
    conventions (XGBoost's and LightGBM's estimators do) and scikit-learn is loaded."""
    import sys

    base = sys.modules.get("sklearn.base")
    if estimator is None or base is None:
        return None
    try:
        if base.is_regressor(estimator):
            return "regression"
        if base.is_classifier(estimator):
            return "classification"
    except Exception:  # not an estimator after all
        return None
    return None


def class_order(y: np.ndarray, pred: np.ndarray) -> list[Any]:
    """The labels seen, in their natural order (numbers as numbers), as models order their
    probability columns."""
    labels = set(np.unique(y).tolist()) | set(np.unique(pred).tolist())
    try:
        return sorted(labels)
    except TypeError:  # mixed kinds of labels
        return sorted(labels, key=str)


def scores(
    task: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any]
) -> dict[str, float | None]:
    """The standard metrics of one set of predictions (numpy only: no framework needed)."""
    if task == "regression":
        yt = np.asarray(y, dtype=float)
        err = np.asarray(pred, dtype=float).reshape(-1) - yt
        ss_tot = float(np.sum((yt - yt.mean()) ** 2))
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else None,
        }
    pred = np.asarray(pred).reshape(-1)
    y = np.asarray(y)
    labels = list(classes)
    if len(labels) == 2:
        pos = labels[1]
        precision, recall, f1 = _prf(y == pos, pred == pos)
    else:
        parts = [_prf(y == c, pred == c) for c in labels]
        precision, recall, f1 = (float(np.mean([p[i] for p in parts])) for i in range(3))
    out: dict[str, float | None] = {
        "accuracy": float(np.mean(y == pred)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": None,
        "log_loss": None,
    }
    if len(labels) == 2:
        out["selection_rate"] = float(np.mean(pred == labels[1]))
    if proba is not None and len(np.unique(y)) > 1:
        p = np.asarray(proba, dtype=float)
        if p.ndim == 1:
            p = np.column_stack([1 - p, p])
        if p.shape[1] == len(labels):
            onehot = np.stack([y == c for c in labels], axis=1)
            aucs = [_auc(onehot[:, i], p[:, i]) for i in range(len(labels))]
            valid = [a for a in aucs if a is not None]
            out["roc_auc"] = (
                (aucs[1] if len(labels) == 2 else float(np.mean(valid))) if valid else None
            )
            clipped = np.clip(p / p.sum(axis=1, keepdims=True), 1e-15, 1.0)
            out["log_loss"] = float(-np.mean(np.log(clipped[onehot])))
    return out


def _prf(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(truth & predicted))
    precision = tp / float(np.sum(predicted)) if np.any(predicted) else 0.0
    recall = tp / float(np.sum(truth)) if np.any(truth) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum formula, ties given their average rank."""
    n_pos = int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(
    predict: Callable[[Any], np.ndarray],
    predict_proba: Callable[[Any], np.ndarray] | None,
    features: Any,
    y: np.ndarray,
    *,
    task: str | None = None,
    slices: dict[str, np.ndarray] | None = None,
    importance: bool = True,
    example: Any = None,
    classes: Sequence[Any] | None = None,
    seed: int = 0,
    estimator: Any = None,
) -> tuple[str, dict[str, float | None], dict[str, Any]]:
    """``(task, metrics, result)`` for a model on ``features`` (a DataFrame) and labels ``y``.

    ``result`` holds the confusion matrix, per-slice metrics (for each slice column, its most
    frequent values) and permutation importances; ``metrics`` includes ``latency_p95_ms`` of
    predict on ``example`` (the input example batch) when given. ``classes`` is the model's
    own label order (the columns of its probabilities); by default the labels' natural one."""
    import pandas as pd

    if len(y) == 0:
        raise InvalidArgumentError("the evaluation data has no rows", field="data")
    if task is not None and task not in ("classification", "regression"):
        raise InvalidArgumentError("task must be 'classification' or 'regression'", field="task")
    pred = np.asarray(predict(features)).reshape(-1)
    task = task or infer_task(y, predict_proba is not None, pred, estimator)
    proba = predict_proba(features) if (predict_proba and task == "classification") else None
    seen = class_order(y, pred)
    if classes is not None:  # the model's order first; labels it never saw after them
        known = [_plain(c) for c in classes]
        seen = known + [c for c in seen if c not in known]
    classes = seen
    metrics = scores(task, y, pred, proba, classes)
    result: dict[str, Any] = {"rows": len(y)}
    if task == "classification":
        index = {c: i for i, c in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        np.add.at(matrix, ([index[v] for v in y.tolist()], [index[v] for v in pred.tolist()]), 1)
        result["classes"] = [_plain(c) for c in classes]
        result["confusion_matrix"] = matrix.tolist()
    if slices:
        result["slices"] = _slices(task, y, pred, proba, classes, slices)
    if importance and isinstance(features, pd.DataFrame) and len(features.columns):
        result["importance"] = _permutation_importance(
            predict, predict_proba, features, y, task, classes, seed
        )
    if example is not None:
        metrics["latency_p95_ms"] = latency_p95_ms(predict, example)
    return task, metrics, result


def latency_p95_ms(predict: Callable[[Any], Any], batch: Any, runs: int = LATENCY_RUNS) -> float:
    """p95 of ``predict(batch)`` wall time over ``runs`` calls (after one warm-up), in ms."""
    predict(batch)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 95))


def _slices(
    task: str,
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any],
    slices: dict[str, np.ndarray],
) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for column, values in slices.items():
        keys, counts = np.unique(values.astype(str), return_counts=True)
        top = keys[np.argsort(-counts)][:MAX_SLICE_VALUES]
        text = values.astype(str)
        groups: dict[str, dict[str, Any]] = {}
        for k in top:
            mask = text == k
            sub = scores(task, y[mask], pred[mask], None if proba is None else proba[mask], classes)
            groups[str(k)] = {**sub, "count": int(mask.sum())}
        out[column] = groups
    return out


def _permutation_importance(
    predict: Callable[[Any], np.ndarray],
    predict_proba: Callable[[Any], np.ndarray] | None,
    features: Any,
    y: np.ndarray,
    task: str,
    classes: Sequence[Any],
    seed: int,
) -> dict[str, Any]:
    """Mean drop of the main score when one column is shuffled (roc_auc or accuracy, r2)."""
    rng = np.random.default_rng(seed)
    if len(y) > IMPORTANCE_ROWS:
        idx = rng.choice(len(y), IMPORTANCE_ROWS, replace=False)
        features, y = features.iloc[idx].reset_index(drop=True), y[idx]
    use_auc = task == "classification" and predict_proba is not None and len(classes) == 2

    def score(frame: Any) -> float:
        pred = np.asarray(predict(frame)).reshape(-1)
        proba = predict_proba(frame) if use_auc and predict_proba else None
        s = scores(task, y, pred, proba, classes)
        key = (
            "roc_auc"
            if use_auc and s.get("roc_auc") is not None
            else ("accuracy" if task == "classification" else "r2")
        )
        return float(s[key] or 0.0)

    base = score(features)
    drops: dict[str, float] = {}
    for col in features.columns:
        shuffled = features.copy()
        shuffled[col] = shuffled[col].to_numpy()[rng.permutation(len(shuffled))]
        drops[str(col)] = base - score(shuffled)
    metric = "roc_auc" if use_auc else ("accuracy" if task == "classification" else "r2")
    ranked = dict(sorted(drops.items(), key=lambda kv: -kv[1]))
    return {"metric": metric, "baseline": base, "drop": ranked}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
