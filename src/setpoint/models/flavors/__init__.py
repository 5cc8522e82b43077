"""Model flavors: one module per framework that saves, loads and predicts with its models;
``flavor_for`` picks the first flavor, in registry order, that handles a model."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from setpoint.core.errors import InvalidArgumentError


class Predictor(Protocol):
    """A loaded model. ``native`` is the framework's own object; ``predict_proba`` raises
    unless ``has_proba``."""

    @property
    def native(self) -> Any: ...

    @property
    def has_proba(self) -> bool: ...

    def predict(self, X: Any) -> Any: ...

    def predict_proba(self, X: Any) -> Any: ...


class Flavor(Protocol):
    """What every flavor module provides. ``handles`` never imports a framework: a model of a
    framework that is not imported yet cannot exist."""

    @property
    def NAME(self) -> str: ...

    @property
    def DESCRIPTION(self) -> str: ...

    @property
    def PACKAGES(self) -> tuple[str, ...]:  # modules whose versions a saved model records
        ...

    def handles(self, model: object) -> bool: ...

    def save(self, model: Any, folder: str) -> dict[str, Any]: ...

    def load(self, folder: str, meta: Mapping[str, Any], **options: Any) -> Predictor: ...


# Order matters: the XGBoost and LightGBM estimators are scikit-learn estimators too, and
# custom takes anything with a predict method, so it comes last (mlflow saves nothing). Modules are imported when
# first asked for, so loading one model does not import every flavor.
NAMES = ("xgboost", "lightgbm", "sklearn", "onnx", "custom", "mlflow")

if TYPE_CHECKING:  # every flavor module must satisfy the protocol
    from setpoint.models.flavors import custom, lightgbm, mlflow, onnx, sklearn, xgboost

    _CHECKED: tuple[Flavor, ...] = (xgboost, lightgbm, sklearn, onnx, custom, mlflow)


def as_categories(X: Any, categories: Mapping[str, list[Any] | None]) -> Any:
    """``X`` with the columns a booster was fitted on as pandas categories made categories
    again, with the training categories (a table read from Parquet or CSV holds their values
    as text). A column whose categories the model does not hold (None) is left as it is:
    codes made from the request's own values would mean other categories."""
    if not categories or not hasattr(X, "columns"):
        return X
    import pandas as pd

    X = X.copy(deep=False)
    for name, cats in categories.items():
        as_text = name in X.columns and not isinstance(X[name].dtype, pd.CategoricalDtype)
        if cats is not None and as_text:
            X[name] = pd.Categorical(X[name], categories=cats)
    return X


def all_flavors() -> list[Flavor]:
    """Every flavor, in the order ``flavor_for`` tries them."""
    return [_module(name) for name in NAMES]


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model``; InvalidArgumentError (field "model") if none does."""
    candidates = all_flavors()
    for flavor in candidates:
        if flavor.handles(model):
            return flavor
    kind = type(model)
    supported = "; ".join(f"{f.NAME}: {f.DESCRIPTION}" for f in candidates)
    raise InvalidArgumentError(
        f"cannot save a {kind.__module__}.{kind.__qualname__}: no flavor handles it "
        f"(supported: {supported})",
        field="model",
    )


def get(name: str) -> Flavor:
    """The flavor called ``name``; InvalidArgumentError (field "flavor") if there is none."""
    if name not in NAMES:
        known = ", ".join(NAMES)
        raise InvalidArgumentError(
            f"unknown flavor {name!r}; known flavors: {known}", field="flavor"
        )
    return _module(name)


def names() -> list[str]:
    return list(NAMES)


def _module(name: str) -> Flavor:
    return cast("Flavor", importlib.import_module(f"{__name__}.{name}"))
