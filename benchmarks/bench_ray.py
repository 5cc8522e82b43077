"""Ray executor benchmark: 4 independent steps of about 2 s of CPU work each, run by the
in-process executor and by the Ray executor against a running local Ray instance
(`ray start --head --num-cpus 2`, started and stopped here), in the same run. Checks that
both give the same outputs and cache keys. The peer is setpoint's own in-process executor
(what the issue's bar compares against); the same work as plain Ray tasks, from a process
of its own, shows what Ray itself takes to connect and start its workers.

Each Ray measurement is a fresh process: the first one to connect to the instance (Ray
starts workers for it as it connects), plain Ray, then setpoint again as a later process
(Ray starts its workers when its first tasks arrive); each runs the work twice, the second
time connected, with workers up.

Usage: python benchmarks/bench_ray.py [--seconds 2] [--steps 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


def _work(i: int, rounds: int, salt: int) -> dict:
    """The step's work, for plain Ray (PIPELINE's `work`)."""
    digest = f"{i}-{salt}".encode()
    for _ in range(rounds):
        digest = hashlib.blake2b(digest).digest()
    return {"i": i, "digest": digest.hex()}


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


def _ray_alone(rounds: int, steps: int) -> dict:
    """The same work as plain Ray tasks: connecting included, then connected."""
    out: dict = {}
    t0 = time.perf_counter()
    import ray

    ray.init(address="auto", include_dashboard=False, configure_logging=False)
    work = ray.remote(num_cpus=1, max_retries=0)(_work)
    for salt in (0, 1):
        ray.get([work.remote(i, rounds, salt) for i in range(steps)])
        out.setdefault("seconds", []).append(time.perf_counter() - t0)
        t0 = time.perf_counter()
    return out


def _child(kind: str, folder: str, rounds: int, steps: int) -> dict:
    """One measurement in a process of its own (a new Ray driver)."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--dir",
            folder,
            "--rounds",
            str(rounds),
            "--steps",
            str(steps),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {kind} measurement failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--child", choices=["setpoint", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, args.dir)
        if args.child == "ray":
            found = _ray_alone(args.rounds, args.steps)
        else:
            home = Path(tempfile.mkdtemp(prefix="home-", dir=args.dir))
            found = _run(home, "ray", args.rounds, args.steps)
        print(json.dumps(found))
        return
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
            first = _child("setpoint", tmp, rounds, args.steps)
            alone = _child("ray", tmp, rounds, args.steps)
            later = _child("setpoint", tmp, rounds, args.steps)
        finally:
            subprocess.run([RAY, "stop", "--force"], check=False, capture_output=True)
    same = all(
        here["keys"] == r["keys"] and here["outputs"] == r["outputs"] for r in (first, later)
    )
    base = here["seconds"][0]
    rows = [
        ("setpoint, the first process to connect", first["seconds"], "≥ 1.7×"),
        ("setpoint, a later process", later["seconds"], "≥ 1.7×"),
        ("plain Ray tasks (reference), a later process", alone["seconds"], "–"),
    ]
    print(
        f"| {args.steps} steps × {args.seconds:g} s CPU, in process: {base:.2f} s "
        "| connecting (a fresh process) | ratio | connected | ratio | target |"
    )
    print("|---|---|---|---|---|---|")
    for label, (cold, warm), target in rows:
        print(
            f"| {label} | {cold:.2f} s | {base / cold:.2f}× | {warm:.2f} s | "
            f"{base / warm:.2f}× | {target} |"
        )
    print(f"same outputs and cache keys as in process: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
