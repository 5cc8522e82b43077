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

HERE = Path(__file__).resolve().parent
PEER_PYTHON = Path(os.environ.get("SETPOINT_PEER_VENV", HERE / ".venv-peers")) / "bin" / "python"
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


def peer(script: str, *args: str) -> dict[str, Any] | None:
    if not PEER_PYTHON.exists():
        return None
    p = subprocess.run(
        [str(PEER_PYTHON), str(HERE / "peers" / script), *args],
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if p.returncode != 0:
        print(f"peer {script} failed: {p.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def row(
    label: str, ours: float, theirs: float | None, unit: str, higher_is_better: bool, target: str
) -> str:
    if theirs is None:
        return f"| {label} | {ours:,.4g} {unit} | – | – | {target} |"
    ratio = ours / theirs if higher_is_better else theirs / ours
    return f"| {label} | {ours:,.4g} {unit} | {theirs:,.4g} {unit} | {ratio:,.1f}× | {target} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--runs", type=int, default=10_000, help="runs for the search benchmark")
    ap.add_argument(
        "--million", action="store_true", help="also search 1,000,000 runs (setpoint only)"
    )
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--single", type=int, default=100_000)
    args = ap.parse_args()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    lines = ["| measure | setpoint | MLflow 3.17.2 | ratio | target |", "|---|---|---|---|---|"]
    results: dict[str, Any] = {}
    for db in dbs:
        with store(db) as (url, peer_url):
            ours = bench_setpoint(url, args.single, 100_000, 200)
            theirs = (
                None
                if args.no_peer
                else peer(
                    "mlflow_tracking.py",
                    "--single",
                    "2000",
                    "--batch",
                    "100000",
                    "--runs",
                    "200",
                    "--db-url",
                    peer_url,
                )
            )
        t = theirs or {}
        lines += [
            row(
                f"{db}: log_metric in a loop",
                ours["log_metric_per_s"],
                t.get("log_metric_per_s"),
                "/s",
                True,
                "≥ 100×",
            ),
            row(
                f"{db}: bulk log 100k points",
                ours["log_batch_points_per_s"],
                t.get("log_batch_points_per_s"),
                "points/s",
                True,
                "≥ 20×",
            ),
            row(
                f"{db}: read 100k points back",
                ours["history_points_per_s"],
                t.get("history_points_per_s"),
                "points/s",
                True,
                "≥ 20×",
            ),
            row(
                f"{db}: create a run (20 params, 20 metrics)",
                ours["create_run_ms"],
                t.get("create_run_ms"),
                "ms",
                False,
                "≥ 10×",
            ),
        ]
        results[f"{db}_tracking"] = {"setpoint": ours, "mlflow": theirs}
        with store(db) as (url, peer_url):
            ours_s = bench_search(url, args.runs, bulk=False)
            theirs_s = (
                None
                if args.no_peer
                else peer("mlflow_search.py", "--runs", str(args.runs), "--db-url", peer_url)
            )
        lines.append(
            row(
                f"{db}: search {args.runs:,} runs, page of 100",
                ours_s["search_s"],
                (theirs_s or {}).get("search_s"),
                "s",
                False,
                "≥ 10× (SQLite); < 0.1 s (PostgreSQL)",
            )
        )
        results[f"{db}_search"] = {"setpoint": ours_s, "mlflow": theirs_s}
        if args.million:
            with store(db) as (url, _):
                big = bench_search(url, 1_000_000, bulk=True)
            lines.append(
                row(
                    f"{db}: search 1,000,000 runs, page of 100",
                    big["search_s"],
                    None,
                    "s",
                    False,
                    "< 1 s",
                )
            )
            results[f"{db}_search_million"] = big
        with store(db) as (url, _):
            procs = bench_processes(url)
        lines.append(
            f"| {db}: 8 processes × 5,000 points | {procs['points']:,} points in {procs['seconds']:.1f}s, "
            f"{procs['failed_processes']} failed | – | – | 40,000, no lock error |"
        )
        results[f"{db}_processes"] = procs
    st = startup_times()
    peer_st = None if args.no_peer else peer("cli_help.py")
    lines.append(
        row("`setpoint --help`", st["help_s"], (peer_st or {}).get("help_s"), "s", False, "< 0.3 s")
    )
    lines.append(
        row(
            "`import setpoint`",
            st["import_s"],
            (peer_st or {}).get("import_s"),
            "s",
            False,
            "< 0.3 s",
        )
    )
    results["startup"] = {"setpoint": st, "mlflow": peer_st}
    print("\n".join(lines))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "tracking.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
