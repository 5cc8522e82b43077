"""Tracking benchmarks: setpoint against MLflow 3.17.2 in the same run, on the same data.

    python benchmarks/bench_tracking.py [--db sqlite|postgres|both] [--runs 10000]
                                        [--million] [--no-peer]

The peer runs from the virtual environment made by benchmarks/make_peer_env.sh. Ratios are
printed (setpoint's rate over MLflow's, or MLflow's time over setpoint's): absolute times on a
shared machine are noise, ratios measured in one run are not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compiled import compile_setpoint
from peer_run import peer

HERE = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("SETPOINT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ---------------------------------------------------------------- stores


@contextmanager
def store(db: str) -> Iterator[tuple[str, str]]:
    """Yield (setpoint database URL, plain URL for the peer) of a fresh, empty database."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/setpoint.db", f"sqlite:///{tmp}/mlflow.db"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    names = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as conn:
        for n in names:
            conn.execute(text(f'CREATE DATABASE "{n}"'))
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{names[0]}", f"postgresql://postgres@127.0.0.1:5432/{names[1]}"
    finally:
        with admin.connect() as conn:
            for n in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
        admin.dispose()


def open_client(url: str, home: str) -> Any:
    from setpoint.client import sdk
    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings
    from setpoint.store.metadata import migrate
    from setpoint.store.metadata.database import Database

    engine = Database(url)._create_engine()
    migrate.upgrade(engine)
    engine.dispose()
    settings = Settings.from_env({"SETPOINT_HOME": home, "SETPOINT_DATABASE_URL": url})
    client = LocalClient(settings).open()
    sdk.use(client, settings)
    return client


# ---------------------------------------------------------------- setpoint side


def bench_setpoint(url: str, n_single: int, n_batch: int, n_runs: int) -> dict[str, float]:
    import pandas  # noqa: F401 - imported up front, as the peer's process has it loaded

    import setpoint as sp

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home:
        client = open_client(url, home)
        run = sp.start_run(project="bench", name="single")
        t0 = time.perf_counter()
        for i in range(n_single):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
        run.end()  # includes writing every point
        dt = time.perf_counter() - t0
        assert len(client.get_metric_history(run.id, "loss").steps) == n_single
        out["log_metric_per_s"] = n_single / dt

        run = sp.start_run(project="bench", name="batch")
        ts = int(time.time() * 1000)
        t0 = time.perf_counter()
        for off in range(0, n_batch, 1000):
            end = min(off + 1000, n_batch)
            client.log_metrics(
                run.id,
                ["acc"] * (end - off),
                [i / n_batch for i in range(off, end)],
                list(range(off, end)),
                [ts] * (end - off),
            )
        out["log_batch_points_per_s"] = n_batch / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        hist = sp.get_metric_history(run.id, "acc")
        out["history_points_per_s"] = len(hist) / (time.perf_counter() - t0)
        assert len(hist) == n_batch
        run.end()

        params = {f"p{j}": str(j % 10) for j in range(20)}
        metrics = {f"m{j}": j / 20 for j in range(20)}
        times = []
        for _ in range(n_runs):
            t0 = time.perf_counter()
            with sp.start_run(project="bench") as r:
                r.log_params(params)
                r.log_metrics(metrics)
            times.append(time.perf_counter() - t0)
        out["create_run_ms"] = statistics.mean(times) * 1000
        client.close()
    return out


def populate_via_api(client: Any, n: int) -> None:
    """n runs of 20 params and 20 metrics, finished, the data MLflow's benchmark logs."""
    ts = int(time.time() * 1000)
    for i in range(n):
        r = client.create_run("search")
        client.log_params(r.id, {f"p{j}": str((i + j) % 10) for j in range(20)})
        client.log_metrics(
            r.id,
            [f"m{j}" for j in range(20)],
            [(i * 7919 + j) % 1000 / 1000 for j in range(20)],
            [0] * 20,
            [ts] * 20,
        )
        client.end_run(r.id)


