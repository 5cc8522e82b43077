"""Deployments and monitors: traffic split, request rate and latency from the prediction log;
drift per feature, performance and fairness over a monitor's windows; alerts and what they set off."""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi.responses import Response

from setpoint.core.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from setpoint.server.ui.charts import reduce_series
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import action, data, json_response, page, redirect, render
from setpoint.server.ui.templating import duration, ts

DEFAULT_DAYS = 7
MAX_DAYS = 90
# What one page reads of a prediction log at most: the newest files first, until either cap.
MAX_FILES = 400
MAX_ROWS = 1_000_000
MAX_BUCKETS = 120  # time buckets of the rate and latency charts
MAX_ALERTS = 200
TABLE_WINDOWS = 100  # newest windows listed in a monitor's table (charts show them all)
ROLES = ("primary", "canary", "shadow")
# Bucket sizes (ms) a chart may use: the smallest that keeps the range within MAX_BUCKETS.
BUCKETS_MS = [
    s * 1000
    for s in (
        0.1,
        0.25,
        0.5,
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        10800,
        21600,
        43200,
        86400,
    )
]


# ---------------------------------------------------------------- reading the prediction log


@dataclass(frozen=True)
class LogColumns:
    """The few columns of prediction log rows the pages use (one entry per predicted row)."""

    time: np.ndarray  # int64 epoch ms
    version: np.ndarray  # int64 model version
    role: np.ndarray  # int8 index into ROLES (len(ROLES): another role)
    latency: np.ndarray  # float64 ms of the request the row belongs to
    first: np.ndarray  # bool: the first row of its request (counts requests once)

    @property
    def rows(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class Traffic:
    columns: LogColumns
    since: str  # first UTC day asked for
    until: str  # last UTC day asked for
    files: int  # log files in those days
    read: int  # files read (the newest, within the caps)
    unreadable: int


class _ColumnCache:
    """Columns of log files by digest. A digest names immutable bytes, so an entry never goes
    stale; a page and the two chart requests it makes read the same files once."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self.entries: OrderedDict[str, LogColumns] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, digest: str) -> LogColumns | None:
        with self.lock:
            found = self.entries.get(digest)
            if found is not None:
                self.entries.move_to_end(digest)
            return found

    def put(self, digest: str, columns: LogColumns) -> None:
        with self.lock:
            if digest in self.entries or columns.rows > self.max_rows:
                return
            self.entries[digest] = columns
            self.rows += columns.rows
            while self.rows > self.max_rows:
                _, old = self.entries.popitem(last=False)
                self.rows -= old.rows


_CACHE = _ColumnCache(MAX_ROWS)
_FIELDS = [f.name for f in fields(LogColumns)]


def _empty_columns() -> LogColumns:
    return LogColumns(
        time=np.zeros(0, np.int64),
        version=np.zeros(0, np.int64),
        role=np.zeros(0, np.int8),
        latency=np.zeros(0, np.float64),
        first=np.zeros(0, bool),
    )


def _day(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def read_traffic(p: Page, project: str, name: str, days: int, last_at: int | None) -> Traffic:
    """The deployment's predictions of the ``days`` UTC days up to its newest row (so a
    deployment that stopped serving still shows its last traffic), newest files first until
    MAX_FILES or MAX_ROWS."""
    end = _day(last_at) if last_at is not None else datetime.now(UTC)
    since = (end - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    until = end.strftime("%Y-%m-%d")
    files = p.call(
        "list_prediction_logs",
        deployment=name,
        project=project,
        kind="predictions",
        since=since,
        until=until,
    )
    chosen: list[Any] = []
    rows = 0
    for f in reversed(files):  # newest first
        if len(chosen) >= MAX_FILES or (chosen and rows + f.rows > MAX_ROWS):
            break
        chosen.append(f)
        rows += f.rows
    parts: list[LogColumns] = []
    unreadable = 0
    tmp: str | None = None
    try:
        for f in chosen:
            cols = _CACHE.get(f.digest)
            if cols is None:
                if tmp is None:
                    tmp = tempfile.mkdtemp(prefix="setpoint-ui-")
                try:
                    cols = _read_file(p, f.digest, os.path.join(tmp, f.digest))
                except (OSError, ValueError, TypeError, KeyError, NotFoundError):
                    unreadable += 1  # gone from the store, or not a prediction log Arrow reads
                    continue
                _CACHE.put(f.digest, cols)
            parts.append(cols)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if not parts:
        merged = _empty_columns()
    else:
        merged = LogColumns(*(np.concatenate([getattr(c, k) for c in parts]) for k in _FIELDS))
    order = np.argsort(merged.time, kind="stable")
    merged = LogColumns(*(getattr(merged, k)[order] for k in _FIELDS))
    return Traffic(merged, since, until, len(files), len(chosen), unreadable)


def _read_file(p: Page, digest: str, dest: str) -> LogColumns:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # download_blob checks the caller may read this blob, and its hash
    path = p.call("download_blob", digest=digest, dest=dest)
    wanted = ["time", "model_version", "role", "latency_ms", "row"]
    present = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in wanted if c in present])
    n = table.num_rows
    kind = table.schema.field("time").type  # KeyError without a time column: not a log
    raw = table["time"].cast(pa.int64()).fill_null(0).to_numpy().astype(np.int64)
    unit = getattr(kind, "unit", "ms")
    times = raw * 1000 if unit == "s" else raw // {"us": 1000, "ns": 1_000_000}.get(unit, 1)
    version = (
        table["model_version"].cast("int64").fill_null(-1).to_numpy()
        if "model_version" in present
        else np.full(n, -1, np.int64)
    )
    if "role" in present:
        role_text = table["role"].fill_null("primary")
        role = np.full(n, len(ROLES), np.int8)
        for i, r in enumerate(ROLES):
            role[pc.equal(role_text, r).to_numpy(zero_copy_only=False)] = i
    else:
        role = np.zeros(n, np.int8)
    latency = (
        table["latency_ms"].cast("float64").to_numpy(zero_copy_only=False)
        if "latency_ms" in present
        else np.full(n, np.nan)
    )
    first = (table["row"].fill_null(0).to_numpy() == 0) if "row" in present else np.ones(n, bool)
    return LogColumns(
        time=np.asarray(times, np.int64),
        version=np.asarray(version, np.int64),
        role=role,
        latency=np.asarray(latency, np.float64),
        first=np.asarray(first, bool),
    )


def role_name(code: int) -> str:
    return ROLES[code] if code < len(ROLES) else "other"


@dataclass(frozen=True)
class Split:
    version: int
    role: str
    rows: int
    requests: int
    share: float | None  # of the answered rows (shadow rows only copy answered requests)
    p50: float | None
    p95: float | None
    first_at: int
    last_at: int


def traffic_split(cols: LogColumns) -> list[Split]:
    """Rows and requests per served version and role, with their share and latency."""
    if not cols.rows:
        return []
    shadow = ROLES.index("shadow")
    answered = int(np.sum(cols.role != shadow))
    keys = np.unique(np.stack([cols.version, cols.role.astype(np.int64)], axis=1), axis=0)
    out = []
    for version, role in keys.tolist():
        mask = (cols.version == version) & (cols.role == role)
        rows = int(mask.sum())
        lat = cols.latency[mask & cols.first]
        lat = lat[np.isfinite(lat)]
        out.append(
            Split(
                version=int(version),
                role=role_name(int(role)),
                rows=rows,
                requests=int(np.sum(mask & cols.first)),
                share=(rows / answered) if role != shadow and answered else None,
                p50=float(np.percentile(lat, 50)) if lat.size else None,
                p95=float(np.percentile(lat, 95)) if lat.size else None,
                first_at=int(cols.time[mask].min()),
                last_at=int(cols.time[mask].max()),
            )
        )
    out.sort(key=lambda s: (ROLES.index(s.role) if s.role in ROLES else 9, -s.rows, s.version))
    return out


@dataclass(frozen=True)
class Buckets:
    start: int  # ms of the first bucket
    size: int  # ms
    count: int
    unit: str  # of the chart's x axis
    unit_ms: int

    def describe(self) -> str:
        return duration(self.size)


def buckets_for(cols: LogColumns) -> Buckets | None:
    if not cols.rows:
        return None
    lo, hi = int(cols.time[0]), int(cols.time[-1])
    span = max(hi - lo, 1)
    size = next((b for b in BUCKETS_MS if span / b <= MAX_BUCKETS), BUCKETS_MS[-1])
    size = int(size)
    start = lo - lo % size
    count = (hi - start) // size + 1
    if span < 120_000:
        unit, unit_ms = "s", 1000
    elif span < 3 * 3_600_000:
        unit, unit_ms = "min", 60_000
    elif span < 3 * 86_400_000:
        unit, unit_ms = "h", 3_600_000
    else:
        unit, unit_ms = "d", 86_400_000
    return Buckets(start, size, int(count), unit, unit_ms)


def rate_series(cols: LogColumns, b: Buckets) -> list[dict[str, Any]]:
    """Answered requests (and rows, when requests carry several) per bucket; a series per
    served version when several versions answered (a canary, or a promotion in the range)."""
    shadow = ROLES.index("shadow")
    answered = cols.role != shadow
    index = (cols.time - b.start) // b.size
    x = _bucket_x(b)

    def counts(mask: np.ndarray) -> list[float]:
        return np.bincount(index[mask], minlength=b.count).astype(float).tolist()

    requests = counts(answered & cols.first)
    series = [{"name": "requests", "x": x, "y": requests}]
    rows = counts(answered)
    if rows != requests:  # requests of several rows each: both lines say something
        series.append({"name": "rows", "x": x, "y": rows})
    versions = np.unique(cols.version[answered])
    if versions.size > 1:
        for v in versions.tolist():
            series.append(
                {
                    "name": f"v{v} requests",
                    "x": x,
                    "y": counts(answered & cols.first & (cols.version == v)),
                }
            )
    if np.any(cols.role == shadow):
        series.append({"name": "shadow requests", "x": x, "y": counts(~answered & cols.first)})
    return series


def latency_series(cols: LogColumns, b: Buckets) -> list[dict[str, Any]]:
    """p50 and p95 latency of the answered requests per bucket (a gap where none came)."""
    shadow = ROLES.index("shadow")
    mask = (cols.role != shadow) & cols.first & np.isfinite(cols.latency)
    index = (cols.time[mask] - b.start) // b.size
    lat = cols.latency[mask]
    p50: list[float | None] = [None] * b.count
    p95: list[float | None] = [None] * b.count
    if lat.size:
        order = np.argsort(index, kind="stable")
        index, lat = index[order], lat[order]
        bounds = np.flatnonzero(np.r_[True, index[1:] != index[:-1], True])
        for a, z in itertools.pairwise(bounds.tolist()):
            chunk = lat[a:z]
            p50[int(index[a])] = round(float(np.percentile(chunk, 50)), 4)
            p95[int(index[a])] = round(float(np.percentile(chunk, 95)), 4)
    x = _bucket_x(b)
    return [{"name": "p50", "x": x, "y": p50}, {"name": "p95", "x": x, "y": p95}]


def _bucket_x(b: Buckets) -> list[float]:
    """Bucket middles in the axis unit from the first bucket (the axis draws plain numbers)."""
    return [round((i + 0.5) * b.size / b.unit_ms, 6) for i in range(b.count)]


# ---------------------------------------------------------------- deployments


def _projects(p: Page, selected: str) -> tuple[list[Any], list[str]]:
    projects = p.call("list_projects")
    names = [pr.name for pr in projects if not selected or pr.name == selected]
    return projects, names


@dataclass(frozen=True)
class DeploymentRow:
    project: str
    name: str
    deployment: Any | None  # None: named by a monitor, nothing logged yet
    monitors: list[Any]
    open_alerts: int


@page("/deployments")
def deployments_index(p: Page) -> Response:
    selected = p.arg("project")
    projects, names = _projects(p, selected)
    if selected and not names:
        raise NotFoundError(f"no project named {selected!r}", field="project")
    rows: list[DeploymentRow] = []
    monitors: list[tuple[Any, int]] = []
    hidden = 0
    for project in names:
        try:
            logged = {d.name: d for d in p.call("list_deployments", project=project)}
            mons = p.call("list_monitors", project=project)
            alerts = p.call("list_alerts", project=project, status="open", limit=10_000)
        except PermissionDeniedError:
            hidden += 1  # a project the caller has no role in
            continue
        open_by_monitor: dict[str, int] = {}
        for a in alerts:
            open_by_monitor[a.monitor] = open_by_monitor.get(a.monitor, 0) + 1
        for m in mons:
            monitors.append((m, open_by_monitor.get(m.name, 0)))
        for name in sorted(set(logged) | {m.deployment for m in mons}):
            watching = [m for m in mons if m.deployment == name]
            rows.append(
                DeploymentRow(
                    project=project,
                    name=name,
                    deployment=logged.get(name),
                    monitors=watching,
                    open_alerts=sum(open_by_monitor.get(m.name, 0) for m in watching),
                )
            )
    return render(
        p,
        "deployments/index.html",
        projects=projects,
        project=selected,
        rows=rows,
        monitors=monitors,
        hidden=hidden,
        window_text=window_text,
    )


@page("/deployments/{project}/{name}")
def deployment_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    days = p.int_arg("days", DEFAULT_DAYS, high=MAX_DAYS)
    found = [d for d in p.call("list_deployments", project=project) if d.name == name]
    monitors = [m for m in p.call("list_monitors", project=project) if m.deployment == name]
    if not found and not monitors:
        raise NotFoundError(f"project {project} has no deployment {name!r}", field="name")
    deployment = found[0] if found else None
    traffic = read_traffic(p, project, name, days, deployment.last_at if deployment else None)
    split = traffic_split(traffic.columns)
    b = buckets_for(traffic.columns)
    open_alerts = {
        m.name: len(p.call("list_alerts", project=project, monitor=m.name, status="open"))
        for m in monitors
    }
    # A deployment is named after its model unless `--name` said otherwise: link the
    # versions only when a model of that name exists.
    model = name if any(m.name == name for m in p.call("list_models", project=project)) else None
    if traffic.read < traffic.files:
        p.notices.append(
            f"Only the newest {traffic.read} of {traffic.files} log files of these days are "
            f"read ({traffic.columns.rows:,} rows); choose fewer days to see all of them."
        )
    if traffic.unreadable:
        p.notices.append(f"{traffic.unreadable} log file(s) could not be read as Parquet.")
    chart = lambda what: p.url(  # noqa: E731
        "/ui/data/deployment", project=project, name=name, what=what, days=days
    )
    return render(
        p,
        "deployments/deployment.html",
        project=project,
        name=name,
        deployment=deployment,
        days=days,
        max_days=MAX_DAYS,
        traffic=traffic,
        split=split,
        bar_items=[(f"v{s.version} {s.role}", s.rows) for s in split],
        buckets=b,
        monitors=monitors,
        open_alerts=open_alerts,
        model=model,
        chart=chart,
        window_text=window_text,
    )


@data("/ui/data/deployment")
def deployment_series(p: Page) -> Response:
    """Request rate (``what=rate``) or latency (``what=latency``) of a deployment per time
    bucket over its last ``days`` days of logged traffic."""
    project, name, what = p.arg("project"), p.arg("name"), p.arg("what")
    if not project or not name or what not in ("rate", "latency"):
        raise InvalidArgumentError(
            "give project=, name= and what=rate or what=latency", field="what"
        )
    days = p.int_arg("days", DEFAULT_DAYS, high=MAX_DAYS)
    found = [d for d in p.call("list_deployments", project=project) if d.name == name]
    if not found:
        if not any(m.deployment == name for m in p.call("list_monitors", project=project)):
            raise NotFoundError(f"project {project} has no deployment {name!r}", field="name")
        cols = _empty_columns()  # watched by a monitor, nothing logged yet
    else:
        cols = read_traffic(p, project, name, days, found[0].last_at).columns
    b = buckets_for(cols)
    if b is None:
        return json_response({"series": [], "total": 0, "empty": "No predictions logged."})
    series = rate_series(cols, b) if what == "rate" else latency_series(cols, b)
    return json_response(
        {
            "series": series,
            "total": cols.rows,
            "x_label": f"{b.unit} since {ts(b.start)}",
            "y_label": f"per {b.describe()}" if what == "rate" else "ms",
            "bucket_ms": b.size,
            "start": b.start,
            "empty": "No predictions logged.",
        }
    )


def window_text(config: dict[str, Any]) -> str:
    """A monitor's window as a person reads it: 600 rows, 1 h."""
    if config.get("window_rows"):
        return f"{int(config['window_rows']):,} rows"
    seconds = config.get("window_seconds")
    if not seconds:
        return "—"
    return duration(int(seconds) * 1000)


