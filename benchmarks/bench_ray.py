"""Ray executor benchmark: 4 independent steps of about 2 s of CPU work each, run by the
in-process executor and by the Ray executor against a running local Ray instance
(`ray start --head --num-cpus 2`, started and stopped here), in the same run. Checks that
both give the same outputs and cache keys. The peer here is setpoint's own in-process
executor (what the issue's bar compares against).

Usage: python benchmarks/bench_ray.py [--seconds 2] [--steps 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from compiled import compile_setpoint

RAY = str(Path(sys.executable).parent / "ray")

PIPELINE = """
import hashlib

import setpoint as sp

@sp.step
def work(i: int, rounds: int, salt: int) -> dict:
    digest = f"{i}-{salt}".encode()
    for _ in range(rounds):
        digest = hashlib.blake2b(digest).digest()
    return {"i": i, "digest": digest.hex()}

@sp.pipeline(project="bench")
def fan(rounds: int, steps: int = 4, salt: int = 0):
    for i in range(steps):
        work(i, rounds, salt)
"""


def _rounds_for(seconds: float) -> int:
    """How many hash rounds take ``seconds`` of CPU here."""
    n, digest = 200_000, b"0"
    t0 = time.process_time()
    for _ in range(n):
        digest = hashlib.blake2b(digest).digest()
    return int(n * seconds / (time.process_time() - t0))


def _run(home: Path, executor: str, rounds: int, steps: int) -> dict:
    """The pipeline in a fresh store: once (on Ray: connecting, workers starting), and on
    Ray once more in the same process (connected, workers up) with new inputs."""
    import setpoint as sp
    from setpoint.client import sdk
    from setpoint.core.config import Settings

    settings = Settings.from_env({"SETPOINT_HOME": str(home)})
    sdk.use(sdk.make_client(settings), settings)
    import fan_pipe  # type: ignore[import-not-found]

    out: dict = {}
    for salt in (0, 1) if executor == "ray" else (0,):
        t0 = time.perf_counter()
        result = sp.run_pipeline(
            fan_pipe.fan, rounds=rounds, steps=steps, salt=salt, executor=executor
        )
        out.setdefault("seconds", []).append(time.perf_counter() - t0)
        assert all(s.status == "ran" for s in result.steps)
        if salt == 0:
            out["keys"] = [sp.get_run(s.run_id).tags["cache_key"] for s in result.steps]
            out["outputs"] = [result.value(s.step) for s in result.steps]
    sdk.use(None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    compile_setpoint()
    rounds = _rounds_for(args.seconds)
    with tempfile.TemporaryDirectory(prefix="setpoint-bench-ray-") as tmp:
        Path(tmp, "fan_pipe.py").write_text(textwrap.dedent(PIPELINE))
        sys.path.insert(0, tmp)
        subprocess.run(
            [RAY, "start", "--head", "--port", "0", "--num-cpus", "2", "--disable-usage-stats"],
            check=True,
            capture_output=True,
        )
        try:
            os.environ["SETPOINT_RAY_ADDRESS"] = "auto"
            here = _run(Path(tmp, "a"), "inprocess", rounds, args.steps)
            on_ray = _run(Path(tmp, "b"), "ray", rounds, args.steps)
        finally:
            import ray

            ray.shutdown()
            subprocess.run([RAY, "stop", "--force"], check=False, capture_output=True)
    same = here["keys"] == on_ray["keys"] and here["outputs"] == on_ray["outputs"]
    base = here["seconds"][0]
    cold, warm = on_ray["seconds"]
    print(f"| {args.steps} steps × {args.seconds:g} s CPU | in process | Ray | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| first run (connects to Ray, its workers start) | {base:.2f} s | {cold:.2f} s | "
        f"{base / cold:.2f}× | ≥ 1.7× |"
    )
    print(f"| next run (connected) | {base:.2f} s | {warm:.2f} s | {base / warm:.2f}× | ≥ 1.7× |")
    print(f"same outputs and cache keys as in process: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
