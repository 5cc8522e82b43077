"""MLflow's model format: a folder with an ``MLmodel`` file, as ``mlflow.<flavor>.log_model``
writes it. setpoint registers such a folder as it is (flavor ``mlflow``) and loads it here,
without MLflow where the format allows: scikit-learn and sklearn-API LightGBM models saved
with skops (trusted types only, as the sklearn flavor), XGBoost models and LightGBM boosters
from their native files; a PythonModel (``mlflow.pyfunc.log_model(python_model=...)``) with
its artifacts and model_config. A model MLflow pickled (pickle or cloudpickle, as every
PythonModel is) is unpickled, which runs code: the registry marks every MLflow package
unsafe."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from setpoint.core.errors import InvalidArgumentError

NAME = "mlflow"
DESCRIPTION = "a folder in MLflow's model format (registered through MLflow's API)"
PACKAGES: tuple[str, ...] = ()
MLMODEL = "MLmodel"
LOADABLE = ("sklearn", "xgboost", "lightgbm")
PYFUNC = "python_function"
PYTHON_MODEL_LOADER = "mlflow.pyfunc.model"  # the loader of a pickled PythonModel
FORMATS = ("skops", "native", "pickle", "cloudpickle")  # "native": the framework's own file
LIGHTGBM_BOOSTER = "lightgbm.basic.Booster"
# The types MLflow itself trusts in the skops file of an sklearn-API LightGBM model, beyond
# skops' defaults: the estimators, and the Booster they hold, which skops rebuilds from its
# model text (no callables). Types the MLmodel's own skops_trusted_types adds are not
# trusted from it (whoever wrote the folder wrote that list): the caller names them.
LIGHTGBM_SKOPS_TRUSTED = (
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    LIGHTGBM_BOOSTER,
    "collections.OrderedDict",
)


def handles(model: object) -> bool:
    return False  # never chosen to save: MLflow's own log_model writes this format


def save(model: Any, folder: str) -> dict[str, Any]:
    raise InvalidArgumentError(
        "the mlflow flavor only reads folders MLflow wrote; save with another flavor",
        field="flavor",
    )


def describe(mlmodel_text: str) -> dict[str, Any]:
    """The flavor metadata of an MLmodel file: which of its flavors setpoint loads, the
    file, and how it was serialized. InvalidArgumentError when none is loadable."""
    import yaml

    try:
        doc = yaml.safe_load(mlmodel_text)
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"MLmodel is not YAML: {exc}", field="MLmodel") from None
    found = (doc or {}).get("flavors") if isinstance(doc, dict) else None
    if not isinstance(found, dict):
        raise InvalidArgumentError("MLmodel names no flavors", field="MLmodel")
    for name in LOADABLE:
        conf = found.get(name)
        if not isinstance(conf, dict):
            continue
        if name == "sklearn":
            file = conf.get("pickled_model")
            fmt = str(conf.get("serialization_format", "cloudpickle"))
        else:
            file = conf.get("data")
            fmt = "native"
            if name == "lightgbm" and _is_lightgbm_estimator(conf):
                # MLflow writes a Booster in LightGBM's text format whatever
                # serialization_format says; an estimator with skops (MLflow 3's default)
                # or pickled (older MLflow wrote model.pkl and no format).
                fmt = str(conf.get("serialization_format") or "pickle")
        if not isinstance(file, str) or not file:
            continue
        if fmt not in FORMATS:
            raise InvalidArgumentError(
                f"setpoint loads MLflow {name} models saved as {', '.join(FORMATS)}; this one "
                f"is saved as {fmt}",
                field="MLmodel",
            )
        out = {
            "mlflow_flavor": name,
            "file": file,
            "serialization": fmt,
            "model_class": str(conf.get("model_class") or ""),
            "unsafe": fmt in ("pickle", "cloudpickle"),
        }
        if isinstance(doc.get("signature"), dict):
            out["mlflow_signature"] = doc["signature"]
        return out
    pyfunc = found.get(PYFUNC)
    if isinstance(pyfunc, dict) and pyfunc.get("model_code_path"):
        raise InvalidArgumentError(
            "setpoint does not load MLflow models from code (python_model given as a file "
            "path); log the PythonModel object instead",
            field="MLmodel",
        )
    python_model = _python_model_meta(pyfunc)
    if python_model is not None:
        if isinstance(doc.get("signature"), dict):
            python_model["mlflow_signature"] = doc["signature"]
        return python_model
    raise InvalidArgumentError(
        f"setpoint loads MLflow models of the flavors {', '.join(LOADABLE)}, and "
        f"{PYFUNC} models of a PythonModel; this one has {', '.join(sorted(found))}",
        field="MLmodel",
    )


def _python_model_meta(conf: Any) -> dict[str, Any] | None:
    """The metadata of a ``mlflow.pyfunc.log_model(python_model=...)`` folder: the pickled
    PythonModel, its artifacts (name -> path in the folder) and model_config; None for any
    other python_function (one loaded by a framework's module, or from code)."""
    if not isinstance(conf, dict) or conf.get("loader_module") != PYTHON_MODEL_LOADER:
        return None
    file = conf.get("python_model")
    if not isinstance(file, str) or not file:
        return None
    compression = conf.get("python_model_compression")
    if compression is not None and compression not in _OPENERS:
        raise InvalidArgumentError(
            f"setpoint loads PythonModels pickled plain or compressed with "
            f"{', '.join(_OPENERS)}; this one is compressed with {compression}",
            field="MLmodel",
        )
    code = conf.get("code")
    given = conf.get("artifacts")
    artifacts: dict[Any, Any] = given if isinstance(given, dict) else {}
    paths = {
        str(name): str(spec["path"])
        for name, spec in artifacts.items()
        if isinstance(spec, dict) and isinstance(spec.get("path"), str)
    }
    config = conf.get("config")  # (MLflow writes save_model's model_config here)
    return {
        "mlflow_flavor": "pyfunc",
        "file": file,
        "serialization": "cloudpickle",
        "model_class": "",
        "unsafe": True,
        "artifacts": paths,
        "model_config": config if isinstance(config, dict) else {},
        "compression": compression,
        "code": code if isinstance(code, str) and code else None,  # code_paths' folder
    }


# how MLflow compresses a PythonModel's pickle (MLFLOW_LOG_MODEL_COMPRESSION)
_OPENERS = {"lzma": "lzma", "bzip2": "bz2", "gzip": "gzip"}


def _is_lightgbm_estimator(conf: Mapping[str, Any]) -> bool:
    """Whether MLflow saved an sklearn-API LightGBM model (LGBMClassifier, ...) rather than a
    Booster: as MLflow's own loader decides, by the recorded class (a Booster when none)."""
    model_class = str(conf.get("model_class") or LIGHTGBM_BOOSTER)
    return model_class != LIGHTGBM_BOOSTER or str(conf.get("data")).endswith(".pkl")


def load(
    folder: str,
    meta: Mapping[str, Any],
    *,
    trusted: Iterable[str | type] | None = None,
    **options: Any,
) -> MlflowPredictor:
    path = os.path.join(folder, str(meta["file"]))
    kind, fmt = str(meta["mlflow_flavor"]), str(meta["serialization"])
    if kind == "pyfunc":
        return MlflowPredictor(native=_load_python_model(folder, path, meta))
    if kind == "lightgbm" and fmt == "native" and path.endswith(".skops"):
        fmt = "skops"  # registered before setpoint told MLflow 3's LightGBM estimators apart
    if fmt == "skops" and kind in ("sklearn", "lightgbm"):
        from setpoint.models.flavors import sklearn

        extra = LIGHTGBM_SKOPS_TRUSTED if kind == "lightgbm" else ()
        loaded = sklearn.load(folder, {"file": meta["file"]}, trusted=[*extra, *(trusted or ())])
        return MlflowPredictor(native=loaded.native)
    if fmt in ("pickle", "cloudpickle"):
        with open(path, "rb") as f:  # the package's bytes were checked against their digests
            return MlflowPredictor(native=pickle.load(f))
    if kind == "xgboost":
        from setpoint.models.flavors import xgboost

        estimator = str(meta.get("model_class", "")).rsplit(".", 1)[-1] or None
        if estimator == "Booster":
            estimator = None
        found = xgboost.load(folder, {"file": meta["file"], "estimator": estimator})
        return MlflowPredictor(native=found.native, booster=found.is_booster)
    if kind == "lightgbm" and fmt == "native":
        import lightgbm as lgb

        return MlflowPredictor(native=lgb.Booster(model_file=path), booster=True)
    raise InvalidArgumentError(f"cannot load an MLflow {kind} model saved as {fmt}", field="model")


@dataclass(frozen=True, kw_only=True)
class PythonModelContext:
    """What MLflow hands a PythonModel's ``load_context`` and ``predict``: its artifacts
    (name -> local path) and model_config."""

    artifacts: dict[str, str]
    model_config: dict[str, Any]


class PythonModel:
    """A pickled ``mlflow.pyfunc.PythonModel``, loaded and given its context: ``predict``
    calls its own, with the context when it takes one (``predict(self, context,
    model_input)``; MLflow 3 also allows ``predict(self, model_input)``)."""

    def __init__(self, model: Any, context: PythonModelContext) -> None:
        import inspect

        self.model = model
        self.context = context
        try:
            params = list(inspect.signature(model.predict).parameters)
        except (TypeError, ValueError):  # a builtin's: MLflow's own convention
            params = ["context", "model_input"]
        # MLflow's rule: a parameter named context, or two besides params (ctx, model_input)
        self._with_context = "context" in params or len([p for p in params if p != "params"]) == 2

    def predict(self, X: Any) -> Any:
        if self._with_context:
            return self.model.predict(self.context, X)
        return self.model.predict(X)


def _load_python_model(folder: str, path: str, meta: Mapping[str, Any]) -> PythonModel:
    import importlib
    import sys

    if meta.get("code"):  # the modules given as code_paths, importable as MLflow makes them
        code = os.path.join(folder, str(meta["code"]))
        if code not in sys.path:
            sys.path.insert(0, code)
    compression = meta.get("compression")
    opener: Any = open
    if compression:
        opener = importlib.import_module(_OPENERS[str(compression)]).open
    # (its class derives from MLflow's PythonModel: a module missing here is said by
    # load_model, MLflow's own among them)
    with opener(path, "rb") as f:  # the package's bytes were checked against their digests
        model = pickle.load(f)
    if not callable(getattr(model, "predict", None)):
        raise InvalidArgumentError(
            f"{meta['file']} holds a {type(model).__name__}, which has no predict",
            field="model",
        )
    artifacts = {
        name: os.path.join(folder, rel) for name, rel in dict(meta.get("artifacts") or {}).items()
    }
    context = PythonModelContext(
        artifacts=artifacts, model_config=dict(meta.get("model_config") or {})
    )
    load_context = getattr(model, "load_context", None)
    if callable(load_context):
        load_context(context)
    return PythonModel(model, context)


@dataclass(frozen=True, kw_only=True)
class MlflowPredictor:
    native: Any
    booster: bool = False  # a bare XGBoost or LightGBM booster: predict takes a matrix

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self.native, "predict_proba", None))

    def predict(self, X: Any) -> Any:
        import numpy as np

        if self.booster and type(self.native).__module__.startswith("xgboost"):
            import xgboost as xgb

            return np.asarray(self.native.predict(xgb.DMatrix(X)))
        return np.asarray(self.native.predict(X))

    def predict_proba(self, X: Any) -> Any:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"{type(self.native).__name__} has no predict_proba", field="model"
            )
        return self.native.predict_proba(X)


