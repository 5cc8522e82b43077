"""Drift benchmark: setpoint's drift against Evidently 0.7.23's DataDriftPreset (peer venv)
on the same N rows x (20 numeric + 5 categorical) columns, in the same run, with the same
default tests (normalized Wasserstein for numbers, Jensen-Shannon for categories at this
size); wall time and whether every column gets the same decision. Then 10,000,000 rows
against the reference's stored profile, with peak memory.

Usage: python benchmarks/bench_drift.py [--rows 1000000] [--big 10000000] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from drift_data import frames
from peer_run import peer

BIG = """
import json, os, resource, sys, tempfile, time
import numpy as np, setpoint as sp
from drift_data import frame
n, chunk = int(sys.argv[1]), 1_000_000
rng = np.random.default_rng(1)
folder = tempfile.mkdtemp()
for i in range(0, n, chunk):  # the reference, written in parts and versioned by streaming
    frame(min(chunk, n - i), 0.0, rng).to_parquet(f"{folder}/part-{i // chunk:03d}.parquet")
t = time.perf_counter()
version = sp.log_dataset(folder, "reference", project="bench")
logged = time.perf_counter() - t
cur = frame(n, 0.1, rng)
def status(key):
    text = open("/proc/self/status").read()
    return int(text.split(key + ":")[1].split()[0]) / 1024
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:  # restart the peak (VmHWM) from here
    fh.write("5")
t = time.perf_counter()
report = sp.drift(version, cur)
seconds = time.perf_counter() - t
peak = status("VmHWM")
print(json.dumps({"seconds": seconds, "logged": logged, "before_mib": before, "peak_mib": peak, "drifted": report.drifted}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    from setpoint.monitoring.drift import drift

    ref, cur = frames(args.rows)
    drift(ref[:1000], cur[:1000])  # imports
    t0 = time.perf_counter()
    report = drift(ref, cur)
    ours = time.perf_counter() - t0
    del ref, cur
    theirs = None if args.no_peer else peer("evidently_drift.py", str(args.rows))
    same = "–"
    if theirs:
        agree = [
            (report.features[c].statistic >= d["threshold"]) == report.features[c].drifted
            and (d["value"] >= d["threshold"]) == report.features[c].drifted
            for c, d in theirs["columns"].items()
        ]
        same = f"{sum(agree)}/{len(agree)} columns"
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-drift-") as tmp:
        env = {**os.environ, "SETPOINT_HOME": os.path.join(tmp, "home")}
        env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(
            [sys.executable, "-c", BIG, str(args.big)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        big = json.loads(out.stdout.strip().splitlines()[-1])
    peer_s = f"{theirs['seconds']:.1f} s" if theirs else "–"
    ratio = f"{theirs['seconds'] / ours:.0f}×" if theirs else "–"
    print("| measure | setpoint | evidently 0.7.23 | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| drift of {args.rows:,} rows × 25 columns (rows as reference) | {ours:.2f} s, "
        f"{len(report.drifted)} drifted | {peer_s} | {ratio}, same decisions: {same} | ≥ 30× |"
    )
    print(
        f"| drift of {args.big:,} rows × 25 columns against the stored profile | "
        f"{big['seconds']:.1f} s, peak {big['peak_mib']:.0f} MiB while computing (the process "
        f"held {big['before_mib']:.0f} MiB with the current frame before; streaming the "
        f"reference into a version took {big['logged']:.0f} s) | – | – | < 3 GiB |"
    )


if __name__ == "__main__":
    main()