def populate_bulk(client: Any, n: int, chunk: int = 100_000) -> None:
    """The same data written straight into the tables (a million runs in minutes, not hours):
    executemany on SQLite, COPY on PostgreSQL."""
    from setpoint.core.ids import new_run_id
    from setpoint.store.metadata import runs as repo

    now = int(time.time() * 1000)
    with client.db.write() as conn:
        pid = repo.ensure_project(conn, "search", now)
    next_series = 1
    for start in range(0, n, chunk):
        ids = [new_run_id() for _ in range(start, min(start + chunk, n))]
        run_rows = [
            (rid, pid, f"r{start + k}", "finished", now + start + k, now + start + k, now)
            for k, rid in enumerate(ids)
        ]
        param_rows = [
            (rid, f"p{j}", str((start + k + j) % 10))
            for k, rid in enumerate(ids)
            for j in range(20)
        ]
        series_rows = []
        for k, rid in enumerate(ids):
            i = start + k
            for j in range(20):
                value = (i * 7919 + j) % 1000 / 1000
                series_rows.append((next_series, rid, f"m{j}", value, 0, now, 1))
                next_series += 1
        tables = [
            ("runs", "id, project_id, name, status, start_time, end_time, heartbeat_at", run_rows),
            ("params", "run_id, key, value", param_rows),
            ("metric_series", "id, run_id, key, value, step, timestamp, count", series_rows),
        ]
        with client.db.write() as conn:
            raw = conn.connection.dbapi_connection
            for table, cols, rows in tables:
                if client.db.dialect == "postgresql":
                    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                        for r in rows:
                            cp.write_row(r)
                else:
                    marks = ", ".join("?" * len(rows[0]))
                    raw.cursor().executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
    with client.db.write() as conn:
        if client.db.dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('metric_series', 'id'), "
                "(SELECT max(id) FROM metric_series))"
            )
        conn.exec_driver_sql("ANALYZE")


def time_search(client: Any, repeats: int = 5) -> tuple[float, int]:
    best = float("inf")
    rows = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        page = client.search_runs(
            ["search"], "metrics.m3 > 0.5 and params.p7 = '3'", ["metrics.m5 DESC"], 100, None
        )
        best = min(best, time.perf_counter() - t0)
        rows = len(page.runs)
    return best, rows


