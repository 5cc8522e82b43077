"""``setpoint schedule`` and ``setpoint scheduler``: run pipelines on a cron schedule or when a
dataset gets a new version."""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

import click

from setpoint.cli.output import Finite, actor, client, json_option, print_json, table, when


@click.group()
def schedule() -> None:
    """Schedules of pipelines: on a cron expression (UTC), on each new dataset version, or on
    a monitor's alerts."""


def _project(project: str | None) -> str:
    from setpoint.core.config import default_project

    return default_project(project)


def _project_of(name: str, project: str | None) -> str:
    """The project of schedule NAME: -p, else the one project with a schedule of that name
    (a schedule goes to its pipeline's project), else SETPOINT_PROJECT, else default."""
    if project is not None:
        return project
    found = sorted({s.project for s in client().list_schedules() if s.name == name})
    if len(found) > 1 and _project(None) not in found:
        from setpoint.core.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"projects {', '.join(found)} each have a schedule {name!r}: give --project",
            field="project",
        )
    return found[0] if len(found) == 1 else _project(None)


def run_params(pipe: Any, items: tuple[str, ...]) -> dict[str, Any]:
    """``--param KEY=VALUE`` items as the parameters of the runs a schedule of ``pipe`` makes.
    Each of them runs `pipeline run` with these: what could not run (a required parameter
    missing, a value that cannot be a cache key) is refused now, before anything is stored."""
    from setpoint.cli.pipeline import _params, require_params
    from setpoint.pipelines.cache import literal_hash

    values = _params(pipe, items)
    require_params(pipe, values)
    for key, value in pipe.build(**values).params.items():
        literal_hash(value, what=f"parameter {key!r}")
    return values


@schedule.command("add")
@click.argument("target")
@click.option("--cron", default=None, help="Cron expression in UTC, e.g. '0 3 * * *'.")
@click.option("--on-dataset", "dataset", default=None, help="Run on each new version of it.")
@click.option(
    "--on-alert",
    "alert",
    default=None,
    help="Run when this monitor of the project raises an alert ('*': any monitor).",
)
@click.option("--param", "params", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--name", default=None, help="Schedule name (default: the pipeline's).")
@click.option(
    "--project",
    "-p",
    default=None,
    help="Project (default: the pipeline's, else SETPOINT_PROJECT, else default).",
)
def add(
    target: str,
    cron: str | None,
    dataset: str | None,
    alert: str | None,
    params: tuple[str, ...],
    name: str | None,
    project: str | None,
) -> None:
    """Run TARGET (FILE.py:PIPELINE) when the cron expression fires, the dataset changes,
    or a monitor raises an alert."""
    from setpoint.cli.pipeline import _load, absolute

    pipe = _load(target)
    values = run_params(pipe, params)
    s = client().add_schedule(
        name or pipe.name,
        absolute(target),
        # the project its runs go to, as `pipeline run` chooses it: runs of the schedule and
        # runs by hand share the project, and so their cache
        _project(project or pipe.project),
        values,
        cron,
        dataset,
        actor(),
        alert,
        # its runs start here, as the pipeline does when run by hand from here (relative
        # paths in it mean the same)
        workdir=os.getcwd(),
    )
    if s.cron:
        when_text = f"cron {s.cron} (UTC)"
    elif s.dataset:
        when_text = f"each new version of {s.dataset}"
    else:
        monitor = "any monitor" if s.alert == "*" else f"monitor {s.alert}"
        when_text = f"each alert of {monitor} in {s.project}"
    click.echo(f"scheduled {s.project}/{s.name}: {s.target} on {when_text}")


@schedule.command("list")
@click.option("--project", "-p", default=None, help="Only this project.")
@json_option
def list_schedules(project: str | None, as_json: bool) -> None:
    """Schedules, their newest occurrence (its status, and its run) and, for a cron
    schedule, when it is due next."""
    from setpoint.core.cron import parse_cron
    from setpoint.core.errors import InvalidArgumentError

    c = client()
    found = c.list_schedules(project)
    if as_json:
        print_json(found)
        return
    now = int(time.time() * 1000)
    rows = []
    for s in found:
        last = c.list_occurrences(s.name, s.project, 1) if s.last_due_at is not None else []
        upcoming = ""
        if s.cron and s.enabled:
            try:
                upcoming = when(parse_cron(s.cron).next_after(max(now, s.last_due_at or 0)))
            except InvalidArgumentError:  # a cron stored before such were refused
                upcoming = "never"
        rows.append(
            (
                s.project,
                s.name,
                s.target,
                s.cron or (f"new version of {s.dataset}" if s.dataset else f"alert of {s.alert}"),
                "yes" if s.enabled else "no",
                when(last[0].due_at) if last else "",
                last[0].status if last else "",
                (last[0].run_id or "") if last else "",
                upcoming,
            )
        )
    table(
        f"{len(found)} schedules",
        [
            "project",
            "name",
            "target",
            "when",
            "enabled",
            "last (UTC)",
            "status",
            "run",
            "next (UTC)",
        ],
        rows,
    )


@schedule.command("remove")
@click.argument("name")
@click.option("--project", "-p", default=None, help="Project (default: the schedule's).")
def remove(name: str, project: str | None) -> None:
    """Disable schedule NAME (its history stays; `schedule add` with its name enables it
    again)."""
    project = _project_of(name, project)
    client().remove_schedule(name, project, actor())
    click.echo(f"disabled {project}/{name}")


MAX_HISTORY = 10_000  # occurrences the store returns at most


@schedule.command("history")
@click.argument("name")
@click.option("--project", "-p", default=None, help="Project (default: the schedule's).")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_HISTORY),
    default=100,
    show_default=True,
    help=f"Show at most this many, the newest (1 to {MAX_HISTORY}).",
)
@json_option
def history(name: str, project: str | None, limit: int, as_json: bool) -> None:
    """Occurrences of schedule NAME, newest first: run, missed, failed."""
    c = client()
    project = _project_of(name, project)
    found = c.list_occurrences(name, project, min(limit + 1, MAX_HISTORY))
    more = len(found) - limit
    if more > 0:  # how many: counted up to what the store returns at most
        more = len(c.list_occurrences(name, project, MAX_HISTORY)) - limit
    found = found[:limit]
    if as_json:
        print_json(found)
    else:
        table(
            f"{name}: {len(found)} occurrences",
            ["occurrence", "status", "run", "by", "error"],
            [
                (o.occurrence, o.status, o.run_id or "", o.claimed_by or "", o.error or "")
                for o in found
            ],
        )
    if more > 0:  # on stderr: the JSON stays the list it was
        count = f"{more}{'+' if limit + more >= MAX_HISTORY else ''}"
        click.echo(f"… {count} more; --limit to see them", err=True)


