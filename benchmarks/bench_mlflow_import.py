"""`setpoint import mlflow` on an MLflow SQLite store of N runs × P metric points (made by the
peer venv's MLflow, peers/mlflow_import_seed.py), into a fresh embedded store; then again
(everything already imported). The issue's bar: 1,000 runs × 1,000 points under 60 s.

Usage: python benchmarks/bench_mlflow_import.py [--runs 1000] [--points 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compiled import compile_setpoint
from peer_run import peer

SETPOINT = str(Path(sys.executable).parent / "setpoint")
BAR_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=1000)
    args = ap.parse_args()
    compile_setpoint()
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-mlflow-import-") as tmp:
        db, artifacts = os.path.join(tmp, "mlflow.db"), os.path.join(tmp, "mlruns")
        seeded = peer(
            "mlflow_import_seed.py",
            "--db",
            db,
            "--artifacts",
            artifacts,
            "--runs",
            str(args.runs),
            "--points",
            str(args.points),
        )
        if seeded is None:
            raise SystemExit("the MLflow store could not be made (see above)")
        env = {**os.environ, "SETPOINT_HOME": os.path.join(tmp, "home")}
        for var in ("SETPOINT_URL", "SETPOINT_DATABASE_URL", "SETPOINT_ARTIFACTS_URL"):
            env.pop(var, None)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            p = subprocess.run(
                [SETPOINT, "import", "mlflow", "--from", f"sqlite:///{db}", "--json"],
                env=env,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - t0)
            if p.returncode != 0:
                raise SystemExit(f"import failed ({p.returncode}): {p.stderr[-2000:]}")
    points = args.runs * args.points
    first, again = times
    verdict = "met" if first < BAR_S else "MISSED"
    print(f"MLflow store: {args.runs:,} runs × {args.points:,} points ({points:,} points)")
    print(
        f"setpoint import mlflow: {first:.1f} s ({points / first:,.0f} points/s); bar {BAR_S:.0f} s: {verdict}"
    )
    print(f"again (all already imported): {again:.1f} s")


if __name__ == "__main__":
    main()