# ---------------------------------------------------------------- monitors


@dataclass(frozen=True)
class AlertView:
    alert: Any
    actions: list[dict[str, Any]]  # {"text", "run_id"?, "status"?}
    details: list[tuple[str, str]]


@page("/monitors/{project}/{name}")
def monitor_page(p: Page) -> Response:
    project, name = p.path_params["project"], p.path_params["name"]
    monitor = p.call("get_monitor", name=name, project=project)
    windows = p.call("list_monitor_windows", name=name, project=project)
    alerts = p.call("list_alerts", project=project, monitor=name, limit=MAX_ALERTS)
    schedules = [s for s in p.call("list_schedules", project=project) if s.alert in (name, "*")]
    answers = [
        (s, sorted(_alert_occurrences(p, project, s.name), key=lambda o: o.due_at))
        for s in schedules
    ]
    by_time = bool(monitor.config.get("window_seconds"))
    views = [_alert_view(a, answers, monitor.config.get("window_rows")) for a in alerts]
    features = sorted({f for w in windows for f in w.result.get("drift", {}).get("features", {})})
    metric_names = sorted({k for w in windows for k in w.result.get("metrics", {})})
    fairness_columns = sorted({c for w in windows for c in w.result.get("fairness", {})})
    shown = list(enumerate(windows, start=1))[-TABLE_WINDOWS:]
    chart = lambda what: p.url(  # noqa: E731
        "/ui/data/monitor", project=project, name=name, what=what
    )
    latest = windows[-1].result if windows else None
    if p.arg("resolved").isdigit():  # back from the resolve form
        p.notices.append(f"Alert {p.arg('resolved')} resolved.")
    return render(
        p,
        "deployments/monitor.html",
        project=project,
        monitor=monitor,
        windows=windows,
        shown=list(reversed(shown)),
        by_time=by_time,
        latest=latest,
        features=features,
        metric_names=metric_names,
        fairness_columns=fairness_columns,
        alerts=views,
        schedules=schedules,
        may_resolve=p.may("resolve_alert", project=project, alert_id=0),
        rules=_rules(monitor.config),
        window_text=window_text,
        chart=chart,
    )


