"""Turn what a user hands to ``log_dataset`` into one deterministic Parquet file, streaming.

Accepts DataFrames, Arrow tables and readers, or CSV/Parquet files, folders and globs.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.names import first_repeated
from setpoint.data.formats import CSV_SUFFIXES, is_tabular

if TYPE_CHECKING:
    import pyarrow as pa

# Output rows per record batch and per row group. Re-chunking to a fixed size makes the
# bytes independent of how the input happened to be chunked.
BATCH_ROWS = 65_536
CSV_BLOCK_SIZE = 16 << 20  # CSV column types are inferred from the first block.
ACCEPTED = (
    "a pandas DataFrame, a polars DataFrame, a pyarrow Table or RecordBatchReader, or a path "
    "(str or os.PathLike) to a .csv, .csv.gz, .parquet or .pq file, a folder of such files, "
    "or a glob pattern"
)


@dataclass(frozen=True, kw_only=True)
class Prepared:
    path: str
    num_rows: int
    schema: list[dict[str, str]]
    source: str
    profile: dict[str, Any]


def _error(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, field="data")


def prepare(data: object, workdir: str) -> Prepared:
    """Write ``data`` as one zstd Parquet file inside ``workdir``; same data, same bytes.
    The profile is computed from the same batches on the way (one pass over the data)."""
    import pyarrow.parquet as pq

    from setpoint.data.profile import Profiler

    source, schema, batches = _open(data)
    os.makedirs(workdir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=workdir, prefix=".ingest-", suffix=".tmp")
    os.close(fd)
    num_rows = 0
    profiler = Profiler(schema)
    try:
        with _parquet_writer(tmp, schema) as writer:
            for batch in _rechunk(batches, schema):
                _write(writer, batch)
                profiler.update(batch)
                num_rows += batch.num_rows
        path = os.path.join(workdir, f"{uuid.uuid4().hex}.parquet")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    # Types as the stored file states them (Parquet names list items "element").
    stored = pq.read_schema(path)
    fields = [{"name": f.name, "type": str(f.type)} for f in stored]
    profile = profiler.result()
    for column, field in zip(profile["columns"], fields, strict=True):
        column["type"] = field["type"]
    return Prepared(path=path, num_rows=num_rows, schema=fields, source=source, profile=profile)


def _parquet_writer(path: str, schema: pa.Schema) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetWriter(path, schema, compression="zstd")
    except pa.ArrowException as exc:
        raise _error(f"cannot store the data in Parquet: {exc}") from exc


def _write(writer: Any, batch: pa.RecordBatch) -> None:
    """Write ``batch``; a value Parquet cannot hold (a time in seconds beyond what it keeps
    as milliseconds) is refused naming its column."""
    import pyarrow as pa

    try:
        writer.write_batch(batch)
    except pa.ArrowException as exc:
        raise _error(f"cannot store {_unwritable_column(batch)}in Parquet: {exc}") from exc


def _unwritable_column(batch: pa.RecordBatch) -> str:
    """The first column of ``batch`` that Parquet refuses alone, as "column 't' "."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, name in enumerate(batch.schema.names):
        try:
            pq.write_table(pa.Table.from_batches([batch.select([i])]), pa.BufferOutputStream())
        except pa.ArrowException:
            return f"column {name!r} "
    return "the data "


def read_table(data: object) -> pa.Table:
    """Read CSV/Parquet paths (or in-memory data) into one normalized Arrow table."""
    import pyarrow as pa

    _, schema, batches = _open(data)
    return pa.Table.from_batches(list(batches), schema=schema)


def source_files(data: object, *, tabular_only: bool = False) -> list[str] | None:
    """The sorted absolute files a path, folder or glob denotes; None for in-memory data.
    A folder gives every file under it not hidden (only CSV/Parquet ones if ``tabular_only``)."""
    if not isinstance(data, str | os.PathLike):
        return None
    if not os.fspath(data):  # abspath("") is the working folder: never meant
        raise _error("the path is empty; name a file, a folder or a glob (use . for this folder)")
    given = os.path.abspath(os.fspath(data))
    if os.path.isdir(given):
        files = [
            os.path.join(root, name)
            for root, dirs, names in os.walk(given)
            for name in names
            if not name.startswith(".") and not _hidden_dir(given, root)
        ]
        if tabular_only:
            _not_being_written(given)
            files = [f for f in files if is_tabular([f]) and not _marker(given, f)]
            if not files:
                raise _error(f"folder {given} holds no .csv, .csv.gz, .parquet or .pq files")
        elif not files:
            raise _error(f"folder {given} holds no files")
    elif os.path.exists(given):
        files = [given]
    elif glob.has_magic(given):
        files = [p for p in glob.glob(given, recursive=True) if not os.path.isdir(p)]
        if not files:
            raise _error(f"glob pattern {given} matches no files")
    else:
        raise _error(f"path {given} does not exist")
    for path in files:
        _regular(path)
    return sorted(files)


