"""Dataset references as validate, lineage and `data add --parent` read them, and the edges
a version's parents leave in lineage: SQLite, PostgreSQL and remote mode, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import setpoint as sp
from conftest import run_cli
from setpoint.core.errors import DatasetNotFoundError, InvalidArgumentError, RunNotFoundError

SUITE = "suite: s\ncolumns:\n  a: {not_null: true}\n"


def _three_versions() -> None:
    for i in range(3):
        sp.log_dataset(pa.table({"a": [i, 2]}), name="tx", project="p1")


def test_validate_a_missing_version_of_a_dataset_says_so(client: Any) -> None:
    """It said "p1/tx@9 does not exist: no such file, and no dataset of that name"."""
    _three_versions()
    with pytest.raises(DatasetNotFoundError, match="dataset p1/tx has no version 9"):
        sp.validate("p1/tx@9", SUITE)
    with pytest.raises(InvalidArgumentError, match="must be a positive number"):
        sp.validate("p1/tx@0", SUITE)
    with pytest.raises(DatasetNotFoundError, match="no such file, and no dataset"):
        sp.validate("p1/nope", SUITE)  # reads as a path as well: both were looked for


def test_a_suites_missing_reference_is_named_as_the_suites(client: Any, tmp_path: Path) -> None:
    """It said only "dataset p1/zz does not exist", as if the data checked were missing."""
    _three_versions()
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\nreference: p1/zz@1\ncolumns:\n  a: {shift: {max: 0.1}}\n")
    with pytest.raises(DatasetNotFoundError) as info:
        sp.validate("p1/tx@1", str(suite))
    assert info.value.message == (
        f"{suite} line 2: the suite's reference p1/zz@1: dataset p1/zz does not exist"
    )
    assert info.value.field == "reference"


def test_parents_are_derived_from_edges(client: Any) -> None:
    """Parents were stored and shown, but lineage had no edge to them."""
    _three_versions()
    one, two = sp.get_dataset("p1/tx@1"), sp.get_dataset("p1/tx@2")
    child = sp.log_dataset(pa.table({"b": [1]}), name="child", project="p1", parents=[one, two])
    edges = [(e.source_id, e.relation, e.target_id) for e in sp.lineage(child)]
    assert sorted(edges) == [
        ("p1/child@1", "derived_from", "p1/tx@1"),
        ("p1/child@1", "derived_from", "p1/tx@2"),
    ]
    assert [(e.source_id, e.relation) for e in sp.lineage("p1/tx@1")] == [
        ("p1/child@1", "derived_from")
    ]
    with pytest.raises(DatasetNotFoundError, match="parent 'p1/tx@9': dataset p1/tx has no"):
        sp.log_dataset(pa.table({"b": [2]}), name="child", project="p1", parents=["p1/tx@9"])


def test_lineage_takes_a_bare_dataset_name(client: Any) -> None:
    """run.log_input("tx") takes the latest version; sp.lineage("tx") said "run 'tx' does
    not exist"."""
    sp.log_dataset(pa.table({"a": [1]}), name="tx")
    v = sp.log_dataset(pa.table({"a": [2]}), name="tx")
    with sp.start_run() as run:
        run.log_input("tx")
    assert [(e.source_id, e.target_id) for e in sp.lineage("tx")] == [(run.id, v.ref)]
    with pytest.raises(RunNotFoundError, match="'nope' is neither a run's id nor a dataset"):
        sp.lineage("nope")
    with pytest.raises(RunNotFoundError):
        sp.lineage("0" * 32)


def test_a_dataframe_parquet_cannot_hold_leaves_no_version(client: Any) -> None:
    far = pd.DataFrame({"t": np.array([2**62], dtype="datetime64[s]")})
    for frame in (pd.DataFrame({"s": [{}, {}]}), far):
        with pytest.raises(InvalidArgumentError) as info:
            sp.log_dataset(frame, name="odd")
        assert info.value.field == "data"
    with pytest.raises(DatasetNotFoundError):
        sp.get_dataset("odd")


# ------------------------------------------------------------------ the command line


def test_validate_command_names_the_missing_version(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_versions()
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    for ref, said in (
        ("p1/tx@9", "error (version): dataset p1/tx has no version 9"),
        ("p1/tx@0", "the version after '@' must be a positive number"),
    ):
        code, _, err = run_cli(capsys, "data", "validate", ref, "--suite", str(suite))
        assert code == 2 and said in err and "no such file" not in err


def test_data_add_takes_parents(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_versions()
    csv = tmp_path / "c.csv"
    csv.write_text("a\n1\n2\n")
    args = ["data", "add", str(csv), "--name", "kid", "-p", "p1", "--json"]
    code, out, err = run_cli(capsys, *args, "--parent", "p1/tx@1", "--parent", "p1/tx@3")
    assert code == 0, err
    assert json.loads(out)["parents"] == ["p1/tx@1", "p1/tx@3"]
    for bad, said in (
        ("p1/tx@9", "error (parents): parent 'p1/tx@9': dataset p1/tx has no version 9"),
        ("p1/tx", "error (parents): parent 'p1/tx' must name a version, like project/name@3"),
    ):
        code, _, err = run_cli(capsys, "data", "add", str(csv), "-n", "kid2", "--parent", bad)
        assert code == 1 and err.strip() == said


def test_profile_command_errors_and_non_finite_counts(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A files version printed click's "Error: ..."; NaN and infinities were not shown."""
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "a.txt").write_text("hi")
    sp.log_dataset(str(tmp_path / "z"), name="Z")
    code, _, err = run_cli(capsys, "data", "profile", "Z")
    assert code == 1 and err.strip() == (
        "error (ref): default/Z@1 holds files, not a table: it has no profile"
    )
    values = [float("nan"), float("inf"), -float("inf"), 1.0]
    sp.log_dataset(pa.table({"f": values, "g": [1, 2, 3, 4]}), name="fl")  # NaN, not null
    code, out, _ = run_cli(capsys, "data", "profile", "fl")
    assert code == 0 and "nan 1, +inf 1, -inf 1" in out
    sp.log_dataset(pd.DataFrame({"g": [1.0, 2.0]}), name="finite")
    code, out, _ = run_cli(capsys, "data", "profile", "finite")
    assert code == 0 and "inf" not in out
