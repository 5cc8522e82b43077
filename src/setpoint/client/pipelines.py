"""Running a pipeline in this process: one tracked run per step, outputs stored through
materializers, and a step skipped when an earlier execution with the same cache key left
outputs that still exist.

Each step execution is a child run of the pipeline's run, tagged with its cache key, the
key's parts, its output (what was stored, and where) and why it ran or was cached; so
``explain`` and lineage read only what the store holds, in both SDK modes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

import orjson

from setpoint.client import materializers
from setpoint.client.executors import (
    StepOutcome,
    StepTask,
    make_executor,
    param_text,
    private_copy,
    run_on,
    unwrap,
)
from setpoint.core.errors import (
    ConflictError,
    PipelineError,
    ProjectNotFoundError,
    WorkerDiedError,
)
from setpoint.core.types import RunPage
from setpoint.pipelines.cache import (
    NOTHING_CHANGED,
    cache_key,
    changes,
    environment,
    literal_hash,
)
from setpoint.pipelines.code_key import code_hash
from setpoint.pipelines.dag import Graph, Node, Output, Pipeline, shown

MAX_AFTER_TAG = 4000  # characters of the "after" tag (tag values hold at most 8000)

logger = logging.getLogger(__name__)


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
    """A step's output, loaded from the store on first use: whether the step ran here, in
    another process or came from the cache, the steps after it and ``value()`` get what was
    stored (a DataFrame's dtypes as a dataset version keeps them), never the object the
    step returned."""

    def __init__(self, client: Any, record: dict[str, Any], pickle_ok: bool):
        self.client = client
        self.record = record
        self.pickle_ok = pickle_ok
        self._value: Any = None
        self._loaded = record["kind"] == "none"

    @property
    def hash(self) -> str:
        return str(self.record["digest"])

    def load(self) -> Any:
        if not self._loaded:
            self._value = materializers.load(self.client, self.record, self.pickle_ok)
            self._loaded = True
        return self._value

    def for_step(self) -> Any:
        """The output as a step receives it: its own copy of the load, as a step in another
        process gets its own load. A step that changes its input in place
        (``df["x"] *= 100``) must not change what later steps or the result see."""
        value = self.load()
        try:
            return private_copy(value)
        except Exception:  # no copy of it can be made: a fresh load is one
            return materializers.load(self.client, self.record, self.pickle_ok)


class Inflight:
    """Steps being executed, by cache key: pipelines run side by side (a sweep) wait for
    the one execution of a step they share instead of running it twice."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.futures: dict[str, Future[Any]] = {}


def run_pipeline(
    pipe: Pipeline,
    params: dict[str, Any],
    project: str | None = None,
    parent_id: str | None = None,
    tags: dict[str, str] | None = None,
    executor: str | Any = "inprocess",
    inflight: Inflight | None = None,
    *,
    on_start: Callable[[str], None] | None = None,
    resume_from: str | None = None,
) -> PipelineRun:
    """Run ``pipe`` with ``params`` on ``executor`` (a name, or an opened executor shared by
    the caller), one tracked run per step under one pipeline run; ``on_start`` is given the
    pipeline run's id as soon as it exists (before any step runs). ``resume_from``: a
    pipeline run this one goes on from: its steps that finished are taken from it where
    their key is unchanged, also those whose caching is off (what they read may have
    changed since: the run goes on with what its steps had)."""
    from setpoint.client import sdk

    owned = isinstance(executor, str)
    ex = make_executor(executor, sdk.settings()) if isinstance(executor, str) else executor
    if owned:
        ex.open()  # first: a Ray executor connects while the graph is built
    with run_on(ex, owned):
        graph = pipe.build(**params)
        project = sdk._project(project or pipe.project)
        for k, v in graph.params.items():
            literal_hash(v, what=f"pipeline parameter {k!r}")  # JSON values only: raises early
        c = sdk.client()
        with sdk.start_run(
            project=project,
            name=f"pipeline.{graph.pipeline}",
            tags={
                **(tags or {}),
                "kind": "pipeline",
                "pipeline": graph.pipeline,
                "executor": ex.name,
            },
            parent_id=parent_id,
        ) as parent:
            _log_params(parent, graph.params)
            if on_start is not None:
                on_start(parent.id)
            driver = _Driver(c, graph, parent.id, project, ex, sdk.settings(), inflight)
            if resume_from is not None:
                driver.resumed = _finished_steps(c, project, resume_from)
            try:
                results = driver.run()
            except Exception as exc:
                if exc is driver.failure and driver.failed_step is not None:
                    failed = StepFailure(run_id=parent.id, step=driver.failed_step)
                    exc.setpoint_step_failure = failed  # type: ignore[attr-defined]
                    exc.add_note(str(failed))
                raise
    named = {graph.nodes[i].name: v for i, v in driver.values.items()}
    return PipelineRun(
        run_id=parent.id, pipeline=graph.pipeline, project=project, steps=results, _values=named
    )


PARAMS_ARTIFACT = "pipeline_params.json"  # a pipeline run's parameters, whole, when long


def _log_params(run: Any, params: dict[str, Any]) -> None:
    """The pipeline's parameters as its run's params (one too long for a param as its start,
    its length and its hash, as a step's are); when one is cut, all of them, whole, as the
    artifact PARAMS_ARTIFACT, which ``pipeline_params`` (a resume) reads."""
    texts = {k: param_text(v) for k, v in params.items()}
    run.log_params(texts)
    if any(texts[k] != materializers.dumps(v) for k, v in params.items()):
        run.log_bytes(orjson.dumps(params), PARAMS_ARTIFACT)


def pipeline_params(c: Any, run: Any) -> dict[str, Any]:
    """The parameters pipeline run ``run`` was given, as it was given them: from its params,
    or, when one of them was too long to be kept there whole, from its PARAMS_ARTIFACT."""
    import tempfile
    from pathlib import Path

    try:
        return {k: orjson.loads(v) for k, v in run.params.items()}
    except orjson.JSONDecodeError:  # a param's start, length and hash: the whole is apart
        pass
    with tempfile.TemporaryDirectory(prefix="setpoint-params-") as tmp:
        try:
            c.download_artifact(run.id, PARAMS_ARTIFACT, tmp)
        except Exception:
            raise PipelineError(
                f"run {run.id} keeps its parameters only shortened (no {PARAMS_ARTIFACT}): "
                "run the pipeline again with them",
                field="run_id",
            ) from None
        found: dict[str, Any] = orjson.loads(Path(tmp, PARAMS_ARTIFACT).read_bytes())
    return found


class StepExited(Exception):
    """A step that called ``sys.exit()``: it failed, as a step that raises does (the pipeline
    run stops there and resumes from it), instead of ending the whole process."""

    def __init__(self, step: str, code: object) -> None:
        super().__init__(f"step {step!r} called sys.exit({code!r})")
        self.step = step
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepExited, (self.step, self.code), self.__dict__)


