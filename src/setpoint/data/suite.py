"""Validation suites: what data must look like, readable and editable as YAML.

```yaml
suite: transactions
reference: fraud/transactions@1     # the version `shift` checks compare against
row_count: {min: 900, max: 1100, environments: [training]}   # not for serving batches
freshness: {column: ts, max_age: 2d, severity: warn}
columns:
  amount:
    type: double                    # presence and type
    not_null: true
    range: {min: 0, max: 10000}
    shift: {max: 0.1}               # drift score against the reference
  country:
    in_set: [DE, FR, US]
  id: {unique: true}
  email: {regex: '^[^@]+@[^@]+$', severity: warn}
  label:
    environments: [training]        # required in training only (absent when serving)
custom:
  - function: checks.fraud:amounts_balance    # module:function(table) -> bool | int | dict
```

Every check is ``error`` unless it says ``severity: warn`` (on the check, or on the column
for all its checks). Problems in a suite are reported with the file's line number.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from setpoint.core import names
from setpoint.core.errors import InvalidArgumentError, SuiteError

SEVERITIES = ("error", "warn")
COLUMN_CHECKS = ("not_null", "range", "in_set", "regex", "unique", "shift")
COLUMN_KEYS = (*COLUMN_CHECKS, "type", "environments", "severity", "required")
TOP_KEYS = ("suite", "reference", "row_count", "freshness", "columns", "custom")
TYPE_FAMILIES = (
    "integer",
    "float",
    "decimal",
    "numeric",
    "string",
    "boolean",
    "timestamp",
    "date",
)
DEFAULT_SHIFT = 0.1
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True, kw_only=True)
class Check:
    kind: str  # not_null | range | in_set | regex | unique | shift | row_count | freshness | custom
    severity: str = "error"
    column: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    line: int | None = None  # where the suite file states it
    environments: tuple[str, ...] | None = None  # table-level checks: None for every one

    def applies_in(self, environment: str | None) -> bool:
        return self.environments is None or environment is None or environment in self.environments


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    name: str
    type: str | None = None
    required: bool = True
    environments: tuple[str, ...] | None = None  # None: every environment
    severity: str = "error"

    def expected_in(self, environment: str | None) -> bool:
        if not self.required:
            return False
        return self.environments is None or environment is None or environment in self.environments


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    columns: list[ColumnSpec]
    checks: list[Check]
    reference: str | None = None
    reference_line: int | None = None  # where the suite file states it
    source: str = "<suite>"
    text: str = ""

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def environments(self) -> list[str]:
        """The environments the suite names (on its columns and checks), sorted."""
        named = {e for c in self.columns for e in c.environments or ()}
        return sorted(named | {e for c in self.checks for e in c.environments or ()})


# ---------------------------------------------------------------- reading


def load_suite(path: str, *, reference_given: bool = False) -> Suite:
    """The suite in file ``path``; ``reference_given``: the caller names the version shift
    checks compare against, so the suite need not."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SuiteError(f"suite file {path} does not exist", field="suite") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc}", field="suite") from None
    return parse_suite(text, source=path, reference_given=reference_given)


def parse_suite(text: str, source: str = "<suite>", *, reference_given: bool = False) -> Suite:
    import yaml

    from setpoint.core import yaml_docs

    try:
        root = yaml_docs.compose(text)
    except yaml.YAMLError as exc:
        line, what = yaml_docs.problem(exc)
        where = "" if line is None else f" line {line}"
        raise SuiteError(f"{source}{where}: not valid YAML: {what}", field="suite") from None
    return _Parser(source, text).suite(root, reference_given)