def _alert_occurrences(p: Page, project: str, schedule: str) -> list[Any]:
    return [
        o
        for o in p.call("list_occurrences", name=schedule, project=project, limit=1000)
        if o.occurrence.startswith("alert:")
    ]


def _alert_view(
    alert: Any, answers: list[tuple[Any, list[Any]]], window_rows: int | None
) -> AlertView:
    """An alert with what it set off: the runs of schedules on the monitor's alerts and the
    webhook post. The scheduler runs a schedule once for the newest alert raised since its
    last run (naming the occurrence after that alert), so that one run answers every alert
    raised in between: the first occurrence due at or after the alert."""
    actions: list[dict[str, Any]] = []
    own = f"alert:{alert.monitor}#{alert.id}"
    for s, occurrences in answers:
        if alert.created_at < s.created_at:
            continue  # raised before the schedule existed
        o = next((o for o in occurrences if o.due_at >= alert.created_at), None)
        if o is None:
            if s.enabled:
                actions.append(
                    {
                        "text": f"schedule {s.name} runs at the scheduler's next tick",
                        "status": "pending",
                    }
                )
            continue
        via = "" if o.occurrence == own else f" (with {o.occurrence.removeprefix('alert:')})"
        actions.append(
            {
                "text": f"ran schedule {s.name}{via}",
                "run_id": o.run_id,
                "status": o.status,
                "error": o.error,
            }
        )
    details = dict(alert.details)
    hook = details.pop("webhook", None)
    if isinstance(hook, dict):
        if hook.get("delivered"):
            text = f"webhook delivered (attempt {hook.get('attempts', 1)})"
            actions.append({"text": text, "status": "succeeded"})
        else:
            text = f"webhook failed after {hook.get('attempts', '?')} attempt(s)"
            actions.append({"text": text, "status": "failed", "error": hook.get("error")})
    window = details.pop("window", None)
    shown = [(k, _detail(v)) for k, v in sorted(details.items())]
    if isinstance(window, dict) and isinstance(window.get("start"), int):
        start, end = window["start"], window.get("end")
        ended = ts(end) if isinstance(end, int) else "?"
        # a row window starts at a row number of the log, a time window at a time
        if window_rows:
            text = f"rows {start + 1:,} to {start + int(window_rows):,}, the last at {ended}"
        else:
            text = f"{ts(start)} to {ended}"
        shown.append(("window", text))
    return AlertView(alert, actions, shown)


