"""XGBoost flavor: a Booster or an XGBModel estimator (XGBClassifier, XGBRegressor, ...) in
XGBoost's own UBJSON format, which holds no code."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.models.flavors import as_categories

NAME = "xgboost"
DESCRIPTION = "xgboost Booster and estimators (XGBClassifier, XGBRegressor, ...)"
PACKAGES = ("xgboost",)
FILE = "model.ubj"


def handles(model: object) -> bool:
    xgb = sys.modules.get("xgboost")
    return xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel)


def save(model: Any, folder: str) -> dict[str, Any]:
    import numpy as np
    import xgboost as xgb

    model.save_model(os.path.join(folder, FILE))
    kind = type(model)
    meta: dict[str, Any] = {"file": FILE, "class": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(model, xgb.XGBModel):
        # A subclass of the user's own is re-created as the XGBoost class it extends: loading
        # names only classes XGBoost itself defines.
        meta["estimator"] = next(
            c.__name__ for c in kind.__mro__ if c.__module__.startswith("xgboost.")
        )
        classes = getattr(model, "classes_", None)
        if classes is not None:
            meta["classes"] = np.asarray(classes).tolist()
    return meta


def load(folder: str, meta: Mapping[str, Any], **options: Any) -> XGBoostPredictor:
    import xgboost as xgb

    path = os.path.join(folder, str(meta["file"]))
    name = meta.get("estimator")
    if name is None:
        booster = xgb.Booster()
        booster.load_model(path)
        return XGBoostPredictor(
            native=booster,
            has_proba=False,
            is_booster=True,
            categories=_categorical_columns(booster),
        )
    cls = getattr(xgb, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, xgb.XGBModel)):
        raise InvalidArgumentError(f"{name!r} is not an XGBoost estimator", field="model")
    estimator = cls()
    estimator.load_model(path)
    return XGBoostPredictor(
        native=estimator,
        has_proba=callable(getattr(estimator, "predict_proba", None)),
        is_booster=False,
        categories=_categorical_columns(estimator.get_booster()),
    )


def _categorical_columns(booster: Any) -> dict[str, list[Any] | None]:
    """Column -> its training categories (None when the model does not hold them), for a
    model fitted on pandas category columns (``enable_categorical``): XGBoost takes only a
    frame whose same columns are categories again, and a table read from Parquet or CSV holds
    their values as text."""
    names, types = booster.feature_names, booster.feature_types
    if not names or not types or "c" not in types:
        return {}
    found: dict[str, list[Any] | None] = {
        n: None for n, t in zip(names, types, strict=True) if t == "c"
    }
    try:  # XGBoost 3.1 and later keep them in the model
        held = booster.get_categories(export_to_arrow=True).to_arrow()
    except (AttributeError, TypeError, ValueError):
        return found
    for column, values in held or []:
        if column in found and values is not None:
            found[column] = values.to_pylist()
    return found


@dataclass(frozen=True, kw_only=True)
class XGBoostPredictor:
    native: Any
    has_proba: bool
    is_booster: bool
    categories: dict[str, list[Any] | None] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str] | None:
        """The columns it was fitted on, when they were named."""
        if self.is_booster:
            names = self.native.feature_names
        else:
            names = getattr(self.native, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def _frame(self, X: Any) -> Any:
        """``X`` with its category columns as categories, as at training (see
        ``_categorical_columns``: before XGBoost 3.1, text stays text and XGBoost refuses it)."""
        return as_categories(X, self.categories)

    def predict(self, X: Any) -> Any:
        X = self._frame(X)
        if self.is_booster:
            import numpy as np
            import xgboost as xgb

            # A Booster fitted on a DataFrame refuses an array without the feature names.
            names = self.native.feature_names if isinstance(X, np.ndarray) else None
            matrix = xgb.DMatrix(X, feature_names=names, enable_categorical=bool(self.categories))
            return self.native.predict(matrix)
        return self.native.predict(X)

    def predict_proba(self, X: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"{type(self.native).__name__} has no predict_proba", field="model"
            )
        return self.native.predict_proba(self._frame(X))
