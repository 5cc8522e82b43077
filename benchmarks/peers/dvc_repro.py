"""DVC pipeline peer: wall time of a no-op `dvc repro` of a 10-stage chain (each stage reads
the previous stage's output and writes its own), in a `dvc init --no-scm` repo, after a first
repro has run every stage. Best of several runs; prints one JSON line on stdout."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = 10


def main() -> None:
    dvc = str(Path(sys.executable).parent / "dvc")
    with tempfile.TemporaryDirectory(prefix="dvc-repro-") as repo:
        subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True)
        Path(repo, "s0.json").write_text('{"v": 0}')
        stages = {}
        for i in range(1, STAGES + 1):
            code = (
                "import json;"
                f"v=json.load(open('s{i - 1}.json'))['v'];"
                f"json.dump({{'v': v + 1}}, open('s{i}.json', 'w'))"
            )
            stages[f"s{i}"] = {
                "cmd": f'{sys.executable} -c "{code}"',
                "deps": [f"s{i - 1}.json"],
                "outs": [f"s{i}.json"],
            }
        import yaml

        Path(repo, "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        subprocess.run([dvc, "repro", "-q"], cwd=repo, check=True, env=env)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([dvc, "repro", "-q"], cwd=repo, check=True, env=env)
            times.append(time.perf_counter() - t0)
    print(json.dumps({"noop_s": min(times)}))


if __name__ == "__main__":
    main()
