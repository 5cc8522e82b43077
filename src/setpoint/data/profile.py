"""Column profiles in one streaming pass with bounded memory.

A profile is a JSON-compatible dict stored beside the data. It is built to be reused as the
reference statistics that drift checks compare against, without reading the data again:
numeric columns keep a quantile summary (``sketch``: values at 201 evenly spaced
probabilities), categorical columns keep their category counts.

Per batch, each column feeds a small accumulator: counts, running moments (merged with
Chan's formula), a KLL-style quantile sketch (sampled into fixed-capacity levels, compacted
by sorting), a HyperLogLog register file for distinct counts past the exact limit, and
category counts. Memory is bounded by the number of columns, never by the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from setpoint.core.names import is_finite_number, is_whole_number

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

FORMAT = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
SKETCH_POINTS = 201  # stored quantile summary: p = 0, 0.005, ..., 1
HISTOGRAM_BINS = 20
EXACT_DISTINCT = 10_000  # beyond this many distinct values, estimate with HyperLogLog
MAX_CATEGORIES = 10_000  # category counts kept exactly up to this many categories
STORED_CATEGORIES = 1_000  # a profile lists at most this many (the most frequent)
# A longer string is a text, no category: counted among the values (nulls, distinct,
# lengths) but listed in no category count, which would hold every document of a text
# column in memory and in the profile.
MAX_CATEGORY_CHARS = 1_000
TOP = 20
_SKETCH_K = 4096
_SORTED_ROWS = 1 << 19  # batches are sorted into the sketch up to this many values
_HLL_P = 14


class Profiler:
    """Feed record batches sharing ``schema`` with :meth:`update`; :meth:`result` at the end."""

    def __init__(self, schema: pa.Schema) -> None:
        self.columns = [_accumulator(field) for field in schema]
        self.rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for acc, array in zip(self.columns, batch.columns, strict=True):
            acc.update(array)

    def result(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "num_rows": self.rows,
            "columns": [c.result() for c in self.columns],
        }


def profile_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> dict[str, Any]:
    """Profile a stream of record batches sharing ``schema``."""
    profiler = Profiler(schema)
    for batch in batches:
        profiler.update(batch)
    return profiler.result()


def profile_parquet(path: str, batch_rows: int = 65_536) -> dict[str, Any]:
    """Profile a Parquet file, reading it one record batch at a time."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path, pre_buffer=False) as f:
        return profile_batches(f.schema_arrow, f.iter_batches(batch_size=batch_rows))


# ---------------------------------------------------------------- accumulators


def kind_of(field: pa.Field) -> str:
    """How a column of this type is profiled: numeric, temporal, categorical, boolean or
    other."""
    import pyarrow as pa

    t = field.type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "categorical"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "temporal"
    return "other"


def _accumulator(field: pa.Field) -> _Column:
    kind = kind_of(field)
    if kind in ("boolean", "categorical"):
        return _Categorical(field, kind)
    if kind in ("numeric", "temporal"):
        return _Numeric(field, kind)
    return _Column(field, kind)


class _Column:
    def __init__(self, field: pa.Field, kind: str) -> None:
        self.name = field.name
        self.type = str(field.type)
        self.kind = kind
        self.count = 0
        self.nulls = 0

    def update(self, array: pa.Array) -> None:
        self.nulls += array.null_count
        self.count += len(array) - array.null_count

    def result(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "distinct": None,
            "distinct_exact": False,
        }


