"""Headless Chromium for the UI tests, driven by Playwright: Debian's ``chromium`` (or
``SETPOINT_CHROMIUM``), never a downloaded browser. Console errors, page errors and failed
requests of every page are collected so a test can assert there are none; screenshots go to
``build/ui-screenshots`` (or ``SETPOINT_UI_SCREENSHOTS``) as the run's artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(
    os.environ.get("SETPOINT_UI_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "build" / "ui-screenshots"
)


def chromium_path() -> str | None:
    return (
        os.environ.get("SETPOINT_CHROMIUM")
        or shutil.which("chromium")
        or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    )


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing: `make browser` installs it (CI must run these tests)")
        pytest.skip("Chromium is not installed: `make browser` installs it")
    return path


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A browser page whose console errors, uncaught exceptions and failed requests are kept."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.page = context.new_page()
        self.base_url = base_url
        self.problems: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") and "favicon" not in m.text
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
        )

    def open(self, path: str) -> Any:
        """Go to ``path`` and wait until its charts are drawn."""
        response = self.page.goto(self.base_url + path)
        self.wait_for_charts()
        return response

    def wait_for_charts(self) -> None:
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('figure[data-chart]')]"
            ".every(f => f.dataset.rendered)",
            timeout=15_000,
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        out = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        return out

    def accessibility_problems(self) -> list[str]:
        """What a keyboard or screen-reader user would miss on this page: form fields
        without a label, images without alt text, links and buttons without a name, tables
        without headers, not exactly one h1."""
        return list(self.page.evaluate(A11Y_CHECK))


A11Y_CHECK = """() => {
  const out = [];
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    if (!(byFor || el.closest("label") || el.getAttribute("aria-label")
          || el.getAttribute("aria-labelledby"))) {
      out.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
    }
  }
  for (const img of document.querySelectorAll("img:not([alt])")) out.push(`img without alt ${img.src}`);
  for (const el of document.querySelectorAll("a[href], button")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label") || el.getAttribute("title"))) {
      out.push(`${el.tagName.toLowerCase()} without a name`);
    }
  }
  for (const t of document.querySelectorAll("table")) {
    if (t.querySelector("td") && !t.querySelector("th")) out.push("table without headers");
  }
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) out.push(`${h1} h1 elements`);
  return out;
}"""
