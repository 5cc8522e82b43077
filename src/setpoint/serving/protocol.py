"""The wire formats a prediction server speaks, decoded straight into numpy columns.

- The Open Inference Protocol (KServe V2) REST ``infer`` request: named tensors with shape
  and datatype, as JSON or with the binary data extension (what ``tritonclient`` sends).
- MLflow's ``/invocations`` shapes: ``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``, and CSV.

Every request becomes a :class:`Request` of 1-d numpy columns (tabular models) or one
array (tensor models), checked against the model's signature by :class:`Schema`; nothing on
this path builds a pandas object or a pydantic model.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from setpoint.core.errors import (
    MalformedRequestError,
    PredictionInputError,
    UnsupportedMediaTypeError,
)
from setpoint.core.names import first_repeated
from setpoint.models.signature import Signature, TensorSpec

# Arrow type names (as signatures store them) -> Open Inference Protocol datatypes
OIP_OF_ARROW = {
    "bool": "BOOL",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "halffloat": "FP16",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "large_string": "BYTES",
}
NUMPY_OF_OIP: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}
HEADER_LENGTH = "inference-header-content-length"
LISTED = 10  # fields an error message names before "… and N more"


@dataclass(kw_only=True)
class Request:
    """One decoded request: ``columns`` (tabular) or ``tensor``, and its row count."""

    id: str | None
    rows: int
    columns: dict[str, np.ndarray] | None = None
    tensor: np.ndarray | None = None
    proba: bool = False  # predict_proba asked for too
    binary: bool = False  # answer with the binary data extension


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Data numpy cannot take in the shape it was sent (ragged lists, numbers beyond 64
    bits, nested objects) is the caller's mistake, not the server's: a 422."""
    try:
        yield
    except (ValueError, TypeError, OverflowError, IndexError, MemoryError) as exc:
        raise PredictionInputError(
            f"the input cannot be read as arrays: {type(exc).__name__}: {exc}",
            fields={"inputs": "not regular arrays"},
        ) from None


# ------------------------------------------------------------------ Open Inference Protocol


def parse_infer(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON part of an infer request and the binary part that follows it (if any)."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise MalformedRequestError(
                "Inference-Header-Content-Length must be a number of bytes"
            ) from None
        if not 0 < n <= len(body):
            raise MalformedRequestError(
                "Inference-Header-Content-Length is larger than the body", field="body"
            )
        head, rest = body[:n], body[n:]
    else:
        head, rest = body, b""
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(doc, dict):
        raise MalformedRequestError("the body must be a JSON object", field="body")
    return doc, rest


def infer_tensors(doc: Mapping[str, Any], binary: bytes) -> dict[str, np.ndarray]:
    """The request's input tensors by name, each reshaped to its declared shape."""
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequestError("'inputs' must be a non-empty list of tensors", field="inputs")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise MalformedRequestError(f"inputs[{i}] must be an object", field="inputs")
        name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
        where = f"input {name!r}" if isinstance(name, str) else f"inputs[{i}]"
        if not isinstance(name, str) or not name:
            raise MalformedRequestError(f"{where} needs a 'name'", field="inputs")
        if name in out:
            raise PredictionInputError(f"{where} is given twice", fields={name: "given twice"})
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise PredictionInputError(
                f"{where}: 'shape' must be a list of sizes", fields={name: "bad shape"}
            )
        dtype = NUMPY_OF_OIP.get(datatype) if isinstance(datatype, str) else None
        if dtype is None or not isinstance(datatype, str):
            raise PredictionInputError(
                f"{where}: unknown datatype {datatype!r} (expected one of "
                f"{', '.join(NUMPY_OF_OIP)})",
                fields={name: "unknown datatype"},
            )
        count = math.prod(shape)  # Python's ints: np.prod wraps around at 2**64
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if (
                isinstance(size, bool)
                or not isinstance(size, int)
                or size < 0
                or offset + size > len(binary)
            ):
                raise MalformedRequestError(f"{where}: binary_data_size runs past the body")
            chunk = binary[offset : offset + size]
            offset += size
            array = _from_binary(chunk, datatype, dtype, count, where, name)
        else:
            if "data" not in item:
                raise MalformedRequestError(f"{where} has no 'data'", field="inputs")
            array = _from_json(item["data"], datatype, dtype, where, name)
        if array.size != count:
            raise PredictionInputError(
                f"{where}: shape {shape} holds {count} values, 'data' has {array.size}",
                fields={name: "shape does not match data"},
            )
        out[name] = array.reshape(shape)
    return out


