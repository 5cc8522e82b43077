"""The mlflow flavor: folders MLflow's own save_model wrote, registered as they are, load in
setpoint without MLflow and predict as MLflow's pyfunc does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from setpoint.core.errors import InvalidArgumentError, UntrustedModelError
from setpoint.core.hashing import digest_bytes
from setpoint.models.flavors import mlflow as flavor
from setpoint.models.package import MANIFEST, LoadedModel, load_model

mlflow = pytest.importorskip("mlflow")
# MLflow warns once, when its pyfunc module is first imported
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning"),
    pytest.mark.filterwarnings(
        "ignore:Model.s `predict` method contains invalid parameters:FutureWarning"
    ),
]

ROWS = 120


def _data(kind: str) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(ROWS, 4)), columns=["age", "income", "debt", "score"])
    signal = X["income"] - X["debt"] + 0.3 * rng.normal(size=ROWS)
    if kind == "regression":
        return X, signal.to_numpy()
    if kind == "multiclass":
        return X, np.digitize(signal, [-0.5, 0.5])
    return X, (signal > 0).astype(int).to_numpy()


def _register(folder: Path) -> None:
    """What registering an MLflow folder does: every file with its digest, in model.json."""
    files = {
        p.relative_to(folder).as_posix(): digest_bytes(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    text = (folder / flavor.MLMODEL).read_text(encoding="utf-8")
    (folder / MANIFEST).write_bytes(flavor.package_meta(files, text))


def _save(module: Any, model: Any, folder: Path, **kwargs: Any) -> Path:
    # requirements given: MLflow infers none (no subprocess, no network)
    module.save_model(model, str(folder), pip_requirements=["lightgbm", "xgboost"], **kwargs)
    return folder


def _fit(build: Callable[[], Any], kind: str) -> Any:
    X, y = _data(kind)
    return build().fit(X, y)


CASES: dict[str, tuple[str, str, Callable[[], Any]]] = {
    # name: (MLflow module, data, estimator)
    "lgbm-classifier": (
        "lightgbm",
        "binary",
        lambda: lgb.LGBMClassifier(n_estimators=8, verbose=-1),
    ),
    "lgbm-multiclass": (
        "lightgbm",
        "multiclass",
        lambda: lgb.LGBMClassifier(n_estimators=8, verbose=-1),
    ),
    "lgbm-regressor": (
        "lightgbm",
        "regression",
        lambda: lgb.LGBMRegressor(n_estimators=8, verbose=-1),
    ),
    "xgb-classifier": ("xgboost", "binary", lambda: xgb.XGBClassifier(n_estimators=8)),
    "xgb-regressor": ("xgboost", "regression", lambda: xgb.XGBRegressor(n_estimators=8)),
}


@pytest.fixture(params=sorted(CASES))
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any, Path]:
    """(case, MLflow's own pyfunc of the model, the registered folder)."""
    module_name, kind, build = CASES[request.param]
    module = getattr(mlflow, module_name)
    folder = _save(module, _fit(build, kind), tmp_path / "model")
    expected = mlflow.pyfunc.load_model(str(folder))
    _register(folder)
    return request.param, expected, folder


def test_estimator_predicts_as_mlflow_does(saved: tuple[str, Any, Path]) -> None:
    case, pyfunc, folder = saved
    X, _ = _data(CASES[case][1])
    loaded = load_model(folder)
    assert isinstance(loaded, LoadedModel)
    np.testing.assert_array_equal(loaded.predict(X), np.asarray(pyfunc.predict(X)))


def test_classifier_gives_probabilities_as_mlflow_does(saved: tuple[str, Any, Path]) -> None:
    case, pyfunc, folder = saved
    X, _ = _data(CASES[case][1])
    loaded = load_model(folder)
    native = pyfunc.get_raw_model()
    assert loaded.has_proba == hasattr(native, "predict_proba")
    if loaded.has_proba:
        np.testing.assert_allclose(loaded.predict_proba(X), native.predict_proba(X))


def test_lightgbm_estimator_is_read_with_skops(tmp_path: Path) -> None:
    """MLflow 3 saves an sklearn-API LightGBM model as model.skops: not a LightGBM file, and
    not a pickle (so not unsafe by its own format)."""
    folder = _save(mlflow.lightgbm, _fit(CASES["lgbm-classifier"][2], "binary"), tmp_path / "m")
    described = flavor.describe((folder / flavor.MLMODEL).read_text(encoding="utf-8"))
    assert described["file"] == "model.skops"
    assert described["serialization"] == "skops"
    assert described["unsafe"] is False


def test_lightgbm_estimator_registered_as_native_still_loads(tmp_path: Path) -> None:
    """Versions registered before setpoint read MLflow 3's skops files recorded them as
    LightGBM's own format: they load too."""
    X, _ = _data("binary")
    folder = _save(mlflow.lightgbm, _fit(CASES["lgbm-classifier"][2], "binary"), tmp_path / "m")
    expected = mlflow.lightgbm.load_model(str(folder)).predict_proba(X)
    _register(folder)
    meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    meta["flavor_meta"]["serialization"] = "native"
    (folder / MANIFEST).write_text(json.dumps(meta), encoding="utf-8")
    np.testing.assert_allclose(load_model(folder).predict_proba(X), expected)


def test_lightgbm_booster_still_loads_from_its_own_file(tmp_path: Path) -> None:
    """MLflow records serialization_format: skops for a Booster too, yet writes its text file."""
    X, y = _data("binary")
    booster = lgb.train({"verbose": -1, "objective": "binary"}, lgb.Dataset(X, y), 5)
    folder = _save(mlflow.lightgbm, booster, tmp_path / "m")
    expected = mlflow.pyfunc.load_model(str(folder)).predict(X)
    _register(folder)
    loaded = load_model(folder)
    assert loaded.meta.flavor_meta["serialization"] == "native"
    assert isinstance(loaded.native, lgb.Booster)
    np.testing.assert_allclose(loaded.predict(X), expected)


def test_lightgbm_type_the_mlmodel_trusts_is_refused_until_the_caller_does(
    tmp_path: Path,
) -> None:
    """The MLmodel's skops_trusted_types is written by whoever made the folder: a type beyond
    those MLflow trusts by default must be named by the caller, as for scikit-learn."""
    X, y = _data("multiclass")
    ranker = lgb.LGBMRanker(n_estimators=4, min_child_samples=5, verbose=-1)
    ranker.fit(X, y, group=[ROWS // 4] * 4)
    name = "lightgbm.sklearn.LGBMRanker"
    folder = _save(mlflow.lightgbm, ranker, tmp_path / "m", skops_trusted_types=[name])
    expected = mlflow.pyfunc.load_model(str(folder)).predict(X)
    _register(folder)
    with pytest.raises(UntrustedModelError, match=name) as refused:
        load_model(folder)
    assert refused.value.types == (name,)
    np.testing.assert_allclose(load_model(folder, trusted=[name]).predict(X), expected)


def test_unknown_serialization_refused_at_registration() -> None:
    """A format setpoint cannot load is refused when the version is registered, not later."""
    text = (
        "flavors:\n  lightgbm:\n    data: model.joblib\n"
        "    model_class: lightgbm.sklearn.LGBMClassifier\n    serialization_format: joblib\n"
    )
    with pytest.raises(InvalidArgumentError, match="saved as joblib"):
        flavor.describe(text)


def test_a_python_model_predicts_as_mlflow_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlflow.pyfunc.log_model(python_model=...) was refused at registration ("setpoint
    loads MLflow models of the flavors sklearn, xgboost, lightgbm; this one has
    python_function"), though MLflow's issue names pyfunc."""

    # (defined here: MLflow's pyfunc module warns when first imported, which the module's
    # filter covers during tests only)
    class Scaled(mlflow.pyfunc.PythonModel):  # an artifact read in load_context, a config
        def load_context(self, context):  # type: ignore[no-untyped-def]
            self.factor = float(Path(context.artifacts["factor"]).read_text())

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input.sum(axis=1) * self.factor + context.model_config["offset"]

    class Plain(mlflow.pyfunc.PythonModel):  # MLflow 3's form, without a context
        def predict(self, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input["age"] * 2

    class Ctx(mlflow.pyfunc.PythonModel):  # the context under another name, as MLflow allows
        def predict(self, ctx, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input["age"] + len(ctx.artifacts)

    X, _ = _data("regression")
    (tmp_path / "factor.txt").write_text("2.5")
    for name, model, extra in (
        (
            "scaled",
            Scaled(),
            {
                "artifacts": {"factor": str(tmp_path / "factor.txt")},
                "model_config": {"offset": 1.0},
            },
        ),
        ("plain", Plain(), {}),
        ("ctx", Ctx(), {}),
        ("lzma", Ctx(), {"compression": "lzma"}),  # MLFLOW_LOG_MODEL_COMPRESSION
    ):
        folder = tmp_path / name
        compression = extra.pop("compression", None)
        if compression:
            monkeypatch.setenv("MLFLOW_LOG_MODEL_COMPRESSION", compression)
        mlflow.pyfunc.save_model(
            str(folder), python_model=model, pip_requirements=["pandas"], **extra
        )
        monkeypatch.delenv("MLFLOW_LOG_MODEL_COMPRESSION", raising=False)
        expected = np.asarray(mlflow.pyfunc.load_model(str(folder)).predict(X))
        meta = flavor.describe((folder / flavor.MLMODEL).read_text())
        assert (meta["mlflow_flavor"], meta["unsafe"]) == ("pyfunc", True)
        _register(folder)
        loaded = load_model(folder)
        np.testing.assert_allclose(loaded.predict(X), expected)
        assert not loaded.has_proba
