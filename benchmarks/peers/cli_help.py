"""MLflow CLI start-up peer: best-of-3 wall time of `mlflow --help` and of `python -c "import mlflow"`.

Run with the peer venv's python; prints one JSON line on stdout.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 3


def best_of(cmd, repeats=REPEATS):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    # The console script sits beside the venv's interpreter (do not resolve symlinks:
    # that would leave the venv's bin folder).
    exe = Path(sys.executable).parent / ("mlflow.exe" if os.name == "nt" else "mlflow")
    if not exe.exists():
        raise SystemExit(f"mlflow executable not found beside {sys.executable}")
    result = {
        "help_s": best_of([str(exe), "--help"]),
        "import_s": best_of([sys.executable, "-c", "import mlflow"]),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
