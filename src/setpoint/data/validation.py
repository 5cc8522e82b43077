"""Run a suite against data: each check with what was observed, what was expected, how many
rows failed and a sample of them.

Data comes as a schema, a row count and a way to stream record batches of chosen columns.
When the data's stored profile is given, the checks it can decide exactly (not null, range,
in set, unique, freshness, row count, shift) are decided from it without reading a row; only
the columns of checks that fail (or that need the rows: regex, custom) are streamed, once,
to count and sample the failing rows.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.names import INT64_MAX, INT64_MIN
from setpoint.data.drift import NOISE_P_VALUE, column_drift, drifted
from setpoint.data.profile import Profiler, category_text, hash_values
from setpoint.data.suite import Check, Suite

if TYPE_CHECKING:
    import pyarrow as pa

SAMPLE = 5
SAMPLE_TEXT = 200  # a sampled value longer than this is cut (results live in the database)


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """What the engine reads. ``types`` maps each column to its Arrow type text;
    ``batches(columns)`` streams record batches of those columns, ``profile()`` gives the
    stored profile and ``table()`` the whole table: each called only when needed."""

    types: dict[str, str]
    num_rows: int
    batches: Callable[[list[str]], Iterator[pa.RecordBatch]]
    profile: Callable[[], dict[str, Any] | None] = lambda: None
    table: Callable[[], pa.Table] | None = None


def run_suite(
    suite: Suite,
    data: DataSource,
    *,
    environment: str | None = None,
    reference_profile: dict[str, Any] | None = None,
    functions: dict[str, Callable[..., Any]] | None = None,
    now: float | None = None,
    use_profile: bool = True,
) -> dict[str, Any]:
    """Evaluate every check; returns the report (``passed`` is False when an error-level
    check failed)."""
    _check_environment(suite, environment)
    names = set(data.types)
    results: list[dict[str, Any]] = []
    present: set[str] = set()
    typed = [s for s in suite.columns if s.name in names and s.type is not None]
    retyped = [s.name for s in typed if not _type_matches(data.types[s.name], s.type or "")]
    stored = _stored_types(data, retyped) if retyped else {}
    for spec in suite.columns:
        if spec.name not in names:
            if spec.expected_in(environment):
                results.append(
                    _result("presence", spec.name, spec.severity, False, "missing", "present")
                )
            continue
        present.add(spec.name)
        if spec.type is not None:
            actual = data.types[spec.name]
            ok = _type_matches(stored.get(spec.name, actual), spec.type)
            results.append(_result("type", spec.name, spec.severity, ok, actual, spec.type))
    profile = data.profile() if use_profile else None
    pending: list[tuple[Check, dict[str, Any]]] = []
    shift_checks = [c for c in suite.checks if c.kind == "shift" and c.column in present]
    if shift_checks and profile is None:
        profile = _profile_columns(data, [c.column for c in shift_checks if c.column is not None])
    columns, reference_columns = _by_name(profile), _by_name(reference_profile)
    for check in suite.checks:
        if check.kind == "custom" or not check.applies_in(environment):
            continue
        if check.column is not None and check.kind != "freshness" and check.column not in present:
            continue  # a missing column is reported once, by presence
        result = _decide(check, data, columns, reference_columns, now)
        results.append(result)
        if result["passed"] is None:
            pending.append((check, result))
    if pending:
        _scan(data, pending)
    for check in suite.checks:
        if check.kind == "custom":
            results.append(_custom(check, data, functions or {}))
    for extra_name, fn in (functions or {}).items():
        if not any(c.args.get("function") == extra_name for c in suite.checks):
            results.append(
                _custom(Check(kind="custom", args={"name": extra_name}), data, {extra_name: fn})
            )
    errors = sum(1 for r in results if r["passed"] is False and r["severity"] == "error")
    warnings = sum(1 for r in results if r["passed"] is False and r["severity"] == "warn")
    return {
        "suite": suite.name,
        "environment": environment,
        "rows": data.num_rows,
        "passed": errors == 0,
        "errors": errors,
        "warnings": warnings,
        "checks": results,
    }


def _check_environment(suite: Suite, environment: str | None) -> None:
    """Refuse an environment the suite does not name but nearly does (``trainng`` for
    ``training``): it would silently skip every check scoped to the one meant. Another
    environment it does not name (``serving`` beside ``training``) is the documented way
    to apply only the checks without environments."""
    if environment is not None and (not isinstance(environment, str) or not environment.strip()):
        raise InvalidArgumentError(
            f"environment must be a name like 'training', not {environment!r}",
            field="environment",
        )
    named = suite.environments
    if environment is None or environment in named:
        return
    by_lower = {e.lower(): e for e in named}
    near = difflib.get_close_matches(environment.lower(), list(by_lower), n=1, cutoff=0.75)
    if near:
        raise InvalidArgumentError(
            f"environment {environment!r} is not named in suite {suite.name!r} (did you mean "
            f"{by_lower[near[0]]!r}?); it names {', '.join(named)}",
            field="environment",
        )


def _result(
    kind: str,
    column: str | None,
    severity: str,
    passed: bool | None,
    observed: Any,
    expected: Any,
    **extra: Any,
) -> dict[str, Any]:
    out = {
        "check": kind,
        "column": column,
        "severity": severity,
        "passed": passed,
        "observed": observed,
        "expected": expected,
    }
    out.update(extra)
    return out


NO_VALUES = "null"  # Arrow's type of a column whose every value is missing


def _expected(check: Check, data: DataSource) -> Any:
    """What a range, in_set or regex check expects, as its result states it."""
    if check.kind == "range":
        return _bounds(check.args)
    if check.kind == "in_set":
        return _in_set_expected(check, data.types[check.column or ""])
    return check.args["pattern"]


def type_family(type_text: str) -> str | None:
    """integer, float, decimal, string, boolean, timestamp or date; None for other types."""
    if type_text.startswith(("int", "uint")):
        return "integer"
    if type_text in ("float", "double", "halffloat"):
        return "float"
    if type_text.startswith("decimal"):
        return "decimal"
    if type_text in ("string", "large_string"):
        return "string"
    if type_text == "bool":
        return "boolean"
    if type_text.startswith("timestamp"):
        return "timestamp"
    if type_text.startswith("date"):
        return "date"
    return None


def _type_matches(actual: str, expected: str) -> bool:
    if actual == NO_VALUES:  # every value missing: no value of another type (not_null's)
        return True
    family = type_family(actual)
    if actual == expected or family == expected:
        return True
    return expected == "numeric" and family in ("integer", "float", "decimal")


def _stored_types(data: DataSource, columns: list[str]) -> dict[str, str]:
    """The types of ``columns`` as a version of this data would state them: ingest's plain
    types as Parquet keeps them (timestamp[s] as timestamp[ms], date64 as date32, list items
    named element), so data validates like the version logged from it. Read off the first
    batch's schema (the type texts do not parse back); {} when there is none."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from setpoint.data.ingest import plain_type

    schema = next((b.schema for b in data.batches(columns)), None)
    if schema is None and data.table is not None:
        schema = data.table().select(columns).schema  # no rows: nothing to read
    if schema is None:
        return {}
    plain = pa.schema([pa.field(f.name, plain_type(f.type)) for f in schema])
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(plain.empty_table(), sink)
    except (pa.ArrowException, ValueError, TypeError):
        return {}  # a type Parquet cannot hold is compared as it is
    return {f.name: str(f.type) for f in pq.read_schema(pa.BufferReader(sink.getvalue()))}


