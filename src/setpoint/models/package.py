"""A saved model: flavor files, an input example and ``model.json`` (flavor, signature,
requirements, the BLAKE3 digest of every file); loaded only when every digest matches."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import (
    ArtifactCorruptedError,
    ArtifactNotFoundError,
    ConfigurationError,
    InvalidArgumentError,
)
from setpoint.core.hashing import digest_stream
from setpoint.models import flavors
from setpoint.models.signature import (
    InputAligner,
    Signature,
    as_frame_or_array,
    given_signature,
    infer_signature,
    to_arrow_table,
)

if TYPE_CHECKING:
    import numpy as np

    from setpoint.core.types import ModelVersion

FORMAT_VERSION = 1
MANIFEST = "model.json"
EXAMPLE_TABLE = "input_example.parquet"
EXAMPLE_ARRAY = "input_example.npy"
EXAMPLE_ROWS = 100  # an example documents the input; it is not a copy of the training data
PIP_NAMES = {"sklearn": "scikit-learn"}  # import name -> distribution name, where they differ


@dataclass(frozen=True, kw_only=True)
class ModelMeta:
    """What ``model.json`` holds. ``files`` maps each file's path (relative, "/"-separated)
    to its BLAKE3 hex digest; ``requirements`` maps package names to the versions saved with."""

    format_version: int
    flavor: str
    flavor_meta: dict[str, Any]
    signature: Signature | None
    requirements: dict[str, str]
    python_version: str
    unsafe: bool
    input_example: str | None
    files: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "flavor_meta": self.flavor_meta,
            "signature": None if self.signature is None else self.signature.to_dict(),
            "requirements": self.requirements,
            "python_version": self.python_version,
            "unsafe": self.unsafe,
            "input_example": self.input_example,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        try:
            signature = data.get("signature")
            return cls(
                format_version=int(data["format_version"]),
                flavor=str(data["flavor"]),
                flavor_meta=dict(data["flavor_meta"]),
                signature=None if signature is None else Signature.from_dict(signature),
                requirements={str(k): str(v) for k, v in data["requirements"].items()},
                python_version=str(data["python_version"]),
                unsafe=bool(data["unsafe"]),
                input_example=data.get("input_example"),
                files={str(k): str(v) for k, v in data["files"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgumentError(f"malformed model metadata: {exc!r}", field="meta") from exc


def save_model(
    model: object,
    folder: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: object = None,
    signature: Signature | None = None,
) -> ModelMeta:
    """Save ``model`` into ``folder`` (created; it must not hold files yet) with the flavor
    that handles it, or the one named. The signature is inferred from ``input_example`` when
    not given; the example's first rows are kept as Parquet (tables) or .npy (arrays).
    The folder appears whole or not at all."""
    chosen = flavors.flavor_for(model) if flavor is None else flavors.get(flavor)
    if flavor is not None and not chosen.handles(model):
        raise InvalidArgumentError(
            f"the {flavor} flavor cannot save a {type(model).__qualname__}", field="flavor"
        )
    target = os.path.abspath(os.fspath(folder))
    if os.path.exists(target) and not (os.path.isdir(target) and not os.listdir(target)):
        raise InvalidArgumentError(
            f"{target} already exists and is not an empty folder", field="folder"
        )
    signature = given_signature(signature, input_example)
    if signature is None and input_example is not None:
        signature = infer_signature(input_example)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    # Not mkdtemp: its private mode would stay on the folder after the rename.
    work = os.path.join(parent, f".model-{uuid.uuid4().hex}.tmp")
    os.mkdir(work)
    try:
        flavor_meta = chosen.save(model, work)
        example = None if input_example is None else _write_example(input_example, work)
        meta = ModelMeta(
            format_version=FORMAT_VERSION,
            flavor=chosen.NAME,
            flavor_meta=flavor_meta,
            signature=signature,
            requirements=_requirements(chosen.PACKAGES),
            python_version=platform.python_version(),
            unsafe=bool(flavor_meta.get("unsafe", False)),
            input_example=example,
            files=_digests(work),
        )
        try:
            text = json.dumps(meta.to_dict(), indent=2, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"the model's metadata cannot be written as JSON: {exc}", field="model"
            ) from exc
        with open(os.path.join(work, MANIFEST), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above; renaming onto it is not portable
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return meta


def manifest_bytes(files: Iterable[Mapping[str, Any]]) -> bytes:
    """The bytes of a package's manifest blob, which the registry registers: each file's
    ``path``, ``digest`` (BLAKE3) and ``size``, in the order given."""
    import orjson

    entries = [{"path": f["path"], "digest": f["digest"], "size": f["size"]} for f in files]
    return orjson.dumps({"format": 1, "files": entries}, option=orjson.OPT_SORT_KEYS)


def read_meta(folder: str | os.PathLike[str]) -> ModelMeta:
    """The ``model.json`` of a saved model, without checking its files."""
    path = os.path.join(os.fspath(folder), MANIFEST)
    if not os.path.isfile(path):
        raise ArtifactNotFoundError(f"{os.fspath(folder)} holds no {MANIFEST}: not a saved model")
    try:
        with open(path, encoding="utf-8") as f:
            meta = ModelMeta.from_dict(json.load(f))
    except (ValueError, InvalidArgumentError) as exc:
        raise ArtifactCorruptedError(f"{MANIFEST} cannot be read: {exc}") from exc
    if meta.format_version > FORMAT_VERSION:
        raise InvalidArgumentError(
            f"the model was saved in format {meta.format_version}; this setpoint reads up to "
            f"{FORMAT_VERSION}: upgrade setpoint to load it",
            field="model",
        )
    return meta


def verify_files(folder: str | os.PathLike[str], meta: ModelMeta) -> None:
    """Raise ArtifactCorruptedError unless the folder holds exactly the files ``meta`` lists,
    each with its recorded digest. ``model.json`` itself is trusted: whoever hands out the
    folder vouches for it (the registry records its digest)."""
    root = os.fspath(folder)
    for rel in meta.files:
        parts = rel.split("/")
        if os.path.isabs(rel) or "\\" in rel or any(p in ("", ".", "..") for p in parts):
            raise ArtifactCorruptedError(f"{MANIFEST} lists a path outside the model: {rel!r}")
    for ref in (meta.flavor_meta.get("file"), meta.input_example):
        if ref is not None and ref not in meta.files:
            raise ArtifactCorruptedError(f"{MANIFEST} refers to {ref!r} but records no digest")
    present = set(_walk(root)) - {MANIFEST}
    unknown = sorted(present - set(meta.files))
    if unknown:
        raise ArtifactCorruptedError(
            f"{root} holds files {MANIFEST} does not list: {', '.join(unknown)}"
        )
    missing = sorted(set(meta.files) - present)
    if missing:
        raise ArtifactCorruptedError(f"{root} lacks files {MANIFEST} lists: {', '.join(missing)}")
    for rel, expected in sorted(meta.files.items()):
        with open(os.path.join(root, *rel.split("/")), "rb") as f:
            actual, _ = digest_stream(f)
        if actual != expected:
            raise ArtifactCorruptedError(
                f"{rel} does not match its recorded BLAKE3 digest (recorded {expected}, "
                f"found {actual}): it changed after the model was saved, so it is not loaded"
            )


def load_model(
    folder: str | os.PathLike[str], *, trusted: Iterable[str | type] | None = None
) -> LoadedModel:
    """Load a saved model after checking every file against its digest, before any of them
    is deserialized. ``trusted`` names types a scikit-learn model may hold beyond the
    defaults. A model marked ``unsafe`` (custom flavor) runs code from its pickle: load it
    only from a store you trust."""
    root = os.fspath(folder)
    meta = read_meta(root)
    verify_files(root, meta)
    try:
        predictor = flavors.get(meta.flavor).load(root, meta.flavor_meta, trusted=trusted)
    except ModuleNotFoundError as exc:
        raise _needs(meta.flavor, exc) from exc
    return LoadedModel(meta=meta, predictor=predictor, folder=root)


def _extra_of(module: str) -> str | None:
    """The setpoint extra that installs ``module``: that of the flavor loading with it (a
    flavor's PACKAGES), when setpoint has an extra of the flavor's name."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        extras = set(metadata("setpoint").get_all("Provides-Extra") or ())
    except PackageNotFoundError:  # (run from a source folder, not installed)
        return None
    found = (f.NAME for f in flavors.all_flavors() if module in f.PACKAGES and f.NAME in extras)
    return next(found, None)


def _needs(flavor: str, exc: ModuleNotFoundError) -> ConfigurationError:
    """A model that cannot load here for a module this machine lacks: which, and how. A
    library that is installed but lacks the module (a model pickled under another version
    of it, code of the user's not importable here) is said as such."""
    import importlib.util

    module = exc.name or ""
    top = module.split(".")[0]
    if not top:
        return ConfigurationError(f"loading this {flavor} model failed: {exc}", field="model")
    try:
        installed = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        installed = True  # (a broken or shadowed package: say what is missing, no more)
    if installed:
        return ConfigurationError(
            f"loading this {flavor} model needs the module {module!r}, which {top!r} here "
            "does not have (saved with another version of it?)"
            if module != top
            else f"loading this {flavor} model needs the module {module!r}, which cannot be "
            "imported here",
            field="model",
        )
    extra = _extra_of(top)
    how = f"pip install 'setpoint[{extra}]'" if extra else f"install the package providing {top!r}"
    if top == "mlflow":  # an MLflow PythonModel's class derives from MLflow's
        how = "pip install mlflow-skinny"
    return ConfigurationError(
        f"loading this {flavor} model needs {top!r}, which is not installed here: {how}",
        field="model",
    )


class LoadedModel:
    """A model ready to predict: input is checked and aligned to the signature, and every
    flavor answers with a numpy array."""

    def __init__(self, *, meta: ModelMeta, predictor: flavors.Predictor, folder: str) -> None:
        self.meta = meta
        self._predictor = predictor
        self._folder = folder
        self._example: Any = None
        self._aligner = None if meta.signature is None else InputAligner(meta.signature)
        # Set by the registry when the model was loaded by reference; None for a folder.
        self.version: ModelVersion | None = None

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.meta.flavor!r}, folder={self._folder!r})"

    @property
    def native(self) -> Any:
        """The framework's own object (estimator, Booster, InferenceSession, ...)."""
        return self._predictor.native

    @property
    def signature(self) -> Signature | None:
        return self.meta.signature

    @property
    def has_proba(self) -> bool:
        return self._predictor.has_proba

    def predict(self, data: object) -> np.ndarray:
        """Predict on a pandas or polars DataFrame, an Arrow Table or RecordBatch, a numpy
        array or a list of dicts."""
        import numpy as np

        return np.asarray(self._predictor.predict(self._align(data)))

    def predict_proba(self, data: object) -> np.ndarray:
        """Class probabilities, one column per class, for classifiers that give them."""
        import numpy as np

        if not self._predictor.has_proba:
            raise InvalidArgumentError(
                f"this {self.meta.flavor} model gives no class probabilities", field="model"
            )
        return np.asarray(self._predictor.predict_proba(self._align(data)))

    @property
    def input_example(self) -> Any:
        """The saved example (a pandas DataFrame or a numpy array), read on first use."""
        name = self.meta.input_example
        if name is None or self._example is not None:
            return self._example
        path = os.path.join(self._folder, *name.split("/"))
        if name.endswith(".npy"):
            import numpy as np

            self._example = np.load(path, allow_pickle=False)
        else:
            import pyarrow.parquet as pq

            self._example = pq.read_table(path).to_pandas()
        return self._example

    def _align(self, data: object) -> Any:
        aligner = self._aligner
        if aligner is None or aligner.takes_tensor:
            data = self._by_feature_names(data)
        return as_frame_or_array(data) if aligner is None else aligner.align(data)

    def _by_feature_names(self, data: object) -> object:
        """A table given to a model whose signature is an array (or that has none), but which
        was fitted on named columns: its columns in the fitted order, extra ones left out (an
        array has no names, so a table in another order would be predicted on the wrong
        columns)."""
        import numpy as np

        names = getattr(self._predictor, "feature_names", None)
        if not names or isinstance(data, np.ndarray):
            return data
        frame = as_frame_or_array(data)
        if isinstance(frame, np.ndarray) or not any(isinstance(c, str) for c in frame.columns):
            return data  # positional columns: taken as they are
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidArgumentError(
                f"the input has no column {missing[0]!r}; the model was fitted on "
                f"{', '.join(names)}",
                field="input",
            )
        return frame[names]


