"""Parse run-search filters (``metrics.auc > 0.9 and tags.team = 'risk'``) and order-by items.

Pure: the store turns the returned tree into SQL; every problem raises ``FilterSyntaxError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, NoReturn

from setpoint.core.errors import FilterSyntaxError, InvalidArgumentError

Kind = Literal["metric", "param", "tag", "attribute", "dataset"]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    kind: Kind
    key: str
    op: str
    value: float | str | tuple[float | str, ...]
    position: int


@dataclass(frozen=True, kw_only=True)
class BoolOp:
    op: Literal["AND", "OR"]
    items: tuple[Expr, ...]


Expr = Comparison | BoolOp


@dataclass(frozen=True, kw_only=True)
class OrderKey:
    kind: Kind
    key: str
    descending: bool


_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "datasets": "dataset",
    "dataset": "dataset",
    "attr": "attribute",
    "run": "attribute",
}
_ATTRIBUTE_NAMES = (
    *("id", "name", "status", "start_time", "end_time"),
    *("parent_id", "user", "host", "git_commit"),
)
# MLflow's names too: run_id/run_uuid, run_name, user_id, created (its start time)
_ATTRIBUTES = {
    **{a: a for a in _ATTRIBUTE_NAMES},
    **{"run_id": "id", "run_uuid": "id", "run_name": "name"},
    **{"user_id": "user", "created": "start_time"},
}
_NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
# what MLflow's dataset filters (``datasets.name = 'train'``) compare: a run's dataset inputs
DATASET_FIELDS = ("name", "digest", "context")
_DATASET_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_STATUSES = ("running", "finished", "failed", "killed")
_COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
_OP_ALIASES = {"==": "=", "<>": "!="}
_KEYWORDS = frozenset({"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "ASC", "DESC"})
# whether a run has a param or tag at all (MLflow's spelling): no value follows
_PRESENCE_OPS = ("IS NULL", "IS NOT NULL")
# Bounds of what a filter may hold, well within what the databases accept in one query
# (SQLite refuses an expression tree deeper than 1000 and more than 32766 parameters).
MAX_CONDITIONS = 200
MAX_NESTING = 50
MAX_LIST = 1000
# Each order key over a metric or param is a join; SQLite joins at most 64 tables.
MAX_ORDER_KEYS = 20
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[^\W\d][\w.]*)"
    r"|(?P<op>==|!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])"
)


class _Token(NamedTuple):
    kind: str  # number, ident, op, string, backtick, "(", ")", ",", eof
    text: str
    value: str
    pos: int
    end: int


class _Parser:
    def __init__(self, text: str, field: str = "filter") -> None:
        self.text = text
        self.field = field
        self.tokens = self._tokenize()
        self.i = 0
        self.depth = 0
        self.conditions = 0

    def error(self, message: str, position: int) -> NoReturn:
        raise FilterSyntaxError(message, position=position, text=self.text, field=self.field)

    def _tokenize(self) -> list[_Token]:
        text, i, out = self.text, 0, []
        while i < len(text):
            if text[i] in "'\"`":
                value, end = self._scan_quoted(i)
                out.append(
                    _Token("backtick" if text[i] == "`" else "string", text[i:end], value, i, end)
                )
                i = end
                continue
            m = _TOKEN.match(text, i)
            if m is None:
                self.error(f"unexpected character {text[i]!r}", i)
            kind = m.lastgroup or ""
            if kind == "number" and m.end() < len(text) and re.match(r"[\w.]", text[m.end()]):
                self.error("malformed number", i)
            if kind != "ws":
                tok_kind = m.group() if kind == "punct" else kind
                out.append(_Token(tok_kind, m.group(), m.group(), i, m.end()))
            i = m.end()
        out.append(_Token("eof", "", "", len(text), len(text)))
        return out

    def _scan_quoted(self, start: int) -> tuple[str, int]:
        text, quote, i, out = self.text, self.text[start], start + 1, []
        while i < len(text):
            c = text[i]
            nxt = text[i + 1] if i + 1 < len(text) else ""
            # Only the quote and the backslash itself are escapes, so `\%` reaches LIKE intact.
            if c == "\\" and quote != "`" and nxt in (quote, "\\"):
                out.append(nxt)
                i += 2
            elif c == quote and nxt == quote:
                out.append(quote)
                i += 2
            elif c == quote:
                return "".join(out), i + 1
            else:
                out.append(c)
                i += 1
        self.error("unterminated quoted name" if quote == "`" else "unterminated string", start)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self) -> str | None:
        tok = self.peek()
        upper = tok.text.upper()
        return upper if tok.kind == "ident" and upper in _KEYWORDS else None

    def got(self, tok: _Token) -> str:
        if tok.kind == "eof":
            return f"the end of the {'filter' if self.field == 'filter' else 'item'}"
        return tok.text

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.keyword() == "OR":
            self.advance()
            items.append(self.parse_and())
        return _combine("OR", items)

    def parse_and(self) -> Expr:
        items = [self.parse_primary()]
        while self.keyword() == "AND":
            self.advance()
            items.append(self.parse_primary())
        return _combine("AND", items)

    def parse_primary(self) -> Expr:
        if self.peek().kind != "(":
            return self.parse_comparison()
        lparen = self.advance()
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.error(f"parentheses nest more than {MAX_NESTING} deep", lparen.pos)
        expr = self.parse_or()
        self.depth -= 1
        tok = self.peek()
        if tok.kind == "eof":
            self.error("unclosed parenthesis", lparen.pos)
        if tok.kind != ")":
            self.error(f"expected AND, OR or ')', got {self.got(tok)}", tok.pos)
        self.advance()
        return expr

    def parse_key(self) -> tuple[Kind, str, int, str]:
        """Read a key; return its kind, canonical name, position and the text as written."""
        tok = self.peek()
        if tok.kind != "ident" or self.keyword():
            self.error(
                "expected a key such as metrics.auc, params.lr, tags.team or status, "
                f"got {self.got(tok)}",
                tok.pos,
            )
        self.advance()
        head, dot, name = tok.text.partition(".")
        name_pos, end = tok.pos, tok.end
        kind: Kind = "attribute"
        if dot:
            name_pos += len(head) + 1
            prefix_kind = _PREFIXES.get(head.lower())
            if prefix_kind is None:
                self.error(
                    f"unknown prefix '{head}.'; use metrics., params., tags., attributes. "
                    "or datasets.",
                    tok.pos,
                )
            kind = prefix_kind
            if not name:
                quoted = self.peek()
                if quoted.kind not in ("string", "backtick") or quoted.pos != tok.end:
                    self.error(f"expected a name after '{tok.text}'", quoted.pos)
                self.advance()
                name, name_pos, end = quoted.value, quoted.pos, quoted.end
            if not name:
                self.error("empty key", name_pos)
        else:
            name = tok.text
        if kind == "dataset" and name.lower() not in DATASET_FIELDS:
            self.error(
                f"unknown dataset field '{name}'; known: {', '.join(DATASET_FIELDS)}", name_pos
            )
        if kind == "dataset":
            name = name.lower()
        if kind == "attribute":
            canonical = _ATTRIBUTES.get(name.lower())
            if canonical is None:
                self.error(
                    f"unknown attribute '{name}'; known: {', '.join(_ATTRIBUTE_NAMES)}", name_pos
                )
            name = canonical
        return kind, name, tok.pos, self.text[tok.pos : end]

    def parse_op(self, display: str) -> str:
        tok = self.peek()
        if tok.kind == "op":
            self.advance()
            return _OP_ALIASES.get(tok.text, tok.text)
        keyword = self.keyword()
        if keyword in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return keyword
        if keyword == "NOT":
            self.advance()
            if self.keyword() != "IN":
                self.error(f"expected IN after NOT, got {self.got(self.peek())}", self.peek().pos)
            self.advance()
            return "NOT IN"
        if keyword == "IS":
            self.advance()
            negated = self.keyword() == "NOT"
            if negated:
                self.advance()
            if self.keyword() != "NULL":
                after = "IS NOT" if negated else "IS"
                self.error(
                    f"expected NULL after {after}, got {self.got(self.peek())}", self.peek().pos
                )
            self.advance()
            return "IS NOT NULL" if negated else "IS NULL"
        self.error(
            f"expected a comparison operator after {display} "
            f"(=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN or IS [NOT] NULL), "
            f"got {self.got(tok)}",
            tok.pos,
        )

    def parse_value(self, noun: str, numeric: bool, context: str) -> tuple[float | str, int]:
        tok = self.peek()
        wanted = "number" if numeric else "string"
        if tok.kind == wanted:
            self.advance()
            return (float(tok.text) if numeric else tok.value), tok.pos
        if numeric and tok.kind == "string":
            self.error(f"{noun} values must be numbers, got a string", tok.pos)
        if not numeric and tok.kind == "number":
            self.error(f"{noun} values must be quoted strings, got a number", tok.pos)
        expected = "a number" if numeric else "a quoted string"
        self.error(f"expected {expected} after {context}, got {self.got(tok)}", tok.pos)

    def parse_comparison(self) -> Comparison:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            self.error(f"a filter holds at most {MAX_CONDITIONS} conditions", self.peek().pos)
        kind, key, position, display = self.parse_key()
        op_tok = self.peek()
        op = self.parse_op(display)
        numeric = kind == "metric" or (key in _NUMERIC_ATTRIBUTES and kind == "attribute")
        noun = f"attribute '{key}'" if kind == "attribute" else kind
        if numeric and op not in _COMPARE_OPS:
            subject = "metrics" if kind == "metric" else noun
            self.error(
                f"{op} is not supported for {subject}; use =, !=, <, <=, > or >=", op_tok.pos
            )
        if op in _PRESENCE_OPS:
            if kind not in ("param", "tag"):
                self.error(
                    f"{op} is supported for params and tags (whether a run has one), "
                    f"not for {noun}",
                    op_tok.pos,
                )
            return Comparison(kind=kind, key=key, op=op, value="", position=position)
        if kind == "dataset" and op not in _DATASET_OPS:
            self.error(
                f"{op} is not supported for datasets; use {', '.join(_DATASET_OPS)}", op_tok.pos
            )
        context = f"{display} {op}"
        values: list[tuple[float | str, int]]
        if op in ("IN", "NOT IN"):
            values = self.parse_list(noun, numeric, context)
        else:
            values = [self.parse_value(noun, numeric, context)]
        if kind == "attribute" and key == "status" and op in ("LIKE", "ILIKE"):
            return _status_like(op, str(values[0][0]), position)
        if kind == "attribute" and key == "status":
            values = [(self.check_status(str(v), pos), pos) for v, pos in values]
        plain = tuple(v for v, _ in values)
        value = plain if op in ("IN", "NOT IN") else plain[0]
        return Comparison(kind=kind, key=key, op=op, value=value, position=position)

    def parse_list(self, noun: str, numeric: bool, context: str) -> list[tuple[float | str, int]]:
        lparen = self.peek()
        if lparen.kind != "(":
            self.error(
                f"expected a parenthesised list after {context}, like ('a', 'b')", lparen.pos
            )
        self.advance()
        if self.peek().kind == ")":
            self.error(f"{context} needs at least one value", self.peek().pos)
        values = [self.parse_value(noun, numeric, context)]
        while self.peek().kind == ",":
            self.advance()
            if len(values) == MAX_LIST:
                self.error(f"{context} takes at most {MAX_LIST} values", self.peek().pos)
            values.append(self.parse_value(noun, numeric, context))
        tok = self.peek()
        if tok.kind == "eof":
            self.error("unclosed parenthesis", lparen.pos)
        if tok.kind != ")":
            self.error(f"expected ',' or ')' in the list, got {self.got(tok)}", tok.pos)
        self.advance()
        return values

    def check_status(self, value: str, position: int) -> str:
        if value.lower() not in _STATUSES:
            self.error(
                f"unknown status '{value}'; expected one of {', '.join(_STATUSES)}", position
            )
        return value.lower()


def _status_like(op: str, pattern: str, position: int) -> Comparison:
    """``status LIKE pattern`` as ``status IN (...)`` of the statuses it matches, spelt as
    setpoint stores them (lower case) or as MLflow does (upper case): MLflow's
    ``status LIKE 'FIN%'`` and setpoint's ``status LIKE 'fin%'`` both find finished runs."""
    found = re.compile(like_regex(pattern), re.IGNORECASE if op == "ILIKE" else 0)
    matched = tuple(s for s in _STATUSES if found.fullmatch(s) or found.fullmatch(s.upper()))
    return Comparison(kind="attribute", key="status", op="IN", value=matched, position=position)


