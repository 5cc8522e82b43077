"""The monitor report: one offline HTML page (inline SVG, no scripts, no links) with drift
and metrics over the windows, the newest window's features against the reference
(distributions side by side), fairness, and the alerts; and the same as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from setpoint.data.report import bars_svg, esc, fmt, page, table_html
from setpoint.monitoring.windows import metric_value

W, H, TOP, BOTTOM = 640.0, 140.0, 14.0, 22.0


def report_json(monitor: Any, windows: list[Any], alerts: list[Any]) -> dict[str, Any]:
    return {
        "monitor": asdict(monitor),
        "windows": [asdict(w) for w in windows],
        "alerts": [asdict(a) for a in alerts],
    }


def report_html(monitor: Any, windows: list[Any], alerts: list[Any]) -> str:
    title = f"monitor {monitor.project}/{monitor.name}"
    parts = [
        f'<p class="meta">deployment {esc(monitor.deployment)} · reference '
        f"{esc(monitor.reference)} · {len(windows)} window(s) · made "
        f"{esc(_when(int(datetime.now(UTC).timestamp() * 1000)))}</p>"
    ]
    if not windows:
        parts.append("<p>No window computed yet: run <code>setpoint monitor run</code>.</p>")
        return page(title, "".join(parts))
    window_rows = monitor.config.get("window_rows")
    labels = [window_label(w, window_rows) for w in windows]
    parts.append("<h2>Drift over the windows</h2>")
    parts.append(
        _line_svg(
            [("share of drifted features", [w.result["drift"]["share_drifted"] for w in windows])],
            labels,
            threshold=float(monitor.config.get("drift_share", 0.5)),
        )
    )
    metric_names = sorted({k for w in windows for k in w.result.get("metrics", {})})
    if metric_names:
        parts.append("<h2>Performance over the windows</h2>")
        series = [(m, [w.result.get("metrics", {}).get(m) for w in windows]) for m in metric_names]
        parts.append(_line_svg(series, labels))
    rows = [["window (UTC)", "rows", "labeled", "drifted", "dataset drift", *metric_names]]
    for w, label in zip(windows, labels, strict=True):
        rows.append(
            [
                esc(label),
                esc(fmt(w.rows)),
                esc(fmt(w.labeled)),
                esc(f"{w.result['drift']['share_drifted']:.0%}"),
                "yes" if w.result["drift"]["dataset_drift"] else "no",
                *[
                    esc(fmt(metric_value(w.result, m)) if m in w.result.get("metrics", {}) else "–")
                    for m in metric_names
                ],
            ]
        )
    parts.append(table_html(rows, numeric_from=1))
    latest = windows[-1]
    parts.append(f"<h2>The newest window ({esc(labels[-1])})</h2>")
    features = latest.result["drift"]["features"]
    frows = [["feature", "test", "statistic", "p-value", "drifted"]]
    classes = [""]
    for name, f in features.items():
        frows.append(
            [
                esc(name),
                esc(f["test"]),
                esc(fmt(f["statistic"])),
                esc(fmt(f["p_value"])),
                "yes" if f["drifted"] else "no",
            ]
        )
        classes.append("drifted" if f["drifted"] else "")
    parts.append(table_html(frows, classes, numeric_from=2))
    for name, problem in latest.result["drift"].get("problems", {}).items():
        parts.append(f"<p>{esc(name)}: {esc(problem)}</p>")
    hists = latest.result.get("histograms", {})
    for name, h in hists.items():
        ref_total = sum(h["reference"]) or 1
        cur_total = sum(h["current"]) or 1
        series = [
            ("reference", [v / ref_total for v in h["reference"]]),
            ("current", [v / cur_total for v in h["current"]]),
        ]
        edges = h.get("edges") or h.get("categories") or []
        drifted = " · drifted" if features.get(name, {}).get("drifted") else ""
        parts.append(
            f"<h3>{esc(name)}{esc(drifted)}</h3><p><span class='key a'></span>reference"
            "<span class='key b'></span>current (shares)</p>"
        )
        parts.append(bars_svg(series, list(edges), False, lambda v: f"{v:.1%}"))
    fairness = latest.result.get("fairness", {})
    for column, f in fairness.items():
        parts.append(f"<h3>fairness by {esc(column)}</h3>")
        grows = [["group", "rows", "selection rate", "TPR", "FPR"]]
        for g, m in f["groups"].items():
            grows.append(
                [
                    esc(g),
                    esc(fmt(m["rows"])),
                    esc(fmt(m["selection_rate"])),
                    esc(fmt(m["tpr"])),
                    esc(fmt(m["fpr"])),
                ]
            )
        parts.append(table_html(grows, numeric_from=1))
        parts.append(
            f"<p>demographic parity difference {esc(fmt(f['demographic_parity_difference']))} · "
            f"equalized odds difference {esc(fmt(f['equalized_odds_difference']))}</p>"
        )
    parts.append("<h2>Alerts</h2>")
    if alerts:
        arows = [["raised (UTC)", "rule", "severity", "status", "message"]]
        for a in alerts:
            arows.append(
                [
                    esc(_when(a.created_at)),
                    esc(a.rule or "-"),
                    esc(a.severity),
                    esc(a.status),
                    esc(a.message),
                ]
            )
        parts.append(table_html(arows, numeric_from=9))
    else:
        parts.append("<p>None.</p>")
    return page(title, "".join(parts))


def _line_svg(
    series: list[tuple[str, list[float | None]]], labels: list[str], threshold: float | None = None
) -> str:
    """Lines over the windows, one per series (a dashed threshold when given)."""
    values = [v for _, vs in series for v in vs if v is not None]
    if threshold is not None:
        values.append(threshold)
    if not values or not labels:
        return ""
    lo, hi = min([*values, 0.0]), max(values)
    span = (hi - lo) or 1.0
    step = W / max(len(labels) - 1, 1)

    def y(v: float) -> float:
        return TOP + H - (v - lo) / span * H

    out = []
    colors = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    for i, (name, vs) in enumerate(series):
        points = " ".join(f"{k * step:.1f},{y(v):.1f}" for k, v in enumerate(vs) if v is not None)
        color = colors[i % len(colors)]
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"><title>{esc(name)}</title></polyline>'
        )
        out.append(
            f'<text x="{W - 4}" y="{TOP + 12 * (i + 1)}" text-anchor="end" fill="{color}">{esc(name)}</text>'
        )
    if threshold is not None:
        ty = y(threshold)
        out.append(
            f'<line x1="0" y1="{ty:.1f}" x2="{W}" y2="{ty:.1f}" stroke="#e45756" stroke-dasharray="4 3"/>'
        )
    axis = TOP + H
    out.append(f'<line x1="0" y1="{axis}" x2="{W}" y2="{axis}" stroke="#999"/>')
    out.append(f'<text x="0" y="{axis + 14}">{esc(labels[0])}</text>')
    out.append(f'<text x="{W}" y="{axis + 14}" text-anchor="end">{esc(labels[-1])}</text>')
    out.append(f'<text x="2" y="10">{esc(fmt(hi))}</text>')
    size = f'viewBox="0 0 {W:.0f} {TOP + H + BOTTOM:.0f}" width="{W:.0f}" height="{TOP + H + BOTTOM:.0f}"'
    return f'<svg role="img" {size}>{"".join(out)}</svg>'


def window_label(window: Any, window_rows: int | None) -> str:
    """A window as a reader knows it: its start time, or (a window of rows, whose start is a
    row offset) its rows and the time of its last."""
    if window_rows:
        first = window.start_at + 1
        return f"rows {first:,}-{first + int(window_rows) - 1:,} (last {_when(window.end_at)})"
    return _when(window.start_at)


def _when(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):  # beyond the years a datetime holds
        return f"{ms} ms"