def _gzipped(path: str) -> bool:
    """A file compressed by its name: .gz, in any case (as the suffixes taken are)."""
    return path.lower().endswith(".gz")


def _regular(path: str) -> None:
    """Refuse what is no file to read: reading a named pipe waits for a writer forever."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            raise _error(
                f"{path} is a link to {os.path.realpath(path)}, which does not exist"
            ) from None
        raise _error(f"{path} is gone: it was removed while being added") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise _error(
            f"{path} is {kind}, not a file that can be read: move it out or name the files"
        )


def _marker(top: str, path: str) -> bool:
    """A file of a table's folder that is no part of it: a name under ``top`` starting with
    ``_``, as Spark, Hive and Arrow leave them (``_SUCCESS``, ``_metadata``, ``_temporary/``
    of a job still writing), and as they skip them."""
    return any(part.startswith("_") for part in os.path.relpath(path, top).split(os.sep))


def _not_being_written(top: str) -> None:
    """Refuse a table folder whose Parquet files are not the table: a Delta table's (removed
    files stay until vacuumed; its log says which are in), or one a job is still writing."""
    if os.path.isdir(os.path.join(top, "_delta_log")):
        raise _error(
            f"{top} is a Delta table: its folder keeps Parquet files its log has removed; "
            "log a snapshot of it (deltalake's DeltaTable(path).to_pyarrow_table()) instead"
        )
    if os.path.isdir(os.path.join(top, "_temporary")):
        raise _error(
            f"{top} holds _temporary/: a job is still writing it (or died doing so); add it "
            "once the job is done"
        )


def table_folder(data: object, files: list[str]) -> bool:
    """Whether a folder's ``files`` are a table: every one CSV or Parquet but its markers
    (see :func:`_marker`), and at least one."""
    if not isinstance(data, str | os.PathLike) or not os.path.isdir(data):
        return False
    top = os.path.abspath(os.fspath(data))
    parts = [f for f in files if not _marker(top, f)]
    return bool(parts) and is_tabular(parts)


def _hidden_dir(top: str, root: str) -> bool:
    rel = os.path.relpath(root, top)
    return rel != "." and any(part.startswith(".") for part in rel.split(os.sep))


def _check_tabular(files: list[str]) -> None:
    for path in files:
        if not is_tabular([path]):
            raise _error(
                f"{path} has an unsupported extension: expected .csv, .csv.gz, .parquet or .pq"
            )
        if os.path.getsize(path) == 0:
            raise _error(f"{path} is empty (0 bytes)")


def open_batches(
    data: object, csv_types: Mapping[str, pa.DataType] | None = None
) -> tuple[str, pa.Schema, Iterator[pa.RecordBatch]]:
    """(source, normalized schema, record batches) of CSV/Parquet paths or in-memory data,
    read a block at a time (what batch scoring streams). ``csv_types`` are the types of CSV
    columns known beforehand (a model's signature): read as such, not guessed from the text
    ("007" stays text)."""
    return _open(data, csv_types)


def row_numbers(frame: Any) -> bool:
    """Whether a pandas DataFrame's index is unnamed row numbers (0..n-1, or what sorting,
    filtering, sampling or splitting left of them): a dataset version does not keep it (the
    rows come back numbered from 0). Any other index is kept as columns."""
    import pandas as pd

    index = frame.index
    return (
        not isinstance(index, pd.MultiIndex)
        and index.name is None
        and pd.api.types.is_integer_dtype(index.dtype)
    )


def _open(
    data: object, csv_types: Mapping[str, pa.DataType] | None = None
) -> tuple[str, pa.Schema, Iterator[pa.RecordBatch]]:
    """Return (source, normalized schema, batches) without reading more than the first block."""
    import pyarrow as pa

    if isinstance(data, str | os.PathLike):
        given = os.path.abspath(os.fspath(data))
        files = source_files(data, tabular_only=True) or []
        _check_tabular(files)
        folders = _partitions(given, files) if os.path.isdir(given) else None
        if folders is None:
            return given, *_open_files(files, csv_types)
        return given, *_with_partitions(*_open_indexed(files, csv_types), *folders)
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        # kept, row numbers would make the same rows another version with one more column
        keep = not row_numbers(data)
        try:
            table = pa.Table.from_pandas(data, preserve_index=keep)
        except OverflowError as exc:
            raise _error(
                f"cannot convert the DataFrame to Arrow: {_overflowing_column(data)}holds whole "
                "numbers beyond 64-bit integers, which setpoint would not keep exactly: convert "
                "them to str or decimal.Decimal first"
            ) from exc
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise _error(f"cannot convert the DataFrame to Arrow: {exc}") from exc
        source, reader = "pandas.DataFrame", table.to_reader()
    elif module == "polars" and type(data).__name__ == "DataFrame":
        _check_polars(data)
        try:
            table = data.to_arrow()  # type: ignore[attr-defined]
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise _error(f"cannot convert the polars.DataFrame to Arrow: {exc}") from exc
        source, reader = "polars.DataFrame", table.to_reader()
    elif isinstance(data, pa.Table):
        source, reader = "pyarrow.Table", data.to_reader()
    elif isinstance(data, pa.RecordBatchReader):
        source, reader = "pyarrow.RecordBatchReader", data
    else:
        raise _error(f"cannot ingest a {type(data).__name__}: expected {ACCEPTED}")
    schema = _normalize(reader.schema, f"the {source}")
    return source, schema, (_conform(b, schema) for b in reader)


def _overflowing_column(frame: Any) -> str:
    """The first column of ``frame`` holding an int too big for Arrow, as "column 'h' "."""
    import pyarrow as pa

    for i, name in enumerate(frame.columns):
        try:
            pa.array(frame.iloc[:, i], from_pandas=True)
        except OverflowError:
            return f"column {name!r} "
        except (pa.ArrowException, ValueError, TypeError):
            continue
    return "a column "


def _check_polars(frame: Any) -> None:
    """Refuse, by column, the polars types Arrow has no type for: Object columns (whose
    pointers it would store as bytes) and 128-bit integers."""
    for name, dtype in frame.schema.items():
        kind = _polars_unstorable(dtype)
        if kind == "Python objects":
            fix = "convert it (to a plain type, a struct or a string) first"
        elif kind is not None:
            fix = "cast it to Int64, or to Decimal(38, 0) to keep values beyond 64 bits, first"
        else:
            continue
        raise _error(
            f"the polars.DataFrame: column {name!r} is of type {dtype}, and {kind} cannot be "
            f"stored: {fix}"
        )


def _polars_unstorable(dtype: Any) -> str | None:
    """What in the polars type ``dtype`` Arrow cannot hold, or None."""
    import polars as pl

    if dtype == pl.Object:
        return "Python objects"
    if dtype == pl.Int128 or dtype == getattr(pl, "UInt128", pl.Int128):
        return "128-bit integers"
    inner = getattr(dtype, "inner", None)
    if inner is not None:
        return _polars_unstorable(inner)
    fields = getattr(dtype, "fields", None) or ()
    return next((k for f in fields if (k := _polars_unstorable(f.dtype)) is not None), None)


def _open_files(
    files: list[str], csv_types: Mapping[str, pa.DataType] | None = None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """(schema, batches) of files read one after the other. Columns that differ only in
    width combine (see ``_common_type``), so every file's schema (a CSV's first block, a
    Parquet footer) is read first, each file closed again: the schema is known before the
    first batch, and few files are open at once however many there are."""
    if len(files) == 1:
        return _open_file(files[0], csv_types)
    schema, batches = _open_indexed(files, csv_types)
    return schema, (batch for _, batch in batches)


def _open_indexed(
    files: list[str], csv_types: Mapping[str, pa.DataType] | None = None
) -> tuple[pa.Schema, Iterator[tuple[int, pa.RecordBatch]]]:
    """:func:`_open_files`, each batch with the index of its file."""
    schemas = [_read_schema(path, csv_types) for path in files]
    schema = _unify(files, schemas)

    def batches() -> Iterator[tuple[int, pa.RecordBatch]]:
        for index, (path, own) in enumerate(zip(files, schemas, strict=True)):
            widen = {f.name: t for f, t in zip(own, schema.types, strict=True) if f.type != t}
            for batch in _open_file(path, csv_types, schema, widen)[1]:
                yield index, batch

    return schema, batches()


_PARTITION = re.compile(r"([^=]+)=(.*)")
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _partitions(top: str, files: list[str]) -> tuple[list[pa.Field], list[list[Any]]] | None:
    """The columns a folder of Hive-style partitions holds in its folder names
    (``year=2025/month=11/part-0.parquet``, as Spark, Hive and ``pyarrow.parquet.write_to_dataset``
    write them), and each file's values of them; None when its folders name none. A column is
    whole numbers when every value is one, else text; ``__HIVE_DEFAULT_PARTITION__`` is null."""
    import urllib.parse

    import pyarrow as pa

    found: list[list[tuple[str, str]]] = []
    for path in files:
        rel = os.path.relpath(os.path.dirname(path), top)
        parts = [] if rel == "." else rel.split(os.sep)
        matched = [_PARTITION.fullmatch(p) for p in parts]
        found.append([(m[1], m[2]) for m in matched if m is not None])
        if any(m is None for m in matched) and found[-1]:
            raise _error(
                f"{path} lies in partition folders ({'/'.join(parts)}) of which some name no "
                "column (key=value): add the files of one partitioned table, or name the files"
            )
    if not any(found):
        return None
    first = next(i for i, pairs in enumerate(found) if pairs)  # of a partitioned file
    keys = [k for k, _ in found[first]]
    for path, pairs in zip(files, found, strict=True):
        if [k for k, _ in pairs] != keys:
            raise _error(
                f"{path} is not in partition folders like those of {files[first]} "
                f"({'/'.join(f'{k}=…' for k in keys)}): add one partitioned table"
            )
    values = [
        [None if v == _HIVE_NULL else urllib.parse.unquote(v) for _, v in pairs] for pairs in found
    ]
    fields, columns = [], list(zip(*values, strict=True))
    for key, column in zip(keys, columns, strict=True):
        whole = all(v is None or re.fullmatch(r"-?\d{1,18}", v) for v in column)
        fields.append(pa.field(urllib.parse.unquote(key), pa.int64() if whole else pa.string()))
    typed = [
        [
            None if v is None else int(v) if f.type == pa.int64() else v
            for v, f in zip(row, fields, strict=True)
        ]
        for row in values
    ]
    return fields, typed


def _with_partitions(
    schema: pa.Schema,
    batches: Iterator[tuple[int, pa.RecordBatch]],
    fields: list[pa.Field],
    values: list[list[Any]],
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The files' batches with the partition columns after their own, each file's values
    repeated on each of its rows."""
    import pyarrow as pa

    for field in fields:
        if field.name in schema.names:
            raise _error(
                f"column {field.name!r} is both in the files and in their partition folders "
                f"({field.name}=…): rename one"
            )
    whole = pa.schema([*schema, *fields])

    def joined() -> Iterator[pa.RecordBatch]:
        for index, batch in batches:
            extra = [
                pa.repeat(pa.scalar(v, f.type), batch.num_rows)
                for v, f in zip(values[index], fields, strict=True)
            ]
            yield pa.RecordBatch.from_arrays([*batch.columns, *extra], schema=whole)

    return whole, joined()


