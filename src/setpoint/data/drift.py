"""Distribution shift between two profiles, without reading either dataset again.

The drift score of a column is the Jensen–Shannon distance (base 2: 0 = same distribution,
1 = disjoint) between the two distributions: numeric columns binned on the reference's
quantiles (20 bins plus one open bin beyond each end) using each profile's stored quantile
summary (dates and times too, in epoch seconds); categorical columns over their category
frequencies.

Two samples of one distribution score above zero by chance alone, the more so the fewer
values they hold (a 100-row batch of the reference's own distribution scores about 0.18,
a 500-row one about 0.08). Each score therefore comes with the chance of reaching it that
way (``p_value``): ``8·ln2·n·score²``, with ``n`` the two value counts' harmonic half
(``n_ref·n_cur / (n_ref + n_cur)``), is Pearson's chi-squared statistic of the binned
counts to second order, with one degree of freedom fewer than the bins holding values. A
column has drifted when its score passes the threshold and that chance is below
:data:`NOISE_P_VALUE`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np

DRIFT_THRESHOLD = 0.1
NOISE_P_VALUE = 0.01  # a score this likely (or likelier) from sampling alone is no drift
_BINS = 20


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def sketch_cdf(q: np.ndarray, x: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """Fraction of values below ``x`` (``side="left"``) or at or below it (``"right"``), read
    off a quantile summary ``q`` (the quantiles at ``linspace(0, 1, q.size)``).

    The quantile function is piecewise linear between the summary's points, and so is the CDF
    between them; a value the summary repeats (a share of the data on one value) is a jump of
    the CDF, where the two sides differ. (Counting summary points instead moved every share
    by whole 1/201 steps: a current maximum just past the reference's put 1/201 of the data
    beyond it, a drift score of 0.05 between two samples of one distribution.)"""
    grid = np.linspace(0.0, 1.0, q.size)
    i = np.searchsorted(q, x, side=side)
    inner = (i > 0) & (i < q.size)
    lo = np.clip(i - 1, 0, q.size - 1)
    hi = np.clip(i, 0, q.size - 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # (halves: no overflow at ±1.7e308)
        step = np.where(inner, (x / 2 - q[lo] / 2) / (q[hi] / 2 - q[lo] / 2), 0.0)
    out = np.where(i >= q.size, 1.0, grid[lo] + step * (grid[hi] - grid[lo]))
    return np.where(i == 0, 0.0, out)  # type: ignore[no-any-return]


def quantile_bins(ref: np.ndarray) -> tuple[np.ndarray, bool]:
    """The bin edges a reference quantile summary defines, and whether its minimum gets a bin
    of its own (when at least one summary point besides the minimum equals it: a value that
    many rows hold, such as 0 in a column of flags).

    The bins are ``(-inf, e0)``, then ``[e0, e0]`` and ``(e0, e1]`` when the minimum has its
    own bin, else ``[e0, e1]``, then ``(e1, e2]`` … ``(e_last, +inf)``: one open bin beyond each
    end, so values below the reference's minimum count as much as values above its maximum.
    """
    edges = np.unique(ref[np.linspace(0, ref.size - 1, _BINS + 1).round().astype(int)])
    return edges, edges.size == 1 or bool(ref[1] == ref[0])


def bin_masses(summary: np.ndarray, edges: np.ndarray, own_min: bool) -> np.ndarray:
    """The share of ``summary``'s values in each of the bins :func:`quantile_bins` defines."""
    below = sketch_cdf(summary, edges[:1], "left")
    upto = sketch_cdf(summary, edges if own_min else edges[1:], "right")
    return np.diff(np.concatenate([[0.0], below, upto, [1.0]]))


