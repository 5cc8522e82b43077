"""Materializers: how a step's output is stored, found again and loaded, by its type.

Tables become dataset versions, numpy arrays ``.npy`` blobs, exact JSON values JSON blobs,
models model versions through their flavor; anything else only when the step opted into
pickle. A stored output is described by a small JSON *record* (kind, digest, ref), which is
what executors pass between steps and what the cache keeps.
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from setpoint.core.errors import PipelineError, SetpointError
from setpoint.pipelines.cache import is_json, literal_hash


def store(
    c: Any, value: Any, step: str, pickle_ok: bool, pipeline: str, run: Any
) -> dict[str, Any]:
    """Store a step's result by its type: tables as dataset versions, numpy arrays as .npy,
    JSON values as JSON, models through their flavor; anything else only if the step opted
    into pickle."""
    from setpoint.client import sdk

    kind = type(value).__module__.split(".")[0]
    if kind in ("pandas", "pyarrow", "polars") and type(value).__name__ in (
        "DataFrame",
        "Table",
    ):
        from setpoint.data.ingest import row_numbers  # log_dataset's own rule

        if kind == "pandas" and not row_numbers(value):
            raise PipelineError(
                f"step {step!r} returned a DataFrame with an index of labels, which a dataset "
                "version keeps as columns (the next step would get them as columns): return "
                "df.reset_index() to make them columns, or df.reset_index(drop=True) to drop "
                "them",
                field="output",
            )
        if kind == "pandas" and not all(isinstance(c, str) for c in value.columns):
            odd = next(c for c in value.columns if not isinstance(c, str))
            raise PipelineError(
                f"step {step!r} returned a DataFrame with the column label {odd!r}, which a "
                "dataset version keeps as text (a cached run would see another label): name "
                "the columns with strings",
                field="output",
            )
        v = sdk.log_dataset(value, f"{pipeline}.{step}", project=run.project)
        c.add_lineage("run", run.id, "produced", "dataset_version", v.ref)
        return {"kind": "dataset", "ref": v.ref, "digest": v.digest, "library": kind}
    if kind == "numpy" and type(value).__name__ == "ndarray":
        import numpy as np

        if value.dtype.hasobject:
            raise PipelineError(
                f"step {step!r} returned a numpy array of Python objects, which cannot be "
                "stored without pickle: return numbers, or declare @sp.step(pickle=True)",
                field="output",
            )
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"kind": "numpy", "digest": blob(c, buf.getvalue())}
    if value is None:
        return {"kind": "none", "digest": literal_hash(None, what="output")}
    if is_json(value):
        # exactly JSON, keys in the order the step made them: what a later run loads is what
        # this one returned (sorted keys would hand a step {"alpha", "zeta"} for {"zeta", ...})
        return {"kind": "json", "digest": blob(c, orjson.dumps(value))}
    if callable(getattr(value, "predict", None)):
        mv = run.log_model(value, f"{pipeline}.{step}")
        return {"kind": "model", "ref": mv.ref, "digest": mv.digest}
    if pickle_ok:
        import cloudpickle

        return {"kind": "pickle", "digest": blob(c, cloudpickle.dumps(value))}
    if isinstance(value, str):  # (not JSON: it holds a lone surrogate)
        raise PipelineError(
            f"step {step!r} returned text that is not valid Unicode (a lone surrogate, as "
            "bytes decoded with errors='surrogateescape' leave), which cannot be stored: "
            "decode the bytes with the right encoding, or return them as bytes with pickle",
            field="output",
        )
    inside = _not_json(value) if type(value) in (dict, list) else None
    where = f" (its {inside} is not JSON)" if inside else ""
    raise PipelineError(
        f"step {step!r} returned a {type(value).__name__}{where}, which setpoint cannot store "
        "as it is: return a DataFrame or Arrow table, a numpy array, exact JSON (dicts with "
        "string keys, lists, finite numbers, strings, booleans; not tuples, NaN or dates; a "
        "DataFrame or array inside a dict neither: return it from a step of its own) or a "
        "model, or declare @sp.step(pickle=True) for your own objects",
        field="output",
    )


def _not_json(value: Any, path: str = "") -> str | None:
    """Where inside a dict or list the first value that is not JSON is, and what it is
    (``value at ['train'] (a pandas.DataFrame)``); None when it is all JSON."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        here = f"{path}[{key!r}]"
        if isinstance(value, dict) and not isinstance(key, str):
            return f"key {key!r} at {path or 'the top'} (a {type(key).__name__})"
        if type(item) in (dict, list):
            found = _not_json(item, here)
            if found:
                return found
        elif not is_json(item):
            kind = type(item)
            if kind.__module__ == "builtins":  # NaN, a number beyond 64 bits, a tuple...
                shown = repr(item)
                shown = shown if len(shown) <= 40 else f"a {kind.__name__}"
            else:
                shown = f"a {kind.__module__.split('.')[0]}.{kind.__qualname__}"
            return f"value at {here} ({shown})"
    return None


