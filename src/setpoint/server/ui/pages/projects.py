"""The projects overview: per project, its latest runs, models and their aliases,
deployments and open alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from setpoint.core.errors import PermissionDeniedError
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import page, render

LATEST_RUNS = 5


@dataclass(frozen=True)
class Overview:
    project: Any
    runs: list[Any]
    models: list[Any]
    deployments: list[str]
    alerts: list[Any]


@page("/")
def overview(p: Page) -> Response:
    projects = p.call("list_projects")
    cards = []
    hidden = 0
    for project in projects:
        try:
            cards.append(summary(p, project))
        except PermissionDeniedError:
            hidden += 1  # a project the caller has no role in
    return render(p, "projects.html", cards=cards, hidden=hidden)


@page("/projects/{project}")
def one(p: Page) -> Response:
    name = p.path_params["project"]
    found = [pr for pr in p.call("list_projects") if pr.name == name]
    if not found:
        from setpoint.core.errors import ProjectNotFoundError

        raise ProjectNotFoundError(f"no project named {name!r}", field="project")
    return render(p, "projects.html", cards=[summary(p, found[0], runs=20)], hidden=0)


def summary(p: Page, project: Any, runs: int = LATEST_RUNS) -> Overview:
    name = project.name
    latest = p.call(
        "search_runs", project=[name], filter=None, order_by=None, max_results=runs
    ).runs
    models = p.call("list_models", project=name)
    monitors = p.call("list_monitors", project=name)
    deployments = sorted({m.deployment for m in monitors} | set(deployment_names(p, name)))
    alerts = p.call("list_alerts", project=name, status="open", limit=20)
    return Overview(project, latest, models, deployments, alerts)


def deployment_names(p: Page, project: str) -> list[str]:
    """The deployments that have logged predictions in ``project``."""
    return [d.name for d in p.call("list_deployments", project=project)]