@click.command()
@click.option(
    "--interval",
    type=Finite(min=1, max=86400),
    default=30.0,
    show_default=True,
    help="Seconds between passes (1 to 86400).",
)
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option(
    "--monitors/--no-monitors",
    default=True,
    show_default=True,
    help="Also run every monitor each pass (before the schedules, so its alerts act at once).",
)
def scheduler(interval: float, once: bool, monitors: bool) -> None:
    """Run monitors and due schedules; safe to run twice (each occurrence runs once).
    SIGTERM or Ctrl-C stops the pipeline running, records its occurrence failed, and exits."""
    import threading

    from setpoint.client.scheduler import SchedulerStopped, stop_on_signals

    restore = None
    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        restore = stop_on_signals()
    try:
        _loop(interval, once, monitors)
    except SchedulerStopped as exc:
        click.echo(f"scheduler stopped ({exc.signal})", err=True)
    finally:
        if restore is not None:
            restore()


RECONCILE_EVERY_S = 600.0  # how often occurrences of killed schedulers are looked for


def _loop(interval: float, once: bool, monitors: bool) -> None:
    from setpoint.client.scheduler import claimant, reconcile, run_in_subprocess, tick
    from setpoint.core.errors import SetpointError

    c = client()
    host = socket.gethostname()
    who = claimant(host)
    click.echo(f"setpoint scheduler · {c.describe()} · {who}", err=True)
    # results the store could not take yet, recorded by the next pass (a single pass has
    # none: its error ends it, and the command fails)
    unfinished: list[dict[str, Any]] | None = None if once else []
    said: list[dict[str, Any]] = []  # this pass's lines, printed as each occurrence ends

    def report(d: dict[str, Any]) -> None:
        said.append(d)
        # the run to look at or resume, and why it failed
        why = (d.get("error") or "").split("\n", 1)[0]
        extra = " ".join(str(x) for x in (d.get("run_id"), why) if x)
        note = f" ({d['note']})" if d.get("note") else ""
        click.echo(f"{d['schedule']} {d['occurrence']}: {d['status']} {extra}".rstrip() + note)

    reconciled = None
    while True:
        said.clear()
        try:
            if reconciled is None or time.monotonic() - reconciled >= RECONCILE_EVERY_S:
                for d in reconcile(c, host, me=who):
                    run = f" {d['run_id']}" if d["run_id"] else ""  # the run to resume
                    click.echo(f"{d['schedule']} {d['occurrence']}: failed{run}: {d['error']}")
                reconciled = time.monotonic()
            if monitors:
                _run_monitors(c)
            now = int(time.time() * 1000)
            done = tick(c, now, who, run_in_subprocess, report, unfinished=unfinished)
            for d in done:
                if not any(d is x for x in said):
                    report(d)
        except SetpointError as exc:
            if once:
                raise
            # the store may be restarting: say so, and try again next pass
            click.echo(f"pass failed: {exc.message.splitlines()[0]}", err=True)
        if once:
            if any(d["status"] == "failed" for d in said):  # cron and CI see it
                sys.exit(1)
            return
        time.sleep(interval)


def _run_monitors(c: object) -> None:
    from setpoint.client import sdk
    from setpoint.core.errors import InvalidArgumentError, NotFoundError, SetpointError

    for m in c.list_monitors():  # type: ignore[attr-defined]
        if not m.enabled:
            continue
        try:
            done = sdk.run_monitor(m.name, project=m.project)
        except (InvalidArgumentError, NotFoundError) as exc:  # this monitor's, not the pass's
            click.echo(f"monitor {m.project}/{m.name}: skipped: {exc.message}", err=True)
            continue
        except SetpointError:
            raise  # the store's: the pass fails, and the next one tries again
        except Exception as exc:  # a fault of this monitor's must not stop the others
            click.echo(
                f"monitor {m.project}/{m.name}: failed: {type(exc).__name__}: {exc}", err=True
            )
            continue
        if done["computed"] or done["raised"] or done["resolved"]:
            click.echo(
                f"monitor {m.project}/{m.name}: {len(done['computed'])} window(s), "
                f"{len(done['raised'])} alert(s) raised, {len(done['resolved'])} resolved"
            )
