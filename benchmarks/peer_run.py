"""Run a peer script (benchmarks/peers/) inside the peers' virtualenv; its last stdout line is JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER_PYTHON = Path(os.environ.get("SETPOINT_PEER_VENV", HERE / ".venv-peers")) / "bin" / "python"


def peer(script: str, *args: str) -> dict[str, Any] | None:
    """The peer's result, or None (said on stderr) when the venv is missing or the run fails."""
    if not PEER_PYTHON.exists():
        print(f"no peer venv at {PEER_PYTHON}: run benchmarks/make_peer_env.sh", file=sys.stderr)
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
