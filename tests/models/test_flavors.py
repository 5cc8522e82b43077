"""Flavors and saved models: round trips that predict like the original, trust for skops
files, digests checked before anything is deserialized, and clear refusals."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import sklearn
import xgboost as xgb
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from setpoint.core.errors import (
    ArtifactCorruptedError,
    ArtifactNotFoundError,
    ConfigurationError,
    InvalidArgumentError,
    UntrustedModelError,
)
from setpoint.core.hashing import digest_bytes
from setpoint.models import flavors
from setpoint.models.flavors import custom
from setpoint.models.package import LoadedModel, load_model, save_model

COLUMNS = ["amount", "age", "score", "ratio"]
# One thread per framework: tests run in parallel, and oversubscribed trees train slowly.
_rng = np.random.default_rng(7)
X = pd.DataFrame(_rng.normal(size=(200, 4)), columns=COLUMNS)
Y = (X["amount"] + 0.5 * X["age"] > 0).astype("int64").to_numpy()
Y3 = np.array(["low", "mid", "high"])[np.digitize(X["score"], [-0.5, 0.5])]
TARGET = X["amount"] * 2.0 - X["ratio"]


def double(values: Any) -> Any:
    """A custom step: skops stores a reference to it, which it does not trust by default."""
    return values * 2


class Threshold:
    """A user's own model, saved with the custom flavor."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.seen: list[int] = []

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        self.seen.append(id(data))
        return (data[self.column] > 0).to_numpy()


