"""Drift statistics: does the current data come from the reference's distribution?

Per column, one of five tests, chosen by type and reference size unless named:

| test | kind | drifted when | default for |
|---|---|---|---|
| ``ks`` (Kolmogorov–Smirnov) | numeric | p-value < 0.05 | numeric columns, reference of ≤ 1,000 rows |
| ``wasserstein`` (divided by the reference's standard deviation) | numeric | ≥ 0.1 | numeric columns, larger references |
| ``chisquare`` | categorical | p-value < 0.05 | categorical (or ≤ 5 distinct values), ≤ 1,000 rows |
| ``jensenshannon`` (natural log) | both | ≥ 0.1 | categorical (or ≤ 5 distinct values), larger |
| ``psi`` (population stability index, 10 reference-quantile bins) | both | ≥ 0.1 | never by default |

These are Evidently's defaults. Dataset drift: the share of drifted columns reaches
``drift_share`` (0.5). Values agree with scipy's (``ks_2samp``, ``chisquare``,
``wasserstein_distance``, ``jensenshannon``) on the same samples; the numeric work is sorted
numpy arrays merged once per column, columns in parallel threads. A reference may be a stored
dataset profile instead of rows: quantiles (201), histogram and category counts stand in for
the data, so monitoring never re-reads the training data (the statistics are then
approximations, accurate to the profile's quantile sketch).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from setpoint.core.errors import InvalidArgumentError
from setpoint.data.drift import sketch_cdf
from setpoint.data.profile import category_text

TESTS = ("ks", "wasserstein", "chisquare", "jensenshannon", "psi")
THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}
P_VALUE_TESTS = ("ks", "chisquare")
SMALL = 1000  # reference rows up to which the p-value tests are the defaults
FEW = 5  # distinct numeric values up to which a column is treated as categorical
PSI_BINS = 10
Side = Literal["left", "right"]
EPS = 1e-4  # floor of a bin's share in PSI (empty bins would make it infinite)


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    column: str
    kind: str  # numeric | categorical
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    missing: int = 0  # current values that were null, NaN or infinite (left out of the test)
    new_categories: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    features: dict[str, FeatureDrift]
    share_drifted: float
    drift_share: float
    dataset_drift: bool
    problems: dict[str, str]  # columns that could not be tested, and why

    @property
    def drifted(self) -> list[str]:
        return [c for c, f in self.features.items() if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "features": {c: asdict(f) for c, f in self.features.items()},
            "problems": self.problems,
        }


# ------------------------------------------------------------------ the references


class _Numeric:
    """A numeric reference: its finite values sorted, or a profile's quantile function."""

    def __init__(
        self,
        sorted_values: np.ndarray | None,
        quantiles: np.ndarray | None,
        rows: int,
        std: float,
        distinct: int,
    ) -> None:
        self.sorted = sorted_values
        self.quantiles = quantiles  # at linspace(0, 1, len) when from a profile
        self.rows = rows
        self.std = std
        self.distinct = distinct
        self.histogram: dict[str, Any] | None = None  # a profile's, for few distinct values

    @classmethod
    def from_values(cls, values: np.ndarray, keys: np.ndarray | None = None) -> _Numeric:
        """``keys``: an integer column's non-null values as integers, whose distinct values
        are counted as a profile counts them (as doubles, those beyond 2**53 collapse, and
        the distinct count chooses the test)."""
        finite = values[np.isfinite(values)]
        finite.sort()
        if keys is not None:
            distinct = int(np.unique(keys).size)
        else:  # compared, not subtracted: -1.7e308 to 1.7e308 overflows a difference
            distinct = int(np.count_nonzero(finite[1:] != finite[:-1])) + 1 if finite.size else 0
        with np.errstate(over="ignore", invalid="ignore"):
            std = float(np.std(finite)) if finite.size else 0.0
            if not math.isfinite(std):  # values near the ends of the double range
                top = float(np.max(np.abs(finite)))
                std = float(np.std(finite / top)) * top
        return cls(finite, None, int(finite.size), std if math.isfinite(std) else 0.0, distinct)

    @classmethod
    def from_profile(cls, col: Mapping[str, Any]) -> _Numeric:
        sketch = col.get("sketch") or {}
        q = sketch.get("q")
        if not q:
            raise InvalidArgumentError("the profile has no quantiles for it", field="reference")
        count = int(col.get("count", 0)) - sum(
            int(col.get(k) or 0) for k in ("nan", "pos_inf", "neg_inf")
        )
        ref = cls(
            None,
            np.asarray(q, dtype=np.float64),
            max(count, 0),
            float(col.get("std") or 0.0),
            int(col.get("distinct") or 0),
        )
        hist = col.get("histogram")
        if isinstance(hist, dict) and hist.get("edges") and hist.get("counts"):
            ref.histogram = hist
        return ref

    def cdf_at(self, x: np.ndarray, side: Side = "right") -> np.ndarray:
        """The share of the reference at or below ``x`` (``side="left"``: below it)."""
        if self.sorted is not None:
            return np.searchsorted(self.sorted, x, side=side) / self.sorted.size
        assert self.quantiles is not None
        return sketch_cdf(self.quantiles, x, side)

    def quantile_at(self, p: np.ndarray) -> np.ndarray:
        if self.sorted is not None:
            return np.quantile(self.sorted, p)
        assert self.quantiles is not None
        return np.interp(p, np.linspace(0.0, 1.0, self.quantiles.size), self.quantiles)


