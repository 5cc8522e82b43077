"""``setpoint monitor``: watch a deployment's traffic for drift, decay and unfairness, and
act on alerts (webhook, retraining schedule)."""

from __future__ import annotations

import math
import sys
from typing import Any

import click

from setpoint.cli.output import actor, client, json_option, print_json, table, when, write_file
from setpoint.core.names import INT64_MAX


@click.group()
def monitor() -> None:
    """Monitors of deployments: drift, performance, fairness, alerts and actions."""


def _project(project: str | None) -> str:
    from setpoint.core.config import default_project

    return default_project(project)


def _rule(text: str, sign: str = "<") -> dict[str, object]:
    """``accuracy<0.8`` or ``accuracy<0.8:2`` (for 2 windows running); with ``sign`` ">",
    a ceiling: ``rmse>5``."""
    metric, sep, rest = text.partition(sign)
    bound, _, windows = rest.partition(":")
    try:
        if not sep or not metric.strip():
            raise ValueError
        return {
            "metric": metric.strip(),
            "min" if sign == "<" else "max": float(bound),
            "windows": int(windows or 1),
        }
    except ValueError:
        example, option = ("accuracy<0.8:2", "below") if sign == "<" else ("rmse>5:2", "above")
        raise click.BadParameter(
            f"{text!r} is not METRIC{sign}VALUE[:WINDOWS], e.g. {example}",
            param_hint=f"--alert-{option}",
        ) from None


def _decay(text: str) -> dict[str, object]:
    """``accuracy:0.05`` or ``accuracy:0.05:2``."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3) or not parts[0].strip():
            raise ValueError
        return {
            "metric": parts[0].strip(),
            "max_drop": float(parts[1]),
            "windows": int(parts[2]) if len(parts) == 3 else 1,
        }
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not METRIC:DROP[:WINDOWS], e.g. accuracy:0.05:2",
            param_hint="--alert-decay",
        ) from None


@monitor.command("add")
@click.argument("name")
@click.option(
    "--deployment",
    required=True,
    help="The deployment (setpoint serve --name; default the model's name).",
)
@click.option(
    "--reference",
    required=True,
    help="Dataset version the traffic is compared with, e.g. fraud/transactions@3.",
)
@click.option("--window", default="1h", show_default=True, help="1h, 30m, 1d, or 10000rows.")
@click.option(
    "--drift-share",
    default=0.5,
    show_default=True,
    type=float,
    help="Share of drifted features that is dataset drift.",
)
@click.option(
    "--alert-below",
    "rules",
    multiple=True,
    help="METRIC<VALUE[:WINDOWS], e.g. 'accuracy<0.8:2' (quoted: < is a shell redirect): "
    "alert when accuracy is below 0.8 for 2 windows running (repeatable).",
)
@click.option(
    "--alert-above",
    "ceilings",
    multiple=True,
    help="METRIC>VALUE[:WINDOWS], e.g. 'rmse>5:2' (quoted: > is a shell redirect): alert "
    "when rmse is above 5 for 2 windows running (repeatable; the way to bound mae and rmse).",
)
@click.option(
    "--alert-decay",
    "decays",
    multiple=True,
    help="METRIC:DROP[:WINDOWS], e.g. accuracy:0.05:2: worse than the served version's "
    "evaluation by more than DROP (lower; higher for mae and rmse).",
)
@click.option(
    "--fairness-gap", default=None, type=float, help="Alert when a parity or odds gap exceeds this."
)
@click.option("--sensitive", multiple=True, help="A sensitive column (repeatable).")
@click.option("--webhook", default=None, help="POST each new alert here as JSON.")
@click.option(
    "--on-alert",
    "on_alert",
    default=None,
    help="NAME=FILE.py:PIPELINE: a schedule run on this monitor's alerts.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="KEY=VALUE, repeatable: a parameter of the --on-alert pipeline's runs.",
)
@click.option("--target", default=None, help="Reference column the predictions are compared with.")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    default=None,
    help="What the model does (default: told from the labels and predictions).",
)
@click.option("--project", "-p", default=None)
def add(
    name: str,
    deployment: str,
    reference: str,
    window: str,
    drift_share: float,
    rules: tuple[str, ...],
    ceilings: tuple[str, ...],
    decays: tuple[str, ...],
    fairness_gap: float | None,
    sensitive: tuple[str, ...],
    webhook: str | None,
    on_alert: str | None,
    params: tuple[str, ...],
    target: str | None,
    task: str | None,
    project: str | None,
) -> None:
    """Watch DEPLOYMENT's prediction log against --reference."""
    from setpoint.client import sdk

    values: dict[str, Any] = {}
    if params and not on_alert:
        raise click.BadParameter("parameters are for the --on-alert pipeline", param_hint="--param")
    if on_alert:  # checked before anything is stored
        from setpoint.cli.pipeline import _load
        from setpoint.cli.schedule import run_params
        from setpoint.core.config import default_project
        from setpoint.core.errors import InvalidArgumentError
        from setpoint.core.names import check_name

        schedule_name, sep, target_file = on_alert.partition("=")
        if not sep or ":" not in target_file:
            raise click.BadParameter("expected NAME=FILE.py:PIPELINE", param_hint="--on-alert")
        try:
            check_name(schedule_name, "name")
        except InvalidArgumentError as exc:
            raise click.BadParameter(f"schedule {exc.message}", param_hint="--on-alert") from None
        # it must name a pipeline, and its runs get every parameter they need
        values = run_params(_load(target_file), params)
        in_project = default_project(project)
        if any(s.name == schedule_name for s in client().list_schedules(in_project)):
            raise click.BadParameter(
                f"project {in_project} has a schedule named {schedule_name!r} already",
                param_hint="--on-alert",
            )
    m = sdk.add_monitor(
        name,
        deployment=deployment,
        reference=reference,
        window=window,
        project=project,
        drift_share=drift_share,
        metric_rules=[*(_rule(r) for r in rules), *(_rule(c, ">") for c in ceilings)],
        decay_rules=[_decay(d) for d in decays],
        fairness_gap=fairness_gap,
        sensitive=list(sensitive),
        webhook=webhook,
        target=target,
        task=task,
    )
    click.echo(f"monitoring {m.project}/{m.deployment} as {m.name} against {m.reference}")
    if on_alert:
        from setpoint.cli.pipeline import absolute

        s = client().add_schedule(
            schedule_name, absolute(target_file), m.project, values, None, None, actor(), m.name
        )
        click.echo(f"on its alerts, `setpoint scheduler` runs {s.target} (schedule {s.name})")


