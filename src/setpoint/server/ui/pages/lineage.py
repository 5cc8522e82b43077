"""Lineage: the graph around one dataset version, run, model version or deployment, walked a
few hops both ways; without one, a choice of starting points."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response

from setpoint.core.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    SetpointError,
)
from setpoint.core.names import is_whole
from setpoint.server.ui.charts import GraphNode, layout
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import page, render
from setpoint.server.ui.templating import node_url

KINDS = ("dataset_version", "run", "model_version", "deployment")
MAX_NODES = 40
MAX_HOPS = 3
# prediction log files read for the versions a deployment served: a file holds one
# version's rows, so files spread over the whole log find every version served for long
LOG_FILES = 16


def deployment_url(project: str, name: str) -> str:
    return f"/deployments/{quote(project, safe='')}/{quote(name, safe='')}"


@dataclass(kw_only=True)
class Walk:
    """The graph found so far, with what was left out and why."""

    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (kind, id)
    artifacts: int = 0  # artifact edges: no page to show them on
    hidden: int = 0  # nodes in projects the caller has no role in
    missing: int = 0  # nodes an edge names that no longer exist
    truncated: bool = False


@page("/lineage")
def lineage(p: Page) -> Response:
    kind, ident = p.arg("kind"), p.arg("id")
    if not kind and not ident:
        return render(p, "lineage/picker.html", starts=_starting_points(p))
    if kind not in KINDS:
        raise InvalidArgumentError(
            f"kind must be one of {', '.join(KINDS)}, not {kind!r}", field="kind"
        )
    if not ident:
        raise InvalidArgumentError(f"give the id of the {kind.replace('_', ' ')}", field="id")
    g = _Graph(p)
    walk = g.walk(kind, ident)
    nodes = list(walk.nodes.values())
    return render(
        p,
        "lineage/graph.html",
        kind=kind,
        ident=ident,
        focus=walk.nodes[_key(kind, ident)],
        graph=layout(nodes, sorted(walk.edges)),
        rows=[(walk.ids[n.key], n) for n in nodes],
        walk=walk,
        max_nodes=MAX_NODES,
        max_hops=MAX_HOPS,
    )


def _key(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


class _Graph:
    """Reads the store for one walk, remembering what it read (a project's models,
    monitors and deployments are asked for once)."""

    def __init__(self, p: Page) -> None:
        self.p = p
        self.runs: dict[str, Any] = {}
        self.versions_by_run: dict[str, dict[str, list[Any]]] = {}
        self.monitors: dict[str, list[Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.served: dict[tuple[str, str], set[int]] = {}

    # ------------------------------------------------------------ the walk

    def walk(self, kind: str, ident: str) -> Walk:
        w = Walk()
        start = _key(kind, ident)
        node = self.node(kind, ident)  # an unknown start is a 404 page
        node.classes.append("focus")
        w.nodes[start], w.ids[start] = node, (kind, ident)
        queue = deque([(kind, ident, 0)])
        while queue:
            k, i, hops = queue.popleft()
            if hops >= MAX_HOPS:
                continue
            try:
                found = list(self.neighbours(k, i, w))
            except PermissionDeniedError:
                w.hidden += 1
                continue
            for (ok, oi), source, target, relation in found:
                other = _key(ok, oi)
                if other not in w.nodes:
                    if len(w.nodes) >= MAX_NODES:
                        w.truncated = True
                        continue
                    try:
                        w.nodes[other] = self.node(ok, oi)
                    except PermissionDeniedError:
                        w.hidden += 1
                        continue
                    except (NotFoundError, InvalidArgumentError):
                        w.missing += 1  # gone, or an id lineage holds but cannot resolve
                        continue
                    w.ids[other] = (ok, oi)
                    queue.append((ok, oi, hops + 1))
                w.edges.add((source, target, relation))
        return w

    def neighbours(
        self, kind: str, ident: str, w: Walk
    ) -> Iterator[tuple[tuple[str, str], str, str, str]]:
        """(other node, edge source key, edge target key, relation) for each edge of a node,
        drawn the way data flows: what a run consumed points into it."""
        me = _key(kind, ident)
        if kind != "deployment":
            for e in self.p.call("get_lineage", kind=kind, id=ident):
                source, target = _key(e.source_kind, e.source_id), _key(e.target_kind, e.target_id)
                other = (
                    (e.target_kind, e.target_id) if source == me else (e.source_kind, e.source_id)
                )
                if other[0] not in KINDS:
                    w.artifacts += 1
                    continue
                if e.relation == "consumed":
                    yield other, target, source, "is consumed by"
                elif e.relation == "derived_from":  # drawn parent to child, as `parents` are
                    yield other, target, source, "derived"
                else:
                    yield other, source, target, e.relation.replace("_", " ")
        if kind == "run":
            run = self.run(ident)
            for mv in self.versions_of_run(run.project).get(ident, []):
                yield ("model_version", mv.ref), me, _key("model_version", mv.ref), "produced"
        elif kind == "model_version":
            mv = self.model_version(ident)
            if mv.run_id:
                yield ("run", mv.run_id), _key("run", mv.run_id), me, "produced"
            for name in self.deployments_of(mv.project):
                if name == mv.name and mv.version in self.served_versions(mv.project, name):
                    dep = f"{mv.project}/{name}"
                    yield ("deployment", dep), me, _key("deployment", dep), "is served by"
        elif kind == "dataset_version":
            dv = self.dataset_version(ident)
            for parent in dv.parents:
                yield ("dataset_version", parent), _key("dataset_version", parent), me, "derived"
            for m in self.monitors_of(dv.project):
                if m.reference in (ident, dv.ref):
                    dep = f"{m.project}/{m.deployment}"
                    rel = f"is the reference of monitor {m.name} on"
                    yield ("deployment", dep), me, _key("deployment", dep), rel
        elif kind == "deployment":
            project, name = _split_deployment(ident)
            for m in self.monitors_of(project):
                if m.deployment == name:
                    rel = f"is the reference of monitor {m.name} on"
                    yield (
                        ("dataset_version", m.reference),
                        _key("dataset_version", m.reference),
                        (me),
                        rel,
                    )
            for v in sorted(self.served_versions(project, name)):
                ref = f"{project}/{name}/{v}"
                if self._has_model_version(ref):
                    yield ("model_version", ref), _key("model_version", ref), me, "is served by"

    # ------------------------------------------------------------ nodes

    def node(self, kind: str, ident: str) -> GraphNode:
        key = _key(kind, ident)
        if kind == "run":
            run = self.run(ident)
            failed = run.status in ("failed", "killed")
            return GraphNode(
                key=key,
                label=run.name,
                kind=kind,
                href=node_url(kind, ident),
                detail=f"run · {run.status}",
                classes=["failed"] if failed else [],
            )
        if kind == "dataset_version":
            dv = self.dataset_version(ident)
            rows = f"{dv.num_rows:,} rows" if dv.kind == "table" else "files"
            return GraphNode(
                key=key,
                label=f"{dv.name}@{dv.version}",
                kind=kind,
                href=node_url(kind, ident) or node_url(kind, dv.ref),
                detail=f"dataset · {rows}",
            )
        if kind == "model_version":
            mv = self.model_version(ident)
            aliases = ", ".join(mv.aliases)
            return GraphNode(
                key=key,
                label=f"{mv.name} v{mv.version}",
                kind=kind,
                href=node_url(kind, ident),
                detail=f"model · {aliases or mv.status}",
            )
        project, name = _split_deployment(ident)
        if name not in self.deployments_of(project):
            raise NotFoundError(f"no deployment {name!r} in project {project!r}", field="id")
        return GraphNode(
            key=key,
            label=name,
            kind=kind,
            href=deployment_url(project, name),
            detail=f"deployment · {project}",
        )

    def run(self, run_id: str) -> Any:
        if run_id not in self.runs:
            self.runs[run_id] = self.p.call("get_run", run_id=run_id)
        return self.runs[run_id]

    def dataset_version(self, ident: str) -> Any:
        ref, at, version = ident.rpartition("@")
        project, _, name = ref.rpartition("/")
        if not at or not is_whole(version, 9) or not name:
            raise InvalidArgumentError(
                f"a dataset version is named project/name@version, not {ident!r}", field="id"
            )
        return self.p.call(
            "get_dataset_version",
            name=name,
            project=project or "default",
            version=int(version),
        )

    def model_version(self, ident: str) -> Any:
        parts = ident.split("/")
        if len(parts) != 3 or not is_whole(parts[2], 9):
            raise InvalidArgumentError(
                f"a model version is named project/name/version, not {ident!r}", field="id"
            )
        return self.p.call(
            "get_model_version", name=parts[1], version=int(parts[2]), project=parts[0]
        )

    def _has_model_version(self, ref: str) -> bool:
        try:
            self.model_version(ref)
        except (NotFoundError, PermissionDeniedError):
            return False
        return True

    # ------------------------------------------------------------ per project

    def versions_of_run(self, project: str) -> dict[str, list[Any]]:
        """The project's model versions by the run that made them (the registry records
        it even when no lineage edge was logged)."""
        if project not in self.versions_by_run:
            out: dict[str, list[Any]] = {}
            for m in self.p.call("list_models", project=project):
                for mv in self.p.call("list_model_versions", name=m.name, project=project):
                    if mv.run_id:
                        out.setdefault(mv.run_id, []).append(mv)
            self.versions_by_run[project] = out
        return self.versions_by_run[project]

    def monitors_of(self, project: str) -> list[Any]:
        if project not in self.monitors:
            self.monitors[project] = list(self.p.call("list_monitors", project=project))
        return self.monitors[project]

    def deployments_of(self, project: str) -> dict[str, Any]:
        """The deployments of a project: those that logged predictions, and those a monitor
        watches."""
        if project not in self.deployments:
            found: dict[str, Any] = {
                d.name: d for d in self.p.call("list_deployments", project=project)
            }
            for m in self.monitors_of(project):
                found.setdefault(m.deployment, None)
            self.deployments[project] = found
        return self.deployments[project]

    def served_versions(self, project: str, name: str) -> set[int]:
        """The model versions a deployment's prediction log names (in up to ``LOG_FILES``
        of its files, spread over time). The log records version numbers, not the model:
        they are taken as versions of the model the deployment is named after (serving's
        default name)."""
        key = (project, name)
        if key not in self.served:
            self.served[key] = _logged_versions(self.p, project, name)
        return self.served[key]


# The versions a log file names, by the file's content digest (so never stale): a lineage
# page is drawn again without reading the files again. The caller's right to read them is
# checked by the listing that names the digests.
_VERSIONS_OF_FILE: dict[str, frozenset[int]] = {}
MAX_CACHED_FILES = 4096


def _logged_versions(p: Page, project: str, name: str) -> set[int]:
    files = p.call("list_prediction_logs", deployment=name, project=project, kind="predictions")
    if not files:
        return set()
    import pyarrow.parquet as pq

    out: set[int] = set()
    tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
    try:
        step = max(1, -(-len(files) // LOG_FILES))
        picked = {f.digest: f for f in [*files[::step], files[-1]]}
        for f in picked.values():
            known = _VERSIONS_OF_FILE.get(f.digest)
            if known is None:
                try:
                    path = p.call("download_blob", digest=f.digest, dest=f"{tmp}/{f.digest}")
                    column = pq.read_table(path, columns=["model_version"]).column(0)
                    known = frozenset(int(v) for v in column.unique().to_pylist() if v is not None)
                except (
                    SetpointError,
                    KeyError,
                    OSError,
                    ValueError,
                    TypeError,
                    NotImplementedError,
                ):
                    known = frozenset()  # a file without the column (or not of numbers), or gone
                if len(_VERSIONS_OF_FILE) >= MAX_CACHED_FILES:
                    _VERSIONS_OF_FILE.clear()
                _VERSIONS_OF_FILE[f.digest] = known
            out.update(known)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _split_deployment(ident: str) -> tuple[str, str]:
    project, sep, name = ident.partition("/")
    if not sep or not project or not name or "/" in name:
        raise InvalidArgumentError(f"a deployment is named project/name, not {ident!r}", field="id")
    return project, name


# ------------------------------------------------------------ starting points


@dataclass(frozen=True)
class Start:
    project: str
    datasets: list[Any]
    models: list[Any]
    deployments: list[str]


def _starting_points(p: Page) -> list[Start]:
    out = []
    for pr in p.call("list_projects"):
        try:
            datasets = p.call("list_datasets", project=pr.name)
            models = p.call("list_models", project=pr.name)
            deployments = {d.name for d in p.call("list_deployments", project=pr.name)}
            deployments |= {m.deployment for m in p.call("list_monitors", project=pr.name)}
        except PermissionDeniedError:
            continue  # a project the caller has no role in
        out.append(Start(pr.name, datasets, models, sorted(deployments)))
    return out
