"""The run-search filter language: what users type and what the store receives."""

from __future__ import annotations

import pytest

from setpoint.core.errors import FilterSyntaxError
from setpoint.core.run_filter import (
    MAX_CONDITIONS,
    MAX_LIST,
    MAX_NESTING,
    BoolOp,
    Comparison,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def cmp(kind, key, op, value, position=0):
    return Comparison(kind=kind, key=key, op=op, value=value, position=position)


def filter_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_filter_matches_everything(text):
    assert parse_filter(text) is None


def test_metric_and_param():
    assert parse_filter("metrics.auc > 0.9 and params.max_depth = '8'") == BoolOp(
        op="AND",
        items=(cmp("metric", "auc", ">", 0.9, 0), cmp("param", "max_depth", "=", "8", 22)),
    )


def test_parentheses_override_precedence():
    text = "(metrics.loss < 0.1 OR tags.team = \"risk\") AND attributes.status != 'failed'"
    assert parse_filter(text) == BoolOp(
        op="AND",
        items=(
            BoolOp(
                op="OR",
                items=(cmp("metric", "loss", "<", 0.1, 1), cmp("tag", "team", "=", "risk", 23)),
            ),
            cmp("attribute", "status", "!=", "failed", 47),
        ),
    )


def test_and_binds_tighter_than_or():
    a, b, c = "params.a = '1'", "params.b = '2'", "params.c = '3'"
    tree = parse_filter(f"{a} OR {b} AND {c}")
    assert isinstance(tree, BoolOp) and tree.op == "OR"
    assert tree.items[0] == cmp("param", "a", "=", "1", 0)
    assert tree.items[1] == BoolOp(
        op="AND", items=(cmp("param", "b", "=", "2", 18), cmp("param", "c", "=", "3", 37))
    )
    tree = parse_filter(f"{a} AND {b} OR {c}")
    assert isinstance(tree, BoolOp) and tree.op == "OR"
    assert isinstance(tree.items[0], BoolOp) and tree.items[0].op == "AND"


def test_chains_are_flattened():
    tree = parse_filter("metrics.a = 1 and metrics.b = 2 AND metrics.c = 3")
    assert isinstance(tree, BoolOp) and tree.op == "AND"
    assert [item.key for item in tree.items] == ["a", "b", "c"]
    tree = parse_filter("(metrics.a = 1 or metrics.b = 2) or (metrics.c = 3)")
    assert isinstance(tree, BoolOp) and tree.op == "OR" and len(tree.items) == 3


def test_nested_parentheses():
    assert parse_filter("((metrics.a = 1))") == cmp("metric", "a", "=", 1.0, 2)
    tree = parse_filter("metrics.a = 1 and (metrics.b = 2 or (metrics.c = 3 and metrics.d = 4))")
    assert isinstance(tree, BoolOp) and tree.op == "AND"
    inner = tree.items[1]
    assert isinstance(inner, BoolOp) and inner.op == "OR"
    assert isinstance(inner.items[1], BoolOp) and inner.items[1].op == "AND"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.model LIKE 'xgb%'", cmp("param", "model", "LIKE", "xgb%")),
        ("tags.env ILIKE '%PROD%'", cmp("tag", "env", "ILIKE", "%PROD%")),
        (
            "attributes.status IN ('finished', 'failed')",
            cmp("attribute", "status", "IN", ("finished", "failed")),
        ),
        ("status = 'running'", cmp("attribute", "status", "=", "running")),
        ('metrics."val/loss" <= 0.2', cmp("metric", "val/loss", "<=", 0.2)),
        ("metrics.`val loss` <= 0.2", cmp("metric", "val loss", "<=", 0.2)),
        ("name = 'baseline'", cmp("attribute", "name", "=", "baseline")),
        ("start_time >= 1700000000000", cmp("attribute", "start_time", ">=", 1700000000000)),
        ("params.lr != '0.1'", cmp("param", "lr", "!=", "0.1")),
        ("tags.team NOT IN ('risk')", cmp("tag", "team", "NOT IN", ("risk",))),
        ("params.lr < '0.5'", cmp("param", "lr", "<", "0.5")),
        ("user >= 'm'", cmp("attribute", "user", ">=", "m")),
        ("git_commit LIKE 'abc%'", cmp("attribute", "git_commit", "LIKE", "abc%")),
        ("end_time < 5", cmp("attribute", "end_time", "<", 5)),
    ],
)
def test_examples(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("metrics", "metric"),
        ("metric", "metric"),
        ("params", "param"),
        ("param", "param"),
        ("tags", "tag"),
        ("tag", "tag"),
        ("METRICS", "metric"),
    ],
)
def test_prefixes(prefix, kind):
    value = "1" if kind == "metric" else "'1'"
    tree = parse_filter(f"{prefix}.x = {value}")
    assert isinstance(tree, Comparison) and tree.kind == kind and tree.key == "x"


