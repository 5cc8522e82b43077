"""Pipelines benchmark: per-step overhead in a process, and re-running a fully cached
10-step pipeline from the CLI against a no-op `dvc repro` of the equivalent 10-stage
dvc.yaml (peer venv), in the same run.

Usage: python benchmarks/bench_pipelines.py [--steps 50] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from compiled import compile_setpoint
from peer_run import peer

SETPOINT = str(Path(sys.executable).parent / "setpoint")

PIPELINE = """
import setpoint as sp

@sp.step
def s0(seed: int) -> dict:
    return {"v": seed}

def _stage(i):
    @sp.step(name=f"s{i}")
    def stage(prev: dict) -> dict:
        return {"v": prev["v"] + 1}
    return stage

STAGES = [_stage(i) for i in range(1, 10)]

@sp.pipeline(project="bench")
def chain(seed: int = 0):
    x = s0(seed)
    for stage in STAGES:
        x = stage(x)

@sp.step(cache=False)
def noop(i: int) -> dict:
    return {}

@sp.pipeline(project="bench")
def overhead(n: int = 50):
    for i in range(n):
        noop(i)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    compile_setpoint()
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-pipes-") as tmp:
        file = Path(tmp, "pipes.py")
        file.write_text(textwrap.dedent(PIPELINE))
        env = {**os.environ, "SETPOINT_HOME": str(Path(tmp, "home"))}
        os.environ.update(env)
        sys.path.insert(0, tmp)
        import pipes  # type: ignore[import-not-found]

        import setpoint as sp

        sp.run_pipeline(pipes.overhead, n=5)  # imports and the store opened
        t0 = time.perf_counter()
        result = sp.run_pipeline(pipes.overhead, n=args.steps)
        per_step = (time.perf_counter() - t0) / args.steps
        assert all(s.status == "ran" for s in result.steps)
        command = [SETPOINT, "pipeline", "run", f"{file}:chain"]
        subprocess.run(command, env=env, check=True, capture_output=True)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            assert out.stdout.count("cached") >= 10
        cached = min(times)
    dvc = None if args.no_peer else peer("dvc_repro.py")
    print("| measure | setpoint | dvc 3.67.1 | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| per-step overhead in a process | {per_step * 1000:.1f} ms | – | – | < 10 ms |")
    noop = dvc["noop_s"] if dvc else None
    peer_cell = f"{noop:.3f} s" if noop else "–"
    ratio = f"{noop / cached:.1f}×" if noop else "–"
    print(
        f"| re-running a cached 10-step pipeline (command) | {cached:.3f} s | {peer_cell} | "
        f"{ratio} | < 0.5 s, ≥ 2× dvc repro |"
    )


if __name__ == "__main__":
    main()