class _Distinct:
    """Exact distinct values while few, HyperLogLog registers always."""

    def __init__(self) -> None:
        self.exact: np.ndarray | None = np.empty(0, dtype=np.uint64)
        self.registers = np.zeros(1 << _HLL_P, dtype=np.uint8)

    def add_hashes(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        index = (hashes >> np.uint64(64 - _HLL_P)).astype(np.intp)
        rest = (hashes & np.uint64((1 << (64 - _HLL_P)) - 1)).astype(np.float64)
        # rank = position of the leftmost 1 bit in the remaining 50 bits (51 when all zero)
        rank = np.where(rest > 0, (64 - _HLL_P) + 1 - np.frexp(rest)[1], 64 - _HLL_P + 1)
        np.maximum.at(self.registers, index, rank.astype(np.uint8))
        if self.exact is not None:
            merged = np.union1d(self.exact, hashes)
            self.exact = merged if merged.size <= EXACT_DISTINCT else None

    def result(self, count: int) -> tuple[int, bool]:
        """(distinct, exact); an estimate never exceeds the ``count`` of values."""
        if self.exact is not None:
            return int(self.exact.size), True
        return min(_hll_estimate(self.registers), count), False


def _hll_estimate(registers: np.ndarray) -> int:
    m = registers.size
    alpha = 0.7213 / (1 + 1.079 / m)
    estimate = alpha * m * m / float(np.sum(np.ldexp(1.0, -registers.astype(np.int64))))
    zeros = int(np.count_nonzero(registers == 0))
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)  # linear counting for small cardinalities
    return round(estimate)


