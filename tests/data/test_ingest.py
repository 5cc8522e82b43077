"""Ingestion to Parquet: every accepted input kind, deterministic bytes, clear errors."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from setpoint.core.errors import InvalidArgumentError
from setpoint.data import ingest
from setpoint.data.ingest import prepare, source_files

CSV = "id,amount,name\n1,2.5,a\n2,3.5,b\n3,,c\n"


def table() -> pa.Table:
    return pa.table({"id": [1, 2, 3], "amount": [2.5, 3.5, None], "name": ["a", "b", "c"]})


def read(path: str) -> pa.Table:
    return pq.read_table(path)


def raw(path: str) -> bytes:
    return Path(path).read_bytes()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def fails(data: object, workdir: Path, *phrases: str) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        prepare(data, str(workdir))
    for phrase in phrases:
        assert phrase in info.value.message
    assert info.value.field == "data"
    if workdir.exists():
        assert os.listdir(workdir) == []  # no half-written or temp files
    return info.value


# ------------------------------------------------------------------ accepted inputs


def test_pandas_dataframe(tmp_path: Path) -> None:
    prepared = prepare(table().to_pandas(), str(tmp_path / "w"))
    assert prepared.source == "pandas.DataFrame"
    assert prepared.num_rows == 3
    assert prepared.schema == [
        {"name": "id", "type": "int64"},
        {"name": "amount", "type": "double"},
        {"name": "name", "type": "string"},
    ]
    assert os.path.dirname(prepared.path) == str(tmp_path / "w")
    assert read(prepared.path).equals(table())
    assert read(prepared.path).schema.metadata is None


def test_pandas_named_index_is_kept(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [1, 2]}, index=pd.Index(["a", "b"], name="key"))
    prepared = prepare(df, str(tmp_path))
    assert [f["name"] for f in prepared.schema] == ["x", "key"]


def test_arrow_table_and_reader(tmp_path: Path) -> None:
    a = prepare(table(), str(tmp_path))
    b = prepare(
        pa.RecordBatchReader.from_batches(table().schema, table().to_batches()), str(tmp_path)
    )
    assert (a.source, b.source) == ("pyarrow.Table", "pyarrow.RecordBatchReader")
    assert raw(a.path) == raw(b.path)


def test_polars_dataframe(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    prepared = prepare(pl.DataFrame({"x": [1, 2]}), str(tmp_path))
    assert prepared.source == "polars.DataFrame"
    assert prepared.num_rows == 2


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.parquet", "d.pq"])
def test_single_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(CSV.encode()))
    elif name.endswith(".csv"):
        write(path, CSV)
    else:
        pq.write_table(table(), path)
    prepared = prepare(path, str(tmp_path / "w"))  # os.PathLike accepted
    assert prepared.source == str(path)
    assert prepared.num_rows == 3
    assert read(prepared.path).equals(table())
    assert source_files(str(path)) == [str(path)]


def test_glob_and_folder_concatenate_in_sorted_order(tmp_path: Path) -> None:
    for i in (3, 1, 2):
        write(tmp_path / "in" / f"part-{i}.csv", f"id,name\n{i},x{i}\n")
    write(tmp_path / "in" / "sub" / "part-4.csv", "id,name\n4,x4\n")
    write(tmp_path / "in" / "notes.txt", "ignored in a folder")
    pattern = str(tmp_path / "in" / "*.csv")
    by_glob = prepare(pattern, str(tmp_path / "w"))
    assert by_glob.source == pattern
    assert read(by_glob.path).column("id").to_pylist() == [1, 2, 3]
    by_folder = prepare(tmp_path / "in", str(tmp_path / "w"))
    assert read(by_folder.path).column("id").to_pylist() == [1, 2, 3, 4]
    assert source_files(pattern) == [str(tmp_path / "in" / f"part-{i}.csv") for i in (1, 2, 3)]
    assert source_files(table()) is None


def test_header_only_csv_is_an_empty_dataset(tmp_path: Path) -> None:
    prepared = prepare(write(tmp_path / "h.csv", "a,b\n"), str(tmp_path / "w"))
    assert prepared.num_rows == 0
    assert [f["name"] for f in prepared.schema] == ["a", "b"]


def test_nulls_constants_nan_and_inf_pass_through(tmp_path: Path) -> None:
    data = pa.table(
        {
            "nothing": pa.nulls(4, pa.float64()),
            "same": [7, 7, 7, 7],
            "odd": [math.nan, math.inf, -math.inf, 1.0],
        }
    )
    back = read(prepare(data, str(tmp_path)).path)
    assert back.column("nothing").null_count == 4
    odd = back.column("odd").to_pylist()
    assert math.isnan(odd[0]) and odd[1:] == [math.inf, -math.inf, 1.0]
    csv = write(tmp_path / "n.csv", "a,b\n,nan\n,inf\n,-inf\n")
    assert prepare(csv, str(tmp_path / "w")).schema[1]["type"] == "double"


def test_empty_text_cells_in_a_csv_are_nulls_as_pandas_reads_them(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", 'id,name,x\n1,a,1.5\n2,,\n3,NA,NA\n4,"",2.5\n5,NO,3\n')
    back = read(prepare(path, str(tmp_path / "w")).path)
    assert back.column("name").to_pylist() == ["a", None, None, None, "NO"]
    assert back.column("x").null_count == 2
    # the same file read by pandas and logged gives the same data, byte for byte
    through_pandas = prepare(pd.read_csv(path), str(tmp_path / "p"))
    assert raw(through_pandas.path) == raw(prepare(path, str(tmp_path / "w")).path)


def test_large_csv_streams_over_many_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 4096)
    monkeypatch.setattr(ingest, "BATCH_ROWS", 1000)
    rows = 20_000
    path = write(tmp_path / "big.csv", "i,s\n" + "".join(f"{i},v{i % 7}\n" for i in range(rows)))
    prepared = prepare(path, str(tmp_path / "w"))
    assert prepared.num_rows == rows
    meta = pq.ParquetFile(prepared.path).metadata
    assert meta.num_row_groups == rows // 1000
    assert read(prepared.path).column("i").to_pylist() == list(range(rows))


# ------------------------------------------------------------------ determinism


def test_dataframe_and_table_give_the_same_bytes(tmp_path: Path) -> None:
    a = prepare(table().to_pandas(), str(tmp_path))
    b = prepare(table(), str(tmp_path))
    assert a.path != b.path
    assert raw(a.path) == raw(b.path)


def test_same_csv_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", CSV)
    assert raw(prepare(path, str(tmp_path / "w")).path) == raw(
        prepare(path, str(tmp_path / "w")).path
    )


def test_chunking_does_not_change_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_ROWS", 100)
    data = pa.table({"i": list(range(1234)), "s": [str(i % 13) for i in range(1234)]})
    outputs = {
        raw(prepare(data.combine_chunks(), str(tmp_path)).path),
        raw(prepare(pa.Table.from_batches(data.to_batches(max_chunksize=7)), str(tmp_path)).path),
        raw(prepare(pa.Table.from_batches(data.to_batches(max_chunksize=333)), str(tmp_path)).path),
    }
    assert len(outputs) == 1


# ------------------------------------------------------------------ bad input


def test_schema_mismatch_across_files_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.csv", "id,name\n1,x\n")
    write(tmp_path / "in" / "b.csv", "id,name\nz,x\n")
    error = fails(tmp_path / "in", tmp_path / "w", "b.csv", "does not match", "'id' is string")
    assert "a.csv" in error.message
    write(tmp_path / "in" / "b.csv", "id,other\n1,x\n")
    fails(tmp_path / "in", tmp_path / "w", "b.csv", "missing columns ['name']")


def test_missing_path(tmp_path: Path) -> None:
    fails(str(tmp_path / "nope.csv"), tmp_path / "w", "does not exist")


def test_glob_matching_nothing(tmp_path: Path) -> None:
    fails(str(tmp_path / "*.parquet"), tmp_path / "w", "matches no files")


def test_folder_without_data_files(tmp_path: Path) -> None:
    write(tmp_path / "in" / "notes.txt", "x")
    fails(tmp_path / "in", tmp_path / "w", "holds no .csv")


def test_unsupported_extension(tmp_path: Path) -> None:
    fails(write(tmp_path / "d.json", "{}"), tmp_path / "w", "unsupported extension")


def test_zero_byte_file(tmp_path: Path) -> None:
    fails(write(tmp_path / "d.csv", ""), tmp_path / "w", "is empty")


def test_ragged_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fails(write(tmp_path / "a.csv", "a,b\n1,2\n3,4,5\n"), tmp_path / "w", "wrong number of fields")
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    late = "a,b\n" + "1,2\n" * 1000 + "3\n"
    fails(write(tmp_path / "b.csv", late), tmp_path / "w", "wrong number of fields", "after row")


def test_gzip_that_is_not_or_is_cut_short(tmp_path: Path) -> None:
    whole = gzip.compress(b"a,b\n" + b"1,2\n" * 100_000)
    cut = write(tmp_path / "cut.csv.gz", whole[: len(whole) // 2])
    fails(cut, tmp_path / "w", "cannot read", "cut.csv.gz", "Truncated")
    fails(write(tmp_path / "plain.csv.gz", "a,b\n1,2\n"), tmp_path / "w", "plain.csv.gz")


def test_duplicate_column_names(tmp_path: Path) -> None:
    csv = write(tmp_path / "a.csv", "a,b,a\n1,2,3\n4,5,6\n")
    fails(csv, tmp_path / "w", "a.csv has two columns named 'a'")
    table = pa.table([[1], [2], [3]], names=["x", "y", "x"])
    pq.write_table(table, tmp_path / "t.parquet")
    fails(tmp_path / "t.parquet", tmp_path / "w", "t.parquet has two columns named 'x'")
    fails(table, tmp_path / "w", "pyarrow.Table has two columns named 'x'")


def test_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fails(write(tmp_path / "a.csv", b"a,b\n1,caf\xe9\n"), tmp_path / "w", "is not UTF-8 text")
    fails(write(tmp_path / "b.csv", b"a,caf\xe9\n1,2\n"), tmp_path / "w", "is not UTF-8 text")
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    late = b"a,b\n" + b"1,x\n" * 1000 + b"2,caf\xe9\n"
    fails(write(tmp_path / "c.csv", late), tmp_path / "w", "is not UTF-8 text")


def test_a_quote_never_closed_is_refused_not_read_as_fewer_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader took everything after an unclosed quote, up to the end of the file or of
    its block, into one value and said nothing: 1,000 rows became 10."""
    rows = [f"{i},v{i}\n" for i in range(1000)]
    rows[9] = '9,"oops\n'
    stray = write(tmp_path / "q.csv", "a,b\n" + "".join(rows))
    fails(stray, tmp_path / "w", "q.csv: a quoted value of column 'b' in row 10", "never closed")
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)  # mid-file: up to the block's end
    fails(stray, tmp_path / "w", "q.csv: a quoted value runs over a line end", "never closed")
    ok = write(tmp_path / "ok.csv", 'a,b\n1,"two\nlines"\n2,x\n')  # closed quotes: fine
    assert prepare(ok, str(tmp_path / "w2")).num_rows == 2


