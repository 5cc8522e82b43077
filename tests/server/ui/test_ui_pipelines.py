"""The pipelines pages over HTTP: pipeline runs and schedules, one run as a DAG of its steps
with their cache decisions, errors and logs."""

from __future__ import annotations

import io
import re

import orjson

from ui_support import PROJECT, UiServer, sign_in

STEPS = ["make_data", "fit", "validate_fit"]  # the quickstart's training pipeline


def _training_runs(ui: UiServer) -> list[str]:
    """The quickstart's two runs of its training pipeline, oldest first."""
    runs = ui.local.search_runs(
        [PROJECT], "tags.pipeline = 'training' and tags.kind = 'pipeline'", ["start_time ASC"]
    ).runs
    assert len(runs) == 2, "the quickstart runs its training pipeline twice"
    return [r.id for r in runs]


def _nodes(html: str) -> list[tuple[str, str]]:
    """(classes, step name) of each node of the page's DAG."""
    return re.findall(
        r'<g class="node run ?([^"]*)"[^>]*>\s*<a [^>]*>\s*<rect[^>]*></rect>\s*'
        r'<text x="8" y="18">([^<]+)</text>',
        html,
    )


def _edges(html: str) -> set[str]:
    return set(re.findall(r'<path class="edge"[^>]*><title>([^<]+)</title>', html))


def test_the_list_shows_pipeline_runs_with_step_counts_and_the_schedules(ui: UiServer) -> None:
    first, again = _training_runs(ui)
    r = ui.get("/pipelines", params={"project": PROJECT})
    assert r.status_code == 200
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r'<a href="/pipelines/([0-9a-f]+)">.*?</tr>', r.text, re.S)
    }
    nums = {k: re.findall(r'<td class="num">(\d+)</td>', v) for k, v in rows.items()}
    assert nums[first] == ["3", "0", "0"]  # ran, cached, failed
    assert nums[again] == ["0", "3", "0"]
    # the schedule the quickstart's monitor alert ran, with its occurrence's pipeline run
    assert "retrain-on-alert" in r.text and "alerts of monitor fraud-live" in r.text
    occurrence = ui.local.list_occurrences("retrain-on-alert", PROJECT)[0]
    assert f'href="/pipelines/{occurrence.run_id}"' in r.text
    assert ui.get(f"/pipelines/{occurrence.run_id}").status_code == 200


def test_a_pipeline_run_is_a_dag_of_its_steps(ui: UiServer) -> None:
    first, _ = _training_runs(ui)
    r = ui.get(f"/pipelines/{first}")
    assert r.status_code == 200
    assert sorted(name for _, name in _nodes(r.text)) == sorted(STEPS)
    assert all("cached" not in classes for classes, _ in _nodes(r.text))
    # the edges are the steps' inputs: validate_fit(model, data) takes both
    assert _edges(r.text) == {
        "make_data feeds fit",
        "fit feeds validate_fit",
        "make_data feeds validate_fit",
    }
    assert "predates recorded step dependencies" not in r.text
    steps = ui.local.search_runs([PROJECT], f"tags.pipeline_run = '{first}'").runs
    for s in steps:  # each step's row links its run and says why it ran
        assert f'href="/runs/{s.id}"' in r.text
    assert "no earlier execution of this step" in r.text


def test_the_second_run_shows_its_steps_taken_from_the_cache(ui: UiServer) -> None:
    first, again = _training_runs(ui)
    r = ui.get(f"/pipelines/{again}")
    assert r.status_code == 200
    nodes = _nodes(r.text)
    assert len(nodes) == 3 and all("cached" in classes.split() for classes, _ in nodes)
    assert len(_edges(r.text)) == 3
    assert r.text.count('<span class="status status-cached">cached</span>') >= 3
    # each cached step links the execution it reused: a step run of the first pipeline run
    sources = {s.id for s in ui.local.search_runs([PROJECT], f"tags.pipeline_run = '{first}'").runs}
    linked = set(re.findall(r'hit \(from <a href="/runs/([0-9a-f]+)"', r.text))
    assert linked == sources


def test_a_failed_step_shows_its_error_and_log_and_old_runs_draw_a_chain(ui: UiServer) -> None:
    """A run made before steps recorded their upstream steps: the DAG falls back to the
    order the steps started in, and says so."""
    local = ui.local
    parent = local.create_run(PROJECT, "pipeline.old", {"kind": "pipeline", "pipeline": "old"})
    ids = []
    for name in ("extract", "load"):
        tags = {"kind": "step", "pipeline": "old", "pipeline_run": parent.id, "step": name}
        tags |= {"cache": "miss", "why": orjson.dumps(["no earlier execution"]).decode()}
        ids.append(local.create_run(PROJECT, name, tags, parent.id).id)
    # the two were made within a millisecond: say that load started after extract
    with local.db.write() as conn:
        conn.exec_driver_sql("UPDATE runs SET start_time = start_time + 5 WHERE id = ?", (ids[1],))
    local.end_run(ids[0], "finished")
    local.upload_artifact(ids[1], "load.log", io.BytesIO(b"connecting to the warehouse\n"))
    local.end_run(ids[1], "failed", "ValueError: the warehouse said no")
    local.end_run(parent.id, "failed", "step 'load' failed")
    r = ui.get(f"/pipelines/{parent.id}")
    assert r.status_code == 200
    assert _edges(r.text) == {"extract then load"}
    assert "drawn in the order they started" in r.text
    assert [c for c, name in _nodes(r.text) if name == "load"] == ["failed"]
    assert "ValueError: the warehouse said no" in r.text
    assert "connecting to the warehouse" in r.text
    listed = ui.get("/pipelines", params={"project": PROJECT}).text
    row = re.search(rf'<a href="/pipelines/{parent.id}">.*?</tr>', listed, re.S)
    assert row is not None
    assert re.findall(r'<td class="num">(\d+)</td>', row.group(0)) == ["1", "0", "1"]


def test_unknown_runs_and_runs_of_no_pipeline_are_not_found(ui: UiServer) -> None:
    assert ui.get("/pipelines/0123456789abcdef0123456789abcdef").status_code == 404
    plain = ui.local.create_run(PROJECT, "not-a-pipeline")
    r = ui.get(f"/pipelines/{plain.id}")
    assert r.status_code == 404 and "not a pipeline run" in r.text


def test_a_viewer_sees_the_pipelines_of_their_projects(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    http = sign_in(server, secrets["viewer"])
    try:
        # no project chosen: the projects this viewer may read (asking for every project
        # would need a role in each)
        r = http.get("/pipelines")
        assert r.status_code == 200
        assert r.text.count('href="/pipelines/') >= 3
        assert "retrain-on-alert" in r.text
    finally:
        http.close()
