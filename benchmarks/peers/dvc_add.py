"""DVC add peer: wall time of `dvc add FILE` in a fresh `dvc init --no-scm` repo (first add,
best over fresh repos and caches) and of re-running it on the unchanged file.

Placing the file in the repo (hardlink, or copy across filesystems) is not timed. Run with the
peer venv's python; prints one JSON line on stdout.
"""

import argparse
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="file to add (left untouched)")
    p.add_argument(
        "--repeats", type=int, default=3, help="fresh repos (timed add + re-add), best kept"
    )
    p.add_argument(
        "--dir", default=None, help="parent of the temporary work folders (default: system temp)"
    )
    return p.parse_args(argv)


def dvc_exe():
    # The console script sits beside the venv's interpreter (do not resolve symlinks:
    # that would leave the venv's bin folder).
    exe = Path(sys.executable).parent / ("dvc.exe" if os.name == "nt" else "dvc")
    if not exe.exists():
        raise SystemExit(f"dvc executable not found beside {sys.executable}")
    return str(exe)


def run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")


def timed(cmd, cwd, env):
    t0 = time.perf_counter()
    run(cmd, cwd, env)
    return time.perf_counter() - t0


def place(src, dst):
    """Hardlink src to dst when on the same filesystem, else copy it. Returns True if linked."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copyfile(src, dst)
        return False


def one_repo(exe, src, workdir):
    """Fresh repo in workdir: returns (first add seconds, re-add seconds)."""
    repo = os.path.join(workdir, "repo")
    os.mkdir(repo)
    env = dict(os.environ)
    env["DVC_NO_ANALYTICS"] = "1"  # no background report process after each command
    env["DVC_SITE_CACHE_DIR"] = os.path.join(workdir, "site-cache")  # keep its state here too
    run([exe, "init", "--no-scm", "--quiet"], repo, env)
    name = os.path.basename(src)
    place(src, os.path.join(repo, name))
    os.sync()  # earlier writes' dirty pages must not be flushed inside the timing
    add_s = timed([exe, "add", "--quiet", name], repo, env)
    readd_s = timed([exe, "add", "--quiet", name], repo, env)
    return add_s, readd_s


def bench(src, repeats, parent):
    exe = dvc_exe()
    mode = stat.S_IMODE(os.stat(src).st_mode)
    add_s = readd_s = float("inf")
    for _ in range(repeats):
        with contextlib.ExitStack() as stack:
            workdir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="dvc-add-", dir=parent)
            )
            # DVC marks cached files read-only; with a hardlink that would touch src's mode.
            stack.callback(os.chmod, src, mode)
            a, r = one_repo(exe, src, workdir)
        add_s = min(add_s, a)
        readd_s = min(readd_s, r)
    return {
        "dvc_version": version("dvc"),
        "bytes": os.path.getsize(src),
        "add_s": add_s,
        "readd_s": readd_s,
    }


def main(argv=None):
    args = parse_args(argv)
    if args.repeats <= 0:
        raise SystemExit("--repeats must be positive")
    src = os.path.abspath(args.file)
    if not os.path.isfile(src):
        raise SystemExit(f"not a file: {args.file}")
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    result = bench(src, args.repeats, args.dir)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
