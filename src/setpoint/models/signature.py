"""Model signatures: the columns (or tensor) a model takes and gives, inferred from an example,
and the check that aligns prediction input to them before it reaches the model."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
FLOATS = frozenset({"halffloat", "float", "double"})
# What pandas infers for a column of Python objects, as Arrow types.
OBJECT_KINDS = {
    "string": "string",
    "integer": "int64",
    "floating": "double",
    "mixed-integer-float": "double",
    "boolean": "bool",
    "bytes": "binary",
    "empty": "null",
}
LISTED = 12  # columns an error message names before "... and N more"
ACCEPTED = (
    "a pandas DataFrame, a polars DataFrame, a pyarrow Table or RecordBatch, a numpy array "
    "or a list of dicts"
)


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    """One input or output column; ``type`` is an Arrow type string ("double", "string", ...)."""

    name: str
    type: str


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """A numpy array: ``dtype`` as numpy names it, ``shape`` with -1 for any number of rows."""

    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))


Spec = Sequence[ColumnSpec] | TensorSpec


@dataclass(frozen=True, kw_only=True)
class Signature:
    """What a model takes (``inputs``) and, when known, gives (``outputs``): a sequence of
    columns for tabular data, or a tensor spec for numpy arrays."""

    inputs: Spec
    outputs: Spec | None = None

    def __post_init__(self) -> None:
        # Tuples keep the record immutable and hashable whatever sequence the caller gave.
        for name in ("inputs", "outputs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, TensorSpec):
                object.__setattr__(self, name, tuple(value))

    @property
    def is_tabular(self) -> bool:
        return not isinstance(self.inputs, TensorSpec)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": _spec_to_dict(self.inputs), "outputs": _spec_to_dict(self.outputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        inputs = _spec_from_dict(data.get("inputs"))
        if inputs is None:
            raise InvalidArgumentError("a signature needs inputs", field="signature")
        return cls(inputs=inputs, outputs=_spec_from_dict(data.get("outputs")))


def given_signature(value: object, example: object = None) -> Signature | None:
    """A signature a caller gave (a Signature, or its dict form as ``model.json`` keeps it),
    checked: known column types, unique names, a valid tensor; and the example, when there is
    one, must fit it (else every prediction would be refused later)."""
    import numpy as np
    import pyarrow as pa

    if value is None:
        return None
    if isinstance(value, Mapping):
        value = Signature.from_dict(value)
    if not isinstance(value, Signature):
        raise InvalidArgumentError(
            "signature must be a Signature or its dict ({'inputs': [{'name': ..., 'type': "
            "...}]}), got " + type(value).__name__,
            field="signature",
        )
    for spec in (value.inputs, value.outputs):
        if isinstance(spec, TensorSpec):
            try:
                np.dtype(spec.dtype)
            except TypeError:
                raise _bad_signature(f"{spec.dtype!r} is not a numpy dtype") from None
            if not spec.shape or any(d != -1 and d < 1 for d in spec.shape):
                raise _bad_signature(f"shape {spec.shape}: sizes are -1 (any) or above 0")
        elif spec is not None:
            seen: set[str] = set()
            for c in spec:
                if not isinstance(c.name, str) or not c.name or c.name in seen:
                    raise _bad_signature(f"column name {c.name!r} is empty or given twice")
                seen.add(c.name)
                try:
                    pa.type_for_alias(c.type)
                except (ValueError, TypeError):
                    raise _bad_signature(
                        f"column {c.name!r}: {c.type!r} is not an Arrow type (double, int64, "
                        "string, bool, timestamp[us], ...)"
                    ) from None
    if example is not None:
        try:
            check_input(value, example)
        except InvalidArgumentError as exc:
            raise _bad_signature(f"the input example does not fit it: {exc.message}") from None
    return value


def _bad_signature(problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"signature: {problem}", field="signature")


def infer_signature(example: object, output: object = None) -> Signature:
    """The signature of ``example`` (and of ``output``, e.g. the model's predictions on it)."""
    inputs = _infer(example, "input_example")
    return Signature(inputs=inputs, outputs=None if output is None else _infer(output, "output"))


def check_input(signature: Signature, data: object) -> pd.DataFrame | np.ndarray:
    """``data`` aligned to ``signature``: a pandas DataFrame with exactly the signature's
    columns in its order (extra columns dropped, numbers cast where the model expects another
    numeric type), or a numpy array of the expected shape. A DataFrame that already matches
    is returned as is. Raises InvalidArgumentError (field "input") naming what is wrong."""
    return InputAligner(signature).align(data)


class InputAligner:
    """``check_input`` for one signature. It remembers the last DataFrame layout (names and
    dtypes) it let through as is, so a stream of such frames costs two comparisons each."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        inputs = signature.inputs
        self._tensor = inputs if isinstance(inputs, TensorSpec) else None
        self._columns = () if isinstance(inputs, TensorSpec) else tuple(inputs)
        self._passed: tuple[Any, list[Any], tuple[Any, ...]] | None = None

    @property
    def takes_tensor(self) -> bool:
        return self._tensor is not None

    def align(self, data: object) -> pd.DataFrame | np.ndarray:
        if self._tensor is not None:
            return _align_tensor(data, self._tensor)
        if _is_pandas_frame(data):
            return self._align_frame(data)  # type: ignore[arg-type]
        return _align_columns(data, self._columns)

    def _align_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        import numpy as np

        index = frame.columns
        key = _dtypes_key(frame)
        passed = self._passed
        # Index objects are immutable: the same object means the same names.
        if (
            passed is not None
            and passed[2] == key
            and (passed[0] is index or index.tolist() == passed[1])
        ):
            return frame
        dtypes = frame.dtypes.tolist()
        out = _align_pandas(frame, self._columns, dtypes)
        # Object columns are typed by their values, which the next frame may change.
        if out is frame and not any(d == np.dtype(object) for d in dtypes):
            self._passed = (index, index.tolist(), key)
        return out


def _dtypes_key(frame: pd.DataFrame) -> tuple[Any, ...]:
    """The column dtypes, to recognize a layout seen before. ``DataFrame.dtypes`` builds a
    Series (tens of microseconds, a few percent of a small model's predict on 10,000 rows);
    the frame's block manager, which that property reads, answers in under one."""
    get_dtypes = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    return tuple(frame.dtypes.tolist() if get_dtypes is None else get_dtypes())


def as_frame_or_array(data: object) -> pd.DataFrame | np.ndarray:
    """Input for a model without a signature: numpy arrays and pandas DataFrames as they are,
    other tables as pandas DataFrames."""
    import numpy as np

    if isinstance(data, np.ndarray) or _is_pandas_frame(data):
        return data  # type: ignore[return-value]
    return to_arrow_table(data, "input").to_pandas()


def to_arrow_table(data: object, field: str = "input") -> pa.Table:
    """A pandas or polars DataFrame, Arrow Table or RecordBatch, or list of dicts as an Arrow
    table (a pandas index is dropped); InvalidArgumentError naming ``field`` otherwise."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.startswith("polars") and type(data).__name__ == "DataFrame":
        return data.to_arrow()  # type: ignore[attr-defined]
    rows = isinstance(data, list) and all(isinstance(row, dict) for row in data)
    if rows and not data:
        raise InvalidArgumentError("the list of rows is empty", field=field)
    try:
        if _is_pandas_frame(data):
            return pa.Table.from_pandas(data, preserve_index=False)
        if rows:
            return pa.Table.from_pylist(data)  # type: ignore[arg-type]
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read the data as a table: {exc}", field=field) from exc
    raise InvalidArgumentError(
        f"cannot use a {type(data).__name__}: expected {ACCEPTED}", field=field
    )


# ------------------------------------------------------------------ to and from JSON


def _spec_to_dict(spec: Spec | None) -> Any:
    if spec is None:
        return None
    if isinstance(spec, TensorSpec):
        return {"dtype": spec.dtype, "shape": list(spec.shape)}
    return [{"name": c.name, "type": c.type} for c in spec]


def _spec_from_dict(data: Any) -> Spec | None:
    try:
        if data is None:
            return None
        if isinstance(data, Mapping):
            return TensorSpec(dtype=str(data["dtype"]), shape=tuple(data["shape"]))
        return tuple(ColumnSpec(name=str(c["name"]), type=str(c["type"])) for c in data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"malformed signature: {exc!r}; expected a list of {{name, type}} or {{dtype, shape}}",
            field="signature",
        ) from exc


# ------------------------------------------------------------------ inference


def _infer(data: object, field: str) -> Spec:
    import numpy as np

    if isinstance(data, np.ndarray):
        if data.ndim == 0:
            raise InvalidArgumentError("a 0-dimensional array has no rows", field=field)
        return TensorSpec(dtype=str(data.dtype), shape=(-1, *data.shape[1:]))
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "Series":
        return _infer(data.to_numpy(), field)  # type: ignore[attr-defined]
    if _is_pandas_frame(data):
        frame: pd.DataFrame = data  # type: ignore[assignment]
        return tuple(
            ColumnSpec(name=str(label), type=_series_type(frame[label], str(label), field))
            for label in frame.columns
        )
    if isinstance(data, list) and data and not isinstance(data[0], dict):
        return _infer(np.asarray(data), field)
    schema = to_arrow_table(data, field).schema
    return tuple(ColumnSpec(name=f.name, type=_plain(f.type)) for f in schema)


def _is_pandas_frame(data: object) -> bool:
    return type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame"


def _plain(t: pa.DataType) -> str:
    """One name per kind of value: categoricals as their values, large and view strings and
    binaries as plain ones, so a DataFrame, its Arrow table and its Parquet file agree."""
    from setpoint.data.ingest import plain_type

    return str(plain_type(t))


@functools.lru_cache(maxsize=64)
def _numpy_type(dtype: np.dtype[Any]) -> str:
    import pyarrow as pa

    return _plain(pa.from_numpy_dtype(dtype))


def _series_type(series: pd.Series[Any], name: str, field: str = "input") -> str:
    """The Arrow type string of a pandas column, reading values only for object columns."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = series.dtype
    try:
        if isinstance(dtype, np.dtype) and dtype.kind in "biufmM":
            return _numpy_type(dtype)
        if isinstance(dtype, pd.StringDtype):
            return "string"
        if isinstance(dtype, pd.CategoricalDtype):
            return _series_type(dtype.categories.to_series(), name, field)
        if isinstance(dtype, pd.ArrowDtype):
            return _plain(dtype.pyarrow_dtype)
        if dtype == np.dtype(object):
            # pandas' scan in C settles the common kinds; Arrow converts (and so checks) the rest.
            kind = pd.api.types.infer_dtype(series, skipna=True)
            if kind in OBJECT_KINDS:
                return OBJECT_KINDS[kind]
            return _plain(pa.Array.from_pandas(series).type)
        return _plain(pa.Array.from_pandas(series.iloc[:0]).type)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"column {name!r} holds values of no single type ({dtype}): {exc}", field=field
        ) from exc


# ------------------------------------------------------------------ alignment


def _error(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, field="input")


def _listing(columns: Sequence[ColumnSpec]) -> str:
    shown = ", ".join(f"{c.name} ({c.type})" for c in columns[:LISTED])
    more = len(columns) - LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _missing(names: list[str], columns: Sequence[ColumnSpec]) -> InvalidArgumentError:
    quoted = ", ".join(repr(n) for n in names)
    what = f"column {quoted} is" if len(names) == 1 else f"columns {quoted} are"
    return _error(f"{what} missing; the model expects columns {_listing(columns)}")


def _needs_cast(got: str, want: str, name: str) -> bool:
    """Whether a column of type ``got`` must be cast for the model; refuse what cannot be."""
    if got == want:
        return False
    if got == "null":  # every value missing: any type can hold that
        return want in FLOATS
    if want in FLOATS and (got in INTEGERS or got in FLOATS):
        return True
    if want in INTEGERS and got in INTEGERS:
        return True
    if want.startswith("timestamp[") and got.startswith("timestamp["):
        return False  # same instants at another resolution; the model sees datetimes either way
    hint = ""
    if want in FLOATS:
        hint = " (integer and floating columns are cast to it; other types are not)"
    elif want in INTEGERS:
        hint = " (integer columns are cast to it; other types are not)"
    raise _error(f"column {name!r} is {got}; the model expects {want}{hint}")


def _align_columns(data: object, columns: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    import numpy as np

    if _is_pandas_frame(data):
        return _align_pandas(data, columns)  # type: ignore[arg-type]
    if isinstance(data, np.ndarray):
        import pandas as pd

        if data.ndim != 2 or data.shape[1] != len(columns):
            raise _error(
                f"input is an array of shape {data.shape}; the model expects {len(columns)} "
                f"columns in this order: {_listing(columns)}"
            )
        return _align_pandas(pd.DataFrame(data, columns=[c.name for c in columns]), columns)
    return _align_arrow(to_arrow_table(data, "input"), columns)


def _align_pandas(
    frame: pd.DataFrame, columns: tuple[ColumnSpec, ...], given_dtypes: Sequence[Any] = ()
) -> pd.DataFrame:
    import numpy as np

    if not frame.columns.is_unique:
        raise _error("the input has duplicate column names; each column must be named once")
    given = frame.columns.tolist()
    # Plain lists and dicts: indexing pandas objects per column costs more than the check.
    dtypes = dict(zip(given, given_dtypes or frame.dtypes.tolist(), strict=True))
    labels = {label if isinstance(label, str) else str(label): label for label in given}
    missing = [c.name for c in columns if c.name not in labels]
    if missing:
        raise _missing(missing, columns)
    order = [labels[c.name] for c in columns]
    casts: dict[Any, Any] = {}
    for spec, label in zip(columns, order, strict=True):
        dtype = dtypes[label]
        if isinstance(dtype, np.dtype) and dtype.kind in "biufmM":
            got = _numpy_type(dtype)  # the common case: no need to look at values
        else:
            got = _series_type(frame[label], spec.name)
        if _needs_cast(got, spec.type, spec.name):
            casts[label] = _numpy_dtype(spec.type)
    if not casts and given == order:
        return frame
    out = frame[order]
    if casts:
        _check_range(out, casts)
        try:
            out = out.astype(casts)
        except (TypeError, ValueError) as exc:
            raise _error(f"cannot cast the input to the model's column types: {exc}") from exc
    return out


def _numpy_dtype(arrow_type: str) -> np.dtype[Any]:
    import numpy as np
    import pyarrow as pa

    return np.dtype(pa.type_for_alias(arrow_type).to_pandas_dtype())


def _check_range(frame: pd.DataFrame, casts: dict[Any, np.dtype[Any]]) -> None:
    """numpy wraps integers that do not fit on a cast; refuse them instead."""
    import numpy as np

    for label, dtype in casts.items():
        if dtype.kind not in "iu" or np.can_cast(frame[label].dtype, dtype):
            continue
        info = np.iinfo(dtype)
        low, high = frame[label].min(), frame[label].max()
        if low < info.min or high > info.max:
            raise _error(
                f"column {str(label)!r} holds values from {low} to {high}; "
                f"the model expects {dtype}, which holds {info.min} to {info.max}"
            )


def _align_arrow(table: pa.Table, columns: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    import pyarrow as pa

    index = {name: i for i, name in enumerate(table.schema.names)}
    missing = [c.name for c in columns if c.name not in index]
    if missing:
        raise _missing(missing, columns)
    arrays = []
    for spec in columns:
        column = table.column(index[spec.name])
        if _needs_cast(_plain(column.type), spec.type, spec.name):
            try:
                column = column.cast(pa.type_for_alias(spec.type))
            except pa.ArrowException as exc:
                raise _error(f"column {spec.name!r} cannot be cast to {spec.type}: {exc}") from exc
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns]).to_pandas()


def _align_tensor(data: object, spec: TensorSpec) -> np.ndarray:
    import numpy as np

    if isinstance(data, np.ndarray):
        array = data
    elif _is_pandas_frame(data):
        array = data.to_numpy()  # type: ignore[attr-defined]
    else:
        array = to_arrow_table(data, "input").to_pandas().to_numpy()
    fits = array.ndim == len(spec.shape) and all(
        want in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
    )
    if not fits:
        raise _error(
            f"input has shape {tuple(array.shape)}; the model expects shape {spec.shape} "
            "(-1: any number of rows)"
        )
    want = np.dtype(spec.dtype)
    got = array.dtype
    if got == want or want.kind == "O" or (want.kind in "US" and got.kind in "USO"):
        return array
    if (want.kind == "f" and got.kind in "iuf") or (want.kind in "iu" and got.kind in "iu"):
        if want.kind in "iu" and not np.can_cast(got, want) and array.size:
            info = np.iinfo(want)
            if array.min() < info.min or array.max() > info.max:
                raise _error(f"input holds values outside the range of {want}")
        return array.astype(want)
    raise _error(f"input has dtype {got}; the model expects {want}")
