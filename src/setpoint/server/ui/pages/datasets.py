"""Datasets: every dataset, one dataset's versions, a version's profile, validations and
lineage, and the diff of two versions' stored profiles."""

from __future__ import annotations

import itertools
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.responses import Response

from setpoint.core.errors import (
    DatasetNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProjectNotFoundError,
)
from setpoint.core.names import is_whole
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import page, redirect, render

QUANTILE_LABELS = {
    "0.01": "p1",
    "0.05": "p5",
    "0.25": "p25",
    "0.5": "median",
    "0.75": "p75",
    "0.95": "p95",
    "0.99": "p99",
}
STATS = ("nulls", "distinct", "min", "max", "mean", "std")
MAX_LINEAGE_NAMES = 50  # runs named on a version page; beyond, their ids stand for them
SHOWN_CATEGORIES = 20
MAX_CHECKED = 100  # versions whose latest validation the versions page shows


@page("/datasets")
def datasets_table(p: Page) -> Response:
    project = p.arg("project")
    projects = p.call("list_projects")
    if project and project not in {pr.name for pr in projects}:
        raise ProjectNotFoundError(f"no project named {project!r}", field="project")
    found, hidden = p.across(
        "list_datasets", [project] if project else [pr.name for pr in projects]
    )
    if project and hidden:
        raise PermissionDeniedError(
            f"you have no role in project {project!r} that lets you see its datasets",
            field="project",
        )
    found.sort(key=lambda d: (d.project, d.name))
    return render(
        p, "datasets/table.html", datasets=found, projects=projects, project=project, hidden=hidden
    )


@page("/datasets/{project}")
def project_datasets(p: Page) -> Response:
    """A shortened address: the list of one project's datasets."""
    return redirect(p.url("/datasets", project=p.path_params["project"]))


@page("/datasets/{project}/{name}")
def versions_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    versions = p.call("list_dataset_versions", name=name, project=project)
    latest_check = {  # the newest versions' only: one query each
        v.version: _last(p.call("list_validations", name=name, version=v.version, project=project))
        for v in versions[-MAX_CHECKED:]
    }
    newest = list(reversed(versions))
    return render(
        p,
        "datasets/versions.html",
        project=project,
        name=name,
        versions=newest,
        checks=latest_check,
        default_a=newest[1].version if len(newest) > 1 else newest[0].version,
        default_b=newest[0].version,
    )


def _last(records: list[Any]) -> Any:
    return records[-1] if records else None


# Registered before the version page so "diff" is not read as a version number.
@page("/datasets/{project}/{name}/diff")
def diff_page(p: Page) -> Response:
    from setpoint.data.drift import DRIFT_THRESHOLD, diff_profiles

    project, name = p.path_params["project"], p.path_params["name"]
    versions = p.call("list_dataset_versions", name=name, project=project)
    numbers = [v.version for v in versions]
    high = max(numbers)
    b = p.int_arg("b", numbers[-1], high=high)
    a = p.int_arg("a", numbers[-2] if len(numbers) > 1 else b, high=high)
    threshold = _threshold(p.arg("threshold"), DRIFT_THRESHOLD)
    by_number = {v.version: v for v in versions}
    for n in (a, b):
        if n not in by_number:
            raise DatasetNotFoundError(
                f"dataset {project}/{name} has no version {n}", field="version"
            )
    va, vb = by_number[a], by_number[b]
    profiles = [_profile(p, v) for v in (va, vb)]
    result = None
    missing = [v.ref for v, prof in zip((va, vb), profiles, strict=True) if prof is None]
    if not missing:
        pa, pb = profiles
        assert pa is not None and pb is not None
        result = diff_profiles(pa, pb, from_ref=va.ref, to_ref=vb.ref, threshold=threshold)
        result["columns"].sort(key=lambda c: (-(c["drift"] or 0), c["name"]))
        for c in result["columns"]:
            c["stat_rows"] = [
                (key, pair[0], pair[1], pair[0] != pair[1])
                for key in STATS
                if (pair := c["stats"].get(key)) is not None
            ]
            h = c["histogram"]
            c["bars"] = (
                None
                if h is None
                else (
                    list(zip(h["edges"], h["from"], strict=True)),
                    list(zip(h["edges"], h["to"], strict=True)),
                )
            )
    return render(
        p,
        "datasets/diff.html",
        project=project,
        name=name,
        versions=list(reversed(versions)),
        a=va,
        b=vb,
        threshold=threshold,
        result=result,
        missing=missing,
    )


def _threshold(text: str, default: float) -> float:
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise InvalidArgumentError(
            f"threshold must be a number from 0 to 1, not {text!r}", field="threshold"
        )
    return value


