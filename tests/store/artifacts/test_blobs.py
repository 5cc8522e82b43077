"""Contract tests for the blob store: each runs on a local folder and on S3 (moto)."""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from setpoint.core.errors import (
    ArtifactCorruptedError,
    ArtifactNotFoundError,
    ConfigurationError,
    InvalidArgumentError,
)
from setpoint.core.hashing import digest_bytes
from setpoint.store.artifacts.blobs import BlobStore

if TYPE_CHECKING:
    from conftest import Backend

BIG = os.urandom(3 * (1 << 20) + 123)  # several read chunks, and not a multiple of one
MISSING = "0" * 64


def corrupt(backend: Backend, digest: str) -> None:
    """Flip one byte of the stored blob behind the store's back (same size, wrong bytes)."""
    path = backend.blob_path(digest)
    if backend.name == "local":
        with open(path, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0xFF]))
    else:
        fs, _ = backend.raw()
        data = bytearray(fs.cat_file(path))
        data[0] ^= 0xFF
        fs.pipe_file(path, bytes(data))


def test_put_bytes_round_trip(blob_store: BlobStore) -> None:
    digest, size = blob_store.put_bytes(b"weights")

    assert (digest, size) == (digest_bytes(b"weights"), 7)
    assert blob_store.exists(digest)
    assert blob_store.size(digest) == 7
    assert blob_store.get_bytes(digest) == b"weights"


