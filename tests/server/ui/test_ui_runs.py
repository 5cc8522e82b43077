"""The runs pages over HTTP: the table (filter, sort, columns, pages), a run, comparing."""

from __future__ import annotations

import re

from ui_support import PROJECT, UiServer


def _run_ids(html: str) -> list[str]:
    return re.findall(r'name="run" value="([0-9a-f]+)"', html)


def test_the_table_lists_runs_and_filters_them_with_the_sdk_language(ui: UiServer) -> None:
    everything = ui.get("/runs", params={"project": PROJECT})
    assert everything.status_code == 200
    all_ids = _run_ids(everything.text)
    assert len(all_ids) >= 5
    runs = ui.local.runs.search_runs(PROJECT, "metrics.auc > 0.5", None, 1000).runs
    assert runs, "the quickstart logs auc"
    filtered = ui.get("/runs", params={"project": PROJECT, "filter": "metrics.auc > 0.5"})
    assert filtered.status_code == 200
    assert set(_run_ids(filtered.text)) == {r.id for r in runs}


def test_a_bad_filter_is_shown_as_an_error_not_a_crash(ui: UiServer) -> None:
    r = ui.get("/runs", params={"filter": "metrics.auc >>> 1"})
    assert r.status_code == 422
    assert 'id="filter-error"' in r.text


def test_sorting_by_a_metric_orders_the_rows(ui: UiServer) -> None:
    r = ui.get(
        "/runs",
        params={"project": PROJECT, "order": "metrics.auc DESC", "col": "metrics.auc"},
    )
    ids = _run_ids(r.text)
    values = [ui.local.runs.get_run(i).metrics.get("auc") for i in ids]
    have = [v for v in values if v is not None]
    assert have == sorted(have, reverse=True)
    assert values[: len(have)] == have  # runs without the metric come last
    assert 'aria-sort="descending"' in r.text


def test_pages_step_through_the_runs(ui: UiServer) -> None:
    run_ids = [ui.local.runs.create_run(PROJECT, name=f"extra-{i}").id for i in range(55)]
    first = _run_ids(ui.get("/runs", params={"project": PROJECT}).text)
    second = _run_ids(ui.get("/runs", params={"project": PROJECT, "page": "2"}).text)
    assert len(first) == 50
    assert not set(first) & set(second)
    assert set(run_ids) <= set(first) | set(second)


def test_a_deleted_run_leaves_the_table_and_its_page_says_so(ui: UiServer) -> None:
    run = ui.local.runs.create_run(PROJECT, name="to-delete")
    assert run.id in _run_ids(ui.get("/runs", params={"project": PROJECT}).text)
    ui.local.runs.delete_run(run.id)
    assert run.id not in _run_ids(ui.get("/runs", params={"project": PROJECT}).text)
    page = ui.get(f"/runs/{run.id}")
    assert page.status_code == 200
    assert "status-deleted" in page.text and f"setpoint runs restore {run.id}" in page.text


def test_a_metric_whose_key_has_spaces_at_its_ends_is_charted(ui: UiServer) -> None:
    """Keys may begin or end with a space (MLflow's clients send such keys); the chart's
    data was asked for the key with its spaces cut off, which no run has."""
    run = ui.local.create_run(PROJECT, "spaced", heartbeats=False)
    ui.local.log_metrics(run.id, [" lead", "trail "], [1.0, 2.0], [0, 0])
    for key, value in ((" lead", 1.0), ("trail ", 2.0)):
        r = ui.get("/ui/data/metric", params={"run": run.id, "key": key})
        assert r.status_code == 200, r.text
        assert [(s["run"], s["y"]) for s in r.json()["series"]] == [(run.id, [value])], r.text
