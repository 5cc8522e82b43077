"""The Jinja environment of the UI: templates from the package, autoescaped, with the
filters and link builders every page uses."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from setpoint import __version__
from setpoint.core.names import is_whole


def environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("setpoint.server.ui", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,  # a typo in a template fails its test instead of showing ""
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=ts, ago=ago, duration=duration, num=num, short=short)
    env.globals.update(
        version=__version__,
        run_url=run_url,
        model_url=model_url,
        dataset_url=dataset_url,
        lineage_url=lineage_url,
        node_url=node_url,
        q=quote,
    )
    return env


def ts(ms: int | None) -> str:
    """A time in milliseconds as UTC text."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ms: int | None, now_ms: int | None = None) -> str:
    if ms is None:
        return "—"
    s = ((now_ms if now_ms is not None else time.time() * 1000) - ms) / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{int(s // size)} {unit} ago"
    return "just now" if s < 5 else f"{int(s)} s ago"


def duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    s = ms / 1000
    if s < 1:
        return f"{ms:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def num(x: Any) -> str:
    """A number for a table cell: whole numbers with separators, others to 5 significant
    digits, NaN and infinities by name."""
    if x is None:
        return "—"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.5g}"


def short(text: str | None, n: int = 8) -> str:
    return "" if text is None else text[:n]


def run_url(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


def model_url(project: str, name: str, version: int | None = None) -> str:
    base = f"/models/{quote(project, safe='')}/{quote(name, safe='')}"
    return base if version is None else f"{base}/{version}"


def dataset_url(project: str, name: str, version: int | None = None) -> str:
    base = f"/datasets/{quote(project, safe='')}/{quote(name, safe='')}"
    return base if version is None else f"{base}/{version}"


def lineage_url(kind: str, ident: str) -> str:
    return "/lineage?" + urlencode({"kind": kind, "id": ident})


def node_url(kind: str, ident: str) -> str | None:
    """The page of a lineage node: a run, a dataset version (``[project/]name@version``) or
    a model version (``project/name/version``)."""
    if kind == "run":
        return run_url(ident)
    if kind == "dataset_version" and "@" in ident:
        ref, _, version = ident.rpartition("@")
        project, _, name = ref.rpartition("/")
        if is_whole(version, 9):
            return dataset_url(project or "default", name, int(version))
    if kind == "model_version" and ident.count("/") == 2:
        project, name, version = ident.split("/")
        if is_whole(version, 9):
            return model_url(project, name, int(version))
    return None
