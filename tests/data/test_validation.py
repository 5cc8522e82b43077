"""Contract tests for profiles, validation and diffs: SQLite, PostgreSQL and remote mode."""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import setpoint as sp
from setpoint.core.errors import DatasetNotFoundError, InvalidArgumentError, SuiteError
from setpoint.data.drift import diff_profiles
from setpoint.data.profile import profile_batches


def _frame(n: int = 2000, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.gamma(2.0, 50.0, n) * (1 + shift),
            "country": rng.choice(["DE", "FR", "US"], n),
            "email": [f"user{i}@example.org" for i in range(n)],
            "label": rng.integers(0, 2, n),
        }
    )


SUITE = """\
suite: tx
reference: fraud/tx@1
row_count: {min: 1000, max: 5000, environments: [training]}
columns:
  id: {type: int64, unique: true, not_null: true}
  amount:
    type: double
    not_null: true
    range: {min: 0, max: 2000}
    shift: {max: 0.1, severity: warn}
  country: {in_set: [DE, FR, US]}
  email: {regex: '^[^@]+@[^@]+$'}
  label:
    environments: [training]
    in_set: [0, 1]
"""


def _suite(tmp_path: Path, text: str = SUITE) -> str:
    path = tmp_path / "tx.yaml"
    path.write_text(text)
    return str(path)


def test_every_version_has_a_profile(client: Any) -> None:
    v = sp.log_dataset(_frame(), name="tx", project="fraud")
    prof = v.profile
    assert prof["num_rows"] == 2000
    amount = next(c for c in prof["columns"] if c["name"] == "amount")
    assert amount["count"] == 2000 and amount["min"] >= 0
    country = next(c for c in prof["columns"] if c["name"] == "country")
    assert sum(country["categories"].values()) == 2000
    # A fresh handle reads the same stored profile.
    assert sp.get_dataset("fraud/tx@1").profile == prof


def test_good_data_passes_and_the_result_is_kept(client: Any, tmp_path: Path) -> None:
    v = sp.log_dataset(_frame(), name="tx", project="fraud")
    report = sp.validate(v, _suite(tmp_path), environment="training")
    assert report.passed and report.errors == 0, report.failed
    kinds = {(c["check"], c["column"]) for c in report.checks}
    assert {("unique", "id"), ("regex", "email"), ("shift", "amount")} <= kinds
    assert ("row_count", None) in kinds and ("type", "amount") in kinds
    stored = client.list_validations("tx", 1, "fraud")
    assert len(stored) == 1 and stored[0].passed and stored[0].environment == "training"
    assert stored[0].suite == "tx" and len(stored[0].checks) == len(report.checks)


