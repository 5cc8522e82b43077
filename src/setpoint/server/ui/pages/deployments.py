"""Deployments: the list with their monitors and open alerts; a deployment's traffic split,
request rate and latency over time, from its prediction log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from setpoint.core.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from setpoint.server.ui.context import Page
from setpoint.server.ui.pages.monitors import window_text
from setpoint.server.ui.routing import data, json_response, page, render
from setpoint.server.ui.templating import ts
from setpoint.server.ui.traffic import (
    DEFAULT_DAYS,
    MAX_DAYS,
    buckets_for,
    empty_columns,
    latency_series,
    rate_series,
    read_traffic,
    traffic_split,
)

# ---------------------------------------------------------------- deployments


def _projects(p: Page, selected: str) -> tuple[list[Any], list[str]]:
    projects = p.call("list_projects")
    names = [pr.name for pr in projects if not selected or pr.name == selected]
    return projects, names


@dataclass(frozen=True)
class DeploymentRow:
    project: str
    name: str
    deployment: Any | None  # None: named by a monitor, nothing logged yet
    monitors: list[Any]
    open_alerts: int


@page("/deployments")
def deployments_index(p: Page) -> Response:
    selected = p.arg("project")
    projects, names = _projects(p, selected)
    if selected and not names:
        raise NotFoundError(f"no project named {selected!r}", field="project")
    rows: list[DeploymentRow] = []
    monitors: list[tuple[Any, int]] = []
    hidden = 0
    for project in names:
        try:
            logged = {d.name: d for d in p.call("list_deployments", project=project)}
            mons = p.call("list_monitors", project=project)
            alerts = p.call("list_alerts", project=project, status="open", limit=10_000)
        except PermissionDeniedError:
            hidden += 1  # a project the caller has no role in
            continue
        open_by_monitor: dict[str, int] = {}
        for a in alerts:
            open_by_monitor[a.monitor] = open_by_monitor.get(a.monitor, 0) + 1
        for m in mons:
            monitors.append((m, open_by_monitor.get(m.name, 0)))
        for name in sorted(set(logged) | {m.deployment for m in mons}):
            watching = [m for m in mons if m.deployment == name]
            rows.append(
                DeploymentRow(
                    project=project,
                    name=name,
                    deployment=logged.get(name),
                    monitors=watching,
                    open_alerts=sum(open_by_monitor.get(m.name, 0) for m in watching),
                )
            )
    return render(
        p,
        "deployments/index.html",
        projects=projects,
        project=selected,
        rows=rows,
        monitors=monitors,
        hidden=hidden,
        window_text=window_text,
    )


@page("/deployments/{project}/{name}")
def deployment_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    days = p.int_arg("days", DEFAULT_DAYS, high=MAX_DAYS)
    found = [d for d in p.call("list_deployments", project=project) if d.name == name]
    monitors = [m for m in p.call("list_monitors", project=project) if m.deployment == name]
    if not found and not monitors:
        raise NotFoundError(f"project {project} has no deployment {name!r}", field="name")
    deployment = found[0] if found else None
    traffic = read_traffic(p, project, name, days, deployment.last_at if deployment else None)
    split = traffic_split(traffic.columns)
    b = buckets_for(traffic.columns)
    open_alerts = {
        m.name: len(p.call("list_alerts", project=project, monitor=m.name, status="open"))
        for m in monitors
    }
    # A deployment is named after its model unless `--name` said otherwise: link the
    # versions only when a model of that name exists.
    model = name if any(m.name == name for m in p.call("list_models", project=project)) else None
    if traffic.read < traffic.files:
        p.notices.append(
            f"Only the newest {traffic.read} of {traffic.files} log files of these days are "
            f"read ({traffic.columns.rows:,} rows); choose fewer days to see all of them."
        )
    if traffic.unreadable:
        p.notices.append(f"{traffic.unreadable} log file(s) could not be read as Parquet.")
    chart = lambda what: p.url(  # noqa: E731
        "/ui/data/deployment", project=project, name=name, what=what, days=days
    )
    return render(
        p,
        "deployments/deployment.html",
        project=project,
        name=name,
        deployment=deployment,
        days=days,
        max_days=MAX_DAYS,
        traffic=traffic,
        split=split,
        bar_items=[(f"v{s.version} {s.role}", s.rows) for s in split],
        buckets=b,
        monitors=monitors,
        open_alerts=open_alerts,
        model=model,
        chart=chart,
        window_text=window_text,
    )


@data("/ui/data/deployment")
def deployment_series(p: Page) -> Response:
    """Request rate (``what=rate``) or latency (``what=latency``) of a deployment per time
    bucket over its last ``days`` days of logged traffic."""
    project, name, what = p.arg("project"), p.arg("name"), p.arg("what")
    if not project or not name or what not in ("rate", "latency"):
        raise InvalidArgumentError(
            "give project=, name= and what=rate or what=latency", field="what"
        )
    days = p.int_arg("days", DEFAULT_DAYS, high=MAX_DAYS)
    found = [d for d in p.call("list_deployments", project=project) if d.name == name]
    if not found:
        if not any(m.deployment == name for m in p.call("list_monitors", project=project)):
            raise NotFoundError(f"project {project} has no deployment {name!r}", field="name")
        cols = empty_columns()  # watched by a monitor, nothing logged yet
    else:
        cols = read_traffic(p, project, name, days, found[0].last_at).columns
    b = buckets_for(cols)
    if b is None:
        return json_response({"series": [], "total": 0, "empty": "No predictions logged."})
    series = rate_series(cols, b) if what == "rate" else latency_series(cols, b)
    return json_response(
        {
            "series": series,
            "total": cols.rows,
            "x_label": f"{b.unit} since {ts(b.start)}",
            "y_label": f"per {b.describe()}" if what == "rate" else "ms",
            "bucket_ms": b.size,
            "start": b.start,
            "empty": "No predictions logged.",
        }
    )
