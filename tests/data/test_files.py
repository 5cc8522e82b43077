"""Non-tabular data: files stored byte for byte, listed by a manifest (all three modes)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

import setpoint as sp
from setpoint.core.errors import InvalidArgumentError


def _tree(root: Path) -> Path:
    (root / "images" / "cats").mkdir(parents=True)
    (root / "images" / "cats" / "a.bin").write_bytes(os.urandom(5000))
    (root / "images" / "b.bin").write_bytes(b"\x00" * 10)
    (root / "images" / "notes.txt").write_text("labels come later\n")
    (root / "images" / "empty.dat").write_bytes(b"")
    (root / "images" / ".hidden").write_text("not data")
    return root / "images"


def test_a_folder_of_files_is_a_version(client: Any, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    v = sp.log_dataset(folder, name="images", project="vision")
    assert (v.kind, v.num_rows, v.created, v.profile) == ("files", 4, True, None)
    assert v.size == 5000 + 10 + 18
    files = {f.path: f for f in v.files()}
    assert sorted(files) == ["b.bin", "cats/a.bin", "empty.dat", "notes.txt"]
    out = tmp_path / "out"
    written = v.download(out)
    assert len(written) == 4
    for rel in files:
        assert (out / rel).read_bytes() == (folder / rel).read_bytes()
    again = sp.log_dataset(folder, name="images", project="vision")
    assert (again.version, again.created) == (1, False)
    (folder / "notes.txt").write_text("labels are in\n")
    changed = sp.log_dataset(folder, name="images", project="vision")
    assert (changed.version, changed.created) == (2, True)
    with pytest.raises(InvalidArgumentError, match="holds files, not a table"):
        changed.to_pandas()


def test_a_single_raw_file_and_a_csv_kept_as_is(client: Any, tmp_path: Path) -> None:
    raw = tmp_path / "model.onnx"
    raw.write_bytes(os.urandom(3000))
    v = sp.log_dataset(raw, name="weights", project="vision")
    assert v.kind == "files" and [f.path for f in v.files()] == ["model.onnx"]
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,2\n")
    kept = sp.log_dataset(csv, name="raw-csv", project="vision", kind="files")
    assert kept.kind == "files" and kept.files()[0].size == csv.stat().st_size
    with pytest.raises(InvalidArgumentError, match="kind must be"):
        sp.log_dataset(csv, name="x", kind="parquet")
    with pytest.raises(InvalidArgumentError, match="needs a path"):
        sp.log_dataset({"a": [1]}, name="x", kind="files")


def test_a_manifest_naming_missing_blobs_is_refused(client: Any) -> None:
    manifest = {"format": 1, "files": [{"path": "x", "digest": "ab" * 32, "size": 3}]}
    ref = client.upload_blob(io.BytesIO(orjson.dumps(manifest)))
    with pytest.raises(InvalidArgumentError, match="which the store does not hold"):
        client.create_dataset_version("bad", ref.digest, "vision", kind="files")
    junk = client.upload_blob(io.BytesIO(b"not json"))
    with pytest.raises(InvalidArgumentError, match="not a file manifest"):
        client.create_dataset_version("bad", junk.digest, "vision", kind="files")
    assert client.list_datasets("vision") == []


def test_gc_keeps_the_files_of_versions(client: Any, local: Any, mode: str, tmp_path: Path) -> None:
    v = sp.log_dataset(_tree(tmp_path), name="images", project="vision")
    report = local.gc(dry_run=False, min_age_s=0)
    assert report.deleted == 0 and report.unreferenced == []
    for f in v.files():
        assert local.blobs.exists(f.digest)
    assert local.blobs.exists(v.hash)


@pytest.mark.parametrize("path", ["../escaped.txt", "/etc/passwd", "a//b", "a/./b", "a\\b", ""])
def test_a_manifest_path_cannot_leave_its_folder(client: Any, path: str) -> None:
    blob = client.upload_blob(io.BytesIO(b"abc"))
    entry = {"path": path, "digest": blob.digest, "size": 3}
    ref = client.upload_blob(io.BytesIO(orjson.dumps({"format": 1, "files": [entry]})))
    with pytest.raises(InvalidArgumentError, match="must be relative"):
        client.create_dataset_version("evil", ref.digest, "vision", kind="files")


def test_the_same_file_as_a_table_and_as_files(client: Any, tmp_path: Path) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text("a,b\n1,2\n")
    old = os.stat(csv).st_mtime - 10
    os.utime(csv, (old, old))  # old enough for the stat cache to trust
    for kind in ("table", "files", "table", "files"):
        v = sp.log_dataset(csv, name=f"as-{kind}", project="vision", kind=kind)
        assert v.kind == kind


def test_a_recursive_glob_of_files(client: Any, tmp_path: Path) -> None:
    folder = _tree(tmp_path)
    v = sp.log_dataset(str(folder / "**" / "*.bin"), name="bins", project="vision")
    assert sorted(f.path for f in v.files()) == ["b.bin", "cats/a.bin"]