def test_references_and_paths_are_validated_as_the_command_line_does(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sp.log_dataset(_frame(), name="tx", project="fraud")
    report = sp.validate("fraud/tx@1", _suite(tmp_path), environment="training")
    assert report.passed and report.ref == "fraud/tx@1"
    assert len(client.list_validations("tx", 1, "fraud")) == 1  # kept with the version
    bad = _frame(seed=1)
    bad.loc[[3], "amount"] = -1.0
    csv = tmp_path / "batch.csv"
    bad.to_csv(csv, index=False)
    report = sp.validate(csv, _suite(tmp_path))  # a path (str or Path) is read, not stored
    assert not report.passed and report.ref is None
    assert [(c["check"], c["failing"]) for c in report.failed] == [("range", 1)]
    with pytest.raises(DatasetNotFoundError, match="no such file, and no dataset"):
        sp.validate(str(tmp_path / "nope.csv"), _suite(tmp_path))
    monkeypatch.chdir(tmp_path)
    sp.log_dataset(_frame(), name="batch.csv")  # a dataset named like the file here
    with pytest.raises(InvalidArgumentError, match="both a dataset and a path"):
        sp.validate("batch.csv", _suite(tmp_path))


def test_a_bad_batch_fails_with_counts_and_samples(client: Any, tmp_path: Path) -> None:
    sp.log_dataset(_frame(), name="tx", project="fraud")
    bad = _frame(seed=1)
    bad.loc[[3, 7, 9], "amount"] = -1.0
    bad.loc[[4], "amount"] = np.nan
    bad.loc[[11, 12], "country"] = "XX"
    bad.loc[[20], "email"] = "nobody"
    bad.loc[[30], "id"] = 0
    v = sp.log_dataset(bad, name="tx", project="fraud")
    report = sp.validate(v, _suite(tmp_path))
    assert not report.passed
    failed = {(c["check"], c["column"]): c for c in report.failed}
    assert set(failed) == {
        ("range", "amount"),
        ("not_null", "amount"),
        ("in_set", "country"),
        ("regex", "email"),
        ("unique", "id"),
    }
    assert failed["range", "amount"]["failing"] == 3
    assert [s["row"] for s in failed["range", "amount"]["sample"]] == [3, 7, 9]
    assert failed["range", "amount"]["sample"][0]["value"] == -1.0
    assert failed["not_null", "amount"]["failing"] == 1
    assert failed["in_set", "country"]["sample"] == [
        {"row": 11, "value": "XX"},
        {"row": 12, "value": "XX"},
    ]
    assert failed["regex", "email"]["sample"] == [{"row": 20, "value": "nobody"}]
    assert failed["unique", "id"]["failing"] == 1 and failed["unique", "id"]["sample"] == [
        {"row": 30}
    ]
    assert report.errors == 5
    stored = client.list_validations("tx", 2, "fraud")
    assert not stored[-1].passed and stored[-1].errors == 5


def test_a_batch_whose_optional_column_is_left_empty_breaks_only_not_null(
    client: Any, tmp_path: Path
) -> None:
    """A CSV column empty in every row of a batch has Arrow's type `null`: its type, range,
    set and pattern checks failed ("null" is no double), as the same batch in pandas did
    not. No value breaks them; the missing values are not_null's to judge."""
    suite = _suite(
        tmp_path,
        "suite: opt\ncolumns:\n"
        "  coupon: {type: double, range: {min: 0, max: 10}}\n"
        "  code: {type: string, in_set: [A, B], severity: warn}\n"
        "  note: {type: string, regex: '^[a-z]+$', not_null: true}\n",
    )
    (tmp_path / "batch.csv").write_text("id,coupon,code,note\n1,,,\n2,,,\n")
    v = sp.log_dataset(str(tmp_path / "batch.csv"), name="opt")
    assert {c["name"]: c["type"] for c in v.schema}["coupon"] == "null"
    for data in (v, str(tmp_path / "batch.csv")):
        for scan in (False, True):
            report = sp.validate(data, suite, use_profile=not scan)
            assert [(c["check"], c["column"]) for c in report.failed] == [("not_null", "note")]
            assert report.failed[0]["failing"] == 2


def test_the_profile_shortcut_agrees_with_reading_every_row(client: Any, tmp_path: Path) -> None:
    sp.log_dataset(_frame(), name="tx", project="fraud")
    bad = _frame(seed=2, shift=0.5)
    bad.loc[[5], "country"] = "XX"
    v = sp.log_dataset(bad, name="tx", project="fraud")
    fast = sp.validate(v, _suite(tmp_path), record=False)
    slow = sp.validate(v, _suite(tmp_path), record=False, use_profile=False)
    key = lambda c: (c["check"], c["column"])  # noqa: E731
    assert {key(c): c["passed"] for c in fast.checks} == {key(c): c["passed"] for c in slow.checks}
    assert {key(c): c.get("failing") for c in fast.failed} == {
        key(c): c.get("failing") for c in slow.failed
    }
    shift = next(c for c in fast.checks if c["check"] == "shift")
    assert shift["passed"] is False and shift["severity"] == "warn" and shift["observed"] > 0.1
    assert client.list_validations("tx", 2, "fraud") == []  # record=False kept nothing


def test_serving_data_may_lack_the_label(client: Any, tmp_path: Path) -> None:
    sp.log_dataset(_frame(), name="tx", project="fraud")
    serving = _frame(500, seed=3).drop(columns=["label"])
    assert sp.validate(serving, _suite(tmp_path), environment="serving").passed
    report = sp.validate(serving, _suite(tmp_path), environment="training")
    # training needs the label, and as many rows as the row-count band says
    errors = [c for c in report.failed if c["severity"] == "error"]
    assert {(c["check"], c["column"]) for c in errors} == {
        ("presence", "label"),
        ("row_count", None),
    }


def test_a_suite_naming_a_missing_column(client: Any, tmp_path: Path) -> None:
    v = sp.log_dataset(_frame(), name="tx", project="fraud")
    text = "suite: tx\ncolumns:\n  merchant: {not_null: true}\n  amount: {type: string}\n"
    report = sp.validate(v, _suite(tmp_path, text))
    failed = {(c["check"], c["column"]): c for c in report.failed}
    assert failed["presence", "merchant"]["observed"] == "missing"
    assert failed["type", "amount"]["observed"] == "double"
    assert len(report.failed) == 2  # the missing column's checks are not run


def test_custom_checks_in_python_and_by_module(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = sp.log_dataset(_frame(), name="tx", project="fraud")
    module = tmp_path / "fraud_checks.py"
    module.write_text(
        "import pyarrow.compute as pc\n"
        "def few_large(table):\n"
        "    return int(pc.sum(pc.greater(table['amount'], 400)).as_py())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = "suite: tx\ncustom:\n  - {function: 'fraud_checks:few_large', severity: warn}\n"
    report = sp.validate(
        v,
        _suite(tmp_path, text),
        checks={
            "balanced": lambda t: {"passed": True, "observed": t.num_rows, "expected": "any"},
            "broken": lambda t: 1 / 0,
            "exits": lambda t: sys.exit(3),  # a failed check, not the end of the process
            "numpy": lambda t: {"passed": np.False_, "failing": np.int64(3)},
            "odd": lambda t: {"passed": np.array([True, False])},
            "negative": lambda t: -1,  # was "failing rows -1"
            # beyond 64 bits: stored, and every listing of the validations failed after
            "huge": lambda t: 10**30,
            "huge_dict": lambda t: {"passed": False, "observed": 10**30, "failing": 10**30},
            "huge_observed": lambda t: {"passed": False, "observed": -(10**30)},
        },
    )
    by_name = {c["name"]: c for c in report.checks}
    assert by_name["fraud_checks:few_large"]["severity"] == "warn"
    assert by_name["balanced"]["passed"] and by_name["balanced"]["observed"] == 2000
    assert not by_name["broken"]["passed"] and "ZeroDivisionError" in by_name["broken"]["observed"]
    assert not by_name["exits"]["passed"] and "SystemExit" in by_name["exits"]["observed"]
    assert not by_name["numpy"]["passed"] and by_name["numpy"]["failing"] == 3
    assert not by_name["odd"]["passed"] and "'passed' (a bool)" in by_name["odd"]["expected"]
    negative = by_name["negative"]
    assert not negative["passed"] and negative["observed"] == "returned -1"
    assert "a count of failing rows (0 or more)" in negative["expected"]
    assert negative.get("failing") is None
    assert by_name["huge"]["observed"] == f"returned {10**30}"
    assert by_name["huge_dict"]["observed"] == "returned " + str(
        {"passed": False, "observed": 10**30, "failing": 10**30}
    )
    assert by_name["huge_observed"]["observed"] == str(-(10**30))
    assert report.errors == 8
    [stored] = client.list_validations("tx", 1, "fraud")  # stored, numpy values and all
    assert stored.errors == 8
    sys.modules.pop("fraud_checks", None)
    (tmp_path / "fails_to_load.py").write_text("x = 1 / 0\n")
    for target, words in (("fails_to_load:f", "ZeroDivisionError"), (":f", "cannot be imported")):
        text = f"suite: tx\ncustom:\n  - {{function: '{target}'}}\n"
        with pytest.raises(InvalidArgumentError, match=words):
            sp.validate(v, _suite(tmp_path, text))


def test_freshness(client: Any, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    df = pd.DataFrame({"ts": [now - dt.timedelta(days=3), now - dt.timedelta(hours=1)]})
    v = sp.log_dataset(df, name="events", project="fraud")
    ok = "suite: events\nfreshness: {column: ts, max_age: 2h}\n"
    stale = "suite: events\nfreshness: {column: ts, max_age: 30m}\n"
    assert sp.validate(v, _suite(tmp_path, ok)).passed
    assert not sp.validate(v, _suite(tmp_path, stale)).passed
    # a newest value far in the future (epoch ms read as seconds, a wrong clock) is no fresher
    ahead = pd.DataFrame({"ts": [now + dt.timedelta(minutes=5), now + dt.timedelta(days=30)]})
    [check] = sp.validate(ahead, _suite(tmp_path, ok)).checks
    assert not check["passed"] and check["age_s"] < -29 * 86400
    soon = pd.DataFrame({"ts": [now + dt.timedelta(minutes=5)]})  # clocks a little apart
    assert sp.validate(soon, _suite(tmp_path, ok)).passed


def test_dates_beyond_year_9999_are_versioned_profiled_and_checked(
    client: Any, tmp_path: Path
) -> None:
    import pyarrow as pa

    table = pa.table(
        {
            "day": pa.array([3_000_000, 1], pa.date32()),  # year 10183
            "ts": pa.array([2**50, -(2**50)], pa.timestamp("ms")),  # years 37648 and -33709
        }
    )
    v = sp.log_dataset(table, name="far", project="fraud")
    ts = next(c for c in v.profile["columns"] if c["name"] == "ts")
    assert (ts["min"], ts["max"]) == ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z")
    suite = _suite(tmp_path, "suite: far\nfreshness: {column: ts, max_age: 1d}\n")
    # checked, not a crash: the newest value lies millennia ahead, which fails freshness
    for data in (v, table):  # a version (its profile), and in memory (the values themselves)
        [check] = sp.validate(data, suite).checks
        assert not check["passed"] and check["age_s"] < -(10**11)  # thousands of years


def test_an_inferred_suite_passes_odd_names_and_types(client: Any) -> None:
    table = pa.table({"f": pa.array([b"ab", b"cd"], pa.binary(2)), "x": [1, 2]})
    v = sp.log_dataset(table, name="a..b", project="fraud")
    text = sp.infer_suite(v)
    assert "type: fixed_size_binary[2]" in text
    assert sp.validate(v, text).passed


def test_an_inferred_suite_passes_whole_numbers_beyond_2_53(client: Any, tmp_path: Path) -> None:
    """Ids of 2**60 + i were counted as one distinct value (hashed as doubles), and the
    inferred range of a few such codes was one number that 99 of 100 rows failed."""
    table = pa.table(
        {
            "id": pa.array([2**60 + i for i in range(100)], pa.int64()),
            "code": pa.array([2**60 + 1, 2**60 + 3] * 50, pa.int64()),
            "low": pa.array([-(2**63), -(2**63) + 5] * 50, pa.int64()),
            "high": pa.array([2**64 - 1, 2**64 - 9] * 50, pa.uint64()),
        }
    )
    v = sp.log_dataset(table, name="big", project="fraud")
    cols = {c["name"]: c for c in v.profile["columns"]}
    assert [(cols[n]["distinct"], cols[n]["distinct_exact"]) for n in cols] == [
        (100, True),
        (2, True),
        (2, True),
        (2, True),
    ]
    text = sp.infer_suite(v)
    assert "unique: true" in text.split("code:")[0]
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, text), use_profile=use_profile, record=False)
        assert report.passed, report.failed


def test_infer_suite_round_trip(client: Any, tmp_path: Path) -> None:
    v1 = sp.log_dataset(_frame(), name="tx", project="fraud")
    text = sp.infer_suite(v1)
    assert "reference: fraud/tx@1" in text and "unique: true" in text
    assert sp.validate(v1, _suite(tmp_path, text)).passed
    # The same kind of data passes; data with new categories and negative amounts does not.
    assert sp.validate(_frame(seed=5), _suite(tmp_path, text)).passed
    bad = _frame(seed=6)
    bad.loc[[1], "country"] = "XX"
    bad.loc[[2], "amount"] = -3.0
    failed = {(c["check"], c["column"]) for c in sp.validate(bad, _suite(tmp_path, text)).failed}
    assert failed == {("in_set", "country"), ("range", "amount")}


def test_inferred_bounds_are_written_as_rounded(client: Any, tmp_path: Path) -> None:
    """A bound rounded to 3 digits read `max: 10.600000000000001` (106 * 0.1)."""
    import yaml

    v = sp.log_dataset(pd.DataFrame({"x": [0.5, 1.25, 5.3]}), name="b")
    spec = yaml.safe_load(sp.infer_suite(v))["columns"]["x"]["range"]
    assert spec == {"min": 0, "max": 10.1}
    assert all(len(repr(b)) <= 5 for b in spec.values())
    # the smallest and largest doubles: no overflow, and the bounds hold the data
    for values in ([1e-308, 5e-308], [3.53e-37, 3.5300000000000003e-37], [1.7e308, 1.79e308]):
        v = sp.log_dataset(pd.DataFrame({"x": values}), name="b")
        report = sp.validate(v, _suite(tmp_path, sp.infer_suite(v)))
        assert report.passed, (values, report.failed)


def test_diff_between_versions(client: Any) -> None:
    a = sp.log_dataset(_frame(), name="tx", project="fraud")
    changed = _frame(seed=7, shift=1.0).drop(columns=["email"])
    changed["channel"] = "web"
    changed.loc[[0], "country"] = "NL"
    b = sp.log_dataset(changed, name="tx", project="fraud")
    d = sp.diff_datasets(a, b)
    assert d["schema"]["added"] == [{"name": "channel", "type": "string"}]
    assert d["schema"]["removed"] == [{"name": "email", "type": "string"}]
    cols = {c["name"]: c for c in d["columns"]}
    assert cols["amount"]["drifted"] and cols["amount"]["drift"] > 0.1
    assert not cols["country"]["drifted"] and cols["country"]["new_categories"] == ["NL"]
    same = sp.diff_datasets(a, a)
    assert all(c["drift"] in (0, None) for c in same["columns"])
    for threshold in (math.nan, -1, "0.1", None, True):
        with pytest.raises(InvalidArgumentError, match="threshold must be a finite number"):
            sp.diff_datasets(a, b, threshold=threshold)  # type: ignore[arg-type]
    for name in (5, None):
        with pytest.raises(InvalidArgumentError, match="name must be a dataset name"):
            sp.get_dataset(name)  # type: ignore[arg-type]


def test_drift_sees_values_beyond_either_end_of_the_reference() -> None:
    """Values below the reference's minimum used to share its first bin, so a column of ones
    that became zeros scored 0 while one that became twos scored 1."""

    def profile(**columns: Any) -> dict[str, Any]:
        table = pa.table(columns)
        return profile_batches(table.schema, table.to_batches())

    normal = np.random.default_rng(0).normal(size=1000)
    ref = profile(flag=[1] * 1000, code=[0, 1] * 500, x=normal)

    def scores(**columns: Any) -> dict[str, float]:
        d = diff_profiles(ref, profile(**columns), from_ref="a", to_ref="b")
        return {c["name"]: c["drift"] for c in d["columns"]}

    assert scores(flag=[1] * 1000, code=[0, 1] * 500, x=normal) == {"flag": 0, "code": 0, "x": 0}
    low = scores(flag=[0] * 1000, code=[-7, 1] * 500, x=normal - 100)
    high = scores(flag=[2] * 1000, code=[0, 8] * 500, x=normal + 100)
    # half the codes move out of the reference's range: about 1/sqrt(2) either way
    for side in (low, high):
        assert side == {"flag": 1.0, "code": pytest.approx(0.7071, abs=0.005), "x": 1.0}
    zeros = profile(flag=[0] * 1000, code=[0, 1] * 500, x=normal)
    assert diff_profiles(ref, zeros, from_ref="a", to_ref="b")["columns"][0]["histogram"] == {
        "edges": ["< 1", "= 1", "> 1"],
        "from": [0.0, 1.0, 0.0],
        "to": [1.0, 0.0, 0.0],
    }


def test_a_shift_check_fails_when_values_fall_below_the_reference(
    client: Any, tmp_path: Path
) -> None:
    sp.log_dataset(pd.DataFrame({"flag": [1] * 100}), name="flags", project="fraud")
    zeros = sp.log_dataset(pd.DataFrame({"flag": [0] * 100}), name="flags", project="fraud")
    text = "suite: f\nreference: fraud/flags@1\ncolumns:\n  flag: {shift: {max: 0.1}}\n"
    report = sp.validate(zeros, _suite(tmp_path, text), record=False)
    assert not report.passed and report.failed[0]["observed"] == 1.0


def test_a_small_batch_of_the_references_distribution_passes_its_shift_checks(
    client: Any, tmp_path: Path
) -> None:
    """A 100-row batch drawn from the reference's own distribution scores about 0.18 by
    chance alone: the inferred (warn) shift checks failed 19 batches in 20. A score sampling
    explains is no shift; a real one is still caught at that size, and at any size once
    there are enough rows to tell."""
    rng = np.random.default_rng(3)

    def batch(n: int, moved: float = 0.0) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(size=n) + moved, "c": rng.choice(list("abcde"), n)})

    ref = sp.log_dataset(batch(50_000), name="ref", project="fraud")
    suite = _suite(tmp_path, sp.infer_suite(ref))
    shifts = [
        [c for c in sp.validate(batch(100), suite).checks if c["check"] == "shift"]
        for _ in range(20)
    ]
    failed = [c for checks in shifts for c in checks if not c["passed"]]
    assert len(failed) <= 2
    assert all(c["observed"] > 0 and 0 < c["p_value"] <= 1 for checks in shifts for c in checks)

    def failed_shifts(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return [c for c in sp.validate(frame, suite).failed if c["check"] == "shift"]

    [moved] = failed_shifts(batch(100, moved=1.0))
    assert moved["column"] == "x" and moved["severity"] == "warn" and moved["p_value"] < 0.01
    [slight] = failed_shifts(batch(20_000, moved=0.3))  # a score of 0.12: small, but surely there
    assert slight["column"] == "x"
    small = sp.log_dataset(batch(100), name="b", project="fraud")
    diff = diff_profiles(ref.profile, small.profile, from_ref="a", to_ref="b")
    assert not any(c["drifted"] for c in diff["columns"])
    assert all(c["drift"] > 0 and c["p_value"] > 0.01 for c in diff["columns"])


def test_two_large_samples_of_one_distribution_hardly_differ() -> None:
    """Shares were read off the 201-point quantile summaries by counting points: every share
    moved in whole 1/201 steps, and a current maximum just past the reference's put 1/201 of
    the data beyond it. Two 100,000-row samples of one distribution scored about 0.05 (half
    the default threshold), and the chance that sampling explains a score was understated
    (a 5,000-row batch against a 1,000-row reference "drifted" one time in four)."""
    rng = np.random.default_rng(11)

    def profile(values: np.ndarray) -> dict[str, Any]:
        table = pa.table({"x": values})
        return profile_batches(table.schema, table.to_batches())

    scores = []
    for _ in range(5):
        d = diff_profiles(
            profile(rng.normal(size=100_000)),
            profile(rng.normal(size=100_000)),
            from_ref="a",
            to_ref="b",
        )
        scores.append(d["columns"][0]["drift"])
    assert max(scores) < 0.035, scores
    drifted = 0
    for _ in range(40):
        ref, cur = rng.gamma(2.0, 50.0, 1000), rng.gamma(2.0, 50.0, 5000)
        d = diff_profiles(profile(ref), profile(cur), from_ref="a", to_ref="b")
        drifted += d["columns"][0]["drifted"]
    assert drifted <= 3


def test_a_reference_given_with_the_call_serves_a_suite_that_names_none(
    client: Any, tmp_path: Path
) -> None:
    """`reference=` / `--reference` is documented to replace the suite's; a suite naming
    none was refused before the override was looked at."""
    v = sp.log_dataset(pd.DataFrame({"x": np.arange(200.0)}), name="r", project="fraud")
    path = _suite(tmp_path, "suite: s\ncolumns:\n  x:\n    shift: {max: 0.1}\n")
    report = sp.validate(v, path, reference=v.ref, record=False)
    [shift] = [c for c in report.checks if c["check"] == "shift"]
    assert report.passed and shift["observed"] == 0.0
    with pytest.raises(SuiteError, match="line 4: shift checks need a top-level 'reference"):
        sp.validate(v, path, record=False)


def test_a_column_named_with_the_empty_string_is_checked(client: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame({"": [1, 2, 3], "b": [1, 2, 3]})
    report = sp.validate(frame, _suite(tmp_path, 'suite: e\ncolumns:\n  "": {range: {max: 1}}\n'))
    [failed] = report.failed
    assert failed["column"] == "" and failed["failing"] == 2
    beyond = "suite: e\ncolumns:\n  b: {range: {min: 100000000000000000000000000}}\n"
    [failed] = sp.validate(frame, _suite(tmp_path, beyond)).failed  # compared as a double
    assert failed["column"] == "b" and failed["failing"] == 3


def test_a_check_that_does_not_apply_to_a_columns_type_fails_saying_so(
    client: Any, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "l": pa.array([[1], [2], [1]]),
            "h": pa.array(np.array([1, 2, 3], dtype=np.float16)),
            "ok": pa.array([1, 2, 3]),
        }
    )
    text = (
        "suite: t\ncolumns:\n  l:\n    unique: true\n    in_set: [1, 2]\n"
        "  h:\n    range: {max: 1}\n  ok:\n    range: {max: 3}\n"
    )
    report = sp.validate(table, _suite(tmp_path, text))
    verdicts = {(c["check"], c["column"]): c for c in report.checks}
    for key in (("unique", "l"), ("in_set", "l"), ("range", "h")):
        assert not verdicts[key]["passed"] and "cannot check a" in verdicts[key]["observed"]
    assert verdicts["range", "ok"]["passed"]  # the others still run


def test_validating_what_is_not_data(client: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot validate a dict"):
        sp.validate({"a": 1}, _suite(tmp_path, "suite: x\n"))
    with pytest.raises(DatasetNotFoundError, match="dataset fraud/tx does not exist"):
        sp.validate(pa.table({"a": [1]}), _suite(tmp_path))  # the reference does not exist
    with pytest.raises(SuiteError, match="line 2: not valid YAML"):
        sp.validate(pa.table({"a": [1]}), "suite: [\n")
    plain = _suite(tmp_path, "suite: x\n")
    with pytest.raises(InvalidArgumentError, match="reference must be a dataset version"):
        sp.validate(pa.table({"a": [1]}), plain, reference=5)
    with pytest.raises(InvalidArgumentError, match="checks must map names to functions"):
        sp.validate(pa.table({"a": [1]}), plain, checks=[1])  # type: ignore[arg-type]
    for node in (5, None, {"id": 1}):
        with pytest.raises(InvalidArgumentError, match="lineage takes a run"):
            sp.lineage(node)


def test_a_reference_that_holds_files_is_refused(client: Any, tmp_path: Path) -> None:
    """It was taken as a reference without a profile: every shift check failed as if the
    column were missing from it."""
    csv = tmp_path / "t.csv"
    csv.write_text("x\n1\n2\n")
    files = sp.log_dataset(csv, name="raw", project="fraud", kind="files")
    table = sp.log_dataset(csv, name="tab", project="fraud")
    text = "suite: s\nreference: fraud/raw@1\ncolumns:\n  x: {shift: {max: 0.1}}\n"
    message = "fraud/raw@1 holds files, not a table"
    with pytest.raises(InvalidArgumentError, match=message):
        sp.diff_datasets(files, table)
    with pytest.raises(InvalidArgumentError, match=message):
        sp.validate(table, _suite(tmp_path, text))
    on_table = _suite(tmp_path, text.replace("fraud/raw@1", "fraud/tab@1"))
    assert sp.validate(table, on_table, record=False).passed
    with pytest.raises(InvalidArgumentError, match=message):
        sp.validate(pa.table({"x": [1, 2]}), on_table, reference=files)
    assert client.list_validations("tab", 1, "fraud") == []


def test_all_null_constant_and_non_finite_columns(client: Any, tmp_path: Path) -> None:
    n = 300
    df = pd.DataFrame(
        {
            "empty": pd.Series([None] * n, dtype="float64"),
            "const": np.full(n, 7.0),
            "ratio": np.linspace(0.0, 1.0, n),
            "tags": pd.Series([None] * n, dtype="object"),
        }
    )
    v = sp.log_dataset(df, name="odd", project="fraud")
    text = sp.infer_suite(v)
    assert sp.validate(v, _suite(tmp_path, text)).passed
    worse = df.copy()
    worse.loc[[5], "ratio"] = np.inf
    worse.loc[[6], "ratio"] = np.nan
    worse.loc[[7], "const"] = -np.inf
    w = sp.log_dataset(worse, name="odd", project="fraud")
    report = sp.validate(w, _suite(tmp_path, text))
    failed = {(c["check"], c["column"]): c for c in report.failed}
    assert failed["range", "ratio"]["sample"] == [{"row": 5, "value": "inf"}]
    # pandas' NaN arrives as a null (Arrow's reading of a float NaN in a DataFrame)
    assert failed["not_null", "ratio"]["sample"] == [{"row": 6, "value": None}]
    assert failed["range", "const"]["failing"] == 1
    prof = {c["name"]: c for c in w.profile["columns"]}
    assert (prof["ratio"]["pos_inf"], prof["ratio"]["nulls"], prof["const"]["neg_inf"]) == (1, 1, 1)


def test_numbers_spanning_the_double_range_are_logged(client: Any, tmp_path: Path) -> None:
    v = sp.log_dataset(pd.DataFrame({"x": [-1.7e308, 1.7e308]}), name="huge", project="fraud")
    assert v.profile["columns"][0]["histogram"]["counts"] == [1] + [0] * 18 + [1]
    text = sp.infer_suite(v)
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, text), use_profile=use_profile, record=False)
        assert report.passed, report.failed


