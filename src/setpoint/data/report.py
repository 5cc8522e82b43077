"""Standalone HTML reports for a dataset version's profile and for a diff between two versions.

Pages are self-contained (inline CSS and SVG, no scripts, no links) so they open offline.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from setpoint.core.names import is_finite_number

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;word-break:break-all}
.meta{color:#666;margin-top:0}table{border-collapse:collapse;margin:.6rem 0}
th,td{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted{background:#fde8e6}dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem}
dt{color:#666}dd{margin:0}svg{max-width:100%;height:auto;display:block;margin:.6rem 0}
svg text{font:11px system-ui,sans-serif;fill:#444}.a{fill:#4c78a8}.b{fill:#f58518}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 1em}
.key.a{background:#4c78a8}.key.b{background:#f58518}
"""


def profile_html(profile: dict[str, Any], *, title: str) -> str:
    """Render one dataset version's profile as a complete HTML page."""
    columns = _dicts(profile.get("columns"))
    rows = profile.get("num_rows")
    head = f'<p class="meta">{_esc(_fmt(rows))} rows · {_esc(_fmt(len(columns)))} columns</p>'
    summary = [("column", "type", "count", "nulls %", "distinct", "min", "max", "mean")]
    sections = []
    for i, col in enumerate(columns):
        count, nulls = col.get("count"), col.get("nulls")
        summary.append(
            (
                f'<a href="#col-{i}">{_esc(col.get("name", ""))}</a>',
                _esc(col.get("type", "")),
                _cell(count),
                _cell(_pct(nulls, rows if isinstance(rows, int) else _sum(count, nulls))),
                _cell(_distinct(col)),
                _cell(col.get("min")),
                _cell(col.get("max")),
                _cell(col.get("mean")),
            )
        )
        sections.append(_column_section(i, col, rows))
    body = head + "<h2>Summary</h2>" + _table(summary) + "".join(sections)
    return _page(title, body)


def diff_html(diff: dict[str, Any], *, title: str) -> str:
    """Render a diff between two dataset versions as a complete HTML page."""
    rows, threshold = _dict(diff.get("rows")), diff.get("threshold")
    parts = [
        f'<p class="meta">{_esc(diff.get("from", "?"))} → {_esc(diff.get("to", "?"))}</p>',
        f"<p>Rows: {_esc(_fmt(rows.get('from')))} → {_esc(_fmt(rows.get('to')))}</p>",
        "<h2>Schema changes</h2>",
        _schema_changes(_dict(diff.get("schema"))),
    ]
    columns = _dicts(diff.get("columns"))
    columns.sort(
        key=lambda c: -_number(c.get("drift")) if is_finite_number(c.get("drift")) else math.inf
    )
    table = [("column", "kind", "method", "drift", "drifted")]
    classes = [""]
    for i, col in enumerate(columns):
        name = f'<a href="#col-{i}">{_esc(col.get("name", ""))}</a>'
        kind, method = _esc(col.get("kind", "")), _esc(col.get("method", ""))
        drifted = bool(col.get("drifted"))
        table.append((name, kind, method, _cell(col.get("drift")), "yes" if drifted else "no"))
        classes.append("drifted" if drifted else "")
    parts += [f"<h2>Drift (threshold {_esc(_fmt(threshold))})</h2>", _table(table, classes, 3)]
    parts += [_diff_section(i, col) for i, col in enumerate(columns)]
    return _page(title, "".join(parts))


# ---------------------------------------------------------------- sections


def _column_section(i: int, col: dict[str, Any], rows: object) -> str:
    kind, nulls = col.get("kind"), col.get("nulls")
    whole = rows if isinstance(rows, int) else _sum(col.get("count"), nulls)
    facts: list[tuple[str, object]] = [
        ("type", col.get("type")),
        ("kind", kind),
        ("count", col.get("count")),
        ("nulls", f"{_fmt(nulls)} ({_pct(nulls, whole)})"),
        ("distinct", _distinct(col)),
    ]
    plot = ""
    if kind in ("numeric", "temporal"):
        if kind == "numeric":
            facts += [(k, col.get(k)) for k in ("nan", "pos_inf", "neg_inf")]
        facts += [(k, col.get(k)) for k in ("min", "max", "mean", "std")]
        temporal = kind == "temporal"
        quantiles = _dict(col.get("quantiles")).items()
        facts += [(_quantile_label(q), _edge(v, temporal)) for q, v in quantiles]
        hist = col.get("histogram")
        if isinstance(hist, dict):
            counts = [_number(c) for c in _list(hist.get("counts"))]
            plot = _bars_svg([("count", counts)], _list(hist.get("edges")), temporal, _fmt_int)
    elif kind in ("categorical", "boolean"):
        facts += [(f"length {k}", v) for k, v in _dict(col.get("length")).items()]
        if col.get("categories_exact") is False:
            facts.append(("top values", "approximate"))
        plot = _top_svg(_list(col.get("top")), col.get("count"))
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(_fmt(v))}</dd>" for k, v in facts)
    return (
        f'<section id="col-{i}"><h2>{_esc(col.get("name", ""))}</h2><dl>{dl}</dl>{plot}</section>'
    )


