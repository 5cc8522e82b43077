"""MLflow-compatibility benchmark: the real MLflow client (peer venv) logging to
`setpoint server` and to `mlflow server`, both on SQLite on this machine, in the same run:
10,000 metrics one call at a time, the same with log_batch, and search_runs over N runs.
The same client also runs against benchmarks/canned_mlflow_server.py, which stores nothing
and answers at once: the client's own time, and so the best ratio any server could reach.

Usage: python benchmarks/bench_mlflow_api.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compiled import compile_setpoint
from peer_run import PEER_PYTHON, peer

SETPOINT = str(Path(sys.executable).parent / "setpoint")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


@contextmanager
def _serving(cmd: list[str], health: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start one server on a free loopback port (its command ends where the port number
    goes), wait until it answers, yield its URL and stop it afterwards."""
    port = _port()
    proc = subprocess.Popen(
        [*cmd, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url + health)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    args = ap.parse_args()
    compile_setpoint()
    results = {}
    peer_bin = Path(PEER_PYTHON).parent
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-mlflow-api-") as tmp:
        servers = {
            "setpoint": (
                [SETPOINT, "server", "--port"],
                "/api/v1/health",
                {**os.environ, "SETPOINT_HOME": os.path.join(tmp, "setpoint")},
            ),
            "mlflow": (
                [
                    str(peer_bin / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{tmp}/mlflow.db",
                    "--default-artifact-root",
                    f"{tmp}/mlruns",
                    "--host",
                    "127.0.0.1",
                    "--port",
                ],
                "/health",
                {**os.environ, "PATH": f"{peer_bin}:{os.environ['PATH']}"},
            ),
            "canned": (
                [sys.executable, str(Path(__file__).parent / "canned_mlflow_server.py")],
                "/health",
                None,
            ),
        }
        # one server at a time: on a two-core machine a peer still starting up (or idling
        # with workers) would otherwise slow down whichever server is being measured
        for name, (cmd, health, env) in servers.items():
            with _serving(cmd, health, env) as url:
                results[name] = peer("mlflow_client_load.py", url, str(args.runs))
    ours, theirs, floor = results["setpoint"], results["mlflow"], results["canned"]
    if not ours or not theirs or not floor:
        raise SystemExit("a run failed (see above)")
    print(
        "| the mlflow client, against | setpoint server | mlflow server 3.17.2 | ratio | bar "
        "| a server that answers at once (the client alone) | best ratio possible |"
    )
    print("|---|---|---|---|---|---|---|")
    for key, label, bar in (
        ("one_at_a_time_s", "10,000 `log_metric` calls", "≥ 5×"),
        ("log_batch_s", "10,000 points in 10 `log_batch` calls", "≥ 5×"),
        ("search_s", f"`search_runs` over {args.runs:,} runs (page of 100)", "≥ 10×"),
    ):
        print(
            f"| {label} | {ours[key]:.2f} s | {theirs[key]:.2f} s | "
            f"{theirs[key] / ours[key]:.1f}× | {bar} | {floor[key]:.2f} s | "
            f"{theirs[key] / floor[key]:.1f}× |"
        )
    print(
        f"| making the {args.runs:,} runs (create, log_batch, end) | {ours['populate_s']:.0f} s | "
        f"{theirs['populate_s']:.0f} s | {theirs['populate_s'] / ours['populate_s']:.1f}× | – |"
    )
    print(f"search rows: setpoint {ours['search_rows']}, mlflow {theirs['search_rows']}")


if __name__ == "__main__":
    main()