class _Parser:
    def __init__(self, source: str, text: str) -> None:
        import yaml

        self.source = source
        self.text = text
        self.spellings: dict[str, str] = {}  # environment names, by their lower case
        self.loader = yaml.SafeLoader("")  # builds values from nodes; reads no stream

    def fail(self, node: Any, message: str) -> SuiteError:
        line = f" line {node.start_mark.line + 1}" if node is not None else ""
        return SuiteError(f"{self.source}{line}: {message}", field="suite")

    def mapping(self, node: Any, where: str) -> dict[str, tuple[Any, Any]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping")
        out: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            # as written: a column named 01, 1.50 or on is that text (YAML would read the
            # number 1, 1.5 or true)
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, f"{where}: keys must be names")
            self.scalar(key_node)  # a tag that cannot build its value (!!int abc) says so
            key = key_node.value
            if key in out:
                raise self.fail(key_node, f"{where}: {key!r} appears twice")
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Any) -> Any:
        import yaml

        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, AttributeError):
                raise self.fail(node, f"{node.value!r} cannot be read as {node.tag}") from None
        if isinstance(node, yaml.SequenceNode):
            return [self.scalar(n) for n in node.value]
        return {self.scalar(k): self.scalar(v) for k, v in node.value}

    def suite(self, root: Any, reference_given: bool = False) -> Suite:
        if root is None:
            raise SuiteError(f"{self.source}: the suite is empty", field="suite")
        top = self.mapping(root, "the suite")
        for key, (key_node, _) in top.items():
            if key not in TOP_KEYS:
                raise self.fail(
                    key_node, f"unknown key {key!r}; expected one of {', '.join(TOP_KEYS)}"
                )
        name = self.text_value(top, "suite", "suite") or "suite"
        try:
            names.check_key(name, "suite")
        except InvalidArgumentError as exc:
            raise self.fail(top["suite"][1], str(exc)) from None
        reference = self.text_value(top, "reference", "reference")
        if reference is not None and "@" not in reference:
            raise self.fail(
                top["reference"][1],
                f"reference {reference!r} must name a version, like project/name@3",
            )
        checks: list[Check] = []
        if "row_count" in top:
            checks.append(self.bounded("row_count", top["row_count"][1], None, "error"))
        if "freshness" in top:
            checks.append(self.freshness(top["freshness"][1]))
        columns: list[ColumnSpec] = []
        if "columns" in top:
            for col, (key_node, value_node) in self.mapping(top["columns"][1], "columns").items():
                spec, col_checks = self.column(col, key_node, value_node)
                columns.append(spec)
                checks.extend(col_checks)
        if "custom" in top:
            checks.extend(self.custom(top["custom"][1]))
        shift = next((c for c in checks if c.kind == "shift"), None)
        if shift is not None and reference is None and not reference_given:
            raise SuiteError(
                f"{self.source} line {shift.line}: shift checks need a top-level "
                "'reference: project/name@version' (or one given with the call: --reference)",
                field="suite",
            )
        return Suite(
            name=name,
            columns=columns,
            checks=checks,
            reference=reference,
            reference_line=top["reference"][1].start_mark.line + 1 if reference else None,
            source=self.source,
            text=self.text,
        )

    def text_value(self, top: dict[str, tuple[Any, Any]], key: str, where: str) -> str | None:
        if key not in top:
            return None
        value = self.scalar(top[key][1])
        if not isinstance(value, str) or not value:
            raise self.fail(top[key][1], f"{where} must be a non-empty text")
        return value

    def severity(self, node: Any, value: Any, default: str) -> str:
        if value is None:
            return default
        if value not in SEVERITIES:
            raise self.fail(node, f"severity must be 'error' or 'warn', not {value!r}")
        return str(value)

    def opt_severity(self, node: Any, opts: dict[str, Any], default: str) -> str:
        """The ``severity`` among a check's options, or ``default``."""
        return self.severity(node, opts.get("severity", (None,))[0], default)

    def options(self, node: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        fields = self.mapping(node, where)
        for key, (key_node, _) in fields.items():
            if key not in (*allowed, "severity"):
                raise self.fail(
                    key_node,
                    f"{where}: unknown key {key!r}; expected {', '.join((*allowed, 'severity'))}",
                )
        return {k: (self.scalar(v), v) for k, (_, v) in fields.items()}

    def environments(self, opts: dict[str, Any], where: str) -> tuple[str, ...] | None:
        if "environments" not in opts:
            return None
        value, node = opts["environments"]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(node, f"{where}.environments must be a list of names")
        for name in value:
            if not name.strip():
                raise self.fail(node, f"{where}.environments holds an empty name")
            # `training` here and `Training` there: one of them would never apply
            seen = self.spellings.setdefault(name.lower(), name)
            if seen != name:
                raise self.fail(
                    node,
                    f"{where}.environments names {name!r}, and elsewhere the suite names "
                    f"{seen!r}: write them alike",
                )
        return tuple(value)

    def bounded(self, kind: str, node: Any, column: str | None, default: str) -> Check:
        import yaml

        table_level = column is None
        allowed = ("min", "max", "environments") if table_level else ("min", "max")
        where = kind if table_level else f"columns.{column}.{kind}"  # as the docs spell it
        if not isinstance(node, yaml.MappingNode):
            value = self.scalar(node)
            raise self.fail(node, f"{where} must be a mapping with min and/or max, not {value!r}")
        opts = self.options(node, where, allowed)
        args: dict[str, Any] = {}
        for bound in ("min", "max"):
            if bound in opts:
                value, vnode = opts[bound]
                value = _number(value)
                if not names.is_real_number(value):
                    raise self.fail(vnode, f"{where}.{bound} must be a number, not {value!r}")
                if isinstance(value, int) and not names.INT64_MIN <= value <= names.INT64_MAX:
                    value = float(value)  # beyond any 64-bit column: compared as a double
                args[bound] = value
        if not args:
            raise self.fail(node, f"{where} needs min and/or max")
        if "min" in args and "max" in args and args["min"] > args["max"]:
            raise self.fail(node, f"{where}: min {args['min']} is above max {args['max']}")
        sev = self.opt_severity(node, opts, default)
        envs = self.environments(opts, kind) if table_level else None
        return Check(kind=kind, column=column, severity=sev, args=args, environments=envs)

    def freshness(self, node: Any) -> Check:
        opts = self.options(node, "freshness", ("column", "max_age", "environments"))
        if "column" not in opts or "max_age" not in opts:
            raise self.fail(node, "freshness needs column and max_age (like 2d, 12h, 30m)")
        column, column_node = opts["column"]
        if isinstance(column, bool) or not isinstance(column, str | int | float):
            raise self.fail(column_node, f"freshness column must be a column name, not {column!r}")
        age_text, age_node = opts["max_age"]
        seconds = parse_age(age_text)
        if seconds is None:
            raise self.fail(
                age_node, f"max_age {age_text!r}: expected a number and s, m, h, d or w"
            )
        sev = self.opt_severity(node, opts, "error")
        return Check(
            kind="freshness",
            column=str(column),
            severity=sev,
            args={"max_age_s": seconds, "max_age": str(age_text)},
            environments=self.environments(opts, "freshness"),
        )

    def column(self, name: str, key_node: Any, node: Any) -> tuple[ColumnSpec, list[Check]]:
        where = f"columns.{name}"
        fields = self.mapping(node, where) if node.tag != "tag:yaml.org,2002:null" else {}
        for key, (knode, _) in fields.items():
            if key not in COLUMN_KEYS:
                raise self.fail(
                    knode, f"{where}: unknown key {key!r}; expected one of {', '.join(COLUMN_KEYS)}"
                )
        col_sev = self.severity(
            node, self.scalar(fields["severity"][1]) if "severity" in fields else None, "error"
        )
        type_text = None
        if "type" in fields:
            type_text = self.type_name(fields["type"][1], where)
        envs = None
        if "environments" in fields:
            node = fields["environments"][1]
            envs = self.environments({"environments": (self.scalar(node), node)}, where)
        required = True
        if "required" in fields:
            required = self.scalar(fields["required"][1])
            if not isinstance(required, bool):
                raise self.fail(fields["required"][1], f"{where}.required must be true or false")
        spec = ColumnSpec(
            name=name, type=type_text, required=required, environments=envs, severity=col_sev
        )
        checks = []
        for kind in COLUMN_CHECKS:
            if kind in fields:
                check = self.column_check(kind, name, fields[kind][1], col_sev)
                if check is not None:
                    line = fields[kind][0].start_mark.line + 1
                    checks.append(dataclasses.replace(check, line=line))
        return spec, checks

    def type_name(self, node: Any, where: str) -> str:
        """An Arrow type as Arrow writes it (float64 -> double), or a family name."""
        import pyarrow as pa

        text = self.scalar(node)
        if not isinstance(text, str) or not text:
            raise self.fail(node, f"{where}.type must be a type name like double or string")
        if text in TYPE_FAMILIES or any(ch in text for ch in "<(,"):
            return text  # families, nested, parametrised and zoned types compare as written
        try:
            return str(pa.type_for_alias(text))
        except ValueError:
            if "[" in text:  # parametrised without an alias (fixed_size_binary[2])
                return text
            raise self.fail(
                node,
                f"{where}.type: unknown type {text!r}; expected an Arrow type (double, int64, "
                f"string, timestamp[us], …) or one of {', '.join(TYPE_FAMILIES)}",
            ) from None

    def column_check(self, kind: str, column: str, node: Any, default: str) -> Check | None:
        import yaml

        where = f"columns.{column}.{kind}"
        value = self.scalar(node)
        if kind in ("not_null", "unique"):
            if value is False:
                return None
            if value is True:
                return Check(kind=kind, column=column, severity=default)
            if not isinstance(node, yaml.MappingNode):
                raise self.fail(
                    node,
                    f"{where} must be true/false or a mapping like {{severity: warn}}, "
                    f"not {value!r}",
                )
            opts = self.options(node, where, ())
            return Check(
                kind=kind,
                column=column,
                severity=self.opt_severity(node, opts, default),
            )
        if kind == "range":
            return self.bounded("range", node, column, default)
        if kind == "in_set":
            if isinstance(node, yaml.SequenceNode):
                values, sev, items = value, default, node
            elif not isinstance(node, yaml.MappingNode):
                raise self.fail(
                    node,
                    f"{where} must be a list of values (or a mapping with values:), not {value!r}",
                )
            else:
                opts = self.options(node, where, ("values",))
                if "values" not in opts:
                    raise self.fail(node, f"{where} needs a list of values")
                values, items = opts["values"]
                sev = self.opt_severity(node, opts, default)
            if not isinstance(values, list) or not values:
                raise self.fail(node, f"{where} must be a non-empty list of values")
            if not all(isinstance(n, yaml.ScalarNode) for n in items.value):
                raise self.fail(node, f"{where} must list plain values")
            for v, n in zip(values, items.value, strict=True):
                if isinstance(v, int) and not isinstance(v, bool) and not names.fits_64_bits(v):
                    raise self.fail(n, f"{where}: {v} does not fit in 64 bits")
            # The text as written, for text columns: YAML would read NO or off as false.
            texts = [n.value for n in items.value]
            return Check(
                kind=kind, column=column, severity=sev, args={"values": values, "texts": texts}
            )
        if kind == "regex":
            if isinstance(value, str):
                pattern, sev = value, default
            elif not isinstance(node, yaml.MappingNode):
                raise self.fail(
                    node,
                    f"{where} must be a regular expression (or a mapping with pattern:), "
                    f"not {value!r}",
                )
            else:
                opts = self.options(node, where, ("pattern",))
                pattern = opts.get("pattern", (None,))[0]
                sev = self.opt_severity(node, opts, default)
            if not isinstance(pattern, str) or not pattern:
                raise self.fail(node, f"{where} must be a regular expression")
            import pyarrow as pa
            import pyarrow.compute as pc

            try:  # the engine that runs it (RE2): no lookarounds or backreferences
                pc.match_substring_regex(pa.array([""]), pattern=pattern)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise self.fail(node, f"{where}: not a valid regular expression: {exc}") from None
            return Check(kind=kind, column=column, severity=sev, args={"pattern": pattern})
        # shift
        if value is True:
            return Check(kind=kind, column=column, severity=default, args={"max": DEFAULT_SHIFT})
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                node, f"{where} must be true or a mapping like {{max: 0.1}}, not {value!r}"
            )
        opts = self.options(node, where, ("max",))
        limit = _number(opts.get("max", (DEFAULT_SHIFT,))[0])
        if not names.is_real_number(limit) or not 0 <= limit <= 1:
            raise self.fail(node, f"{where}.max must be a drift score between 0 and 1")
        sev = self.opt_severity(node, opts, default)
        return Check(kind=kind, column=column, severity=sev, args={"max": limit})

    def custom(self, node: Any) -> list[Check]:
        import yaml

        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "custom must be a list of {function: module:name}")
        out = []
        for n, item in enumerate(node.value):
            opts = self.options(item, f"custom[{n}]", ("function", "name"))
            target = opts.get("function", (None,))[0]
            if not isinstance(target, str) or ":" not in target:
                raise self.fail(item, "custom: function must be like package.module:function")
            sev = self.opt_severity(item, opts, "error")
            name = opts.get("name", (target,))[0]
            out.append(
                Check(kind="custom", severity=sev, args={"function": target, "name": str(name)})
            )
        return out