def _from_json(data: Any, datatype: str, dtype: Any, where: str, name: str) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        if datatype == "BYTES":
            array = np.array(data, dtype=object)
            if array.size and not all(isinstance(v, str) for v in array.flat):
                raise ValueError("expected strings")
            return array
        array = np.asarray(data)
    except ValueError as exc:
        raise PredictionInputError(
            f"{where}: 'data' is not a regular {datatype} array ({exc})",
            fields={name: f"not {datatype}"},
        ) from None
    if not _fits(array, datatype):
        raise PredictionInputError(
            f"{where}: 'data' holds {_kind_name(array)}, not {datatype}",
            fields={name: f"expected {datatype}"},
        )
    if array.size and datatype not in ("BOOL", "FP64"):  # would wrap around or overflow
        info = np.iinfo(dtype) if datatype.startswith(("INT", "UINT")) else np.finfo(dtype)
        held = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        if held.size and (held.min() < info.min or held.max() > info.max):
            raise PredictionInputError(
                f"{where}: 'data' holds values outside {datatype}'s range "
                f"({info.min:g} to {info.max:g})",
                fields={name: f"outside {datatype}"},
            )
    return array.astype(dtype, copy=False)


def _fits(array: np.ndarray, datatype: str) -> bool:
    kind = array.dtype.kind
    if array.size == 0:
        return True
    if datatype == "BOOL":
        return kind == "b"
    if datatype.startswith(("INT", "UINT")):
        return kind in "iu"
    return kind in "iuf"  # FP*: whole numbers are numbers too


def _kind_name(array: np.ndarray) -> str:
    return {
        "b": "booleans",
        "i": "integers",
        "u": "integers",
        "f": "numbers",
        "U": "strings",
        "O": "mixed values",
    }.get(array.dtype.kind, str(array.dtype))


