"""Run artifacts on S3 (moto's server on loopback), configured the way a user does it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp
from s3server import BUCKET, s3_options
from setpoint.client import sdk
from setpoint.client.local import LocalClient
from setpoint.core.config import Settings
from setpoint.core.errors import ArtifactCorruptedError

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_client(tmp_path: Path, s3_endpoint: str) -> Any:
    settings = Settings.from_env(
        {
            "SETPOINT_HOME": str(tmp_path / "home"),
            "SETPOINT_ARTIFACTS_URL": f"s3://{BUCKET}/runs-{uuid.uuid4().hex[:8]}",
            "SETPOINT_ARTIFACTS_OPTIONS": json.dumps(s3_options(s3_endpoint)),
        }
    )
    client = LocalClient(settings).open()
    sdk.use(client, settings)
    yield client
    sdk.use(None)


def test_artifacts_round_trip_through_s3(s3_client: LocalClient, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").write_bytes(b"\x01" * 300_000)
    with sp.start_run(project="p") as run:
        run.log_artifact(tmp_path / "m", "model")
        run.log_dict({"a": 1}, "meta.json")
    got = s3_client.download_artifact(run.id, "model", tmp_path / "dl")
    assert Path(got[0]).read_bytes() == b"\x01" * 300_000
    blobs = list(s3_client.blobs.iter_digests())
    assert len(blobs) == 2
    assert s3_client.gc(dry_run=True, min_age_s=0).unreferenced == []


def test_a_changed_object_on_s3_is_refused(s3_client: LocalClient, tmp_path: Path) -> None:
    import fsspec

    with sp.start_run(project="p") as run:
        art = run.log_bytes(b"original", "x.bin")
    fs, root = fsspec.core.url_to_fs(
        s3_client.settings.artifacts_url, **s3_client.settings.artifacts_options
    )
    d = art.digest
    fs.pipe_file(f"{root}/blobs/{d[:2]}/{d[2:4]}/{d}", b"tampered")
    fs.invalidate_cache()
    with pytest.raises(ArtifactCorruptedError):
        s3_client.download_artifact(run.id, "x.bin", tmp_path / "dl")
    assert not (tmp_path / "dl" / "x.bin").exists()


def test_datasets_on_s3(s3_client: LocalClient, tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"amount": [1.0, 2.5, 4.0], "country": ["DE", "FR", "DE"]})
    v = sp.log_dataset(df, name="tx", project="fraud")
    assert v.profile["num_rows"] == 3
    pd.testing.assert_frame_equal(v.to_pandas(), df)
    suite = "suite: tx\ncolumns:\n  amount: {range: {min: 2}}\n"
    report = sp.validate(v, suite, use_profile=False)  # reads the rows back from S3
    assert report.failed[0]["sample"] == [{"row": 0, "value": 1.0}]
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.bin").write_bytes(b"\x02" * 70_000)
    files = sp.log_dataset(tmp_path / "raw", name="raw", project="fraud")
    assert files.download(tmp_path / "out") == [str((tmp_path / "out" / "a.bin").resolve())]
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"\x02" * 70_000
    assert s3_client.gc(dry_run=True, min_age_s=0).unreferenced == []
