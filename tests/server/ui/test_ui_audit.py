"""The audit log and projects pages: newest first, filters, pages, scoped to the caller."""

from __future__ import annotations

import re

from ui_support import PROJECT, UiServer, sign_in


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', html)]


def test_events_newest_first_filtered_and_paged(ui: UiServer) -> None:
    while len(ui.local.audit.list(limit=200)) <= 120:  # more than a page of events
        ui.local.runs.create_run(PROJECT, name="more")
    r = ui.get("/audit")
    seqs = _seqs(r.text)
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 100
    everything = ui.local.audit.list(limit=10_000)
    assert seqs[0] == everything[-1].seq
    older = re.search(r'href="([^"]*before=\d+[^"]*)" rel="next"', r.text)
    assert older is not None
    nxt = _seqs(ui.get(older.group(1).replace("&amp;", "&")).text)
    assert nxt and max(nxt) < min(seqs)
    action = everything[0].action
    only = ui.get("/audit", params={"action": action}).text
    shown = _seqs(only)
    assert shown and {e.seq for e in everything if e.action == action} >= set(shown)
    assert all(e.action == action for e in everything if e.seq in shown)


def test_a_viewer_of_one_project_sees_its_events(ui_roles: tuple[UiServer, dict[str, str]]) -> None:
    server, secrets = ui_roles
    server.local.runs.create_run("elsewhere", name="secret")
    http = sign_in(server, secrets["viewer"])
    r = http.get("/audit")
    assert r.status_code == 200
    rows = r.text.split("<tbody>", 1)[1]
    assert "elsewhere" not in rows and PROJECT in rows
    assert http.get("/audit", params={"project": "elsewhere"}).status_code == 403
    http.close()


def test_projects_overview_shows_models_alerts_and_runs(ui: UiServer) -> None:
    page = ui.get("/").text
    assert f'href="/projects/{PROJECT}"' in page
    assert "quickstart-model" in page and "champion" in page
    one = ui.get(f"/projects/{PROJECT}")
    assert one.status_code == 200 and "Latest runs" in one.text
    assert ui.get("/projects/nope").status_code == 404
