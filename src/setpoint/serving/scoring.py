"""Batch scoring: a loaded model over any amount of CSV/Parquet data, a record batch at a
time (memory bounded by the batches in flight, not the input), in parallel threads, into
Parquet with the input's key columns kept beside the predictions."""

from __future__ import annotations

import concurrent.futures
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, kw_only=True)
class ScoreResult:
    rows: int
    files: list[str]
    keep: list[str]


def key_columns(schema: pa.Schema, model: Any, keep: list[str] | None) -> list[str]:
    """The input columns the output keeps: ``keep`` if given (checked), else every input
    column the model does not take (ids, timestamps, ...)."""
    names = list(schema.names)
    if keep is not None:
        missing = [k for k in keep if k not in names]
        if missing:
            raise InvalidArgumentError(
                f"the input has no column {missing[0]!r} to keep (it has {', '.join(names)})",
                field="keep",
            )
        return keep
    signature = getattr(model, "signature", None)
    inputs = getattr(signature, "inputs", None)
    if inputs is None or not isinstance(inputs, list | tuple):
        return []
    taken = {c.name for c in inputs}
    return [n for n in names if n not in taken]


def score(
    model: Any,
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    dest: str,
    *,
    keep: list[str] | None = None,
    proba: bool = False,
    threads: int | None = None,
) -> ScoreResult:
    """Predict every batch and write one Parquet file at ``dest`` in input order; up to
    ``threads`` batches are predicted at once (models that release the GIL use the cores)."""
    keys = key_columns(schema, model, keep)
    if proba and not getattr(model, "has_proba", False):
        raise InvalidArgumentError("this model gives no class probabilities", field="proba")
    workers = threads or os.cpu_count() or 1
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{dest}.partial"
    rows = 0
    writer = None
    try:
        with concurrent.futures.ThreadPoolExecutor(workers, "setpoint-score") as pool:
            inflight: deque[concurrent.futures.Future[pa.Table]] = deque()
            for batch in batches:
                inflight.append(pool.submit(_score_batch, model, batch, keys, proba))
                if len(inflight) >= 2 * workers:  # bounded: at most this many batches held
                    writer, n = _write(writer, tmp, inflight.popleft().result())
                    rows += n
            while inflight:
                writer, n = _write(writer, tmp, inflight.popleft().result())
                rows += n
        if writer is None:
            raise InvalidArgumentError("the input has no rows", field="input")
        writer.close()
        writer = None
        os.replace(tmp, dest)  # nothing half-written under the final name
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    return ScoreResult(rows=rows, files=[dest], keep=keys)


def _score_batch(model: Any, batch: pa.RecordBatch, keys: list[str], proba: bool) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    columns = {k: batch.column(k) for k in keys}
    outputs: dict[str, Any] = {}
    try:
        predicted = np.asarray(model.predict(batch))
    except InvalidArgumentError:
        raise
    except Exception as exc:
        if (gap := _first_gap(batch, _taken(model, batch, keys))) is not None:
            # most often, why the model failed
            first = (str(exc).splitlines() or [""])[0]
            raise InvalidArgumentError(
                f"column {gap[0]!r} has missing values (the first at row {gap[1]} of a batch), "
                f"which the model refused: {type(exc).__name__}: {first}",
                field="input",
            ) from exc
        raise
    if predicted.ndim == 2 and predicted.shape[1] == 1:  # one output, as a column (ONNX)
        predicted = predicted[:, 0]
    if predicted.ndim == 1:
        outputs["prediction"] = predicted
    elif predicted.ndim == 2:  # several outputs: one column each
        outputs.update({f"prediction_{j}": predicted[:, j] for j in range(predicted.shape[1])})
    else:
        raise InvalidArgumentError(
            f"the model predicts an array of shape {predicted.shape}; batch scoring writes "
            "one value per output and row",
            field="model",
        )
    if proba:
        probabilities = np.asarray(model.predict_proba(batch))
        classes = _classes(model, probabilities.shape[1])
        for j, c in enumerate(classes):
            outputs[f"proba_{c}"] = probabilities[:, j]
    for name, values in outputs.items():
        if name in columns:  # it would replace the input's column of that name
            raise InvalidArgumentError(
                f"the input column {name!r} is kept, and the output has a column of that "
                "name; keep other columns (--keep) or rename it",
                field="keep",
            )
        columns[name] = pa.array(values)
    return pa.table(columns)


def _taken(model: Any, batch: pa.RecordBatch, keys: list[str]) -> list[str]:
    """The columns of ``batch`` the model takes: its signature's, else all but the kept."""
    signature = getattr(model, "signature", None)
    inputs = getattr(signature, "inputs", None)
    if isinstance(inputs, list | tuple):
        return [c.name for c in inputs if c.name in batch.schema.names]
    return [n for n in batch.schema.names if n not in keys]


def _first_gap(batch: pa.RecordBatch, columns: list[str]) -> tuple[str, int] | None:
    """The first of ``columns`` that holds a null or NaN, and the row; or None."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in columns:
        column = batch.column(name)
        missing = column.is_null(nan_is_null=True) if pa.types.is_floating(column.type) else None
        if missing is None:
            missing = column.is_null()
        if pc.any(missing).as_py():
            return name, int(np.flatnonzero(missing.to_numpy(zero_copy_only=False))[0])
    return None


def _classes(model: Any, n: int) -> list[str]:
    """The class labels of the probability columns: the estimator's, or (a Booster knows
    none) those recorded when the model was logged; positions otherwise."""
    known = getattr(getattr(model, "native", None), "classes_", None)
    if known is None:
        meta = getattr(model, "meta", None)
        known = (getattr(meta, "flavor_meta", None) or {}).get("classes")
    if known is None or len(known) != n:
        return [str(j) for j in range(n)]
    return [str(c) for c in known]


def _write(writer: Any, path: str, table: pa.Table) -> tuple[Any, int]:
    import pyarrow.parquet as pq

    if writer is None:
        writer = pq.ParquetWriter(path, table.schema, compression="zstd")
    writer.write_table(table)
    return writer, table.num_rows