def _diff_section(i: int, col: dict[str, Any]) -> str:
    parts = [f'<section id="col-{i}"><h2>{_esc(col.get("name", ""))}</h2>']
    table = [("stat", "from", "to")]
    for stat, pair in _dict(col.get("stats")).items():
        a, b = [*_list(pair), None, None][:2]
        table.append((_esc(stat), _cell(a), _cell(b)))
    if len(table) > 1:
        parts.append(_table(table, numeric_from=1))
    hist = col.get("histogram")
    if isinstance(hist, dict):
        series = [(k, [_number(p) for p in _list(hist.get(k))]) for k in ("from", "to")]
        parts.append('<p><span class="key a"></span>from<span class="key b"></span>to</p>')
        parts.append(
            _bars_svg(series, _list(hist.get("edges")), col.get("kind") == "temporal", _fmt_pct)
        )
    for key, label in (
        ("new_categories", "New categories"),
        ("vanished_categories", "Vanished categories"),
    ):
        values = _list(col.get(key))
        if values:
            items = "".join(f"<li>{_esc(v)}</li>" for v in values)
            parts.append(f"<h3>{label} ({len(values):,})</h3><ul>{items}</ul>")
    return "".join(parts) + "</section>"


def _schema_changes(schema: dict[str, Any]) -> str:
    items = [
        f"<li>added {_esc(c.get('name'))} ({_esc(c.get('type'))})</li>"
        for c in _dicts(schema.get("added"))
    ]
    items += [
        f"<li>removed {_esc(c.get('name'))} ({_esc(c.get('type'))})</li>"
        for c in _dicts(schema.get("removed"))
    ]
    items += [
        f"<li>changed {_esc(c.get('name'))}: {_esc(c.get('from'))} → {_esc(c.get('to'))}</li>"
        for c in _dicts(schema.get("changed"))
    ]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>No schema changes.</p>"


# ---------------------------------------------------------------- charts

_W, _H, _TOP, _BOTTOM = 640.0, 160.0, 14.0, 20.0


def _bars_svg(
    series: list[tuple[str, list[float]]], edges: list[Any], temporal: bool, fmt: Any
) -> str:
    """Vertical bars, one group per bin and one bar per series; one <rect> per bar."""
    bins = max((len(values) for _, values in series), default=0)
    if bins == 0:
        return ""
    peak = max((v for _, values in series for v in values), default=0.0)
    group = _W / bins
    width = group / len(series)
    out = []
    for b in range(bins):
        if len(edges) == bins + 1:
            where = f"{_edge(edges[b], temporal)} – {_edge(edges[b + 1], temporal)}"
        else:
            where = _fmt(edges[b]) if b < len(edges) else f"bin {b + 1}"
        for s, (name, values) in enumerate(series):
            v = max(values[b], 0.0) if b < len(values) else 0.0
            h = v / peak * _H if peak > 0 else 0.0
            x, y = b * group + s * width, _TOP + _H - h
            tip = f"{where}: {name} {fmt(v)}"
            box = f'x="{x:.2f}" y="{y:.2f}" width="{max(width - 1, 0.5):.2f}" height="{h:.2f}"'
            out.append(f'<rect class="{"ab"[s % 2]}" {box}><title>{_esc(tip)}</title></rect>')
    axis_y = _TOP + _H
    left, right = (_edge(edges[0], temporal), _edge(edges[-1], temporal)) if edges else ("", "")
    out.append(f'<line x1="0" y1="{axis_y}" x2="{_W}" y2="{axis_y}" stroke="#999"/>')
    out.append(f'<text x="0" y="{axis_y + 14}">{_esc(left)}</text>')
    out.append(f'<text x="{_W}" y="{axis_y + 14}" text-anchor="end">{_esc(right)}</text>')
    out.append(f'<text x="2" y="10">max {_esc(fmt(peak))}</text>')
    return _svg(_TOP + _H + _BOTTOM, out)


