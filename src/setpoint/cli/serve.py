"""``setpoint serve``: a prediction server for a model's alias, with canary and shadow
traffic, hot reload when the alias moves, and a prediction log."""

from __future__ import annotations

import os
import sys

import click

from setpoint.cli.output import Finite

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@click.command("serve")
@click.argument("model")
@click.option(
    "--alias", default=None, help="The alias to serve (default: MODEL's @alias, else champion)."
)
@click.option("--canary", default=None, help="ALIAS=PERCENT: that share of requests, by id.")
@click.option(
    "--shadow", default=None, help="ALIAS that scores a copy of the traffic (logged only)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes."
)
@click.option("--name", default=None, help="Deployment name (default: the model's name).")
@click.option("--project", "-p", default=None, help="The model's project.")
@click.option(
    "--max-batch",
    default=1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per predict call.",
)
@click.option(
    "--max-wait-ms",
    default=0.0,
    show_default=True,
    type=Finite(min=0),
    help="Extra wait to gather a batch (0: batch what queued while the model was busy).",
)
@click.option(
    "--poll",
    default=2.0,
    show_default=True,
    type=Finite(min=0),
    help="Seconds between alias checks (0: never reload).",
)
@click.option("--allow-nan", is_flag=True, help="Accept NaN, missing and infinite numbers.")
@click.option("--no-log", is_flag=True, help="Keep no prediction log (and take no feedback).")
@click.option(
    "--log-interval",
    default=5.0,
    show_default=True,
    type=Finite(min=0, min_open=True),
    help="Seconds between prediction log files.",
)
@click.option(
    "--max-body",
    default=16 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest request body in bytes.",
)
@click.option(
    "--no-access-log", is_flag=True, help="Do not write a JSON line per request to stderr."
)
@click.option(
    "--log-scores",
    is_flag=True,
    help="Log binary classifiers' positive-class probability too (monitors then compute ROC AUC).",
)
def serve(
    model: str,
    alias: str | None,
    canary: str | None,
    shadow: str | None,
    host: str,
    port: int,
    workers: int,
    name: str | None,
    project: str | None,
    max_batch: int,
    max_wait_ms: float,
    poll: float,
    allow_nan: bool,
    no_log: bool,
    log_interval: float,
    max_body: int,
    no_access_log: bool,
    log_scores: bool,
) -> None:
    """Serve MODEL (name or name@alias) over the Open Inference Protocol and MLflow's
    /invocations, on loopback unless --host says otherwise."""
    from setpoint.client.serving import (
        ENV,
        TOKENS_ENV,
        ServeSpec,
        build_app,
        parse_canary,
        tokens,
    )
    from setpoint.core.same_site import is_loopback

    base, at, named_alias = model.partition("@")
    if at and alias and alias != named_alias:
        raise click.BadParameter(f"{model} names alias {named_alias}, --alias says {alias}")
    if "/" in base:
        given_project, _, base = base.rpartition("/")
        project = project or given_project
        if base.isdigit():
            raise click.BadParameter(
                f"{model} names a version: serve a model through an alias "
                f"(MODEL or MODEL@ALIAS; `setpoint models alias` points one at a version)",
                param_hint="MODEL",
            )
    canary_alias, percent = parse_canary(canary) if canary else (None, 0.0)
    spec = ServeSpec(
        model=base,
        alias=alias or named_alias or "champion",
        project=project,
        name=name,
        canary=canary_alias,
        canary_percent=percent,
        shadow=shadow,
        allow_nan=allow_nan,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        poll=poll,
        log=not no_log,
        log_interval=log_interval,
        max_body=max_body,
        access_log=not no_access_log,
        log_scores=log_scores,
    )
    if not is_loopback(host) and not tokens():
        raise click.UsageError(
            f"serving on {host} needs tokens: set {TOKENS_ENV}=token1,token2 (requests then "
            "carry 'Authorization: Bearer <token>'; health checks stay open)"
        )
    # The model and each alias served must be there before the server starts: a mistake is
    # one line here, not a server that fails its start-up.
    from setpoint.client import sdk
    from setpoint.client.models import model_project

    c = sdk.client()
    found = model_project(c, spec.model, spec.project)
    for served in dict.fromkeys(a for a in (spec.alias, spec.canary, spec.shadow) if a):
        c.resolve_alias(spec.model, served, found)
    # One math thread per worker unless told otherwise: OpenMP and BLAS pools sized to the
    # machine in every worker fight over the cores (and spin), which costs far more than
    # they give on small batches. Set before any model library loads.
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    import uvicorn

    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
    }
    click.echo(
        f"serving {spec.model}@{spec.alias}"
        + (f", canary {canary_alias} {percent:g}%" if canary_alias else "")
        + (f", shadow {shadow}" if shadow else "")
        + f" on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})",
        err=True,
    )
    if workers == 1:
        uvicorn.run(build_app(spec), **options)  # type: ignore[arg-type]
        return
    os.environ[ENV] = spec.to_json()
    uvicorn.run(
        "setpoint.client.serving:app_from_env",
        factory=True,
        workers=workers,
        **options,  # type: ignore[arg-type]
    )
    sys.exit(0)