def bench_search(url: str, n: int, bulk: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        client = open_client(url, home)
        t0 = time.perf_counter()
        (populate_bulk if bulk else populate_via_api)(client, n)
        populate = time.perf_counter() - t0
        search_s, rows = time_search(client)
        client.close()
    return {"populate_s": populate, "search_s": search_s, "rows": rows, "n_runs": n}


WRITER = textwrap.dedent(
    """
    import sys
    import setpoint as sp
    with sp.start_run(project="load", name=sys.argv[1]) as run:
        for i in range(5000):
            run.log_metric("x", float(i), step=i)
    print(run.id)
    """
)


def bench_processes(url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        client = open_client(url, home)
        env = {**os.environ, "SETPOINT_HOME": home, "SETPOINT_DATABASE_URL": url}
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, f"w{i}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(8)
        ]
        results = [p.communicate() for p in procs]
        elapsed = time.perf_counter() - t0
        errors = sum(
            p.returncode != 0 or "locked" in err for p, (_, err) in zip(procs, results, strict=True)
        )
        points = sum(
            len(client.get_metric_history(out.strip(), "x").steps)
            for out, _ in results
            if out.strip()
        )
        client.close()
    return {"seconds": elapsed, "points": points, "failed_processes": errors}


def startup_times() -> dict[str, float]:
    def best(cmd: list[str]) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        return min(times)

    setpoint_bin = Path(sys.executable).parent / "setpoint"
    return {
        "help_s": best([str(setpoint_bin), "--help"]),
        "import_s": best([sys.executable, "-c", "import setpoint"]),
        "python_s": best([sys.executable, "-c", "pass"]),
    }


# ---------------------------------------------------------------- peer side


# ---------------------------------------------------------------- report


def row(
    label: str, ours: float, theirs: float | None, unit: str, higher_is_better: bool, target: str
) -> str:
    if theirs is None:
        return f"| {label} | {ours:,.4g} {unit} | – | – | {target} |"
    ratio = ours / theirs if higher_is_better else theirs / ours
    return f"| {label} | {ours:,.4g} {unit} | {theirs:,.4g} {unit} | {ratio:,.1f}× | {target} |"


SECTIONS = ("tracking", "search", "million", "processes", "startup")


def section_tracking(db: str, args: argparse.Namespace) -> tuple[list[str], Any]:
    with store(db) as (url, peer_url):
        ours = bench_setpoint(url, args.single, 100_000, 200)
        theirs = None
        if not args.no_peer:
            theirs = peer(
                "mlflow_tracking.py",
                *("--single", "2000", "--batch", "100000", "--runs", "200"),
                *("--db-url", peer_url),
            )
    t = theirs or {}
    measures = [
        ("log_metric in a loop", "log_metric_per_s", "/s", True, "≥ 100×"),
        ("bulk log 100k points", "log_batch_points_per_s", "points/s", True, "≥ 20×"),
        ("read 100k points back", "history_points_per_s", "points/s", True, "≥ 20×"),
        ("create a run (20 params, 20 metrics)", "create_run_ms", "ms", False, "≥ 10×"),
    ]
    lines = [
        row(f"{db}: {label}", ours[k], t.get(k), unit, hib, tgt)
        for label, k, unit, hib, tgt in measures
    ]
    return lines, {"setpoint": ours, "mlflow": theirs}


def section_search(db: str, args: argparse.Namespace) -> tuple[list[str], Any]:
    with store(db) as (url, peer_url):
        ours = bench_search(url, args.runs, bulk=False)
        theirs = None
        if not args.no_peer:
            theirs = peer("mlflow_search.py", "--runs", str(args.runs), "--db-url", peer_url)
    target = "≥ 10×" if db == "sqlite" else "< 0.1 s"
    label = f"{db}: search {args.runs:,} runs, page of 100"
    line = row(label, ours["search_s"], (theirs or {}).get("search_s"), "s", False, target)
    return [line], {"setpoint": ours, "mlflow": theirs}


def section_million(db: str, args: argparse.Namespace) -> tuple[list[str], Any]:
    with store(db) as (url, _):
        big = bench_search(url, 1_000_000, bulk=True)
    label = f"{db}: search 1,000,000 runs, page of 100"
    return [row(label, big["search_s"], None, "s", False, "< 1 s")], big


def section_processes(db: str, args: argparse.Namespace) -> tuple[list[str], Any]:
    with store(db) as (url, _):
        procs = bench_processes(url)
    line = (
        f"| {db}: 8 processes × 5,000 points | {procs['points']:,} points in "
        f"{procs['seconds']:.1f}s, {procs['failed_processes']} failed | – | – | "
        "40,000, no lock error |"
    )
    return [line], procs


def section_startup(args: argparse.Namespace) -> tuple[list[str], Any]:
    st = startup_times()
    theirs = (None if args.no_peer else peer("cli_help.py")) or {}
    lines = [
        row("`setpoint --help`", st["help_s"], theirs.get("help_s"), "s", False, "< 0.3 s"),
        row("`import setpoint`", st["import_s"], theirs.get("import_s"), "s", False, "< 0.3 s"),
    ]
    return lines, {"setpoint": st, "mlflow": theirs or None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--runs", type=int, default=10_000, help="runs for the search benchmark")
    ap.add_argument(
        "--sections",
        default="tracking,search,processes,startup",
        help=f"comma-separated, of: {', '.join(SECTIONS)} (million: 1,000,000 runs, no peer)",
    )
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--single", type=int, default=100_000)
    args = ap.parse_args()
    compile_setpoint()
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    lines = ["| measure | setpoint | MLflow 3.17.2 | ratio | target |", "|---|---|---|---|---|"]
    results: dict[str, Any] = {}
    per_db = {
        "tracking": section_tracking,
        "search": section_search,
        "million": section_million,
        "processes": section_processes,
    }
    for db in dbs:
        for name in sections:
            if name in per_db:
                print(f"[{db}] {name} ...", file=sys.stderr, flush=True)
                got, results[f"{db}_{name}"] = per_db[name](db, args)
                lines += got
    if "startup" in sections:
        got, results["startup"] = section_startup(args)
        lines += got
    print("\n".join(lines))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "tracking.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
