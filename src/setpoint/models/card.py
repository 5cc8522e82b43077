"""Model cards: what the platform knows about a model version, as Markdown and as one
offline HTML page (inline CSS and SVG, no scripts, nothing fetched).

The card is assembled by the SDK from stored facts (``client/cards.py``) into a plain dict;
this module only renders it, so the same dict can be shown anywhere.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

TOP_IMPORTANCE = 10


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def sections(card: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The card as titled tables: (title, header, rows); text sections have no header."""
    v = card["version"]
    out: list[tuple[str, list[str], list[list[Any]]]] = []
    out.append(
        (
            "Model",
            ["", ""],
            [
                ["version", v["ref"]],
                [
                    "flavor",
                    v["flavor"]
                    + (" (pickle: unsafe to load from strangers)" if v["unsafe"] else ""),
                ],
                ["status", v["status"]],
                ["aliases", ", ".join(v["aliases"]) or "-"],
                ["created", f"{_when(v['created_at'])} by {v['creator'] or 'unknown'}"],
                ["package", f"{v['size']} bytes, blake3 {v['digest']}"],
                ["description", v["description"] or "-"],
            ],
        )
    )
    out.append(
        (
            "Intended use",
            [],
            [[card["intended_use"] or "Not stated: set the version's `intended_use` tag."]],
        )
    )
    out.append(
        (
            "Limitations",
            [],
            [[card["limitations"] or "Not stated: set the version's `limitations` tag."]],
        )
    )
    run = card.get("run")
    if run:
        rows = [
            ["run", run["id"]],
            [
                "code",
                f"{run['git_commit'] or 'unknown'}{' (uncommitted changes)' if run['git_dirty'] else ''}",
            ],
            ["by", f"{run['user'] or 'unknown'} on {run['host'] or 'unknown'}"],
            ["python", run["python_version"] or ""],
        ]
        rows += [[f"param {k}", val] for k, val in sorted(run["params"].items())]
        rows += [[f"metric {k}", val] for k, val in sorted(run["metrics"].items())]
        out.append(("Training run", ["", ""], rows))
    if card["datasets"]:
        out.append(
            (
                "Training data",
                ["version", "rows", "columns", "nulls", "hash"],
                [
                    [d["ref"], d["rows"], d["columns"], d["nulls"], d["digest"][:16]]
                    for d in card["datasets"]
                ],
            )
        )
    sig = v.get("signature") or {}
    inputs = sig.get("inputs")
    if isinstance(inputs, list):
        out.append(("Signature", ["input", "type"], [[c["name"], c["type"]] for c in inputs]))
    elif isinstance(inputs, dict):
        out.append(("Signature", ["dtype", "shape"], [[inputs["dtype"], inputs["shape"]]]))
    for ev in card["evaluations"]:
        out.append(
            (
                f"Evaluation on {ev['dataset']} (target {ev['target']}, {ev['task']})",
                ["metric", "value"],
                [[k, val] for k, val in ev["metrics"].items() if val is not None],
            )
        )
        for column, groups in (ev["result"].get("slices") or {}).items():
            names = sorted({m for g in groups.values() for m in g if m != "count"})
            keep = [
                m
                for m in ("accuracy", "f1", "roc_auc", "selection_rate", "mae", "rmse")
                if m in names
            ]
            out.append(
                (
                    f"Slices by {column}",
                    ["value", "rows", *keep],
                    [[k, g.get("count"), *(g.get(m) for m in keep)] for k, g in groups.items()],
                )
            )
        importance = ev["result"].get("importance")
        if importance:
            top = list(importance["drop"].items())[:TOP_IMPORTANCE]
            out.append(
                (
                    f"Feature importance (drop in {importance['metric']} when shuffled)",
                    ["feature", "drop"],
                    [[k, val] for k, val in top],
                )
            )
    if card["promotions"]:
        rows = []
        for p in card["promotions"]:
            outcome = "moved" + (" (forced)" if p["forced"] else "") if p["moved"] else "refused"
            for g in p["gates"]:
                rows.append(
                    [
                        _when(p["created_at"]),
                        p["alias"],
                        outcome,
                        g["rule"],
                        "pass" if g["passed"] else "FAIL",
                        g["observed"],
                    ]
                )
            if not p["gates"]:
                rows.append([_when(p["created_at"]), p["alias"], outcome, "(no gates)", "", ""])
        out.append(("Gates", ["when", "alias", "outcome", "gate", "result", "observed"], rows))
    if card["approvals"]:
        out.append(
            (
                "Approvals",
                ["alias", "by", "when", "comment"],
                [
                    [a["alias"], a["actor"], _when(a["created_at"]), a["comment"]]
                    for a in card["approvals"]
                ],
            )
        )
    if card["moves"]:
        out.append(
            (
                "Alias history",
                ["when", "alias", "from", "to", "action", "by", "reason"],
                [
                    [
                        _when(m["created_at"]),
                        m["alias"],
                        m["from_version"] or "-",
                        m["to_version"] or "-",
                        m["action"] + (" (forced)" if m["forced"] else ""),
                        m["actor"],
                        m["reason"],
                    ]
                    for m in card["moves"]
                ],
            )
        )
    req = v.get("requirements") or {}
    if req:
        out.append(
            ("Requirements", ["package", "version"], [[k, val] for k, val in sorted(req.items())])
        )
    return out


def markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: {_text_md(card['version']['ref'])}", ""]
    for title, header, rows in sections(card):
        lines += [f"## {_text_md(title)}", ""]
        if not header:
            lines += [_text_md(str(rows[0][0])), ""]
            continue
        if header == ["", ""]:
            lines += [f"- **{r[0]}**: {_cell_md(r[1])}" for r in rows] + [""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_cell_md(c) for c in r) + " |" for r in rows]
        lines.append("")
    lines.append(f"_Generated by setpoint from the registry on {_when(card['generated_at'])}._")
    return "\n".join(lines) + "\n"


def _text_md(text: str) -> str:
    # Markdown passes raw HTML through: free text from tags must not become markup.
    return html.escape(text, quote=False)


def _cell_md(value: Any) -> str:
    return _text_md(_num(value)).replace("|", "\\|").replace("\n", " ")


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{background:#f6f6f6}.fail{color:#b00;font-weight:600}
.pass{color:#070}svg{vertical-align:middle}footer{margin-top:2em;color:#777;font-size:.9em}
"""


def to_html(card: dict[str, Any]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Model card: {esc(card['version']['ref'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Model card: {esc(card['version']['ref'])}</h1>",
    ]
    for title, header, rows in sections(card):
        parts.append(f"<h2>{esc(title)}</h2>")
        if not header:
            parts.append(f"<p>{esc(str(rows[0][0]))}</p>")
            continue
        bars = title.startswith("Feature importance")
        top = max((abs(float(r[1])) for r in rows), default=0.0) if bars else 0.0
        parts.append("<table>")
        if header != ["", ""]:
            parts.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        for r in rows:
            cells = []
            for c in r:
                text = esc(_num(c))
                cls = " class='fail'" if c == "FAIL" else " class='pass'" if c == "pass" else ""
                cells.append(f"<td{cls}>{text}</td>")
            if bars and top > 0:
                width = max(1, int(200 * max(float(r[1]), 0.0) / top))
                cells.append(
                    f"<td><svg width='200' height='12'><rect width='{width}' height='12' "
                    "fill='#4a7bd0'/></svg></td>"
                )
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append(
        f"<footer>Generated by setpoint from the registry on {esc(_when(card['generated_at']))}."
        "</footer></body></html>"
    )
    return "".join(parts)
