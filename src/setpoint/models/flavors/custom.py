"""Custom flavor: any other object with a ``predict`` method, pickled with cloudpickle. Pickle
runs code on load: never load a custom model from a store you do not trust (hence ``unsafe``)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError

NAME = "custom"
DESCRIPTION = "any other object with a predict method (pickled: unsafe to load if untrusted)"
PACKAGES = ("cloudpickle",)
FILE = "model.pkl"


def handles(model: object) -> bool:
    return not isinstance(model, type) and callable(getattr(model, "predict", None))


def save(model: Any, folder: str) -> dict[str, Any]:
    import cloudpickle

    with open(os.path.join(folder, FILE), "wb") as f:
        cloudpickle.dump(model, f)
    kind = type(model)
    return {"file": FILE, "class": f"{kind.__module__}.{kind.__qualname__}", "unsafe": True}


def load(folder: str, meta: Mapping[str, Any], **options: Any) -> CustomPredictor:
    """Unpickle the model. This runs code from the file: the caller must trust the store
    (load_model checks the bytes against their recorded digests first)."""
    with open(os.path.join(folder, str(meta["file"])), "rb") as f:
        model = pickle.load(f)
    return CustomPredictor(native=model, has_proba=callable(getattr(model, "predict_proba", None)))


@dataclass(frozen=True, kw_only=True)
class CustomPredictor:
    native: Any
    has_proba: bool

    def predict(self, X: Any) -> Any:
        return self.native.predict(X)

    def predict_proba(self, X: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"{type(self.native).__name__} has no predict_proba", field="model"
            )
        return self.native.predict_proba(X)
