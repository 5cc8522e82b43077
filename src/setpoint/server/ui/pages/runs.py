"""Runs: the table (filter, sort, columns, pages), one run's page, comparing runs, and the
metric series behind their charts."""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from typing import Any

from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from setpoint.core.errors import InvalidArgumentError, SetpointError
from setpoint.server.ui.charts import reduce_series
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import data, json_response, page, render

PAGE_SIZE = 50
DEFAULT_COLUMNS = 8  # metrics and params shown when none are chosen
MAX_COMPARE = 10
PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 50
MAX_TABLE_PREVIEW = 16 * 1024 * 1024  # a larger table is offered as a download only
MAX_EDGES = 200  # lineage edges listed on a run page
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
TEXT_SUFFIXES = {
    ".txt",
    ".log",
    ".md",
    ".json",
    ".yaml",
    ".yml",
    ".py",
    ".toml",
    ".cfg",
    ".ini",
    ".sql",
    ".sh",
    ".html",
    ".xml",
}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet"}


@page("/runs")
def runs_table(p: Page) -> Response:
    project = p.arg("project")
    text = p.arg("filter")
    order = p.arg("order")
    number = p.int_arg("page", 1, high=100_000)
    chosen = [
        c for c in p.query.getlist("col") if c.split(".", 1)[0] in ("metrics", "params", "tags")
    ]
    projects = p.call("list_projects")
    error = None
    runs: list[Any] = []
    more = False
    scope = [project] if project else p.readable(projects)
    try:
        from setpoint.tracking.runs import page_token_at

        if scope != []:  # a caller with no role anywhere sees no runs
            result = p.call(
                "search_runs",
                project=scope,
                filter=text or None,
                order_by=[order] if order else None,
                max_results=PAGE_SIZE,
                page_token=page_token_at((number - 1) * PAGE_SIZE) if number > 1 else None,
            )
            runs, more = result.runs, result.next_page_token is not None
    except InvalidArgumentError as exc:
        error = exc
    available = _keys(runs)
    columns = chosen or (
        [f"metrics.{k}" for k in available["metrics"][:DEFAULT_COLUMNS]]
        + [
            f"params.{k}"
            for k in available["params"][: max(DEFAULT_COLUMNS - len(available["metrics"]), 3)]
        ]
    )
    return render(
        p,
        "runs/table.html",
        status=error.status if error else 200,
        runs=runs,
        projects=projects,
        project=project,
        filter_text=text,
        order=order,
        number=number,
        more=more,
        error=error,
        columns=columns,
        available=available,
        cell=_cell,
        sort_link=lambda col: _sort_link(p, order, col),
        first=(number - 1) * PAGE_SIZE + 1,
    )