def _profile_columns(data: DataSource, columns: list[str]) -> dict[str, Any]:
    profiler: Profiler | None = None
    for batch in data.batches(columns):
        profiler = profiler or Profiler(batch.schema)
        profiler.update(batch)
    if profiler is None:
        return {"format": 1, "num_rows": 0, "columns": []}
    return profiler.result()


def _by_name(profile: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A profile's columns by name (the first of a name), made once per validation: a suite
    of 20,000 columns looked each one up by walking the list."""
    if profile is None:
        return {}
    return {c["name"]: c for c in reversed(profile["columns"])}


def _decide(
    check: Check,
    data: DataSource,
    columns: dict[str, dict[str, Any]],
    reference: dict[str, dict[str, Any]],
    now: float | None,
) -> dict[str, Any]:
    """The result where the profile's columns (or the schema) settle it; ``passed=None`` to
    scan. ``columns`` and ``reference``: the profiles' columns by name."""
    col = columns.get(check.column) if check.column is not None else None
    sev, args = check.severity, check.args
    name = check.column or ""
    expected: Any
    observed: Any
    if check.kind == "row_count":
        n = data.num_rows
        ok = args.get("min", -math.inf) <= n <= args.get("max", math.inf)
        return _result("row_count", None, sev, ok, n, _bounds(args))
    if check.kind == "not_null":
        expected = "no nulls"
        if col is not None:
            missing = col["nulls"] + (col.get("nan") or 0)
            if missing == 0:
                return _result("not_null", name, sev, True, 0, expected, failing=0, sample=[])
        return _result("not_null", name, sev, None, None, expected)
    if check.kind in ("range", "in_set", "regex") and data.types[name] == NO_VALUES:
        # a column with no value at all (a CSV column left empty in this batch) breaks no
        # range, set or pattern: its missing values are not_null's to judge
        return _result(
            check.kind, name, sev, True, None, _expected(check, data), failing=0, sample=[]
        )
    if check.kind == "range":
        expected = _expected(check, data)
        if type_family(data.types[name]) not in ("integer", "float", "decimal"):
            observed = data.types[name]
            return _result("range", name, sev, False, observed, f"a numeric column {expected}")
        # The profile holds its extremes as floats: whole numbers beyond 2**53 and decimals
        # of more than 15 digits are rounded there, and only the data can say on which side
        # of a bound they fall.
        lo, hi = (None, None) if col is None else (col.get("min"), col.get("max"))
        exact = _exact_in_profile(data.types[name], lo, hi)
        if col is not None and exact:
            inf_ok = (not col.get("pos_inf") or "max" not in args) and (
                not col.get("neg_inf") or "min" not in args
            )
            if inf_ok and (
                lo is None or (args.get("min", -math.inf) <= lo and hi <= args.get("max", math.inf))
            ):
                observed = None if lo is None else {"min": lo, "max": hi}
                return _result("range", name, sev, True, observed, expected, failing=0, sample=[])
        return _result("range", name, sev, None, None, expected)
    if check.kind == "in_set":
        expected = _expected(check, data)
        if col is not None and col.get("categories_exact") and col.get("categories") is not None:
            allowed = _allowed(check, data.types[name])
            if all(k in allowed for k in col["categories"]):
                observed = sorted(col["categories"])[:20]
                return _result("in_set", name, sev, True, observed, expected, failing=0, sample=[])
        return _result("in_set", name, sev, None, None, expected)
    if check.kind == "unique":  # nulls and NaN are not values: they never collide
        if (
            col is not None
            and col.get("distinct_exact")
            and col["distinct"] == col["count"] - (col.get("nan") or 0)
        ):
            return _result(  # as a scan says it (the profile proves there are none)
                "unique", name, sev, True, _duplicates(0), "all distinct", failing=0, sample=[]
            )
        return _result("unique", name, sev, None, None, "all distinct")
    if check.kind == "regex":
        if type_family(data.types[name]) != "string":
            observed = data.types[name]
            return _result("regex", name, sev, False, observed, "a string column")
        return _result("regex", name, sev, None, None, _expected(check, data))
    if check.kind == "freshness":
        return _freshness(check, data, col, now)
    if check.kind == "shift":
        ref_col = reference.get(name)
        limit = args["max"]
        if ref_col is None:
            return _result("shift", name, sev, False, "not in the reference", f"drift ≤ {limit}")
        drift = column_drift(ref_col, col) if col is not None else None
        if drift is None:  # a changed kind, no values on one side, or no distribution
            kinds = (ref_col.get("kind"), None if col is None else col.get("kind"))
            counts = (ref_col.get("count"), None if col is None else col.get("count"))
            observed = (
                f"not comparable (kinds {kinds[0]} → {kinds[1]}, values {counts[0]} → {counts[1]})"
            )
            return _result("shift", name, sev, counts == (0, 0), observed, f"drift ≤ {limit}")
        score = round(drift["score"], 6)
        expected = f"drift ≤ {limit}, or a score chance explains (p ≥ {NOISE_P_VALUE})"
        return _result(
            "shift",
            name,
            sev,
            not drifted({**drift, "score": score}, limit),
            score,
            expected,
            method=drift["method"],
            p_value=None if drift["p_value"] is None else round(drift["p_value"], 6),
        )
    raise InvalidArgumentError(f"unknown check {check.kind!r}", field="suite")


def _exact_in_profile(type_text: str, lo: float | None, hi: float | None) -> bool:
    """Whether a column's profiled extremes (doubles) are its values: not for whole numbers
    beyond 2**53, nor for decimals of more than 15 digits (doubles tell apart all of 15)."""
    family = type_family(type_text)
    if family == "integer":
        return all(v is None or abs(v) < 2**53 for v in (lo, hi))
    if family == "decimal":
        precision = type_text.partition("(")[2].partition(",")[0]
        return precision.isdigit() and int(precision) <= 15
    return True


def _in_set_expected(check: Check, type_text: str) -> list[Any]:
    """The allowed values as a result shows (and stores) them: as written for a text column,
    as read otherwise (a date as its ISO text)."""
    if type_family(type_text) == "string" and check.args.get("texts"):
        return list(check.args["texts"])
    return [_jsonable(v) for v in check.args["values"]]


def _allowed(check: Check, type_text: str) -> set[str]:
    """The in-set values as category texts: as written for text columns (YAML reads NO as
    false), as values otherwise (true/false for booleans)."""
    if type_family(type_text) == "string":
        return set(check.args.get("texts") or [category_text(v) for v in check.args["values"]])
    return {category_text(v) for v in check.args["values"]}


def _bounds(args: dict[str, Any]) -> str:
    lo, hi = args.get("min"), args.get("max")
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"≥ {lo}" if lo is not None else f"≤ {hi}"


def _freshness(
    check: Check, data: DataSource, col: dict[str, Any] | None, now: float | None
) -> dict[str, Any]:

    name, sev = check.column, check.severity
    expected = f"newest value within {check.args['max_age']}"
    if name not in data.types:
        return _result("freshness", name, sev, False, "missing", expected)
    if type_family(data.types[name]) not in ("timestamp", "date"):
        return _result(
            "freshness", name, sev, False, data.types[name], "a timestamp or date column"
        )
    if col is not None and col.get("max") is not None:
        newest = dt.datetime.fromisoformat(str(col["max"]).replace("Z", "+00:00"))
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        newest_s = newest.timestamp()
    else:  # epoch seconds, not Python dates: Arrow's go beyond year 9999
        from setpoint.data.profile import epoch_seconds

        found = [s.max() for b in data.batches([name]) if len(s := epoch_seconds(b.column(0)))]
        if not found:
            return _result("freshness", name, sev, False, None, expected)
        newest_s = float(max(found))
    age = (now if now is not None else time.time()) - newest_s
    # newer than now by more than max_age is no fresher: a unit or clock mistake (ms read as s)
    ok = -check.args["max_age_s"] <= age <= check.args["max_age_s"]
    return _result("freshness", name, sev, ok, _iso_text(newest_s), expected, age_s=round(age, 3))


def _iso_text(seconds: float) -> str:
    from setpoint.data.profile import iso_utc

    return iso_utc(seconds).replace("Z", "+00:00")


# ---------------------------------------------------------------- the scan


def _scan(data: DataSource, pending: list[tuple[Check, dict[str, Any]]]) -> None:
    columns = sorted({c.column for c, _ in pending if c.column is not None})
    state = [_ScanState(check, result) for check, result in pending]
    offset = 0
    import pyarrow as pa

    for batch in data.batches(columns):
        arrays = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
        for s in state:
            if s.unusable is not None:
                continue
            array = arrays[s.check.column]
            try:
                s.update(array, offset)
            except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
                # a check that does not apply to the column's type (unique on lists, range
                # on half floats): failed, saying so, not an error of the whole validation
                s.unusable = f"cannot check a {array.type} column: {type(exc).__name__}: {exc}"
        offset += batch.num_rows
    for s in state:
        s.finish(data)


class _ScanState:
    def __init__(self, check: Check, result: dict[str, Any]) -> None:
        self.check = check
        self.result = result
        self.failing = 0
        self.sample: list[dict[str, Any]] = []
        self.hashes: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.value_set: pa.Array | None = None
        self.allowed: set[str] | None = None
        self.unusable: str | None = None  # why the check cannot run on this column

    def update(self, array: pa.Array, offset: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        kind, args = self.check.kind, self.check.args
        if kind == "unique":  # nulls and NaN are not values: they never collide
            present = pc.invert(pc.is_null(array, nan_is_null=True))
            valid = np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)
            values = pc.filter(array, present).to_numpy(zero_copy_only=False)
            self.hashes.append(hash_values(values))
            self.rows.append(np.flatnonzero(valid) + offset)
            return
        if _clean(kind, args, array, self):
            return  # nothing fails in this batch: no row mask needed
        if kind == "not_null":
            mask = pc.is_null(array, nan_is_null=True)
        elif kind == "range":
            mask = pa.array(np.zeros(len(array), dtype=bool))
            decimal = pa.types.is_decimal(array.type)
            whole = pa.types.is_integer(array.type)
            for bound, compare in (("min", pc.less), ("max", pc.greater)):
                if bound in args:
                    if decimal:
                        beyond = _decimal_beyond(
                            array, _as_decimal(args[bound]), below=bound == "min"
                        )
                    elif whole:
                        beyond = _whole_beyond(array, args[bound], below=bound == "min")
                    else:
                        beyond = compare(array, args[bound])
                    mask = pc.or_(mask, pc.fill_null(beyond, False))
        elif kind == "in_set":
            if self.value_set is None:
                self.value_set = _value_set(self.check, array.type)
            target = array if self.value_set.type == array.type else pc.cast(array, pa.string())
            mask = pc.and_(
                pc.invert(pc.is_in(target, value_set=self.value_set)), pc.is_valid(array)
            )
        else:  # regex
            found = pc.match_substring_regex(array, pattern=args["pattern"])
            mask = pc.fill_null(pc.invert(found), False)
        rows = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
        self.failing += rows.size
        for row in rows[: SAMPLE - len(self.sample)]:
            self.sample.append(
                {"row": int(offset + row), "value": _jsonable(array[int(row)].as_py())}
            )

    def finish(self, data: DataSource) -> None:
        if self.unusable is not None:
            self.result.update(passed=False, observed=self.unusable[:SAMPLE_TEXT], failing=None)
            return
        if self.check.kind == "unique":
            hashes = np.concatenate(self.hashes) if self.hashes else np.empty(0, np.uint64)
            rows = np.concatenate(self.rows) if self.rows else np.empty(0, np.int64)
            uniq, first = np.unique(hashes, return_index=True)
            self.failing = int(hashes.size - uniq.size)
            if self.failing:
                seen = np.zeros(hashes.size, dtype=bool)
                seen[first] = True
                self.sample = [{"row": int(r)} for r in rows[~seen][:SAMPLE]]
        unique = self.check.kind == "unique"
        observed = _duplicates(self.failing) if unique else self.failing
        self.result.update(
            passed=self.failing == 0, observed=observed, failing=self.failing, sample=self.sample
        )


def _duplicates(count: int) -> str:
    """A unique check's observed value, the same whether the profile or a scan decides it."""
    return f"{count} duplicate rows"


def _clean(kind: str, args: dict[str, Any], array: pa.Array, state: _ScanState) -> bool:
    """A cheap whole-batch test that no row fails (True), before any per-row mask."""
    import pyarrow as pa
    import pyarrow.compute as pc

    floating = pa.types.is_floating(array.type)
    if kind == "not_null":
        if array.null_count:
            return False
        return not floating or not np.isnan(array.to_numpy(zero_copy_only=False)).any()
    if kind == "range":
        lo, hi = _extremes(array)
        if lo is None:
            return True
        low, high = args.get("min", -math.inf), args.get("max", math.inf)
        if pa.types.is_decimal(array.type):  # exactly, against the bounds as written
            low, high = _as_decimal(low), _as_decimal(high)
        return bool(low <= lo and hi <= high)
    if kind == "in_set":
        if state.allowed is None:
            state.allowed = _allowed(state.check, str(array.type))
        return all(
            v is None or category_text(v) in state.allowed for v in pc.unique(array).to_pylist()
        )
    return False


def _extremes(array: pa.Array) -> tuple[Any, Any]:
    """(min, max) of a batch ignoring nulls and NaN; (None, None) when it holds no value.
    Null-free numbers go through numpy, several times faster than Arrow's kernel here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numeric = pa.types.is_floating(array.type) or pa.types.is_integer(array.type)
    if numeric and not array.null_count and len(array):
        values = array.to_numpy(zero_copy_only=False)
        if pa.types.is_integer(array.type):  # as Python ints: compared with a float bound
            return int(values.min()), int(values.max())  # exactly, not as doubles
        if not np.isnan(values).all():
            return np.nanmin(values), np.nanmax(values)
        return None, None
    bounds = pc.min_max(array).as_py()
    return bounds["min"], bounds["max"]


def _as_decimal(bound: float) -> Decimal:
    """A suite's bound as the number written (YAML reads 0.1 as a double a little above it)."""
    return Decimal(bound) if isinstance(bound, int) else Decimal(repr(float(bound)))


def _whole_beyond(array: pa.Array, bound: float, *, below: bool) -> pa.Array:
    """Which values of an integer column are below (``below``) or above ``bound``, exactly:
    against a float bound Arrow compares as doubles (10**16 + 1 was not above 1e16) and
    refuses values past 2**53. Whole values are below x when below ceil(x), above it when
    above floor(x); a bound beyond the type's range is beyond every value or none."""
    edge = None if math.isinf(bound) else math.ceil(bound) if below else math.floor(bound)
    limits = np.iinfo(array.type.to_pandas_dtype())
    if edge is None or edge > limits.max or edge < limits.min:
        return _past_the_type(array, bound > 0, below=below)
    return _compared(array, edge, below=below)


def _decimal_beyond(array: pa.Array, bound: Decimal, *, below: bool) -> pa.Array:
    """Which values of a decimal column are below (``below``) or above ``bound``, exactly.
    The bound is moved to the column's scale first (values are whole multiples of its step,
    so x < 0.125 is x < 0.13 at two decimal places); a bound beyond every value the type
    holds needs no comparison (an Arrow cast of it would fail)."""
    t = array.type
    with localcontext(Context(prec=200)):
        step = Decimal(1).scaleb(-t.scale)
        largest = Decimal(10) ** (t.precision - t.scale) - step
        if abs(bound) > largest:
            return _past_the_type(array, bound > 0, below=below)
        edge = bound.quantize(step, rounding=ROUND_CEILING if below else ROUND_FLOOR)
    return _compared(array, edge, below=below)


def _past_the_type(array: pa.Array, positive: bool, *, below: bool) -> pa.Array:
    """The rows beyond a bound past every value the column's type holds: every value for a
    min above them all (or a max below them all), none otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if positive == below:
        return pc.is_valid(array)
    return pa.array(np.zeros(len(array), dtype=bool))


def _compared(array: pa.Array, edge: Any, *, below: bool) -> pa.Array:
    """The rows below (``below``) or above ``edge``, a value of the column's type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    scalar = pa.scalar(edge, type=array.type)
    return pc.less(array, scalar) if below else pc.greater(array, scalar)


def _value_set(check: Check, arrow_type: pa.DataType) -> pa.Array:
    """The allowed values as an array of the column's type, or as category texts (then the
    column is compared as text)."""
    import pyarrow as pa

    allowed = sorted(_allowed(check, str(arrow_type)))
    if type_family(str(arrow_type)) == "string":
        return pa.array(allowed, type=arrow_type)
    try:
        return pa.array(check.args["values"]).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.array(allowed, type=pa.string())


def _jsonable(value: Any) -> Any:
    """A value as JSON can hold it, cut to ``SAMPLE_TEXT`` characters (results are stored)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and INT64_MIN <= value < 2**64:  # what JSON here holds
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value[: SAMPLE_TEXT // 2].hex()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = (
        value
        if isinstance(value, str)
        else repr(value)
        if isinstance(value, list | dict)
        else str(value)
    )
    return text if len(text) <= SAMPLE_TEXT else text[:SAMPLE_TEXT] + "…"


# ---------------------------------------------------------------- custom checks


def _custom(
    check: Check, data: DataSource, functions: dict[str, Callable[..., Any]]
) -> dict[str, Any]:
    target = check.args.get("function") or check.args["name"]
    label = check.args.get("name", target)
    fn = functions.get(target) or _import(target)
    table = data.table() if data.table is not None else _whole(data)
    try:
        outcome = fn(table)
    except (Exception, SystemExit) as exc:  # a check that exits has failed, not the command
        return _result(
            "custom",
            None,
            check.severity,
            False,
            f"raised {type(exc).__name__}: {exc}",
            "no error",
            name=label,
        )
    if isinstance(outcome, bool | np.bool_):
        return _result(
            "custom", None, check.severity, bool(outcome), bool(outcome), True, name=label
        )
    if isinstance(outcome, int | np.integer) and _count(outcome):
        n = int(outcome)
        return _result("custom", None, check.severity, n == 0, n, 0, name=label, failing=n)
    if isinstance(outcome, dict) and _well_formed(outcome):
        failing = outcome.get("failing")
        return _result(
            "custom",
            None,
            check.severity,
            bool(outcome["passed"]),
            _jsonable(outcome.get("observed")),
            _jsonable(outcome.get("expected")),
            name=label,
            failing=None if failing is None else int(failing),
        )
    return _result(
        "custom",
        None,
        check.severity,
        False,
        f"returned {_returned(outcome)}",
        "bool, a count of failing rows (0 or more) or dict with 'passed' (a bool) and "
        "'failing' (a count, optional)",
        name=label,
    )


def _returned(outcome: Any) -> Any:
    """What a custom check returned that is none of its answers, as its result shows it."""
    if isinstance(outcome, dict | int | np.integer):
        return _jsonable(outcome)
    return type(outcome).__name__


def _well_formed(outcome: dict[str, Any]) -> bool:
    passed, failing = outcome.get("passed"), outcome.get("failing")
    counted = failing is None or (
        isinstance(failing, int | np.integer) and not isinstance(failing, bool) and _count(failing)
    )
    return isinstance(passed, bool | np.bool_) and bool(counted)


def _count(n: Any) -> bool:
    """Whether a custom check's whole number is a count of rows: 0 or more, and within 64
    bits (the results are stored; a larger one made every listing of them fail)."""
    return 0 <= int(n) <= INT64_MAX


def _import(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (Exception, SystemExit) as exc:  # not found, or the module fails as it loads
        raise InvalidArgumentError(
            f"custom check {target!r} cannot be imported: {type(exc).__name__}: {exc}",
            field="suite",
        ) from None
    if not callable(fn):
        raise InvalidArgumentError(f"custom check {target!r} is not a function", field="suite")
    return fn  # type: ignore[no-any-return]


def _whole(data: DataSource) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_batches(list(data.batches(list(data.types))))
