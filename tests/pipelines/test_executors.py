"""Executors: the same pipeline in process, in a local process pool and on Ray gives the same
outputs, cache keys and lineage; independent steps run side by side; failures end the run
with the step's own error; a run killed mid-step resumes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp
from conftest import module_from_source
from setpoint.core.errors import PipelineError

PIPELINE = """
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import setpoint as sp

def offset(month):
    return len(month) * {factor}

@sp.step
def load(month: str) -> pd.DataFrame:
    rng = np.random.default_rng(offset(month))
    x = rng.normal(size=300)
    return pd.DataFrame({{"x": x, "y": (x > 0).astype(int)}})

@sp.step
def stats(data: pd.DataFrame) -> dict:
    return {{"mean": float(data["x"].mean()), "n": len(data)}}

@sp.step
def scaled(data: pd.DataFrame, by: float = 2.0) -> np.ndarray:
    return data["x"].to_numpy() * by

@sp.step
def meet(where: str, me: str, other: str) -> str:
    # finishes only if the other step runs at the same time: each waits for the other's file
    folder = Path(where)
    (folder / me).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (folder / other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{{me}} never met {{other}}: the steps did not run side by side")
        time.sleep(0.02)
    return (folder / other).read_text()

@sp.pipeline(project="exec")
def fan(month: str, by: float = 2.0):
    data = load(month)
    stats(data)
    scaled(data, by=by)

@sp.pipeline(project="exec")
def rendezvous(where: str):
    meet(where, "left", "right")
    meet(where, "right", "left")

@sp.step
def boom(n: int) -> int:
    raise ValueError(f"boom at {{n}}")

@sp.step
def fine(n: int) -> int:
    return n + 1

@sp.pipeline(project="exec")
def half(n: int = 1):
    fine(n)
    boom(n)

class Box:
    def __init__(self, k):
        self.k = k

@sp.step(pickle=True)
def pack(k: int) -> Box:
    return Box(k)

@sp.step
def unpack(b: Box) -> int:
    return b.k * 10

@sp.pipeline(project="exec")
def boxed(k: int = 4):
    unpack(pack(k))

@sp.step
def vanish(code: int) -> int:
    os._exit(code)

@sp.pipeline(project="exec")
def vanishing(code: int = 3):
    vanish(code)
"""


def _module(tmp_path: Path, name: str, factor: int = 3) -> Any:
    return module_from_source(tmp_path, name, PIPELINE.format(factor=factor))


def _keys(run: Any) -> dict[str, str]:
    explained = sp.explain_pipeline(run.run_id)
    runs = {r["step"]: sp.get_run(r["run_id"]) for r in explained}
    return {step: r.tags["cache_key"] for step, r in runs.items()}


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_process_pool_gives_what_in_process_gives(client: Any, tmp_path: Path) -> None:
    m = _module(tmp_path, "fan_pool")
    pooled = sp.run_pipeline(m.fan, month="2026-11", executor="process")
    assert [s.status for s in pooled.steps] == ["ran"] * 3
    assert pooled.value("stats")["n"] == 300
    here = sp.run_pipeline(m.fan, month="2026-11")  # in process: every step from the cache
    assert [s.status for s in here.steps] == ["cached"] * 3
    assert _keys(pooled) == _keys(here)
    assert [s.output["digest"] for s in pooled.steps] == [s.output["digest"] for s in here.steps]
    assert sp.get_run(pooled.run_id).tags["executor"] == "process"
    # lineage: the steps that ran in workers consumed the dataset the first step produced
    produced = pooled.steps[0].output["ref"]
    consumers = {
        edge.source_id
        for edge in client.get_lineage("dataset_version", produced)
        if edge.relation == "consumed"
    }
    assert {pooled.steps[1].run_id, pooled.steps[2].run_id} <= consumers
    changed = sp.run_pipeline(m.fan, month="2026-11", by=3.0, executor="process")
    assert [s.status for s in changed.steps] == ["cached", "cached", "ran"]
    assert changed.steps[2].why == ["parameter 'by' changed"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_worker_takes_the_output_of_a_step_that_pickles(client: Any, tmp_path: Path) -> None:
    """The step taking it does not pickle: a worker checked the pickle against the taking
    step's flag ("a stored output is a pickle but its step does not declare pickle=True")."""
    m = _module(tmp_path, "fan_boxed")
    pooled = sp.run_pipeline(m.boxed, k=4, executor="process")
    assert [s.status for s in pooled.steps] == ["ran", "ran"] and pooled.value("unpack") == 40


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_whose_worker_died_ends_failed_saying_so(client: Any, tmp_path: Path) -> None:
    """Its run stayed running until its heartbeats were missed, then said no more than that
    ("stopped sending heartbeats"), though the driver had the worker's exit code."""
    m = _module(tmp_path, "fan_vanish")
    with pytest.raises(
        PipelineError, match=r"worker process running the step died \(exit code 3\)"
    ):
        sp.run_pipeline(m.vanishing, code=3, executor="process")
    steps = client.search_runs(["exec"], "tags.step = 'vanish'", None, 10, None).runs
    assert [(r.status, r.error) for r in steps] == [
        ("failed", "the worker process running the step died (exit code 3)")
    ]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_independent_steps_run_side_by_side_and_a_failure_keeps_the_rest(
    client: Any, tmp_path: Path
) -> None:
    m = _module(tmp_path, "fan_side")
    met = sp.run_pipeline(m.rendezvous, where=str(tmp_path), executor="process")
    pids = {met.value(s.step) for s in met.steps}
    assert len(pids) == 2 and str(os.getpid()) not in pids
    with pytest.raises(ValueError, match="boom at 4"):
        sp.run_pipeline(m.half, n=4, executor="process")
    failed = sp.search_runs(project="exec", filter="tags.kind = 'pipeline' and status = 'failed'")
    assert len(failed) == 1
    steps = sp.search_runs(project="exec", filter="tags.pipeline = 'half' and tags.kind = 'step'")
    assert sorted(zip(steps["name"], steps["status"], strict=True)) == [
        ("boom", "failed"),
        ("fine", "finished"),
    ]
    with pytest.raises(PipelineError, match="unknown executor 'threads'"):
        sp.run_pipeline(m.fan, month="x", executor="threads")


PROBE = """
import sys

import pandas as pd
import setpoint as sp

@sp.step
def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"n": range(n), "sqlalchemy": ["sqlalchemy" in sys.modules] * n})

@sp.step
def probe(data: pd.DataFrame) -> dict:
    loaded = bool(data["sqlalchemy"].any()) or "sqlalchemy" in sys.modules
    return {"rows": len(data), "sqlalchemy": loaded}

@sp.pipeline(project="exec")
def probing(n: int = 1):
    probe(table(n))
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_worker_records_its_steps_on_the_embedded_store_without_sqlalchemy(
    client: Any, tmp_path: Path
) -> None:
    """A worker's first step does not wait for SQLAlchemy to import (a sixth of a second,
    in every worker): on the embedded store the worker records a step's run, the table it
    stores or reads and the lineage through a LiteClient, and the records are the full
    store's."""
    m = module_from_source(tmp_path, "probing_pool", PROBE)
    done = sp.run_pipeline(m.probing, n=7, executor="process")
    assert done.value("probe") == {"rows": 7, "sqlalchemy": False}
    run = client.get_run(done.steps[1].run_id)
    assert (run.status, run.tags["step"]) == ("finished", "probe")
    produced = done.steps[0].output["ref"]
    consumers = [
        e.source_id
        for e in client.get_lineage("dataset_version", produced)
        if e.relation == "consumed"
    ]
    assert consumers == [run.id]
    again = sp.run_pipeline(m.probing, n=7, executor="process")
    assert [s.status for s in again.steps] == ["cached", "cached"]
    assert client.verify_audit().ok


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_parallel_sweep_runs_a_shared_step_once(client: Any, tmp_path: Path) -> None:
    m = _module(tmp_path, "fan_sweep")
    df = sp.sweep(m.fan, {"by": [1.0, 2.0, 4.0]}, month="2026-10", executor="process")
    assert sorted(df["by"]) == [1.0, 2.0, 4.0]
    assert set(df["stats.n"]) == {300}
    loads = sp.search_runs(project="exec", filter="tags.step = 'load' and tags.cache = 'miss'")
    assert len(loads) == 1  # the three pipeline runs shared one execution of `load`
    scaled = sp.search_runs(project="exec", filter="tags.step = 'scaled' and tags.cache = 'miss'")
    assert len(scaled) == 3


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_cached_output_expires(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client import pipelines

    @sp.step(cache_expiration="2h")
    def fetch(n: int) -> int:
        return n * 10

    @sp.pipeline(project="exec")
    def fetching(n: int = 1):
        fetch(n)

    sp.run_pipeline(fetching)
    assert [s.status for s in sp.run_pipeline(fetching).steps] == ["cached"]
    later = time.time() + 3 * 3600
    monkeypatch.setattr(pipelines, "now", lambda: later)
    result = sp.run_pipeline(fetching)
    assert [s.status for s in result.steps] == ["ran"] and result.value("fetch") == 10
    assert "expired: the step's cache lasts 2h" in result.steps[0].why[0]
    for bad in ("2 hours", "0d", -5, True, "\u00b9d", "99999999999999999999d"):
        with pytest.raises(PipelineError, match="cache_expiration must be a positive duration"):
            sp.step(cache_expiration=bad)(fetch.fn)


KILLABLE = """
import os
import time
from pathlib import Path

import pandas as pd
import setpoint as sp

@sp.step
def first(n: int) -> pd.DataFrame:
    return pd.DataFrame({"v": list(range(n))})

@sp.step
def second(data: pd.DataFrame) -> pd.DataFrame:
    marker = Path(os.environ["MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))  # the process running the step
        time.sleep(120)  # killed here
    return data.assign(w=data["v"] * 2)

@sp.pipeline(project="killed")
def slow(n: int = 5):
    second(first(n))
"""


def _inside_the_second_step(
    tmp_path: Path, executor: str = "inprocess", source: str = KILLABLE
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`setpoint pipeline run` of KILLABLE (in a session of its own, as a terminal's
    foreground job is), once its second step has started (and waits), and the environment it
    runs in."""
    path = tmp_path / "killable.py"
    path.write_text(textwrap.dedent(source))
    marker = tmp_path / "marker"
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home"), "MARKER": str(marker)}
    proc = subprocess.Popen(
        [*CLI, "pipeline", "run", f"{path}:slow", "--executor", executor],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    return proc, env


CLI = [sys.executable, "-m", "setpoint"]


def test_a_run_killed_mid_step_leaves_nothing_half_written_and_resumes(tmp_path: Path) -> None:
    proc, env = _inside_the_second_step(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def cli_json(*args: str) -> Any:
        out = subprocess.run(
            [*CLI, *args, "--json"], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout)

    versions = [d["name"] for d in cli_json("data", "list", "--project", "killed")]
    assert versions == ["slow.first"]  # nothing of the killed step
    runs = cli_json("runs", "list", "--project", "killed", "--filter", "tags.kind = 'pipeline'")
    # a run still running (by its heartbeat) is not resumed: it is once its heartbeat stops
    running = subprocess.run(
        [*CLI, "pipeline", "resume", runs["runs"][0]["id"]], env=env, capture_output=True, text=True
    )
    assert running.returncode == 1 and "is still running" in running.stderr, running.stderr
    env.update(SETPOINT_HEARTBEAT_INTERVAL="0.5", SETPOINT_HEARTBEAT_TIMEOUT="1")
    time.sleep(1.1)  # the killed run's last heartbeat is older than that timeout
    resumed = cli_json("pipeline", "resume", runs["runs"][0]["id"])
    assert [(s["step"], s["status"]) for s in resumed["steps"]] == [
        ("first", "cached"),
        ("second", "ran"),
    ]
    versions = sorted(d["name"] for d in cli_json("data", "list", "--project", "killed"))
    assert versions == ["slow.first", "slow.second"]


def test_listing_user_modules_survives_an_import_during_a_collection() -> None:
    """A finalizer that imports, run by a garbage collection while the user's modules are
    listed for a worker's payload, must not break the listing (it failed a Ray run once)."""
    import gc
    import types

    from setpoint.pipelines.code_key import user_modules

    made: list[str] = []

    def importing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            name = f"_made_during_gc_{len(made)}"
            sys.modules[name] = types.ModuleType(name)
            made.append(name)

    threshold = gc.get_threshold()
    gc.callbacks.append(importing)
    gc.set_threshold(1)  # a collection on (nearly) every allocation
    try:
        user_modules()
    finally:
        gc.callbacks.remove(importing)
        gc.set_threshold(*threshold)
        for name in made:
            sys.modules.pop(name, None)
    assert made, "no collection ran while the modules were listed: the test proves nothing"


RETRIED = """
from pathlib import Path

import pandas as pd
import setpoint as sp

@sp.step
def load() -> pd.DataFrame:
    return pd.DataFrame({{"x": [1.0, 2.0]}})

@sp.step(retries=2, cache=False)
def scale(data: pd.DataFrame, seen: list) -> pd.DataFrame:
    # changes its inputs in place, then fails the first time
    data["x"] *= 100
    seen.append(len(seen))
    tries = Path({tries!r})
    tries.write_text(tries.read_text() + "x" if tries.exists() else "x")
    if len(tries.read_text()) == 1:
        raise RuntimeError("transient")
    return data.assign(seen=len(seen))

@sp.pipeline(project="exec")
def retried():
    scale(load(), [])
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_a_retried_step_gets_its_inputs_as_they_were(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    from setpoint.client import executors

    monkeypatch.setattr(executors, "MAX_BACKOFF_S", 0.0)  # in process: retry at once
    name = f"retried_{executor}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(RETRIED.format(tries=str(tmp_path / "tries"))))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    result = sp.run_pipeline(module.retried, executor=executor)
    out = result.value("scale")
    assert (tmp_path / "tries").read_text() == "xx"  # it failed once, then passed
    assert out["x"].tolist() == [100.0, 200.0]  # scaled once, not by the failed attempt too
    assert out["seen"].tolist() == [1, 1]  # the list parameter too was as given
    assert result.value("load")["x"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("executor", "how"),
    [("inprocess", "SIGTERM"), ("process", "SIGTERM"), ("process", "Ctrl-C")],
)
def test_a_run_stopped_with_sigterm_ends_its_runs_killed(
    tmp_path: Path, executor: str, how: str
) -> None:
    """SIGTERM (what a scheduler, `kill` or a container stop sends) ended the process on the
    spot: the pipeline's runs stayed `running` until the heartbeat timeout failed them. On
    the process executor the command waited for the worker's step to end; Ctrl-C (SIGINT to
    the terminal's whole job, workers too) left the step's run `finished`."""
    proc, env = _inside_the_second_step(tmp_path, executor)
    if how == "Ctrl-C":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == (130 if how == "Ctrl-C" else 143)  # the step sleeps 120 s
    out = subprocess.run(
        [*CLI, "runs", "list", "--project", "killed", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    statuses = {r["name"]: r["status"] for r in json.loads(out.stdout)["runs"]}
    assert statuses == {"pipeline.slow": "killed", "first": "finished", "second": "killed"}


def test_a_killed_driver_takes_its_step_workers_with_it(tmp_path: Path) -> None:
    """`pipeline run --executor process` killed (SIGKILL): its worker went on running the
    step, so `pipeline resume` ran that step a second time alongside it."""
    proc, env = _inside_the_second_step(tmp_path, "process")
    worker = int((tmp_path / "marker").read_text())
    assert worker != proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its driver"
        time.sleep(0.05)
    out = subprocess.run(
        [*CLI, "runs", "list", "--project", "killed", "--filter", "attributes.name = 'second'"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "killed" in out.stdout and "running" not in out.stdout


CATCHING = """
import os
import time
from pathlib import Path

import setpoint as sp

@sp.step
def first(n: int) -> int:
    return n

@sp.step
def second(n: int) -> dict:
    marker = Path(os.environ["MARKER"])
    if marker.exists():
        return {"epochs": 100}
    marker.write_text(str(os.getpid()))
    done = 0
    try:
        for done in range(1, 1200):
            time.sleep(0.1)
    except KeyboardInterrupt:  # as training loops end early: with what they have
        return {"epochs": done}
    return {"epochs": 100}

@sp.pipeline(project="killed")
def slow(n: int = 5):
    second(first(n))
"""


def test_a_stopped_step_that_returns_what_it_had_stores_nothing(tmp_path: Path) -> None:
    """A step catching the interruption and returning its partial result had that result
    stored and cached as the step's output: the next run took it from the cache."""
    proc, env = _inside_the_second_step(tmp_path, "process", CATCHING)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    again = subprocess.run(
        [*CLI, "pipeline", "run", f"{tmp_path / 'killable.py'}:slow", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    steps = {s["step"]: s["status"] for s in json.loads(again.stdout)["steps"]}
    assert steps == {"first": "cached", "second": "ran"}


FAILING_BESIDE = """
import time

import setpoint as sp

@sp.step
def slow(n: int) -> int:
    time.sleep(2)
    return n

@sp.step(packages=["no-such-distribution-here"])
def broken(n: int) -> int:
    return n

@sp.pipeline(project="beside")
def both(n: int = 1):
    slow(n)
    broken(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_run_failing_beside_a_running_step_lets_it_finish(client: Any, tmp_path: Path) -> None:
    """An error (not an interruption) while a worker runs a step: that step finishes and is
    stored, for a resume to take from the cache."""
    m = module_from_source(tmp_path, "failing_beside", FAILING_BESIDE)
    with pytest.raises(Exception, match="no-such-distribution-here"):
        sp.run_pipeline(m.both, executor="process")
    runs = client.search_runs(["beside"], "attributes.name = 'slow'").runs
    assert [r.status for r in runs] == ["finished"]


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


AS_STORED = """
import pandas as pd
import setpoint as sp

@sp.step
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", "a"]),
            "nint": pd.array([n, None, 3], dtype="Int64"),
            "s": pd.array(["x", None, "z"], dtype="string"),
        }
    )

@sp.step
def meta(n: int) -> dict:
    return {"zeta": n, "alpha": 2}

@sp.step(cache=False)
def describe(df: pd.DataFrame, m: dict) -> dict:
    return {
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "missing": int(df["nint"].isna().sum()),
        "keys": list(m),
    }

@sp.pipeline(project="stored")
def rt(n: int = 1):
    describe(make(n), meta(n))
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_gets_what_was_stored_whichever_way_the_step_before_it_went(
    client: Any, tmp_path: Path
) -> None:
    """In a process the next step got the object the step before returned (a categorical, a
    nullable Int64), from the cache or another process what was stored (plain text, float64),
    and JSON came back with its keys sorted: a step saw other data depending on where the
    step before it ran."""
    m = module_from_source(tmp_path, "as_stored", AS_STORED)
    runs = {
        "process, ran": sp.run_pipeline(m.rt, n=1, executor="process"),
        "in process, ran": sp.run_pipeline(m.rt, n=5),
        "in process, cached": sp.run_pipeline(m.rt, n=5),
        "in process, cached from a worker": sp.run_pipeline(m.rt, n=1),
    }
    assert [s.status for s in runs["in process, ran"].steps] == ["ran"] * 3
    assert [s.status for s in runs["in process, cached"].steps] == ["cached", "cached", "ran"]
    seen = {how: r.value("describe") for how, r in runs.items()}
    assert len({json.dumps(s) for s in seen.values()}) == 1, seen
    described = seen["in process, ran"]
    assert described["keys"] == ["zeta", "alpha"]  # as the step made them, not sorted
    assert described["dtypes"]["cat"] != "category"  # as a dataset version keeps them
    assert described["dtypes"]["nint"] == "float64" and described["missing"] == 1
    for r in runs.values():  # and the pipeline's result is what the next step got
        assert list(r.value("meta")) == ["zeta", "alpha"]
        assert {c: str(t) for c, t in r.value("make").dtypes.items()} == described["dtypes"]


RAISES = """
import threading

import setpoint as sp

class QuotaError(Exception):
    def __init__(self, code, detail):
        super().__init__(f"quota {code}: {detail}")
        self.code = code

@sp.step
def limited(n: int) -> int:
    raise QuotaError(429, "too many requests")

@sp.step
def locked(n: int) -> int:
    error = RuntimeError(f"lock {n} held")
    error.lock = threading.Lock()  # cannot be pickled
    raise error

@sp.pipeline(project="raises")
def quota(n: int = 1):
    limited(n)

@sp.pipeline(project="raises")
def unpicklable(n: int = 1):
    locked(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_worker_sends_back_the_steps_own_error_or_one_naming_it(
    client: Any, tmp_path: Path
) -> None:
    """An exception whose __init__ takes several arguments pickles but does not unpickle:
    the driver raised `TypeError: QuotaError.__init__() missing 1 required positional
    argument` in the step's error's place."""
    from setpoint.client.executors import StepError, rebuilt_error

    m = module_from_source(tmp_path, "raises_pipe", RAISES)
    with pytest.raises(StepError) as info:
        sp.run_pipeline(m.quota, executor="process")
    assert str(info.value) == "QuotaError: quota 429: too many requests"
    assert (info.value.type_name, info.value.module) == ("QuotaError", "raises_pipe")
    assert "step 'limited' of pipeline run" in info.value.__notes__[0]
    with pytest.raises(StepError) as info:
        sp.run_pipeline(m.unpicklable, executor="process")
    assert str(info.value) == "RuntimeError: lock 1 held"
    with pytest.raises(m.QuotaError, match="quota 429"):  # in process: the error itself
        sp.run_pipeline(m.quota)
    # the driver too: a pickle that does not load here gives the stand-in, never its error
    stand_in = StepError("QuotaError", "quota 429: too many requests")
    assert rebuilt_error(b"not a pickle", stand_in) is stand_in


def test_the_cli_names_a_workers_step_error(home: Path, tmp_path: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    path = tmp_path / "raises_cli.py"
    path.write_text(textwrap.dedent(RAISES))
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "run", f"{path}:quota", "--executor", "process"])
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert exit_.value.code == 1 and "QuotaError: quota 429: too many requests" in first, first
    assert "TypeError" not in first