def column_drift(ref: dict[str, Any], cur: dict[str, Any]) -> dict[str, Any] | None:
    """Score, method and the binned distributions; None when the column cannot be compared
    (a kind without a distribution, no values on one side)."""
    kind = ref.get("kind")
    if kind != cur.get("kind"):
        return None
    if kind in ("numeric", "temporal") and ref.get("sketch") and cur.get("sketch"):
        a = np.asarray(ref["sketch"]["q"], dtype=np.float64)
        b = np.asarray(cur["sketch"]["q"], dtype=np.float64)
        edges, own_min = quantile_bins(a)
        p, q = bin_masses(a, edges, own_min), bin_masses(b, edges, own_min)
        fmt = _fmt_time if kind == "temporal" else _fmt  # times are sketched in epoch seconds
        labels = [f"< {fmt(edges[0])}"] + ([f"= {fmt(edges[0])}"] if own_min else [])
        labels += [f"{fmt(lo)} – {fmt(hi)}" for lo, hi in itertools.pairwise(edges)]
        labels.append(f"> {fmt(edges[-1])}")
        score = js_distance(p, q)
        return {
            "score": score,
            "p_value": _noise_p_value(score, p, q, _finite_count(ref), _finite_count(cur)),
            "method": "jensen-shannon on reference quantile bins",
            "histogram": {"edges": labels, "from": p.tolist(), "to": q.tolist()},
        }
    if kind in ("categorical", "boolean") and ref.get("categories") and cur.get("categories"):
        ra, ca = ref["categories"], cur["categories"]
        whole_r, whole_c = _all_listed(ref), _all_listed(cur)
        exact = whole_r and whole_c
        # A profile of many categories lists only its most frequent ones: one side's unlisted
        # category is not one the other side lacks. Compared then are the categories both
        # list, everything else in shares of its own (comparing the two lists as if whole
        # read two samples of one distribution as drift 0.8).
        listed = set(ra) | set(ca) if exact else set(ra) & set(ca)
        keys = sorted(listed, key=lambda k: (-(ra.get(k, 0) + ca.get(k, 0)), k))
        p = np.array([ra.get(k, 0) for k in keys], dtype=np.float64)
        q = np.array([ca.get(k, 0) for k in keys], dtype=np.float64)
        if whole_r != whole_c:
            rest = _unlisted_shares(ref, cur, p.sum(), q.sum(), reverse=whole_c)
            p, q = np.append(p, rest[0]), np.append(q, rest[1])
        elif not exact:
            rest = _partial_shares(ref, cur, p.sum(), q.sum())
            p, q = np.append(p, rest[0]), np.append(q, rest[1])
        shown = keys[:20]
        score = js_distance(p, q)
        return {
            "score": score,
            "p_value": _noise_p_value(score, p, q, ref.get("count"), cur.get("count")),
            "method": "jensen-shannon on category frequencies"
            + ("" if exact else " (approximate: the categories both list, the rest in shares)"),
            "histogram": {
                "edges": shown,
                "from": (p[: len(shown)] / max(p.sum(), 1)).tolist(),
                "to": (q[: len(shown)] / max(q.sum(), 1)).tolist(),
            },
        }
    return None


_DISTRIBUTED = ("numeric", "temporal", "categorical", "boolean")


def _incomparable(ref: dict[str, Any], cur: dict[str, Any]) -> str | None:
    """Why two columns have no drift score when that is a change itself (their kinds differ,
    or only one side has values to compare: a column now all null, all ±inf); None when
    neither has a distribution (a kind without one, or no values on either side)."""
    if ref.get("kind") != cur.get("kind"):
        return f"its kind changed ({ref.get('kind')} → {cur.get('kind')})"
    if ref.get("kind") not in _DISTRIBUTED:
        return None
    # values to compare: finite ones for numbers and times (the sketch holds them), any for
    # categories (texts too, which no category lists)
    before, after = (
        bool(c.get("sketch"))
        if c.get("kind") in ("numeric", "temporal")
        else (c.get("count") or 0) > 0
        for c in (ref, cur)
    )
    if before == after:
        return None
    return "no values to compare " + ("now" if before else "in the reference")


