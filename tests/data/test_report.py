"""HTML reports for profiles and diffs: well-formed, escaped, offline, with one bar per bin."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from typing import Any

import pytest

from setpoint.data.report import diff_html, profile_html

NASTY = '<b>&"x"'
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"}
SELF_CLOSING_SVG = {"line", "path", "circle"}


class Page(HTMLParser):
    """Checks that tags balance and collects what a reader would see, per section."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.section = ""
        self.rects: dict[str, list[str]] = {}  # section id -> class of each <rect>
        self.h2: list[str] = []
        self.cells: list[list[str]] = []  # rows of the first table on the page
        self.tables = 0
        self.titles: list[str] = []  # tooltip texts
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "section":
            self.section = a["id"] or ""
        elif tag == "rect":
            self.rects.setdefault(self.section, []).append(a.get("class") or "")
        elif tag == "table":
            self.tables += 1
        elif tag == "tr" and self.tables == 1:
            self.cells.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID | SELF_CLOSING_SVG, tag

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        here = self.stack[-1] if self.stack else ""
        if here == "h2":
            self.h2.append(data)
        elif here == "title" and "rect" in self.stack:
            self.titles.append(data)
        elif self.tables == 1 and {"td", "th"} & set(self.stack):
            self.cells[-1].append(data)


def numeric(name: str, **over: Any) -> dict[str, Any]:
    col: dict[str, Any] = {
        "name": name,
        "type": "double",
        "kind": "numeric",
        "count": 990,
        "nulls": 10,
        "distinct": 870,
        "distinct_exact": False,
        "nan": 2,
        "pos_inf": 1,
        "neg_inf": 1,
        "min": -3.5,
        "max": 1234567.0,
        "mean": 12345.678,
        "std": math.nan,
        "quantiles": {q: float(i) for i, q in enumerate(["0.01", "0.05", "0.25", "0.5"])},
        "histogram": {"edges": [float(i) for i in range(21)], "counts": [i * 3 for i in range(20)]},
        "sketch": {"ignored": True},
    }
    return col | over


def profile() -> dict[str, Any]:
    day = 86_400.0
    return {
        "format": 1,
        "num_rows": 1000,
        "columns": [
            numeric(NASTY),
            {
                "name": "city",
                "type": "string",
                "kind": "categorical",
                "count": 9,
                "nulls": 991,
                "distinct": 3,
                "distinct_exact": True,
                "top": [["<script>", 5], ["a&b", 3], ['"q"', 1]],
                "categories_exact": True,
                "length": {"min": 1, "max": 8, "mean": 4.25},
            },
            numeric(
                "empty",
                count=0,
                nulls=1000,
                distinct=0,
                distinct_exact=True,
                nan=0,
                pos_inf=0,
                neg_inf=0,
                **dict.fromkeys(["min", "max", "mean", "std", "quantiles", "histogram"]),
            ),
            numeric(
                "constant",
                min=7.0,
                max=7.0,
                mean=7.0,
                std=0.0,
                histogram={"edges": [7.0, 7.0], "counts": [1000]},
            ),
            numeric(
                "infinite", mean=math.inf, min=-math.inf, histogram={"edges": [], "counts": []}
            ),
            numeric(
                "ts",
                type="timestamp[us]",
                kind="temporal",
                min="2024-01-01T00:00:00",
                max="2024-01-21T00:00:00",
                mean=None,
                std=None,
                quantiles={"0.5": 1_704_067_200.0 + 10 * day},
                histogram={
                    "edges": [1_704_067_200.0 + i * day for i in range(21)],
                    "counts": [50] * 20,
                },
            ),
            {
                "name": "flag",
                "type": "bool",
                "kind": "boolean",
                "count": 1000,
                "nulls": 0,
                "top": [["true", 600], ["false", 400]],
            },
            {
                "name": "nothing",
                "type": "string",
                "kind": "categorical",
                "count": 0,
                "nulls": 1000,
                "distinct": None,
                "top": [],
                "length": None,
            },
            {"name": "blob", "type": "binary", "kind": "other"},
        ],
    }