def test_nested_and_extension_columns_are_kept_and_counted(client: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "point": pa.array([{"x": 1, "y": 2}, None]),
            "tags": pa.array([["a"], ["b", "c"]]),
            "raw": pa.array([b"\x00", b"\x01"]),
        }
    )
    pq.write_table(table, tmp_path / "nested.parquet")
    v = sp.log_dataset(tmp_path / "nested.parquet", name="nested", project="fraud")
    kinds = {c["name"]: (c["kind"], c["nulls"]) for c in v.profile["columns"]}
    assert kinds == {"point": ("other", 1), "tags": ("other", 0), "raw": ("other", 0)}
    suite = (
        "suite: nested\ncolumns:\n  point: {type: 'struct<x: int64, y: int64>', not_null: true}\n"
    )
    report = sp.validate(v, _suite(tmp_path, suite))
    assert [(c["check"], c["failing"]) for c in report.failed] == [("not_null", 1)]
    assert v.to_arrow().equals(table)


def test_a_version_without_a_stored_profile_is_profiled_on_demand(
    client: Any, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "a.parquet")
    with open(tmp_path / "a.parquet", "rb") as fh:
        ref = client.upload_blob(fh)
    info = client.create_dataset_version("legacy", ref.digest, "fraud")  # no profile given
    assert info.profile_digest is None
    v = sp.get_dataset("fraud/legacy@1")
    assert v.profile["num_rows"] == 3 and v.profile["columns"][0]["max"] == 3
    assert "unique: true" in sp.infer_suite(v)


