"""Web UI benchmark: the runs table over 100,000 runs and a metric chart of 1,000,000 points,
timed in a real headless Chromium against `setpoint server`.

    python benchmarks/bench_ui.py [--runs 100000] [--points 1000000] [--repeats 5]

Targets (issue 9): the first page of the runs table rendered in under 1 s, a filter applied
in under 1 s, a 1,000,000-point chart rendered in under 1 s with its shape kept (a single
spike among a million points must show). The peer is MLflow 3.17.2's UI (`mlflow server` from
the peers' venv, benchmarks/make_peer_env.sh) over the same runs and curve. Times are wall-clock from the browser's request to
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
from compiled import compile_setpoint  # noqa: E402


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
    ap.add_argument("--no-peer", action="store_true", help="skip MLflow's UI")
    args = ap.parse_args()
    compile_setpoint()
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
            _wait(base, "/api/v1/health")
            with browser() as b:
                page = b.new_page(viewport={"width": 1366, "height": 800})
                results = measure(page, base, run_id, args.repeats, args.runs)
        finally:
            server.terminate()
            server.wait(10)
    theirs = {} if args.no_peer else mlflow_ui(args)
    print()
    print(
        f"{'what':<40} {'setpoint cold / best / median':>30} {'MLflow UI cold / best / median':>32}  ratio"
    )
    for label, r in results.items():
        t = theirs.get(label)
        peer_text = f"{t['cold']:.2f} / {t['best']:.2f} / {t['median']:.2f} s" if t else "–"
        ratio = f"{t['median'] / r['median']:.1f}×" if t else ""
        ours = f"{r['cold']:.2f} / {r['best']:.2f} / {r['median']:.2f} s"
        print(f"{label:<40} {ours:>30} {peer_text:>32}  {ratio}")
    print("target: each under 1 s; ratio: MLflow's median over setpoint's")
    for note in theirs.get("notes", []):
        print(note)


def mlflow_ui(args: argparse.Namespace) -> dict[str, Any]:
    """The same pages in MLflow's UI (`mlflow server`, SQLite, the same runs and curve)."""
    from peer_run import PEER_PYTHON, peer

    from ports import free_port
    from ui_browser import browser

    out: dict[str, Any] = {"notes": []}
    with tempfile.TemporaryDirectory() as tmp:
        db, art = f"{tmp}/mlflow.db", f"{tmp}/artifacts"
        t0 = time.perf_counter()
        made = peer(
            "mlflow_ui_seed.py", "--db", db, "--artifacts", art,
            "--runs", str(args.runs), "--points", str(args.points),
        )  # fmt: skip
        if made is None:
            return out
        print(f"seeded MLflow's store in {time.perf_counter() - t0:.0f} s")
        port = free_port()
        server = subprocess.Popen(
            [
                str(PEER_PYTHON.parent / "mlflow"), "server",
                "--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root", art,
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base, "/health", 120)
            with browser() as b:
                page = b.new_page(viewport={"width": 1366, "height": 800})
                out.update(measure_mlflow(page, base, made, args))
        finally:
            server.terminate()
            server.wait(30)
    return out


def measure_mlflow(page: Any, base: str, made: dict[str, Any], args: argparse.Namespace) -> Any:
    exp, curve = made["experiment_id"], made["curve_run"]
    # every view setting in the address: MLflow otherwise restores the last filter it saw
    table = (
        f"{base}/#/experiments/{exp}/runs?workflowType=machine_learning&searchFilter="
        "&orderByKey=attributes.start_time&orderByAsc=false&startTime=ALL"
        "&lifecycleFilter=Active&modelVersionFilter=All+Runs&datasetsFilter=W10%3D"
    )
    last = f"r{args.runs - 1}"

    def first_page() -> float:
        page.goto("about:blank")
        t0 = time.perf_counter()
        page.goto(table, wait_until="load")
        page.wait_for_selector(f"text={last}", timeout=120_000)
        return time.perf_counter() - t0

    def filtered() -> float:
        page.goto("about:blank")
        page.goto(table, wait_until="load")
        page.wait_for_selector(f"text={last}", timeout=120_000)
        box = page.locator('input[placeholder^="metrics.rmse"]')
        box.fill("metrics.m3 > 0.5 and params.p7 = '3'")
        t0 = time.perf_counter()
        box.press("Enter")
        # the curve run has no m3: the filter is applied when it is gone and rows are back
        page.wait_for_function(
            "() => !document.body.innerText.includes('long-curve')"
            " && document.querySelectorAll('.ag-row').length > 10",
            timeout=120_000,
        )
        return time.perf_counter() - t0

    notes = []

    def chart() -> float:
        page.goto("about:blank")
        t0 = time.perf_counter()
        page.goto(f"{base}/#/experiments/{exp}/runs/{curve}/model-metrics", wait_until="load")
        page.wait_for_selector(".js-plotly-plot .scatterlayer .trace path", timeout=120_000)
        elapsed = time.perf_counter() - t0
        top = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('.js-plotly-plot .ytick text')]"
            ".map(t => parseFloat(t.textContent.replace('\u2212', '-'))).filter(isFinite))"
        )
        if top < 20 and not notes:
            notes.append(
                f"MLflow's chart lost the spike: its y axis tops at {top} (the spike is 25); "
                "it draws 320 sampled points"
            )
        return elapsed

    result = {
        f"runs table, first page ({args.runs:,} runs)": timed(first_page, args.repeats),
        "runs table, filter applied": timed(filtered, args.repeats),
        f"metric chart, {args.points:,} points": timed(chart, args.repeats),
        "notes": notes,
    }
    return result


def measure(
    page: Any, base: str, run_id: str, repeats: int, runs: int
) -> dict[str, dict[str, float]]:
    table = f"{base}/runs?project=search"
    middle = max(1, runs // 100)  # the page half way through the runs

    def first_page() -> float:
        t0 = time.perf_counter()
        page.goto(table, wait_until="load")
        rows = page.locator("#runs tbody tr").count()
        assert rows == 50, rows
        return time.perf_counter() - t0

    def deep_page() -> float:
        t0 = time.perf_counter()
        page.goto(f"{table}&page={middle}", wait_until="load")
        assert page.locator("#runs tbody tr").count() == 50
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
        f"runs table, first page ({runs:,} runs)": timed(first_page, repeats),
        f"runs table, page {middle:,}": timed(deep_page, repeats),
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


def _wait(base: str, path: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no server answered at {base}{path}")


if __name__ == "__main__":
    main()
