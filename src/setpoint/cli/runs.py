"""``setpoint runs``: list, show, compare runs and print a metric's history."""

from __future__ import annotations

from typing import Any

import click

from setpoint.cli.output import (
    actor,
    client,
    duration,
    json_option,
    lifecycle_option,
    print_json,
    table,
    when,
)
from setpoint.core.types import Run


@click.group()
def runs() -> None:
    """List, show and compare runs."""


@runs.command("list")
@click.option("--project", "-p", multiple=True, help="Only runs of this project (repeatable).")
@click.option(
    "--filter",
    "-f",
    "filter_",
    default=None,
    help="e.g. \"metrics.auc > 0.9 and params.depth = '8'\"",
)
@click.option("--order-by", "-o", multiple=True, help='e.g. "metrics.auc desc" (repeatable).')
@click.option("--max-results", "-n", default=50, show_default=True, type=int)
@click.option("--page-token", default=None, help="Continue from a previous page.")
@lifecycle_option("runs")
@json_option
def list_runs(
    project: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    page_token: str | None,
    lifecycle: str,
    as_json: bool,
) -> None:
    """Runs, newest first unless --order-by says otherwise."""
    page = client().search_runs(
        list(project) or None, filter_, list(order_by), max_results, page_token, lifecycle
    )
    if as_json:
        print_json({"runs": page.runs, "next_page_token": page.next_page_token})
        return
    metric_keys = sorted({k for r in page.runs for k in r.metrics})[:6]
    rows = [
        [
            r.id[:16],
            r.project,
            r.name,
            r.status,
            when(r.start_time),
            duration(r.start_time, r.end_time),
        ]
        + [r.metrics.get(k) for k in metric_keys]
        for r in page.runs
    ]
    table(
        f"{len(page.runs)} runs",
        ["id", "project", "name", "status", "started (UTC)", "took", *metric_keys],
        rows,
    )
    if page.next_page_token:
        click.echo(f"more: --page-token {page.next_page_token}")


def resolve_run(c: Any, run_id: str) -> Run:
    """Accept a full id or a unique prefix of at least 6 characters (as `runs list` shows)."""
    from setpoint.core.errors import InvalidArgumentError, RunNotFoundError

    try:
        return c.get_run(run_id)
    except RunNotFoundError:
        if any(ch not in "0123456789abcdef" for ch in run_id):
            raise
        if len(run_id) < 6:
            raise RunNotFoundError(
                f"run {run_id!r} does not exist (a prefix of a run id needs at least 6 characters)",
                field="run_id",
            ) from None
    page = c.search_runs(None, f"id LIKE '{run_id}%'", [], 2, None, "all")
    if len(page.runs) == 1:
        return page.runs[0]
    if not page.runs:
        raise RunNotFoundError(f"run {run_id!r} does not exist", field="run_id")
    raise InvalidArgumentError(f"run id prefix {run_id!r} matches several runs", field="run_id")


@runs.command("delete")
@click.argument("run_id")
def delete(run_id: str) -> None:
    """Delete a run: it leaves listings and searches and takes no more logging. Nothing is
    erased; `setpoint runs restore` brings it back."""
    c = client()
    run = c.delete_run(resolve_run(c, run_id).id, actor=actor())
    click.echo(f"deleted run {run.id} ({run.project}/{run.name})")


@runs.command("restore")
@click.argument("run_id")
def restore(run_id: str) -> None:
    """Bring back a deleted run."""
    c = client()
    run = c.restore_run(resolve_run(c, run_id).id, actor=actor())
    click.echo(f"restored run {run.id} ({run.project}/{run.name})")


@runs.command("show")
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """One run: attributes, params, latest metrics, tags and artifacts."""
    c = client()
    r = resolve_run(c, run_id)
    arts = c.list_artifacts(r.id)
    if as_json:
        print_json({"run": r, "artifacts": arts})
        return
    attrs = [
        ("id", r.id),
        ("project", r.project),
        ("name", r.name),
        ("status", r.status),
        ("started (UTC)", when(r.start_time)),
        ("ended (UTC)", when(r.end_time)),
        ("parent", r.parent_id),
        ("git commit", r.git_commit),
        ("git dirty", r.git_dirty),
        ("host", r.host),
        ("user", r.user),
        ("python", r.python_version),
        ("error", r.error),
    ]
    table("run", ["attribute", "value"], [a for a in attrs if a[1] not in (None, "")])
    for title, values in (("params", r.params), ("metrics (latest)", r.metrics), ("tags", r.tags)):
        if values:
            table(title, ["key", "value"], list(values.items()))
    if arts:
        table(
            "artifacts", ["path", "size", "blake3"], [(a.path, a.size, a.digest[:16]) for a in arts]
        )


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@json_option
def compare(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Params and metrics of several runs side by side; differing rows are marked."""
    c = client()
    found = [resolve_run(c, rid) for rid in run_ids]
    if as_json:
        print_json({"runs": found})
        return
    rows = []
    for kind in ("params", "metrics"):
        keys = sorted({k for r in found for k in getattr(r, kind)})
        for k in keys:
            values = [getattr(r, kind).get(k) for r in found]
            # the values themselves: two that differ beyond the digits shown still differ
            mark = "≠" if len({repr(v) for v in values}) > 1 else ""
            rows.append([f"{kind}.{k}", mark, *values])
    table(
        "compare",
        ["key", "", *[f"{r.name} ({r.id[:8]})" for r in found]],
        rows,
    )


@runs.command("history")
@click.argument("run_id")
@click.argument("key")
@json_option
def history(run_id: str, key: str, as_json: bool) -> None:
    """Every point of one metric of a run."""
    c = client()
    r = resolve_run(c, run_id)
    h = c.get_metric_history(r.id, key)
    if as_json:
        print_json(h)
        return
    table(
        f"{key} of {r.name}",
        ["step", "value", "time (UTC)"],
        list(zip(h.steps, h.values, [when(t) for t in h.timestamps], strict=True)),
    )