def load(c: Any, record: dict[str, Any], pickle_ok: bool) -> Any:
    from setpoint.client import sdk

    kind = record["kind"]
    if kind == "dataset":
        v = sdk.get_dataset(record["ref"])
        library = record.get("library", "pandas")
        if library == "pyarrow":
            return v.to_arrow()
        if library == "polars":
            import polars as pl

            return pl.from_arrow(v.to_arrow())
        return v.to_pandas()
    if kind == "model":
        return sdk.load_model(record["ref"]).native
    if kind == "none":
        return None
    data = blob_bytes(c, record["digest"])
    if kind == "json":
        return orjson.loads(data)
    if kind == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "pickle":
        if not pickle_ok:
            raise PipelineError(
                "a stored output is a pickle but its step does not declare pickle=True",
                field="output",
            )
        import cloudpickle

        return cloudpickle.loads(data)
    raise PipelineError(f"unknown stored output kind {kind!r}", field="output")


def exists(c: Any, record: dict[str, Any]) -> bool:
    """Whether the output ``record`` describes is still in the store, every blob of it (a
    cache hit needs that)."""
    from setpoint.client import sdk

    try:
        kind = record["kind"]
        if kind == "none":  # nothing stored: the record is right or made up
            return bool(record["digest"] == literal_hash(None, what="output"))
        if kind == "dataset":
            v = sdk.get_dataset(record["ref"]).info
            if v.digest != record["digest"]:
                return False
            # a table's digest is its Parquet blob; a files version's, its manifest's
            files = c.list_dataset_files(v.name, v.version, v.project) if v.kind == "files" else []
            return _held(c, [v.digest, *(f.digest for f in files)])
        if kind == "model":
            mv = sdk.get_model_version(record["ref"])
            if mv.digest != record["digest"] or mv.deleted_at is not None:
                return False
            files = c.list_model_files(mv.name, mv.version, mv.project)
            return _held(c, [mv.digest, *(f.digest for f in files)])
        return bool(c.has_blob(record["digest"]))
    except (SetpointError, KeyError):
        return False


def _held(c: Any, digests: list[str]) -> bool:
    """Whether the store still holds every blob a version is made of: its row outlives
    them when `gc --verify` deletes a corrupted one, and loading it would then fail."""
    return all(c.has_blob(d) for d in digests)


def blob(c: Any, data: bytes) -> str:
    return str(c.upload_blob(io.BytesIO(data)).digest)


def blob_bytes(c: Any, digest: str) -> bytes:
    import os
    import tempfile

    path = c.local_blob_path(digest)
    if path is not None:
        with open(path, "rb") as fh:
            return fh.read()
    with tempfile.TemporaryDirectory(prefix="setpoint-step-") as tmp:
        dest = os.path.join(tmp, "blob")
        c.download_blob(digest, dest)
        with open(dest, "rb") as fh:
            return fh.read()


def dumps(value: Any) -> str:
    """A record, key parts or a literal as the text of a tag or param (keys sorted: one
    text per value; what a step receives keeps its order, see ``store``)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