def _write_example(example: object, folder: str) -> str:
    import numpy as np

    if isinstance(example, np.ndarray):
        if example.dtype.hasobject:
            raise InvalidArgumentError(
                "an input example array of Python objects cannot be saved without pickle; "
                "pass a DataFrame or an Arrow table instead",
                field="input_example",
            )
        np.save(os.path.join(folder, EXAMPLE_ARRAY), example[:EXAMPLE_ROWS], allow_pickle=False)
        return EXAMPLE_ARRAY
    import pyarrow.parquet as pq

    table = to_arrow_table(example, "input_example").slice(0, EXAMPLE_ROWS)
    pq.write_table(table, os.path.join(folder, EXAMPLE_TABLE), compression="zstd")
    return EXAMPLE_TABLE


def _requirements(packages: Iterable[str]) -> dict[str, str]:
    return {
        PIP_NAMES.get(module, module): _version(module)
        for module in (*packages, "numpy", "pandas", "pyarrow")
    }


def _version(module: str) -> str:
    version = getattr(importlib.import_module(module), "__version__", None)
    if isinstance(version, str):
        return version
    return importlib.metadata.version(PIP_NAMES.get(module, module))


def _walk(root: str) -> list[str]:
    """Every file under ``root`` as a relative "/"-separated path; links are refused, since
    what they point at is not part of the model."""
    out = []
    for top, dirs, names in os.walk(root):
        for name in [*names, *dirs]:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if os.path.islink(path):
                raise ArtifactCorruptedError(f"{rel} in the model folder is a link")
            if name in names:
                out.append(rel)
    return out


def _digests(root: str) -> dict[str, str]:
    out = {}
    for rel in sorted(_walk(root)):
        with open(os.path.join(root, *rel.split("/")), "rb") as f:
            out[rel], _ = digest_stream(f)
    return out
