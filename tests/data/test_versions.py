"""Contract tests for dataset versions: SQLite, PostgreSQL and remote mode."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import setpoint as sp
from setpoint.core.errors import DatasetNotFoundError, InvalidArgumentError, RunNotFoundError


def _frame(n: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50, 10, n),
            "merchant": rng.choice(["a", "b", "c"], n),
            "fraud": rng.integers(0, 2, n),
        }
    )


def test_versions_are_created_only_when_content_changes(client: Any) -> None:
    df = _frame()
    v1 = sp.log_dataset(df, name="transactions", project="fraud", description="november")
    assert (v1.version, v1.num_rows, v1.created) == (1, 100, True)
    assert [c["name"] for c in v1.schema] == ["amount", "merchant", "fraud"]
    assert v1.ref == "fraud/transactions@1" and len(v1.hash) == 64
    again = sp.log_dataset(df.copy(), name="transactions", project="fraud")
    assert (again.version, again.created, again.hash) == (1, False, v1.hash)
    v2 = sp.log_dataset(_frame(seed=1), name="transactions", project="fraud", parents=[v1])
    assert (v2.version, v2.created, v2.parents) == (2, True, ["fraud/transactions@1"])
    latest = sp.get_dataset("transactions", project="fraud")
    assert latest.version == 2
    pd.testing.assert_frame_equal(sp.get_dataset("fraud/transactions@1").to_pandas(), df)
    listed = client.list_datasets("fraud")
    assert [(d.name, d.latest_version, d.versions) for d in listed] == [("transactions", 2, 2)]


def test_files_and_globs_become_versions(client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "2026-11"
    folder.mkdir()
    _frame(50, seed=2).to_parquet(folder / "a.parquet", index=False)
    _frame(70, seed=3).to_parquet(folder / "b.parquet", index=False)
    v = sp.log_dataset(str(folder / "*.parquet"), name="tx", project="fraud")
    assert v.num_rows == 120 and v.source.endswith("*.parquet")
    csv = tmp_path / "train.csv"
    _frame(30, seed=4).to_csv(csv, index=False)
    c = sp.log_dataset(csv, name="train", project="fraud")
    assert c.num_rows == 30
    assert len(c.to_arrow()) == 30


def test_re_adding_an_unchanged_file_uses_the_stat_cache(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client import stat_cache
    from setpoint.data import ingest

    # Setting the times below changes ctime to now; trust stats at once for this test (the
    # racy window has a test of its own).
    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    csv = tmp_path / "big.csv"
    _frame(1000).to_csv(csv, index=False)
    old = time.time() - 60
    os.utime(csv, (old, old))
    first = sp.log_dataset(csv, name="big")

    def boom(*_: object, **__: object) -> None:
        raise AssertionError("the unchanged file was read again")

    real_prepare = ingest.prepare
    monkeypatch.setattr(ingest, "prepare", boom)
    again = sp.log_dataset(csv, name="big")
    assert (again.version, again.created) == (first.version, False)
    with csv.open("a") as fh:  # a change (size, mtime) is noticed
        fh.write("1.0,a,0\n")
    os.utime(csv, (old + 1, old + 1))
    monkeypatch.setattr(ingest, "prepare", real_prepare)
    changed = sp.log_dataset(csv, name="big")
    assert (changed.version, changed.num_rows) == (2, 1001)


def test_runs_record_the_versions_they_consumed(client: Any) -> None:
    v = sp.log_dataset(_frame(), name="transactions")
    with sp.start_run(project="default") as run:
        run.log_input(v)
        for bad in ("transactions@", "a/b/transactions@1", "transactions@0"):
            with pytest.raises(InvalidArgumentError, match="version"):
                run.log_input(bad)

        class Named:  # a model version has a ref too: not a dataset's
            def __init__(self, ref: str) -> None:
                self.ref = ref

        with pytest.raises(InvalidArgumentError):
            run.log_input(Named("default/lr/1"))
        with pytest.raises(DatasetNotFoundError):
            run.log_input(Named("default/transactions@9"))
    consumed = [e.target_id for e in sp.lineage(run) if e.relation == "consumed"]
    assert consumed == [v.ref]
    assert [e.source_id for e in sp.lineage(v)] == [run.id]
    # references name versions too: in lineage, and as what a run consumed
    assert [e.source_id for e in sp.lineage("default/transactions@1")] == [run.id]
    v2 = sp.log_dataset(_frame(seed=2), name="transactions")
    with sp.start_run(project="default") as second:
        second.log_input("transactions")  # the latest: version 2, kept as such
        second.log_input("default/transactions@1")
    consumed = sorted(e.target_id for e in sp.lineage(second.id) if e.relation == "consumed")
    assert consumed == [v.ref, v2.ref]
    assert [e.source_id for e in sp.lineage("transactions@2")] == [second.id]
    with pytest.raises(RunNotFoundError):
        sp.lineage("0" * 32)  # no such run: said, not an empty answer
    with pytest.raises(DatasetNotFoundError):
        sp.lineage("transactions@7")


def test_unknown_datasets_and_bad_references(client: Any) -> None:
    with pytest.raises(DatasetNotFoundError):
        sp.get_dataset("nope")
    sp.log_dataset(_frame(), name="known")
    with pytest.raises(DatasetNotFoundError):
        sp.get_dataset("known", version=7)
    for ref in ("known@zero", "known@\u00b2", "known@\u0663"):  # "²" and Arabic-Indic 3
        with pytest.raises(InvalidArgumentError, match="positive number or 'latest'"):
            sp.get_dataset(ref)
    with pytest.raises(InvalidArgumentError):
        sp.get_dataset("known", version="\u00b2")
    with pytest.raises(InvalidArgumentError):
        sp.log_dataset(_frame(), name="bad name!")
    with pytest.raises(DatasetNotFoundError):
        sp.log_dataset(_frame(), name="child", parents=["default/known@9"])
    with pytest.raises(InvalidArgumentError):
        sp.log_dataset([1, 2, 3], name="list")
    with pytest.raises(InvalidArgumentError, match="the path is empty"):
        sp.log_dataset("", name="here")  # not the working folder
    with pytest.raises(InvalidArgumentError, match="parents must be a list"):
        sp.log_dataset(_frame(), name="child", parents="default/known@1")
    with pytest.raises(InvalidArgumentError, match="description must be text"):
        sp.log_dataset(_frame(), name="known", description=5)  # type: ignore[arg-type]


def test_whole_numbers_beyond_doubles_are_versioned_exactly(client: Any) -> None:
    """The profile keeps numbers as doubles; the store's check of it against the Parquet
    footer must not refuse the ids a double cannot hold."""
    big = [2**53 + 1, -(2**62) - 1, 5]
    table = pa.table(
        {"id": pa.array(big, pa.int64()), "u": pa.array([2**64 - 1, 0, 1], pa.uint64())}
    )
    v = sp.log_dataset(table, name="ids")
    back = sp.get_dataset(v.ref).to_arrow()
    assert back.column("id").to_pylist() == big
    assert back.column("u").to_pylist() == [2**64 - 1, 0, 1]


def test_a_blob_that_is_not_parquet_is_refused(client: Any) -> None:
    import io

    ref = client.upload_blob(io.BytesIO(b"not parquet at all"))
    with pytest.raises(InvalidArgumentError) as err:
        client.create_dataset_version("weird", ref.digest)
    assert "not a Parquet file" in str(err.value)


def test_a_profile_the_store_would_refuse_is_refused_before_any_upload(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table of some 16,000 numeric columns: its data was uploaded, then the store
    refused the profile as "profile blob is too large", naming nothing the user could act on."""
    from setpoint.data import versions

    monkeypatch.setattr(versions, "MAX_PROFILE_BYTES", 20_000)
    uploads: list[Any] = []
    upload = client.upload_blob
    monkeypatch.setattr(client, "upload_blob", lambda *a, **k: uploads.append(a) or upload(*a, **k))
    wide = pd.DataFrame({f"c{i}": np.arange(50.0) * i for i in range(20)})
    with pytest.raises(InvalidArgumentError, match="profile of these 20 columns takes") as err:
        sp.log_dataset(wide, name="wide")
    assert err.value.field == "data" and "several datasets" in str(err.value)
    assert uploads == []
    with pytest.raises(DatasetNotFoundError):
        client.get_dataset_version("wide")
    sp.log_dataset(wide.iloc[:, :5], name="wide")  # a narrower one is taken


