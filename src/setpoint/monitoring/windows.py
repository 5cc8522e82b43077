"""What a monitor computes for one window of served traffic: drift of the inputs (and of
the predictions) from the reference, performance where labels came back, per-group fairness
for the sensitive columns; and which alert rules that window breaks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from setpoint.models.evaluation import infer_task
from setpoint.monitoring.drift import category_counts, drift, profile_bins
from setpoint.monitoring.monitors import LOWER_IS_BETTER

INPUT = "input."


def window_starts(times_ms: np.ndarray, seconds: int) -> np.ndarray:
    """The start (epoch ms) of the tumbling window each time falls in."""
    size = seconds * 1000
    return (times_ms // size) * size


def compute(
    frame: Any,
    reference: dict[str, Any],
    config: dict[str, Any],
    baseline: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The result of one window: ``frame`` is its rows of the prediction log (``input.*``
    columns, ``prediction``, ``label`` where feedback came)."""
    features = frame[[c for c in frame.columns if c.startswith(INPUT)]]
    features = features.rename(columns=lambda c: c[len(INPUT) :])
    report = drift(reference, features, drift_share=float(config.get("drift_share", 0.5)))
    result: dict[str, Any] = {
        "rows": len(frame),
        "drift": {
            "dataset_drift": report.dataset_drift,
            "share_drifted": report.share_drifted,
            "drifted": report.drifted,
            "features": {
                c: {
                    "test": f.test,
                    "statistic": f.statistic,
                    "p_value": f.p_value,
                    "drifted": f.drifted,
                    "missing": f.missing,
                    "new_categories": f.new_categories,
                }
                for c, f in report.features.items()
            },
            "problems": report.problems,
        },
        "histograms": _histograms(reference, features, list(report.features)),
    }
    target = config.get("target")
    if target and "prediction" in frame:
        columns = reference.get("columns", [])
        profile = {c["name"]: c for c in columns} if isinstance(columns, list) else {}
        if target in profile:
            import pandas as pd

            pred = drift({target: profile[target]}, pd.DataFrame({target: frame["prediction"]}))
            if target in pred.features:
                f = pred.features[target]
                result["prediction_drift"] = {
                    "test": f.test,
                    "statistic": f.statistic,
                    "drifted": f.drifted,
                }
    labeled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[:0]
    result["labeled"] = len(labeled)
    if len(labeled):
        y = _values(labeled["label"])
        p = _values(labeled["prediction"])
        # as model evaluation tells it: predictions that are not whole numbers (prices
        # logged as whole numbers are still a regression), then the labels
        task = config.get("task") or infer_task(y, False, p)
        metrics = performance(y, p, task)
        if task == "classification" and "score" in labeled and labeled["score"].notna().all():
            auc = roc_auc(y, labeled["score"].to_numpy(dtype=np.float64), _positive(y, p))
            if auc is not None:
                metrics["roc_auc"] = auc
        result["task"] = task
        result["metrics"] = metrics
        # JSON has no infinity or NaN (they are stored as null): their names are kept beside
        nonfinite = {k: str(v) for k, v in metrics.items() if not math.isfinite(v)}
        if nonfinite:
            result["nonfinite_metrics"] = nonfinite
        if baseline:
            result["baseline"] = {k: v for k, v in baseline.items() if k in metrics}
        sensitive = [c for c in config.get("sensitive", []) if f"{INPUT}{c}" in labeled]
        if sensitive and task == "classification":
            positive = _positive(y, p)
            result["fairness"] = {
                c: fairness(labeled[f"{INPUT}{c}"].astype(str).to_numpy(), y, p, positive)
                for c in sensitive
            }
    return result


TOP_CATEGORIES = 10


