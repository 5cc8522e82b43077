"""Entry point: a click group whose subcommands are imported only when invoked.

``setpoint --help`` must stay fast, so this module imports click and nothing heavy; errors
from setpoint become one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# name -> (module, attribute, one-line help shown by `setpoint --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "quickstart": (
        "setpoint.cli.quickstart",
        "quickstart",
        "Run a small tracked experiment end to end on this machine.",
    ),
    "runs": ("setpoint.cli.runs", "runs", "List, show and compare runs."),
    "data": ("setpoint.cli.data", "data", "Version, profile, validate and diff datasets."),
    "models": (
        "setpoint.cli.models",
        "models",
        "Registered models: versions, aliases, gated promotion, approvals, rollback.",
    ),
    "pipeline": (
        "setpoint.cli.pipeline",
        "pipeline",
        "Run pipelines of cached, tracked steps (here, in processes or on Ray); explain, "
        "sweep, resume, compile for Kubeflow.",
    ),
    "step": (
        "setpoint.cli.step",
        "step",
        "Run one step of a pipeline on its own (what a compiled pipeline's tasks do).",
    ),
    "schedule": (
        "setpoint.cli.schedule",
        "schedule",
        "Run pipelines on a cron schedule or when a dataset gets a new version.",
    ),
    "scheduler": (
        "setpoint.cli.schedule",
        "scheduler",
        "Run monitors and due schedules (safe to run twice: each occurrence runs once).",
    ),
    "init": (
        "setpoint.cli.init",
        "init",
        "Write a CI workflow: tests → pipeline → gates → deploy.",
    ),
    "serve": (
        "setpoint.cli.serve",
        "serve",
        "Serve a model's alias: Open Inference Protocol, canary, shadow, hot reload.",
    ),
    "predict": (
        "setpoint.cli.predict",
        "predict",
        "Score CSV/Parquet files of any size with a registered model (here or on Ray).",
    ),
    "deploy": (
        "setpoint.cli.deploy",
        "deploy",
        "Package a model's alias for serving: a Dockerfile, Kubernetes manifests.",
    ),
    "monitor": (
        "setpoint.cli.monitor",
        "monitor",
        "Watch a deployment for drift, decay and unfairness; alerts, webhooks, retraining.",
    ),
    "import": (
        "setpoint.cli.imports",
        "import_",
        "Copy experiments, runs, artifacts and registered models from an MLflow database.",
    ),
    "audit": ("setpoint.cli.audit", "audit", "List the audit trail and verify its hash chain."),
    "projects": ("setpoint.cli.projects", "projects", "List projects."),
    "server": ("setpoint.cli.server", "server", "Serve the REST API for remote SDK clients."),
    "tokens": ("setpoint.cli.tokens", "tokens", "Create, list and revoke server API tokens."),
    "users": ("setpoint.cli.users", "users", "Users and their roles per project."),
    "db": ("setpoint.cli.db", "db", "Metadata database: upgrade and status."),
    "gc": (
        "setpoint.cli.gc",
        "gc",
        "Remove artifact blobs nothing references (dry run by default).",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="setpoint", prog_name="setpoint")
def cli() -> None:
    """setpoint: versioned data, tracked runs, a gated registry, serving and monitoring.

    Runs on the embedded store under ./.setpoint (or SETPOINT_HOME) unless SETPOINT_URL
    names a server or SETPOINT_DATABASE_URL / SETPOINT_ARTIFACTS_URL name a database and
    an artifact store.
    """


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is: what a command was doing ends as interrupted (a run
    `killed`, its points written) instead of the process vanishing mid-way."""


# The exit code of an interruption (SIGTERM: 143, Ctrl-C: 130) that reached this command.
# An interruption landing in an import leaves that library half-imported, and the code
# cleaning up may then fail on it: the command still ends as interrupted, not with that.
_INTERRUPTED: list[int] = []


def _terminate(signum: int, frame: Any) -> None:
    _INTERRUPTED.append(143)
    raise _Terminated


def _interrupt(signum: int, frame: Any) -> None:
    _INTERRUPTED.append(130)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> Any:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _main(argv)  # (signal handlers belong to the main thread)
    _INTERRUPTED.clear()
    # servers and the scheduler install their own handlers while they run
    previous = signal.signal(signal.SIGTERM, _terminate)
    ctrl_c = signal.getsignal(signal.SIGINT)
    if ctrl_c is signal.default_int_handler:  # (not one a caller installed)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if ctrl_c is signal.default_int_handler:
            signal.signal(signal.SIGINT, ctrl_c)
        _INTERRUPTED.clear()


def _exit_if_interrupted() -> None:
    """An error raised after an interruption is its consequence: end as interrupted. (Only
    on the main thread, whose command the handlers above interrupt.)"""
    import threading

    if _INTERRUPTED and threading.current_thread() is threading.main_thread():
        click.echo("aborted", err=True)
        sys.exit(_INTERRUPTED[0])


def _main(argv: list[str] | None) -> Any:
    from setpoint.core.errors import SetpointError

    try:
        return cli.main(args=argv, prog_name="setpoint", standalone_mode=False)
    except click.exceptions.Abort as exc:  # Ctrl-C or SIGTERM (click makes both an Abort)
        click.echo("aborted", err=True)
        sys.exit(143 if isinstance(exc.__cause__, _Terminated) else 130)
    except click.UsageError as exc:
        if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())) or not exc.ctx:
            exc.show()  # a bare group prints its help
        else:  # one line, as every other error: what is wrong, and where help is
            path = exc.ctx.command_path
            message = exc.format_message().rstrip(".")
            click.echo(f"error: {message} (see {path} --help)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SetpointError as exc:
        if os.environ.get("SETPOINT_DEBUG"):
            raise
        _exit_if_interrupted()
        from setpoint.cli.output import show_error

        show_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except (OSError, OverflowError) as exc:  # a path that cannot be used, a number too large
        if os.environ.get("SETPOINT_DEBUG"):
            raise
        _exit_if_interrupted()
        if isinstance(exc, OSError) and exc.strerror:
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {exc.strerror}{where}", err=True)
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("SETPOINT_DEBUG"):
            raise
        _exit_if_interrupted()
        first = (str(exc).splitlines() or [""])[0]  # one line, as every other error
        if type(exc).__module__.split(".")[0] in _STORAGE_CLIENTS:
            # an object store that refused (no credentials, access denied): its settings
            click.echo(
                f"error (SETPOINT_ARTIFACTS_URL): the artifact store refused: {first} "
                "(check its URL, SETPOINT_ARTIFACTS_OPTIONS and the credentials)",
                err=True,
            )
            sys.exit(1)
        click.echo(
            f"error: unexpected {type(exc).__name__}: {first} (set SETPOINT_DEBUG=1 for a "
            "traceback)",
            err=True,
        )
        sys.exit(1)


# the libraries an fsspec object store speaks through (their errors are the store's answer)
_STORAGE_CLIENTS = frozenset(
    {"botocore", "aiobotocore", "s3fs", "gcsfs", "google", "adlfs", "azure"}
)