_ARROW = {
    "double": "double",
    "float": "float",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "string",
    "binary": "binary",
}


def signature_of(mlflow_signature: Mapping[str, Any]) -> dict[str, Any] | None:
    """setpoint's signature (as a dict) of an MLmodel's signature, or None when its inputs
    are not plain columns or one tensor (then requests are not checked against it)."""
    import json

    try:
        inputs = json.loads(str(mlflow_signature.get("inputs") or "null"))
    except ValueError:
        return None
    if not isinstance(inputs, list) or not inputs:
        return None
    if len(inputs) == 1 and inputs[0].get("type") == "tensor":
        spec = inputs[0].get("tensor-spec") or {}
        if not isinstance(spec.get("dtype"), str) or not isinstance(spec.get("shape"), list):
            return None
        return {"inputs": {"dtype": spec["dtype"], "shape": spec["shape"]}, "outputs": None}
    columns = []
    for c in inputs:
        if not isinstance(c, dict) or c.get("type") not in _ARROW or not c.get("name"):
            return None
        columns.append({"name": str(c["name"]), "type": _ARROW[c["type"]]})
    return {"inputs": columns, "outputs": None}


def package_meta(files: Mapping[str, str], mlmodel_text: str) -> bytes:
    """The model.json (its bytes) of an MLflow folder registered as it is: ``files`` maps
    each file's path in the folder to its BLAKE3 digest; ``mlmodel_text`` is its MLmodel."""
    import orjson

    from setpoint.models.package import FORMAT_VERSION

    described = describe(mlmodel_text)
    signature = described.pop("mlflow_signature", None)
    meta = {
        "format_version": FORMAT_VERSION,
        "flavor": NAME,
        "flavor_meta": described,
        "signature": signature_of(signature) if signature else None,
        "requirements": {},
        "python_version": "",
        "unsafe": True,
        "input_example": None,
        "files": dict(sorted(files.items())),
    }
    return orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
