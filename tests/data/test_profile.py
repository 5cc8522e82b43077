"""Profiles: one streaming pass, exact where promised, bounded sketches where not."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from setpoint.data.profile import EXACT_DISTINCT, profile_batches


def _profile(table: pa.Table, chunk: int = 65_536) -> dict:
    return profile_batches(table.schema, table.to_batches(max_chunksize=chunk))


def _col(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_numeric_moments_extremes_and_quantiles() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(10, 3, 300_000)
    p = _profile(pa.table({"x": x}))
    c = _col(p, "x")
    assert p["num_rows"] == 300_000 and c["kind"] == "numeric" and c["count"] == 300_000
    assert c["min"] == x.min() and c["max"] == x.max()
    assert c["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert c["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    for q, value in c["quantiles"].items():
        # rank error of the sketch: the true rank of the reported value is within 1%
        rank = np.mean(x <= value)
        assert abs(rank - float(q)) < 0.01, (q, rank)
    assert sum(c["histogram"]["counts"]) == 300_000
    assert len(c["histogram"]["edges"]) == 21
    assert c["histogram"]["edges"][0] == x.min() and c["histogram"]["edges"][-1] == x.max()
    assert len(c["sketch"]["q"]) == 201


def test_quantiles_of_tables_of_one_batch_are_close() -> None:
    """Each batch was sampled down to 4,096 values before sketching: on 10,000 to 60,000
    rows the quantiles' ranks were off by up to 2%."""
    for n, seed in ((10_000, 0), (20_000, 1), (60_000, 2), (600_000, 3)):
        x = np.random.default_rng(seed).normal(size=n)
        quantiles = _col(_profile(pa.table({"x": x})), "x")["quantiles"]
        ranks = np.searchsorted(np.sort(x), list(quantiles.values()), side="right") / n
        assert np.abs(ranks - np.array([float(q) for q in quantiles])).max() < 0.003, n


def test_small_data_histograms_are_exact() -> None:
    x = np.arange(1000, dtype=np.float64)
    c = _col(_profile(pa.table({"x": x})), "x")
    expected, _ = np.histogram(x, bins=20, range=(0, 999))
    assert c["histogram"]["counts"] == expected.tolist()
    assert c["distinct"] == 1000 and c["distinct_exact"]
    assert c["quantiles"]["0.5"] == pytest.approx(499.5, abs=1)


def test_nulls_nan_and_infinities_are_counted_not_averaged() -> None:
    values = [1.0, None, float("nan"), float("inf"), float("-inf"), 3.0, None]
    c = _col(_profile(pa.table({"x": pa.array(values, type=pa.float64())})), "x")
    assert (c["count"], c["nulls"], c["nan"], c["pos_inf"], c["neg_inf"]) == (5, 2, 1, 1, 1)
    assert (c["min"], c["max"], c["mean"]) == (1.0, 3.0, 2.0)
    assert all(math.isfinite(e) for e in c["histogram"]["edges"])


def test_numbers_spanning_the_double_range_get_a_histogram() -> None:
    """max - min overflowed to inf: the edges were NaN and the store refused the profile."""
    c = _col(_profile(pa.table({"x": [-1.7e308, 1.7e308, 0.0]})), "x")
    edges = c["histogram"]["edges"]
    assert (edges[0], edges[10], edges[-1]) == (-1.7e308, 0.0, 1.7e308)
    assert all(math.isfinite(e) for e in edges) and edges == sorted(edges)
    assert c["histogram"]["counts"] == [1] + [0] * 9 + [1] + [0] * 8 + [1]
    assert (c["mean"], c["std"]) == (0.0, None)  # a spread no double holds is not given


def test_all_null_and_constant_columns() -> None:
    table = pa.table(
        {
            "empty": pa.array([None] * 10, type=pa.float64()),
            "nulltype": pa.nulls(10),
            "const": pa.array([7] * 10),
            "text": pa.array([None] * 10, type=pa.string()),
        }
    )
    p = _profile(table)
    empty = _col(p, "empty")
    assert (empty["count"], empty["nulls"], empty["min"], empty["histogram"]) == (0, 10, None, None)
    assert _col(p, "nulltype")["kind"] == "other" and _col(p, "nulltype")["nulls"] == 10
    const = _col(p, "const")
    assert (const["min"], const["max"], const["std"], const["distinct"]) == (7, 7, 0.0, 1)
    assert const["histogram"]["counts"] == [10]
    assert _col(p, "text")["top"] == [] and _col(p, "text")["length"] is None


