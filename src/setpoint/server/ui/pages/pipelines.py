"""Pipelines: pipeline runs with what their steps did, schedules and their occurrences, and
one pipeline run drawn as a DAG of its steps with their cache decisions and logs."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import orjson
from fastapi.responses import Response

from setpoint.core.errors import NotFoundError, PermissionDeniedError, SetpointError
from setpoint.server.ui.charts import GraphNode, layout
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import page, render
from setpoint.server.ui.templating import run_url

PAGE_SIZE = 25
MAX_STEPS = 1000
OCCURRENCES = 5
LOG_BYTES = 64 * 1024
LOG_SUFFIXES = (".log", ".txt", ".out", ".err")


@dataclass(kw_only=True)
class StepView:
    """One step run as the pipeline page shows it."""

    run: Any
    name: str
    state: str  # ran | cached | failed | running | killed
    duration_ms: int | None
    why: list[str]
    after: list[str] | None  # None: the run predates the recorded upstream steps
    cached_from: str | None
    logs: list[tuple[str, str, bool]] = field(default_factory=list)  # path, text, truncated


@page("/pipelines")
def pipelines(p: Page) -> Response:
    project = p.arg("project")
    number = p.int_arg("page", 1, high=100_000)
    projects = p.call("list_projects")
    # without a project: every project the caller may read (asking for all at once needs
    # a role in every project)
    readable = p.readable(projects)
    names = [project] if project else [pr.name for pr in projects] if readable is None else readable
    runs: list[Any] = []
    more = False
    if names:
        from setpoint.tracking.runs import page_token_at

        result = p.call(
            "search_runs",
            project=names,
            filter="tags.kind = 'pipeline'",
            order_by=["start_time DESC"],
            max_results=PAGE_SIZE,
            page_token=page_token_at((number - 1) * PAGE_SIZE) if number > 1 else None,
        )
        runs, more = result.runs, result.next_page_token is not None
    rows = [(r, _counts(_steps(p, r))) for r in runs]
    schedules = []
    for name in names:
        for s in p.call("list_schedules", project=name):
            schedules.append(
                (
                    s,
                    list(
                        p.call(
                            "list_occurrences", name=s.name, project=s.project, limit=OCCURRENCES
                        )
                    ),
                )
            )
    return render(
        p,
        "pipelines/list.html",
        projects=projects,
        project=project,
        rows=rows,
        schedules=schedules,
        number=number,
        more=more,
        first=(number - 1) * PAGE_SIZE + 1,
    )


def _steps(p: Page, run: Any) -> list[Any]:
    """The step runs of pipeline run ``run``, in the order they started."""
    return list(
        p.call(
            "search_runs",
            project=[run.project],
            filter=f"tags.pipeline_run = '{run.id}'",
            order_by=["start_time ASC"],
            max_results=MAX_STEPS,
        ).runs
    )


def _state(run: Any) -> str:
    if run.tags.get("cache") == "hit":
        return "cached"
    if run.status == "finished":
        return "ran"
    return str(run.status)


def _counts(steps: list[Any]) -> dict[str, int]:
    out = {"ran": 0, "cached": 0, "failed": 0, "running": 0}
    for s in steps:
        state = _state(s)
        out[state if state in out else "failed"] += 1
    return out


def _duration(run: Any) -> int | None:
    return int(run.end_time - run.start_time) if run.end_time is not None else None


def _json_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


@page("/pipelines/{run_id}")
def pipeline_run(p: Page) -> Response:
    run = p.call("get_run", run_id=p.path_params["run_id"])
    if run.tags.get("kind") != "pipeline":
        raise NotFoundError(
            f"run {run.id} is not a pipeline run (its own page: {run_url(run.id)})",
            field="run_id",
        )
    steps = [_view(p, s) for s in _steps(p, run)]
    edges, how = _edges(p, steps)
    nodes = [
        GraphNode(
            key=s.run.id,
            label=s.name,
            kind="run",
            href=f"#step-{s.run.id}",
            detail=f"{s.state} · {_text_duration(s.duration_ms)}",
            classes=[s.state] if s.state in ("cached", "failed") else [],
        )
        for s in steps
    ]
    graph = layout(nodes, edges) if nodes else None
    return render(
        p,
        "pipelines/run.html",
        run=run,
        steps=steps,
        graph=graph,
        edges_from=how,
        counts=_counts([s.run for s in steps]),
        duration_ms=_duration(run),
    )


def _text_duration(ms: int | None) -> str:
    from setpoint.server.ui.templating import duration

    return duration(ms) if ms is not None else "not ended"


def _view(p: Page, run: Any) -> StepView:
    return StepView(
        run=run,
        name=run.tags.get("step") or run.name,
        state=_state(run),
        duration_ms=_duration(run),
        why=_json_list(run.tags.get("why")) or [],
        after=_json_list(run.tags.get("after")),
        cached_from=run.tags.get("cached_from"),
        logs=_logs(p, run),
    )


def _edges(p: Page, steps: list[StepView]) -> tuple[list[tuple[str, str, str]], str]:
    """The DAG's edges between step runs (source key, target key, label) and where they
    come from: the steps' recorded upstream steps, else the datasets one step produced and
    another consumed, else the order the steps started in (older runs)."""
    by_name = {s.name: s.run.id for s in steps}  # a resumed step: its newest run
    if any(s.after is not None for s in steps):
        edges = [
            (by_name[up], s.run.id, "feeds") for s in steps for up in s.after or [] if up in by_name
        ]
        return edges, "recorded"
    produced: dict[str, str] = {}
    consumed: list[tuple[str, str]] = []
    for s in steps:
        try:
            for e in p.call("get_lineage", kind="run", id=s.run.id):
                if e.source_kind != "run" or e.target_kind != "dataset_version":
                    continue
                if e.relation == "produced":
                    produced[e.target_id] = s.run.id
                elif e.relation == "consumed":
                    consumed.append((e.target_id, s.run.id))
        except PermissionDeniedError:
            continue
    edges = [
        (produced[ref], run_id, "feeds")
        for ref, run_id in consumed
        if ref in produced and produced[ref] != run_id
    ]
    if edges:
        return edges, "lineage"
    chain = [(a.run.id, b.run.id, "then") for a, b in pairwise(steps)]
    return chain, "order"


def _logs(p: Page, run: Any) -> list[tuple[str, str, bool]]:
    """The text artifacts of a step run named like a log: (path, text, truncated)."""
    try:
        artifacts = p.call("list_artifacts", run_id=run.id)
    except SetpointError:
        return []
    out = []
    for a in artifacts:
        name = os.path.basename(a.path).lower()
        if "log" not in name or not name.endswith(LOG_SUFFIXES):
            continue
        tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
        try:
            files = p.call("download_artifact", run_id=run.id, path=a.path, dest=tmp)
            if len(files) != 1:
                continue
            with open(files[0], "rb") as fh:
                raw = fh.read(LOG_BYTES + 1)
            out.append((a.path, raw[:LOG_BYTES].decode("utf-8", "replace"), len(raw) > LOG_BYTES))
        except SetpointError as exc:
            out.append((a.path, f"(cannot read it: {exc})", False))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