@pytest.mark.parametrize("prefix", ["attributes.", "attribute.", "attr.", "run.", ""])
@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("id", "id"),
        ("run_id", "id"),
        ("name", "name"),
        ("run_name", "name"),
        ("parent_id", "parent_id"),
        ("user", "user"),
        ("host", "host"),
        ("git_commit", "git_commit"),
        ("Name", "name"),
    ],
)
def test_attribute_names_and_aliases(prefix, written, canonical):
    assert parse_filter(f"{prefix}{written} = 'x'") == cmp("attribute", canonical, "=", "x")


@pytest.mark.parametrize(
    ("written", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_comparison_operators(written, op):
    assert parse_filter(f"metrics.m {written} 1") == cmp("metric", "m", op, 1.0)
    assert parse_filter(f"params.p{written}'1'") == cmp("param", "p", op, "1")


def test_keywords_are_case_insensitive():
    tree = parse_filter(
        "params.a like 'x%' And tags.b Ilike 'y' oR tags.c in ('z') and tags.d not In ('w')"
    )
    assert isinstance(tree, BoolOp) and tree.op == "OR"
    first, second = tree.items
    assert isinstance(first, BoolOp) and [c.op for c in first.items] == ["LIKE", "ILIKE"]
    assert isinstance(second, BoolOp) and [c.op for c in second.items] == ["IN", "NOT IN"]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("0", 0.0),
        ("42", 42.0),
        ("-3", -3.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("1e-3", 0.001),
        ("2.5E+2", 250.0),
        ("-1e3", -1000.0),
    ],
)
def test_numbers(written, value):
    tree = parse_filter(f"metrics.m >= {written}")
    assert isinstance(tree, Comparison) and tree.value == value
    assert isinstance(tree.value, float)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("''", ""),
        ("'it''s'", "it's"),
        (r"'it\'s'", "it's"),
        ('"say ""hi"""', 'say "hi"'),
        (r'"say \"hi\""', 'say "hi"'),
        ('"it\'s"', "it's"),
        ("'a \"b\"'", 'a "b"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'50\%'", r"50\%"),
        ("'  spaces and AND or ( ) , = '", "  spaces and AND or ( ) , = "),
        ("'ünïcode ✓'", "ünïcode ✓"),
    ],
)
def test_string_quoting_and_escapes(written, value):
    assert parse_filter(f"tags.t = {written}") == cmp("tag", "t", "=", value)


def test_quoted_keys():
    assert parse_filter("metrics.`a``b` = 1") == cmp("metric", "a`b", "=", 1.0)
    assert parse_filter("params.'my param' = 'x'") == cmp("param", "my param", "=", "x")
    assert parse_filter('tags."mlflow.user" = "x"') == cmp("tag", "mlflow.user", "=", "x")
    assert parse_filter('attributes."run_id" = "x"') == cmp("attribute", "id", "=", "x")


def test_dotted_keys_split_at_the_first_dot():
    assert parse_filter("params.optimizer.lr = '0.1'") == cmp("param", "optimizer.lr", "=", "0.1")


def test_whitespace_is_optional_around_operators_and_parentheses():
    tree = parse_filter("(metrics.a>-1)and(params.b='x')")
    assert tree == BoolOp(
        op="AND", items=(cmp("metric", "a", ">", -1.0, 1), cmp("param", "b", "=", "x", 18))
    )


def test_in_lists():
    assert parse_filter("tags.t IN ('a',\"b\" ,  'c')") == cmp("tag", "t", "IN", ("a", "b", "c"))
    assert parse_filter("status not in ('KILLED')") == cmp(
        "attribute", "status", "NOT IN", ("killed",)
    )


def test_is_null_asks_whether_a_run_has_a_param_or_tag():
    assert parse_filter("params.lr IS NULL") == cmp("param", "lr", "IS NULL", "")
    assert parse_filter("tags.`a b` is not null AND params.x = '1'") == BoolOp(
        op="AND",
        items=(
            cmp("tag", "a b", "IS NOT NULL", ""),
            cmp("param", "x", "=", "1", position=27),
        ),
    )


def test_datasets_are_compared_by_name_digest_and_context():
    assert parse_filter("datasets.Name = 'train'") == cmp("dataset", "name", "=", "train")
    assert parse_filter("dataset.context IN ('eval')") == cmp("dataset", "context", "IN", ("eval",))
    with pytest.raises(FilterSyntaxError, match="not ordered by their datasets"):
        parse_order_by(["datasets.name"])