def _detail(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_detail(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_detail(v)}" for k, v in value.items())
    return str(value)


def _rules(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The alert rules of a monitor, each as (rule, condition) a person reads."""
    out = [("drift", f"more than {float(config.get('drift_share', 0.5)):.0%} of features drifted")]
    for r in config.get("metric_rules", []):
        k = int(r.get("windows", 1))
        out.append((f"metric:{r['metric']}", f"{r['metric']} below {r['min']:g} for {k} window(s)"))
    for r in config.get("decay_rules", []):
        k = int(r.get("windows", 1))
        out.append(
            (
                f"decay:{r['metric']}",
                f"{r['metric']} more than {r['max_drop']:g} below the served version's "
                f"evaluation for {k} window(s)",
            )
        )
    if config.get("fairness_gap") is not None:
        cols = ", ".join(config.get("sensitive", [])) or "no sensitive columns"
        out.append(("fairness", f"fairness gap above {config['fairness_gap']:g} ({cols})"))
    return out


@data("/ui/data/monitor")
def monitor_series(p: Page) -> Response:
    """A monitor's windows as series over the window number: ``what=drift`` (the drift
    statistic, one series per feature), ``share`` (share of drifted features), ``metrics``
    (one per metric) or ``fairness`` (the gap per sensitive column)."""
    project, name, what = p.arg("project"), p.arg("name"), p.arg("what")
    if not project or not name or what not in ("drift", "share", "metrics", "fairness"):
        raise InvalidArgumentError(
            "give project=, name= and what=drift, share, metrics or fairness", field="what"
        )
    width = p.int_arg("width", 800, low=50, high=4000)
    windows = p.call("list_monitor_windows", name=name, project=project)
    results = [w.result for w in windows]
    x = np.arange(1, len(results) + 1, dtype=np.float64)
    named: dict[str, list[float | None]] = {}
    if what == "drift":
        keys = sorted({f for r in results for f in r.get("drift", {}).get("features", {})})
        for f in keys:
            named[f] = [
                r.get("drift", {}).get("features", {}).get(f, {}).get("statistic") for r in results
            ]
        empty = "No window computed yet."
    elif what == "share":
        named["share of drifted features"] = [
            r.get("drift", {}).get("share_drifted") for r in results
        ]
        empty = "No window computed yet."
    elif what == "metrics":
        keys = sorted({k for r in results for k in r.get("metrics", {})})
        for k in keys:
            named[k] = [r.get("metrics", {}).get(k) for r in results]
        empty = "No labeled window yet: metrics need feedback."
    else:
        keys = sorted({c for r in results for c in r.get("fairness", {})})
        for c in keys:
            named[c] = [_gap(r.get("fairness", {}).get(c)) for r in results]
        empty = "No fairness measured: the monitor has no sensitive columns, or no labels came."
    series = []
    for key, values in named.items():
        y = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        rx, ry = reduce_series(x, y, width)
        series.append(
            {
                "name": key,
                "x": rx.tolist(),
                "y": [v if math.isfinite(v) else None for v in ry.tolist()],
            }
        )
    return json_response(
        {"series": series, "total": len(results), "x_label": "window", "empty": empty}
    )


def _gap(f: dict[str, Any] | None) -> float | None:
    """The fairness gap the alert rule compares: the worse of the demographic parity and
    equalized odds differences."""
    if not f:
        return None
    return max(
        float(f.get("demographic_parity_difference", 0.0)),
        float(f.get("equalized_odds_difference", 0.0)),
    )


@action("/monitors/{project}/{name}/alerts/{alert_id}/resolve")
def resolve(p: Page) -> Response:
    project, name, text = (
        p.path_params["project"],
        p.path_params["name"],
        p.path_params["alert_id"],
    )
    if not text.isdigit():
        raise NotFoundError(f"no alert {text!r}", field="alert_id")
    alert_id = int(text)
    p.call("get_monitor", name=name, project=project)
    # the operation takes any alert of the project: this page resolves its monitor's only
    mine = p.call("list_alerts", project=project, monitor=name, limit=10_000)
    if not any(a.id == alert_id for a in mine):
        raise NotFoundError(f"monitor {name} has no alert {alert_id}", field="alert_id")
    p.call("resolve_alert", project=project, alert_id=alert_id, actor=None)  # editors only
    page_url = f"/monitors/{quote(project, safe='')}/{quote(name, safe='')}"
    return redirect(p.url(page_url, resolved=alert_id) + "#alerts")