@page("/datasets/{project}/{name}/{version}")
def version_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    number = _version(p.path_params["version"], project, name)
    v = p.call("get_dataset_version", name=name, project=project, version=number)
    prof = _profile(p, v)
    validations = p.call("list_validations", name=name, version=number, project=project)
    files = (
        p.call("list_dataset_files", name=name, version=number, project=project)
        if v.kind == "files"
        else []
    )
    edges = p.call("get_lineage", kind="dataset_version", id=v.ref)
    return render(
        p,
        "datasets/version.html",
        v=v,
        profile=prof,
        columns=[_column(c) for c in prof["columns"]] if prof else [],
        validations=list(reversed(validations)),  # newest first
        files=files,
        links=_lineage(p, v.ref, edges),
        show=show,
    )


def _version(text: str, project: str, name: str) -> int:
    if not is_whole(text, 9):
        raise DatasetNotFoundError(
            f"dataset {project}/{name} has no version {text!r}", field="version"
        )
    return int(text)


def _profile(p: Page, v: Any) -> dict[str, Any] | None:
    """The profile stored with a table version; None for files and for versions made
    before profiles were stored (the page says so instead of reading the data)."""
    if v.kind != "table" or v.profile_digest is None:
        return None
    with tempfile.TemporaryDirectory(prefix="setpoint-ui-") as tmp:
        path = p.call(
            "download_blob", digest=v.profile_digest, dest=os.path.join(tmp, "profile.json")
        )
        with open(path, "rb") as fh:
            found: dict[str, Any] = orjson.loads(fh.read())
    return found


def _column(c: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one profiled column."""
    total = c["count"] + c["nulls"]
    rows: list[tuple[str, Any]] = [
        ("type", c["type"]),
        ("values", c["count"]),
        ("nulls", c["nulls"]),
        ("nulls %", f"{100 * c['nulls'] / total:.1f}%" if total else "—"),
        ("distinct", _distinct(c)),
    ]
    for key in ("nan", "pos_inf", "neg_inf"):
        if c.get(key):
            rows.append((key.replace("_", " "), c[key]))
    for key in ("min", "max", "mean", "std"):
        if c.get(key) is not None:
            rows.append((key, c[key]))
    length = c.get("length")
    if length:
        rows.append(("length", f"{length['min']}–{length['max']} (mean {length['mean']:.1f})"))
    quantiles = [
        (QUANTILE_LABELS.get(q, q), value) for q, value in (c.get("quantiles") or {}).items()
    ]
    histogram = c.get("histogram")
    bars = None
    if histogram and histogram.get("counts"):
        bars = list(
            zip(_bin_labels(histogram["edges"], c["kind"]), histogram["counts"], strict=False)
        )
    top = [(str(k), n) for k, n in (c.get("top") or [])[:SHOWN_CATEGORIES]]
    return {
        "name": c["name"],
        "type": c["type"],
        "kind": c["kind"],
        "count": c["count"],
        "nulls": c["nulls"],
        "distinct": _distinct(c),
        "min": c.get("min"),
        "max": c.get("max"),
        "mean": c.get("mean"),
        "std": c.get("std"),
        "rows": rows,
        "quantiles": quantiles,
        "bars": bars,
        "top": top,
        "top_exact": c.get("categories_exact", True),
    }


def _distinct(c: dict[str, Any]) -> str:
    if c.get("distinct") is None:
        return "—"
    return ("" if c.get("distinct_exact") else "≈") + f"{c['distinct']:,}"


def _bin_labels(edges: list[float], kind: str) -> list[str]:
    def one(x: float) -> str:
        if kind == "temporal":  # stored as epoch seconds
            return datetime.fromtimestamp(x, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"{x:.4g}"

    if len(edges) == 2 and edges[0] == edges[1]:
        return [f"= {one(edges[0])}"]
    return [f"{one(lo)} – {one(hi)}" for lo, hi in itertools.pairwise(edges)]


def _lineage(p: Page, ref: str, edges: list[Any]) -> list[dict[str, Any]]:
    """Each edge as the node at its other end, what it did, and a readable label (a run's
    name where the caller may read the run)."""
    out = []
    for i, e in enumerate(edges):
        incoming = e.target_kind == "dataset_version" and e.target_id == ref
        kind, ident = (e.source_kind, e.source_id) if incoming else (e.target_kind, e.target_id)
        label = ident
        if kind == "run" and i < MAX_LINEAGE_NAMES:
            try:
                label = p.call("get_run", run_id=ident).name
            except (NotFoundError, PermissionDeniedError):
                pass
        out.append(
            {
                "kind": kind,
                "id": ident,
                "label": label,
                "relation": e.relation,
                "incoming": incoming,
                "at": e.created_at,
            }
        )
    return out


def show(value: Any) -> str:
    """An observed or expected value of a check as text (numbers left to the ``num``
    filter's rules, lists joined)."""
    from setpoint.server.ui.templating import num

    if isinstance(value, list):
        return ", ".join(show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {show(v)}" for k, v in value.items())
    if value is None:
        return "null"
    return num(value)
