"""Ingestion to Parquet: every accepted input kind, deterministic bytes, clear errors."""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
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


def test_zero_rows_with_typed_columns_are_kept(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=str)})
    prepared = prepare(frame, str(tmp_path / "w"))
    assert prepared.num_rows == 0
    assert prepared.schema == [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    pq.write_table(table().slice(0, 0), tmp_path / "e.parquet")
    assert prepare(tmp_path / "e.parquet", str(tmp_path / "w")).schema[0]["type"] == "int64"


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


# ------------------------------------------------------------------ files of other widths


def test_files_whose_columns_differ_only_in_width_combine(tmp_path: Path) -> None:
    """A day of whole amounts (int64) beside a day with 1.5 (double), or a column empty one
    day (null), was refused: "column 'amount' is double there, int64 in the first file"."""
    write(tmp_path / "in" / "1.csv", "id,amount,note\n1,2,\n2,3,\n")
    write(tmp_path / "in" / "2.csv", "id,amount,note\n3,1.5,x\n")
    write(tmp_path / "in" / "3.csv", "id,amount,note\n4,,\n")
    prepared = prepare(str(tmp_path / "in" / "*.csv"), str(tmp_path / "w"))
    assert prepared.schema == [
        {"name": "id", "type": "int64"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": "string"},
    ]
    # as if one file held them all
    whole = write(tmp_path / "all.csv", "id,amount,note\n1,2,\n2,3,\n3,1.5,x\n4,,\n")
    assert raw(prepared.path) == raw(prepare(whole, str(tmp_path / "w")).path)


def test_times_in_seconds_and_in_finer_units_combine(tmp_path: Path) -> None:
    """A folder of a pandas Parquet file (microseconds) and a CSV (times read in seconds) was
    refused: "column 'ts' is timestamp[s] there, timestamp[us] in the first file"."""
    (tmp_path / "in").mkdir()
    frame = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 10:00:00.250"]), "x": [1]})
    frame.to_parquet(tmp_path / "in" / "a.parquet")
    write(tmp_path / "in" / "b.csv", "ts,x\n2024-01-03 12:00:01,2\n")
    prepared = prepare(str(tmp_path / "in"), str(tmp_path / "w"))
    unit = pa.Schema.from_pandas(frame).field("ts").type.unit
    assert prepared.schema[0] == {"name": "ts", "type": f"timestamp[{unit}]"}
    assert read(prepared.path).column("ts").to_pylist() == [
        pd.Timestamp("2024-01-01 10:00:00.250").to_pydatetime(),
        pd.Timestamp("2024-01-03 12:00:01").to_pydatetime(),
    ]
    # times of different zones still do not combine
    zoned = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"]).tz_localize("UTC"), "x": [1]})
    zoned.to_parquet(tmp_path / "in" / "a.parquet")
    with pytest.raises(InvalidArgumentError, match="column 'ts'"):
        prepare(str(tmp_path / "in"), str(tmp_path / "w"))


def test_combined_files_give_the_same_bytes_in_whatever_order_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "in" / "a.csv", "x,y\n1,\n")
    write(tmp_path / "in" / "b.csv", "x,y\n2.5,q\n")
    pattern = str(tmp_path / "in" / "*.csv")
    real = ingest.glob.glob

    def listing(reverse: bool) -> Callable[..., list[str]]:
        return lambda p, **kw: sorted(real(p, **kw), reverse=reverse)

    outputs = set()
    for reverse in (False, True):
        monkeypatch.setattr(ingest.glob, "glob", listing(reverse))
        outputs.add(raw(prepare(pattern, str(tmp_path / "w")).path))
    assert len(outputs) == 1


def test_whole_numbers_are_read_as_doubles_from_the_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not through int64: 9007199254740993 does not convert to a double exactly, and would
    be refused; read from the text it is the nearest double, as in a file of doubles. A
    file's later block holding 1.5 (read as doubles from the start) fits too."""
    write(tmp_path / "in" / "a.csv", "x\n9007199254740993\n")
    write(tmp_path / "in" / "b.csv", "x\n1.5\n")
    back = read(prepare(tmp_path / "in", str(tmp_path / "w")).path)
    assert back.column("x").to_pylist() == [9007199254740992.0, 1.5]
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    write(tmp_path / "in" / "a.csv", "x\n" + "1\n" * 1000 + "2.5\n")
    assert prepare(tmp_path / "in", str(tmp_path / "w")).num_rows == 1002
    # a column empty in a file's first block takes the other files' type for its later ones
    write(tmp_path / "in" / "a.csv", "x,s\n" + "1,\n" * 1000 + "2,text\n")
    write(tmp_path / "in" / "b.csv", "x,s\n1.5,more\n")
    back = read(prepare(tmp_path / "in", str(tmp_path / "w")).path)
    assert back.column("s").to_pylist()[-2:] == ["text", "more"]


def test_csv_and_parquet_of_other_widths_combine(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table(
            {
                "i": pa.array([1], pa.int32()),
                "u": pa.array([7], pa.uint32()),
                "f": pa.array([0.5], pa.float32()),
                "n": pa.nulls(1),
            }
        ),
        tmp_path / "in" / "a.parquet",
    )
    write(tmp_path / "in" / "b.csv", "i,u,f,n\n2,-3,1,x\n")
    prepared = prepare(tmp_path / "in", str(tmp_path / "w"))
    assert [f["type"] for f in prepared.schema] == ["int64", "int64", "double", "string"]
    assert read(prepared.path).to_pylist() == [
        {"i": 1, "u": 7, "f": 0.5, "n": None},
        {"i": 2, "u": -3, "f": 1.0, "n": "x"},
    ]


def test_a_parquet_whole_number_a_double_cannot_hold_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    write(tmp_path / "in" / "b.csv", "x\n1.5\n")
    pq.write_table(pa.table({"x": [2**53 + 1]}), tmp_path / "in" / "a.parquet")
    fails(tmp_path / "in", tmp_path / "w", "a.parquet: column 'x' is int64 there, double with")


def test_the_combined_schema_is_known_before_the_first_batch(tmp_path: Path) -> None:
    for i in range(40):
        write(tmp_path / "in" / f"{i:02}.csv", f"x\n{i}\n" if i < 39 else "x\n0.5\n")
    fds = Path("/proc/self/fd")
    before = len(list(fds.iterdir())) if fds.exists() else 0
    _, schema, batches = ingest.open_batches(tmp_path / "in")
    assert schema == pa.schema([("x", pa.float64())])
    if fds.exists():  # every file was opened for its schema, and closed again
        assert len(list(fds.iterdir())) <= before + 2
    assert sum(b.num_rows for b in batches) == 40
    # and a file that does not fit is refused then, not after the files before it
    write(tmp_path / "in" / "99.csv", "x\nabc\n")
    with pytest.raises(InvalidArgumentError, match=r"99\.csv does not match the schema of"):
        ingest.open_batches(tmp_path / "in")


def test_columns_of_other_kinds_are_still_refused(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.csv", "t,x\n2026-01-01T00:00:00,\n")
    write(tmp_path / "in" / "b.csv", "t,x\nsoon,1\n")
    fails(tmp_path / "in", tmp_path / "w", "'t' is string there, timestamp[s] in the first file")
    write(tmp_path / "in" / "b.csv", "t,x\n2026-01-02T00:00:00,1\n")
    write(tmp_path / "in" / "c.csv", "t,x\n2026-01-03T00:00:00,y\n")
    # the type came from b.csv, not the first file: named
    error = fails(tmp_path / "in", tmp_path / "w", "c.csv does not match the schema of")
    assert error.message.endswith(f"column 'x' is string there, int64 in {tmp_path}/in/b.csv")
    write(tmp_path / "in" / "c.csv", "x,t\n1,2026-01-03T00:00:00\n")
    fails(tmp_path / "in", tmp_path / "w", "c.csv", "columns are in another order")
    pq.write_table(pa.table({"t": [1], "x": pa.array([1], pa.uint64())}), tmp_path / "in/c.pq")
    (tmp_path / "in" / "c.csv").unlink()
    fails(tmp_path / "in", tmp_path / "w", "c.pq", "'t' is int64 there, timestamp[s]")


# ------------------------------------------------------------------ bad input


def test_schema_mismatch_across_files_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.csv", "id,name\n1,x\n")
    write(tmp_path / "in" / "b.csv", "id,name\nz,x\n")
    error = fails(tmp_path / "in", tmp_path / "w", "b.csv", "does not match", "'id' is string")
    assert "a.csv" in error.message
    write(tmp_path / "in" / "b.csv", "id,other\n1,x\n")
    fails(tmp_path / "in", tmp_path / "w", "b.csv", "missing columns ['name']")


def test_data_with_no_columns_is_refused_naming_it(tmp_path: Path) -> None:
    """pd.DataFrame() was stored as a version of no columns."""
    fails(pd.DataFrame(), tmp_path / "w", "the pandas.DataFrame has no columns")
    fails(pa.table({}), tmp_path / "w", "the pyarrow.Table has no columns")
    pq.write_table(pa.table({}), tmp_path / "none.parquet")
    fails(tmp_path / "none.parquet", tmp_path / "w", "none.parquet has no columns")
    fails(write(tmp_path / "blank.csv", "\n\n"), tmp_path / "w", "blank.csv has no columns")


def test_a_csv_of_only_a_header_is_refused(tmp_path: Path) -> None:
    """It was a version of 0 rows whose columns were typed null."""
    fails(write(tmp_path / "h.csv", "a,b\n"), tmp_path / "w", "h.csv has a header but no rows")
    write(tmp_path / "in" / "1.csv", "a,b\n1,2\n")
    write(tmp_path / "in" / "2.csv", "a,b\n\n")  # blank lines are no rows
    fails(tmp_path / "in", tmp_path / "w", "2.csv has a header but no rows")


def test_data_add_says_so_in_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for text, said in (("a,b\n", "has a header but no rows"), ("\n", "has no columns")):
        path = write(tmp_path / "h.csv", text)
        code, out, err = run_cli(capsys, "data", "add", str(path), "-n", "tx")
        assert (code, out) == (1, "")
        assert err.startswith(f"error (data): {path} {said}") and err.count("\n") == 1


def test_missing_path(tmp_path: Path) -> None:
    fails(str(tmp_path / "nope.csv"), tmp_path / "w", "does not exist")


def test_glob_matching_nothing(tmp_path: Path) -> None:
    fails(str(tmp_path / "*.parquet"), tmp_path / "w", "matches no files")


def test_what_is_no_file_to_read_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A named pipe in a folder made `data add` wait for a writer forever; a broken link
    failed in a folder and was skipped in a glob."""
    folder = tmp_path / "in"
    write(folder / "a.csv", "a\n1\n")
    os.mkfifo(folder / "pipe.csv")
    for given in (folder, folder / "pipe.csv", str(folder / "*.csv")):
        with pytest.raises(InvalidArgumentError, match=r"pipe\.csv is a named pipe") as err:
            source_files(given)
        assert err.value.field == "data"
    os.remove(folder / "pipe.csv")
    os.symlink(tmp_path / "gone.csv", folder / "link.csv")
    for given in (folder, str(folder / "*.csv")):
        with pytest.raises(InvalidArgumentError, match=r"link\.csv is a link to .*gone\.csv"):
            source_files(given)


def test_a_gzipped_csv_is_read_whatever_the_case_of_its_suffix(tmp_path: Path) -> None:
    """UPPER.CSV.GZ was taken by its suffix, then read as text: "it holds binary data"."""
    path = tmp_path / "UPPER.CSV.GZ"
    path.write_bytes(gzip.compress(b"a,b\n1,x\n2,y\n"))
    got = read(prepare(str(path), tmp_path / "w").path)
    assert got.column("b").to_pylist() == ["x", "y"]


def test_partition_folders_are_columns(tmp_path: Path) -> None:
    """A folder of Hive-style partitions (pyarrow's write_to_dataset, Spark, Hive) lost its
    partition columns: their values are in the folder names only."""
    pq.write_to_dataset(
        pa.table(
            {"year": [2024, 2024, 2025, None], "city": ["a b", "x/y", "c", "d"], "v": [1, 2, 3, 4]}
        ),
        str(tmp_path / "hive"),
        partition_cols=["year", "city"],
    )
    got = read(prepare(str(tmp_path / "hive"), tmp_path / "w").path)
    assert got.schema.names == ["v", "year", "city"]
    assert got.schema.field("year").type == pa.int64()
    assert sorted(zip(*got.to_pydict().values(), strict=True), key=lambda r: r[0]) == [
        (1, 2024, "a b"),
        (2, 2024, "x/y"),
        (3, 2025, "c"),
        (4, None, "d"),
    ]
    # CSV files too, a value that is no number makes the column text
    write(tmp_path / "csv" / "day=2026-11-01" / "a.csv", "n\n1\n")
    write(tmp_path / "csv" / "day=7" / "b.csv", "n\n2\n")
    got = read(prepare(str(tmp_path / "csv"), tmp_path / "w").path)
    assert got.to_pydict() == {"n": [1, 2], "day": ["2026-11-01", "7"]}
    # a layout that is not one partitioned table, or a column in both places, is refused
    write(tmp_path / "csv" / "c.csv", "n\n3\n")
    fails(tmp_path / "csv", tmp_path / "refused", "c.csv is not in partition folders like")
    os.remove(tmp_path / "csv" / "c.csv")
    write(tmp_path / "csv" / "day=8" / "extra" / "d.csv", "n\n3\n")
    fails(tmp_path / "csv", tmp_path / "refused", "some name no column")
    write(tmp_path / "clash" / "n=1" / "a.csv", "n\n1\n")
    fails(tmp_path / "clash", tmp_path / "refused", "column 'n' is both in the files and in their")


def test_a_csv_separated_by_another_character_is_refused(tmp_path: Path) -> None:
    """It became one column named "id;name", the rows one text each, without a word."""
    fails(write(tmp_path / "semi.csv", "id;name\n1;a\n"), tmp_path / "w", "separated by ';'")
    fails(write(tmp_path / "tabs.csv", "id\tname\n1\ta\n"), tmp_path / "w", "separated by tabs")
    one = read(prepare(write(tmp_path / "one.csv", "name\na;b\n"), tmp_path / "w").path)
    assert one.to_pydict() == {"name": ["a;b"]}  # one column holding ';' is fine
    # and so is a one-column header holding one, quoted or not followed by rows like it
    for text in ('"size (S|M|L)"\nS\n', "size (S|M|L)\nS\n"):
        got = read(prepare(write(tmp_path / "size.csv", text), tmp_path / "w").path)
        assert got.to_pydict() == {"size (S|M|L)": ["S"]}


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
    # cut within its first 512 bytes: an EOFError, which the CLI took for Ctrl-C ("aborted")
    short = write(tmp_path / "short.csv.gz", gzip.compress(b"a,b\n1,2\n")[:20])
    fails(short, tmp_path / "w", "cannot read", "short.csv.gz", "Truncated")


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
    # a quote never closed in a column before the last: one line, which says so
    early = write(tmp_path / "e.csv", 'name,v\n"abc,1\nx,2\n')
    error = fails(early, tmp_path / "w", "wrong number of fields", "never closed?")
    assert "\n" not in error.message
    inch = write(tmp_path / "i.csv", 'a,b\n1,5" screen,extra\n')  # a quote inside a value
    error = fails(inch, tmp_path / "w", "wrong number of fields")
    assert "never closed" not in error.message
    ok = write(tmp_path / "ok.csv", 'a,b\n1,"two\nlines"\n2,x\n')  # closed quotes: fine
    assert prepare(ok, str(tmp_path / "w2")).num_rows == 2


def test_utf16_is_named_as_such(tmp_path: Path) -> None:
    """With a BOM it was 'a row with the wrong number of fields' (with a NUL byte in the
    message); without one, one row of columns named with NULs."""
    for name, encoding in (("bom.csv", "utf-16"), ("be.csv", "utf-16-be")):
        text = "a,b\n1,2\n".encode(encoding)
        fails(write(tmp_path / name, text), tmp_path / "w", f"{name} is not UTF-8", "UTF-16")
    # binary data named .csv is not taken for UTF-16 (which it was, having NUL bytes)
    import zipfile

    with zipfile.ZipFile(tmp_path / "book.csv", "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>" * 50)
    fails(tmp_path / "book.csv", tmp_path / "w", "is not CSV text: it holds a zip archive")
    noise = write(tmp_path / "noise.csv", bytes(range(256)) * 4)
    fails(noise, tmp_path / "w", "noise.csv is not CSV text: it holds binary data")
    # UTF-16 without a BOM in any script is UTF-16; a database file is binary
    cyrillic = write(tmp_path / "ru.csv", "имя,город\nАня,Москва\n".encode("utf-16-le"))
    fails(cyrillic, tmp_path / "w", "ru.csv is not UTF-8", "UTF-16")
    # mostly Chinese: few NUL bytes (16 in the first 512), all beside ASCII on one side
    chinese = "编号,描述\n" + "".join(f"{i},{'中文的描述' * 20}\n" for i in range(20))
    for name, encoding in (("zh.csv", "utf-16-le"), ("zh-be.csv", "utf-16-be")):
        text = write(tmp_path / name, chinese.encode(encoding))
        fails(text, tmp_path / "w", f"{name} is not UTF-8", "UTF-16")
    db = tmp_path / "db.csv"
    import sqlite3

    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * i) for i in range(50)])
    con.close()
    fails(db, tmp_path / "w", "db.csv is not CSV text: it holds binary data")
    # a stray NUL in UTF-8 text was "UTF-16 (save it as UTF-8)"
    stray = "id,name,city\n" + "".join(f"{i},name{i},city{i}\n" for i in range(50))
    stray = write(tmp_path / "nul.csv", stray.replace("2,name2,city2", "2,bad\x00name,Berlin"))
    error = fails(stray, tmp_path / "w", "nul.csv is not CSV text: it holds binary data")
    assert "UTF-16" not in str(error)


def test_column_changing_type_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "CSV_BLOCK_SIZE", 1024)
    mixed = "a,b\n" + "1,x\n" * 1000 + "abc,y\n"
    error = fails(write(tmp_path / "m.csv", mixed), tmp_path / "w", "column 'a' changes type at")
    # the value is on row 1001; the row named was the failing block's start, said as if the
    # value came right after it
    row = int(error.message.split("at or after row ")[1].split(":")[0])
    assert 1 < row <= 1001


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


def test_extension_types_are_refused_not_stored_without_their_meaning(tmp_path: Path) -> None:
    """A pandas Period column was versioned with its schema saying pandas.period, and read
    back as the int64 months since 1970, its frequency lost; an Interval as a struct."""
    periods = pd.DataFrame({"month": pd.period_range("2024-01", periods=2, freq="M")})
    fails(periods, tmp_path / "w", "column 'month'", "extension type pandas.period", "int64")
    spans = pd.DataFrame({"span": pd.interval_range(0, 2)})
    fails(spans, tmp_path / "w", "column 'span'", "extension type pandas.interval")
    as_text = prepare(periods.astype({"month": str}), tmp_path / "w").path  # what it says to do
    assert read(as_text).column("month").to_pylist() == ["2024-01", "2024-02"]
    # Arrow's own are Parquet's logical types (UUID, JSON), read back as themselves
    ids = pa.table({"id": pa.array([bytes(range(16)), bytes(16)], pa.uuid())})
    stored = read(prepare(ids, tmp_path / "w").path)
    assert stored.schema.field("id").type == pa.uuid() and stored.equals(ids)


def test_a_struct_with_no_fields_is_named(tmp_path: Path) -> None:
    """Parquet's writer raised a raw ArrowNotImplementedError ("Cannot write struct type
    's' with no child field")."""
    import polars as pl

    for frame in (pd.DataFrame({"s": [{}, {}]}), pl.DataFrame({"s": [{}, {}]})):
        fails(frame, tmp_path / "w", "column 's'", "a struct with no fields cannot be stored")
    inside = pa.array([[{}]], pa.list_(pa.struct([])))
    fails(pa.table({"x": inside}), tmp_path / "w", "column 'x'", "a struct with no fields")


def test_a_time_parquet_cannot_hold_is_named(tmp_path: Path) -> None:
    """Parquet keeps seconds as milliseconds: a time beyond that raised a raw ArrowInvalid
    (integer overflow) from the writer."""
    import numpy as np

    far = pd.DataFrame({"ok": [1], "t": np.array([2**62], dtype="datetime64[s]")})
    fails(far, tmp_path / "w", "cannot store column 't' in Parquet", "overflow")


def test_list_views_are_stored_as_lists(tmp_path: Path) -> None:
    """The same lists as list, large list, list view and large list view (alone, nested in
    a list and in a struct, with nulls, sliced) give the same bytes; list views gave other
    versions, and Arrow's cast of a list view to a list loses values."""
    values = [[1, 2], None, [3], [], [4, 5, 6]]
    nested = [[[1], [2, 3]], None, [[]], [None, [4]], []]
    stored = set()
    for kind in (pa.list_, pa.large_list, pa.list_view, pa.large_list_view):
        given = pa.table(
            {
                "l": pa.array(values, kind(pa.int64())),
                "n": pa.array(nested, kind(kind(pa.int64()))),
                "s": pa.array([{"x": v} for v in values], pa.struct([("x", kind(pa.int64()))])),
            }
        ).slice(1)
        prepared = prepare(given, str(tmp_path / kind.__name__))
        assert read(prepared.path).to_pylist() == given.to_pylist()
        stored.add(raw(prepared.path))
    assert len(stored) == 1


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