def _histograms(reference: dict[str, Any], features: Any, columns: list[str]) -> dict[str, Any]:
    """Reference and current counts per feature on the reference's bins (its histogram
    edges; its most frequent categories and the rest), so a report can draw both without
    reading the traffic again."""
    listed = reference.get("columns", [])
    profile = {c["name"]: c for c in listed} if isinstance(listed, list) else {}
    out: dict[str, Any] = {}
    for name in columns:
        col = profile.get(name) or {}
        hist = col.get("histogram")
        if col.get("kind") == "numeric" and hist and hist.get("edges"):
            edges = np.asarray(hist["edges"], dtype=np.float64)
            values = features[name].to_numpy(dtype=np.float64, na_value=np.nan)
            values = values[np.isfinite(values)]
            bins = len(hist["counts"])
            current = np.bincount(profile_bins(values, edges, bins), minlength=bins)
            out[name] = {
                "edges": hist["edges"],
                "reference": hist["counts"],
                "current": current.tolist(),
            }
        elif col.get("categories"):
            ranked = sorted(col["categories"].items(), key=lambda kv: -kv[1])[:TOP_CATEGORIES]
            keys = [k for k, _ in ranked]
            counts = category_counts(features[name])
            ref_total = sum(col["categories"].values())
            cur_total = sum(counts.values())
            out[name] = {
                "categories": [*keys, "(other)"],
                "reference": [int(v) for _, v in ranked] + [ref_total - sum(v for _, v in ranked)],
                "current": [int(counts.get(k, 0)) for k in keys]
                + [cur_total - int(sum(counts.get(k, 0) for k in keys))],
            }
    return out


def _values(series: Any) -> np.ndarray:
    values = series.to_numpy()
    if values.dtype.kind == "O":
        try:
            return values.astype(np.float64)
        except (TypeError, ValueError):
            return values.astype(str)
    return values


def _positive(y: np.ndarray, p: np.ndarray) -> Any:
    """The positive class: 1 (True) for numeric labels, as scikit-learn's ``pos_label`` (also
    when a window holds only 0s), else the greater label ("yes" over "no")."""
    classes = np.unique(np.concatenate([y, p])).tolist()
    if 1 in classes or set(classes) <= {0}:  # (1 is not "1")
        return 1
    return max(classes)  # Python's max: numpy has none for text