@monitor.command("run")
@click.argument("name")
@click.option("--project", "-p", default=None)
@json_option
def run(name: str, project: str | None, as_json: bool) -> None:
    """Compute the windows that are due; raise and resolve alerts."""
    from setpoint.client import sdk

    done = sdk.run_monitor(name, project=project)
    if as_json:
        print_json(done)
        return
    click.echo(
        f"{name}: {len(done['computed'])} window(s) computed, {len(done['raised'])} alert(s) "
        f"raised, {len(done['resolved'])} resolved"
    )
    for a in done["raised"]:
        hook = a.details.get("webhook")  # the outcome of this run's post, not stored
        failed = isinstance(hook, dict) and not hook.get("delivered")
        said = f" (webhook not delivered: {hook.get('error')})" if failed else ""
        click.echo(f"  ALERT {a.rule}: {a.message}{said}")
    if done["raised"]:
        sys.exit(3)  # scripts can tell "alerts" from "all well"


@monitor.command("status")
@click.argument("name")
@click.option("--project", "-p", default=None)
@click.option(
    "--last", default=24, show_default=True, type=click.IntRange(1, 10**6), help="Windows shown."
)
@json_option
def status(name: str, project: str | None, last: int, as_json: bool) -> None:
    """Windows (drift, drifted features, metrics), then open alerts."""
    from setpoint.monitoring.report import window_label
    from setpoint.monitoring.windows import metric_value

    c = client()
    p = _project(project)
    window_rows = c.get_monitor(name, p).config.get("window_rows")
    windows = c.list_monitor_windows(name, p)[-last:]
    alerts = c.list_alerts(p, name, None, 100, "open")
    if as_json:
        print_json({"windows": windows, "alerts": alerts})
        return
    table(
        f"{p}/{name}: {len(windows)} window(s)",
        ["window (UTC)", "rows", "labeled", "drift", "drifted", "metrics"],
        [
            (
                window_label(w, window_rows),
                w.rows,
                w.labeled,
                f"{w.result['drift']['share_drifted']:.0%}"
                + (" DRIFT" if w.result["drift"]["dataset_drift"] else ""),
                ", ".join(w.result["drift"]["drifted"][:4]),
                " ".join(
                    f"{k}={_metric(metric_value(w.result, k))}" for k in w.result.get("metrics", {})
                ),
            )
            for w in windows
        ],
    )
    if alerts:
        table(
            "open alerts",
            ["id", "rule", "severity", "raised (UTC)", "message"],
            [(a.id, a.rule or "-", a.severity, when(a.created_at), a.message) for a in alerts],
        )
    else:
        click.echo("no open alerts")


def _metric(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else str(value)  # inf, nan


@monitor.command("list")
@click.option("--project", "-p", default=None)
@json_option
def list_monitors(project: str | None, as_json: bool) -> None:
    """Monitors and what they watch."""
    found = client().list_monitors(project)
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} monitors",
        ["project", "name", "deployment", "reference", "window"],
        [
            (
                m.project,
                m.name,
                m.deployment,
                m.reference,
                f"{m.config['window_seconds']} s"
                if m.config.get("window_seconds")
                else f"{m.config['window_rows']} rows",
            )
            for m in found
        ],
    )


@monitor.command("report")
@click.argument("name")
@click.option("--output", "-o", default=None, help="Write the HTML report here.")
@click.option("--project", "-p", default=None)
@json_option
def report(name: str, output: str | None, project: str | None, as_json: bool) -> None:
    """An offline HTML report (or JSON): drift and metrics over the windows, the newest
    window's features against the reference, fairness, alerts."""
    from setpoint.monitoring.report import report_html, report_json

    if as_json and output:
        raise click.UsageError("give --output FILE.html or --json (on stdout), not both")
    c = client()
    p = _project(project)
    m = c.get_monitor(name, p)
    windows = c.list_monitor_windows(name, p)
    alerts = c.list_alerts(p, name, None, 1000)
    if as_json:
        print_json(report_json(m, windows, alerts))
        return
    if not output:
        raise click.UsageError("give --output FILE.html (or --json)")
    write_file(output, report_html(m, windows, alerts))
    click.echo(f"wrote {output}: {len(windows)} window(s), {len(alerts)} alert(s)")


@monitor.command("resolve")
@click.argument("alert_id", type=click.IntRange(1, INT64_MAX))
@click.option("--project", "-p", default=None)
def resolve(alert_id: int, project: str | None) -> None:
    """Mark alert ALERT_ID resolved (monitors resolve theirs when the rule holds again)."""
    client().resolve_alert(alert_id, _project(project), actor())
    click.echo(f"resolved alert {alert_id}")
