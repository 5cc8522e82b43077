"""``setpoint step run``: one step of a pipeline on its own, as a container of a compiled
Kubeflow pipeline runs it."""

from __future__ import annotations

import os

import click

from setpoint.cli.output import json_option, print_json, table
from setpoint.cli.pipeline import _load, _params


@click.group()
def step() -> None:
    """Run one step of a pipeline (what each task of a compiled pipeline does)."""


@step.command("run")
@click.argument("target")
@click.option("--step", "step_name", required=True, help="The step's name in the pipeline.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE pipeline parameter.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    help="PARAM=RECORD: the output record of the step feeding PARAM (repeatable).",
)
@click.option("--pipeline-run", default=None, help="The orchestrator's id of the pipeline run.")
@click.option("--output-file", default=None, help="Write the step's output record here.")
@click.option(
    "--shape",
    default=None,
    help="The hash of the compiled pipeline's steps: refuse to run when the pipeline, built "
    "with these parameters, has other steps.",
)
@click.option("--project", "-p", default=None, help="Project (default: the pipeline's).")
@json_option
def run(
    target: str,
    step_name: str,
    params: tuple[str, ...],
    inputs: tuple[str, ...],
    pipeline_run: str | None,
    output_file: str | None,
    shape: str | None,
    project: str | None,
    as_json: bool,
) -> None:
    """Run step --step of TARGET (FILE.py:PIPELINE), taken from the cache when it can be, and
    write its output record (what the next steps take as --input)."""
    import orjson

    from setpoint.client.pipelines import one_line, run_step

    pipe = _load(target)
    records = {}
    for item in inputs:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not PARAM=RECORD", param_hint="--input")
        try:
            records[key] = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(
                f"{key}: the record is not JSON: {exc}", param_hint="--input"
            ) from None
    values = _params(pipe, params)
    try:
        result = run_step(
            pipe, values, step_name, records, project, pipeline_run=pipeline_run, shape=shape
        )
    except Exception as exc:
        # the step's own error is the user's, said in one line as `pipeline run` says it (its
        # traceback is in the step's run, and with SETPOINT_DEBUG=1); setpoint's are left
        # to the command line's error handling
        failed = getattr(exc, "setpoint_failed_step", None)
        if failed is None or os.environ.get("SETPOINT_DEBUG"):
            raise
        raise click.ClickException(
            f"step {failed!r} of {pipe.name} failed: {one_line(exc)}"
        ) from None
    record = orjson.dumps(result.output, option=orjson.OPT_SORT_KEYS)
    if output_file:
        folder = os.path.dirname(output_file)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(output_file, "wb") as fh:
            fh.write(record)
    if as_json:
        print_json(result)
        return
    table(
        f"{pipe.name} · step {result.step}",
        ["step", "", "run", "seconds", "why"],
        [
            (
                result.step,
                result.status,
                result.run_id,
                f"{result.seconds:.3f}",
                "; ".join(result.why),
            )
        ],
    )