def test_status_values_are_normalised_to_lowercase():
    assert parse_filter("status = 'FINISHED'") == cmp("attribute", "status", "=", "finished")


def test_status_patterns_match_statuses_spelt_as_mlflow_or_setpoint_does():
    """MLflow's statuses are upper case (``LIKE 'FIN%'``), setpoint's lower case: a pattern
    becomes the list of statuses it matches in either spelling (none: an empty list)."""
    status_in = lambda *found: cmp("attribute", "status", "IN", found)  # noqa: E731
    assert parse_filter("status LIKE 'run%'") == status_in("running")
    assert parse_filter("attributes.status LIKE 'FIN%'") == status_in("finished")
    assert parse_filter("status LIKE 'F%'") == status_in("finished", "failed")
    assert parse_filter("status LIKE 'Fin%'") == status_in()  # LIKE minds case
    assert parse_filter("status ILIKE 'Fin%'") == status_in("finished")
    assert parse_filter("status LIKE '_ILLED'") == status_in("killed")
    assert parse_filter("status LIKE 'RUNNING\\%'") == status_in()  # an escaped '%' is a '%'
    assert parse_filter("status LIKE '%'") == status_in("running", "finished", "failed", "killed")


def test_comparison_positions_point_at_the_key():
    tree = parse_filter("  metrics.a = 1 OR\n  tags.b = 'x'")
    assert isinstance(tree, BoolOp)
    assert [item.position for item in tree.items] == [2, 21]


def test_error_carries_field_code_and_pointer():
    err = filter_error("metrics.auc > 'x'")
    assert err.field == "filter"
    assert err.code == "invalid_filter"
    assert err.status == 422
    assert err.position == 14
    assert str(err).endswith("metrics.auc > 'x'\n              ^")


@pytest.mark.parametrize(
    ("text", "position", "phrase"),
    [
        ("metrics.auc", 11, "expected a comparison operator after metrics.auc"),
        ("metrics.auc 0.9", 12, "expected a comparison operator after metrics.auc"),
        ('metrics."val/loss" 1', 19, 'expected a comparison operator after metrics."val/loss"'),
        ("metrics.auc > 'x'", 14, "metric values must be numbers, got a string"),
        ("metrics.auc > ", 14, "expected a number after metrics.auc >, got the end of the filter"),
        ("metrics.auc > high", 14, "expected a number"),
        ("metrics.auc LIKE 'x'", 12, "LIKE is not supported for metrics"),
        ("metrics.auc ILIKE 'x'", 12, "ILIKE is not supported for metrics"),
        ("metrics.auc IN (1, 2)", 12, "IN is not supported for metrics"),
        ("metrics.auc NOT IN (1)", 12, "NOT IN is not supported for metrics"),
        ("start_time LIKE '1%'", 11, "LIKE is not supported for attribute 'start_time'"),
        ("start_time > 'yesterday'", 13, "attribute 'start_time' values must be numbers"),
        ("params.lr = 0.1", 12, "param values must be quoted strings, got a number"),
        ("tags.t = 1", 9, "tag values must be quoted strings, got a number"),
        ("name = 3", 7, "attribute 'name' values must be quoted strings, got a number"),
        ("params.lr = abc", 12, "expected a quoted string after params.lr =, got abc"),
        ("colour = 'red'", 0, "unknown attribute 'colour'; known: id, name, status"),
        ("attributes.colour = 'red'", 11, "unknown attribute 'colour'"),
        ("attr.`colour` = 'red'", 5, "unknown attribute 'colour'"),
        ("metrix.auc > 1", 0, "unknown prefix 'metrix.'"),
        ("status = 'done'", 9, "unknown status 'done'; expected one of running, finished"),
        ("status IN ('running', 'done')", 22, "unknown status 'done'"),
        ("(metrics.a = 1", 0, "unclosed parenthesis"),
        ("metrics.a = 1 and (metrics.b = 2 or (metrics.c = 3)", 18, "unclosed parenthesis"),
        ("tags.t IN ('a', 'b'", 10, "unclosed parenthesis"),
        ("metrics.a = 1)", 13, "unexpected text after the end of the filter"),
        ("metrics.a = 1 metrics.b = 2", 14, "unexpected text after the end of the filter"),
        ("(metrics.a = 1 metrics.b = 2)", 15, "expected AND, OR or ')'"),
        ("tags.t = 'abc", 9, "unterminated string"),
        ('tags.t = "abc\\"', 9, "unterminated string"),
        ("tags.t = 'it''s", 9, "unterminated string"),
        ("metrics.`val loss = 1", 8, "unterminated quoted name"),
        ("metrics.a = 1 and", 17, "expected a key such as metrics.auc"),
        ("metrics.a = 1 or or metrics.b = 2", 17, "expected a key"),
        ("and metrics.a = 1", 0, "expected a key"),
        ("()", 1, "expected a key"),
        ("'x' = 'y'", 0, "expected a key"),
        ("metrics. = 1", 9, "expected a name after 'metrics.'"),
        ('metrics."" = 1', 8, "empty key"),
        ("tags.t NOT LIKE 'x'", 11, "expected IN after NOT"),
        ("datasets.size = 'x'", 9, "unknown dataset field 'size'; known: name, digest"),
        ("datasets.name < 'x'", 14, "< is not supported for datasets"),
        ("tags.t IS", 9, "expected NULL after IS, got the end of the filter"),
        ("tags.t IS NOT 'x'", 14, "expected NULL after IS NOT, got 'x'"),
        ("metrics.a IS NULL", 10, "IS NULL is not supported for metrics"),
        ("status IS NOT NULL", 7, "IS NOT NULL is supported for params and tags"),
        ("tags.t IN 'x'", 10, "expected a parenthesised list after tags.t IN"),
        ("tags.t IN ()", 11, "tags.t IN needs at least one value"),
        ("tags.t IN ('a' 'b')", 15, "expected ',' or ')' in the list"),
        ("tags.t IN ('a',)", 15, "expected a quoted string"),
        ("metrics.a = 1 & metrics.b = 2", 14, "unexpected character '&'"),
        ("metrics.a ! 1", 10, "unexpected character '!'"),
        ("metrics.a = 1.2.3", 12, "malformed number"),
        ("metrics.a = 1e", 12, "malformed number"),
        ("metrics.a = 12abc", 12, "malformed number"),
    ],
)
def test_errors(text, position, phrase):
    err = filter_error(text)
    assert err.position == position
    assert phrase in err.message
    assert err.field == "filter"
    assert text in err.message


