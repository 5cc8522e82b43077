"""``setpoint gc``: delete artifact blobs that no run, dataset or model references."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from setpoint.cli.output import Finite, json_option, local_client, print_json, stderr_progress


@click.command()
@click.option("--delete", is_flag=True, help="Delete the blobs (the default only lists them).")
@click.option(
    "--min-age",
    default=3600.0,
    show_default=True,
    type=Finite(min=0, max=100 * 365 * 86400),
    help="Keep blobs younger than this many seconds (a writer may be about to reference them).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Also hash every blob and remove those whose bytes no longer match (reads them all).",
)
@json_option
def gc(delete: bool, min_age: float, verify: bool, as_json: bool) -> None:
    """Remove artifact blobs nothing references (dry run by default)."""
    c = local_client()
    if verify:
        with _hashing_bar() as progress:
            report = c.gc(dry_run=not delete, min_age_s=min_age, verify=True, progress=progress)
    else:
        report = c.gc(dry_run=not delete, min_age_s=min_age)
    if as_json:
        print_json(report)
        return
    verb = "deleted" if delete else "would delete"
    n = report.deleted if delete else len(report.unreferenced)
    click.echo(
        f"{verb} {n} unreferenced blobs and {report.stale_temporaries} unfinished uploads "
        f"({report.bytes_freed} bytes); {report.referenced} referenced blobs kept"
    )
    if report.forgotten_batch_ids:
        forgot = "forgot" if delete else "would forget"
        click.echo(f"{forgot} {report.forgotten_batch_ids} metric batch ids of ended runs")
    if verify:
        click.echo(
            f"{verb} {len(report.corrupted)} blobs whose bytes no longer match their hash"
            + "".join(f"\n  blake3:{d}" for d in report.corrupted)
        )
        if report.corrupted and delete:
            click.echo("add their data again to store it afresh")
    if not delete and (
        n or report.stale_temporaries or report.corrupted or report.forgotten_batch_ids
    ):
        click.echo(f"run `setpoint gc --delete{' --verify' if verify else ''}` to delete them")


@contextmanager
def _hashing_bar() -> Iterator[Callable[[int, int], None]]:
    """A progress bar of the bytes hashed, on stderr when it is a terminal."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with stderr_progress(
        TextColumn("verifying blobs"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("verify", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
