"""Suites: YAML in, checks out; every mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from setpoint.core.errors import SuiteError
from setpoint.data.suite import load_suite, parse_suite

GOOD = """\
suite: transactions
reference: fraud/transactions@1
row_count: {min: 10, max: 100}
freshness: {column: ts, max_age: 2d, severity: warn}
columns:
  amount:
    type: double
    not_null: true
    range: {min: 0, max: 1000}
    shift: {max: 0.2}
  country:
    in_set: [DE, FR]
    severity: warn
  id: {unique: true}
  email: {regex: '^[^@]+@[^@]+$'}
  label:
    environments: [training]
    in_set: {values: [0, 1], severity: error}
custom:
  - function: json:loads
"""


def test_a_suite_reads_into_checks() -> None:
    suite = parse_suite(GOOD)
    assert suite.name == "transactions" and suite.reference == "fraud/transactions@1"
    kinds = [(c.kind, c.column, c.severity) for c in suite.checks]
    assert ("row_count", None, "error") in kinds
    assert ("freshness", "ts", "warn") in kinds
    assert ("range", "amount", "error") in kinds
    assert ("in_set", "country", "warn") in kinds  # the column's severity
    assert ("in_set", "label", "error") in kinds  # the check's own severity wins
    assert ("custom", None, "error") in kinds
    label = suite.column("label")
    assert label is not None and label.expected_in("training")
    assert not label.expected_in("serving")
    freshness = next(c for c in suite.checks if c.kind == "freshness")
    assert freshness.args["max_age_s"] == 2 * 86_400


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("suite: x\ncolumns:\n  a: [\n", 4, "not valid YAML"),
        ("suite: x\ncolumns:\n  a:\n    rnage: {min: 1}\n", 4, "unknown key 'rnage'"),
        ("suite: x\ncolumns:\n  a:\n    range: {min: 5, max: 1}\n", 4, "min 5 is above max 1"),
        ("suite: x\ncolumns:\n  a:\n    range: {min: low}\n", 4, "range.min must be a number"),
        ("suite: x\ncolumns:\n  a:\n    not_null: {severity: fatal}\n", 4, "severity must be"),
        ("suite: x\ncolumns:\n  a:\n    in_set: []\n", 4, "non-empty list"),
        ("suite: x\ncolumns:\n  a:\n    in_set: [1, 10000000000000000000000]\n", 4, "64 bits"),
        ("suite: x\ncolumns:\n  a:\n    regex: '('\n", 4, "not a valid regular expression"),
        ("suite: x\ncolumns:\n  a:\n    shift: true\n", 4, "need a top-level 'reference"),
        ("suite: x\nfreshness: {column: ts, max_age: soon}\n", 2, "max_age 'soon'"),
        ("suite: x\nfreshness: {column: null, max_age: 1d}\n", 2, "must be a column name"),
        ("suite: x\nfreshness: {column: [ts], max_age: 1d}\n", 2, "must be a column name"),
        ("suite: x\ncolums: {}\n", 2, "unknown key 'colums'"),
        ("suite: x\ncustom:\n  - function: nocolon\n", 3, "package.module:function"),
        # the keys a check takes were listed without severity, or not at all
        (
            "suite: x\ncolumns:\n  a:\n    not_null: {severity: warn, extra: 1}\n",
            4,
            "unknown key 'extra'; expected severity",
        ),
        (
            "suite: x\ncolumns:\n  a:\n    range: {min: 1, step: 2}\n",
            4,
            "unknown key 'step'; expected min, max, severity",
        ),
        # the item that must be a mapping is named, not the list
        ("suite: x\ncustom:\n  - checks.mine:ok\n", 3, "custom[0] must be a mapping"),
        ("- a\n- b\n", 1, "must be a mapping"),
        ("suite: x\ncolumns:\n  a: {<<: {not_null: true}}\n", 3, "'<<' cannot be read"),
        ("suite: x\ncolumns:\n  a:\n    range: {min: !foo 3}\n", 4, "'3' cannot be read as !foo"),
        ("suite: x\ncolumns:\n  a:\n    range: {min: !!int abc}\n", 4, "'abc' cannot be read"),
        ("suite: x\ncolumns:\n  !!int abc : {not_null: true}\n", 3, "'abc' cannot be read"),
        ("suite: x\ncolumns:\n  a:\n    in_set: &s [1, *s]\n", 4, "aliases (*name) are not"),
        # a few hundred bytes of aliases nested in aliases would stand for billions of values
        ("suite: x\nl0: &a [1, 1]\nl1: &b [*a, *a]\n", 3, "aliases (*name) are not allowed"),
    ],
)
def test_mistakes_name_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(SuiteError) as err:
        parse_suite(text, source="checks.yaml")
    assert f"checks.yaml line {line}:" in str(err.value)
    assert words in str(err.value)
    assert err.value.field == "suite" and err.value.status == 422


def test_empty_and_missing_suites(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="empty"):
        parse_suite("")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(str(tmp_path / "nope.yaml"))
    (tmp_path / "latin1.yaml").write_bytes("suite: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite(str(tmp_path / "latin1.yaml"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("suite: x\ncolumns:\n  a: {type: floaty}\n", "unknown type 'floaty'"),
        ("suite: x\ncolumns:\n  a: {regex: '(?=x)'}\n", "not a valid regular expression"),
        ("suite: x\nreference: p/d\n", "must name a version"),
        ("suite: x\nfreshness: {column: ts, max_age: -1d}\n", "max_age '-1d'"),
        ("suite: 'my suite!'\n", "suite"),
        ("suite: x\nenvironments: [a]\n", "unknown key 'environments'"),
    ],
)
def test_more_mistakes(text: str, words: str) -> None:
    with pytest.raises(SuiteError, match="line "):
        parse_suite(text)
    with pytest.raises(SuiteError) as err:
        parse_suite(text)
    assert words in str(err.value)


def test_type_aliases_become_arrow_names() -> None:
    suite = parse_suite("suite: x\ncolumns:\n  a: {type: float64}\n  b: {type: numeric}\n")
    assert [c.type for c in suite.columns] == ["double", "numeric"]


def test_every_type_arrow_writes_reads_back() -> None:
    """An inferred suite states types as Arrow prints them; each must parse."""
    import pyarrow as pa

    types = [
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("ns"),
        pa.date32(),
        pa.duration("s"),
        pa.decimal128(5, 2),
        pa.list_(pa.string()),
        pa.struct([("x", pa.int64())]),
        pa.float16(),
        pa.large_string(),
        pa.bool_(),
        pa.null(),
    ]
    text = "suite: x\ncolumns:\n" + "".join(
        f"  c{i}: {{type: '{t}'}}\n" for i, t in enumerate(types)
    )
    assert [c.type for c in parse_suite(text).columns] == [str(t) for t in types]


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ('not_null: "yes"', "not_null must be true/false or a mapping like {severity: warn}"),
        ("unique: 1", "unique must be true/false or a mapping like {severity: warn}, not 1"),
        ("in_set: 0", "in_set must be a list of values (or a mapping with values:), not 0"),
        ('in_set: "abc"', "in_set must be a list of values (or a mapping with values:)"),
        ("regex: 5", "regex must be a regular expression (or a mapping with pattern:)"),
        ("shift: 5", "shift must be true or a mapping like {max: 0.1}, not 5"),
        ("range: 5", "range must be a mapping with min and/or max, not 5"),
    ],
)
def test_a_mistyped_check_says_what_it_takes(check: str, words: str) -> None:
    """Each of these said "must be a mapping", though a flag takes true or false and in_set
    a list."""
    text = f"suite: x\nreference: p/d@1\ncolumns:\n  a:\n    {check}\n"
    with pytest.raises(SuiteError) as err:
        parse_suite(text, source="checks.yaml")
    assert str(err.value).startswith("checks.yaml line 5: columns.a.")
    assert words in str(err.value)


def test_numbers_in_exponent_notation_are_numbers() -> None:
    """YAML 1.1 reads 1e3 (an exponent without a dot) as text: range max 1e3 was refused."""
    suite = parse_suite(
        "suite: x\nreference: p/d@1\nrow_count: {max: 1e6}\ncolumns:\n"
        "  a: {range: {min: -1E-3, max: 1e3}, shift: {max: 5e-2}}\n"
        "  b: {range: {min: .inf}}\n"
    )
    args = {(c.kind, c.column): c.args for c in suite.checks}
    assert args["row_count", None] == {"max": 1_000_000}
    assert args["range", "a"] == {"min": -0.001, "max": 1000}
    assert args["shift", "a"] == {"max": 0.05}
    assert args["range", "b"] == {"min": float("inf")}  # YAML's own infinity, as before
    for text in ("nan", "inf", "-Infinity", "1e3x"):
        with pytest.raises(SuiteError, match=f"range.max must be a number, not '{text}'"):
            parse_suite(f"suite: x\ncolumns:\n  a: {{range: {{max: {text}}}}}\n")


def test_a_suite_lists_the_environments_it_names() -> None:
    assert parse_suite(GOOD).environments == ["training"]
    text = "suite: x\nrow_count: {min: 1, environments: [serving, batch]}\ncolumns:\n  a: {}\n"
    assert parse_suite(text).environments == ["batch", "serving"]
    assert parse_suite("suite: x\ncolumns:\n  a: {}\n").environments == []


def test_environments_spelt_two_ways_or_empty_are_refused_with_the_line() -> None:
    """`[training]` on one column and `[Training]` on another: `--env training` silently
    skipped the second column's checks."""
    text = (
        "suite: x\ncolumns:\n  a: {not_null: true, environments: [training]}\n"
        "  b: {not_null: true, environments: [Training]}\n"
    )
    with pytest.raises(
        SuiteError, match=r"line 4: columns\.b\.environments names 'Training', and "
    ):
        parse_suite(text)
    with pytest.raises(SuiteError, match=r"line 3: .*environments holds an empty name"):
        parse_suite("suite: x\ncolumns:\n  a: {not_null: true, environments: ['']}\n")