def like_regex(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escaping the next character) as a regex."""
    out = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
    return "".join(out)


def _combine(op: Literal["AND", "OR"], items: list[Expr]) -> Expr:
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, BoolOp) and item.op == op else (item,))
    return flat[0] if len(flat) == 1 else BoolOp(op=op, items=tuple(flat))


def parse_filter(text: str | None) -> Expr | None:
    """Parse a search filter; ``None`` for an empty one (every run matches)."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    if "\x00" in text:  # no stored value holds one (see names.param_value)
        parser.error("a NUL character (\\x00) is not allowed", text.index("\x00"))
    expr = parser.parse_or()
    tok = parser.peek()
    if tok.kind != "eof":
        parser.error(
            "unexpected text after the end of the filter (join conditions with AND or OR)",
            tok.pos,
        )
    return expr


def parse_order_by(items: Sequence[str] | None) -> list[OrderKey]:
    """Parse order-by items such as ``"metrics.auc desc"``; ascending unless DESC is given."""
    if items is None:
        return []
    if isinstance(items, str):  # a lone string is one item, not a sequence of characters
        items = [items]
    if len(items) > MAX_ORDER_KEYS:
        raise InvalidArgumentError(
            f"order_by takes at most {MAX_ORDER_KEYS} keys, got {len(items)}", field="order_by"
        )
    keys = []
    for item in items:
        parser = _Parser(item, field="order_by")
        kind, key, position, display = parser.parse_key()
        if kind == "dataset":
            parser.error("runs are not ordered by their datasets", position)
        direction = parser.keyword()
        if direction in ("ASC", "DESC"):
            parser.advance()
        tok = parser.peek()
        if tok.kind != "eof":
            parser.error(f"expected ASC or DESC after {display}, got {parser.got(tok)}", tok.pos)
        keys.append(OrderKey(kind=kind, key=key, descending=direction == "DESC"))
    return keys