def test_a_profile_that_does_not_describe_the_data_is_refused(client: Any) -> None:
    good = sp.log_dataset(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), name="g", project="fraud")
    import pyarrow.parquet as pq

    bad = pa.table({"x": [1.0, -50.0, 3.0]})
    path = Path(tempfile_dir()) / "bad.parquet"
    pq.write_table(bad, path)
    with open(path, "rb") as fh:
        ref = client.upload_blob(fh)
    with pytest.raises(InvalidArgumentError, match="the profile does not describe this data"):
        client.create_dataset_version("b", ref.digest, "fraud", profile=good.info.profile_digest)


def test_a_profile_of_the_wrong_shape_is_refused(client: Any) -> None:
    """A profile arrives from the client that logged the data: one with the right columns
    and counts but fields missing or of the wrong type was a 500 (KeyError) on the server,
    or a version whose profile broke drift checks and the web UI later."""
    import io

    import orjson

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "b", "a"]})
    good = sp.log_dataset(frame, name="g", project="fraud")
    data = good.digest

    def refused(change: Any, message: str) -> None:
        profile = orjson.loads(orjson.dumps(good.profile))
        change({c["name"]: c for c in profile["columns"]})
        digest = client.upload_blob(io.BytesIO(orjson.dumps(profile))).digest
        with pytest.raises(InvalidArgumentError, match=message) as e:
            client.create_dataset_version("b", data, "fraud", profile=digest)
        assert e.value.field == "profile"

    refused(lambda c: c["x"].pop("kind"), "column x: kind None")
    refused(lambda c: c["s"].update(kind="numeric"), "profiled as 'categorical'")
    refused(lambda c: c["x"].update(histogram={"edges": [0, 1]}), "histogram")
    refused(lambda c: c["x"].update(sketch=None), "sketch")
    refused(lambda c: c["x"].update(nan=True), "nan is not a count")
    refused(lambda c: c["x"].update(quantiles=[1, 2]), "quantiles")
    refused(lambda c: c["s"].update(top=[["a"]]), "top is not a list")
    refused(lambda c: c["s"].update(categories={"a": -1}), "categories")
    refused(lambda c: c["s"].update(length={"min": 1}), "length")
    refused(lambda c: c["s"].update(distinct="2"), "distinct is not a count")
    assert "b" not in [d.name for d in client.list_datasets("fraud")]
    # the profile the SDK made fits the same data
    made = client.create_dataset_version("b", data, "fraud", profile=good.info.profile_digest)
    assert made.version == 1


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="setpoint-test-")