# A profile keeps the counts of its most frequent categories only when there are many: the
# rest of the reference, and current values outside the listed ones, are counted as one.
OTHER = "\x00other"


class _Categorical:
    """Category counts; ``rest`` (a profile's inexact counts) is how many reference values
    fall outside the listed categories, counted together as OTHER."""

    def __init__(self, counts: dict[str, int], *, exact: bool = True, rest: int = 0) -> None:
        self.exact = exact
        self.counts = counts if exact else {**counts, OTHER: rest}
        self.rows = int(sum(self.counts.values()))

    @classmethod
    def from_profile(cls, col: Mapping[str, Any]) -> _Categorical:
        listed = {str(k): int(v) for k, v in col["categories"].items()}
        if col.get("categories_exact", True):
            return cls(listed)
        rest = int(col.get("count") or 0) - sum(listed.values())
        return cls(listed, exact=False, rest=max(rest, 0))

    def current(self, counts: dict[str, int]) -> tuple[dict[str, int], list[str]]:
        """The current counts on this reference's categories, and the categories it never
        saw (none can be named when the reference lists only its most frequent ones)."""
        unseen = [k for k in counts if k not in self.counts]
        if self.exact:
            return counts, sorted(unseen)[:20]
        folded = {k: n for k, n in counts.items() if k in self.counts}
        if unseen:
            folded[OTHER] = folded.get(OTHER, 0) + sum(counts[k] for k in unseen)
        return folded, []


def _reference(values: Any, kind: str) -> _Numeric | _Categorical:
    if kind == "numeric":
        import pandas as pd

        series = values if isinstance(values, pd.Series) else pd.Series(values)
        keys = None
        if series.dtype.kind in "iu":  # numpy or nullable integers
            keys = series.dropna().to_numpy(dtype=getattr(series.dtype, "numpy_dtype", None))
        return _Numeric.from_values(np.asarray(series, dtype=np.float64), keys)
    return _Categorical(category_counts(values))