def test_a_spark_output_folder_is_a_table_without_its_markers(client: Any, tmp_path: Path) -> None:
    """Spark's _SUCCESS beside the part files made the folder a version of files, not a table;
    a table folder's names starting with _ (markers, metadata) are none of it. A folder a
    job is still writing (_temporary/), or a Delta table's, is refused: its Parquet files are
    not the table."""
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), out / "part-0.parquet")
    pq.write_table(pa.table({"a": [3]}), out / "part-1.parquet")
    (out / "_SUCCESS").write_text("")
    (out / "_metadata").write_bytes(b"PAR1")
    v = sp.log_dataset(str(out), name="spark")
    assert v.info.kind == "table" and sorted(v.to_pandas()["a"]) == [1, 2, 3]
    for marker, said in (("_temporary", "a job is still writing it"), ("_delta_log", "Delta")):
        (out / marker / "0").mkdir(parents=True)
        pq.write_table(pa.table({"a": [99]}), out / marker / "0" / "part-9.parquet")
        with pytest.raises(InvalidArgumentError, match=said):
            sp.log_dataset(str(out), name="spark")
        shutil.rmtree(out / marker)
    # a folder with other files is files, markers and all
    (out / "notes.txt").write_text("n")
    files = sp.log_dataset(str(out), name="spark-files")
    assert files.info.kind == "files"
    assert {f.path for f in files.files()} >= {"_SUCCESS", "notes.txt", "part-0.parquet"}