def test_order_by():
    assert parse_order_by(
        ["metrics.auc desc", "params.max_depth", "start_time DESC", "attributes.name asc"]
    ) == [
        OrderKey(kind="metric", key="auc", descending=True),
        OrderKey(kind="param", key="max_depth", descending=False),
        OrderKey(kind="attribute", key="start_time", descending=True),
        OrderKey(kind="attribute", key="name", descending=False),
    ]


def test_order_by_quoted_keys_and_aliases():
    assert parse_order_by(["metrics.`val loss` DESC", 'tags."a b"', "run_id"]) == [
        OrderKey(kind="metric", key="val loss", descending=True),
        OrderKey(kind="tag", key="a b", descending=False),
        OrderKey(kind="attribute", key="id", descending=False),
    ]


@pytest.mark.parametrize("items", [None, [], ()])
def test_order_by_empty(items):
    assert parse_order_by(items) == []


def test_order_by_a_lone_string_is_one_item():
    assert parse_order_by("metrics.auc desc") == [
        OrderKey(kind="metric", key="auc", descending=True)
    ]


@pytest.mark.parametrize(
    ("item", "position", "phrase"),
    [
        ("", 0, "expected a key"),
        ("   ", 3, "expected a key"),
        ("metrics.auc descending", 12, "expected ASC or DESC after metrics.auc"),
        ("metrics.auc desc asc", 17, "expected ASC or DESC"),
        ("metrics.auc, params.x", 11, "expected ASC or DESC"),
        ("colour", 0, "unknown attribute 'colour'"),
        ("metrix.auc", 0, "unknown prefix"),
        ("desc", 0, "expected a key"),
        ("metrics.`auc", 8, "unterminated quoted name"),
    ],
)
def test_order_by_errors(item, position, phrase):
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by(["metrics.ok", item])
    err = info.value
    assert err.field == "order_by"
    assert err.position == position
    assert phrase in err.message
    assert err.message.endswith(f"{item}\n{' ' * position}^")


def test_filters_beyond_the_bounds_are_syntax_errors_not_database_errors():
    deep = "(" * (MAX_NESTING + 1) + "name = 'a'" + ")" * (MAX_NESTING + 1)
    with pytest.raises(FilterSyntaxError, match="nest"):
        parse_filter(deep)
    assert parse_filter("(" * MAX_NESTING + "name = 'a'" + ")" * MAX_NESTING) is not None
    many = " and ".join(f"metrics.m{i} > 0" for i in range(MAX_CONDITIONS + 1))
    with pytest.raises(FilterSyntaxError, match="at most"):
        parse_filter(many)
    listed = "params.p IN (" + ", ".join(f"'{i}'" for i in range(MAX_LIST + 1)) + ")"
    with pytest.raises(FilterSyntaxError, match="at most"):
        parse_filter(listed)
