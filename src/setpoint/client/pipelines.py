"""Running a pipeline in this process: one tracked run per step, outputs stored through
materializers, and a step skipped when an earlier execution with the same cache key left
outputs that still exist.

Each step execution is a child run of the pipeline's run, tagged with its cache key, the
key's parts, its output (what was stored, and where) and why it ran or was cached; so
``explain`` and lineage read only what the store holds, in both SDK modes.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from setpoint.core.errors import PipelineError, SetpointError
from setpoint.pipelines.cache import (
    cache_key,
    changes,
    code_hash,
    environment,
    is_json,
    literal_hash,
)
from setpoint.pipelines.dag import Graph, Node, Output, Pipeline

MAX_BACKOFF_S = 10.0


@dataclass(kw_only=True)
class StepResult:
    step: str
    status: str  # ran | cached
    run_id: str
    seconds: float
    why: list[str]
    output: dict[str, Any]
    cached_from: str | None = None


@dataclass(kw_only=True)
class PipelineRun:
    """A finished pipeline run: its run id and what each step did; ``value(step)`` loads a
    step's output."""

    run_id: str
    pipeline: str
    project: str
    steps: list[StepResult]
    _values: dict[str, _Value] = field(default_factory=dict, repr=False)

    def value(self, step: str) -> Any:
        if step not in self._values:
            raise PipelineError(f"pipeline {self.pipeline!r} has no step {step!r}", field="step")
        return self._values[step].load()


class _Value:
    """A step's output: in memory when the step ran here, loaded from the store on first use
    when it was cached."""

    def __init__(self, client: Any, record: dict[str, Any], step: Any, value: Any = None):
        self.client = client
        self.record = record
        self.step = step
        self._value = value
        self._loaded = value is not None or record["kind"] == "none"

    @property
    def hash(self) -> str:
        return str(self.record["digest"])

    def load(self) -> Any:
        if not self._loaded:
            self._value = _load(self.client, self.record, self.step)
            self._loaded = True
        return self._value