def drifted(drift: dict[str, Any], threshold: float) -> bool:
    """Whether a :func:`column_drift` result is drift: a score past ``threshold`` that
    sampling alone would hardly reach (a comparison without value counts: the score alone)."""
    p_value = drift.get("p_value")
    return bool(drift["score"] > threshold and (p_value is None or p_value < NOISE_P_VALUE))


def _unlisted_shares(
    ref: dict[str, Any], cur: dict[str, Any], p_known: float, q_known: float, reverse: bool
) -> tuple[list[float], list[float]]:
    """The values outside the categories both sides list, in two shares per side, when one
    side (the whole one: ``ref``, or ``cur`` when ``reverse``) lists all its categories and
    the other only its most frequent (a column whose values all changed scored 0 when they
    were one share on each side).

    The first share is the whole side's categories the other does not list. How many of
    those the other side holds is not known, only that each is at most as frequent there as
    its least frequent listed one: taken is the count within that bound that scores lowest.
    The second is everything else, which the whole side never saw; as a sample leaves
    categories unseen, it counts there as many as the whole side's categories seen once
    (Good-Turing's estimate of the unseen share), so that a sample of one distribution
    against another does not drift for the rare categories only one of them met."""
    whole, part = (cur, ref) if reverse else (ref, cur)
    w_known, o_known = (q_known, p_known) if reverse else (p_known, q_known)
    listed = part["categories"]
    unseen = [n for k, n in whole["categories"].items() if k not in listed]
    w_unseen = float(sum(unseen))
    once = sum(1 for n in whole["categories"].values() if n == 1)
    w_rest = max(_values(whole) - w_known - w_unseen, 0.0) + once
    o_rest = max(_values(part) - o_known, 0.0)
    most = len(unseen) * float(min(listed.values()))
    w_total = w_unseen + w_rest
    o_unseen = min(o_rest * w_unseen / w_total if w_total else 0.0, most, o_rest)
    shares = ([w_unseen, w_rest], [o_unseen, o_rest - o_unseen])
    return (shares[1], shares[0]) if reverse else shares


def _partial_shares(
    ref: dict[str, Any], cur: dict[str, Any], p_known: float, q_known: float
) -> tuple[list[float], list[float]]:
    """The values outside the categories both sides list, in three shares per side, when
    neither side lists all its categories (a column whose 1,001 values all changed scored 0
    when they were one share on each side): the reference's categories the current data does
    not list, the current data's the reference does not list, and the rest.

    How many of one side's categories the other holds is not known, only that each is at most
    as frequent there as its least frequent listed one, and that they come out of its unlisted
    values: taken is the count within those bounds that matches the first side's share, as
    near as they allow (the lowest score)."""
    ra, ca = ref["categories"], cur["categories"]
    a_only = [n for k, n in ra.items() if k not in ca]
    b_only = [n for k, n in ca.items() if k not in ra]
    a_mass, b_mass = float(sum(a_only)), float(sum(b_only))
    a_rest = max(_values(ref) - p_known - a_mass, 0.0)
    b_rest = max(_values(cur) - q_known - b_mass, 0.0)
    # the three shares match when each side's are the other's times the ratio of their sums
    ratio = (a_mass + a_rest) / (b_mass + b_rest) if b_mass + b_rest else 0.0
    # of the current data's unlisted values, those in the reference's own categories ...
    b_in_a = min(a_mass / ratio if ratio else 0.0, len(a_only) * float(min(ca.values())), b_rest)
    # ... and of the reference's unlisted values, those in the current data's own
    a_in_b = min(b_mass * ratio, len(b_only) * float(min(ra.values())), a_rest)
    return [a_mass, a_in_b, a_rest - a_in_b], [b_in_a, b_mass, b_rest - b_in_a]


def _all_listed(col: dict[str, Any]) -> bool:
    """Whether a categorical profile lists every category of its column (exactly counted);
    profiles without the flag list them all."""
    return col.get("categories_exact", True) is not False