def test_suite_values_are_read_as_the_column_needs(client: Any, tmp_path: Path) -> None:
    df = pd.DataFrame({"country": ["NO", "SE", "NO"], "flag": [True, False, True]})
    v = sp.log_dataset(df, name="nordic", project="fraud")
    text = "suite: n\ncolumns:\n  country: {in_set: [NO, SE]}\n  flag: {in_set: [true, false]}\n"
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, text), use_profile=use_profile, record=False)
        assert report.passed, report.failed
    narrow = "suite: n\ncolumns:\n  country: {in_set: [SE]}\n  flag: {in_set: [true]}\n"
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, narrow), use_profile=use_profile, record=False)
        assert {(c["column"], c["failing"]) for c in report.failed} == {("country", 2), ("flag", 1)}


def test_review_cases_of_suites_over_dates_big_numbers_and_numeric_names(
    client: Any, tmp_path: Path
) -> None:
    """Each used to go wrong: an in_set of dates failed to record its result (a date is no
    JSON), a shift check failed on any date or time column, the profile's float extremes
    passed a range that whole numbers beyond 2**53 break, and column names 01 or 1.50
    were read as the numbers 1 and 1.5."""
    frame = pd.DataFrame(
        {
            "d": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)] * 50,
            "ts": pd.date_range("2024-01-01", periods=100, freq="h"),
            "big": pa.array([2**53 + 1, 5] * 50, pa.int64()).to_pandas(),
            "01": [1.0, None] * 50,
            "1.50": ["a", "b"] * 50,
        }
    )
    v = sp.log_dataset(frame, name="edge", project="fraud")
    text = (
        "suite: edge\nreference: fraud/edge@1\ncolumns:\n"
        "  d: {in_set: [2024-01-01, 2024-01-02]}\n"
        "  ts: {shift: true}\n"
        "  big: {range: {max: 9007199254740992}}\n"
        "  01: {not_null: true}\n"
        "  1.50: {in_set: [a, b]}\n"
    )
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, text), use_profile=use_profile)
        failed = {(c["check"], c["column"]): c for c in report.failed}
        assert set(failed) == {("range", "big"), ("not_null", "01")}, report.failed
        assert failed["not_null", "01"]["failing"] == 50
    d_check = next(c for c in report.checks if c["column"] == "d")
    assert d_check["expected"] == ["2024-01-01", "2024-01-02"]


