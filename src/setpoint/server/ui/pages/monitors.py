"""A monitor's page: its rules, drift per feature, performance and fairness over its
windows, and its alerts with what they set off (resolve them here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi.responses import Response

from setpoint.core.errors import InvalidArgumentError, NotFoundError
from setpoint.core.names import is_whole
from setpoint.monitoring.monitors import LOWER_IS_BETTER
from setpoint.server.ui.charts import reduce_series
from setpoint.server.ui.context import Page
from setpoint.server.ui.routing import action, data, json_response, page, redirect, render
from setpoint.server.ui.templating import duration, ts

MAX_ALERTS = 200
TABLE_WINDOWS = 100  # newest windows listed in a monitor's table (charts show them all)


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
    if is_whole(p.arg("resolved")):  # back from the resolve form
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
        side, bound = ("above", r["max"]) if "max" in r else ("below", r["min"])
        out.append((f"metric:{r['metric']}", f"{r['metric']} {side} {bound:g} for {k} window(s)"))
    for r in config.get("decay_rules", []):
        k = int(r.get("windows", 1))
        side = "above" if r["metric"] in LOWER_IS_BETTER else "below"
        out.append(
            (
                f"decay:{r['metric']}",
                f"{r['metric']} more than {r['max_drop']:g} {side} the served version's "
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
    if not is_whole(text):
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
