"""The Ray executor, against a local Ray instance of two CPUs: steps run as Ray tasks, side
by side, with the outputs and cache keys the in-process executor gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp
from pipelines.test_executors import _keys, _module

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