def hash_values(values: np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of values (the same in every process)."""
    import pandas as pd

    return np.asarray(pd.util.hash_array(values, categorize=False), dtype=np.uint64)


class _Numeric(_Column):
    def __init__(self, field: pa.Field, kind: str) -> None:
        super().__init__(field, kind)
        self.nan = self.pos_inf = self.neg_inf = 0
        self.finite = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.sketch = _QuantileSketch(seed=_seed(field.name))
        self.distinct = _Distinct()
        self.exact_pending = True

    def update(self, array: pa.Array) -> None:
        import pyarrow.compute as pc

        super().update(array)
        if array.null_count:
            array = pc.drop_null(array)
        values = _as_float(array, temporal=self.kind == "temporal")
        if values.size == 0:
            return
        finite_mask = np.isfinite(values)
        finite = values if finite_mask.all() else values[finite_mask]
        if finite.size != values.size:
            rest = values[~finite_mask]
            nan = int(np.count_nonzero(np.isnan(rest)))
            self.nan += nan
            self.pos_inf += int(np.count_nonzero(rest > 0))
            self.neg_inf += rest.size - nan - int(np.count_nonzero(rest > 0))
        self._hash_distinct(values, _exact_keys(array))
        if finite.size == 0:
            return
        n_b = finite.size
        with np.errstate(over="ignore", invalid="ignore"):  # beyond a double: given as null
            mean_b = float(finite.mean())
            m2_b = float(np.square(finite - mean_b).sum())
        n = self.finite + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.finite * n_b / n
        self.finite = n
        self.min = min(self.min, float(finite.min()))
        self.max = max(self.max, float(finite.max()))
        self.sketch.update(finite)

    def _hash_distinct(self, values: np.ndarray, keys: np.ndarray | None) -> None:
        if keys is None:  # floats: -0.0 and 0.0 are one value; NaN is not a value
            keys = values[~np.isnan(values)]
            keys = np.where(keys == 0, 0.0, keys)
        if keys.ndim == 2:  # decimals: one hash of the words of each unscaled integer
            hashes = hash_values(keys[:, 0])
            for j in range(1, keys.shape[1]):
                hashes = hash_values(hashes ^ keys[:, j])
            self.distinct.add_hashes(hashes)
            return
        if self.distinct.exact is not None:
            keys = np.unique(keys)
        self.distinct.add_hashes(hash_values(keys))

    def result(self) -> dict[str, Any]:
        out = super().result()
        out["distinct"], out["distinct_exact"] = self.distinct.result(self.count - self.nan)
        out.update(nan=self.nan, pos_inf=self.pos_inf, neg_inf=self.neg_inf)
        if self.finite == 0:
            out.update(min=None, max=None, mean=None, std=None, quantiles=None)
            out.update(histogram=None, sketch=None)
            return out
        std = math.sqrt(self.m2 / (self.finite - 1)) if self.finite > 1 else 0.0
        grid = np.linspace(0.0, 1.0, SKETCH_POINTS)
        summary = self.sketch.quantiles(grid, self.min, self.max)
        quantiles = {str(q): float(np.interp(q, grid, summary)) for q in QUANTILES}
        out.update(
            min=self.min,
            max=self.max,
            mean=_finite_or_none(self.mean),
            std=_finite_or_none(std),
            quantiles=quantiles,
            histogram=self.sketch.histogram(self.min, self.max, self.finite),
            sketch={"p": "linspace(0, 1, 201)", "q": [float(v) for v in summary]},
        )
        if self.kind == "temporal":
            out.update(
                min=iso_utc(self.min),
                max=iso_utc(self.max),
                mean=None,
                std=None,
                quantiles={k: iso_utc(v) for k, v in quantiles.items()},
            )
        return out


class _Categorical(_Column):
    def __init__(self, field: pa.Field, kind: str) -> None:
        super().__init__(field, kind)
        self.counts: dict[Any, int] = {}
        self.exact = True  # every category counted: none trimmed away
        self.texts = False  # some values were texts, left out of the counts
        self.distinct = _Distinct()
        self.len_min = math.inf
        self.len_max = 0
        self.len_sum = 0
        self.strings = kind == "categorical"

    def update(self, array: pa.Array) -> None:
        import pyarrow.compute as pc

        super().update(array)
        if self.count == 0 or array.null_count == len(array):
            return
        counted = pc.value_counts(array).flatten()
        values = counted[0].to_pylist()
        counts = counted[1].to_numpy()
        for value, n in zip(values, counts.tolist(), strict=True):
            if value is None:
                continue
            if self.strings and len(value) > MAX_CATEGORY_CHARS:
                self.texts = True  # the listing leaves it out
                continue
            if value in self.counts:
                self.counts[value] += n
            elif self.exact or len(self.counts) < MAX_CATEGORIES:
                self.counts[value] = n
        if len(self.counts) > MAX_CATEGORIES:
            self.exact = False  # keep the most frequent; counts become lower bounds
            keep = sorted(self.counts.items(), key=lambda kv: -kv[1])[: MAX_CATEGORIES // 2]
            self.counts = dict(keep)
        present = [v for v in values if v is not None]
        self.distinct.add_hashes(hash_values(np.asarray(present, dtype=object)))
        if self.strings:
            lengths = pc.utf8_length(array)
            extremes = pc.min_max(lengths)
            self.len_min = min(self.len_min, extremes["min"].as_py())
            self.len_max = max(self.len_max, extremes["max"].as_py())
            self.len_sum += pc.sum(lengths).as_py() or 0

    def result(self) -> dict[str, Any]:
        out = super().result()
        out["distinct"], out["distinct_exact"] = self.distinct.result(self.count)
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        out["top"] = [[category_text(v), n] for v, n in ranked[:TOP]]
        out["categories"] = {category_text(v): n for v, n in ranked[:STORED_CATEGORIES]}
        out["categories_exact"] = self.exact and not self.texts and len(ranked) <= STORED_CATEGORIES
        if self.strings:
            out["length"] = (
                {"min": self.len_min, "max": self.len_max, "mean": self.len_sum / self.count}
                if self.count
                else None
            )
        return out


def category_text(value: Any) -> str:
    """How a category is named in a profile (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- numeric helpers

_SECONDS_PER = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _as_float(array: pa.Array, *, temporal: bool) -> np.ndarray:
    """Non-null values as float64 (temporal values as epoch seconds)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.null_count:
        array = pc.drop_null(array)
    t = array.type
    if temporal:
        if pa.types.is_date32(t):
            return array.cast(pa.int32()).to_numpy().astype(np.float64) * 86_400.0
        if pa.types.is_date64(t):
            return array.cast(pa.int64()).to_numpy().astype(np.float64) * 1e-3
        scale = _SECONDS_PER[t.unit]
        return array.cast(pa.int64()).to_numpy().astype(np.float64) * scale
    if pa.types.is_decimal(t):
        array = array.cast(pa.float64())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _exact_keys(array: pa.Array) -> np.ndarray | None:
    """A null-free array's values as the integers they are stored as, for counting distinct
    values (as doubles, integers beyond 2**53 and nanosecond timestamps collapse): integers,
    dates and timestamps as one integer each, decimals as the 64-bit words of their unscaled
    integer (one row per value); None for floating-point columns."""
    import pyarrow as pa

    t = array.type
    if pa.types.is_integer(t):
        return np.asarray(array.to_numpy(zero_copy_only=False))
    if pa.types.is_timestamp(t) or pa.types.is_date64(t):
        return np.asarray(array.cast(pa.int64()).to_numpy(zero_copy_only=False))
    if pa.types.is_date32(t):
        return np.asarray(array.cast(pa.int32()).to_numpy(zero_copy_only=False))
    if pa.types.is_decimal(t):
        size = min(t.byte_width, 8)  # decimal32 and decimal64 are one word, wider ones several
        words = t.byte_width // size
        data = np.frombuffer(array.buffers()[1], dtype=f"<u{size}")
        data = data[array.offset * words : (array.offset + len(array)) * words]
        return data if words == 1 else data.reshape(-1, words)
    return None


def epoch_seconds(array: pa.Array) -> np.ndarray:
    """A date or timestamp column's non-null values as epoch seconds (any year Arrow holds)."""
    return _as_float(array, temporal=True)


def iso_utc(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC text; times beyond what it writes (years 1 to 9999,
    which Arrow's dates and timestamps exceed) are given as its first or last instant."""
    import datetime as dt

    try:
        stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        stamp = dt.datetime.max if seconds > 0 else dt.datetime.min
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.isoformat().replace("+00:00", "Z")


def _finite_or_none(x: float) -> float | None:
    """A moment as stored: None where it overflowed (numbers near the ends of the double
    range, such as -1.7e308 and 1.7e308, have a spread no double holds)."""
    return x if math.isfinite(x) else None


def _seed(name: str) -> int:
    from setpoint.core.hashing import digest_bytes

    return int(digest_bytes(name.encode())[:8], 16)


class _QuantileSketch:
    """A KLL-style sketch: level h holds sorted samples of weight 2**h.

    Large batches enter at level h as every 2**h-th of their sorted values over a column's
    first ``_SORTED_ROWS`` values (a sort of the batch), then through a sampler (one value
    from each block of 2**h: a gather and a sort of at most ``_SKETCH_K`` values).
    Deterministic for the same data: the random offsets come from a seeded generator.
    """

    def __init__(self, seed: int) -> None:
        self.levels: list[list[np.ndarray]] = []
        self.sizes: list[int] = []
        self.rng = np.random.default_rng(seed)
        self.seen = 0

    def update(self, values: np.ndarray) -> None:
        level = max(0, math.ceil(math.log2(values.size / _SKETCH_K))) if values.size else 0
        small = self.seen < _SORTED_ROWS
        self.seen += values.size
        if level:
            stride = 1 << level
            if small:
                # A sample's ranks are off by about 1/sqrt(4096) of the batch (2% on a table
                # of 10,000 rows); every stride-th sorted value is off by at most one stride.
                # Past the first batches the samples of many batches average out instead.
                values = np.sort(values)[int(self.rng.integers(stride)) :: stride]
            else:
                # One value at a random place in each block of 2**level: a uniform sample
                # that a periodic column (hour of day, i % 16) cannot alias.
                blocks = values.size // stride
                picks = np.arange(blocks) * stride + self.rng.integers(stride, size=blocks)
                values = values[picks]
        self._add(level, values)

    def _add(self, level: int, values: np.ndarray) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
            self.sizes.append(0)
        self.levels[level].append(values)
        self.sizes[level] += values.size
        if self.sizes[level] > _SKETCH_K:
            merged = np.sort(np.concatenate(self.levels[level]))
            keep = merged[int(self.rng.integers(2)) :: 2]
            self.levels[level], self.sizes[level] = [], 0
            if merged.size % 2:  # an odd one out stays behind at this level
                self.levels[level], self.sizes[level] = [merged[-1:]], 1
            self._add(level + 1, keep)

    def _weighted(self) -> tuple[np.ndarray, np.ndarray]:
        values = [np.concatenate(parts) for parts in self.levels if parts]
        weights = [
            np.full(sum(p.size for p in parts), float(1 << h))
            for h, parts in enumerate(self.levels)
            if parts
        ]
        v, w = np.concatenate(values), np.concatenate(weights)
        order = np.argsort(v, kind="stable")
        return v[order], w[order]

    def quantiles(self, probabilities: np.ndarray, lo: float, hi: float) -> np.ndarray:
        v, w = self._weighted()
        cum = np.cumsum(w)
        ranks = probabilities * cum[-1]
        idx = np.minimum(np.searchsorted(cum, ranks, side="left"), v.size - 1)
        out = v[idx]
        out[0], out[-1] = lo, hi  # the exact extremes are known
        return np.maximum.accumulate(out)

    def histogram(self, lo: float, hi: float, total: int) -> dict[str, list[Any]]:
        """Counts on 20 equal-width bins over [lo, hi], exact while the sketch holds every
        value, estimated from the sketch's weights (then scaled to ``total``) beyond."""
        bins = HISTOGRAM_BINS if hi > lo else 1
        v, w = self._weighted()
        if hi > lo:
            # Halved when the span overflows (-1.7e308 to 1.7e308): halving is exact for
            # doubles this large, and the bins come out the same.
            s = 0.5 if math.isinf(hi - lo) else 1.0
            edges = np.linspace(lo * s, hi * s, bins + 1) / s
            idx = np.clip(
                ((v * s - lo * s) / (hi * s - lo * s) * bins).astype(np.intp), 0, bins - 1
            )
        else:
            edges = np.array([lo, hi])
            idx = np.zeros(v.size, dtype=np.intp)
        raw = np.bincount(idx, weights=w, minlength=bins)
        return {"edges": [float(e) for e in edges], "counts": _scaled(raw, total)}


def _scaled(raw: np.ndarray, total: int) -> list[int]:
    """Integer counts proportional to ``raw`` summing to ``total`` (largest remainder)."""
    if raw.sum() <= 0:
        return [0] * raw.size
    exact = raw / raw.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return [int(c) for c in counts]


# ---------------------------------------------------------------- checking a profile


def mismatch(profile: dict[str, Any], meta: pq.FileMetaData) -> str | None:
    """What in ``profile`` contradicts the Parquet file it describes (its schema, row count
    and the footer's per-column null counts and extremes); None when nothing does. A profile
    arrives from the client that logged the data: this keeps one that belongs to other data
    (or a buggy one) from deciding validations."""
    schema = meta.schema.to_arrow_schema()
    columns = profile.get("columns")
    if (
        not isinstance(columns, list)
        or not all(isinstance(c, dict) for c in columns)
        or [(c.get("name"), c.get("type")) for c in columns]
        != [(f.name, str(f.type)) for f in schema]
    ):
        return "its columns are not the data's columns"
    rows = meta.num_rows
    if profile.get("num_rows") != rows:
        return f"it counts {profile.get('num_rows')} rows, the data has {rows}"
    for col, f in zip(columns, schema, strict=True):
        if (problem := _shape_problem(col, kind_of(f))) is not None:
            return f"column {f.name}: {problem}"
    leaves = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
    for col in columns:
        if col.get("count", -1) + col.get("nulls", -1) != rows:
            return f"column {col['name']}: count and nulls do not add up to {rows} rows"
        j = leaves.get(col["name"])
        if j is None:
            continue  # a nested column: no flat statistics to compare
        nulls, lo, hi = _footer_stats(meta, j)
        if nulls is not None and nulls != col["nulls"]:
            return f"column {col['name']}: {nulls} nulls in the data, {col['nulls']} in the profile"
        expected = _extremes(col)
        if expected is not None and lo is not None and hi is not None and col["kind"] == "numeric":
            lo, hi = float(lo), float(hi)  # the profile's numbers are doubles: 2**53 + 1 is 2**53
        if expected is not None and lo is not None and hi is not None and (lo, hi) != expected:
            return (
                f"column {col['name']}: the data spans {lo!r} to {hi!r}, "
                f"the profile {expected[0]!r} to {expected[1]!r}"
            )
    return None


def _shape_problem(col: dict[str, Any], kind: str) -> str | None:
    """What in a column's profile is not the shape every reader of profiles relies on (the
    drift checks, validation, the web UI), or None."""
    if col.get("kind") != kind:
        return f"kind {col.get('kind')!r}, but its type is profiled as {kind!r}"
    for key in ("count", "nulls"):
        if not is_whole_number(col.get(key), 0):
            return f"{key} is not a count"
    if not (col.get("distinct") is None or is_whole_number(col["distinct"], 0)):
        return "distinct is not a count"
    if not isinstance(col.get("distinct_exact"), bool):
        return "distinct_exact is not true or false"
    if kind in ("numeric", "temporal"):
        return _numeric_problem(col, kind)
    if kind in ("categorical", "boolean"):
        return _categorical_problem(col, kind)
    return None


def _numeric_problem(col: dict[str, Any], kind: str) -> str | None:
    for key in ("nan", "pos_inf", "neg_inf"):
        if not is_whole_number(col.get(key), 0):
            return f"{key} is not a count"
    stats = ("min", "max", "mean", "std", "quantiles", "histogram", "sketch")
    if col.get("min") is None:  # no finite value
        return None if all(col.get(k) is None for k in stats) else "min is missing"
    value = is_finite_number if kind == "numeric" else (lambda v: isinstance(v, str))
    for key in ("min", "max"):
        if not value(col.get(key)):
            return f"{key} is not a {'number' if kind == 'numeric' else 'time'}"
    for key in ("mean", "std"):
        if not (col.get(key) is None or is_finite_number(col[key])):
            return f"{key} is not a number"
    quantiles = col.get("quantiles")
    if not isinstance(quantiles, dict) or not all(value(v) for v in quantiles.values()):
        return "quantiles are not a map of probabilities to values"
    histogram = col.get("histogram")
    if not (
        isinstance(histogram, dict)
        and isinstance(edges := histogram.get("edges"), list)
        and isinstance(counts := histogram.get("counts"), list)
        and len(edges) == len(counts) + 1
        and all(is_finite_number(e) for e in edges)
        and all(is_whole_number(n, 0) for n in counts)
    ):
        return "histogram is not edges and one count fewer"
    sketch = col.get("sketch")
    if not (
        isinstance(sketch, dict)
        and isinstance(q := sketch.get("q"), list)
        and len(q) == SKETCH_POINTS
        and all(is_finite_number(v) for v in q)
    ):
        return f"sketch is not {SKETCH_POINTS} quantiles"
    return None


def _categorical_problem(col: dict[str, Any], kind: str) -> str | None:
    top = col.get("top")
    if not isinstance(top, list) or not all(
        isinstance(t, list) and len(t) == 2 and isinstance(t[0], str) and is_whole_number(t[1], 0)
        for t in top
    ):
        return "top is not a list of [category, count] pairs"
    categories = col.get("categories")
    if not isinstance(categories, dict) or not all(
        is_whole_number(n, 0) for n in categories.values()
    ):
        return "categories are not a map of categories to counts"
    if not isinstance(col.get("categories_exact"), bool):
        return "categories_exact is not true or false"
    length = col.get("length")
    if kind == "categorical" and not (
        length is None
        or (
            isinstance(length, dict)
            and is_whole_number(length.get("min"), 0)
            and is_whole_number(length.get("max"), 0)
            and is_finite_number(length.get("mean"))
        )
    ):
        return "length is not the strings' min, max and mean length"
    return None


def _footer_stats(meta: pq.FileMetaData, j: int) -> tuple[int | None, Any, Any]:
    nulls: int | None = 0
    lo = hi = None
    unknown = False
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(j).statistics
        if stats is None:
            return None, None, None
        nulls = nulls + stats.null_count if nulls is not None and stats.has_null_count else None
        if stats.has_min_max and not unknown:
            try:
                low, high = stats.min, stats.max
            except (ValueError, OverflowError):  # a date past year 9999: no Python value
                unknown = True
                continue
            lo = low if lo is None else min(lo, low)
            hi = high if hi is None else max(hi, high)
    return (nulls, None, None) if unknown else (nulls, lo, hi)


def _extremes(col: dict[str, Any]) -> tuple[Any, Any] | None:
    """The (min, max) the Parquet footer must show for this profiled column, when known."""
    t = col["type"]
    if col["kind"] == "numeric" and (t.startswith(("int", "uint")) or t in ("float", "double")):
        if col.get("min") is None:
            return None
        lo = -math.inf if col.get("neg_inf") else col["min"]
        hi = math.inf if col.get("pos_inf") else col["max"]
        return lo, hi
    if col["kind"] == "categorical" and col.get("categories_exact") and col.get("categories"):
        keys = list(col["categories"])
        return min(keys), max(keys)
    return None