def test_ranges_over_big_integers_compare_exactly(client: Any, tmp_path: Path) -> None:
    """An int64 past 2**53 was compared with a float bound as a double: 10**16 + 1 passed
    `max: 1.0e16`, and 2**53 + 1 against `max: 1.5` failed the check with Arrow's cast
    error as its observed value and no failing rows."""
    big = 2**53 + 1
    table = pa.table(
        {
            "id": pa.array([1, 10**16 + 1, None], pa.int64()),
            "n": pa.array([1, big, 5], pa.int64()),
            "u": pa.array([0, 2**64 - 1, 7], pa.uint64()),
        }
    )
    v = sp.log_dataset(table, name="bigints", project="fraud")
    cases = {
        "id: {range: {max: 1.0e+16}}": (1, [10**16 + 1]),
        "id: {range: {max: 10000000000000001}}": (0, []),
        "id: {range: {min: 1.5}}": (1, [1]),
        "n: {range: {max: 1.5}}": (2, [big, 5]),
        "n: {range: {min: -1.0e+300, max: 1.0e+300}}": (0, []),
        "n: {range: {min: 1.0e+300}}": (3, [1, big, 5]),
        "u: {range: {max: 1.8446744073709552e+19}}": (0, []),
        "u: {range: {max: 1.0e+19}}": (1, [2**64 - 1]),
    }
    for line, (failing, values) in cases.items():
        for use_profile in (True, False):
            suite = _suite(tmp_path, f"suite: d\ncolumns:\n  {line}\n")
            report = sp.validate(v, suite, use_profile=use_profile, record=False)
            [check] = report.checks
            assert check["failing"] == failing, (line, use_profile, check)
            shown = [row["value"] for row in check.get("sample") or []]
            assert sorted(shown) == sorted(values), (line, use_profile, check)


def test_ranges_over_decimals_compare_the_numbers_written(client: Any, tmp_path: Path) -> None:
    """A precision-38 decimal passed on its profile's doubles (0.1 + 1e-20 read as 0.1) and
    failed to scan (the bound 10**17 could not be cast); the two routes now agree."""
    from decimal import Decimal

    table = pa.table(
        {
            "wide": pa.array(
                [Decimal("0.10000000000000000001"), Decimal("100000000000000001"), None],
                pa.decimal128(38, 20),
            ),
            "cents": pa.array(
                [Decimal("0.12"), Decimal("0.13"), Decimal("-999.99")], pa.decimal128(5, 2)
            ),
        }
    )
    v = sp.log_dataset(table, name="dec", project="fraud")
    cases = {
        "wide: {range: {min: 0, max: 100000000000000000}}": 1,
        "wide: {range: {max: 0.1}}": 2,
        "wide: {range: {min: 0.1, max: 1.0e+30}}": 0,
        "cents: {range: {min: 0.125}}": 2,  # 0.12 and -999.99
        "cents: {range: {max: 0.125}}": 1,
        "cents: {range: {min: -999.99, max: 1.0e+30}}": 0,
        "cents: {range: {min: 1.0e+30}}": 3,
    }
    for line, failing in cases.items():
        for use_profile in (True, False):
            suite = _suite(tmp_path, f"suite: d\ncolumns:\n  {line}\n")
            report = sp.validate(v, suite, use_profile=use_profile, record=False)
            assert [c["failing"] for c in report.checks] == [failing], (line, report.checks)


def test_checks_that_do_not_fit_the_column_fail_clearly(client: Any, tmp_path: Path) -> None:
    df = pd.DataFrame({"n": [1, 2], "s": ["a", "b"], "inf": [np.inf, -np.inf]})
    v = sp.log_dataset(df, name="fit", project="fraud")
    text = (
        "suite: fit\ncolumns:\n  n: {regex: '^1$'}\n  s: {range: {min: 0}}\n"
        "  inf: {range: {max: 100}}\n"
    )
    for use_profile in (True, False):
        report = sp.validate(v, _suite(tmp_path, text), use_profile=use_profile, record=False)
        failed = {(c["check"], c["column"]): c for c in report.failed}
        assert failed["regex", "n"]["expected"] == "a string column"
        assert failed["range", "s"]["observed"] == "string"
        assert ("range", "inf") in failed  # only infinities: never inside a finite range
    assert "range" not in sp.infer_suite(v).split("inf:")[1]  # no range inferred over ±inf


def test_shift_fails_when_the_kind_changes(client: Any, tmp_path: Path) -> None:
    sp.log_dataset(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), name="k", project="fraud")
    changed = pd.DataFrame({"x": ["a", "b", "c"]})
    text = "suite: k\nreference: fraud/k@1\ncolumns:\n  x: {shift: {max: 0.1}}\n"
    report = sp.validate(changed, _suite(tmp_path, text))
    assert not report.passed and "not comparable" in report.failed[0]["observed"]


def test_periodic_columns_are_profiled_without_aliasing(client: Any) -> None:
    n = 200_000
    hours = np.arange(n) % 24
    a = sp.log_dataset(pd.DataFrame({"hour": hours}), name="hours", project="fraud")
    shuffled = np.random.default_rng(0).permutation(hours)
    b = sp.log_dataset(pd.DataFrame({"hour": shuffled}), name="hours", project="fraud")
    q = a.profile["columns"][0]["quantiles"]
    assert (q["0.25"], q["0.5"], q["0.75"]) == pytest.approx((5, 11, 17), abs=1)
    assert sum(1 for c in a.profile["columns"][0]["histogram"]["counts"] if c) >= 12
    assert sp.diff_datasets(a, b)["columns"][0]["drift"] < 0.05