class Marker:
    """Unpickling this touches a file: proof of whether a pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def onnx_linear() -> onnx.ModelProto:
    weights = numpy_helper.from_array(np.array([[0.1], [0.2], [0.3], [0.4]], np.float32), "W")
    bias = numpy_helper.from_array(np.array([0.5], np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[weights, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _onnx_reference(model: onnx.ModelProto) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X.to_numpy(np.float32)})[0]


def _booster_xgb() -> xgb.Booster:
    return xgb.train(
        {"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=TARGET), num_boost_round=5
    )


def _booster_lgb() -> lgb.Booster:
    params = {"objective": "regression", "verbose": -1, "num_leaves": 7, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(X, label=TARGET), num_boost_round=5)


# name -> (build the fitted model, the original's predictions on X)
CASES: dict[str, tuple[Callable[[], Any], Callable[[Any], np.ndarray]]] = {
    "sklearn_logistic": (lambda: LogisticRegression().fit(X, Y), lambda m: m.predict(X)),
    "sklearn_pipeline": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y),
        lambda m: m.predict(X),
    ),
    "sklearn_numpy_fit": (
        lambda: LinearRegression().fit(X.to_numpy(), TARGET.to_numpy()),
        lambda m: m.predict(X.to_numpy()),
    ),
    "xgboost_classifier": (
        lambda: xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(X, Y),
        lambda m: m.predict(X),
    ),
    "xgboost_regressor": (
        lambda: xgb.XGBRegressor(n_estimators=5, max_depth=3, n_jobs=1).fit(X, TARGET),
        lambda m: m.predict(X),
    ),
    "xgboost_booster": (_booster_xgb, lambda m: m.predict(xgb.DMatrix(X))),
    "lightgbm_classifier": (
        lambda: lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, Y),
        lambda m: m.predict(X),
    ),
    "lightgbm_multiclass": (
        lambda: lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, Y3),
        lambda m: m.predict(X),
    ),
    "lightgbm_regressor": (
        lambda: lgb.LGBMRegressor(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(
            X, TARGET
        ),
        lambda m: m.predict(X),
    ),
    "lightgbm_booster": (_booster_lgb, lambda m: m.predict(X)),
    "onnx": (onnx_linear, _onnx_reference),
    "custom": (lambda: Threshold("amount"), lambda m: m.predict(X)),
}
INPUTS: dict[str, Callable[[pd.DataFrame], object]] = {
    "pandas": lambda df: df,
    "arrow": lambda df: pa.Table.from_pandas(df, preserve_index=False),
    "numpy": lambda df: df.to_numpy(),
    "polars": lambda df: pl.from_pandas(df),
    "records": lambda df: df.to_dict(orient="records"),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    build, reference = CASES[request.param]
    model = build()
    folder = tmp_path_factory.mktemp(request.param) / "model"
    meta = save_model(model, folder, input_example=X)
    return request.param, model, reference(model), folder, meta


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_round_trip_predicts_like_the_original(saved: Any, kind: str) -> None:
    name, _, expected, folder, meta = saved
    assert meta.flavor == name.split("_")[0]
    loaded = load_model(folder)
    got = loaded.predict(INPUTS[kind](X))
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, np.asarray(expected))


def test_round_trip_keeps_the_native_object(saved: Any) -> None:
    name, model, _, folder, _ = saved
    native = load_model(folder).native
    if name == "onnx":
        assert isinstance(native, ort.InferenceSession)
    elif name.startswith("lightgbm"):  # the Booster, with the labels kept beside it
        assert isinstance(native, lgb.Booster)
    else:
        assert type(native) is type(model)


@pytest.mark.parametrize(
    "build",
    [
        lambda: LogisticRegression().fit(X, Y),
        lambda: xgb.XGBClassifier(n_estimators=5, max_depth=3, n_jobs=1).fit(X, Y),
        lambda: lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, Y),
        lambda: lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1).fit(X, Y3),
    ],
    ids=["sklearn", "xgboost", "lightgbm", "lightgbm_multiclass"],
)
def test_predict_proba_matches_the_original(build: Callable[[], Any], tmp_path: Path) -> None:
    model = build()
    save_model(model, tmp_path / "m", input_example=X)
    loaded = load_model(tmp_path / "m")
    assert loaded.has_proba
    np.testing.assert_array_equal(loaded.predict_proba(X.to_numpy()), model.predict_proba(X))


def test_predict_proba_refused_for_a_regressor(tmp_path: Path) -> None:
    save_model(LinearRegression().fit(X, TARGET), tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert not loaded.has_proba
    with pytest.raises(InvalidArgumentError, match="no class probabilities"):
        loaded.predict_proba(X)


def test_a_model_whose_library_is_not_installed_says_which_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`setpoint serve` of a scikit-learn model on a plain install said "No module named
    'skops'" (exit 3), with no word of the extra that installs it."""
    save_model(LinearRegression().fit(X, TARGET), tmp_path / "m")
    for name in [m for m in sys.modules if m == "skops" or m.startswith("skops.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skops", None)  # as if it were not installed
    with pytest.raises(ConfigurationError) as info:
        load_model(tmp_path / "m")
    assert "needs 'skops', which is not installed here" in info.value.message
    assert "pip install 'setpoint[sklearn]'" in info.value.message


def test_a_module_an_installed_library_lacks_is_not_said_to_be_uninstalled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model pickled under another version of a library refers to a module this version
    does not have: the library is installed, and the message must not say otherwise."""
    import types

    old = types.ModuleType("sklearn._gone_module")
    exec("class Old:\n    def predict(self, X):\n        return X", old.__dict__)
    old.Old.__module__ = old.__name__
    monkeypatch.setitem(sys.modules, old.__name__, old)
    save_model(old.Old(), tmp_path / "m", flavor="custom")
    monkeypatch.delitem(sys.modules, old.__name__)
    with pytest.raises(ConfigurationError) as info:
        load_model(tmp_path / "m")
    assert "needs the module 'sklearn._gone_module', which 'sklearn' here does not have" in (
        info.value.message
    )


def test_matching_frame_reaches_the_model_without_a_copy(tmp_path: Path) -> None:
    save_model(Threshold("amount"), tmp_path / "m", input_example=X)
    loaded = load_model(tmp_path / "m")
    loaded.predict(X)
    assert loaded.native.seen == [id(X)]


def test_prediction_input_is_checked_against_the_signature(tmp_path: Path) -> None:
    save_model(LogisticRegression().fit(X, Y), tmp_path / "m", input_example=X)
    loaded = load_model(tmp_path / "m")
    with pytest.raises(InvalidArgumentError) as info:
        loaded.predict(X.drop(columns=["age"]))
    assert info.value.field == "input"
    assert "column 'age' is missing" in info.value.message
    shuffled = X[["ratio", "score", "age", "amount"]].assign(extra="x")
    np.testing.assert_array_equal(loaded.predict(shuffled), loaded.predict(X))


@pytest.mark.parametrize(
    "build",
    [
        lambda: LinearRegression().fit(X, X["amount"] * 2 + X["age"]),
        lambda: xgb.XGBRegressor(n_estimators=5).fit(X, X["amount"] * 2 + X["age"]),
    ],
    ids=["sklearn", "xgboost"],
)
def test_an_array_signature_still_takes_a_table_by_its_fitted_names(
    build: Callable[[], Any], tmp_path: Path
) -> None:
    """Fitted on a DataFrame, logged with an array example: a table in another column
    order was predicted on the wrong columns, without an error."""
    model = build()
    save_model(model, tmp_path / "m", input_example=X.to_numpy()[:5])
    loaded = load_model(tmp_path / "m")
    reordered = X[list(reversed(X.columns))]
    np.testing.assert_allclose(loaded.predict(reordered), model.predict(X), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict(X.to_numpy()), model.predict(X), rtol=1e-6)
    with pytest.raises(InvalidArgumentError, match="the input has no column 'age'") as info:
        loaded.predict(X.drop(columns=["age"]).assign(other=1.0))
    assert info.value.field == "input"


def test_lightgbm_on_category_columns_takes_their_values_as_text(tmp_path: Path) -> None:
    """Trained on pandas category columns, LightGBM refused every frame whose column held the
    values as text ("categorical_feature do not match"), as one read from Parquet or CSV."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=200),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], 200)),
        }
    )
    labels = np.where(frame["x"] + (frame["color"] == "red") > 0.5, "yes", "no")
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, labels)
    save_model(model, tmp_path / "m", input_example=frame[:5])
    loaded = load_model(tmp_path / "m")
    as_text = frame.astype({"color": str})
    np.testing.assert_array_equal(loaded.predict(as_text), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(as_text), model.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize("as_booster", [False, True])
def test_xgboost_on_category_columns_takes_their_values_as_text(
    tmp_path: Path, as_booster: bool
) -> None:
    """Fitted with ``enable_categorical`` on pandas category columns, XGBoost refused every
    frame whose column held the values as text, as one read from Parquet or CSV."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], 300)),
        }
    )
    labels = (frame["x"] + 2 * (frame["color"] == "red") > 0.5).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, tree_method="hist")
    model.fit(frame, labels)
    native = model.get_booster() if as_booster else model
    save_model(native, tmp_path / "m", input_example=frame[:5])
    loaded = load_model(tmp_path / "m")
    as_text = frame.astype({"color": str})
    expected = model.predict_proba(frame)[:, 1]
    if as_booster:
        np.testing.assert_allclose(loaded.predict(as_text), expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(loaded.predict(as_text), model.predict(frame))
        np.testing.assert_allclose(loaded.predict_proba(as_text)[:, 1], expected, rtol=1e-6)
    # categories in another order are the same categories
    reordered = frame.assign(color=pd.Categorical(as_text["color"], ["red", "green", "blue"]))
    np.testing.assert_allclose(
        np.ravel(loaded.predict(reordered))[:20], np.ravel(loaded.predict(as_text))[:20]
    )


def test_model_without_a_signature_predicts_on_any_table(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.signature is None and loaded.input_example is None
    np.testing.assert_array_equal(loaded.predict(pa.Table.from_pandas(X)), model.predict(X))
    # by the names it was fitted on: extra columns (an evaluation's slices) and another
    # order were a ValueError from scikit-learn
    extra = X[list(reversed(X.columns))].assign(segment="a")
    np.testing.assert_array_equal(loaded.predict(extra), model.predict(X))


# ------------------------------------------------------------------ scikit-learn trust


def test_pipeline_of_standard_estimators_loads_with_default_trust(tmp_path: Path) -> None:
    meta = save_model(
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y), tmp_path / "m"
    )
    assert meta.flavor_meta["untrusted_types"] == []
    assert meta.flavor_meta["class"] == "sklearn.pipeline.Pipeline"
    assert meta.flavor_meta["classes"] == [0, 1]
    assert meta.flavor_meta["file"] == "model.skops"
    load_model(tmp_path / "m")


def test_untrusted_type_refused_with_the_types_listed(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, Y)
    save_model(model, tmp_path / "m")
    with pytest.raises(UntrustedModelError) as info:
        load_model(tmp_path / "m")
    error = info.value
    name = f"{double.__module__}.double"
    assert error.types == (name,)
    assert name in error.message and "trusted=" in error.message
    assert error.field == "trusted" and error.status == 422 and error.code == "untrusted_model"
    assert isinstance(error, InvalidArgumentError)
    assert error.to_dict()["types"] == [name]

    loaded = load_model(tmp_path / "m", trusted=[name])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_trust_must_cover_every_flagged_type(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, Y)
    save_model(model, tmp_path / "m", input_example=X)
    with pytest.raises(UntrustedModelError) as info:
        load_model(tmp_path / "m", trusted=["something.Else"])
    assert info.value.types == (f"{double.__module__}.double",)
    loaded = load_model(tmp_path / "m", trusted=list(info.value.types))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_common_estimators_load_with_default_trust(tmp_path: Path) -> None:
    """Neighbors (search trees, distance metrics), imputers (numpy dtypes) and histogram
    boosting with categorical features were refused by every command, which cannot pass
    trusted types."""
    import functools

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import KNeighborsClassifier

    categorical = X.assign(amount=(X["amount"] > X["amount"].median()).astype(int))
    for i, (model, data) in enumerate(
        [
            (RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), X),
            (HistGradientBoostingClassifier(max_iter=3), X),
            (HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]), categorical),
            (KNeighborsClassifier(n_neighbors=3), X),
            (KNeighborsClassifier(algorithm="ball_tree", metric="manhattan"), X),
            (make_pipeline(SimpleImputer(), LogisticRegression()), X),
        ]
    ):
        model.fit(data, Y)
        save_model(model, tmp_path / str(i), input_example=data)
        loaded = load_model(tmp_path / str(i))
        np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    # a partial is trusted only around a function that is: any other is still refused
    wrapped = make_pipeline(FunctionTransformer(functools.partial(double)), LogisticRegression())
    save_model(wrapped.fit(X, Y), tmp_path / "partial")
    with pytest.raises(UntrustedModelError) as info:
        load_model(tmp_path / "partial")
    assert info.value.types == (f"{double.__module__}.double",)


# ------------------------------------------------------------------ integrity


def test_changed_file_refused_before_deserialization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    save_model(Threshold("amount"), folder)
    marker = tmp_path / "unpickled"
    (folder / "model.pkl").write_bytes(pickle.dumps(Marker(str(marker))))

    called: list[str] = []
    monkeypatch.setattr(custom, "load", lambda *args, **kwargs: called.append("load"))
    with pytest.raises(ArtifactCorruptedError) as info:
        load_model(folder)
    assert "model.pkl" in info.value.message
    assert called == []
    assert not marker.exists()


def test_changed_skops_file_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(LogisticRegression().fit(X, Y), folder)
    data = bytearray((folder / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ArtifactCorruptedError, match=r"model\.skops"):
        load_model(folder)


def test_unknown_and_missing_files_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(Threshold("amount"), folder, input_example=X)
    (folder / "extra.pkl").write_bytes(b"x")
    with pytest.raises(ArtifactCorruptedError, match=r"extra\.pkl"):
        load_model(folder)
    (folder / "extra.pkl").unlink()
    (folder / "input_example.parquet").unlink()
    with pytest.raises(ArtifactCorruptedError, match=r"input_example\.parquet"):
        load_model(folder)


def test_manifest_paths_outside_the_folder_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    save_model(Threshold("amount"), folder)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["files"]["../elsewhere.pkl"] = "0" * 64
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactCorruptedError, match="outside the model"):
        load_model(folder)


def test_model_json_lists_every_file_with_its_digest(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    meta = save_model(LogisticRegression().fit(X, Y), folder, input_example=X)
    on_disk = sorted(p.name for p in folder.iterdir() if p.name != "model.json")
    assert sorted(meta.files) == on_disk == ["input_example.parquet", "model.skops"]
    for name, digest in meta.files.items():
        assert digest == digest_bytes((folder / name).read_bytes())
    manifest = json.loads((folder / "model.json").read_text())
    assert manifest == meta.to_dict()
    assert type(meta).from_dict(manifest) == meta


def test_folder_without_model_json_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"no model\.json"):
        load_model(tmp_path)


# ------------------------------------------------------------------ metadata


def test_requirements_record_the_framework_versions(tmp_path: Path) -> None:
    meta = save_model(xgb.XGBRegressor(n_estimators=2, n_jobs=1).fit(X, TARGET), tmp_path / "x")
    assert meta.requirements["xgboost"] == xgb.__version__
    assert meta.requirements["numpy"] == np.__version__
    assert set(meta.requirements) == {"xgboost", "numpy", "pandas", "pyarrow"}
    assert meta.python_version == ".".join(map(str, sys.version_info[:3]))
    meta = save_model(LogisticRegression().fit(X, Y), tmp_path / "s")
    assert meta.requirements["scikit-learn"] == sklearn.__version__
    assert "skops" in meta.requirements


def test_custom_flavor_is_marked_unsafe(tmp_path: Path) -> None:
    meta = save_model(Threshold("amount"), tmp_path / "m")
    assert meta.flavor == "custom" and meta.unsafe
    assert meta.flavor_meta["file"] == "model.pkl"
    assert json.loads((tmp_path / "m" / "model.json").read_text())["unsafe"] is True
    assert not save_model(LogisticRegression().fit(X, Y), tmp_path / "s").unsafe


def test_flavor_can_be_named(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y)
    assert save_model(model, tmp_path / "c", flavor="custom").unsafe
    with pytest.raises(InvalidArgumentError) as info:
        save_model(model, tmp_path / "x", flavor="xgboost")
    assert info.value.field == "flavor"
    with pytest.raises(InvalidArgumentError, match="unknown flavor 'keras'"):
        save_model(model, tmp_path / "k", flavor="keras")


def test_object_without_predict_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        save_model(StandardScaler(), tmp_path / "m")
    error = info.value
    assert error.field == "model"
    assert "sklearn.preprocessing._data.StandardScaler" in error.message
    for name in flavors.names():
        assert f"{name}:" in error.message
    assert not (tmp_path / "m").exists()


def test_onnx_bytes_accepted_and_other_bytes_refused(tmp_path: Path) -> None:
    model = onnx_linear()
    meta = save_model(model.SerializeToString(), tmp_path / "m")
    assert meta.flavor == "onnx" and meta.flavor_meta["inputs"] == ["X"]
    np.testing.assert_array_equal(
        load_model(tmp_path / "m").predict(X.to_numpy(np.float32)), _onnx_reference(model)
    )
    # numpy's float64, the usual array, is cast to the float32 the model takes (it was an
    # onnxruntime INVALID_ARGUMENT), with or without an array signature
    np.testing.assert_allclose(
        load_model(tmp_path / "m").predict(X.to_numpy()), _onnx_reference(model), rtol=1e-6
    )
    save_model(model.SerializeToString(), tmp_path / "sig", input_example=X.to_numpy()[:3])
    np.testing.assert_allclose(
        load_model(tmp_path / "sig").predict(X.to_numpy()), _onnx_reference(model), rtol=1e-6
    )
    with pytest.raises(InvalidArgumentError, match="ONNX"):
        save_model(b"\x00\x01 not a model", tmp_path / "bad")
    assert sorted(os.listdir(tmp_path)) == ["m", "sig"]  # a failed save leaves nothing behind


def test_input_example_kept_and_read_lazily(tmp_path: Path) -> None:
    meta = save_model(Threshold("amount"), tmp_path / "t", input_example=X)
    assert meta.input_example == "input_example.parquet"
    loaded = load_model(tmp_path / "t")
    assert loaded._example is None
    example = loaded.input_example
    assert isinstance(example, pd.DataFrame) and len(example) == 100
    pd.testing.assert_frame_equal(example, X.head(100))

    array = X.to_numpy()
    meta = save_model(LinearRegression().fit(array, TARGET), tmp_path / "n", input_example=array)
    assert meta.input_example == "input_example.npy"
    assert meta.signature is not None and meta.signature.to_dict()["inputs"]["shape"] == [-1, 4]
    np.testing.assert_array_equal(load_model(tmp_path / "n").input_example, array[:100])


def test_object_array_example_refused_rather_than_pickled(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        save_model(Threshold("a"), tmp_path / "m", input_example=np.array([["a", 1]], object))
    assert info.value.field == "input_example"


def test_save_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    with pytest.raises(InvalidArgumentError) as info:
        save_model(Threshold("amount"), tmp_path / "m")
    assert info.value.field == "folder"
    (tmp_path / "e").mkdir()
    save_model(Threshold("amount"), tmp_path / "e")  # an empty folder is fine
    assert isinstance(load_model(tmp_path / "e"), LoadedModel)


def test_importing_the_package_imports_no_framework() -> None:
    probe = (
        "import sys\n"
        "import setpoint.models.package\n"
        "from setpoint.models import flavors\n"
        "class Model:\n"
        "    def predict(self, X): return X\n"
        "assert flavors.flavor_for(Model()).NAME == 'custom'\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    heavy = {"sklearn", "skops", "xgboost", "lightgbm", "onnx", "onnxruntime", "torch"}
    assert not loaded & heavy
