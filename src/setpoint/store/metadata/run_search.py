"""Compile a parsed run filter and order-by into one SQL query over runs, EAV tables and series.

Every comparison becomes ``runs.id IN (subquery)`` over an indexed table, so the database can
start from the most selective condition; ordering joins only the series or params it sorts by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, or_, select

from setpoint.core.run_filter import BoolOp, Comparison, Expr, OrderKey
from setpoint.store.metadata.runs import value_equals
from setpoint.store.metadata.tables import metric_series, params, runs, tags

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_ATTRIBUTES = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "parent_id": runs.c.parent_id,
    "user": runs.c.user,
    "host": runs.c.host,
    "git_commit": runs.c.git_commit,
}
_TABLES = {"metric": metric_series, "param": params, "tag": tags}


def search_run_ids(
    conn: Connection,
    project_ids: list[int] | None,
    expr: Expr | None,
    order: list[OrderKey],
    limit: int,
    offset: int,
) -> list[str]:
    q = select(runs.c.id)
    if project_ids is not None:
        q = q.where(runs.c.project_id.in_(project_ids) if project_ids else false())
    if expr is not None:
        q = q.where(_compile(expr))
    sort: list[Any] = []
    for n, key in enumerate(order):
        if key.kind == "attribute":
            col = _ATTRIBUTES[key.key]
        else:
            alias = _TABLES[key.kind].alias(f"o{n}")
            q = q.outerjoin(alias, and_(alias.c.run_id == runs.c.id, alias.c.key == key.key))
            col = alias.c.value
        sort.append(col.desc().nulls_last() if key.descending else col.asc().nulls_last())
    sort += [runs.c.start_time.desc(), runs.c.id.desc()]
    q = q.order_by(*sort).limit(limit).offset(offset)
    return [r[0] for r in conn.execute(q)]


def _compile(expr: Expr) -> Any:
    if isinstance(expr, BoolOp):
        parts = [_compile(e) for e in expr.items]
        return and_(*parts) if expr.op == "AND" else or_(*parts)
    return _comparison(expr)


def _comparison(c: Comparison) -> Any:
    if c.kind == "attribute":
        return _apply(_ATTRIBUTES[c.key], c.op, c.value)
    table = _TABLES[c.kind]
    if c.kind != "metric" and c.op == "=" and isinstance(c.value, str):
        cond = value_equals(table.c.value, c.value)
    else:
        cond = _apply(table.c.value, c.op, c.value)
    return runs.c.id.in_(select(table.c.run_id).where(table.c.key == c.key, cond))


def _apply(col: Any, op: str, value: Any) -> Any:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "LIKE":
        return col.like(value)
    if op == "ILIKE":
        return col.ilike(value)
    if op == "IN":
        return col.in_(list(value))
    if op == "NOT IN":
        return col.not_in(list(value))
    raise ValueError(f"unsupported operator {op!r}")  # the parser admits no other
