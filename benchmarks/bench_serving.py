"""Serving benchmark: `setpoint serve --workers 2` against `mlflow models serve -w 2` (peer
venv) of the same HistGradientBoostingClassifier on scikit-learn's breast-cancer data, both
loaded with wrk -t2 -c16 with one-row and 64-row `dataframe_split` bodies, in the same run.
Also: the time the server adds to an in-process `predict` at low load (one connection), and
the memory of one worker against a bare Python process holding the model.

Usage: python benchmarks/bench_serving.py [--seconds 15] [--no-peer]   (needs wrk)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from compiled import compile_setpoint
from peer_run import peer
from wrk import wrk

SETPOINT = str(Path(sys.executable).parent / "setpoint")

HOLD = """
import os, sys, setpoint as sp
from sklearn.datasets import load_breast_cancer
X = load_breast_cancer(as_frame=True).data
m = sp.load_model("bc@champion")
m.predict(X[:1])
print(open(f"/proc/{os.getpid()}/status").read().split("VmRSS:")[1].split()[0])
"""


def _rss_kib(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])


def _start(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [SETPOINT, "serve", "bc@champion", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("setpoint serve did not start")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    compile_setpoint()
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    bodies = {
        rows: json.dumps(
            {"dataframe_split": {"columns": list(X.columns), "data": X[:rows].values.tolist()}}
        )
        for rows in (1, 64)
    }
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-serve-") as tmp:
        env = {**os.environ, "SETPOINT_HOME": str(Path(tmp, "home"))}
        os.environ.update(env)
        import setpoint as sp

        model = HistGradientBoostingClassifier(random_state=0).fit(X, y)
        v = sp.log_model(model, "bc", input_example=X[:5])
        sp.set_alias("bc", "champion", v.version)
        loaded = sp.load_model("bc@champion")
        one = X[:1]
        for _ in range(200):
            loaded.predict(one)
        times = []
        for _ in range(2000):
            t0 = time.perf_counter()
            loaded.predict(one)
            times.append(time.perf_counter() - t0)
        predict_ms = statistics.median(times) * 1000

        port = 18000 + os.getpid() % 1000
        url = f"http://127.0.0.1:{port}/invocations"
        proc = _start(env, port, 2)
        try:
            ours = {}
            for key, rows in (("single", 1), ("batch64", 64)):
                wrk(url, bodies[rows], seconds=2)
                ours[key] = wrk(url, bodies[rows], seconds=args.seconds)
        finally:
            _stop(proc)
        proc = _start(env, port, 1)
        try:
            low = wrk(url, bodies[1], threads=1, connections=1, seconds=5)
            rss = _rss_kib(proc.pid)
        finally:
            _stop(proc)
        bare = int(
            subprocess.run(
                [sys.executable, "-c", HOLD], env=env, capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
    theirs = None if args.no_peer else peer("mlflow_serve.py", str(args.seconds))
    print("| measure | setpoint | mlflow 3.17.2 | ratio | target |")
    print("|---|---|---|---|---|")
    for key, label, rows in (("single", "one-row requests", 1), ("batch64", "64-row requests", 64)):
        o = ours[key]
        t = theirs[key] if theirs else None
        peer_cell = (
            f"{t['rps']:.0f} req/s, p50 {t['p50_ms']:.1f} ms, p99 {t['p99_ms']:.1f} ms"
            if t
            else "–"
        )
        ratio = f"{o['rps'] / t['rps']:.1f}× ({o['rps'] * rows:.0f} rows/s)" if t else "–"
        target = "≥ 10× and a lower p99" if rows == 1 else "≥ 5× rows/s"
        print(
            f"| {label} (wrk -t2 -c16) | {o['rps']:.0f} req/s, p50 {o['p50_ms']:.1f} ms, "
            f"p99 {o['p99_ms']:.1f} ms, {o['errors']} errors | {peer_cell} | {ratio} | {target} |"
        )
    print(
        f"| time added to predict at low load (p50 {low['p50_ms']:.2f} ms − predict "
        f"{predict_ms:.2f} ms) | {low['p50_ms'] - predict_ms:.2f} ms | – | – | < 2 ms |"
    )
    print(
        f"| memory of one worker vs a bare process holding the model | {rss / 1024:.0f} MiB vs "
        f"{bare / 1024:.0f} MiB: {rss / bare:.2f}× | – | – | < 1.5× |"
    )


if __name__ == "__main__":
    main()
