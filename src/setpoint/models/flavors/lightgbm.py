"""LightGBM flavor: a Booster or an LGBMModel estimator in LightGBM's own text format; for a
classifier the classes are kept so predictions are its labels, as the estimator gives them."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError

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

    booster = lgb.Booster(model_file=os.path.join(folder, str(meta["file"])))
    classes = meta.get("classes")
    return LightGBMPredictor(
        native=booster, classes=None if classes is None else np.asarray(classes)
    )


@dataclass(frozen=True, kw_only=True)
class LightGBMPredictor:
    native: Any  # the Booster
    classes: Any  # numpy array of labels for a classifier, else None

    @property
    def has_proba(self) -> bool:
        return self.classes is not None

    def predict(self, X: Any) -> Any:
        if self.classes is None:
            return self.native.predict(X)
        import numpy as np

        # The same comparison LGBMClassifier.predict makes, so ties break the same way.
        return self.classes[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X: Any) -> Any:
        if self.classes is None:
            raise InvalidArgumentError("this LightGBM model is not a classifier", field="model")
        import numpy as np

        proba = self.native.predict(X)
        if proba.ndim == 1:  # binary: the probability of the second class
            return np.vstack((1.0 - proba, proba)).transpose()
        return proba
