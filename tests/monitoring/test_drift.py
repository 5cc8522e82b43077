"""Drift statistics: the same values as scipy's on the same samples, Evidently's default
tests, decisions from a stored profile that match those from the rows, and bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

import setpoint as sp
from setpoint.monitoring.drift import drift


def _pair(
    n: int, m: int, shift: float = 0.2, ties: bool = False, seed: int = 0, spread: float = 1.2
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u, v = rng.normal(0, 1, n), rng.normal(shift, spread, m)
    if ties:
        u, v = np.round(u, 1), np.round(v, 1)
    return u, v


@pytest.mark.parametrize(
    ("n", "m", "ties"),
    [(500, 700, False), (800, 300, True), (20_000, 15_000, False), (30_000, 12_000, True)],
)
def test_ks_and_wasserstein_agree_with_scipy(n: int, m: int, ties: bool) -> None:
    u, v = _pair(n, m, ties=ties)
    ref, cur = pd.DataFrame({"x": u}), pd.DataFrame({"x": v})
    ks = drift(ref, cur, tests={"x": "ks"}).features["x"]
    expected = stats.ks_2samp(u, v)
    assert ks.test == "ks"
    assert abs(ks.statistic - expected.statistic) < 1e-9
    assert abs(ks.p_value - expected.pvalue) < 1e-9
    w = drift(ref, cur, tests={"x": "wasserstein"}).features["x"]
    assert abs(w.statistic - stats.wasserstein_distance(u, v) / np.std(u)) < 1e-9


def test_chisquare_and_jensenshannon_agree_with_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.choice(list("abcde"), 900, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    b = rng.choice(list("abcde"), 600, p=[0.2, 0.2, 0.2, 0.2, 0.2])
    ref, cur = pd.DataFrame({"c": a}), pd.DataFrame({"c": b})
    chi = drift(ref, cur).features["c"]  # small reference: chi-squared is the default
    keys = list("abcde")
    obs = np.array([(b == k).sum() for k in keys], dtype=float)
    exp = np.array([(a == k).sum() for k in keys], dtype=float)
    expected = stats.chisquare(obs, exp / exp.sum() * obs.sum())
    assert chi.test == "chisquare" and abs(chi.statistic - expected.statistic) < 1e-9
    assert abs(chi.p_value - expected.pvalue) < 1e-9 and chi.drifted
    js = drift(ref, cur, tests={"c": "jensenshannon"}).features["c"]
    assert abs(js.statistic - distance.jensenshannon(exp / exp.sum(), obs / obs.sum())) < 1e-9


def test_the_defaults_follow_type_and_size() -> None:
    small_u, small_v = _pair(400, 400)
    big_u, big_v = _pair(5000, 5000, shift=0.0, spread=1.0)
    rng = np.random.default_rng(1)
    r = drift(
        pd.DataFrame(
            {"n": small_u, "c": rng.choice(list("xyz"), 400), "few": rng.integers(0, 3, 400)}
        ),
        pd.DataFrame(
            {"n": small_v, "c": rng.choice(list("xyz"), 400), "few": rng.integers(0, 3, 400)}
        ),
    )
    assert {c: f.test for c, f in r.features.items()} == {
        "n": "ks",
        "c": "chisquare",
        "few": "chisquare",
    }
    r = drift(
        pd.DataFrame({"n": big_u, "c": rng.choice(list("xyz"), 5000)}),
        pd.DataFrame({"n": big_v, "c": rng.choice(list("xyz"), 5000)}),
    )
    assert {c: f.test for c, f in r.features.items()} == {"n": "wasserstein", "c": "jensenshannon"}
    assert not r.dataset_drift and r.share_drifted == 0.0


def test_dataset_drift_is_the_share_of_drifted_columns() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({f"x{i}": rng.normal(0, 1, 3000) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": rng.normal(1.0 if i < 2 else 0.0, 1, 3000) for i in range(4)})
    r = drift(ref, cur)
    assert r.drifted == ["x0", "x1"] and r.share_drifted == 0.5 and r.dataset_drift
    assert not drift(ref, cur, drift_share=0.75).dataset_drift
    assert r.to_dict()["features"]["x0"]["drifted"] is True


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_stored_profile_stands_in_for_the_reference_rows(client: Any) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": rng.normal(40, 10, n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    version = sp.log_dataset(ref, "transactions", project="mon")
    cur = pd.DataFrame(
        {
            "amount": rng.lognormal(3.4, 1, 5000),  # drifted
            "age": rng.normal(40, 10, 5000),
            "region": rng.choice(["north", "south", "east"], 5000, p=[0.2, 0.3, 0.5]),  # drifted
        }
    )
    from_rows = sp.drift(ref, cur)
    from_profile = sp.drift(version, cur)
    assert from_profile.drifted == from_rows.drifted == ["amount", "region"]
    for c in ("amount", "age"):
        a, b = from_rows.features[c], from_profile.features[c]
        assert a.test == b.test == "wasserstein"
        assert abs(a.statistic - b.statistic) < 0.02
    ks_rows = sp.drift(ref, cur, tests={"numeric": "ks"}).features["amount"]
    ks_profile = sp.drift(version, cur, tests={"numeric": "ks"}).features["amount"]
    assert abs(ks_rows.statistic - ks_profile.statistic) < 0.01


def test_bad_columns_are_reported_not_raised() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=500),
            "gone": rng.normal(size=500),
            "empty": rng.normal(size=500),
            "const": np.ones(500),
            "kind": rng.normal(size=500),
            "cat": rng.choice(list("ab"), 500),
        }
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "empty": [np.nan] * 300,
            "const": np.ones(300),
            "kind": rng.choice(list("pq"), 300),
            "cat": rng.choice(list("abz"), 300),  # z: never seen
        }
    )
    r = drift(ref, cur)
    assert r.problems["gone"] == "missing from the current data"
    assert r.problems["empty"] == "no finite values in the current data"
    assert "reference holds numeric values, the current data categorical" in r.problems["kind"]
    assert not r.features["const"].drifted  # a constant column that stays constant
    cat = r.features["cat"]
    assert cat.new_categories == ["z"] and cat.drifted and cat.p_value == 0.0
    assert set(r.features) == {"x", "const", "cat"}
    empty = drift(ref, cur.iloc[:0])
    assert empty.features == {} and not empty.dataset_drift
    with pytest.raises(sp.errors.InvalidArgumentError, match="unknown drift test 'tt'"):
        drift(ref, cur, tests={"x": "tt"})
    # arguments are checked, not taken for something else (["ks"] was {"k": "s"})
    for kwargs, field in (
        ({"tests": ["ks"]}, "tests"),
        ({"thresholds": {"x": math.nan}}, "thresholds"),
        ({"thresholds": {"x": "0.1"}}, "thresholds"),
        ({"drift_share": 0}, "drift_share"),
        ({"drift_share": 5}, "drift_share"),
        ({"drift_share": "x"}, "drift_share"),
    ):
        with pytest.raises(sp.errors.InvalidArgumentError) as e:
            drift(ref, cur, **kwargs)
        assert e.value.field == field, kwargs
    twice = pd.concat([cur["x"], cur["x"]], axis=1)
    with pytest.raises(sp.errors.InvalidArgumentError, match="two columns named 'x'") as e:
        drift(ref, twice)
    assert e.value.field == "current"


def test_a_profile_of_many_categories_or_few_values_judges_as_the_rows_do(client: Any) -> None:
    """A profile keeps its 1,000 most frequent categories: the others used to count as new,
    so such a column drifted in every window. A value beyond a few-valued numeric column's
    range was clipped into its end bin, so it went unseen."""
    rng = np.random.default_rng(0)
    cities = np.array([f"city{i}" for i in range(1500)])
    ref = pd.DataFrame({"city": rng.choice(cities, 200_000)})
    version = sp.log_dataset(ref, "cities", project="mon")
    same = pd.DataFrame({"city": rng.choice(cities, 100_000)})
    from_profile = sp.drift(version, same).features["city"]
    assert not from_profile.drifted and from_profile.new_categories == []
    assert sp.drift(ref, same).features["city"].drifted is False
    fewer = pd.DataFrame({"city": rng.choice(cities[:200], 100_000)})
    assert sp.drift(version, fewer).features["city"].drifted
    few = pd.DataFrame({"k": rng.integers(0, 3, 800)})
    version = sp.log_dataset(few, "few", project="mon")
    unseen = pd.DataFrame({"k": np.where(rng.random(800) < 0.03, 99, rng.integers(0, 3, 800))})
    for reference in (few, version):
        found = sp.drift(reference, unseen).features["k"]
        assert found.drifted and found.new_categories == ["99.0"], reference


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_boolean_feature_meets_its_profile(client: Any) -> None:
    """A profile names booleans true/false and the current values were named True/False:
    every boolean feature drifted against a dataset version, with two "new" categories,
    and the report's histogram counted all of them as other."""
    from setpoint.monitoring.windows import compute

    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 3000), "flag": rng.random(3000) < 0.3})
    version = sp.log_dataset(ref, "flags", project="mon")
    cur = ref.sample(500, random_state=0)
    flag = sp.drift(version, cur).features["flag"]
    assert not flag.drifted and flag.new_categories == [] and flag.statistic < 0.02
    assert not sp.drift(ref, cur).features["flag"].drifted
    window = compute(cur.add_prefix("input."), version.profile, {})
    histogram = window["histograms"]["flag"]
    assert histogram["categories"][-1] == "(other)" and histogram["current"][-1] == 0
    assert sum(histogram["current"]) == 500


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_ks_against_a_profile_of_repeated_values_judges_as_the_rows_do(client: Any) -> None:
    """With repeated values (70% zeros) KS against a stored profile gave a statistic of about
    0.7 and p = 0 for a sample of the reference itself."""
    rng = np.random.default_rng(3)
    x = np.where(rng.random(900) < 0.7, 0.0, rng.lognormal(0, 1, 900))
    ref = pd.DataFrame({"x": x})
    version = sp.log_dataset(ref, "zeros", project="mon")
    for seed in range(3):
        cur = ref.sample(400, random_state=seed, replace=True)
        rows, profile = sp.drift(ref, cur).features["x"], sp.drift(version, cur).features["x"]
        assert rows.test == profile.test == "ks"
        assert not profile.drifted and profile.p_value > 0.5
        assert abs(rows.statistic - profile.statistic) < 0.01
    moved = pd.DataFrame({"x": np.where(rng.random(400) < 0.4, 0.0, rng.lognormal(0, 1, 400))})
    assert sp.drift(version, moved).features["x"].drifted