def category_counts(values: Any) -> dict[str, int]:
    """Counts of the non-null values, each named as a dataset profile names it (booleans
    as true/false), so current values meet a stored profile's categories."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    out: dict[str, int] = {}
    for key, n in series.dropna().value_counts(sort=False).items():
        name = category_text(key.item() if isinstance(key, np.generic) else key)
        out[name] = out.get(name, 0) + int(n)
    return out


def profile_bins(values: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    """The bin of a profile's histogram each value falls in, computed as the profile counts
    them (equal widths over [first edge, last edge]): edges converted to floats may repeat
    (integers beyond 2**53), so searching the edges would put a value in another bin."""
    lo, hi = float(edges[0]), float(edges[-1])
    if not hi > lo:
        return np.zeros(values.size, dtype=np.intp)
    # Values beyond the edges go to the end bins; clipped first, so no value's distance from
    # lo overflows. Halved when the span does (-1.7e308 to 1.7e308), as the profile bins
    # them: halving is exact for doubles this large, and the bins come out the same.
    s = 0.5 if math.isinf(hi - lo) else 1.0
    at = (np.clip(values, lo, hi) * s - lo * s) / (hi * s - lo * s) * bins
    return np.minimum(at.astype(np.intp), bins - 1)


# ------------------------------------------------------------------ the tests


def _merged_cdfs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of two sorted samples, and each sample's CDF at them (what scipy
    gets with searchsorted over all values, from one merge of the two sorted runs)."""
    both = np.concatenate([u, v])
    order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    merged = both[order]
    from_u = order < u.size
    u_cdf = np.cumsum(from_u) / u.size
    v_cdf = np.cumsum(~from_u) / v.size
    ends = np.flatnonzero(np.diff(merged) != 0)  # last index of each distinct value
    ends = np.append(ends, merged.size - 1)
    return merged[ends], u_cdf[ends], v_cdf[ends]