def _top_svg(top: list[Any], total: object) -> str:
    """Horizontal bars of the most frequent values; one <rect> per value."""
    pairs = [
        (_fmt(p[0]), _number(p[1])) for p in top if isinstance(p, list | tuple) and len(p) >= 2
    ]
    if not pairs:
        return ""
    peak, label_w, bar_w, row = max(c for _, c in pairs), 200.0, 340.0, 18.0
    out = []
    for i, (value, count) in enumerate(pairs):
        y, w = i * row, (count / peak * bar_w if peak > 0 else 0.0)
        short = value if len(value) <= 30 else value[:29] + "…"
        tip = f"{value}: {_fmt_int(count)} ({_pct(count, total)})"
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{_esc(short)}</text>')
        out.append(
            f'<rect class="a" x="{label_w}" y="{y + 2}" width="{w:.2f}" height="{row - 4}">'
            f"<title>{_esc(tip)}</title></rect>"
        )
        out.append(f'<text x="{label_w + w + 4:.2f}" y="{y + 13}">{_esc(_fmt_int(count))}</text>')
    return _svg(len(pairs) * row, out)


def _svg(height: float, parts: list[str]) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page must carry no URLs.
    size = f'viewBox="0 0 {_W:.0f} {height:.0f}" width="{_W:.0f}" height="{height:.0f}"'
    return f'<svg role="img" {size}>{"".join(parts)}</svg>'


# ---------------------------------------------------------------- formatting


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{_esc(title)}</h1></header><main>{body}</main></body></html>\n"
    )


def _table(
    rows: Sequence[Sequence[str]], classes: Sequence[str] = (), numeric_from: int = 2
) -> str:
    """The first row is the header; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in rows[0])
    body = []
    for i, cells in enumerate(rows[1:], start=1):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        tds = "".join(
            f'<td class="n">{c}</td>' if j >= numeric_from else f"<td>{c}</td>"
            for j, c in enumerate(cells)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell(value: object) -> str:
    return _esc(_fmt(value))


def _fmt(value: object) -> str:
    """Integers with thousands separators, floats to 4 significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0:
            return "0"
        if not 1e-4 <= abs(value) < 1e15:
            return f"{value:.4g}"
        digits = 3 - math.floor(math.log10(abs(value)))
        text = f"{round(value, digits):,.{max(digits, 0)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _fmt_int(value: float) -> str:
    return (
        _fmt(int(value)) if is_finite_number(value) and float(value).is_integer() else _fmt(value)
    )


def _fmt_pct(value: float) -> str:
    return f"{_fmt(value * 100.0)}%" if is_finite_number(value) else _fmt(value)


def _pct(part: object, whole: object) -> str:
    if not (is_finite_number(part) and is_finite_number(whole)) or not whole:
        return "–"
    share = 100.0 * float(part) / float(whole)  # type: ignore[arg-type]
    return "<0.1%" if 0 < share < 0.1 else f"{share:.1f}%"


def _quantile_label(q: object) -> str:
    try:
        return f"p{_fmt(float(q) * 100)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"q{q}"


def _distinct(col: dict[str, Any]) -> str:
    distinct = col.get("distinct")
    if distinct is None:
        return "–"
    return _fmt(distinct) if col.get("distinct_exact", True) else f"≈{_fmt(distinct)}"


def _edge(value: object, temporal: bool) -> str:
    """Temporal histogram edges are epoch seconds; quantiles may already be ISO text."""
    if temporal and is_finite_number(value):
        try:
            when = datetime.fromtimestamp(float(value), tz=UTC)  # type: ignore[arg-type]
        except (OverflowError, OSError, ValueError):
            return _fmt(value)
        return when.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    return _fmt(value)


def _number(value: object) -> float:
    """A bar's length: anything missing or non-finite draws as zero."""
    return float(value) if is_finite_number(value) else 0.0  # type: ignore[arg-type]


def _sum(a: object, b: object) -> int | None:
    return a + b if isinstance(a, int) and isinstance(b, int) else None


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


# What the monitoring report draws with (the same look and the same offline rules).
bars_svg = _bars_svg
page = _page
table_html = _table
esc = _esc
fmt = _fmt