@dataclass(frozen=True, kw_only=True)
class StepFailure:
    """Where a pipeline run stopped: set as ``setpoint_step_failure`` on the step's own
    exception, which run_pipeline raises."""

    run_id: str
    step: str

    def __str__(self) -> str:
        return (
            f"step {self.step!r} of pipeline run {self.run_id} failed; "
            f"`setpoint pipeline resume {self.run_id}` runs it again from there"
        )


@dataclass(kw_only=True)
class _Pending:
    node: Node
    key: str
    why: list[str]
    started: float
    shared: bool  # another pipeline's execution of the same key, waited for


class _Driver:
    """Walks the graph: a step whose inputs are ready is taken from the cache or handed to
    the executor; independent steps run at the same time on a parallel executor. After a
    failure nothing new starts, what is running finishes (so a resume finds it), and the
    step's own error is raised."""

    def __init__(
        self,
        c: Any,
        graph: Graph,
        parent_id: str | None,
        project: str,
        executor: Any,
        settings: Any,
        inflight: Inflight | None,
        pipeline_run: str | None = None,
    ) -> None:
        self.c = c
        self.graph = graph
        self.parent_id = parent_id
        # what step runs are tagged with: the pipeline's run, or (a step run on its own, as
        # Kubeflow runs them) the orchestrator's id of the pipeline run
        self.pipeline_run = pipeline_run or parent_id or ""
        self.project = project
        self.executor = executor
        self.settings = settings
        self.inflight = inflight
        self.values: dict[int, _Value] = {}
        self.results: dict[int, StepResult] = {}
        self.running: dict[Future[Any], _Pending] = {}
        self.failure: BaseException | None = None
        # node name -> (run id, key, output) of the steps that finished in the run resumed
        self.resumed: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.failed_step: str | None = None

    def run(self) -> list[StepResult]:
        pending = list(self.graph.nodes)
        while pending and self.failure is None:
            ready = [
                n for n in pending if all(up.index in self.values for up in self.graph.upstream(n))
            ]
            if not self.executor.parallel:
                ready = ready[:1]  # in graph order, one at a time
            for node in ready:
                pending.remove(node)
                self._start(node)
            if self.failure is not None:
                break
            if not ready:
                if not self.running:
                    raise AssertionError("a pipeline graph is built in dependency order")
                done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(future)
        while self.running:  # after a failure: let the others end
            done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            for future in done:
                self._finish(future)
        if self.failure is not None:
            raise self.failure
        return [self.results[i] for i in sorted(self.results)]

    def _start(self, node: Node) -> None:
        step = node.step
        parts = {
            "code": code_hash(step.fn),
            "params": {
                p: literal_hash(v, what=f"step {step.name!r} parameter {p!r}")
                for p, v in node.inputs.items()
                if not isinstance(v, Output)
            },
            "inputs": {
                p: self.values[v.node].hash for p, v in node.inputs.items() if isinstance(v, Output)
            },
            "env": environment(step.packages),
            # what it declares to give (steps with one body and two return types, or pickle
            # options, share no outputs)
            "returns": shown(step.returns),
            "pickle": step.pickle,
        }
        # Not where the step is called (a step added before it, or a like-named call moved,
        # ran it again), but whose it is: its pipeline's and its own name (its outputs are
        # named after them: a dataset version `pipeline.step`).
        key = cache_key({**parts, "pipeline": self.graph.pipeline, "step": step.declared})
        t0 = time.perf_counter()
        prior = self.resumed.get(node.name)
        if prior is not None and prior[1] == key and _reusable(self.c, prior[2], step.pickle):
            why = [f"taken from the run it resumes: its execution there (run {prior[0]})"]
            self._record_hit(node, key, prior[0], prior[2], t0, why)
            return
        hit, reason = (
            _cached(self.c, self.project, key, step.pickle, step.cache_expiration)
            if step.cache
            else (None, "off")
        )
        if hit is not None:
            source_id, record = hit
            self._record_hit(node, key, source_id, record, t0)
            return
        if reason == "off":
            why = ["caching is off for this step"]
        elif reason == "gone":
            why = ["an earlier execution had the same key, but its outputs are gone"]
        elif reason is not None:
            why = [reason]
        else:
            previous = _previous_parts(self.c, self.project, self.graph.pipeline, step.name, parts)
            why = changes(previous, parts)
            if why == [NOTHING_CHANGED]:  # the same key, and no finished execution of it
                why = ["the last execution with this key did not finish (it failed or stopped)"]
        if step.cache and self.inflight is not None:
            with self.inflight.lock:
                future = self.inflight.futures.get(key)
                if future is None:
                    future = self._submit(node, key, parts, why)
                    self.inflight.futures[key] = future
                    shared = False
                else:
                    shared = True
        else:
            future, shared = self._submit(node, key, parts, why), False
        self.running[future] = _Pending(node=node, key=key, why=why, started=t0, shared=shared)
        if future.done():  # in process: it ran already
            self._finish(future)

    def _submit(self, node: Node, key: str, parts: dict[str, Any], why: list[str]) -> Future[Any]:
        step = node.step
        task = StepTask(
            settings=self.settings,
            project=self.project,
            pipeline=self.graph.pipeline,
            step=step.name,
            fn=step.fn,
            retries=step.retries,
            pickle=step.pickle,
            returns=step.returns,
            parent_id=self.parent_id,
            tags={
                **self._tags(node, key),
                "cache": "miss",
                "cache_parts": materializers.dumps(parts),
                "why": materializers.dumps(why),
            },
            literals={p: v for p, v in node.inputs.items() if not isinstance(v, Output)},
            inputs={
                p: self.values[v.node].record
                for p, v in node.inputs.items()
                if isinstance(v, Output)
            },
            pickled_inputs=frozenset(
                p
                for p, v in node.inputs.items()
                if isinstance(v, Output) and self.values[v.node].pickle_ok
            ),
        )
        loaded = {}
        if not self.executor.parallel:
            loaded = {
                p: self.values[v.node].for_step()
                for p, v in node.inputs.items()
                if isinstance(v, Output)
            }
        future: Future[Any] = self.executor.submit(task, loaded)
        return future

    def _finish(self, future: Future[Any]) -> None:
        item = self.running.pop(future)
        node = item.node
        exc = future.exception()
        if isinstance(exc, WorkerDiedError):
            self._end_orphaned(node, str(exc))
        if exc is not None:
            if self.failure is None:
                self.failure = unwrap(exc)
                if isinstance(self.failure, SystemExit):  # sys.exit() in a step: it failed
                    self.failure = StepExited(node.name, self.failure.code)
                self.failed_step = node.name
            return
        outcome: StepOutcome = future.result()
        if item.shared:
            self._record_hit(node, item.key, outcome.run_id, outcome.record, item.started)
            return
        self.values[node.index] = _Value(self.c, outcome.record, node.step.pickle)
        self.results[node.index] = StepResult(
            step=node.name,
            status="ran",
            run_id=outcome.run_id,
            seconds=time.perf_counter() - item.started,
            why=item.why,
            output=outcome.record,
        )

    def _end_orphaned(self, node: Node, why: str) -> None:
        """End the run of a step whose worker died mid-step (it stayed ``running`` until its
        heartbeats were missed, saying no more than that): failed, with what the driver saw."""
        query = (
            f"tags.pipeline_run = '{self.pipeline_run}' and tags.step = '{node.name}' "
            "and attributes.status = 'running'"
        )
        try:
            for run in self.c.search_runs([self.project], query, None, 10, None).runs:
                with contextlib.suppress(ConflictError):  # it ended meanwhile after all
                    self.c.end_run(run.id, "failed", error=why)
        except Exception:  # (the store unreachable): its heartbeats end it, as before
            logger.warning("could not end the run of step %s", node.name, exc_info=True)

    def _tags(self, node: Node, key: str) -> dict[str, str]:
        # "after": the steps whose outputs this one consumes, so a run's DAG can be drawn
        # from the store alone (steps passing plain values leave no lineage edges)
        after = list(dict.fromkeys(n.name for n in self.graph.upstream(node)))
        while len(materializers.dumps(after)) > MAX_AFTER_TAG:  # a tag value's limit
            after = [*after[: len(after) // 2], f"... {len(after) - len(after) // 2} more"]
        return {
            "kind": "step",
            "pipeline": self.graph.pipeline,
            "pipeline_run": self.pipeline_run,
            "step": node.name,
            "cache_key": key,
            "after": materializers.dumps(after),
        }

    def _record_hit(
        self,
        node: Node,
        key: str,
        source_id: str,
        record: dict[str, Any],
        t0: float,
        why: list[str] | None = None,
    ) -> None:
        why = why or [f"cached: an earlier execution (run {source_id}) had the same key"]
        # A cached step's run only records that it was cached: made and ended in two calls,
        # without the buffer thread a running step's run has.
        from setpoint.tracking.environment import capture

        tags = {
            **self._tags(node, key),
            "cache": "hit",
            "cached_from": source_id,
            "output": materializers.dumps(record),
            "why": materializers.dumps(why),
        }
        run = self.c.create_run(self.project, node.name, tags, self.parent_id, capture())
        self.c.end_run(run.id, "finished")
        self.values[node.index] = _Value(self.c, record, node.step.pickle)
        self.results[node.index] = StepResult(
            step=node.name,
            status="cached",
            run_id=run.id,
            seconds=time.perf_counter() - t0,
            why=why,
            output=record,
            cached_from=source_id,
        )


def run_step(
    pipe: Pipeline,
    params: dict[str, Any],
    step: str,
    inputs: dict[str, dict[str, Any]],
    project: str | None = None,
    pipeline_run: str | None = None,
    shape: str | None = None,
) -> StepResult:
    """Run one step of ``pipe`` on its own, its upstream outputs given as records (what
    ``setpoint step run`` does in each container of a compiled Kubeflow pipeline): cached
    as in a whole run, tagged with ``pipeline_run``, without a pipeline run of its own.
    ``shape``: the compiled graph's (kubeflow.graph_shape), which the graph rebuilt with
    ``params`` must have."""
    from setpoint.client import sdk
    from setpoint.client.executors import InProcessExecutor
    from setpoint.pipelines.kubeflow import graph_shape

    graph = pipe.build(**params)
    if shape is not None and graph_shape(graph) != shape:
        raise PipelineError(
            f"pipeline {pipe.name!r} with these parameters has other steps than it was "
            f"compiled with (now: {', '.join(n.name for n in graph.nodes)}): its steps depend "
            "on its parameters, which a compiled pipeline cannot follow; compile it with "
            "these values (--param), or run it with `setpoint pipeline run`",
            field="params",
        )
    node = next((n for n in graph.nodes if n.name == step), None)
    if node is None:
        raise PipelineError(
            f"pipeline {pipe.name!r} has no step {step!r} (it has: "
            f"{', '.join(n.name for n in graph.nodes)})",
            field="step",
        )
    wanted = {p: v for p, v in node.inputs.items() if isinstance(v, Output)}
    if set(inputs) != set(wanted):
        missing = sorted(set(wanted) - set(inputs)) or sorted(set(inputs) - set(wanted))
        raise PipelineError(
            f"step {step!r} takes the outputs of other steps as "
            f"{', '.join(sorted(wanted)) or 'nothing'}; got {', '.join(sorted(inputs)) or 'none'}"
            f" (check {missing[0]!r})",
            field="input",
        )
    project = sdk._project(project or pipe.project)
    c = sdk.client()
    driver = _Driver(
        c, graph, None, project, InProcessExecutor(), sdk.settings(), None, pipeline_run
    )
    for param, out in wanted.items():
        record = inputs[param]
        if not isinstance(record, dict) or "kind" not in record or "digest" not in record:
            raise PipelineError(
                f"input {param!r} is not the output record of a step", field="input"
            )
        if not materializers.exists(c, record):
            raise PipelineError(
                f"input {param!r}: the store holds no step output matching this record "
                f"(kind {record['kind']!r}, digest {str(record['digest'])[:16]!r})",
                field="input",
            )
        driver.values[out.node] = _Value(c, record, graph.nodes[out.node].step.pickle)
    driver._start(node)
    if driver.failure is not None:
        # the step's own error: said as the step's by `setpoint step run`
        driver.failure.setpoint_failed_step = step  # type: ignore[attr-defined]
        raise driver.failure
    return driver.results[node.index]


def _finished_steps(
    c: Any, project: str, pipeline_run: str
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Step name -> (run id, cache key, output record) of the steps of ``pipeline_run`` that
    finished (ran, or were taken from the cache or from a run it resumed)."""
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    query = f"tags.pipeline_run = '{pipeline_run}' and attributes.status = 'finished'"
    token = None
    while True:  # every step of it, in pages (a pipeline may have many)
        page = c.search_runs([project], query, ["attributes.start_time DESC"], 1000, token)
        for run in page.runs:
            try:
                record = orjson.loads(run.tags["output"])
                name, key = run.tags["step"], run.tags["cache_key"]
            except (KeyError, orjson.JSONDecodeError):
                continue
            out.setdefault(name, (run.id, key, record))  # the newest first
        token = page.next_page_token
        if not token:
            return out


def _reusable(c: Any, record: dict[str, Any], pickle_ok: bool) -> bool:
    """Whether a stored output can be handed on: its bytes are still in the store, and it is
    no pickle for a step that did not ask for pickle."""
    if record.get("kind") == "pickle" and not pickle_ok:
        return False
    return bool(materializers.exists(c, record))


def _cached(
    c: Any, project: str, key: str, pickle_ok: bool, expiration: float | None
) -> tuple[tuple[str, dict[str, Any]] | None, str | None]:
    """((run id, output record) of the newest finished execution with this key whose outputs
    the store still holds, or None; and, without one, why: "gone", an expiry, or None when
    the key is new)."""
    found = c.tagged_runs(project, {"cache_key": key, "cache": "miss"}, "finished", 5)
    now_ms = now() * 1000
    expired = None
    for run in found:
        if expiration is not None and (run.end_time or 0) < now_ms - expiration * 1000:
            expired = expired or run.id
            continue
        try:
            record = orjson.loads(run.tags["output"])
        except (KeyError, orjson.JSONDecodeError):
            continue
        if _reusable(c, record, pickle_ok):  # (never a pickle for a step without pickle)
            return (run.id, record), None
    if expired is not None:
        return None, (
            f"the cached execution (run {expired}) expired: the step's cache lasts "
            f"{_duration(expiration or 0)}"
        )
    return None, "gone" if found else None


def _search(c: Any, project: str, query: str, limit: int) -> Any:
    """Newest runs first; none in a project not made yet (a step run on its own)."""
    try:
        return c.search_runs([project], query, ["start_time DESC"], limit)
    except ProjectNotFoundError:
        return RunPage(runs=[], next_page_token=None)


def now() -> float:
    """The clock cache expiry is judged by (tests set it)."""
    return time.time()


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


PREVIOUS_LOOKED_AT = 20  # a step's executions compared with, to say why it ran


def _previous_parts(
    c: Any, project: str, pipeline: str, step: str, parts: dict[str, Any]
) -> dict[str, Any] | None:
    """The key parts of the execution, among the step's newest, that differ least from
    ``parts`` (ties: the newest): what changed is said against the execution this one is
    most like, not the newest whatever its parameters (depth=4, then 8, then 4 again with
    new code: its code changed, not its parameter)."""
    page = _search(
        c,
        project,
        f"tags.pipeline = '{pipeline}' and tags.step = '{step}' and tags.cache = 'miss'",
        PREVIOUS_LOOKED_AT,
    )
    best: tuple[int, dict[str, Any]] | None = None
    for run in page.runs:  # newest first: a later one must differ in fewer parts
        try:
            before = orjson.loads(run.tags["cache_parts"])
        except (KeyError, orjson.JSONDecodeError):
            continue
        if not isinstance(before, dict):
            continue
        said = changes(before, parts)
        differ = 0 if said == [NOTHING_CHANGED] else len(said)
        if best is None or differ < best[0]:
            best = (differ, before)
    return None if best is None else best[1]


def sweep(
    pipe: Pipeline,
    grid: dict[str, list[Any]],
    fixed: dict[str, Any],
    project: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    executor: str | Any = "inprocess",
    *,
    tags: dict[str, str] | None = None,
    keep_going: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Run the pipeline for every combination of ``grid`` (or ``samples`` of them drawn at
    random), each a pipeline run (tagged with ``tags``) under one sweep run; returns the
    sweep run's id and one row per run: its parameters and the numbers its steps returned
    (``step.key``). On a parallel executor the pipeline runs go side by side, sharing one
    execution of any step they have in common.

    A combination whose step raises does not stop the others. When one did, the first such
    error is raised once all have run; with ``keep_going`` the rows are returned instead,
    each with its ``status`` (finished or failed) and ``error`` (one line), a failed row's
    ``run_id`` the pipeline run to resume."""
    import itertools
    import random

    from setpoint.client import sdk

    if (
        not isinstance(grid, dict)
        or not grid
        or any(not isinstance(v, list) or not v for v in grid.values())
    ):
        raise PipelineError(
            "a sweep needs a dict of at least one parameter and its list of values", field="grid"
        )
    both = sorted(grid.keys() & fixed.keys())
    if both:
        raise PipelineError(f"{both[0]} is both swept and held", field="grid")
    for field_name, number in (("samples", samples), ("seed", seed)):
        if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
            raise PipelineError(f"{field_name} must be a whole number", field=field_name)
    unknown = [k for k in [*grid, *fixed] if k not in pipe.signature.parameters]
    if unknown:
        raise PipelineError(
            f"{pipe.name} has no parameter {unknown[0]!r} (it has: "
            f"{', '.join(pipe.signature.parameters)})",
            field="grid",
        )
    # a value given twice (`--grid depth=4,4,04`) is one run, not one per mention
    grid = {k: _distinct(v) for k, v in grid.items()}
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if samples is not None:
        if samples < 1:
            raise PipelineError("samples must be at least 1", field="samples")
        combos = random.Random(seed).sample(combos, min(samples, len(combos)))
    for combo in combos:  # every combination must make a pipeline before any run starts
        for k, v in pipe.build(**fixed, **combo).params.items():
            literal_hash(v, what=f"pipeline parameter {k!r}")
    project = sdk._project(project or pipe.project)
    owned = isinstance(executor, str)
    ex = make_executor(executor, sdk.settings()) if isinstance(executor, str) else executor
    if owned:
        ex.open()
    with sdk.start_run(
        project=project,
        name=f"sweep.{pipe.name}",
        tags={"kind": "sweep", "pipeline": pipe.name, "executor": ex.name},
    ) as parent:
        parent.log_params({k: param_text(v) for k, v in grid.items()})
        with run_on(ex, owned):
            results = _run_all(pipe, combos, fixed, project, parent.id, ex, tags or {})
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and not keep_going:
            first = failures[0]
            first.add_note(
                f"{len(failures)} of {len(combos)} combinations of sweep run {parent.id} failed"
            )
            raise first
        if failures:  # the sweep's run failed too, its rows kept for the caller
            parent.end("failed", f"{len(failures)} of {len(combos)} combinations failed")
    rows = []
    for combo, result in zip(combos, results, strict=True):
        if isinstance(result, BaseException):
            failed = result.setpoint_step_failure  # type: ignore[attr-defined]
            rows.append(
                {"run_id": failed.run_id, **combo, "status": "failed", "error": one_line(result)}
            )
            continue
        row: dict[str, Any] = {"run_id": result.run_id, **combo}
        if failures:
            row.update(status="finished", error="")
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


def _distinct(values: list[Any]) -> list[Any]:
    """``values`` without repeats (equal as JSON), in their order; values that are not JSON
    are kept (refused later, with the parameter named)."""
    seen: set[bytes] = set()
    out = []
    for value in values:
        try:
            key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            out.append(value)
            continue
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def one_line(exc: BaseException) -> str:
    """A step's error in one line: its type and its message's first line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _run_all(
    pipe: Pipeline,
    combos: list[dict[str, Any]],
    fixed: dict[str, Any],
    project: str,
    parent_id: str,
    ex: Any,
    tags: dict[str, str],
) -> list[PipelineRun | BaseException]:
    """One pipeline run per combination: one after another in process, side by side (one
    driver thread each, steps on the shared executor) on a parallel executor. A step's error
    (a pipeline run that stopped) is the combination's result; any other error is raised."""

    def one(combo: dict[str, Any], inflight: Inflight | None) -> PipelineRun | BaseException:
        try:
            return run_pipeline(
                pipe, {**fixed, **combo}, project, parent_id, dict(tags), ex, inflight
            )
        except Exception as exc:
            if getattr(exc, "setpoint_step_failure", None) is None:
                raise
            return exc

    if not ex.parallel:
        return [one(combo, None) for combo in combos]
    from concurrent.futures import ThreadPoolExecutor

    inflight = Inflight()
    with ThreadPoolExecutor(max_workers=min(len(combos), 16)) as threads:
        futures = [threads.submit(one, combo, inflight) for combo in combos]
        return [f.result() for f in futures]


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