def test_put_file_round_trip(blob_store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(BIG)

    digest, size = blob_store.put_file(source)
    blob_store.get_file(digest, tmp_path / "copy.bin")

    assert (digest, size) == (digest_bytes(BIG), len(BIG))
    assert (tmp_path / "copy.bin").read_bytes() == BIG


def test_put_stream_round_trip(blob_store: BlobStore) -> None:
    digest, size = blob_store.put_stream(io.BytesIO(BIG))

    assert (digest, size) == (digest_bytes(BIG), len(BIG))
    assert b"".join(blob_store.iter_verified(digest)) == BIG


def test_empty_blob_round_trip(blob_store: BlobStore) -> None:
    digest, size = blob_store.put_stream(io.BytesIO(b""))

    assert (digest, size) == (digest_bytes(b""), 0)
    assert blob_store.get_bytes(digest) == b""


def test_same_content_is_stored_once(
    blob_store: BlobStore, backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "same.bin"
    source.write_bytes(BIG)

    digests = {
        blob_store.put_bytes(BIG)[0],
        blob_store.put_file(source)[0],
        blob_store.put_stream(io.BytesIO(BIG))[0],
        blob_store.put_bytes(BIG)[0],
    }

    assert digests == {digest_bytes(BIG)}
    assert backend.files_under("blobs") == [backend.blob_path(digest_bytes(BIG))]


def test_corrupted_blob_is_never_returned(blob_store: BlobStore, backend: Backend) -> None:
    digest, _ = blob_store.put_bytes(b"trustworthy bytes")
    corrupt(backend, digest)

    with pytest.raises(ArtifactCorruptedError, match=f"artifact blake3:{digest} is corrupted"):
        blob_store.get_bytes(digest)
    with pytest.raises(ArtifactCorruptedError, match=digest):
        b"".join(blob_store.iter_verified(digest))


def test_get_file_leaves_no_partial_file_when_corrupted(
    blob_store: BlobStore, backend: Backend, tmp_path: Path
) -> None:
    digest, _ = blob_store.put_bytes(BIG)
    corrupt(backend, digest)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.bin").write_bytes(b"previous version")

    with pytest.raises(ArtifactCorruptedError, match=digest):
        blob_store.get_file(digest, out / "fresh.bin")
    with pytest.raises(ArtifactCorruptedError, match=digest):
        blob_store.get_file(digest, out / "kept.bin")

    assert sorted(p.name for p in out.iterdir()) == ["kept.bin"]
    assert (out / "kept.bin").read_bytes() == b"previous version"


def test_get_file_replaces_an_existing_file(blob_store: BlobStore, tmp_path: Path) -> None:
    digest, _ = blob_store.put_bytes(b"new")
    (tmp_path / "out").mkdir()
    dest = tmp_path / "out" / "model.bin"
    dest.write_bytes(b"old and longer")

    blob_store.get_file(digest, dest)

    assert dest.read_bytes() == b"new"
    assert os.listdir(tmp_path / "out") == ["model.bin"]


def test_missing_blob_raises_not_found(blob_store: BlobStore, tmp_path: Path) -> None:
    assert not blob_store.exists(MISSING)
    for read in (
        blob_store.get_bytes,
        blob_store.size,
        blob_store.iter_verified,
        lambda d: blob_store.get_file(d, tmp_path / "dest"),
    ):
        with pytest.raises(ArtifactNotFoundError, match=MISSING):
            read(MISSING)
    assert not (tmp_path / "dest").exists()


BAD_DIGESTS = [
    "abc",
    "A" * 64,
    "g" * 64,
    "0" * 63,
    "0" * 65,
    "blake3:" + "0" * 64,
    "../../" + "0" * 58,
    "",
    None,
]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
@pytest.mark.parametrize("method", ["exists", "size", "get_bytes", "iter_verified", "delete"])
def test_bad_digest_is_rejected(blob_store: BlobStore, method: str, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        getattr(blob_store, method)(bad)
    assert caught.value.field == "digest"


def test_iter_digests_lists_what_was_put(blob_store: BlobStore) -> None:
    assert list(blob_store.iter_digests()) == []
    before = time.time()
    a, _ = blob_store.put_bytes(b"a")
    b, _ = blob_store.put_bytes(BIG)

    listed = {d: (size, mtime) for d, size, mtime in blob_store.iter_digests()}

    assert {d: size for d, (size, _) in listed.items()} == {a: 1, b: len(BIG)}
    for _, mtime in listed.values():
        assert before - 60 < mtime < time.time() + 60  # clocks: ours and the server's


def test_delete_removes_the_blob(blob_store: BlobStore) -> None:
    keep, _ = blob_store.put_bytes(b"keep")
    gone, _ = blob_store.put_bytes(b"gone")

    blob_store.delete(gone)
    blob_store.delete(gone)  # already gone: not an error

    assert not blob_store.exists(gone)
    assert [d for d, _, _ in blob_store.iter_digests()] == [keep]
    with pytest.raises(ArtifactNotFoundError):
        blob_store.get_bytes(gone)


class _FailingStream(io.RawIOBase):
    """Yields one chunk, then fails like a dropped connection."""

    def __init__(self) -> None:
        self._sent = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._sent:
            raise ConnectionResetError("upload source went away")
        self._sent = True
        return b"x" * 1000


def test_no_temp_files_are_left_behind(
    blob_store: BlobStore, backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(BIG)
    blob_store.put_bytes(b"one")
    blob_store.put_bytes(b"one")
    blob_store.put_stream(io.BytesIO(BIG))
    blob_store.put_file(source)
    with pytest.raises(ConnectionResetError):
        blob_store.put_stream(_FailingStream())  # type: ignore[arg-type]

    assert backend.files_under("tmp") == []
    assert len(backend.files_under("blobs")) == 2


def test_constructor_does_no_io(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = BlobStore(str(root))
    unreachable = BlobStore("s3://b/p", {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}})
    assert unreachable.url == "s3://b/p"
    assert not (tmp_path / "not").exists()
    with pytest.raises(RuntimeError, match="open"):
        store.put_bytes(b"x")

    assert store.open() is store
    assert store.open() is store  # idempotent
    assert root.is_dir()
    digest, _ = store.put_bytes(b"x")
    assert (root / "blobs" / digest[:2] / digest[2:4] / digest).read_bytes() == b"x"


def test_file_url_and_plain_path_share_one_store(tmp_path: Path) -> None:
    digest, _ = BlobStore(f"file://{tmp_path}").open().put_bytes(b"shared")

    assert BlobStore(str(tmp_path)).open().get_bytes(digest) == b"shared"


def test_unknown_protocol_is_a_configuration_error() -> None:
    store = BlobStore("nosuchproto://bucket/prefix")

    with pytest.raises(ConfigurationError, match="nosuchproto"):
        store.open()


def _put_same_file(url: str, path: str, barrier: Any, results: Any) -> None:
    store = BlobStore(url).open()
    barrier.wait(timeout=30)
    results.put(store.put_file(path))


def test_two_processes_putting_the_same_content_both_succeed(tmp_path: Path) -> None:
    content = os.urandom(5 * (1 << 20))
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    url = str(tmp_path / "artifacts")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=_put_same_file, args=(url, str(source), barrier, results))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)

    assert [w.exitcode for w in workers] == [0, 0]
    assert outcomes == [(digest_bytes(content), len(content))] * 2
    store = BlobStore(url).open()
    assert [d for d, _, _ in store.iter_digests()] == [digest_bytes(content)]
    assert store.get_bytes(digest_bytes(content)) == content
    assert os.listdir(tmp_path / "artifacts" / "tmp") == []


@pytest.mark.parametrize("fsync", [True, False])
def test_a_local_store_fsyncs_blobs_and_their_folder_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    store = BlobStore(str(tmp_path / "store"), fsync=fsync).open()
    source = tmp_path / "model.bin"
    source.write_bytes(BIG)

    file_digest, _ = store.put_file(source)
    bytes_digest, _ = store.put_bytes(b"small")

    if not fsync:
        assert synced == []
        return
    # each blob's bytes under its temporary name, then the folder its final name lives in
    assert [os.path.basename(os.path.dirname(p)) for p in synced[::2]] == ["tmp", "tmp"]
    assert synced[1::2] == [
        os.path.dirname(store.local_path(file_digest)),
        os.path.dirname(store.local_path(bytes_digest)),
    ]


def test_a_local_blob_of_the_wrong_size_is_replaced_by_the_next_write(tmp_path: Path) -> None:
    """A blob cut short (a power loss before the kernel wrote it back) is not taken for the
    stored copy of the same bytes: writing them again makes it whole."""
    store = BlobStore(str(tmp_path / "store")).open()
    digest, _ = store.put_bytes(BIG)
    path = store.local_path(digest)
    assert path is not None
    Path(path).write_bytes(BIG[:1000])
    assert not store.verify(digest)

    store.put_bytes(BIG)
    assert store.verify(digest) and store.get_bytes(digest) == BIG
    Path(path).write_bytes(b"")
    source = tmp_path / "big.bin"
    source.write_bytes(BIG)
    store.put_file(source)
    assert store.get_bytes(digest) == BIG


@pytest.mark.parametrize("reserving", ["reserved", "refused", "no ctypes"])
def test_a_file_copied_into_a_local_store_is_its_bytes_and_no_more_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reserving: str
) -> None:
    """Its disk is reserved before the copy (a hint: a system that refuses it, or a Python
    without ctypes, copies the same); the blob is the file's bytes and length, holding no
    reserved disk beyond them."""
    import ctypes
    import sys

    if reserving == "refused":

        def no_library(*_args: Any, **_kwargs: Any) -> Any:
            raise OSError("no C library here")

        monkeypatch.setattr(ctypes, "CDLL", no_library)
    elif reserving == "no ctypes":
        monkeypatch.setitem(sys.modules, "ctypes", None)  # import ctypes: ImportError
    store = BlobStore(str(tmp_path / "store")).open()
    source = tmp_path / "model.bin"
    source.write_bytes(BIG)

    digest, size = store.put_file(source)
    path = store.local_path(digest)

    assert path is not None and (digest, size) == (digest_bytes(BIG), len(BIG))
    assert Path(path).read_bytes() == BIG
    st = os.stat(path)
    assert st.st_size == len(BIG) and st.st_blocks * 512 < len(BIG) + (1 << 20)