def _from_binary(
    chunk: bytes, datatype: str, dtype: Any, count: int, where: str, name: str
) -> np.ndarray:
    if datatype != "BYTES":
        itemsize = np.dtype(dtype).itemsize
        if len(chunk) != count * itemsize:
            raise PredictionInputError(
                f"{where}: {len(chunk)} bytes of binary data for {count} {datatype} values",
                fields={name: "binary size does not match shape"},
            )
        return np.frombuffer(chunk, dtype=np.dtype(dtype).newbyteorder("<"))
    values: list[str] = []
    pos = 0
    while pos < len(chunk):  # each element: its length (4 bytes, little-endian), its bytes
        if pos + 4 > len(chunk):
            raise MalformedRequestError(f"{where}: truncated BYTES element", field=name)
        (n,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + n > len(chunk):
            raise MalformedRequestError(
                f"{where}: BYTES element {len(values)} declares {n} bytes, its binary data "
                f"has {len(chunk) - pos} left",
                field=name,
            )
        try:
            values.append(chunk[pos : pos + n].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise PredictionInputError(
                f"{where}: BYTES element {len(values)} is not UTF-8 text ({exc.reason} at "
                f"byte {exc.start})",
                fields={name: "not UTF-8 text"},
            ) from None
        pos += n
    return np.array(values, dtype=object)


def infer_response(
    model: str,
    version: str,
    request_id: str | None,
    outputs: dict[str, np.ndarray],
    binary: bool,
) -> tuple[bytes, dict[str, str]]:
    """An infer response body and its extra headers (binary extension when asked)."""
    head: dict[str, Any] = {"model_name": model, "model_version": version}
    if request_id is not None:
        head["id"] = request_id
    tensors, chunks = [], []
    for name, array in outputs.items():
        datatype = _datatype(array)
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if binary:
            raw = _to_binary(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        tensors.append(tensor)
    head["outputs"] = tensors
    body = orjson.dumps(head, option=orjson.OPT_SERIALIZE_NUMPY)
    if not binary:
        return body, {"content-type": "application/json"}
    return body + b"".join(chunks), {
        "content-type": "application/octet-stream",
        HEADER_LENGTH: str(len(body)),
    }


def _datatype(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind in "OUS":
        return "BYTES"
    if kind == "b":
        return "BOOL"
    return {
        "i1": "INT8",
        "i2": "INT16",
        "i4": "INT32",
        "i8": "INT64",
        "u1": "UINT8",
        "u2": "UINT16",
        "u4": "UINT32",
        "u8": "UINT64",
        "f2": "FP16",
        "f4": "FP32",
        "f8": "FP64",
    }.get(f"{kind}{array.dtype.itemsize}", "FP64")


def _to_binary(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    out = bytearray()
    for v in array.reshape(-1):
        raw = v if isinstance(v, bytes) else str(v).encode()
        out += struct.pack("<I", len(raw)) + raw
    return bytes(out)


# ------------------------------------------------------------------ MLflow /invocations


def parse_invocations(body: bytes, content_type: str, text_columns: tuple[str, ...] = ()) -> Any:
    """The data of an MLflow scoring request: a dict of columns, a list of row dicts, a list
    of row lists, or (CSV) a dict of columns (``text_columns`` read as text, as the model
    takes them, so "02139" keeps its zero)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return _csv_columns(body, text_columns)
    if media not in ("application/json", ""):
        raise UnsupportedMediaTypeError(
            f"content type {media!r} is not supported: send application/json or text/csv",
            field="content-type",
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(doc, dict):
        raise MalformedRequestError(
            "the body must be a JSON object with one of dataframe_split, dataframe_records, "
            "instances or inputs",
            field="body",
        )
    if doc.get("params"):  # MLflow's inference params: not passed on, so not taken silently
        raise MalformedRequestError(
            "params are not passed to the model here: setpoint's server predicts with the "
            "defaults of the model's params; send the request without them",
            field="params",
        )
    keys = [k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in doc]
    if len(keys) != 1:
        raise MalformedRequestError(
            "the body must have exactly one of dataframe_split, dataframe_records, instances "
            "or inputs",
            field="body",
        )
    value = doc[keys[0]]
    if keys[0] == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise MalformedRequestError(
                "dataframe_split needs 'columns' and 'data' (a list of rows)",
                field="dataframe_split",
            )
        columns = value.get("columns")
        rows = value["data"]
        if columns is None:
            return rows
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise MalformedRequestError(
                "dataframe_split 'columns' must be a list of names", field="dataframe_split"
            )
        twice = first_repeated(columns)
        if twice is not None:
            raise PredictionInputError(
                f"dataframe_split column {twice!r} is given twice", fields={twice: "given twice"}
            )
        return _split_columns(columns, rows)
    if isinstance(value, dict) and keys[0] == "inputs":
        return value  # named columns (or tensors)
    if not isinstance(value, list):
        raise MalformedRequestError(f"{keys[0]} must be a list", field=keys[0])
    return value


def _record_columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as objects (column: value) as columns, named in the order they first appear; a
    row without a column holds None there."""
    names = list(dict.fromkeys(k for row in records for k in row))
    return {n: [row.get(n) for row in records] for n in names}


def _side_by_side(columns: list[Any]) -> np.ndarray:
    """Equal columns of numbers as the rows of one 2-D array."""
    arrays = [np.asarray(c) for c in columns]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise PredictionInputError(
            "the columns of the table must be equal lists of values",
            fields={"input": "a table of equal columns"},
        )
    return np.column_stack(arrays)


def _sized(value: Any) -> bool:
    """A column of values (a list, an array), not one value."""
    if isinstance(value, str | bytes):
        return False
    try:
        len(value)
    except TypeError:
        return False
    return True


def _split_columns(columns: list[str], rows: list[Any]) -> dict[str, Any]:
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise PredictionInputError(
                f"dataframe_split row {i} has {len(row) if isinstance(row, list) else 'no'} "
                f"values for {width} columns",
                fields={"data": f"row {i} does not have {width} values"},
            )
    if not rows:
        return {c: [] for c in columns}
    table = np.asarray(rows)
    if table.dtype.kind in "iufb":
        # One numeric table is right unless numpy made flags next to numbers into numbers
        # (true as 1.0), or whole numbers into floats that cannot hold them (beyond 2**53).
        kinds = set(map(type, itertools.chain.from_iterable(rows)))
        flags = bool in kinds and len(kinds) > 1
        rounded = table.dtype.kind == "f" and int in kinds and bool(np.abs(table).max() >= 2.0**53)
        if not (flags or rounded):
            return {c: table[:, j] for j, c in enumerate(columns)}
    # Rows mixing kinds (numbers, flags and text): numpy would make every value text.
    # Each column is read on its own, as dataframe_records and CSV read them.
    table = np.array(rows, dtype=object)
    return {c: _typed_alone(table[:, j]) for j, c in enumerate(columns)}


def _typed_alone(values: np.ndarray) -> np.ndarray:
    """One column of an object table as numpy types it alone (mixed stays objects)."""
    items = values.tolist()
    kinds = {type(v) for v in items}
    if len(kinds) == 1 or kinds <= {int, float}:
        with contextlib.suppress(ValueError, TypeError, OverflowError):
            return np.asarray(items)
    return values


def _csv_columns(body: bytes, text_columns: tuple[str, ...] = ()) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in text_columns})
    try:
        table = pacsv.read_csv(pa.BufferReader(body), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise MalformedRequestError(f"the body is not CSV: {exc}", field="body") from None
    twice = first_repeated(table.column_names)
    if twice is not None:
        raise PredictionInputError(
            f"the CSV header names column {twice!r} twice", fields={twice: "given twice"}
        )
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


# ------------------------------------------------------------------ the model's side


class Schema:
    """A model version's signature as a checker: turns decoded request data into the
    columns (or array) the model takes, or raises PredictionInputError naming each field."""

    def __init__(self, signature: Signature | None, allow_nan: bool = False) -> None:
        self.signature = signature
        self.allow_nan = allow_nan
        inputs = None if signature is None else signature.inputs
        self.tensor: TensorSpec | None = inputs if isinstance(inputs, TensorSpec) else None
        self.columns: list[tuple[str, str]] = (
            []
            if inputs is None or isinstance(inputs, TensorSpec)
            else [(c.name, c.type) for c in inputs]
        )
        self._names = [n for n, _ in self.columns]
        self._name_set = set(self._names)
        self.text_columns = tuple(n for n, t in self.columns if t in ("string", "large_string"))

    # -- from the Open Inference Protocol

    def from_tensors(self, tensors: dict[str, np.ndarray], request_id: str | None) -> Request:
        if self.tensor is not None or not self.columns:
            if len(tensors) != 1:
                raise PredictionInputError(
                    f"this model takes one tensor, the request has {len(tensors)}",
                    fields={n: "unexpected" for n in tensors},
                )
            array = next(iter(tensors.values()))
            return self._tensor_request(array, request_id)
        if len(tensors) == 1:
            ((name, array),) = tensors.items()
            if name not in self._name_set and array.ndim == 2:
                # one 2-d tensor: rows of the signature's columns, in its order
                if array.shape[1] != len(self.columns):
                    raise PredictionInputError(
                        f"input {name!r} has {array.shape[1]} columns; the model takes "
                        f"{len(self.columns)} ({_listed(self._names)})",
                        fields={name: f"expected shape [n, {len(self.columns)}]"},
                    )
                return self.from_columns(
                    {c: array[:, j] for j, c in enumerate(self._names)}, request_id
                )
        return self.from_columns(tensors, request_id)

    def _tensor_request(self, array: Any, request_id: str | None) -> Request:
        array = np.asarray(array)
        spec = self.tensor
        if spec is not None:
            want = spec.shape
            if array.ndim != len(want) or any(
                w not in (-1, g) for w, g in zip(want, array.shape, strict=True)
            ):
                raise PredictionInputError(
                    f"the input has shape {list(array.shape)}; the model takes {list(want)} "
                    "(-1: any size)",
                    fields={"input": f"expected shape {list(want)}"},
                )
            target = np.dtype(spec.dtype)
            if array.dtype.kind not in "iufb" and target.kind in "iufb":
                raise PredictionInputError(
                    f"the input holds {_kind_name(array)}; the model takes {spec.dtype}",
                    fields={"input": f"expected {spec.dtype}"},
                )
            if (
                target.kind in "iu"
                and array.dtype.kind == "f"
                and array.size
                and not (np.isfinite(array).all() and (array == np.trunc(array)).all())
            ):
                raise PredictionInputError(
                    f"the input holds fractions or NaN; the model takes whole numbers ({spec.dtype})",
                    fields={"input": f"expected {spec.dtype}"},
                )
            if target.kind in "iu" and array.dtype.kind in "iuf":
                try:
                    _check_range(array, target)
                except _ColumnError as exc:
                    raise PredictionInputError(str(exc), fields={"input": str(exc)}) from None
            array = array.astype(spec.dtype, copy=False)
            if not self.allow_nan and array.dtype.kind == "f" and not np.isfinite(array).all():
                raise PredictionInputError(
                    "the input has NaN or infinite values (serve with --allow-nan to accept them)",
                    fields={"input": "NaN or infinite values"},
                )
        rows = int(array.shape[0]) if array.ndim else 1
        if rows == 0:
            raise PredictionInputError("the request has no rows", fields={"input": "empty"})
        return Request(id=request_id, rows=rows, tensor=array)

    # -- from MLflow's shapes

    def from_invocation(self, data: Any, request_id: str | None) -> Request:
        if isinstance(data, dict):
            if self.tensor is not None:
                if len(data) == 1:  # inputs: {"name": tensor}, or a one-column table
                    return self._tensor_request(next(iter(data.values())), request_id)
                # a table (CSV, dataframe_split with columns) for a model that takes one
                # 2-D tensor: its columns side by side, in the order given, as MLflow does
                return self._tensor_request(_side_by_side(list(data.values())), request_id)
            return self.from_columns(data, request_id)
        if not data:
            raise PredictionInputError("the request has no rows", fields={"data": "empty"})
        if self.tensor is not None and all(isinstance(row, dict) for row in data):
            columns = _record_columns(data)  # dataframe_records, as a table
            return self._tensor_request(_side_by_side(list(columns.values())), request_id)
        if self.tensor is not None or not self.columns:
            return self._tensor_request(data, request_id)
        if all(isinstance(row, dict) for row in data):
            return self.from_columns(_record_columns(data), request_id)
        if all(isinstance(row, list) for row in data):
            return self.from_columns(_split_columns(self._names, data), request_id)
        raise PredictionInputError(
            "rows must all be objects (column: value) or all lists in the signature's order",
            fields={"data": "mixed rows"},
        )

    # -- the check itself

    def from_columns(self, given: Mapping[str, Any], request_id: str | None) -> Request:
        if not self.columns:
            raise PredictionInputError(
                "this model has no signature naming its columns: send one tensor",
                fields={n: "unexpected" for n in given},
            )
        problems: dict[str, str] = {}
        for name in given:
            if name not in self._name_set:
                problems[name] = "not a column of the model"
        for name in self._names:
            if name not in given:
                problems[name] = "missing"
        columns: dict[str, np.ndarray] = {}
        rows = -1
        sized = [given[n] for n in self._names if not problems and _sized(given[n])]
        if sized and all(len(v) == 0 for v in sized):
            # a header without rows: say that, not what an empty column's type cannot be
            raise PredictionInputError("the request has no rows", fields={"input": "empty"})
        if not problems:
            for name, arrow_type in self.columns:
                try:
                    array = _column(given[name], arrow_type, self.allow_nan)
                except _ColumnError as exc:
                    problems[name] = str(exc)
                    continue
                if rows == -1:
                    rows = len(array)
                elif len(array) != rows:
                    problems[name] = f"has {len(array)} values where other columns have {rows}"
                    continue
                columns[name] = array
        if problems:
            raise PredictionInputError(_describe(problems), fields=problems)
        if rows <= 0:
            raise PredictionInputError("the request has no rows", fields={"data": "empty"})
        return Request(id=request_id, rows=rows, columns=columns)

    # -- what the metadata endpoint says

    def metadata_inputs(self) -> list[dict[str, Any]]:
        if self.tensor is not None:
            return [
                {
                    "name": "input",
                    "datatype": OIP_OF_ARROW.get(_arrow_of_numpy(self.tensor.dtype), "FP64"),
                    "shape": list(self.tensor.shape),
                }
            ]
        return [
            {"name": n, "datatype": OIP_OF_ARROW.get(t, "BYTES"), "shape": [-1]}
            for n, t in self.columns
        ]


class _ColumnError(ValueError):
    pass


_FLOAT = {"halffloat": np.float16, "float": np.float32, "double": np.float64}
_INT = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
}


def _column(values: Any, arrow_type: str, allow_nan: bool) -> np.ndarray:
    """One column as the 1-d array the model takes, or _ColumnError saying what is wrong."""
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise _ColumnError(f"expected a list of values (shape [n]), got shape {list(array.shape)}")
    kind = array.dtype.kind
    if arrow_type in _FLOAT:
        if kind == "O":  # None among numbers means missing
            if any(isinstance(v, str | bool) for v in array):
                raise _ColumnError("expected numbers")
            try:
                array = np.array(array.tolist(), dtype=np.float64)
            except (TypeError, ValueError):
                raise _ColumnError("expected numbers") from None
        elif kind not in "iuf":
            raise _ColumnError(f"expected numbers, got {_kind_name(array)}")
        array = array.astype(_FLOAT[arrow_type], copy=False)
        if not allow_nan and not np.isfinite(array).all():
            bad = np.flatnonzero(~np.isfinite(array))[:5].tolist()
            raise _ColumnError(
                f"NaN, missing or infinite at rows {bad} (serve with --allow-nan to accept them)"
            )
        return array
    if arrow_type in _INT:
        if (
            kind == "f"
            and array.size
            and np.isfinite(array).all()
            and (array == np.trunc(array)).all()
        ):
            kind = "i"
        if kind not in "iu":
            raise _ColumnError(f"expected whole numbers, got {_kind_name(array)}")
        _check_range(array, _INT[arrow_type])
        return array.astype(_INT[arrow_type], copy=False)
    if arrow_type == "bool":
        if kind != "b":
            raise _ColumnError(f"expected true or false, got {_kind_name(array)}")
        return array
    if arrow_type in ("string", "large_string"):
        if kind == "U":
            return array.astype(object)
        if kind == "O" and all(isinstance(v, str) for v in array):
            return array
        raise _ColumnError(f"expected strings, got {_kind_name(array)}")
    return array  # a type the signature names that JSON cannot check further


def _check_range(array: np.ndarray, dtype: Any) -> None:
    """Numbers that fit ``dtype`` (a cast would wrap them silently)."""
    if array.size == 0:
        return
    info = np.iinfo(dtype)
    lo, hi = array.min(), array.max()
    if array.dtype.kind == "f":
        # float(2**63 - 1) is 2**63: compared as floats, 2**63 itself would pass and wrap
        top = float(info.max)
        too_big = hi >= top if top > info.max else hi > top
        if lo < float(info.min) or too_big:
            raise _ColumnError(
                f"values must be within {info.min}..{info.max} ({np.dtype(dtype).name})"
            )
        return
    if lo < info.min or hi > info.max:
        raise _ColumnError(f"values must be within {info.min}..{info.max} ({np.dtype(dtype).name})")


def _arrow_of_numpy(dtype: str) -> str:
    return {
        "float64": "double",
        "float32": "float",
        "float16": "halffloat",
        "bool": "bool",
    }.get(dtype, dtype)


def _describe(problems: dict[str, str]) -> str:
    items = [f"{name}: {what}" for name, what in list(problems.items())[:LISTED]]
    more = len(problems) - LISTED
    return (
        "the input does not fit the model's signature: "
        + "; ".join(items)
        + (f"; … and {more} more" if more > 0 else "")
    )


def _listed(names: list[str]) -> str:
    head = ", ".join(names[:LISTED])
    return head + (f", … {len(names) - LISTED} more" if len(names) > LISTED else "")