def test_samples_of_any_type_are_stored(client: Any, tmp_path: Path) -> None:
    import decimal

    df = pd.DataFrame(
        {
            "price": [decimal.Decimal("1.50"), decimal.Decimal("-2.25")],
            "note": ["ok", "x" * 1000],
            "wait": pd.to_timedelta([1, 2], unit="s"),
        }
    )
    v = sp.log_dataset(df, name="types", project="fraud")
    text = (
        "suite: t\ncolumns:\n  price: {range: {min: 0}}\n  note: {regex: '^ok$'}\n"
        "  wait: {not_null: true}\n"
    )
    report = sp.validate(v, _suite(tmp_path, text))
    samples = {c["column"]: c["sample"] for c in report.failed}
    assert samples["price"] == [{"row": 1, "value": "-2.25"}]
    assert samples["note"][0]["value"] == "x" * 200 + "…"
    stored = client.list_validations("types", 1, "fraud")[0]
    assert stored.errors == 2 and stored.checks == report.checks


def test_a_dataframe_validates_like_the_version_made_from_it(client: Any, tmp_path: Path) -> None:
    df = pd.DataFrame({"country": pd.Categorical(["DE", "FR", "DE"])})
    v = sp.log_dataset(df, name="cats", project="fraud")
    text = "suite: c\ncolumns:\n  country: {type: string, in_set: [DE, FR], regex: '^[A-Z]{2}$'}\n"
    for data in (df, v):
        report = sp.validate(data, _suite(tmp_path, text), record=False)
        assert report.passed, report.failed


def test_a_missing_version_says_whether_the_dataset_is_there(client: Any) -> None:
    """A version of a dataset that does not exist said "has no version 1" as if the dataset
    were there."""
    with pytest.raises(DatasetNotFoundError, match="dataset default/nope does not exist") as gone:
        sp.get_dataset("nope", version=1)
    assert gone.value.field == "name"
    sp.log_dataset(pa.table({"a": [1]}), name="there")
    with pytest.raises(DatasetNotFoundError, match="default/there has no version 9") as missing:
        sp.get_dataset("there", version=9)
    assert missing.value.field == "version"


def _categories(values: Any) -> dict[str, Any]:
    table = pa.table({"c": pa.array(values, pa.string())})
    return profile_batches(table.schema, table.to_batches())


def test_columns_of_many_categories_compare_only_what_both_profiles_list() -> None:
    """A profile keeps only the 1,000 most frequent categories of a column of more. The two
    kept lists were compared as if whole: two samples of one distribution of 3,000
    categories scored 0.82 and "drifted", with 100 new and 100 vanished categories."""
    rng = np.random.default_rng(5)
    cats = np.array([f"c{i:04d}" for i in range(3000)])
    a, b = (_categories(rng.choice(cats, 20_000)) for _ in range(2))
    assert not a["columns"][0]["categories_exact"]
    col = diff_profiles(a, b, from_ref="a", to_ref="b")["columns"][0]
    assert col["drift"] < 0.1 and not col["drifted"], col["drift"]
    assert "approximate" in col["method"]
    assert col["new_categories"] == [] and col["vanished_categories"] == []
    # a heavy tail (Zipf) scored 0.2 and drifted
    zipf = [_categories([f"z{v}" for v in rng.zipf(1.3, 30_000)]) for _ in range(2)]
    col = diff_profiles(*zipf, from_ref="a", to_ref="b")["columns"][0]
    assert col["drift"] < 0.1 and not col["drifted"], col["drift"]
    # a real change still shows: half the values on one new category
    moved = _categories(np.concatenate([rng.choice(cats, 10_000), ["c0000"] * 10_000]))
    col = diff_profiles(a, moved, from_ref="a", to_ref="b")["columns"][0]
    assert col["drifted"] and col["drift"] > 0.3
    # new only against a reference that lists them all, vanished only from a current that does
    small = _categories(["c0001", "c0002", "zzz"] * 10)
    col = diff_profiles(small, a, from_ref="a", to_ref="b")["columns"][0]
    assert col["vanished_categories"] == [] and len(col["new_categories"]) == 100
    col = diff_profiles(a, small, from_ref="a", to_ref="b")["columns"][0]
    assert col["new_categories"] == [] and len(col["vanished_categories"]) == 100
    assert "c0001" not in col["vanished_categories"]
    # exact profiles on both sides: every category counted, nothing approximate
    col = diff_profiles(small, small, from_ref="a", to_ref="b")["columns"][0]
    assert col["method"] == "jensen-shannon on category frequencies" and col["drift"] == 0