def performance(y: np.ndarray, p: np.ndarray, task: str) -> dict[str, float]:
    if task == "regression":
        err = p.astype(np.float64) - y.astype(np.float64)
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    out = {"accuracy": float(np.mean(p == y))}
    classes = np.unique(np.concatenate([y, p]))
    if classes.size <= 2:
        pos = _positive(y, p)
        tp = float(np.sum((p == pos) & (y == pos)))
        fp = float(np.sum((p == pos) & (y != pos)))
        fn = float(np.sum((p != pos) & (y == pos)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out["precision"] = precision
        out["recall"] = recall
        out["f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return out


def roc_auc(y: np.ndarray, score: np.ndarray, positive: Any) -> float | None:
    """Area under the ROC curve from ranks (ties averaged); None with one class only."""
    from scipy.stats import rankdata

    pos = y == positive
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fairness(groups: np.ndarray, y: np.ndarray, p: np.ndarray, positive: Any) -> dict[str, Any]:
    """Per group: rows, selection rate, true and false positive rates; and the demographic
    parity and equalized odds differences (largest minus smallest across groups, the worse
    of the two rates for equalized odds), as fairlearn defines them."""
    per: dict[str, dict[str, float]] = {}
    for g in np.unique(groups):
        mask = groups == g
        yg, pg = y[mask] == positive, p[mask] == positive
        pos, neg = yg.sum(), (~yg).sum()
        per[str(g)] = {
            "rows": int(mask.sum()),
            "selection_rate": float(pg.mean()),
            "tpr": float((pg & yg).sum() / pos) if pos else float("nan"),
            "fpr": float((pg & ~yg).sum() / neg) if neg else float("nan"),
        }
    rates = [v["selection_rate"] for v in per.values()]
    tprs = [v["tpr"] for v in per.values() if not np.isnan(v["tpr"])]
    fprs = [v["fpr"] for v in per.values() if not np.isnan(v["fpr"])]
    spread = lambda xs: (max(xs) - min(xs)) if xs else 0.0  # noqa: E731
    return {
        "groups": per,
        "demographic_parity_difference": spread(rates),
        "equalized_odds_difference": max(spread(tprs), spread(fprs)),
    }


@dataclass(frozen=True, kw_only=True)
class Breach:
    rule: str
    severity: str
    message: str
    details: dict[str, Any]


def breaches(
    config: dict[str, Any], history: list[dict[str, Any]]
) -> tuple[list[Breach], list[str]]:
    """The rules the newest window (last of ``history``, oldest first) breaks, and the rules
    it holds (whose open alerts can be resolved)."""
    latest = history[-1]
    broken: list[Breach] = []
    held: list[str] = []
    share = latest["drift"]["share_drifted"]
    if not latest["drift"]["features"]:
        pass  # no feature could be tested (see its problems): the window says nothing of drift
    elif latest["drift"]["dataset_drift"]:
        broken.append(
            Breach(
                rule="drift",
                severity="warning",
                message=f"{share:.0%} of the features drifted: {', '.join(latest['drift']['drifted'])}",
                details={"share_drifted": share, "drifted": latest["drift"]["drifted"]},
            )
        )
    else:
        held.append("drift")
    for rule in config.get("metric_rules", []):
        # a floor (min: accuracy below 0.8 breaks it) or a ceiling (max: rmse above 5)
        name, k = rule["metric"], int(rule.get("windows", 1))
        ceiling = "max" in rule
        bound = float(rule["max"] if ceiling else rule["min"])
        scored = [w for w in history if name in w.get("metrics", {})]
        recent = scored[-k:]
        key = f"metric:{name}"
        if len(recent) == k and all(_beyond(metric_value(w, name), bound, ceiling) for w in recent):
            values = [_rounded(metric_value(w, name)) for w in recent]
            broken.append(
                Breach(
                    rule=key,
                    severity="critical",
                    message=(
                        f"{name} {'above' if ceiling else 'below'} {bound:g} for {k} window(s): "
                        f"[{', '.join(str(v) for v in values)}]"
                    ),
                    details={
                        "metric": name,
                        "max" if ceiling else "min": bound,
                        "values": values,
                    },
                )
            )
        elif recent and not _beyond(metric_value(recent[-1], name), bound, ceiling):
            held.append(key)
    for rule in config.get("decay_rules", []):
        # decay: the metric is worse by more than max_drop than what the served version
        # scored in its evaluation (lower for accuracy, higher for an error metric)
        name, drop, k = rule["metric"], float(rule["max_drop"]), int(rule.get("windows", 1))
        lower = name in LOWER_IS_BETTER
        scored = [
            w for w in history if name in w.get("metrics", {}) and name in w.get("baseline", {})
        ]
        recent = scored[-k:]
        key = f"decay:{name}"
        if len(recent) == k and all(_decayed(name, w, drop) for w in recent):
            last = recent[-1]
            side = "above" if lower else "below"
            broken.append(
                Breach(
                    rule=key,
                    severity="critical",
                    message=(
                        f"{name} {_shown(metric_value(last, name))} is more than {drop:g} {side} "
                        f"the served version's evaluation ({last['baseline'][name]:.4f}) for {k} "
                        "window(s)"
                    ),
                    details={
                        "metric": name,
                        "max_drop": drop,
                        "values": [_rounded(metric_value(w, name)) for w in recent],
                        "baseline": last["baseline"][name],
                    },
                )
            )
        elif recent and not _decayed(name, recent[-1], drop):
            held.append(key)
    gap = config.get("fairness_gap")
    if gap is not None and "fairness" in latest:
        worst = max(
            (
                (max(f["demographic_parity_difference"], f["equalized_odds_difference"]), c)
                for c, f in latest["fairness"].items()
            ),
            default=(0.0, ""),
        )
        if worst[0] > gap:
            broken.append(
                Breach(
                    rule="fairness",
                    severity="warning",
                    message=f"fairness gap {worst[0]:.3f} on {worst[1]} above {gap:g}",
                    details={"column": worst[1], "gap": worst[0]},
                )
            )
        else:
            held.append("fairness")
    return broken, held


def metric_value(window: Mapping[str, Any], name: str) -> float:
    """A window's metric as a float: JSON stores infinity and NaN as null, and the window
    keeps their names in ``nonfinite_metrics`` (a null without one is taken for NaN)."""
    value = window.get("metrics", {}).get(name)
    if value is None:
        return float(window.get("nonfinite_metrics", {}).get(name, "nan"))
    return float(value)


def _beyond(value: float, bound: float, ceiling: bool) -> bool:
    """Whether ``value`` is past the floor or ceiling ``bound`` (NaN always is: no score)."""
    if math.isnan(value):
        return True
    return value > bound if ceiling else value < bound


def _decayed(name: str, window: Mapping[str, Any], drop: float) -> bool:
    value, baseline = metric_value(window, name), float(window["baseline"][name])
    if math.isnan(value):
        return True
    return value - baseline > drop if name in LOWER_IS_BETTER else baseline - value > drop


def _rounded(value: float) -> float | str:
    return round(value, 4) if math.isfinite(value) else str(value)


def _shown(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)
