"""Web UI benchmark: the runs table over 100,000 runs and a metric chart of 1,000,000 points,
timed in a real headless Chromium against `setpoint server`.

    python benchmarks/bench_ui.py [--runs 100000] [--points 1000000] [--repeats 5]

Targets (issue 9): the first page of the runs table rendered in under 1 s, a filter applied
in under 1 s, a 1,000,000-point chart rendered in under 1 s with its shape kept (a single
spike among a million points must show). Times are wall-clock from the browser's request to
the page being drawn (for the chart: to the SVG being in the page), best and median of the
repeats after one cold load. The store is filled straight into its tables (as
bench_tracking.py does for its million-run search): 20 params and 20 metrics per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_tracking import populate_bulk  # noqa: E402


def seed(home: str, runs: int, points: int) -> str:
    """``runs`` runs in project "search" and one run with a ``points``-long metric (a sine
    with one spike); returns that run's id."""
    import numpy as np

    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings

    client = LocalClient(Settings.from_env({"SETPOINT_HOME": home})).open()
    t0 = time.perf_counter()
    populate_bulk(client, runs)
    run = client.runs.create_run("search", name="long-curve")
    steps = np.arange(points)
    values = np.sin(steps / 5000.0) + np.random.default_rng(0).normal(0, 0.05, points)
    values[points // 3] = 25.0  # one spike the chart must keep
    chunk = 100_000
    for i in range(0, points, chunk):
        n = min(chunk, points - i)
        client.runs.log_metrics(
            run.id, ["loss"] * n, values[i : i + n].tolist(), steps[i : i + n].tolist()
        )
    client.runs.end_run(run.id)
    client.close()
    print(f"seeded {runs:,} runs and a {points:,}-point metric in {time.perf_counter() - t0:.0f} s")
    return run.id


def timed(fn: Any, repeats: int) -> dict[str, float]:
    cold = fn()
    warm = [fn() for _ in range(repeats)]
    return {"cold": cold, "best": min(warm), "median": statistics.median(warm)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from ports import free_port
    from ui_browser import browser

    with tempfile.TemporaryDirectory() as home:
        run_id = seed(home, args.runs, args.points)
        port = free_port()
        env = {**os.environ, "SETPOINT_HOME": home}
        server = subprocess.Popen(
            [sys.executable, "-m", "setpoint", "server", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base)
            with browser() as b:
                page = b.new_page(viewport={"width": 1366, "height": 800})
                results = measure(page, base, run_id, args.repeats)
        finally:
            server.terminate()
            server.wait(10)
    print()
    print(f"{'what':<52} {'cold':>8} {'best':>8} {'median':>8}  target")
    for label, r in results.items():
        print(f"{label:<52} {r['cold']:>7.3f}s {r['best']:>7.3f}s {r['median']:>7.3f}s  < 1 s")


def measure(page: Any, base: str, run_id: str, repeats: int) -> dict[str, dict[str, float]]:
    table = f"{base}/runs?project=search"

    def first_page() -> float:
        t0 = time.perf_counter()
        page.goto(table, wait_until="load")
        rows = page.locator("#runs tbody tr").count()
        assert rows == 50, rows
        return time.perf_counter() - t0

    def sorted_page() -> float:
        t0 = time.perf_counter()
        page.goto(f"{table}&order=metrics.m5+DESC&col=metrics.m5", wait_until="load")
        assert page.locator("#runs tbody tr").count() == 50
        return time.perf_counter() - t0

    def filtered() -> float:
        page.goto(table, wait_until="load")
        page.fill("#filter", "metrics.m3 > 0.5 and params.p7 = '3'")
        t0 = time.perf_counter()
        with page.expect_navigation(wait_until="load"):
            page.press("#filter", "Enter")
        assert page.locator("#runs tbody tr").count() == 50
        return time.perf_counter() - t0

    def chart() -> float:
        t0 = time.perf_counter()
        page.goto(f"{base}/runs/{run_id}", wait_until="domcontentloaded")
        page.wait_for_function(
            "() => document.querySelector('figure[data-chart]')?.dataset.rendered", timeout=60_000
        )
        elapsed = time.perf_counter() - t0
        figure = page.locator("figure[data-chart]").first
        assert figure.get_attribute("data-total") == str(page_points), figure.get_attribute(
            "data-total"
        )
        # the spike of one point in a million is drawn: the y axis reaches it
        top = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('figure.chart .axis text')]"
            ".map(t => parseFloat(t.textContent)).filter(isFinite))"
        )
        assert top >= 20, f"the chart lost the spike (axis tops at {top})"
        return elapsed

    page_points = _points(base, run_id)
    return {
        "runs table, first page (100k runs)": timed(first_page, repeats),
        "runs table, sorted by a metric": timed(sorted_page, repeats),
        "runs table, filter applied": timed(filtered, repeats),
        f"metric chart, {page_points:,} points": timed(chart, repeats),
    }


def _points(base: str, run_id: str) -> int:
    import httpx

    r = httpx.get(f"{base}/ui/data/metric", params={"run": run_id, "key": "loss"}, timeout=60)
    r.raise_for_status()
    body = r.json()
    drawn = sum(len(s["x"]) for s in body["series"])
    print(f"chart data: {body['total']:,} points reduced to {drawn:,} for the browser")
    return int(body["total"])


def _wait(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("setpoint server did not start")


if __name__ == "__main__":
    main()