def test_utf16_is_named_as_such(tmp_path: Path) -> None:
    """With a BOM it was 'a row with the wrong number of fields' (with a NUL byte in the
    message); without one, one row of columns named with NULs."""
    for name, encoding in (("bom.csv", "utf-16"), ("be.csv", "utf-16-be")):
        text = "a,b\n1,2\n".encode(encoding)
        fails(write(tmp_path / name, text), tmp_path / "w", f"{name} is not UTF-8", "UTF-16")


def test_column_changing_type_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    mixed = "a,b\n" + "1,x\n" * 1000 + "abc,y\n"
    fails(write(tmp_path / "m.csv", mixed), tmp_path / "w", "column 'a' changes type after row")


def test_types_parquet_cannot_hold_are_named(tmp_path: Path) -> None:
    """A union, a run-end encoded column or a month-day-nano interval was an unexpected
    ArrowNotImplementedError from the Parquet writer."""
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1], type=pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]
    )
    fails(pa.table({"u": union}), tmp_path / "w", "column 'u'", "a union cannot be stored")
    encoded = pa.RunEndEncodedArray.from_arrays([2], [1])
    fails(pa.table({"r": encoded}), tmp_path / "w", "run-end encoding cannot be stored")
    interval = pa.array([pa.MonthDayNano([1, 2, 3])], type=pa.month_day_nano_interval())
    nested = pa.StructArray.from_arrays([interval], names=["when"])
    fails(pa.table({"s": nested}), tmp_path / "w", "column 's'", "an interval cannot be stored")


