"""``sp.autolog()``: every scikit-learn ``fit`` becomes a tracked run, with no other change.

Each outermost ``fit`` (a pipeline's or a forest's inner fits are not runs of their own)
records a run (nested under the active run, if any): the estimator's params, training
metrics, the training data as a dataset version (its fingerprint) consumed by the run, and
the fitted model registered as a version produced by the run. Recording never breaks the
user's ``fit``: a failure to record is a warning.
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

_local = threading.local()
_patched: dict[type, Any] = {}  # class -> its original fit
_options: dict[str, Any] = {}
_lock = threading.Lock()
MAX_PARAM = 500


def autolog(
    *,
    project: str | None = None,
    registered_model_name: str | None = None,
    log_datasets: bool = True,
    disable: bool = False,
) -> None:
    """Record scikit-learn ``fit`` calls (``disable=True`` puts the originals back)."""
    with _lock:
        if disable:
            for cls, original in _patched.items():
                cls.fit = original  # type: ignore[attr-defined]
            _patched.clear()
            _options.clear()
            return
        _options.update(
            project=project, registered_model_name=registered_model_name, log_datasets=log_datasets
        )
        for estimator in _estimator_classes():
            # patch the class that defines the fit this estimator uses (often a base class)
            owner = next((k for k in estimator.__mro__ if "fit" in k.__dict__), None)
            if owner is None or owner in _patched:
                continue
            _patched[owner] = owner.__dict__["fit"]
            owner.fit = _wrap(_patched[owner])  # type: ignore[attr-defined]


def _estimator_classes() -> list[type]:
    try:
        from sklearn.pipeline import Pipeline
        from sklearn.utils import all_estimators
    except ImportError:
        from setpoint.core.errors import ConfigurationError

        raise ConfigurationError(
            "sp.autolog() records scikit-learn fits: install it with pip install 'setpoint[sklearn]'",
            field="autolog",
        ) from None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classes = [cls for _, cls in all_estimators()]
    return [*classes, Pipeline]


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "inside", False) or not _options:
            return original(self, *args, **kwargs)
        _local.inside = True
        try:
            result = original(self, *args, **kwargs)
        finally:
            _local.inside = False
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        try:
            _record(self, X, y)
        except Exception as exc:  # recording must never break the user's training
            warnings.warn(f"setpoint autolog could not record this fit: {exc}", stacklevel=2)
        return result

    return fit


def _record(estimator: Any, X: Any, y: Any) -> None:
    import numpy as np
    import pandas as pd

    from setpoint.client import sdk
    from setpoint.models.evaluation import infer_task, scores

    name = _options.get("registered_model_name") or type(estimator).__name__
    parent = sdk.active_run()
    project = _options.get("project") or (parent.project if parent else None)
    features = X if isinstance(X, pd.DataFrame) else _frame(X)
    with sdk.start_run(
        project=project,
        name=f"{type(estimator).__name__}.fit",
        tags={"autolog": "sklearn", "estimator": type(estimator).__name__},
        parent_id=parent.id if parent else None,
    ) as run:
        run.log_params(
            {k: _param(v) for k, v in estimator.get_params(deep=False).items()}
            | {"estimator": f"{type(estimator).__module__}.{type(estimator).__name__}"}
        )
        if _options.get("log_datasets", True):
            data = features.copy()
            if y is not None:
                label = str(getattr(y, "name", None) or "target")
                while label in data.columns:  # never in place of a feature
                    label = f"{label}_target"
                data[label] = np.asarray(y)
            version = sdk.log_dataset(data, f"{name}-training", project=run.project)
            run.log_input(version)
        if y is not None and hasattr(estimator, "predict"):
            truth = np.asarray(y)
            proba = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None
            pred = np.asarray(estimator.predict(X))
            task = infer_task(truth, proba is not None, pred, estimator)
            classes = list(getattr(estimator, "classes_", np.unique(truth)))
            metrics = scores(task, truth, pred, proba, classes)
            run.log_metrics({f"training_{k}": v for k, v in metrics.items() if v is not None})
        if hasattr(estimator, "predict"):
            run.log_model(estimator, name, input_example=features[:5] if len(features) else None)


def _frame(X: Any) -> Any:
    import numpy as np
    import pandas as pd

    array = np.asarray(X)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:MAX_PARAM]