def run_pipeline(
    pipe: Pipeline,
    params: dict[str, Any],
    project: str | None = None,
    parent_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> PipelineRun:
    from setpoint.client import sdk

    graph = pipe.build(**params)
    project = sdk._project(project or pipe.project)
    for k, v in graph.params.items():
        literal_hash(v, what=f"pipeline parameter {k!r}")  # JSON values only: raises early
    c = sdk.client()
    results: list[StepResult] = []
    values: dict[int, _Value] = {}
    with sdk.start_run(
        project=project,
        name=f"pipeline.{graph.pipeline}",
        tags={**(tags or {}), "kind": "pipeline", "pipeline": graph.pipeline},
        parent_id=parent_id,
    ) as parent:
        parent.log_params({k: orjson.dumps(v).decode() for k, v in graph.params.items()})
        for node in graph.nodes:
            results.append(_run_node(c, graph, node, values, parent.id, project))
    named = {graph.nodes[i].name: v for i, v in values.items()}
    return PipelineRun(
        run_id=parent.id, pipeline=graph.pipeline, project=project, steps=results, _values=named
    )


def _run_node(
    c: Any, graph: Graph, node: Node, values: dict[int, _Value], parent_id: str, project: str
) -> StepResult:
    from setpoint.client import sdk

    step = node.step
    parts = {
        "code": code_hash(step.fn),
        "params": {
            p: literal_hash(v, what=f"step {step.name!r} parameter {p!r}")
            for p, v in node.inputs.items()
            if not isinstance(v, Output)
        },
        "inputs": {p: values[v.node].hash for p, v in node.inputs.items() if isinstance(v, Output)},
        "env": environment(step.packages),
    }
    key = cache_key({"pipeline": graph.pipeline, "step": step.name, **parts})
    tags = {
        "kind": "step",
        "pipeline": graph.pipeline,
        "pipeline_run": parent_id,
        "step": step.name,
        "cache_key": key,
    }
    t0 = time.perf_counter()
    hit, gone = _cached(c, project, key, step.pickle) if step.cache else (None, False)
    if hit is not None:
        source_id, record = hit
        why = [f"cached: an earlier execution (run {source_id}) had the same key"]
        # A cached step's run only records that it was cached: made and ended in two calls,
        # without the buffer thread a running step's run has.
        from setpoint.tracking.environment import capture

        extra = {"cached_from": source_id, "output": _json(record), "why": _json(why)}
        run = c.create_run(
            project, step.name, {**tags, "cache": "hit", **extra}, parent_id, capture()
        )
        c.end_run(run.id, "finished")
        values[node.index] = _Value(c, record, step)
        return StepResult(
            step=step.name,
            status="cached",
            run_id=run.id,
            seconds=time.perf_counter() - t0,
            why=why,
            output=record,
            cached_from=source_id,
        )
    if not step.cache:
        why = ["caching is off for this step"]
    elif gone:
        why = ["an earlier execution had the same key, but its outputs are gone"]
    else:
        why = changes(_previous_parts(c, project, graph.pipeline, step.name), parts)
    with sdk.start_run(
        project=project, name=step.name, tags={**tags, "cache": "miss"}, parent_id=parent_id
    ) as run:
        run.set_tags({"cache_parts": _json(parts), "why": _json(why)})
        literal = {p: v for p, v in node.inputs.items() if not isinstance(v, Output)}
        if literal:
            run.log_params({p: orjson.dumps(v).decode() for p, v in literal.items()})
        for v in node.inputs.values():
            if isinstance(v, Output) and values[v.node].record["kind"] == "dataset":
                c.add_lineage(
                    "run", run.id, "consumed", "dataset_version", values[v.node].record["ref"]
                )
        args = {
            p: values[v.node].load() if isinstance(v, Output) else v for p, v in node.inputs.items()
        }
        result = _call(step, args, run)
        record = _store(c, result, step, graph.pipeline, run)
        run.set_tag("output", _json(record))
    values[node.index] = _Value(c, record, step, result)
    return StepResult(
        step=step.name,
        status="ran",
        run_id=run.id,
        seconds=time.perf_counter() - t0,
        why=why,
        output=record,
    )


def _call(step: Any, args: dict[str, Any], run: Any) -> Any:
    for attempt in range(step.retries + 1):
        try:
            return step.fn(**args)
        except Exception:
            if attempt == step.retries:
                raise
            run.log_metric("retries", float(attempt + 1), step=attempt)
            time.sleep(min(0.5 * 2**attempt, MAX_BACKOFF_S))
    raise AssertionError("unreachable")


def _cached(
    c: Any, project: str, key: str, pickle_ok: bool
) -> tuple[tuple[str, dict[str, Any]] | None, bool]:
    """((run id, output record) of the newest finished execution with this key whose outputs
    the store still holds, or None; and whether such executions exist with outputs gone)."""
    page = c.search_runs(
        [project],
        f"tags.cache_key = '{key}' and tags.cache = 'miss' and status = 'finished'",
        ["start_time DESC"],
        5,
    )
    for run in page.runs:
        try:
            record = orjson.loads(run.tags["output"])
        except (KeyError, orjson.JSONDecodeError):
            continue
        if record.get("kind") == "pickle" and not pickle_ok:
            continue  # never unpickle for a step that did not ask for pickle
        if _exists(c, record):
            return (run.id, record), False
    return None, bool(page.runs)


def _previous_parts(c: Any, project: str, pipeline: str, step: str) -> dict[str, Any] | None:
    page = c.search_runs(
        [project],
        f"tags.pipeline = '{pipeline}' and tags.step = '{step}' and tags.cache = 'miss'",
        ["start_time DESC"],
        1,
    )
    for run in page.runs:
        try:
            return orjson.loads(run.tags["cache_parts"])  # type: ignore[no-any-return]
        except (KeyError, orjson.JSONDecodeError):
            return None
    return None


# ---------------------------------------------------------------- materializers


def _store(c: Any, value: Any, step: Any, pipeline: str, run: Any) -> dict[str, Any]:
    """Store a step's result by its type: tables as dataset versions, numpy arrays as .npy,
    JSON values as JSON, models through their flavor; anything else only if the step opted
    into pickle."""
    from setpoint.client import sdk

    kind = type(value).__module__.split(".")[0]
    if kind in ("pandas", "pyarrow", "polars") and type(value).__name__ in (
        "DataFrame",
        "Table",
    ):
        if kind == "pandas" and not _plain_index(value):
            raise PipelineError(
                f"step {step.name!r} returned a DataFrame with an index, which a dataset "
                "version does not keep: return df.reset_index() to keep it as columns",
                field="output",
            )
        v = sdk.log_dataset(value, f"{pipeline}.{step.name}", project=run.project)
        c.add_lineage("run", run.id, "produced", "dataset_version", v.ref)
        return {"kind": "dataset", "ref": v.ref, "digest": v.digest, "library": kind}
    if kind == "numpy" and type(value).__name__ == "ndarray":
        import numpy as np

        if value.dtype.hasobject:
            raise PipelineError(
                f"step {step.name!r} returned a numpy array of Python objects, which cannot be "
                "stored without pickle: return numbers, or declare @sp.step(pickle=True)",
                field="output",
            )
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"kind": "numpy", "digest": _blob(c, buf.getvalue())}
    if value is None:
        return {"kind": "none", "digest": literal_hash(None, what="output")}
    if is_json(value):  # exactly JSON: what a later run loads is what this one returned
        return {
            "kind": "json",
            "digest": _blob(c, orjson.dumps(value, option=orjson.OPT_SORT_KEYS)),
        }
    if callable(getattr(value, "predict", None)):
        mv = run.log_model(value, f"{pipeline}.{step.name}")
        return {"kind": "model", "ref": mv.ref, "digest": mv.digest}
    if step.pickle:
        import cloudpickle

        return {"kind": "pickle", "digest": _blob(c, cloudpickle.dumps(value))}
    raise PipelineError(
        f"step {step.name!r} returned a {type(value).__name__}, which setpoint cannot store as "
        "it is: return a DataFrame or Arrow table, a numpy array, exact JSON (dicts with string "
        "keys, lists, finite numbers, strings, booleans; not tuples, NaN or dates) or a model, "
        "or declare @sp.step(pickle=True) for your own objects",
        field="output",
    )