def test_an_inferred_shift_check_passes_a_new_sample_of_many_categories(
    client: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    cats = np.array([f"c{i:04d}" for i in range(3000)])
    v = sp.log_dataset(pd.DataFrame({"c": rng.choice(cats, 20_000)}), name="manycats")
    path = tmp_path / "many.yaml"
    path.write_text(sp.infer_suite(v))
    report = sp.validate(pd.DataFrame({"c": rng.choice(cats, 20_000)}), str(path), record=False)
    shift = next(c for c in report.checks if c["check"] == "shift")
    assert shift["passed"] and shift["observed"] < 0.1, shift


def test_data_passes_the_types_of_the_version_logged_from_it(client: Any, tmp_path: Path) -> None:
    """Parquet keeps no seconds (timestamp[s] is stored as timestamp[ms], time32[s] as
    time32[ms], date64 as date32) and names list items "element": a suite inferred from a
    version refused the very data it was logged from."""
    table = pa.table(
        {
            "ts": pa.array([0, 86_400], pa.timestamp("s")),
            "zoned": pa.array([0, 86_400], pa.timestamp("s", tz="Europe/Berlin")),
            "t": pa.array([dt.time(1, 2, 3), dt.time(4, 5, 6)], pa.time32("s")),
            "d": pa.array([dt.date(2026, 1, 1), dt.date(2026, 1, 2)], pa.date64()),
            "l": pa.array([[1, 2], [3]]),
        }
    )
    v = sp.log_dataset(table, name="ts_units")
    assert {c["name"]: c["type"] for c in v.schema}["ts"] == "timestamp[ms]"
    path = tmp_path / "tsu.yaml"
    path.write_text(sp.infer_suite(v))
    frame = table.drop_columns(["t"]).to_pandas()  # (pandas holds times as objects)
    assert str(frame["ts"].dtype) == "datetime64[s]"
    for data in (table, frame, table.slice(0, 0), v):
        report = sp.validate(data, str(path), record=False)
        assert not [c for c in report.failed if c["check"] == "type"], report.failed
    wrong = "suite: w\ncolumns:\n  ts: {type: 'timestamp[us]'}\n  d: {type: 'timestamp[ms]'}\n"
    report = sp.validate(table, _suite(tmp_path, wrong), record=False)
    assert {(c["column"], c["observed"]) for c in report.failed} == {
        ("ts", "timestamp[s]"),
        ("d", "date64[ms]"),
    }


def test_unique_observes_the_same_with_and_without_the_profile(client: Any, tmp_path: Path) -> None:
    """The profile said a distinct count (3), a scan '0 duplicate rows'."""
    v = sp.log_dataset(pd.DataFrame({"id": [1, 2, 3], "dup": [1, 1, 2]}), name="uniq")
    text = "suite: u\ncolumns:\n  id: {unique: true}\n  dup: {unique: true}\n"
    fast = sp.validate(v, _suite(tmp_path, text), record=False)
    slow = sp.validate(v, _suite(tmp_path, text), record=False, use_profile=False)
    observed = {(c["column"], c["observed"]) for c in fast.checks}
    assert observed == {("id", "0 duplicate rows"), ("dup", "1 duplicate rows")}
    assert {(c["column"], c["observed"]) for c in slow.checks} == observed


def test_a_misspelt_environment_is_refused(client: Any, tmp_path: Path) -> None:
    """environment="trainng" skipped every training check: a batch that fails in training
    passed."""
    sp.log_dataset(_frame(), name="tx", project="fraud")
    serving = _frame(500, seed=3).drop(columns=["label"])
    for typo, meant in (("trainng", "training"), ("Training", "training")):
        with pytest.raises(InvalidArgumentError, match=f"did you mean '{meant}'") as err:
            sp.validate(serving, _suite(tmp_path), environment=typo)
        assert err.value.field == "environment" and "it names training" in str(err.value)
    with pytest.raises(InvalidArgumentError, match="environment must be a name"):
        sp.validate(serving, _suite(tmp_path), environment=1)  # type: ignore[arg-type]
    # "" skipped every check scoped to an environment, as a name none of them has
    with pytest.raises(InvalidArgumentError, match="environment must be a name"):
        sp.validate(serving, _suite(tmp_path), environment="")
    # an environment far from every named one is the documented "everything else"
    assert sp.validate(serving, _suite(tmp_path), environment="serving").passed
    plain = "suite: p\ncolumns:\n  id: {not_null: true}\n"  # names none: any is accepted
    assert sp.validate(serving, _suite(tmp_path, plain), environment="trainng").passed


def test_a_column_whose_values_all_changed_drifts_against_a_profile_listing_some() -> None:
    """Every value of a column replaced by new ones (20,000 ids for 50 country codes) scored
    drift 0, so its shift check passed: the current profile lists only its 1,000 most
    frequent categories, and all the rest fell into one share on each side."""
    codes = _categories([f"C{i % 50:02d}" for i in range(20_000)])
    assert codes["columns"][0]["categories_exact"]
    for replaced, least in ((20_000, 0.9), (2_000, 0.15)):
        kept = [f"C{i % 50:02d}" for i in range(20_000 - replaced)]
        ids = _categories(kept + [f"user-{i}" for i in range(replaced)])
        assert not ids["columns"][0]["categories_exact"]
        for a, b in ((codes, ids), (ids, codes)):
            col = diff_profiles(a, b, from_ref="a", to_ref="b")["columns"][0]
            assert col["drifted"] and col["drift"] > least, col
    # new samples of one long-tailed distribution (3,000 categories, some 750 in the smaller
    # sample, all listed; the larger lists its 1,000 most frequent) do not drift
    rng = np.random.default_rng(7)
    cats = np.array([f"c{i:04d}" for i in range(3_000)])
    weights = 1 / np.arange(1, 3_001) ** 1.5
    few, many = (
        _categories(rng.choice(cats, n, p=weights / weights.sum())) for n in (20_000, 200_000)
    )
    assert few["columns"][0]["categories_exact"] and not many["columns"][0]["categories_exact"]
    for a, b in ((few, many), (many, few)):
        col = diff_profiles(a, b, from_ref="a", to_ref="b")["columns"][0]
        assert not col["drifted"], col


def test_a_column_whose_values_all_changed_drifts_when_neither_profile_lists_all() -> None:
    """1,001 values all replaced by others scored drift 0 (with 1,000 it scored 1): neither
    profile lists all its categories, the two lists share none, and everything fell into one
    share on each side."""
    a = _categories([f"a{i}" for i in range(1_001)])
    b = _categories([f"b{i}" for i in range(1_001)])
    assert not a["columns"][0]["categories_exact"] and not b["columns"][0]["categories_exact"]
    col = diff_profiles(a, b, from_ref="a", to_ref="b")["columns"][0]
    assert col["drifted"] and col["drift"] > 0.9, col
    # a long tail (Zipf over 20,000 labels) renamed, or a tenth of it, drifts; a new sample
    # of it does not
    rng = np.random.default_rng(0)
    z1, z2 = (z[z < 20_000] for z in (rng.zipf(1.3, 200_000), rng.zipf(1.3, 200_000)))
    ref = _categories([f"c{i}" for i in z1])
    for current, drifts in (
        ([f"c{i}" for i in z2], False),
        ([f"d{i}" for i in z2], True),
        ([f"d{i}" if rng.random() < 0.1 else f"c{i}" for i in z2], True),
    ):
        col = diff_profiles(ref, _categories(current), from_ref="a", to_ref="b")["columns"][0]
        assert col["drifted"] is drifts, col["drift"]


def test_a_diff_flags_the_changes_a_shift_check_fails_as_not_comparable() -> None:
    """A column gone all null, all ±inf, or of another kind had no score in a diff, which
    said "not drifted", where a shift check fails it ("not comparable")."""
    n = 1_000
    before = pa.table(
        {
            "x": np.arange(n, dtype=float),
            "y": np.arange(n, dtype=float),
            "flag": [True, False] * (n // 2),
            "empty": pa.nulls(n, pa.float64()),
            "same": np.ones(n),
        }
    )
    after = pa.table(
        {
            "x": pa.nulls(n, pa.float64()),
            "y": np.full(n, np.inf),
            "flag": ["yes", "no"] * (n // 2),
            "empty": pa.nulls(n, pa.float64()),
            "same": np.ones(n),
        }
    )
    a, b = (profile_batches(t.schema, t.to_batches()) for t in (before, after))
    cols = {c["name"]: c for c in diff_profiles(a, b, from_ref="a", to_ref="b")["columns"]}
    assert (
        cols["x"]["drifted"] and cols["x"]["method"] == "not comparable: no values to compare now"
    )
    assert cols["y"]["drifted"] and cols["y"]["stats"]["pos_inf"] == [0, n]
    assert cols["flag"]["method"] == "not comparable: its kind changed (boolean → categorical)"
    assert cols["flag"]["drifted"]
    assert not cols["empty"]["drifted"] and cols["empty"]["method"] is None
    assert not cols["same"]["drifted"]
    # a column of texts (no category lists them) has values all the same
    docs = [f"{i}" * 1_001 for i in range(10)]
    texts, mixed = (_categories(v) for v in (docs, [*docs, "short"]))
    col = diff_profiles(texts, mixed, from_ref="a", to_ref="b")["columns"][0]
    assert not col["drifted"] and col["method"] is None
