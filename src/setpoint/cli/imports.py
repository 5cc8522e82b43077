"""``setpoint import``: copy what another tracker holds into setpoint (MLflow, for now)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from setpoint.cli.output import actor, client, json_option, print_json, stderr_progress, table

if TYPE_CHECKING:
    from setpoint.client.mlflow_database import Plan
    from setpoint.client.mlflow_import import ImportReport, MlflowImporter


@click.group("import")
def import_() -> None:
    """Copy experiments, runs, artifacts and registered models from MLflow."""


@import_.command("mlflow")
@click.option(
    "--from",
    "url",
    required=True,
    metavar="URL",
    help="An MLflow tracking server (http://host:5000, https://...; credentials from "
    "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD) or its tracking database "
    "as a SQLAlchemy URL (sqlite:///mlflow.db, postgresql://user@host/mlflow).",
)
@click.option(
    "--artifacts",
    metavar="DIR",
    help="MLflow's artifact root (./mlruns, or the server's --artifacts-destination); "
    "default: each run's artifact_uri when it is a local path, or fetched through the "
    "server's artifact proxy (mlflow-artifacts:/ URIs).",
)
@json_option
def mlflow(url: str, artifacts: str | None, as_json: bool) -> None:
    """Import experiments (as projects), runs with their whole metric history, artifacts,
    registered models, versions and aliases. Safe to run again: what was imported is
    skipped. Exit 1 when some items (or parts of the source) could not be imported or read
    (they are listed), 2 when the server or database cannot be read at all."""
    import os

    from setpoint.client.mlflow_import import MlflowImporter, open_source
    from setpoint.core.errors import InvalidArgumentError

    if artifacts is not None and not os.path.isdir(artifacts):
        _refuse(f"error (artifacts): {artifacts} is not a folder")
    try:
        source = open_source(url)
    except InvalidArgumentError as exc:
        _refuse(f"error (from): {exc.message.splitlines()[0]}")
    try:
        importer = MlflowImporter(client(), source, artifacts, actor())
        plan = importer.plan()
        report = importer.run(plan) if as_json else _with_progress(importer, plan)
    except InvalidArgumentError as exc:
        if exc.field != "from":
            raise
        # its experiments cannot be read: nothing can be imported (an unreadable run, or
        # registry listing, is a failure in the report instead)
        _refuse(f"error (from): {exc.message.splitlines()[0]}")
    finally:
        source.close()
    if as_json:
        print_json(report)
    else:
        _summary(report)
    if report.failures:
        sys.exit(1)


def _refuse(line: str) -> NoReturn:
    click.echo(line, err=True)
    sys.exit(2)


def _with_progress(importer: MlflowImporter, plan: Plan) -> ImportReport:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    runs, versions, aliases = plan
    with stderr_progress(
        TextColumn("{task.description:<15}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        tasks = {
            "runs": bar.add_task("runs", total=len(runs)),
            "model versions": bar.add_task("model versions", total=len(versions)),
            "aliases": bar.add_task("aliases", total=len(aliases)),
        }
        return importer.run(plan, lambda kind: bar.advance(tasks[kind]))


def _summary(report: ImportReport) -> None:
    from setpoint.client.mlflow_import import KINDS

    failed: dict[str, int] = {}
    for f in report.failures:
        failed[f.kind] = failed.get(f.kind, 0) + 1
    table(
        "import from MLflow",
        ["", "new", "already imported"],
        [(k, report.new[k], report.existing[k]) for k in KINDS],
    )
    for listed, title, why in (
        (report.failures, "not imported", "why"),
        (report.warnings, "imported with changes", "what changed"),
    ):
        if listed:
            table(
                f"{len(listed)} {title}",
                ["kind", "MLflow item", why],
                [(f.kind, f.item, f.reason) for f in listed],
                keep_whole=["MLflow item"],
            )
    new = sum(report.new[k] for k in ("runs", "model versions", "aliases"))
    line = f"{new} new (runs, model versions, aliases), {len(report.failures)} not imported"
    if report.warnings:
        line += f"; {len(report.warnings)} imported with changes"
    if report.deleted_skipped:
        line += f"; {report.deleted_skipped} deleted runs skipped"
    click.echo(line)
