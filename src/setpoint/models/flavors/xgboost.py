"""XGBoost flavor: a Booster or an XGBModel estimator (XGBClassifier, XGBRegressor, ...) in
XGBoost's own UBJSON format, which holds no code."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError

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
        return XGBoostPredictor(native=booster, has_proba=False, is_booster=True)
    cls = getattr(xgb, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, xgb.XGBModel)):
        raise InvalidArgumentError(f"{name!r} is not an XGBoost estimator", field="model")
    estimator = cls()
    estimator.load_model(path)
    return XGBoostPredictor(
        native=estimator,
        has_proba=callable(getattr(estimator, "predict_proba", None)),
        is_booster=False,
    )


@dataclass(frozen=True, kw_only=True)
class XGBoostPredictor:
    native: Any
    has_proba: bool
    is_booster: bool

    @property
    def feature_names(self) -> list[str] | None:
        """The columns it was fitted on, when they were named."""
        if self.is_booster:
            names = self.native.feature_names
        else:
            names = getattr(self.native, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def predict(self, X: Any) -> Any:
        if self.is_booster:
            import numpy as np
            import xgboost as xgb

            # A Booster fitted on a DataFrame refuses an array without the feature names.
            names = self.native.feature_names if isinstance(X, np.ndarray) else None
            return self.native.predict(xgb.DMatrix(X, feature_names=names))
        return self.native.predict(X)

    def predict_proba(self, X: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"{type(self.native).__name__} has no predict_proba", field="model"
            )
        return self.native.predict_proba(X)
