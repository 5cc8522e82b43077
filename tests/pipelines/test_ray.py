"""The Ray executor, against a local Ray instance of two CPUs: steps run as Ray tasks, side
by side, with the outputs and cache keys the in-process executor gives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
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


def _pipeline_file(tmp_path: Path, project: str) -> Path:
    path = tmp_path / f"{project.replace('-', '_')}.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import setpoint as sp

            @sp.step
            def double(x: int) -> int:
                return 2 * x

            @sp.pipeline(project="{project}")
            def p(x: int = 3):
                double(x)
            """
        )
    )
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SETPOINT_RAY_ADDRESS", "RAY_ADDRESS")}
    env["SETPOINT_HOME"] = str(tmp_path / "home")
    return {**env, **extra}


def _run_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "setpoint", "pipeline", "run", f"{path}:p", "--executor", "ray"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_run_that_starts_its_own_ray_instance_completes(tmp_path: Path) -> None:
    """Without SETPOINT_RAY_ADDRESS `--executor ray` starts a local instance. It was started
    from a short-lived thread, and Ray's processes die with the thread that started them:
    the run waited a minute for Ray's control store and failed."""
    path = _pipeline_file(tmp_path, "own-ray")
    done = subprocess.run(
        _run_command(path), env=_env(tmp_path), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "double" in done.stdout and " ran " in done.stdout


def test_a_ray_address_nobody_answers_at_fails_within_the_connect_timeout(
    tmp_path: Path,
) -> None:
    """An address where no Ray listens made `--executor ray` wait for it forever (Ray
    retries), printing Ray's connection warnings: it fails after SETPOINT_RAY_CONNECT_TIMEOUT
    with one line naming the address."""
    address = f"127.0.0.1:{_free_port()}"
    env = _env(tmp_path, SETPOINT_RAY_ADDRESS=address, SETPOINT_RAY_CONNECT_TIMEOUT="5")
    path = _pipeline_file(tmp_path, "no-ray")
    started = time.monotonic()
    done = subprocess.run(_run_command(path), env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        f"error (SETPOINT_RAY_ADDRESS): could not connect to Ray at {address!r} within 5 s: "
        "check that SETPOINT_RAY_ADDRESS names the head node of a running Ray cluster "
        "(host:port, as `ray start --head` prints it) and that this machine can reach it"
    ]
    assert time.monotonic() - started < 60


def test_sigterm_ends_a_run_still_connecting_to_ray(tmp_path: Path) -> None:
    """While the connection to Ray was being made, the first SIGTERM was caught, and then
    the run waited for the connection again (forever, where nobody answers)."""
    env = _env(tmp_path, SETPOINT_RAY_ADDRESS=f"127.0.0.1:{_free_port()}")
    path = _pipeline_file(tmp_path, "no-ray-stop")
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(_run_command(path), env=env, stderr=stderr)
    try:
        # Ray says it is still trying: the run is waiting for it
        waiting = time.monotonic() + 45
        while "Failed to connect to GCS" not in log.read_text() and time.monotonic() < waiting:
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 143, log.read_text()[-2000:]
    finally:
        proc.kill()
        proc.wait()