def test_a_constant_category_is_no_drift_and_a_new_one_is() -> None:
    """One category on both sides left chi-squared no degrees of freedom: p was NaN, and a
    monitor refused every window of such a feature."""
    ref = pd.DataFrame({"country": ["US"] * 500})
    same = drift(ref, pd.DataFrame({"country": ["US"] * 300})).features["country"]
    assert same.test == "chisquare" and (same.statistic, same.p_value) == (0.0, 1.0)
    assert not same.drifted
    new = drift(ref, pd.DataFrame({"country": ["US"] * 290 + ["CA"] * 10})).features["country"]
    assert new.drifted and new.p_value == 0.0 and new.statistic == math.inf
    assert new.new_categories == ["CA"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_integers_beyond_2_to_the_53_meet_their_profile(client: Any) -> None:
    """The profile's histogram edges repeat once such integers are floats; a value was put
    in the bin after its own, so a sample of the reference drifted with "new" bins."""
    rng = np.random.default_rng(1)
    # five values 1000 apart: few values, compared on the profile's (repeating) bin edges
    ref = pd.DataFrame({"id": (2**60 + 1000 * rng.integers(0, 5, 800)).astype(np.int64)})
    version = sp.log_dataset(ref, "ids", project="mon")
    cur = ref.sample(300, random_state=0)
    profile, rows = sp.drift(version, cur).features["id"], sp.drift(ref, cur).features["id"]
    assert profile.test == rows.test == "chisquare"
    assert not profile.drifted and profile.new_categories == []
    assert abs(profile.statistic - rows.statistic) < 1e-9
    # ~550 ids within 1000 of 2**60: distinct as integers (the profile counts 550, so ks)
    many = pd.DataFrame({"id": (2**60 + rng.integers(0, 1000, 800)).astype(np.int64)})
    version = sp.log_dataset(many, "many-ids", project="mon")
    profile = sp.drift(version, many.sample(300, random_state=0)).features["id"]
    assert profile.test == "ks" and not profile.drifted and profile.new_categories == []


def test_non_finite_current_values_are_counted_as_missing() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=500), "few": rng.integers(0, 3, 500).astype(float)})
    x = rng.normal(size=300)
    x[:5], x[5:8] = np.inf, np.nan
    few = rng.integers(0, 3, 300).astype(float)
    few[:4] = -np.inf
    r = drift(ref, pd.DataFrame({"x": x, "few": few}))
    assert (r.features["x"].missing, r.features["x"].current_rows) == (8, 292)
    assert (r.features["few"].missing, r.features["few"].current_rows) == (4, 296)


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_text_against_a_profiles_numbers_is_a_problem_not_a_crash(client: Any) -> None:
    version = sp.log_dataset(pd.DataFrame({"x": np.arange(100.0)}), "numbers", project="mon")
    r = sp.drift(version, pd.DataFrame({"x": ["a"] * 10}))
    assert r.features == {} and "current data categorical" in r.problems["x"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_integers_beyond_2_to_the_53_choose_the_same_test_from_rows_as_from_a_profile(
    client: Any,
) -> None:
    """The rows counted distinct values as floats, the profile as integers: ~280 ids within
    300 of 2**60 are two or three doubles, so the rows compared them as few-valued
    categories (chi-squared) and the profile with ks."""
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"id": (2**60 + rng.integers(0, 300, 800)).astype(np.int64)})
    version = sp.log_dataset(ref, "big-ids", project="mon")
    moved = pd.DataFrame({"id": (2**60 + 150 + rng.integers(0, 300, 400)).astype(np.int64)})
    for cur, drifted in ((ref.sample(400, random_state=0), False), (moved, True)):
        rows, profile = sp.drift(ref, cur).features["id"], sp.drift(version, cur).features["id"]
        assert rows.test == profile.test == "ks"
        assert rows.drifted is profile.drifted is drifted
        assert abs(rows.statistic - profile.statistic) < 0.02


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_column_spanning_the_double_range_is_binned_and_judged(client: Any) -> None:
    """Binning on a profile's histogram computed hi - lo, which overflows from -1.7e308 to
    1.7e308: every value fell in the first bin, so a sample of the reference drifted (p ~
    1e-67) and a monitor's window failed with an overflow (as did the rows' distinct count
    and standard deviation)."""
    from setpoint.monitoring.windows import compute

    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": np.where(rng.random(600) < 0.5, -1.7e308, 1.7e308)})
    version = sp.log_dataset(ref, "wide", project="mon")
    cur = ref.sample(300, random_state=0)
    rows, profile = sp.drift(ref, cur).features["x"], sp.drift(version, cur).features["x"]
    assert rows.test == profile.test == "chisquare"
    assert not rows.drifted and not profile.drifted and profile.new_categories == []
    assert abs(rows.statistic - profile.statistic) < 1e-9
    wide = pd.DataFrame({"w": rng.uniform(-0.85e308, 0.85e308, 600) * 2})
    w = sp.drift(wide, wide.sample(300, random_state=0), tests={"w": "wasserstein"})
    assert math.isfinite(w.features["w"].statistic) and not w.features["w"].drifted
    histogram = compute(cur.add_prefix("input."), version.profile, {})["histograms"]["x"]
    assert all(math.isfinite(e) for e in histogram["edges"])
    negative = int((cur["x"] < 0).sum())
    assert histogram["current"] == [negative] + [0] * 18 + [300 - negative]
