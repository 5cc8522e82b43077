"""`setpoint serve` as a user runs it: a process (or several workers) answering on a port,
shut down gracefully with its prediction log written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from conftest import free_port

TRAIN = """
import numpy as np, pandas as pd, setpoint as sp
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
y = (X["a"] > 0).astype(int)
v = sp.log_model(LogisticRegression().fit(X, y), "scorer", project="cli", input_example=X[:5])
sp.set_alias("scorer", "champion", v.version, project="cli")
"""


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    env.pop("SETPOINT_SERVE_TOKENS", None)
    subprocess.run([sys.executable, "-c", TRAIN], env=env, check=True)
    return env


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "setpoint", "serve", "scorer@champion", "--port", str(port), *args],
        env=env,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "setpoint serve did not get ready"
        time.sleep(0.1)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_and_shuts_down_with_the_log_written(
    home: dict[str, str], workers: str
) -> None:
    proc, url = _start(home, "--workers", workers, "--log-interval", "60")
    X = pd.DataFrame(np.ones((4, 3)), columns=["a", "b", "c"])
    try:
        with httpx.Client(base_url=url) as http:
            for _i in range(10):
                r = http.post("/invocations", json={"dataframe_records": X.to_dict("records")})
                assert r.status_code == 200 and r.json() == {"predictions": [1, 1, 1, 1]}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    lines = [ln for ln in err.decode().splitlines() if ln.startswith("{")]
    assert any('"path":"/invocations"' in ln and '"status":200' in ln for ln in lines)
    # read as a user's script would, in a process that exits right after reading
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setpoint as sp; print(len(sp.prediction_log('scorer', project='cli')))",
        ],
        env=home,
        capture_output=True,
        text=True,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "40"  # 10 requests of 4 rows, written on shutdown


def test_serve_refuses_to_listen_beyond_loopback_without_tokens(home: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "setpoint", "serve", "scorer", "--host", "0.0.0.0"],
        env=home,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "needs tokens: set SETPOINT_SERVE_TOKENS" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "setpoint", "serve", "scorer", "--canary", "challenger=150%"],
        env=home,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "canary must be ALIAS=PERCENT" in out.stderr
    assert "Traceback" not in out.stderr
    # a model, alias or version that is not there: one line, before any server starts (with
    # two workers, uvicorn's start-up failure used to end with exit 0)
    for args, said in (
        (["nosuchmodel"], "nosuchmodel does not exist"),
        (["nosuchmodel", "--workers", "2"], "nosuchmodel does not exist"),
        (["scorer@nosuchalias"], "nosuchalias"),
        (["scorer", "--canary", "nosuchalias=10"], "nosuchalias"),
        (["default/scorer/1"], "names a version: serve a model through an alias"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "setpoint", "serve", *args, "--port", "1"],
            env=home,
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0 and said in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr and "serving" not in out.stderr
