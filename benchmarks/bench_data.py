"""Data benchmarks: setpoint against DVC 3.67.1 and Great Expectations 1.24.1, same run, same data.

    python benchmarks/bench_data.py [--sections add,profile,validate] [--no-peer]
                                    [--dir FOLDER] [--csv-gib 5]

Sections:
  add       a 1 GiB random file: `setpoint data add` (command and SDK call) against `dvc add`,
            `cat` and sha256; re-adding it unchanged
  profile   10,000,000 rows x 20 columns (15 numeric, 5 categorical) from Parquet: version and
            profile it, peak memory of the process
  validate  1,000,000 rows x 20 columns, 40 checks (not null on every column, range on the
            numeric ones, in-set on the categorical ones) against Great Expectations
  csv       (not by default) a large CSV (--csv-gib, default 5) versioned and profiled:
            time and peak memory

Generated data is kept under --dir (default: benchmarks/.data) between runs. Ratios are
printed; absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from compiled import compile_setpoint
from peer_run import peer

HERE = Path(__file__).resolve().parent
SETPOINT = str(Path(sys.executable).parent / "setpoint")
GIB = 1 << 30


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def home_env(home: Path) -> dict[str, str]:
    return {**os.environ, "SETPOINT_HOME": str(home)}


def sync() -> None:
    os.sync()  # earlier runs' dirty pages must not be flushed inside the next timing


def row(label: str, ours: float, theirs: float | None, unit: str, target: str) -> str:
    if theirs is None:
        return f"| {label} | {ours:,.3g} {unit} | – | – | {target} |"
    return f"| {label} | {ours:,.3g} {unit} | {theirs:,.3g} {unit} | {theirs / ours:,.1f}× | {target} |"


# ---------------------------------------------------------------- data


def random_file(folder: Path, size: int = GIB) -> Path:
    path = folder / "random-1gib.bin"
    if not path.exists() or path.stat().st_size != size:
        with open(path, "wb") as fh:
            for _ in range(size // (64 << 20)):
                fh.write(os.urandom(64 << 20))
    return path


def table_file(folder: Path, rows: int, name: str) -> Path:
    """rows x (x0..x14 normal floats, c0..c4 strings from 'abcdefgh') as zstd Parquet."""
    path = folder / name
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefgh"))
    tmp = path.with_suffix(".tmp")
    writer = None
    for start in range(0, rows, 1_000_000):
        n = min(1_000_000, rows - start)
        cols = {f"x{i}": rng.normal(0, 1, n) for i in range(15)}
        cols.update({f"c{j}": pa.array(letters[rng.integers(0, 8, n)]) for j in range(5)})
        t = pa.table(cols)
        writer = writer or pq.ParquetWriter(tmp, t.schema, compression="zstd")
        writer.write_table(t, row_group_size=65_536)
    assert writer is not None
    writer.close()
    os.replace(tmp, path)
    return path


def csv_file(folder: Path, gib: float) -> Path:
    path = folder / f"table-{gib:g}gib.csv"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(1)
    letters = np.array(["alpha", "beta", "gamma", "delta"])
    tmp = path.with_suffix(".tmp")
    with pcsv.CSVWriter(
        tmp,
        pa.schema(
            [(f"x{i}", pa.float64()) for i in range(12)]
            + [(f"c{j}", pa.string()) for j in range(3)]
        ),
    ) as w:
        while tmp.stat().st_size < gib * GIB:
            n = 500_000
            cols = {f"x{i}": rng.normal(0, 1, n) for i in range(12)}
            cols.update({f"c{j}": pa.array(letters[rng.integers(0, 4, n)]) for j in range(3)})
            w.write_table(pa.table(cols))
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- sections


def in_process(home: Path, code: str) -> list[float]:
    """Run ``code`` in a fresh interpreter; it sets ``elapsed`` to seconds (a number, or a
    tuple of them), returned as a list."""
    script = textwrap.dedent(code) + "\nprint(repr(elapsed))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], env=home_env(home), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    value = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return [float(v) for v in (value if isinstance(value, tuple) else (value,))]


def section_add(folder: Path, args: argparse.Namespace) -> list[str]:
    big = random_file(folder)
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    cat = min(measured(["cat", str(big)])[0] for _ in range(3))
    t0 = time.perf_counter()
    with open(big, "rb") as fh:
        hashlib.file_digest(fh, "sha256")
    sha = time.perf_counter() - t0
    add_cli, add_sdk, readd_cli, readd_sdk = [], [], [], []
    sdk_add = f"""
        import time, setpoint as sp
        sp.client()  # imports and the connection are made, as in a running program
        t0 = time.perf_counter()
        v = sp.log_dataset({str(big)!r}, name="raw")
        elapsed = time.perf_counter() - t0
        assert v.kind == "files"
    """
    add = [SETPOINT, "data", "add", str(big), "--name", "raw"]
    add_durable = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            env = home_env(Path(tmp))
            # the store is made first, as `dvc init` is on the peer's side (neither is timed)
            measured([SETPOINT, "data", "list"], env)
            sync()
            add_cli.append(measured(add, env)[0])
            readd_cli.append(measured(add, env)[0])
            readd_sdk += in_process(Path(tmp), sdk_add)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            sync()
            add_sdk += in_process(Path(tmp), sdk_add)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            env = {**home_env(Path(tmp)), "SETPOINT_ARTIFACTS_FSYNC": "1"}
            measured([SETPOINT, "data", "list"], env)
            sync()
            add_durable.append(measured(add, env)[0])
    dvc = None if args.no_peer else peer("dvc_add.py", str(big), "--dir", str(folder))
    dvc_add = dvc["add_s"] if dvc else None
    dvc_readd = dvc["readd_s"] if dvc else None
    lines = [
        "### add: a 1 GiB random file",
        "",
        "| | setpoint | dvc 3.67.1 | dvc / setpoint | target |",
        "|---|---|---|---|---|",
        row("`data add` (command)", min(add_cli), dvc_add, "s", "≥ 5× dvc, ≤ 3× cat"),
        row("`sp.log_dataset` (in a process)", min(add_sdk), dvc_add, "s", "≥ 5× dvc, ≤ 3× cat"),
        row(
            "`data add` with `SETPOINT_ARTIFACTS_FSYNC=1` (command)",
            min(add_durable),
            dvc_add,
            "s",
            "– (on disk before it is recorded)",
        ),
        row("re-add unchanged (command)", min(readd_cli), dvc_readd, "s", "< 0.1 s"),
        row("re-add unchanged (in a process)", min(readd_sdk), dvc_readd, "s", "< 0.1 s"),
        "",
        f"`cat` {cat:.3f} s, sha256 {sha:.3f} s; `data add` is {min(add_cli) / cat:.1f}× `cat` "
        f"(command), {min(add_sdk) / cat:.1f}× (in a process).",
    ]
    return lines


def section_profile(folder: Path, args: argparse.Namespace) -> list[str]:
    path = table_file(folder, 10_000_000, "table-10m-x20.parquet")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        add_s, add_rss = measured(
            [SETPOINT, "data", "add", str(path), "--name", "t10m"], home_env(Path(tmp))
        )
    prof_s, prof_rss = measured(
        [
            sys.executable,
            "-c",
            f"from setpoint.data.profile import profile_parquet; profile_parquet({str(path)!r})",
        ]
    )
    size = path.stat().st_size / 2**20
    return [
        "### profile: 10,000,000 rows × 20 columns (15 numeric, 5 categorical), Parquet",
        "",
        "| | time | peak memory | target |",
        "|---|---|---|---|",
        f"| `data add` (re-encode, hash, profile, store) | {add_s:.1f} s | {add_rss:,.0f} MiB | < 2 GiB |",
        f"| profiling the stored Parquet alone | {prof_s:.1f} s | {prof_rss:,.0f} MiB | < 2 GiB |",
        "",
        f"Input: {size:,.0f} MiB of Parquet.",
    ]


SUITE_HEAD = "suite: bench\ncolumns:\n"


def suite_text() -> str:
    lines = [SUITE_HEAD.rstrip("\n")]
    for i in range(15):
        lines.append(f"  x{i}: {{not_null: true, range: {{min: -10, max: 10}}}}")
    for j in range(5):
        lines.append(f"  c{j}: {{not_null: true, in_set: [a, b, c, d, e, f, g, h]}}")
    return "\n".join(lines) + "\n"


def section_validate(folder: Path, args: argparse.Namespace) -> list[str]:
    path = table_file(folder, 1_000_000, "table-1m-x20.parquet")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        suite = Path(tmp) / "suite.yaml"
        suite.write_text(suite_text())
        code = f"""
            import time, setpoint as sp
            v = sp.log_dataset({str(path)!r}, name="t1m")
            sp.validate(v, {str(suite)!r})  # warm: imports, first connection
            times = {{}}
            for use_profile in (True, False):
                best = float("inf")
                for _ in range(5):
                    t0 = time.perf_counter()
                    report = sp.validate(v, {str(suite)!r}, use_profile=use_profile)
                    best = min(best, time.perf_counter() - t0)
                assert report.passed and len(report.checks) == 40, report
                times[use_profile] = best
            elapsed = (times[True], times[False])
        """
        fast, scan = in_process(Path(tmp), code)
    gx = None if args.no_peer else peer("gx_validate.py", str(path))
    theirs = gx["validate_s"] if gx else None
    pandas_s = gx["pandas_s"] if gx else None
    lines = [
        "### validate: 1,000,000 rows × 20 columns, 40 checks",
        "",
        f"| | setpoint | great_expectations {gx['gx_version'] if gx else ''} | GX / setpoint | target |",
        "|---|---|---|---|---|",
        row("a stored version (checks decided by its profile)", fast, theirs, "s", "≥ 20×"),
        row("a stored version, every row read (`--scan`)", scan, theirs, "s", "≥ 20×"),
    ]
    if pandas_s is not None:
        lines += ["", f"The same checks in plain pandas on a loaded DataFrame: {pandas_s:.3f} s."]
    return lines


def section_csv(folder: Path, args: argparse.Namespace) -> list[str]:
    path = csv_file(folder, args.csv_gib)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        sync()
        add_s, add_rss = measured(
            [SETPOINT, "data", "add", str(path), "--name", "big"], home_env(Path(tmp))
        )
    return [
        f"### csv: {path.stat().st_size / GIB:.1f} GiB CSV, versioned and profiled",
        "",
        f"`data add`: {add_s:.0f} s, peak memory {add_rss:,.0f} MiB (machine: "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB).",
    ]


SECTIONS = {
    "add": section_add,
    "profile": section_profile,
    "validate": section_validate,
    "csv": section_csv,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="add,profile,validate")
    ap.add_argument("--dir", default=str(HERE / ".data"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--csv-gib", type=float, default=5.0)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    compile_setpoint()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n")
    shutil.which("cat") or sys.exit("needs `cat`")
    report: list[str] = []
    for name in args.sections.split(","):
        if name not in SECTIONS:
            sys.exit(f"unknown section {name!r}; expected {', '.join(SECTIONS)}")
        lines = SECTIONS[name](folder, args)
        print("\n".join(lines) + "\n", flush=True)
        report += [*lines, ""]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "data.md").write_text("\n".join(report))


if __name__ == "__main__":
    main()
