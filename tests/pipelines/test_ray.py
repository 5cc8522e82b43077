"""The Ray executor, against a local Ray instance of two CPUs: steps run as Ray tasks, side
by side, with the outputs and cache keys the in-process executor gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp
from pipelines.test_executors import _keys, _module
from setpoint.core.errors import InvalidArgumentError

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_ray_tasks_give_what_in_process_gives(local_ray: None, client: Any, tmp_path: Path) -> None:
    m = _module(tmp_path, "fan_ray")
    on_ray = sp.run_pipeline(m.fan, month="2026-11", executor="ray")
    assert [s.status for s in on_ray.steps] == ["ran"] * 3
    assert sp.get_run(on_ray.run_id).tags["executor"] == "ray"
    here = sp.run_pipeline(m.fan, month="2026-11")
    assert [s.status for s in here.steps] == ["cached"] * 3
    assert _keys(on_ray) == _keys(here)
    assert on_ray.value("stats") == here.value("stats")

    met = sp.run_pipeline(m.rendezvous, where=str(tmp_path), executor="ray")  # both at once
    assert len({met.value(s.step) for s in met.steps}) == 2
    with pytest.raises(ValueError, match="boom at 2"):
        sp.run_pipeline(m.half, n=2, executor="ray")


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_batch_scoring_on_ray_gives_a_part_per_file(
    local_ray: None, client: Any, tmp_path: Path
) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    v = sp.log_model(LogisticRegression().fit(X, X["a"] > 0), "m", project="r", input_example=X)
    sp.set_alias("m", "champion", v.version, project="r")
    (tmp_path / "in").mkdir()
    frames = []
    for i in range(3):
        part = pd.DataFrame(rng.normal(size=(1000, 2)), columns=["a", "b"]).assign(key=i)
        part.to_parquet(tmp_path / "in" / f"{i}.parquet", index=False)
        frames.append(part)
    result = sp.predict_batch(
        "r/m@champion", str(tmp_path / "in"), str(tmp_path / "out"), executor="ray"
    )
    assert result["rows"] == 3000 and len(result["files"]) == 3
    scored = pq.read_table(tmp_path / "out").to_pandas()
    expected = sp.load_model("r/m@champion").predict(pd.concat(frames)[["a", "b"]])
    assert sorted(scored["key"].unique()) == [0, 1, 2]
    assert scored.sort_values("key", kind="stable")["prediction"].tolist() == expected.tolist()
    # scoring again into the same folder replaces the parts whole: none of the earlier stay
    (tmp_path / "in" / "2.parquet").unlink()
    again = sp.predict_batch(
        "r/m@champion", str(tmp_path / "in"), str(tmp_path / "out"), executor="ray"
    )
    assert again["rows"] == 2000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert sorted(again["files"]) == sorted(str(p) for p in (tmp_path / "out").iterdir())
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidArgumentError, match=r"holds 'notes\.txt'"):
        sp.predict_batch(
            "r/m@champion", str(tmp_path / "in"), str(tmp_path / "mine"), executor="ray"
        )
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_run_that_starts_its_own_ray_instance_completes(tmp_path: Path) -> None:
    """Without SETPOINT_RAY_ADDRESS `--executor ray` starts a local instance. It was started
    from a short-lived thread, and Ray's processes die with the thread that started them:
    the run waited a minute for Ray's control store and failed."""
    import os
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "own_ray.py"
    path.write_text(
        textwrap.dedent(
            """
            import setpoint as sp

            @sp.step
            def double(x: int) -> int:
                return 2 * x

            @sp.pipeline(project="own-ray")
            def p(x: int = 3):
                double(x)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SETPOINT_RAY_ADDRESS", "RAY_ADDRESS")}
    env["SETPOINT_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "pipeline", "run", f"{path}:p", "--executor", "ray"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "double" in done.stdout and " ran " in done.stdout
