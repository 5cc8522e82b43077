"""``setpoint predict``: batch scoring of files of any size with a registered model."""

from __future__ import annotations

import click

from setpoint.cli.output import json_option, print_json


@click.command("predict")
@click.argument("model")
@click.option("--input", "source", required=True, help="CSV/Parquet file, folder or glob.")
@click.option(
    "--output", "dest", required=True, help="Parquet file (a folder with --executor ray)."
)
@click.option(
    "--keep",
    default=None,
    help="Input columns to keep, comma-separated (default: those the model does not take).",
)
@click.option("--proba", is_flag=True, help="Add class probabilities (proba_<class> columns).")
@click.option(
    "--executor",
    type=click.Choice(["inprocess", "ray"]),
    default="inprocess",
    show_default=True,
    help="Here (threads over record batches) or Ray (a task per input file).",
)
@click.option(
    "--threads", type=int, default=None, help="Batches predicted at once (default: CPUs)."
)
@json_option
def predict(
    model: str,
    source: str,
    dest: str,
    keep: str | None,
    proba: bool,
    executor: str,
    threads: int | None,
    as_json: bool,
) -> None:
    """Score --input with MODEL (name@alias or name/7) into --output, streaming."""
    from setpoint.client import sdk

    result = sdk.predict_batch(
        model,
        source,
        dest,
        keep=[k for k in keep.split(",") if k] if keep else None,
        proba=proba,
        executor=executor,
        threads=threads,
    )
    if as_json:
        print_json(result)
        return
    click.echo(
        f"scored {result['rows']:,} rows with {result['model']} into {dest}"
        + (f" ({len(result['files'])} parts)" if len(result["files"]) > 1 else "")
        + (f"; kept {', '.join(result['keep'])}" if result["keep"] else "")
    )
