"""The lineage page over HTTP: the graph around a dataset version, a model version or a
deployment, every node a link that opens, and starting points when none is chosen."""

from __future__ import annotations

import html
import re

from ui_support import PROJECT, UiServer, sign_in

DATA = f"{PROJECT}/training-data@1"


def _main(text: str) -> str:
    return text.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def _links(text: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'href="([^"#]+)"', _main(text))}


def _edges(text: str) -> set[str]:
    return {
        html.unescape(t)
        for t in re.findall(r'<path class="edge"[^>]*><title>([^<]+)</title>', text)
    }


def test_a_dataset_version_leads_to_the_runs_that_consumed_it_and_on(ui: UiServer) -> None:
    r = ui.get("/lineage", params={"kind": "dataset_version", "id": DATA})
    assert r.status_code == 200
    consumers = {
        e.source_id
        for e in ui.local.get_lineage("dataset_version", DATA)
        if e.relation == "consumed" and e.source_kind == "run"
    }
    assert len(consumers) >= 4  # the sweep's runs and the registering runs
    links = _links(r.text)
    assert {f"/runs/{run_id}" for run_id in consumers} <= links
    # and on: the model versions those runs registered
    for mv in ui.local.list_model_versions("quickstart-model", PROJECT):
        assert f"/models/{PROJECT}/quickstart-model/{mv.version}" in links
    assert "training-data@1 is consumed by register-best" in _edges(r.text)
    assert "register-best produced quickstart-model v2" in _edges(r.text)
    # every link of the page opens a page
    for link in sorted(links):
        assert ui.get(link).status_code == 200, link


def test_a_deployment_joins_its_monitor_reference_and_the_versions_it_served(
    ui: UiServer,
) -> None:
    r = ui.get("/lineage", params={"kind": "deployment", "id": f"{PROJECT}/fraud-detector"})
    assert r.status_code == 200
    edges = _edges(r.text)
    # the monitor watches the deployment against this reference
    assert "transactions@1 is the reference of monitor fraud-live on fraud-detector" in edges
    # the first model served week 1; the retrained one (made by a pipeline step) after
    assert "fraud-detector v1 is served by fraud-detector" in edges
    assert "fraud-detector v2 is served by fraud-detector" in edges
    assert "register_and_promote produced fraud-detector v2" in edges
    assert f"/deployments/{PROJECT}/fraud-detector" in _links(r.text)


def test_a_model_version_links_back_to_its_run_and_data(ui: UiServer) -> None:
    champion = ui.local.resolve_alias("quickstart-model", "champion", PROJECT)
    r = ui.get("/lineage", params={"kind": "model_version", "id": champion.ref})
    assert r.status_code == 200
    assert champion.run_id is not None
    links = _links(r.text)
    assert f"/runs/{champion.run_id}" in links
    assert f"/datasets/{PROJECT}/training-data/1" in links
    assert 'aria-current="true"' in r.text  # the node the walk started from


def test_unknown_nodes_are_not_found_and_bad_kinds_are_refused(ui: UiServer) -> None:
    for kind, ident in [
        ("run", "0123456789abcdef0123456789abcdef"),
        ("dataset_version", f"{PROJECT}/no-such-data@1"),
        ("model_version", f"{PROJECT}/quickstart-model/99"),
        ("deployment", f"{PROJECT}/no-such-deployment"),
    ]:
        r = ui.get("/lineage", params={"kind": kind, "id": ident})
        assert r.status_code == 404, (kind, r.text)
    assert ui.get("/lineage", params={"kind": "planet", "id": "x"}).status_code == 422
    assert ui.get("/lineage", params={"kind": "model_version", "id": "x"}).status_code == 422


def test_without_a_node_the_page_offers_starting_points(ui: UiServer) -> None:
    r = ui.get("/lineage")
    assert r.status_code == 200
    links = _links(r.text)
    assert f"/lineage?kind=dataset_version&id={PROJECT}%2Ftraining-data%401" in links
    latest = ui.local.get_model("quickstart-model", PROJECT).latest_version
    assert f"/lineage?kind=model_version&id={PROJECT}%2Fquickstart-model%2F{latest}" in links
    assert f"/lineage?kind=deployment&id={PROJECT}%2Ffraud-detector" in links
    for link in links:
        if link.startswith("/lineage?"):
            assert ui.get(link).status_code == 200, link


def test_a_viewer_of_the_project_sees_its_lineage(
    ui_roles: tuple[UiServer, dict[str, str]],
) -> None:
    server, secrets = ui_roles
    http = sign_in(server, secrets["viewer"])
    try:
        r = http.get("/lineage", params={"kind": "dataset_version", "id": DATA})
        assert r.status_code == 200
        assert "register-best produced quickstart-model v2" in _edges(r.text)
        assert "training-data@1" in http.get("/lineage").text
    finally:
        http.close()


def test_a_derived_version_is_joined_to_its_parent_once(ui: UiServer) -> None:
    """A version made with parents is one edge from each parent on the graph, drawn the
    way data flows, though the store holds both its parents and their lineage edges."""
    parent = ui.local.get_dataset_version("training-data", PROJECT, 1)
    child = ui.local.create_dataset_version(
        "derived-data",
        parent.digest,
        project=PROJECT,
        parents=[DATA],
        kind="table",
        profile=parent.profile_digest,
    )
    for node in (child.ref, DATA):  # walked from either end
        r = ui.get("/lineage", params={"kind": "dataset_version", "id": node})
        assert r.status_code == 200
        joins = [e for e in _edges(r.text) if "derived-data" in e and "training-data" in e]
        assert joins == ["training-data@1 derived derived-data@1"], node
