"""The web UI in a real headless Chromium against a seeded store: every page loads with no
console errors, runs are filtered and compared, sign-in works. Screenshots of each page are
kept (build/ui-screenshots)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from ui_browser import Watched, browser
from ui_support import PROJECT, UiServer

pytestmark = pytest.mark.browser

MAX_PAGES = 80


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def tab(chromium: Any, ui: UiServer) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    yield Watched(context, ui.url)
    context.close()


def _shape(path: str) -> str:
    """A path with its ids and numbers replaced, so the crawl visits each kind of page a few
    times rather than every run."""
    path = re.sub(r"[0-9a-f]{32}", "<id>", path)
    return re.sub(r"/\d+(?=/|$)", "/<n>", path)


def test_every_page_loads_without_console_errors(tab: Watched) -> None:
    seen: dict[str, int] = {}
    queue = ["/"]
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        shape = _shape(urlsplit(path).path)
        if path in visited or seen.get(shape, 0) >= 2:
            continue
        seen[shape] = seen.get(shape, 0) + 1
        response = tab.open(path)
        visited.append(path)
        assert response.status == 200, f"{path} answered {response.status}"
        assert not tab.problems, f"{path}: {tab.problems}"
        assert not tab.accessibility_problems(), f"{path}: {tab.accessibility_problems()}"
        name = re.sub(r"[^a-z0-9]+", "-", shape.lower()).strip("-") or "projects"
        tab.screenshot(f"{name}-{seen[shape]}")
        for href in tab.page.eval_on_selector_all(
            "main a[href]:not([download]), header nav a[href]",
            "els => els.map(a => a.getAttribute('href'))",
        ):
            target = urlsplit(href)
            if target.scheme or target.netloc or not target.path.startswith("/"):
                continue  # nothing but this server's own pages
            if "/files/" in target.path or target.path.startswith(("/static", "/api")):
                continue
            queue.append(href)
    visited_shapes = {_shape(urlsplit(v).path) for v in visited}
    for expected in (
        "/",
        "/runs",
        "/runs/<id>",
        "/datasets",
        "/models",
        "/pipelines",
        "/deployments",
        "/lineage",
        "/audit",
    ):
        assert expected in visited_shapes, (
            f"the crawl never reached {expected}: {sorted(visited_shapes)}"
        )


def test_filter_runs_in_the_table(tab: Watched, ui: UiServer) -> None:
    tab.open(f"/runs?project={PROJECT}")
    tab.page.fill("#filter", "metrics.auc > 0.5")
    tab.page.press("#filter", "Enter")
    tab.page.wait_for_load_state()
    shown = tab.page.eval_on_selector_all("#runs tbody tr", "rows => rows.length")
    expected = ui.local.runs.search_runs(PROJECT, "metrics.auc > 0.5", None, 1000).runs
    assert shown == len(expected) > 0
    assert tab.page.input_value("#filter") == "metrics.auc > 0.5"
    tab.page.fill("#filter", "metrics.auc >>> 1")
    tab.page.press("#filter", "Enter")
    tab.page.wait_for_selector("#filter-error")
    assert not [p for p in tab.problems if "console" in p and "422" not in p]
    tab.screenshot("runs-filtered")


def test_compare_two_runs(tab: Watched, ui: UiServer) -> None:
    tab.open(f"/runs?project={PROJECT}&filter=metrics.auc > 0")
    boxes = tab.page.locator("#runs tbody input[type=checkbox]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    tab.page.click("text=Compare selected")
    tab.page.wait_for_selector("h1:has-text('Compare 2 runs')")
    tab.wait_for_charts()
    legends = tab.page.locator("figure.chart .legend").first.locator("span")
    assert legends.count() == 2  # two runs overlaid in one chart
    assert tab.page.locator("tr.differs").count() >= 1  # their parameters differ
    assert not tab.problems
    tab.screenshot("compare-two-runs")


def test_a_server_with_tokens_asks_for_one(chromium: Any, ui_roles: Any) -> None:
    server, secrets = ui_roles
    context = chromium.new_context()
    tab = Watched(context, server.url)
    tab.open("/runs")
    assert "/login" in tab.page.url
    tab.page.fill("#token", "not-a-token")
    tab.page.click("button:has-text('Sign in')")
    assert tab.page.locator("[role=alert]").inner_text().startswith("That token is unknown")
    tab.problems.clear()  # the refused sign-in answered 401, as it should
    tab.page.fill("#token", secrets["viewer"])
    tab.page.click("button:has-text('Sign in')")
    tab.page.wait_for_url(f"{server.url}/runs")
    # a viewer of one project sees that project's runs (not a refusal for the others)
    assert tab.page.locator("#runs tbody tr").count() > 0
    assert not tab.problems, tab.problems
    assert "viewer" in tab.page.locator("header .who").inner_text()
    context.close()


MODEL = f"/models/{PROJECT}/quickstart-model"


def test_promote_is_refused_by_a_gate_then_a_passing_one_is_rolled_back(
    tab: Watched, ui: UiServer
) -> None:
    champion = ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version
    # version 3 misses the champion's AUC gate: the page says which gate, the alias stays
    tab.open(f"{MODEL}/3")
    tab.page.fill("#promote-alias", "champion")
    tab.page.fill("#promote-reason", "try the newest")
    tab.page.click("#promote-form button[type=submit]")
    assert tab.page.locator("#confirm").is_visible()  # asks first
    tab.page.click("#confirm-ok")
    tab.page.wait_for_selector("#refused")
    assert "roc_auc" in tab.page.locator("#refused [role=alert]").inner_text()
    assert ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version == champion
    tab.screenshot("model-promotion-refused")
    tab.problems.clear()  # the refusal answered 409, as it should
    # version 2 passes: promoted from the page, then rolled back from the model page
    tab.open(f"{MODEL}/2")
    tab.page.fill("#promote-alias", "champion")
    tab.page.click("#promote-form button[type=submit]")
    tab.page.click("#confirm-ok")
    tab.page.wait_for_selector(".notice")
    assert ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version == 2
    tab.open(MODEL)
    rollback = tab.page.locator("form[action$='/aliases/champion/rollback']")
    rollback.locator("input[name=reason]").fill("v2 looked worse live")
    rollback.locator("button[type=submit]").click()
    tab.page.locator("#confirm-ok").click()
    tab.page.wait_for_selector(".notice")
    assert ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version == champion
    moves = ui.local.registry.history(PROJECT, "quickstart-model", "champion")
    assert any(m.reason == "v2 looked worse live" for m in moves)
    assert not tab.problems, tab.problems
    tab.screenshot("model-rolled-back")


def test_the_keyboard_reaches_content_and_dialogs_can_be_cancelled(
    tab: Watched, ui: UiServer
) -> None:
    champion = ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version
    tab.open(f"{MODEL}/2")
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("document.activeElement.textContent") == "Skip to content"
    tab.page.keyboard.press("Enter")
    assert tab.page.evaluate("document.activeElement.id") == "main"
    tab.page.focus("#promote-alias")
    tab.page.fill("#promote-alias", "champion")
    tab.page.keyboard.press("Enter")  # submits the form: the dialog asks first
    assert tab.page.locator("#confirm").is_visible()
    assert tab.page.evaluate("document.getElementById('confirm').contains(document.activeElement)")
    tab.page.keyboard.press("Escape")
    assert not tab.page.locator("#confirm").is_visible()
    assert ui.local.registry.resolve(PROJECT, "quickstart-model", "champion").version == champion
    assert not tab.problems, tab.problems