def _read_schema(path: str, csv_types: Mapping[str, pa.DataType] | None) -> pa.Schema:
    """The normalized schema of one file, the file closed again."""
    if path.lower().endswith(CSV_SUFFIXES):
        reader, _, schema = _csv_reader(path, csv_types or {})
        reader.close()
        return schema
    parquet, schema = _parquet_file(path)
    parquet.close()
    return schema


def _unify(files: list[str], schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for all ``files``: the same columns in the same order, each column's types
    combined by ``_common_type``; a file that does not fit is refused, naming the file whose
    type it contradicts."""
    import pyarrow as pa

    first = schemas[0]
    types, origins = list(first.types), [files[0]] * len(first)
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        if schema.names != first.names:
            difference = _describe_difference(first, schema)
            raise _error(f"{path} does not match the schema of {files[0]}: {difference}")
        for i, field in enumerate(schema):
            common = _common_type(types[i], field.type)
            if common is None:
                where = "the first file" if origins[i] == files[0] else origins[i]
                raise _error(
                    f"{path} does not match the schema of {files[0]}: column {field.name!r} "
                    f"is {field.type} there, {types[i]} in {where}"
                )
            if common != types[i]:
                types[i], origins[i] = common, path
    return pa.schema([pa.field(n, t) for n, t in zip(first.names, types, strict=True)])


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type that holds both a column typed ``a`` in one file and ``b`` in another, or
    None: a column with no values (null) takes the other's type; integers and floats make
    doubles; integers the wider integer (signed and unsigned: the signed one holding both);
    times of one time zone the finer unit."""
    import pyarrow as pa
    import pyarrow.types as pt

    if a == b or pt.is_null(b):
        return a
    if pt.is_null(a):
        return b
    if pt.is_integer(a) and pt.is_integer(b):
        if pt.is_signed_integer(a) == pt.is_signed_integer(b):
            return a if a.bit_width >= b.bit_width else b
        signed, unsigned = (a, b) if pt.is_signed_integer(a) else (b, a)
        bits = max(signed.bit_width, 2 * unsigned.bit_width)
        return {16: pa.int16(), 32: pa.int32(), 64: pa.int64()}.get(bits)
    if pt.is_timestamp(a) and pt.is_timestamp(b) and a.tz == b.tz:
        # the finer unit (a CSV's times are read in seconds, pandas writes microseconds)
        return a if _TIME_UNITS.index(a.unit) >= _TIME_UNITS.index(b.unit) else b
    numbers = (pt.is_integer(a) or pt.is_floating(a)) and (pt.is_integer(b) or pt.is_floating(b))
    return pa.float64() if numbers else None


_TIME_UNITS = ("s", "ms", "us", "ns")


def _open_file(
    path: str,
    csv_types: Mapping[str, pa.DataType] | None = None,
    target: pa.Schema | None = None,
    widen: Mapping[str, pa.DataType] | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """(schema, batches) of one file; with ``target``, its batches in that schema (the
    columns in ``widen`` differ from the file's own types)."""
    if path.lower().endswith(CSV_SUFFIXES):
        return _open_csv(path, csv_types, target, widen)
    import pyarrow as pa

    parquet, schema = _parquet_file(path)
    where = path if target is not None and widen else ""
    target = target or schema

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                yield _conform(batch, target, where)
        except (pa.ArrowException, OSError) as exc:
            raise _error(f"cannot read {path} as Parquet: {exc}") from exc
        finally:
            parquet.close()

    return target, batches()


def _parquet_file(path: str) -> tuple[Any, pa.Schema]:
    """The open ``ParquetFile`` at ``path`` (its footer read) and its normalized schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering reads the whole file
        return parquet, _normalize(parquet.schema_arrow, path)
    except (pa.ArrowException, OSError) as exc:
        raise _error(f"cannot read {path} as Parquet: {exc}") from exc


def _csv_reader(
    path: str, column_types: Mapping[str, pa.DataType]
) -> tuple[Any, pa.Schema, pa.Schema]:
    """(open streaming reader, its raw schema, the normalized one) of the CSV at ``path``,
    ``column_types`` read as such, the others inferred from the first block."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _refuse_not_text(path)
    options = pcsv.ReadOptions(block_size=CSV_BLOCK_SIZE)
    # Empty cells and the usual null markers (NA, NULL, …) are nulls in text columns too, as
    # in numeric ones and as pandas reads them: "" would pass not_null.
    convert = pcsv.ConvertOptions(column_types=dict(column_types), strings_can_be_null=True)
    try:
        # (compressed by its suffix in any case: Arrow would read .CSV.GZ as text)
        stream = pa.input_stream(path, compression="gzip" if _gzipped(path) else None)
        reader = pcsv.open_csv(stream, read_options=options, convert_options=convert)
        raw = reader.schema
        names = raw.names  # decoding the header can fail here
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, exc, 0) from exc
    except OSError as exc:  # a .gz that is not gzip, or cut short
        raise _error(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise _error(f"{path} is not UTF-8 text (in its header): {exc}") from exc
    bad = [
        n for n, f in zip(names, raw, strict=True) if "\ufffd" in n or pa.types.is_binary(f.type)
    ]
    if bad:
        reader.close()
        raise _error(f"{path} is not UTF-8 text (column {bad[0]!r} holds other bytes)")
    if len(names) == 1 and (sep := _other_separator(path, names[0])):
        # one column named "id;name": the file is separated by another character than ','
        reader.close()
        shown = {";": "';'", "\t": "tabs", "|": "'|'"}[sep]
        raise _error(
            f"{path} reads as one column {names[0]!r}: its fields are separated by {shown}, "
            "and setpoint reads CSV separated by ',' (pandas.read_csv(path, sep=...) reads it; "
            "log that DataFrame)"
        )
    try:
        return reader, raw, _normalize(raw, path)
    except InvalidArgumentError:
        reader.close()
        raise


def _other_separator(path: str, header: str) -> str | None:
    """The character a one-column CSV whose header is ``header`` is really separated by (";",
    a tab, "|"): the header holds it, unquoted, and so does the line after it; else None."""
    import gzip

    seps = [c for c in ";\t|" if c in header]
    if not seps:
        return None
    with (gzip.open if _gzipped(path) else open)(path, "rb") as fh:
        lines = [fh.readline(1 << 16).decode("utf-8", "replace") for _ in range(2)]
    if '"' in lines[0] or len(lines[1].strip()) == 0:  # a quoted name, or no row to tell by
        return None
    return next((c for c in seps if lines[0].count(c) == lines[1].count(c)), None)


def _csv_reads(t: pa.DataType) -> bool:
    """Whether the CSV reader converts text to ``t`` (a column it found empty is read as
    ``t`` when another file gives it that type; nested types are cast from nulls instead)."""
    import pyarrow as pa
    import pyarrow.types as pt

    return t != pa.float16() and any(
        is_(t)
        for is_ in (
            pt.is_boolean,
            pt.is_integer,
            pt.is_floating,
            pt.is_decimal,
            pt.is_date,
            pt.is_timestamp,
            pt.is_string,
            pt.is_binary,
        )
    )


def _open_csv(
    path: str,
    csv_types: Mapping[str, pa.DataType] | None = None,
    target: pa.Schema | None = None,
    widen: Mapping[str, pa.DataType] | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import pyarrow as pa

    known = dict(csv_types or {})
    # A column whole numbers here and doubles in another file is read as doubles from the
    # text, not through int64; one empty here is read as the other file's type.
    forced = {n: t for n, t in (widen or {}).items() if _csv_reads(t)}
    reader, raw, schema = _csv_reader(path, {**known, **forced})
    target = target or schema
    # Double columns not yet known to hold only what doubles keep (see below).
    unchecked = [f.name for f in raw if f.type == pa.float64() and f.name not in known]

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _csv_error(path, exc, rows, raw) from exc
            except OSError as exc:
                raise _error(f"cannot read {path} after row {rows}: {exc}") from exc
            found = _runs_to_block_end(batch)
            if found is not None:
                column, row = found
                raise _error(
                    f"{path}: a quoted value of column {column!r} in row {rows + row + 1} "
                    "runs to the end of the file or of a 16 MiB block, taking the rows after "
                    "it along: a quote that is never closed? (put quotes around the whole "
                    'value, and write a quote inside one as "")'
                )
            for name in [n for n in unchecked if _beyond_int64(batch.column(n))]:
                unchecked.remove(name)
                _refuse_huge_whole_numbers(path, name)
            rows += batch.num_rows
            yield _conform(batch, target)
        reader.close()
        if not rows:
            # its columns would be typed null: a version of nothing, not even a schema
            raise _error(f"{path} has a header but no rows")

    return target, batches()


def _beyond_int64(column: pa.Array) -> bool:
    """Whether a double column holds a value outside the 64-bit integer range (a whole
    number, as every double that large is). One min/max pass: free beside parsing."""
    import pyarrow.compute as pc

    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return high is not None and (high >= 2.0**63 or low <= -(2.0**63))


def _refuse_huge_whole_numbers(path: str, name: str) -> None:
    """Refuse CSV column ``name`` if it is written as whole numbers only, some beyond 64-bit
    integers: the reader took it for doubles, which would merge distinct ids. Read again as
    text to tell it from a float column (``1e20``, ``1.5``), which is kept."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(
        column_types={name: pa.string()}, include_columns=[name], strings_can_be_null=True
    )
    first: tuple[int, str] | None = None
    rows = 0
    try:
        with pcsv.open_csv(
            path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_SIZE), convert_options=convert
        ) as reader:
            for batch in reader:
                text = batch.column(0)
                if not pc.all(pc.match_substring_regex(text, r"^[+-]?[0-9]+$")).as_py():
                    return  # a float column
                if first is None:
                    # 19 characters at least: no shorter whole number is beyond 64 bits
                    long = pc.fill_null(pc.greater_equal(pc.utf8_length(text), 19), False)
                    for i in pc.indices_nonzero(long).to_pylist():
                        value = text[i].as_py()
                        if not -(2**63) <= int(value) < 2**63:
                            first = (rows + i + 1, value)
                            break
                rows += batch.num_rows
    except (pa.ArrowException, OSError):
        return  # the main reader says what is wrong with the file
    if first is not None:
        row, value = first
        raise _error(
            f"{path}: column {name!r} holds whole numbers beyond 64-bit integers ({value} in "
            f"row {row}); read as floating point they would lose their exact values, and "
            "distinct ones would become equal: convert the file to Parquet with this column as "
            f"text or a decimal (pandas.read_csv(path, dtype={{{name!r}: str}}) reads it as text)"
        )


def _runs_to_block_end(batch: pa.RecordBatch) -> tuple[str, int] | None:
    """(text column, row in the batch) of a value that ends with a line break, if any.

    A quote that is never closed takes everything up to the end of the reader's block (the
    file's end, or the next 16 MiB) into one value, line breaks and all, and the reader says
    nothing: the rows in it would be lost. A value that really ends with a line break inside
    its quotes is the one other way to get one, and is rare."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        ends = pc.or_(pc.ends_with(column, "\n"), pc.ends_with(column, "\r"))
        if pc.any(ends).as_py():
            return str(name), int(pc.index(ends, True).as_py())
    return None


def _refuse_not_text(path: str) -> None:
    """UTF-16 text (a BOM, or NUL bytes between the letters) or binary data (an Excel
    workbook or an archive named .csv) read as UTF-8 gave columns named with NULs, or a
    message holding one: refused by name instead."""
    import gzip

    try:
        with (gzip.open if _gzipped(path) else open)(path, "rb") as fh:
            head = fh.read(512)
    except (OSError, EOFError):  # (EOFError: a gzip stream cut short)
        return  # the reader says what is wrong with it
    if head.startswith(b"PK\x03\x04"):  # (its names can read as UTF-16)
        raise _error(f"{path} is not CSV text: it holds a zip archive (an Excel workbook?)")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _reads_as_utf16(head):
        raise _error(f"{path} is not UTF-8 text: it looks like UTF-16 (save it as UTF-8)")
    if b"\x00" in head:
        raise _error(f"{path} is not CSV text: it holds binary data")


def _reads_as_utf16(head: bytes) -> bool:
    """Whether ``head`` (holding NUL bytes) reads as UTF-16 text, little- or big-endian:
    printable characters and line breaks, in any script (a binary file reads as neither).
    Its commas, digits and line breaks are ASCII, each with a NUL byte: a stray NUL in UTF-8
    text is not that (ASCII read as UTF-16 is printable CJK text)."""
    nuls = [i for i, byte in enumerate(head) if byte == 0]
    if len(nuls) < 2 or len(head) < 4:
        return False
    if len(nuls) < len(head) // 20:  # few: text of another script, if its line breaks are
        one_side = len({i % 2 for i in nuls}) == 1  # UTF-16's, NULs all on one side
        pairs = {head[i : i + 2] for i in range(0, len(head) - 1, 2)}
        if not (one_side and pairs & {b"\n\x00", b"\x00\n"}):
            return False
    even = head[: len(head) - len(head) % 2]
    for encoding in ("utf-16-le", "utf-16-be"):
        text = even.decode(encoding, errors="replace")
        shown = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
        if "\ufffd" not in text and shown >= 0.95 * len(text):
            return True
    return False


def _csv_error(
    path: str, exc: Exception, rows: int, schema: pa.Schema | None = None
) -> InvalidArgumentError:
    reason = str(exc)
    where = f"after row {rows}" if rows else "in its first rows"
    if "invalid UTF8" in reason:
        return _error(f"{path} is not UTF-8 text ({where}): {reason}")
    if "Expected" in reason and "columns, got" in reason:
        detail = reason.removeprefix("CSV parse error: ")
        # the row as Arrow quotes it: past a quote never closed, it runs over line ends
        first, newline, _ = detail.strip().partition("\n")
        row = first.partition(": ")[2]
        # a value that opens with a quote and none closes it to the row's end (a quote
        # inside a value is a character: '5" screen' has too many fields, no open quote)
        unclosed = bool(newline) or re.search(r'(^|,)"(""|[^"])*$', row) is not None
        hint = " (a quote that is never closed?)" if unclosed else ""
        detail = first + (" …" if newline else "")
        return _error(f"{path} has a row with the wrong number of fields ({where}): {detail}{hint}")
    if schema is not None and reason.startswith("In CSV column #"):
        index = int(reason.removeprefix("In CSV column #").split(":")[0])
        field = schema.field(index)
        # Arrow names no row: the value is somewhere in the block that starts at rows + 1
        return _error(
            f"{path}: column {field.name!r} changes type at or after row {rows + 1}: the "
            f"first rows read as {field.type}, then found {reason.rsplit(': ', 1)[-1]} (types are inferred from "
            f"the first {CSV_BLOCK_SIZE} bytes; convert the file to Parquet to set them)"
        )
    if "out of sync with chunker" in reason:
        return _error(
            f"{path}: a quoted value runs over a line end ({where}): a quote that is never "
            "closed, or values holding line breaks across the reader's 16 MiB blocks "
            "(convert such a file to Parquet)"
        )
    if reason.removeprefix("CSV parse error: ").startswith("Empty CSV file"):
        return _error(f"{path} has no columns: no header line, only blank lines or none")
    return _error(f"cannot read {path} as CSV: {reason}")


def _describe_difference(expected: pa.Schema, got: pa.Schema) -> str:
    if expected.equals(got):
        return ""
    missing = [n for n in expected.names if n not in got.names]
    extra = [n for n in got.names if n not in expected.names]
    if missing or extra:
        return f"missing columns {missing}, extra columns {extra}"
    for want, have in zip(expected, got, strict=True):
        if want.name != have.name:
            return f"columns are in another order ({got.names} instead of {expected.names})"
        if want.type != have.type:
            return f"column {want.name!r} is {have.type} there, {want.type} in the first file"
    return "the schemas differ"


def _normalize(schema: pa.Schema, where: str) -> pa.Schema:
    """Drop metadata and nullability, map large/view strings to plain: one schema per data.
    Column names must be unique (a check refers to a column by its name)."""
    import pyarrow as pa

    if not schema.names:
        raise _error(f"{where} has no columns")
    twice = first_repeated(schema.names)
    if twice is not None:
        raise _error(f"{where} has two columns named {twice!r}; column names must be unique")
    for f in schema:
        if (kind := _unstorable(f.type)) is not None:
            fix = (
                "drop the column, or give the struct a field, first"
                if kind == _EMPTY_STRUCT
                else "cast it (to a plain type, a struct or a string) first"
            )
            raise _error(
                f"{where}: column {f.name!r} is of type {f.type}, and {kind} cannot be stored "
                f"in Parquet: {fix}"
            )
    return pa.schema([pa.field(f.name, plain_type(f.type)) for f in schema])


_EMPTY_STRUCT = "a struct with no fields"


def _unstorable(t: pa.DataType) -> str | None:
    """What in ``t`` Parquet cannot hold (unions, run-end encoding, month-day-nano
    intervals, structs with no fields, extension types but Arrow's own), or None."""
    import pyarrow as pa
    import pyarrow.types as pt

    if isinstance(t, pa.BaseExtensionType) and not t.extension_name.startswith("arrow."):
        # pandas' Period and Interval among them; Arrow's own (arrow.uuid, arrow.json) are
        # Parquet's logical types, read back as themselves
        return (
            f"the extension type {t.extension_name} (stored, its values would come back as "
            f"{t.storage_type}, their meaning lost)"
        )
    if pt.is_union(t):
        return "a union"
    if getattr(pt, "is_run_end_encoded", lambda _: False)(t):
        return "run-end encoding"
    if t == pa.month_day_nano_interval():
        return "an interval"
    if pt.is_dictionary(t):
        return _unstorable(t.value_type)
    if _is_list_like(t) or pt.is_fixed_size_list(t):
        return _unstorable(t.value_type)
    if pt.is_map(t):
        return _unstorable(t.key_type) or _unstorable(t.item_type)
    if pt.is_struct(t) and t.num_fields == 0:
        return _EMPTY_STRUCT
    if pt.is_struct(t):
        return next((k for f in t if (k := _unstorable(f.type)) is not None), None)
    return None


def _is_list_like(t: pa.DataType) -> bool:
    """A list, large list, list view or large list view: the same values, one type of them."""
    import pyarrow.types as pt

    return any(
        is_(t) for is_ in (pt.is_list, pt.is_large_list, pt.is_list_view, pt.is_large_list_view)
    )


def plain_type(t: pa.DataType) -> pa.DataType:
    """One type per kind of value: categoricals (dictionaries) as their values, large and view
    strings and binaries as plain ones, large lists and list views as lists, recursively."""
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(t):
        return plain_type(t.value_type)
    if pt.is_large_string(t) or t == pa.string_view():
        return pa.string()
    if pt.is_large_binary(t) or t == pa.binary_view():
        return pa.binary()
    if _is_list_like(t):
        return pa.list_(plain_type(t.value_type))
    if pt.is_struct(t):
        return pa.struct([pa.field(f.name, plain_type(f.type)) for f in t])
    return t


def _conform(batch: pa.RecordBatch, schema: pa.Schema, path: str = "") -> pa.RecordBatch:
    """``batch`` in ``schema`` (the first batch's, normalized, or the one of all the files
    read): a later batch of other columns, or of values that do not convert, is refused
    saying which (and in which file, ``path``)."""
    import pyarrow as pa

    if batch.schema.names != schema.names:
        raise _error(
            f"a batch has the columns {', '.join(batch.schema.names)}; the data began with "
            f"{', '.join(schema.names)}"
        )
    columns = []
    for c, f in zip(batch.columns, schema, strict=True):
        try:
            columns.append(c if c.type == f.type else _cast(c, f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            if path:  # a file's column of a type combined with the other files'
                raise _error(
                    f"{path}: column {f.name!r} is {c.type} there, {f.type} with the other "
                    f"files, and a value does not convert: {exc}"
                ) from exc
            raise _error(
                f"column {f.name!r} is {c.type} in a batch; the data began with {f.type}: {exc}"
            ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _cast(array: pa.Array, to: pa.DataType) -> pa.Array:
    """``array.cast(to)``, but list views (at any depth) rebuilt as lists from their values:
    Arrow's own cast of a list view to a list keeps its offsets as they are and loses values."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pt

    if not _holds_list_view(array.type):
        return array.cast(to)
    if pt.is_struct(array.type):
        fields = [_cast(array.field(i), f.type) for i, f in enumerate(to)]
        return pa.StructArray.from_arrays(fields, fields=list(to), mask=array.is_null())
    # a list, large list or list view of (or holding) list views, cast to a plain list
    values = _cast(pc.list_flatten(array), to.value_type)
    sizes = pc.fill_null(pc.list_value_length(array), 0).cast(pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(sizes)])
    return pa.ListArray.from_arrays(offsets, values, type=to, mask=array.is_null())


def _holds_list_view(t: pa.DataType) -> bool:
    import pyarrow.types as pt

    if pt.is_list_view(t) or pt.is_large_list_view(t):
        return True
    if pt.is_list(t) or pt.is_large_list(t):
        return _holds_list_view(t.value_type)
    return pt.is_struct(t) and any(_holds_list_view(f.type) for f in t)


def _rechunk(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Yield batches of exactly BATCH_ROWS rows (the last may be shorter)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count < BATCH_ROWS:
            continue
        merged = pa.concat_batches(pending)
        start = 0
        while count - start >= BATCH_ROWS:
            yield merged.slice(start, BATCH_ROWS)
            start += BATCH_ROWS
        pending, count = [merged.slice(start)], count - start
    if count:
        yield pa.concat_batches(pending)