def _keys(runs: list[Any]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {"metrics": set(), "params": set(), "tags": set()}
    for r in runs:
        out["metrics"].update(r.metrics)
        out["params"].update(r.params)
        out["tags"].update(r.tags)
    return {k: sorted(v) for k, v in out.items()}


def _cell(run: Any, column: str) -> Any:
    kind, _, key = column.partition(".")
    return getattr(run, kind).get(key)


def _sort_link(p: Page, order: str, column: str) -> tuple[str, str]:
    """The link that sorts by ``column`` (descending first, then ascending) and the
    column's aria-sort state."""
    kind, _, key = column.partition(".")
    if key and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        column = f"{kind}.`{key}`"  # keys like val/loss are quoted in the filter language
    current, _, direction = order.rpartition(" ") if " " in order else (order, "", "")
    if current == column:
        new = f"{column} ASC" if direction.upper() == "DESC" else f"{column} DESC"
        state = "descending" if direction.upper() == "DESC" else "ascending"
    else:
        new, state = f"{column} DESC", "none"
    return p.with_query(order=new, page=None), state


@page("/runs/{run_id}")
def run_page(p: Page) -> Response:
    run = p.call("get_run", run_id=p.path_params["run_id"])
    artifacts = p.call("list_artifacts", run_id=run.id)
    edges = p.call("get_lineage", kind="run", id=run.id)
    children = p.call(
        "search_runs",
        project=[run.project],
        filter=f"parent_id = '{run.id}'",
        order_by=["start_time ASC"],
        max_results=200,
    ).runs
    previews = {a.path: _preview(p, run.id, a) for a in artifacts[:20]}
    # a run's own artifacts are in the artifacts table: not again as lineage
    edges = [e for e in edges if e.target_kind != "artifact"][:MAX_EDGES]
    return render(
        p,
        "runs/run.html",
        run=run,
        artifacts=artifacts,
        previews=previews,
        inputs=[e for e in edges if e.source_kind == "run" and e.relation == "consumed"],
        outputs=[e for e in edges if e.source_kind == "run" and e.relation == "produced"],
        other_edges=[e for e in edges if e.source_kind != "run"],
        children=children,
    )


def _preview(p: Page, run_id: str, artifact: Any) -> dict[str, Any] | None:
    """What the run page shows of an artifact: an image link, the start of a text, or the
    first rows of a table; None for other files (they are offered as downloads)."""
    suffix = os.path.splitext(artifact.path)[1].lower()
    if suffix in IMAGE_TYPES:
        return {"kind": "image"}
    if suffix not in TEXT_SUFFIXES | TABLE_SUFFIXES:
        return None
    if artifact.size > (MAX_TABLE_PREVIEW if suffix in TABLE_SUFFIXES else 8 * PREVIEW_BYTES):
        return {"kind": "text", "text": None, "truncated": True}
    try:
        with _downloaded(p, run_id, artifact.path) as path:
            if suffix in TABLE_SUFFIXES:
                return {"kind": "table", **_table(path, suffix)}
            with open(path, "rb") as fh:
                raw = fh.read(PREVIEW_BYTES + 1)
    except SetpointError as exc:
        return {"kind": "error", "message": str(exc)}
    except Exception as exc:  # a malformed CSV or Parquet file: say so, keep the page
        return {"kind": "error", "message": f"cannot read it as a table: {exc}"}
    return {
        "kind": "text",
        "text": raw[:PREVIEW_BYTES].decode("utf-8", "replace"),
        "truncated": len(raw) > PREVIEW_BYTES,
    }


def _table(path: str, suffix: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if suffix == ".parquet":
        f = pq.ParquetFile(path)
        rows = f.metadata.num_rows
        table = next(f.iter_batches(batch_size=PREVIEW_ROWS), None)
        t = pa.Table.from_batches([table]) if table is not None else f.schema_arrow.empty_table()
    else:
        opts = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
        t = pacsv.read_csv(path, parse_options=opts)
        rows = t.num_rows
        t = t.slice(0, PREVIEW_ROWS)
    return {"columns": t.column_names, "rows": t.to_pylist(), "total": rows}


def _one_file(p: Page, run_id: str, path: str) -> Any:
    """The artifact at exactly ``path`` (not a folder of them), or ArtifactNotFoundError:
    checked before anything is copied."""
    from setpoint.core.errors import ArtifactNotFoundError

    for a in p.call("list_artifacts", run_id=run_id, prefix=path):
        if a.path == path:
            return a
    raise ArtifactNotFoundError(f"run {run_id} has no artifact file {path!r}", field="path")


class _downloaded:
    """An artifact fetched (and verified) into a temporary folder, removed afterwards."""

    def __init__(self, p: Page, run_id: str, path: str) -> None:
        self.p, self.run_id, self.path = p, run_id, path
        self.tmp = ""

    def __enter__(self) -> str:
        self.tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
        files = self.p.call("download_artifact", run_id=self.run_id, path=self.path, dest=self.tmp)
        return str(next(f for f in files if os.path.basename(f) == os.path.basename(self.path)))

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@page("/runs/{run_id}/files/{path:path}")
def artifact_file(p: Page) -> Response:
    """An artifact's bytes: images inline (for previews), anything else as a download. No
    artifact is ever rendered as a page of this server (an HTML or SVG file could run script)."""
    run_id, path = p.path_params["run_id"], p.path_params["path"]
    _one_file(p, run_id, path)
    tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
    try:
        files = p.call("download_artifact", run_id=run_id, path=path, dest=tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    suffix = os.path.splitext(path)[1].lower()
    image = IMAGE_TYPES.get(suffix)
    name = os.path.basename(path)
    chosen = next((f for f in files if os.path.basename(f) == os.path.basename(path)), files[0])
    return FileResponse(
        chosen,
        # anything but an image is bytes to save: never a page, script or style of this server
        media_type=image or "application/octet-stream",
        headers={
            "content-security-policy": "sandbox; default-src 'none'",
            "x-content-type-options": "nosniff",
            "content-disposition": ("inline" if image else "attachment")
            + f"; filename*=UTF-8''{_quote(name)}",
        },
        background=BackgroundTask(shutil.rmtree, tmp, True),
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@page("/compare")
def compare(p: Page) -> Response:
    ids = list(dict.fromkeys(i for i in p.query.getlist("run") if i))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidArgumentError(
            f"choose 2 to {MAX_COMPARE} runs to compare (tick them in the runs table), "
            f"not {len(ids)}",
            field="run",
        )
    runs = [p.call("get_run", run_id=i) for i in ids]
    only_diff = p.arg("diff") == "1"

    def rows(kind: str) -> list[tuple[str, list[Any], bool]]:
        keys = sorted({k for r in runs for k in getattr(r, kind)})
        out = []
        for k in keys:
            values = [getattr(r, kind).get(k) for r in runs]
            differs = len({repr(v) for v in values}) > 1
            if differs or not only_diff:
                out.append((k, values, differs))
        return out

    metric_keys = sorted({k for r in runs for k in r.metrics})
    return render(
        p,
        "runs/compare.html",
        runs=runs,
        params=rows("params"),
        metrics=rows("metrics"),
        tags=rows("tags"),
        metric_keys=metric_keys,
        only_diff=only_diff,
        chart_url=lambda key: p.url("/ui/data/metric", run=ids, key=key),
    )


@data("/ui/data/metric")
def metric_series(p: Page) -> Response:
    """The series of metric ``key`` of each ``run``, reduced to about ``width`` buckets
    (first, min, max and last point of each)."""
    ids = list(dict.fromkeys(i for i in p.query.getlist("run") if i))[:MAX_COMPARE]
    key = p.query.get("key", "")  # as it is: a key may begin or end with a space
    if not ids or not key:
        raise InvalidArgumentError("give run=<id> (one or more) and key=<metric>", field="key")
    width = p.int_arg("width", 800, low=50, high=4000)
    series = []
    total = 0
    for run_id in ids:
        run = p.call("get_run", run_id=run_id)
        if key not in run.metrics:
            continue
        p.check("get_metric_history", run_id=run_id, key=key)
        steps, _, values = p.ui.client.runs.metric_arrays(run_id, key)
        total += len(steps)
        x, y = reduce_series(steps, values, width)
        series.append(
            {
                "name": run.name,
                "run": run_id,
                "x": x.tolist(),
                "y": [v if math.isfinite(v) else None for v in y.tolist()],  # gaps in the line
                "points": len(steps),
            }
        )
    return json_response(
        {
            "key": key,
            "series": series,
            "total": total,
            "x_label": "step",
            "empty": f"No {key} values.",
        }
    )
