"""Shared CLI output: rich tables for people, ``--json`` for scripts, timestamps as text."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def lifecycle_option(things: str) -> Any:
    """``--lifecycle active|deleted|all`` of a listing of ``things`` (plural)."""
    return click.option(
        "--lifecycle",
        type=click.Choice(["active", "deleted", "all"]),
        default="active",
        show_default=True,
        help=f"{things.capitalize()} not deleted, deleted {things}, or both.",
    )


class Finite(click.FloatRange):
    """A number within the range, and never NaN or infinite (``--poll nan`` means nothing)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout; NaN and infinities as "nan", "inf", "-inf" (as the
    REST API writes them), not null."""
    import orjson

    from setpoint.api.wire import finite_json

    sys.stdout.write(
        orjson.dumps(
            finite_json(obj),
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
            default=_default,
        ).decode()
        + "\n"
    )


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While ``active`` (``--json``): what user code prints (a pipeline's module and steps,
    their worker processes) goes to stderr, so that stdout carries the JSON only. Moved at
    the file descriptor too, for processes started meanwhile and for native code."""
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no stdout (closed): nothing of it to keep clean
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError


def when(ms: int | None) -> str:
    if ms is None:
        return ""
    try:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):  # beyond the calendar (an imported 10**17)
        return f"{ms} ms since 1970"


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    s = (end - start) / 1000
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


def number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    keep_whole: Sequence[str] = (),
) -> None:
    """Print rows under ``columns``; cells of ``keep_whole`` columns are never folded. Every
    text is printed as it is: ``[red]`` in a column name or a value is not styling."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(
        title=None if title is None else Text(terminal_safe(title)),
        show_lines=False,
        header_style="bold",
    )
    for i, c in enumerate(columns):
        # The first column names the row: never folded mid-word.
        t.add_column(Text(terminal_safe(c)), overflow="fold", no_wrap=i == 0 or c in keep_whole)
    for r in rows:
        t.add_row(*[Text(terminal_safe(number(v))) for v in r])
    Console().print(t)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with the control characters it holds (ESC, which starts a terminal's escape
    sequences, a carriage return, NUL...) shown as escapes (``\\x1b``), not sent to the
    terminal: values come from data and from other users. Line breaks and tabs stay."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def actor() -> str | None:
    """Who runs this command, as the audit trail names them (a server uses its token's user)."""
    from setpoint.tracking.environment import current_user

    return current_user()


def client() -> Any:
    from setpoint.client import sdk

    return sdk.client()


def local_client() -> Any:
    """The local client (commands that manage the store itself cannot run remotely)."""
    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings

    return LocalClient(Settings.from_env()).open()


def stderr_progress(*columns: Any, transient: bool = False) -> Any:
    """A rich progress bar of ``columns`` on stderr, drawn only when stderr is a terminal
    (piped or redirected output stays clean)."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(*columns, console=console, disable=not console.is_terminal, transient=transient)


def show_error(exc: Any) -> None:
    """A setpoint error as the command line says it: one line naming the field (more lines,
    indented, only where the message has them)."""
    where = f" ({exc.field})" if exc.field else ""
    lines = terminal_safe(exc.message).splitlines() or [""]
    click.echo(f"error{where}: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(f"  {line}", err=True)


def _mode_for(target: str) -> int:
    """The permissions a written file gets: those of the file it replaces, else what the
    umask leaves of 0666, as a shell's ``>`` gives."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_file(path: str, data: str | bytes) -> None:
    """Write an output file the user named, whole or not at all (through a temporary file
    beside it); a path that cannot be written is one line and exit 1."""
    raw = data.encode() if isinstance(data, str) else data
    target = os.path.abspath(path)
    tmp = None
    try:
        if os.path.isdir(target):
            raise IsADirectoryError(21, "Is a directory", path)
        fd, tmp = tempfile.mkstemp(
            dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.", suffix=".tmp"
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, _mode_for(target))  # mkstemp's 0600 is not what `>` would give
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            os.unlink(tmp)