def _number(value: Any) -> Any:
    """``value``, or the number a text spells that YAML 1.1 leaves as text (``1e3``: an
    exponent without a dot); NaN and infinities only as YAML writes them (``.nan``, ``.inf``)."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def parse_age(text: Any) -> float | None:
    """Seconds in ``90``, ``30m``, ``12h``, ``2d``, ``1w``; None unless positive and finite."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and len(text) >= 2 and text[-1] in _AGE_UNITS:
        try:
            seconds = float(text[:-1]) * _AGE_UNITS[text[-1]]
        except ValueError:
            return None
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


# ---------------------------------------------------------------- inferring and writing


def infer_suite(profile: dict[str, Any], *, name: str, reference: str | None) -> str:
    """A suite (YAML text) that the profiled data passes: types, nullability, ranges,
    categories, uniqueness, a row-count band, and shift checks against ``reference``."""
    import yaml

    rows = int(profile["num_rows"])
    while ".." in name:  # a dataset may be named a..b; a suite's name may not hold ".."
        name = name.replace("..", ".")
    doc: dict[str, Any] = {"suite": name}
    if reference:
        doc["reference"] = reference
    doc["row_count"] = {"min": rows // 2, "max": rows * 2}
    columns: dict[str, Any] = {}
    for col in profile["columns"]:
        spec: dict[str, Any] = {"type": col["type"]}
        if col["nulls"] == 0 and not col.get("nan"):
            spec["not_null"] = True
        kind = col["kind"]
        # Only a proven property is inferred: uniqueness from an exact distinct count.
        unique = (
            col["count"] > 1
            and (col["type"].startswith(("int", "uint")) or kind == "categorical")
            and bool(col.get("distinct_exact"))
            and col.get("distinct") == col["count"]
        )
        finite_only = not col.get("pos_inf") and not col.get("neg_inf")
        if kind == "numeric" and col.get("min") is not None and finite_only and not unique:
            spec["range"] = _range(col)
        if kind in ("categorical", "boolean") and col.get("categories_exact") and not unique:
            cats = list(col.get("categories", {}))
            if kind == "categorical" and 0 < len(cats) <= 50 and len(cats) < max(rows // 10, 2):
                spec["in_set"] = sorted(cats)
        if unique:
            spec["unique"] = True
        elif reference and kind in ("numeric", "categorical", "boolean") and col["count"]:
            spec["shift"] = {"max": DEFAULT_SHIFT, "severity": "warn"}
        columns[col["name"]] = spec
    doc["columns"] = columns
    header = (
        "# setpoint validation suite, inferred from the data's profile: edit freely.\n"
        "# Checks are errors unless they say severity: warn.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _range(col: dict[str, Any]) -> dict[str, float | int]:
    """Observed bounds, kept for integer codes (few distinct values) and otherwise widened
    by the span on each side (never below zero for data that has none): the next batch of
    the same kind of data passes, a unit mistake or a sign error does not."""
    lo, hi = float(col["min"]), float(col["max"])
    integer = col["type"].startswith(("int", "uint"))
    # The profile holds its extremes as doubles: only whole numbers below 2**53 are exact
    # there (2**60 + 1 reads as 2**60), so larger codes are widened like other numbers.
    if integer and (col.get("distinct") or 0) <= 20 and max(abs(lo), abs(hi)) < 2**53:
        return {"min": int(lo), "max": int(hi)}
    pad = (hi - lo) or abs(hi) or 1.0
    low = 0.0 if lo >= 0 and lo - pad < 0 else lo - pad
    out = {"min": _nice(low, down=True), "max": _nice(hi + pad, down=False)}
    if not integer:
        return {k: int(v) if float(v).is_integer() else v for k, v in out.items()}
    # a bound beyond what the column's type holds cannot be compared with its values
    bits = int(col["type"].removeprefix("u").removeprefix("int"))
    unsigned = col["type"].startswith("u")
    least, most = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return {k: min(max(int(v), least), most) for k, v in out.items()}


def _nice(value: float, *, down: bool) -> float:
    """``value`` rounded outward to 3 significant digits: the double nearest that decimal
    (10.6, not 106 * 0.1), moved one step outward when that double falls inside. Never
    inside ``value``, from the smallest doubles to the largest."""
    from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

    if value == 0 or not math.isfinite(value):
        return value
    written = Decimal(repr(value))  # as Python writes it (5.3, not 5.2999…)
    step = Decimal(1).scaleb(written.adjusted() - 2)
    out = float(written.quantize(step, rounding=ROUND_FLOOR if down else ROUND_CEILING))
    if not math.isfinite(out):  # beyond the largest double: the value itself is the bound
        return value
    if down and out > value:
        return math.nextafter(out, -math.inf)
    if not down and out < value:
        return math.nextafter(out, math.inf)
    return out