def test_categories_counts_and_lengths() -> None:
    values = ["b", "a", "b", None, "ccc", "b"]
    c = _col(_profile(pa.table({"s": values}), chunk=2), "s")
    assert c["kind"] == "categorical"
    assert c["top"] == [["b", 3], ["a", 1], ["ccc", 1]]
    assert c["categories"] == {"b": 3, "a": 1, "ccc": 1} and c["categories_exact"]
    assert (c["distinct"], c["nulls"]) == (3, 1)
    assert c["length"] == {"min": 1, "max": 3, "mean": 7 / 5}
    flags = _col(_profile(pa.table({"f": [True, False, True]})), "f")
    assert flags["kind"] == "boolean" and flags["top"] == [["true", 2], ["false", 1]]


def test_long_texts_are_counted_but_listed_in_no_category() -> None:
    """A column of documents: each a category, every one of them was kept in memory and in
    the profile, which outgrew what the store takes ("profile blob is too large")."""
    docs = [f"{i:04d}" + "x" * 5_000 for i in range(300)] + ["short", "short", None]
    c = _col(_profile(pa.table({"doc": docs}), chunk=64), "doc")
    assert c["categories"] == {"short": 2} and c["top"] == [["short", 2]]
    assert c["categories_exact"] is False  # not all of the values are listed
    assert (c["count"], c["nulls"], c["distinct"]) == (302, 1, 301)
    assert c["length"]["max"] == 5_004 and c["length"]["min"] == 5
    # a text among many categories leaves the most frequent listed (it made the profile
    # keep the first categories seen instead)
    many = ["x" * 1_001] + [f"id{i}" for i in range(15_000)] + ["hot"] * 5_000
    assert _col(_profile(pa.table({"c": many})), "c")["top"][0] == ["hot", 5_000]
    edge = _col(_profile(pa.table({"s": ["y" * 1_000, "y" * 1_000]})), "s")
    assert edge["categories"] == {"y" * 1_000: 2} and edge["categories_exact"]


def test_distinct_is_estimated_past_the_exact_limit() -> None:
    n = 200_000
    ids = np.random.default_rng(1).permutation(n)
    c = _col(_profile(pa.table({"id": ids % 150_000})), "id")
    assert not c["distinct_exact"]
    assert c["distinct"] == pytest.approx(150_000, rel=0.03)
    small = _col(_profile(pa.table({"id": ids % EXACT_DISTINCT})), "id")
    assert small["distinct_exact"] and small["distinct"] == EXACT_DISTINCT


def test_distinct_counts_what_doubles_cannot_tell_apart() -> None:
    """Values were hashed as doubles: ids beyond 2**53, timestamps 1 ns apart and decimals of
    more than 16 digits collapsed into one "exact" distinct value."""
    import decimal

    table = pa.table(
        {
            "id": pa.array([2**60 + i for i in range(100)] + [None], pa.int64()),
            "u": pa.array([2**64 - 1 - i for i in range(100)] + [None], pa.uint64()),
            "ns": pa.array([1_700_000_000 * 10**9 + i for i in range(101)], pa.timestamp("ns")),
            "d": pa.array(
                [decimal.Decimal(f"0.1{i:020d}") for i in range(100)] + [None],
                pa.decimal128(38, 21),
            ),
            "days": pa.array(list(range(50)) * 2 + [None], pa.date32()),
        }
    )
    for chunk in (7, 65_536):
        p = _profile(table.slice(1), chunk=chunk)
        got = {c["name"]: (c["distinct"], c["distinct_exact"]) for c in p["columns"]}
        assert got == {
            "id": (99, True),
            "u": (99, True),
            "ns": (100, True),
            "d": (99, True),
            "days": (50, True),
        }


def test_temporal_columns_as_iso_text() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    stamps = [start + dt.timedelta(hours=h) for h in range(48)]
    c = _col(_profile(pa.table({"ts": pa.array(stamps, type=pa.timestamp("us"))})), "ts")
    assert c["kind"] == "temporal"
    assert c["min"] == "2026-11-01T00:00:00Z" and c["max"] == "2026-11-02T23:00:00Z"
    assert c["mean"] is None and sum(c["histogram"]["counts"]) == 48


def test_same_data_same_profile_however_it_is_chunked() -> None:
    rng = np.random.default_rng(2)
    table = pa.table({"x": rng.normal(size=50_000), "s": rng.choice(["a", "b"], 50_000)})
    assert _profile(table, chunk=65_536) == _profile(table, chunk=65_536)
    moments = [(_col(_profile(table, chunk=k), "x")["mean"]) for k in (1000, 65_536)]
    assert moments[0] == pytest.approx(moments[1], rel=1e-12)