def test_a_reader_whose_batches_change_type_is_refused(tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.int64())])

    def batches():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array([1, 2])], names=["a"])
        yield pa.record_batch([pa.array(["x", "y"])], names=["a"])

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    fails(reader, tmp_path / "w", "column 'a' is string in a batch; the data began with int64")


def test_unreadable_parquet(tmp_path: Path) -> None:
    fails(write(tmp_path / "d.parquet", b"PAR1 not really"), tmp_path / "w", "as Parquet")


def test_unsupported_object(tmp_path: Path) -> None:
    fails([1, 2], tmp_path / "w", "cannot ingest a list", "pandas DataFrame", "glob")


def test_unconvertible_dataframe(tmp_path: Path) -> None:
    fails(pd.DataFrame({"m": [1, "a"]}), tmp_path / "w", "cannot convert the DataFrame")


def test_a_categorical_and_its_values_give_the_same_bytes(tmp_path: Path) -> None:
    import pandas as pd

    from setpoint.data.ingest import prepare

    plain = pd.DataFrame({"c": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    cat = plain.assign(c=plain["c"].astype("category"))
    p1 = prepare(plain, str(tmp_path / "1"))
    p2 = prepare(cat, str(tmp_path / "2"))
    assert Path(p1.path).read_bytes() == Path(p2.path).read_bytes()


# ------------------------------------------------------------------ review fixes


def test_csv_whole_numbers_beyond_64_bits_are_refused_not_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader took such a column for doubles: 9223372036854775807 and
    9223372036854775808 became one value, 99999999999999999999 became 1e20."""
    big = write(tmp_path / "b.csv", "id,big\n1,9223372036854775807\n2,9223372036854775808\n")
    fails(big, tmp_path / "w", "b.csv: column 'big'", "beyond 64-bit integers", "in row 2")
    huge = write(tmp_path / "h.csv", "id,big\n1,\n2,-99999999999999999999\n3,NA\n")
    fails(huge, tmp_path / "w", "column 'big'", "-99999999999999999999 in row 2", "Parquet")
    # the column is read again as text, over every block, to tell it from a float column
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    head = "a,b\n1,18446744073709551615\n" + "1,2\n" * 1000
    fails(write(tmp_path / "l.csv", head + "3,4\n"), tmp_path / "w", "1615 in row 1)")
    floats = prepare(write(tmp_path / "f.csv", head + "3,4.5\n"), str(tmp_path / "w"))
    assert floats.schema[1] == {"name": "b", "type": "double"}


def test_csv_float_columns_with_huge_values_are_kept(tmp_path: Path) -> None:
    floats = write(tmp_path / "f.csv", "a,b,c\n1e20,1.5,inf\n2,99999999999999999999,1\n")
    back = read(prepare(floats, str(tmp_path / "w")).path)
    assert back.to_pylist() == [
        {"a": 1e20, "b": 1.5, "c": math.inf},
        {"a": 2.0, "b": 1e20, "c": 1.0},
    ]
    # a type known beforehand (a model's signature) is read as such
    big = write(tmp_path / "b.csv", "x\n99999999999999999999\n")
    _, _, batches = ingest.open_batches(big, {"x": pa.float64()})
    assert [b.column(0).to_pylist() for b in batches] == [[1e20]]


def test_a_polars_object_column_is_refused_not_stored_as_pointers(tmp_path: Path) -> None:
    """It was stored as fixed_size_binary[8]: the objects' memory addresses."""
    pl = pytest.importorskip("polars")
    objects = pl.DataFrame({"x": [1, 2], "o": pl.Series([object(), object()], dtype=pl.Object)})
    fails(objects, tmp_path / "w", "column 'o' is of type Object", "cannot be stored")


def test_polars_128_bit_integers_are_named(tmp_path: Path) -> None:
    """An ArrowInvalid traceback: 'Invalid or unsupported format string: '_pli128''."""
    pl = pytest.importorskip("polars")
    wide = pl.DataFrame({"n": pl.Series([2**70, 1], dtype=pl.Int128)})
    fails(wide, tmp_path / "w", "column 'n' is of type Int128", "Decimal(38, 0)")
    nested = pl.DataFrame({"s": pl.Series([{"a": 1}], dtype=pl.Struct({"a": pl.Int128}))})
    fails(nested, tmp_path / "w", "column 's'", "128-bit integers cannot be stored")


def test_pandas_ints_beyond_64_bits_are_named_by_column(tmp_path: Path) -> None:
    """A raw OverflowError ('Python int too large to convert to C long') before."""
    frame = pd.DataFrame({"ok": [1, 2], "h": [2**70, 1]})
    fails(frame, tmp_path / "w", "column 'h' holds whole numbers beyond 64-bit integers")


def test_row_positions_left_by_sorting_or_filtering_are_not_stored(tmp_path: Path) -> None:
    """An unnamed integer index was stored as a column __index_level_0__: the same rows made
    another version, with another schema."""
    pl = pytest.importorskip("polars")
    df = pd.DataFrame({"a": [3, 1, 2], "b": ["z", "x", "y"]})
    fresh = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    outputs = {
        raw(prepare(df.sort_values("a"), str(tmp_path)).path),
        raw(prepare(fresh, str(tmp_path)).path),
        raw(prepare(pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), str(tmp_path)).path),
        raw(prepare(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), str(tmp_path)).path),
    }
    assert len(outputs) == 1
    assert prepare(df[df["a"] > 1], str(tmp_path)).schema == [
        {"name": "a", "type": "int64"},
        {"name": "b", "type": "string"},
    ]


@pytest.mark.parametrize(
    ("index", "stored"),
    [
        (pd.Index([5, 7], name="row"), ["row"]),
        (pd.MultiIndex.from_tuples([(1, 2), (3, 4)], names=["k", "l"]), ["k", "l"]),
        (pd.DatetimeIndex(["2026-01-01", "2026-01-02"]), ["__index_level_0__"]),
        (pd.Index(["p", "q"]), ["__index_level_0__"]),
        (pd.Index([5, 7]), []),
    ],
)
def test_an_index_carrying_information_is_kept(
    tmp_path: Path, index: pd.Index, stored: list[str]
) -> None:
    prepared = prepare(pd.DataFrame({"x": [1, 2]}, index=index), str(tmp_path))
    assert [f["name"] for f in prepared.schema] == ["x", *stored]
