"""LightGBM flavor: a Booster or an LGBMModel estimator in LightGBM's own text format; for a
classifier the classes are kept so predictions are its labels, as the estimator gives them."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.models.flavors import as_categories

NAME = "lightgbm"
DESCRIPTION = "lightgbm Booster and estimators (LGBMClassifier, LGBMRegressor, ...)"
PACKAGES = ("lightgbm",)
FILE = "model.txt"


def handles(model: object) -> bool:
    lgb = sys.modules.get("lightgbm")
    return lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel)


def save(model: Any, folder: str) -> dict[str, Any]:
    import lightgbm as lgb
    import numpy as np

    booster = model if isinstance(model, lgb.Booster) else model.booster_
    # Keeps the trees up to the best iteration when early stopping found one, as the
    # estimator's own predict uses.
    booster.save_model(os.path.join(folder, FILE))
    kind = type(model)
    meta: dict[str, Any] = {"file": FILE, "class": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(model, lgb.LGBMClassifier):
        meta["classes"] = np.asarray(model.classes_).tolist()
    return meta


def load(folder: str, meta: Mapping[str, Any], **options: Any) -> LightGBMPredictor:
    import lightgbm as lgb
    import numpy as np

    path = os.path.join(folder, str(meta["file"]))
    booster = lgb.Booster(model_file=path)
    classes = meta.get("classes")
    return LightGBMPredictor(
        native=booster,
        classes=None if classes is None else np.asarray(classes),
        categories=_categorical_columns(booster, path),
    )


def _categorical_columns(booster: Any, path: str) -> dict[str, list[Any]]:
    """Column -> its categories, for a model trained on pandas category columns: LightGBM
    predicts only on a frame whose same columns are categories again (a table read from
    Parquet or CSV holds their values as text)."""
    known = getattr(booster, "pandas_categorical", None) or []
    if not known:
        return {}
    with open(path, encoding="utf-8") as fh:
        found = next(
            (line for line in fh if line.startswith("[categorical_feature:")),
            "[categorical_feature: ]",
        )
    indices = [int(i) for i in found.split(":", 1)[1].strip(" ]\n").split(",") if i.strip()]
    names = booster.feature_name()
    if len(indices) != len(known):
        return {}
    return {names[i]: list(cats) for i, cats in zip(indices, known, strict=True)}


@dataclass(frozen=True, kw_only=True)
class LightGBMPredictor:
    native: Any  # the Booster
    classes: Any  # numpy array of labels for a classifier, else None
    categories: dict[str, list[Any]]  # pandas category columns it was trained on

    @property
    def has_proba(self) -> bool:
        return self.classes is not None

    def _frame(self, X: Any) -> Any:
        """``X`` with its category columns as categories, as at training."""
        return as_categories(X, self.categories)

    def predict(self, X: Any) -> Any:
        if self.classes is None:
            return self.native.predict(self._frame(X))
        import numpy as np

        # The same comparison LGBMClassifier.predict makes, so ties break the same way.
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X: Any) -> Any:
        if self.classes is None:
            raise InvalidArgumentError("this LightGBM model is not a classifier", field="model")
        import numpy as np

        proba = self.native.predict(self._frame(X))
        if proba.ndim == 1:  # binary: the probability of the second class
            return np.vstack((1.0 - proba, proba)).transpose()
        return proba