def _plain_index(frame: Any) -> bool:
    import pandas as pd

    index = frame.index
    return (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.name is None
    )


def _load(c: Any, record: dict[str, Any], step: Any) -> Any:
    from setpoint.client import sdk

    kind = record["kind"]
    if kind == "dataset":
        v = sdk.get_dataset(record["ref"])
        library = record.get("library", "pandas")
        if library == "pyarrow":
            return v.to_arrow()
        if library == "polars":
            import polars as pl

            return pl.from_arrow(v.to_arrow())
        return v.to_pandas()
    if kind == "model":
        return sdk.load_model(record["ref"]).native
    if kind == "none":
        return None
    data = _blob_bytes(c, record["digest"])
    if kind == "json":
        return orjson.loads(data)
    if kind == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "pickle":
        if not getattr(step, "pickle", False):
            raise PipelineError(
                "a stored output is a pickle but its step does not declare pickle=True",
                field="output",
            )
        import cloudpickle

        return cloudpickle.loads(data)
    raise PipelineError(f"unknown stored output kind {kind!r}", field="output")


def _exists(c: Any, record: dict[str, Any]) -> bool:
    from setpoint.client import sdk

    try:
        kind = record["kind"]
        if kind == "none":
            return True
        if kind == "dataset":
            return sdk.get_dataset(record["ref"]).digest == record["digest"]
        if kind == "model":
            return sdk.get_model_version(record["ref"]).digest == record["digest"]
        return bool(c.has_blob(record["digest"]))
    except (SetpointError, KeyError):
        return False


def _blob(c: Any, data: bytes) -> str:
    return str(c.upload_blob(io.BytesIO(data)).digest)


def _blob_bytes(c: Any, digest: str) -> bytes:
    import os
    import tempfile

    path = c.local_blob_path(digest)
    if path is not None:
        with open(path, "rb") as fh:
            return fh.read()
    with tempfile.TemporaryDirectory(prefix="setpoint-step-") as tmp:
        dest = os.path.join(tmp, "blob")
        c.download_blob(digest, dest)
        with open(dest, "rb") as fh:
            return fh.read()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def sweep(
    pipe: Pipeline,
    grid: dict[str, list[Any]],
    fixed: dict[str, Any],
    project: str | None = None,
    samples: int | None = None,
    seed: int = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """Run the pipeline for every combination of ``grid`` (or ``samples`` of them drawn at
    random), each a pipeline run under one sweep run; returns the sweep run's id and one row
    per run: its parameters and the numbers its steps returned (``step.key``)."""
    import itertools
    import random

    from setpoint.client import sdk

    if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
        raise PipelineError("a sweep needs at least one parameter with values", field="grid")
    unknown = [k for k in [*grid, *fixed] if k not in pipe.signature.parameters]
    if unknown:
        raise PipelineError(
            f"{pipe.name} has no parameter {unknown[0]!r} (it has: "
            f"{', '.join(pipe.signature.parameters)})",
            field="grid",
        )
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if samples is not None:
        if samples < 1:
            raise PipelineError("samples must be at least 1", field="samples")
        combos = random.Random(seed).sample(combos, min(samples, len(combos)))
    project = sdk._project(project or pipe.project)
    rows = []
    with sdk.start_run(
        project=project,
        name=f"sweep.{pipe.name}",
        tags={"kind": "sweep", "pipeline": pipe.name},
    ) as parent:
        parent.log_params({k: orjson.dumps(v).decode() for k, v in grid.items()})
        for combo in combos:
            result = run_pipeline(pipe, {**fixed, **combo}, project, parent_id=parent.id)
            row: dict[str, Any] = {"run_id": result.run_id, **combo}
            for s in result.steps:
                if s.output.get("kind") == "json":
                    value = result.value(s.step)
                    if isinstance(value, dict):
                        row.update(
                            {
                                f"{s.step}.{k}": v
                                for k, v in value.items()
                                if isinstance(v, int | float) and not isinstance(v, bool)
                            }
                        )
            rows.append(row)
    return parent.id, rows


def explain(c: Any, run_id: str) -> list[dict[str, Any]]:
    """Why each step of a pipeline run ran or was cached, in order."""
    parent = c.get_run(run_id)
    if parent.tags.get("kind") != "pipeline":
        raise PipelineError(f"run {run_id} is not a pipeline run", field="run_id")
    page = c.search_runs(
        [parent.project], f"tags.pipeline_run = '{run_id}'", ["start_time ASC"], 1000
    )
    return [
        {
            "step": r.tags.get("step"),
            "status": "cached"
            if r.tags.get("cache") == "hit"
            else ("ran" if r.status == "finished" else r.status),
            "run_id": r.id,
            "why": orjson.loads(r.tags.get("why", "[]")),
            "cached_from": r.tags.get("cached_from"),
        }
        for r in page.runs
    ]
