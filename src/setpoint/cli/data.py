"""``setpoint data``: version datasets and look at what is stored."""

from __future__ import annotations

import click

from setpoint.cli.output import client, json_option, print_json, table, when


@click.group()
def data() -> None:
    """Version datasets (CSV, Parquet, folders, globs) and list them."""


@data.command("add")
@click.argument("path")
@click.option("--name", "-n", required=True, help="Dataset name.")
@click.option(
    "--project", "-p", default=None, help="Project (default: SETPOINT_PROJECT or 'default')."
)
@click.option("--description", "-d", default="", help="What this version is.")
@json_option
def add(path: str, name: str, project: str | None, description: str, as_json: bool) -> None:
    """Version the data at PATH (a file, a folder or a quoted glob) as the next version."""
    from setpoint.client import sdk

    v = sdk.log_dataset(path, name, project=project, description=description)
    if as_json:
        print_json(v.info)
        return
    if v.created:
        click.echo(f"{v.ref}: {v.num_rows} rows, {len(v.schema)} columns, blake3 {v.hash[:16]}")
    else:
        click.echo(f"unchanged: {v.ref} already holds this data (blake3 {v.hash[:16]})")


@data.command("list")
@click.option("--project", "-p", default=None, help="Only this project.")
@json_option
def list_datasets(project: str | None, as_json: bool) -> None:
    """Datasets and their latest version."""
    found = client().list_datasets(project)
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} datasets",
        ["project", "name", "latest", "versions", "created (UTC)"],
        [(d.project, d.name, d.latest_version, d.versions, when(d.created_at)) for d in found],
    )


@data.command("show")
@click.argument("ref")
@json_option
def show(ref: str, as_json: bool) -> None:
    """One version: REF is [project/]name[@version] (latest by default)."""
    from setpoint.client import sdk

    v = sdk.get_dataset(ref)
    if as_json:
        print_json(v.info)
        return
    facts = [
        ("version", v.ref),
        ("rows", v.num_rows),
        ("bytes (Parquet)", v.size),
        ("blake3", v.hash),
        ("source", v.source),
        ("description", v.description),
        ("parents", ", ".join(v.parents)),
        ("created (UTC)", when(v.created_at)),
        ("creator", v.creator),
    ]
    table("dataset version", ["fact", "value"], [f for f in facts if f[1] not in (None, "")])
    table("schema", ["column", "type"], [(c["name"], c["type"]) for c in v.schema])


@data.command("versions")
@click.argument("name")
@click.option("--project", "-p", default=None)
@json_option
def versions(name: str, project: str | None, as_json: bool) -> None:
    """Every version of a dataset, oldest first."""
    from setpoint.client import sdk

    found = client().list_dataset_versions(name, sdk._project(project))
    if as_json:
        print_json(found)
        return
    table(
        f"{name}: {len(found)} versions",
        ["version", "rows", "blake3", "source", "created (UTC)"],
        [(v.version, v.num_rows, v.digest[:16], v.source, when(v.created_at)) for v in found],
    )