def ks(ref: _Numeric, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov: statistic and p-value as scipy's ``ks_2samp`` (exact for
    samples up to 10,000 values, Smirnov's asymptotic distribution beyond)."""
    from scipy import stats

    n1, n2 = ref.rows, cur.size
    if ref.sorted is not None and max(n1, n2) <= 10_000:
        result = stats.ks_2samp(ref.sorted, cur)
        return float(result.statistic), float(result.pvalue)
    if ref.sorted is not None:
        _, u_cdf, v_cdf = _merged_cdfs(ref.sorted, cur)
        d = float(np.max(np.abs(u_cdf - v_cdf)))
    else:  # against a profile's quantile function
        # both CDFs at each distinct current value and just below it: between two current
        # values the current CDF is flat, so the largest gap is at one of these limits
        values = np.unique(cur)
        cur_hi = np.searchsorted(cur, values, side="right") / n2
        cur_lo = np.searchsorted(cur, values, side="left") / n2
        d = float(
            max(
                np.max(np.abs(cur_hi - ref.cdf_at(values, "right"))),
                np.max(np.abs(cur_lo - ref.cdf_at(values, "left"))),
            )
        )
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p


def wasserstein(ref: _Numeric, cur: np.ndarray) -> float:
    """Earth mover's distance (as scipy's ``wasserstein_distance``) divided by the reference's
    standard deviation (population, as Evidently)."""
    if ref.sorted is not None:
        values, u_cdf, v_cdf = _merged_cdfs(ref.sorted, cur)
        distance = float(np.sum(np.abs(u_cdf[:-1] - v_cdf[:-1]) * np.diff(values)))
    else:
        grid = np.linspace(0.0, 1.0, 1001)
        diff = np.abs(ref.quantile_at(grid) - np.quantile(cur, grid))
        distance = float(np.sum((diff[1:] + diff[:-1]) / 2) * (grid[1] - grid[0]))
    scale = ref.std if ref.std > 0 else 1.0
    return distance / scale


def _shares(
    ref_counts: dict[str, int], cur_counts: dict[str, int]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    keys = sorted(set(ref_counts) | set(cur_counts))
    r = np.array([ref_counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in keys], dtype=np.float64)
    return keys, r, c


def chisquare(ref: _Categorical, cur_counts: dict[str, int]) -> tuple[float, float]:
    """Pearson's chi-squared of the current counts against the reference's shares scaled to
    the current total (scipy's ``chisquare``). Categories the reference never saw have no
    expected count: they make the statistic infinite (p = 0), i.e. drift."""
    from scipy import stats

    _, r, c = _shares(ref.counts, cur_counts)
    if np.any((r == 0) & (c > 0)):
        return math.inf, 0.0
    keep = r > 0
    if np.count_nonzero(keep) < 2:
        # one category on both sides: nothing can differ (scipy's test has no degrees of
        # freedom left and answers NaN)
        return 0.0, 1.0
    expected = r[keep] / r[keep].sum() * c.sum()
    result = stats.chisquare(c[keep], expected)
    return float(result.statistic), float(result.pvalue)


def jensenshannon_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> float:
    """Jensen–Shannon distance (natural log, as scipy's ``jensenshannon``) of two count maps."""
    _, r, c = _shares(ref_counts, cur_counts)
    return _js(r / r.sum(), c / c.sum())


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(math.sqrt(max((left.sum() + right.sum()) / 2, 0.0)))


def _numeric_bins(ref: _Numeric, cur: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares in ``bins`` bins at the reference's quantiles."""
    edges = np.unique(ref.quantile_at(np.linspace(0, 1, bins + 1)))
    inner = edges[1:-1]
    if ref.sorted is not None:
        r = np.bincount(np.searchsorted(inner, ref.sorted, side="right"), minlength=inner.size + 1)
    else:  # a profile: the shares its quantile function puts between the edges
        r = _profile_shares(ref, edges)
    c = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=inner.size + 1)
    return r / max(r.sum(), 1), c / max(c.sum(), 1)


def _profile_shares(ref: _Numeric, edges: np.ndarray) -> np.ndarray:
    # below each edge, as the current values are binned (an edge opens its bin)
    cdf = ref.cdf_at(edges, "left")
    shares = np.diff(cdf)
    shares[0] += cdf[0]
    shares[-1] += 1 - cdf[-1]
    return shares


def psi(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    r = np.clip(p_ref, EPS, None)
    c = np.clip(p_cur, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


# ------------------------------------------------------------------ one column, all columns


def _default_test(kind: str, ref: _Numeric | _Categorical) -> str:
    if kind == "numeric" and isinstance(ref, _Numeric) and ref.distinct > FEW:
        return "ks" if ref.rows <= SMALL else "wasserstein"
    return "chisquare" if ref.rows <= SMALL else "jensenshannon"


def column_drift(
    name: str,
    ref: _Numeric | _Categorical,
    current: Any,
    kind: str,
    test: str | None = None,
    threshold: float | None = None,
) -> FeatureDrift:
    import pandas as pd

    if isinstance(ref, _Numeric) and ref.rows == 0:
        raise _Untestable("no finite values in the reference")
    series = current if isinstance(current, pd.Series) else pd.Series(current)
    if isinstance(ref, _Numeric):
        try:
            numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):  # text against a profile's numbers
            raise _Untestable(
                "the reference holds numeric values, the current data categorical ones"
            ) from None
        finite = numbers[np.isfinite(numbers)]
        del numbers
        missing = series.size - finite.size  # null, NaN and infinite values are left out
    else:
        missing = int(series.isna().sum())
    if (
        kind == "numeric"
        and isinstance(ref, _Numeric)
        and ref.distinct <= FEW
        and test in (None, "chisquare", "jensenshannon")
    ):
        # a numeric column of a few values is compared as categories: its values, or (from
        # a profile) the bins of the profile's histogram they fall in
        if ref.sorted is not None:
            # both sides as floats, so an int 1 and a float 1.0 are one category
            ref = _Categorical(category_counts(pd.Series(ref.sorted, dtype=np.float64)))
            series = pd.Series(finite, dtype=np.float64)
        elif ref.histogram is not None:
            edges = np.asarray(ref.histogram["edges"], dtype=np.float64)
            counts = ref.histogram["counts"]
            ref_counts = {str(i): int(v) for i, v in enumerate(counts) if v}
            # a value beyond the reference's range is one it never saw: its own category
            inside = (finite >= edges[0]) & (finite <= edges[-1])
            binned = profile_bins(finite[inside], edges, len(counts))
            names = [str(b) for b in binned] + [str(v) for v in finite[~inside]]
            series = pd.Series(names, dtype=object)
            ref = _Categorical(ref_counts)
        else:
            raise _Untestable("the profile keeps no histogram for this few-valued column")
        kind = "categorical"
    test = test or _default_test(kind, ref)
    if test not in TESTS:
        raise InvalidArgumentError(
            f"unknown drift test {test!r}: expected one of {', '.join(TESTS)}", field="test"
        )
    limit = THRESHOLDS[test] if threshold is None else threshold
    p_value: float | None = None
    new: list[str] = []
    if isinstance(ref, _Numeric):
        finite.sort()
        if finite.size == 0 or ref.rows == 0:
            raise _Untestable(
                "no finite values in the current data"
                if finite.size == 0
                else "no finite values in the reference"
            )
        if test == "ks":
            statistic, p_value = ks(ref, finite)
        elif test == "wasserstein":
            statistic = wasserstein(ref, finite)
        elif test in ("psi", "jensenshannon"):
            p_ref, p_cur = _numeric_bins(ref, finite, PSI_BINS if test == "psi" else 20)
            statistic = psi(p_ref, p_cur) if test == "psi" else _js(p_ref, p_cur)
        else:
            raise InvalidArgumentError(
                f"{test} compares categories; {name!r} is numeric", field="test"
            )
        current_rows = int(finite.size)
    else:
        counts, new = ref.current(category_counts(series))
        if not counts:
            raise _Untestable("no values in the current data")
        if test == "chisquare":
            statistic, p_value = chisquare(ref, counts)
        elif test == "jensenshannon":
            statistic = jensenshannon_counts(ref.counts, counts)
        elif test == "psi":
            _, r, c = _shares(ref.counts, counts)
            statistic = psi(r / r.sum(), c / c.sum())
        else:
            raise InvalidArgumentError(
                f"{test} compares numbers; {name!r} is categorical", field="test"
            )
        current_rows = int(sum(counts.values()))
    # as Evidently: a p-value below the threshold, or a distance at or above it
    drifted = (
        (p_value < limit) if test in P_VALUE_TESTS and p_value is not None else statistic >= limit
    )
    return FeatureDrift(
        column=name,
        kind=kind,
        test=test,
        statistic=float(statistic),
        p_value=p_value,
        threshold=float(limit),
        drifted=bool(drifted),
        reference_rows=ref.rows,
        current_rows=current_rows,
        missing=missing,
        new_categories=new,
    )


class _Untestable(Exception):
    pass


def drift(
    reference: Any,
    current: Any,
    *,
    columns: list[str] | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    threads: int | None = None,
) -> DriftReport:
    """Compare ``current`` (a pandas DataFrame or Arrow table) with ``reference`` (the same,
    or a stored profile as a dict of columns). ``tests`` and ``thresholds`` map a column, or
    "numeric"/"categorical", to a test name and its threshold."""
    _check_arguments(drift_share, tests, thresholds)
    cur = _frame(current, "current")
    profile = None
    if isinstance(reference, Mapping):  # a stored profile
        listed = reference.get("columns", reference)
        profile = {c["name"]: c for c in listed} if isinstance(listed, list) else dict(listed)
    ref_frame = None if profile is not None else _frame(reference, "reference")
    ref_columns = list(profile) if profile is not None else list(ref_frame.columns)  # type: ignore[union-attr]
    wanted = columns or ref_columns
    tests = dict(tests or {})
    thresholds = dict(thresholds or {})
    problems: dict[str, str] = {}
    jobs: dict[str, tuple[Any, Any, str]] = {}
    for name in wanted:
        if name not in ref_columns:
            problems[name] = "not in the reference"
            continue
        if name not in cur.columns:
            problems[name] = "missing from the current data"
            continue
        if profile is not None:
            col = profile[name]
            kind = "numeric" if col.get("kind") == "numeric" else "categorical"
            if kind == "categorical" and not col.get("categories"):
                problems[name] = "the profile keeps no category counts for it"
                continue
            jobs[name] = (col, cur[name], kind)
        else:
            ref_values = ref_frame[name]  # type: ignore[index]
            kind = _column_kind(ref_values)
            if kind != _column_kind(cur[name]) and cur[name].notna().any():
                problems[name] = (
                    f"the reference holds {kind} values, the current data "
                    f"{_column_kind(cur[name])} ones"
                )
                continue
            jobs[name] = (ref_values, cur[name], kind)

    def run(name: str) -> FeatureDrift | str:
        source, current_values, kind = jobs[name]
        try:
            if profile is not None:
                ref = (
                    _Numeric.from_profile(source)
                    if kind == "numeric"
                    else _Categorical.from_profile(source)
                )
            else:
                ref = _reference(source, kind)
            test = tests.get(name) or tests.get(kind)
            threshold = thresholds.get(name, thresholds.get(kind))
            return column_drift(name, ref, current_values, kind, test, threshold)
        except _Untestable as exc:
            return str(exc)

    workers = threads or os.cpu_count() or 1
    with concurrent.futures.ThreadPoolExecutor(workers, "setpoint-drift") as pool:
        results = dict(zip(jobs, pool.map(run, jobs), strict=True))
    features = {}
    for name, result in results.items():
        if isinstance(result, str):
            problems[name] = result
        else:
            features[name] = result
    tested = len(features)
    share = (sum(f.drifted for f in features.values()) / tested) if tested else 0.0
    return DriftReport(
        features=features,
        share_drifted=share,
        drift_share=drift_share,
        dataset_drift=tested > 0 and share >= drift_share,
        problems=problems,
    )


def _check_arguments(drift_share: Any, tests: Any, thresholds: Any) -> None:
    if (
        isinstance(drift_share, bool)
        or not isinstance(drift_share, int | float)
        or not 0 < drift_share <= 1
    ):
        raise InvalidArgumentError(
            f"drift_share must be a share above 0 and at most 1, got {drift_share!r}",
            field="drift_share",
        )
    for name, given, fits, expected in (
        ("tests", tests, lambda v: v in TESTS, f"one of {', '.join(TESTS)}"),
        (
            "thresholds",
            thresholds,
            lambda v: (
                isinstance(v, int | float)
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v >= 0
            ),
            "a finite number >= 0",
        ),
    ):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise InvalidArgumentError(
                f"{name} maps a column (or 'numeric', 'categorical') to {expected}, "
                f"got {type(given).__name__}",
                field=name,
            )
        for key, value in given.items():
            if not isinstance(key, str) or not fits(value):
                what = f"unknown drift test {value!r}" if name == "tests" else f"{value!r}"
                raise InvalidArgumentError(
                    f"{what} for {key!r}: {name} must be {expected}", field=name
                )


def _column_kind(series: Any) -> str:
    kind = series.dtype.kind
    if kind in "iuf":
        return "numeric"
    if kind == "b":
        return "categorical"
    return "categorical"


def _frame(data: Any, field: str) -> Any:
    import pandas as pd

    module = type(data).__module__.split(".")[0]
    if module in ("pyarrow", "polars") and hasattr(data, "to_pandas"):
        data = data.to_pandas()
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            repeated = data.columns[data.columns.duplicated()][0]
            raise InvalidArgumentError(f"{field} has two columns named {repeated!r}", field=field)
        return data
    raise InvalidArgumentError(
        f"{field} must be a pandas or polars DataFrame or an Arrow table (or, for the "
        f"reference, a dataset version), got {type(data).__name__}",
        field=field,
    )