def _values(col: dict[str, Any]) -> float:
    """How many values a categorical profile counts (its listed categories' counts when
    the count is missing)."""
    count = col.get("count")
    return float(count) if isinstance(count, int) else float(sum(col["categories"].values()))


def _finite_count(col: dict[str, Any]) -> Any:
    """How many values a numeric column's quantile summary stands for (NaN and ±inf are
    counted by the profile but left out of the summary)."""
    count = col.get("count")
    if not isinstance(count, int):
        return None
    return count - sum(int(col.get(k) or 0) for k in ("nan", "pos_inf", "neg_inf"))


def _noise_p_value(score: float, p: np.ndarray, q: np.ndarray, n_ref: Any, n_cur: Any) -> Any:
    """The chance that two samples of ``n_ref`` and ``n_cur`` values from one distribution
    score ``score`` or more on these bins (see the module's note); None without the counts."""
    if not (isinstance(n_ref, int) and isinstance(n_cur, int)) or n_ref <= 0 or n_cur <= 0:
        return None
    from scipy.special import chdtrc

    freedom = max(int(np.count_nonzero((p > 0) | (q > 0))) - 1, 1)
    n = n_ref * n_cur / (n_ref + n_cur)
    return float(chdtrc(freedom, 8 * math.log(2) * n * score * score))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _fmt_time(seconds: float) -> str:
    from setpoint.data.profile import iso_utc

    return iso_utc(seconds)


def diff_profiles(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    from_ref: str,
    to_ref: str,
    threshold: float = DRIFT_THRESHOLD,
) -> dict[str, Any]:
    """Schema changes, row counts, and per-column statistic shifts with a drift score."""
    cols_a = {c["name"]: c for c in a["columns"]}
    cols_b = {c["name"]: c for c in b["columns"]}
    schema = {
        "added": [{"name": n, "type": c["type"]} for n, c in cols_b.items() if n not in cols_a],
        "removed": [{"name": n, "type": c["type"]} for n, c in cols_a.items() if n not in cols_b],
        "changed": [
            {"name": n, "from": cols_a[n]["type"], "to": c["type"]}
            for n, c in cols_b.items()
            if n in cols_a and cols_a[n]["type"] != c["type"]
        ],
    }
    columns = []
    for name, cb in cols_b.items():
        ca = cols_a.get(name)
        if ca is None:
            continue
        drift = column_drift(ca, cb)
        stats = {
            key: [ca.get(key), cb.get(key)]
            for key in (
                "nulls",
                "distinct",
                "min",
                "max",
                "mean",
                "std",
                "nan",
                "pos_inf",
                "neg_inf",
            )
            if ca.get(key) is not None or cb.get(key) is not None
        }
        # no score, where that is a change itself: as a shift check fails it
        changed = None if drift is not None else _incomparable(ca, cb)
        entry: dict[str, Any] = {
            "name": name,
            "kind": cb["kind"],
            "drift": None if drift is None else round(drift["score"], 6),
            "p_value": None if drift is None else drift["p_value"],
            "drifted": changed is not None or (drift is not None and drifted(drift, threshold)),
            "method": f"not comparable: {changed}" if changed else drift and drift["method"],
            "stats": stats,
            "histogram": None if drift is None else drift["histogram"],
            "new_categories": [],
            "vanished_categories": [],
        }
        if ca.get("categories") is not None and cb.get("categories") is not None:
            # New only against a reference that lists all its categories, vanished only from
            # a current side that does: a category one side leaves out may still be there.
            if _all_listed(ca):
                new = set(cb["categories"]) - set(ca["categories"])
                entry["new_categories"] = sorted(new)[:100]
            if _all_listed(cb):
                gone = set(ca["categories"]) - set(cb["categories"])
                entry["vanished_categories"] = sorted(gone)[:100]
        columns.append(entry)
    return {
        "from": from_ref,
        "to": to_ref,
        "rows": {"from": a["num_rows"], "to": b["num_rows"]},
        "schema": schema,
        "columns": columns,
        "threshold": threshold,
    }