def test_a_folder_of_one_partition_file_is_not_that_file_alone(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat cache took the folder for its one file: added after the file, it was the
    file's version, without the partition column (and the other way round)."""
    import pyarrow.parquet as pq

    from setpoint.client import stat_cache

    monkeypatch.setattr(stat_cache, "RACY_SECONDS", 0.0)
    part = tmp_path / "tbl" / "year=2025" / "part-0.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(pa.table({"a": [1, 2]}), part)
    alone = sp.log_dataset(str(part), name="alone")
    folder = sp.log_dataset(str(tmp_path / "tbl"), name="folder")
    assert [c["name"] for c in alone.schema] == ["a"]
    assert [c["name"] for c in folder.schema] == ["a", "year"]


def test_logging_older_content_again_makes_it_the_latest(client: Any) -> None:
    a, b = _frame(seed=10), _frame(seed=11)
    v1 = sp.log_dataset(a, name="flip")
    v2 = sp.log_dataset(b, name="flip")
    v3 = sp.log_dataset(a, name="flip", description="back to a")
    assert (v1.version, v2.version, v3.version, v3.created) == (1, 2, 3, True)
    assert v3.hash == v1.hash and v3.description == "back to a"
    assert sp.get_dataset("flip").version == 3
    assert sp.log_dataset(a, name="flip").created is False  # equal to the latest: no new one


def test_a_reference_with_its_own_version_refuses_another(client: Any) -> None:
    sp.log_dataset(_frame(), name="tx", project="fraud")
    with pytest.raises(InvalidArgumentError):
        sp.get_dataset("fraud/tx@1", version=2)
    with pytest.raises(InvalidArgumentError):
        sp.get_dataset("fraud/tx", project="other")
    assert sp.get_dataset("fraud/tx").version == 1


def test_a_tampered_dataset_blob_is_never_parsed(client: Any, local: Any, tmp_path: Path) -> None:
    from setpoint.core.errors import ArtifactCorruptedError

    v = sp.log_dataset(_frame(), name="tampered")
    d = v.hash
    blob = Path(local.settings.artifacts_url) / "blobs" / d[:2] / d[2:4] / d
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorruptedError):
        v.to_pandas()


def test_a_freshly_modified_file_is_read_again(
    client: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    csv = tmp_path / "fresh.csv"
    _frame(10).to_csv(csv, index=False)  # just written: inside the racy window
    sp.log_dataset(csv, name="fresh")
    calls = request.getfixturevalue("prepare_calls")  # from here on
    again = sp.log_dataset(csv, name="fresh")
    assert calls and again.created is False


def test_handles_copy_and_pickle(client: Any) -> None:
    import copy
    import pickle

    v = sp.log_dataset(_frame(), name="portable")
    assert copy.copy(v).version == v.version
    assert pickle.loads(pickle.dumps(v.info)).ref == v.ref


def test_concurrent_writers_share_no_version_number(client: Any, mode: str) -> None:
    import threading

    results: list[int] = []
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            results.append(sp.log_dataset(_frame(seed=100 + seed), name="busy").version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [1, 2, 3, 4, 5, 6]


def test_a_file_written_while_it_is_added_is_refused(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV rewritten in place as it was added became a version holding some old rows and
    some new; a file of a files version likewise."""
    from setpoint.data import ingest

    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n2\n")
    read = ingest.prepare

    def read_while_written(data: Any, workdir: str) -> Any:
        out = read(data, workdir)
        with open(csv, "a") as fh:
            fh.write("3\n")
        return out

    monkeypatch.setattr(ingest, "prepare", read_while_written)
    with pytest.raises(InvalidArgumentError, match=r"t\.csv changed while it was read"):
        sp.log_dataset(str(csv), name="t", project="fraud")
    monkeypatch.undo()
    with pytest.raises(DatasetNotFoundError):
        sp.get_dataset("fraud/t")
    assert sp.log_dataset(str(csv), name="t", project="fraud").num_rows == 3  # once written

    blob = tmp_path / "w.bin"
    blob.write_bytes(b"\x00" * 100)
    c = sp.client()
    upload = c.upload_file

    def upload_while_written(path: Any) -> Any:
        out = upload(path)
        with open(blob, "ab") as fh:
            fh.write(b"\x01")
        return out

    monkeypatch.setattr(c, "upload_file", upload_while_written)
    with pytest.raises(InvalidArgumentError, match=r"w\.bin changed while it was read"):
        sp.log_dataset(str(blob), name="w", project="fraud")
