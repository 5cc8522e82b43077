"""scikit-learn flavor: estimators and pipelines saved with skops, whose loader builds only
trusted types (its defaults plus those the caller names), never arbitrary code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError, UntrustedModelError
from setpoint.models.flavors import _skops

NAME = "sklearn"
DESCRIPTION = "scikit-learn estimators and pipelines that predict"
PACKAGES = ("sklearn", "skops")
FILE = "model.skops"
# Beyond skops' defaults, setpoint trusts scikit-learn's own tree containers: every tree
# ensemble holds them, they are rebuilt from arrays of node data (no callables), and without
# them no random forest or gradient boosting model would load by default.
# Types scikit-learn's own estimators hold that skops does not trust by itself, each of
# which builds only scikit-learn's or numpy's own data: trees and their predictors, the
# neighbors' search trees and distance metrics (KNeighbors*), numpy dtypes (SimpleImputer),
# and check_array in a partial (HistGradientBoosting with categorical features; skops checks
# a partial's function apart, and check_array is the only function trusted here).
TRUSTED_BY_DEFAULT = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        *(
            f"sklearn.metrics._dist_metrics.{name}Distance64"
            for name in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski")
        ),
        "numpy.dtype",
        "functools.partial",
        "sklearn.utils.validation.check_array",
    }
)


def handles(model: object) -> bool:
    base = sys.modules.get("sklearn.base")
    return (
        base is not None
        and isinstance(model, base.BaseEstimator)
        and callable(getattr(model, "predict", None))
    )


def save(model: Any, folder: str) -> dict[str, Any]:
    import numpy as np
    import skops.io

    path = os.path.join(folder, FILE)
    _skops.dump(model, path)  # the same model gives the same bytes, so the same digest
    kind = type(model)
    meta: dict[str, Any] = {
        "file": FILE,
        "class": f"{kind.__module__}.{kind.__qualname__}",
        # Informative only: load audits the file itself, never this list.
        "untrusted_types": skops.io.get_untrusted_types(file=path),
    }
    classes = getattr(model, "classes_", None)
    if classes is not None:
        meta["classes"] = np.asarray(classes).tolist()
    return meta


def load(
    folder: str,
    meta: Mapping[str, Any],
    *,
    trusted: Iterable[str | type] | None = None,
    **options: Any,
) -> SklearnPredictor:
    """Load the estimator if every type in the file is trusted by default or named in
    ``trusted`` (type names like "sklearn.tree._tree.Tree", or the types themselves);
    UntrustedModelError listing the others otherwise."""
    import skops.io

    path = os.path.join(folder, str(meta["file"]))
    found = skops.io.get_untrusted_types(file=path)
    given = {t if isinstance(t, str) else f"{t.__module__}.{t.__name__}" for t in trusted or ()}
    given |= TRUSTED_BY_DEFAULT
    refused = [t for t in found if t not in given]
    if refused:
        raise UntrustedModelError(
            f"{meta['file']} holds types that are not trusted by default: {', '.join(refused)}. "
            "Building them may run their code; if you trust where this model comes from, "
            f"review them and load it with trusted={refused!r}",
            types=tuple(refused),
        )
    model = skops.io.load(path, trusted=found)
    names = getattr(model, "feature_names_in_", None)
    return SklearnPredictor(
        native=model,
        has_proba=callable(getattr(model, "predict_proba", None)),
        feature_names=None if names is None else [str(n) for n in names],
    )


@dataclass(frozen=True, kw_only=True)
class SklearnPredictor:
    native: Any
    has_proba: bool
    feature_names: list[str] | None  # set when the estimator was fitted on a DataFrame

    def predict(self, X: Any) -> Any:
        return self.native.predict(self._prepare(X))

    def predict_proba(self, X: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"{type(self.native).__name__} has no predict_proba", field="model"
            )
        return self.native.predict_proba(self._prepare(X))

    def _prepare(self, X: Any) -> Any:
        # scikit-learn warns when feature names are present at fit time but not at predict
        # time, or the other way round; give it what it was fitted on.
        import numpy as np

        is_frame = type(X).__module__.startswith("pandas") and type(X).__name__ == "DataFrame"
        if self.feature_names is None:
            return X.to_numpy() if is_frame else X
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == len(self.feature_names):
            import pandas as pd

            return pd.DataFrame(X, columns=self.feature_names)
        return X