def diff() -> dict[str, Any]:
    return {
        "from": "proj/name@2",
        "to": "proj/name@3",
        "rows": {"from": 1000, "to": 12345},
        "schema": {
            "added": [{"name": "<new>", "type": "int64"}],
            "removed": [{"name": "gone", "type": "string"}],
            "changed": [{"name": "amt", "from": "int64", "to": "double"}],
        },
        "columns": [
            {"name": "calm", "kind": "numeric", "drift": 0.01, "drifted": False, "method": "psi"},
            {"name": "unknown", "kind": "other", "drift": None, "drifted": False, "method": ""},
            {
                "name": NASTY,
                "kind": "numeric",
                "drift": 0.4321,
                "drifted": True,
                "method": "psi",
                "stats": {"mean": [1.5, 2.25], "nulls": [0, 12345], "min": [None, math.nan]},
                "histogram": {
                    "edges": [0.0, 1.0, 2.0, 3.0],
                    "from": [0.5, 0.5, 0.0],
                    "to": [0.1, 0.2, 0.7],
                },
            },
            {
                "name": "city",
                "kind": "categorical",
                "drift": 0.2,
                "drifted": True,
                "method": "chi2",
                "new_categories": ["<script>"],
                "vanished_categories": ["a&b"],
                "histogram": {"edges": ["x", "y"], "from": [1.0, 0.0], "to": [0.0, 1.0]},
            },
        ],
        "threshold": 0.1,
    }


def check_offline_and_escaped(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", "<script", NASTY, "<new>"):
        assert forbidden not in text


def test_profile_page_parses_and_escapes_every_name() -> None:
    text = profile_html(profile(), title="proj/<name>@2")
    check_offline_and_escaped(text)
    page = Page(text)
    names = [c["name"] for c in profile()["columns"]]
    assert page.h2 == ["Summary", *names]
    assert "&lt;b&gt;&amp;&quot;x&quot;" in text
    assert "proj/&lt;name&gt;@2" in text
    assert "1,000 rows · 9 columns" in "".join(page.text)


def test_profile_draws_one_bar_per_bin_or_category() -> None:
    page = Page(profile_html(profile(), title="t"))
    bars = {sid: len(classes) for sid, classes in page.rects.items()}
    # Sections are numbered in column order; columns without a histogram draw nothing.
    assert bars == {"col-0": 20, "col-1": 3, "col-3": 1, "col-5": 20, "col-6": 2}
    assert "<script>: 5 (55.6%)" in page.titles
    assert "2024-01-01 – 2024-01-02: count 50" in page.titles
    assert "7 – 7: count 1,000" in page.titles


def test_profile_summary_numbers_are_formatted() -> None:
    page = Page(profile_html(profile(), title="t"))
    header, first, *rest = page.cells
    assert header == ["column", "type", "count", "nulls %", "distinct", "min", "max", "mean"]
    assert first == [NASTY, "double", "990", "1.0%", "≈870", "-3.5", "1,235,000", "12,350"]
    rows = {row[0]: row[1:] for row in rest}
    assert rows["empty"] == ["double", "0", "100.0%", "0", "–", "–", "–"]
    assert rows["infinite"][4:] == ["-inf", "1,235,000", "inf"]
    assert rows["ts"][4:6] == ["2024-01-01T00:00:00", "2024-01-21T00:00:00"]
    assert "nan" in page.text  # the std of the first column


@pytest.mark.parametrize("doc", [{}, {"columns": [{}, None, {"kind": "numeric", "histogram": {}}]}])
def test_profile_survives_missing_fields(doc: dict[str, Any]) -> None:
    Page(profile_html(doc, title=""))


def test_diff_page_sorts_by_drift_and_draws_both_versions() -> None:
    text = diff_html(diff(), title="proj/name@2 → @3")
    check_offline_and_escaped(text)
    page = Page(text)
    assert page.h2[:2] == ["Schema changes", "Drift (threshold 0.1)"]
    assert page.h2[2:] == [NASTY, "city", "calm", "unknown"]
    assert text.count('<tr class="drifted">') == 2
    assert page.rects["col-0"] == ["a", "b"] * 3
    assert page.rects["col-1"] == ["a", "b"] * 2
    assert "1 – 2: to 20%" in page.titles
    visible = "".join(page.text)
    for phrase in ("Rows: 1,000 → 12,345", "added <new> (int64)", "changed amt: int64 → double"):
        assert phrase in visible
    assert "New categories (1)<script>" in visible
    assert "Vanished categories (1)a&b" in visible


def test_diff_survives_missing_fields() -> None:
    Page(diff_html({}, title=""))
    Page(diff_html({"columns": [{"drift": math.nan, "histogram": {"edges": None}}]}, title=""))
