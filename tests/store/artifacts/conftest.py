"""Fixtures that run every blob-store contract test on a local folder and on S3 (moto)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from s3server import BUCKET, s3_options
from setpoint.store.artifacts.blobs import BlobStore


@dataclass(frozen=True, kw_only=True)
class Backend:
    """Where a test's store lives, and raw access to its filesystem to tamper with blobs."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def store(self) -> BlobStore:
        return BlobStore(self.url, self.options).open()

    def raw(self) -> tuple[Any, str]:
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.url, **self.options)
        return fs, root.rstrip("/")

    def blob_path(self, digest: str) -> str:
        return f"{self.raw()[1]}/blobs/{digest[:2]}/{digest[2:4]}/{digest}"

    def files_under(self, folder: str) -> list[str]:
        fs, root = self.raw()
        fs.invalidate_cache()
        if not fs.exists(f"{root}/{folder}"):
            return []
        return sorted(fs.find(f"{root}/{folder}"))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend(name="local", url=str(tmp_path / "artifacts"))
    endpoint = request.getfixturevalue("s3_endpoint")
    prefix = uuid.uuid4().hex  # one prefix per test keeps tests independent in one bucket
    return Backend(name="s3", url=f"s3://{BUCKET}/{prefix}", options=s3_options(endpoint))


@pytest.fixture
def blob_store(backend: Backend) -> BlobStore:
    return backend.store()
