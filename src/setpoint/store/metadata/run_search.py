"""Compile a parsed run filter and order-by into SQL over runs, the EAV tables and series.

Comparisons become correlated ``EXISTS`` probes on the (run_id, key) primary/unique indexes,
so a top-N query walks runs in the requested order and stops after N hits. Ordering by a
metric, param or tag is done in two passes: runs that have the key, driven by the
(key, value) index in sort order; then, if the page is not full, runs without it (they sort
last), by start time. The exception: a filter holding a term that few runs pass and that a
(key, value) index serves; those runs are fetched through that index, then sorted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, exists, false, func, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from setpoint.core.run_filter import BoolOp, Comparison, Expr, OrderKey
from setpoint.store.metadata.runs import value_equals
from setpoint.store.metadata.tables import metric_series, params, run_inputs, runs, tags

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
_TIEBREAK = (runs.c.start_time.desc(), runs.c.id.desc())


def search_run_ids(
    conn: Connection,
    project_ids: list[int] | None,
    expr: Expr | None,
    order: list[OrderKey],
    limit: int,
    offset: int,
    deleted: bool | None = False,
) -> list[str]:
    """Ids of matching runs in order; ``deleted``: False for live runs, True for deleted
    ones, None for both."""
    wanted = offset + limit
    if not order or order[0].kind == "attribute":
        q = _ordered(_filtered(conn, project_ids, expr, deleted=deleted), order)
        return [r[0] for r in conn.execute(q.limit(limit).offset(offset))]

    candidates = _few_candidates(conn, expr, CANDIDATES_PER_HIT * wanted)
    if candidates is not None:
        # A narrow indexed term picks the runs: sorting those few beats walking the sort key's
        # index, which finds few hits and so walks all of it (and then the runs lacking it).
        hide = conn.dialect.name == "sqlite"  # or SQLite walks the project's runs instead
        filtered = _filtered(conn, project_ids, expr, hide_project_index=hide, deleted=deleted)
        q = _ordered(filtered.where(runs.c.id.in_(candidates)), order)
        return [r[0] for r in conn.execute(q.limit(limit).offset(offset))]

    # SQLite would otherwise walk the project's runs and sort them all; hiding the project
    # index lets it walk the sort key's (key, value) index and stop after `wanted` hits.
    first, rest = order[0], order[1:]
    table = _TABLES[first.kind].alias("o0")
    col = table.c.value
    # NaN metrics are stored as NULL: they go with the runs lacking the key, last.
    # The filter's probes name the sort key's run id, so they run before the runs row is
    # looked up, and that lookup happens only for runs that pass.
    having = _filtered(
        conn,
        project_ids,
        expr,
        hide_project_index=conn.dialect.name == "sqlite",
        via=table,
        deleted=deleted,
    ).join(
        table,
        and_(table.c.run_id == runs.c.id, table.c.key == first.key, table.c.value.is_not(None)),
    )
    sort = col.desc() if first.descending else col.asc()
    q = _ordered(having, rest, lead=[sort])
    found = [r[0] for r in conn.execute(q.limit(wanted))]
    if len(found) < wanted:
        lacking = _filtered(conn, project_ids, expr, deleted=deleted).where(
            ~exists().where(
                table.c.run_id == runs.c.id, table.c.key == first.key, table.c.value.is_not(None)
            )
        )
        q = _ordered(lacking, rest)
        found += [r[0] for r in conn.execute(q.limit(wanted - len(found)))]
    return found[offset:wanted]


# A search sorted by a metric, param or tag whose filter holds an indexed term (see
# _indexed) that at most this many rows per wanted run pass (in any project) starts from
# those rows. Sorting a candidate costs about three index entries walked in sort order
# (measured on SQLite), and the walk rarely gets away with fewer than that many per hit.
CANDIDATES_PER_HIT = 5


def _few_candidates(conn: Connection, expr: Expr | None, bound: int) -> Any:
    """A subquery of the run ids allowed by the filter's narrowest term that a (key, value)
    index serves (the filter being that term, or an AND holding it), when at most ``bound``
    rows pass it; else None. Counting stops at the bound, on that index."""
    terms = expr.items if isinstance(expr, BoolOp) and expr.op == "AND" else [expr]
    best: tuple[int, Any] | None = None
    for term in terms:
        ids = _indexed(term)
        if ids is None:
            continue
        bounded = ids.limit(bound + 1).subquery()
        count = conn.execute(select(func.count()).select_from(bounded)).scalar_one()
        if count <= bound and (best is None or count < best[0]):
            best = (count, ids)
    return None if best is None else best[1]


def _indexed(term: Expr | None) -> Any:
    """The ids of the runs passing ``term``, read from its (key, value) index, for a param or
    tag equality or a metric compared with a number (not ``!=``); None for anything else."""
    if not isinstance(term, Comparison):
        return None
    if term.kind in ("param", "tag") and term.op == "=" and isinstance(term.value, str):
        table = _TABLES[term.kind]
        cond = value_equals(table.c.value, term.value)
    elif (
        term.kind == "metric"
        and term.op in ("=", "<", "<=", ">", ">=")
        and isinstance(term.value, int | float)
        and not isinstance(term.value, bool)
    ):
        table = metric_series
        cond = _apply(table.c.value, term.op, term.value)
    else:
        return None
    return select(table.c.run_id).where(table.c.key == term.key, cond)


def _filtered(
    conn: Connection,
    project_ids: list[int] | None,
    expr: Expr | None,
    hide_project_index: bool = False,
    via: Any = None,
    deleted: bool | None = False,
) -> Any:
    """Runs of ``project_ids`` matching ``expr``. With ``via`` (a table joined on its
    ``run_id``), the filter's probes are keyed by ``via.c.run_id`` and tested before the
    project, which needs the runs row."""
    q = select(runs.c.id)
    if expr is not None:
        q = q.where(_compile(expr, runs.c.id if via is None else via.c.run_id))
    if project_ids is not None:
        col = literal_column("+runs.project_id") if hide_project_index else runs.c.project_id
        q = q.where(col.in_(project_ids) if project_ids else false())
    if deleted is not None:
        q = q.where(runs.c.deleted_at.is_not(None) if deleted else runs.c.deleted_at.is_(None))
    return q


def _ordered(q: Any, order: list[OrderKey], lead: list[Any] | None = None) -> Any:
    sort: list[Any] = list(lead or [])
    for n, key in enumerate(order, start=1):
        if key.kind == "attribute":
            col = _ATTRIBUTES[key.key]
        else:
            alias = _TABLES[key.kind].alias(f"o{n}")
            q = q.outerjoin(alias, and_(alias.c.run_id == runs.c.id, alias.c.key == key.key))
            col = alias.c.value
        sort.append(col.desc().nulls_last() if key.descending else col.asc().nulls_last())
    return q.order_by(*sort, *_TIEBREAK)


def _compile(expr: Expr, run_id: Any) -> Any:
    if isinstance(expr, BoolOp):
        if expr.op == "AND":
            # Databases test the terms of a conjunction in the order written (SQLite does):
            # the likely narrow ones first, so that fewer runs reach the wide ones.
            return and_(*(_compile(e, run_id) for e in sorted(expr.items, key=_breadth)))
        return or_(*(_compile(e, run_id) for e in expr.items))
    return _comparison(expr, run_id)


def _breadth(e: Expr) -> int:
    """A guess at how many runs ``e`` lets through, as a rank: an equality on a param, tag
    or attribute first; ranges and metric comparisons after; ORs and patterns last."""
    if isinstance(e, BoolOp):
        return 3
    if e.op in ("=", "IN"):
        return 0 if e.kind != "metric" else 1
    if e.op in ("LIKE", "ILIKE", "!=", "NOT IN", "IS NULL"):
        return 3
    return 2


def _comparison(c: Comparison, run_id: Any) -> Any:
    if c.kind == "attribute":
        return _apply(_ATTRIBUTES[c.key], c.op, c.value)
    if c.kind == "dataset":  # one of the run's dataset inputs passes
        found = run_inputs.alias()
        col = _ContextTag(found.c.tags) if c.key == "context" else found.c[c.key]
        return exists().where(found.c.run_id == run_id, _apply(col, c.op, c.value))
    table = _TABLES[c.kind].alias()
    if c.op in ("IS NULL", "IS NOT NULL"):  # whether the run has the param or tag
        has = exists().where(table.c.run_id == run_id, table.c.key == c.key)
        return ~has if c.op == "IS NULL" else has
    if c.kind != "metric" and c.op == "=" and isinstance(c.value, str):
        cond = value_equals(table.c.value, c.value)
    else:
        cond = _apply(table.c.value, c.op, c.value)
    return exists().where(table.c.run_id == run_id, table.c.key == c.key, cond)


class _ContextTag(FunctionElement[str]):
    """The ``mlflow.data.context`` tag of a dataset input, out of its tags (a JSON object
    kept as text): each database reads JSON its own way."""

    type = String()
    inherit_cache = True


@compiles(_ContextTag, "sqlite")
def _context_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.\"mlflow.data.context\"')"


@compiles(_ContextTag, "postgresql")
def _context_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS JSON) ->> 'mlflow.data.context')"


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
        return col.like(value, escape="\\")
    if op == "ILIKE":
        return col.ilike(value, escape="\\")
    if op == "IN":
        return col.in_(list(value))
    if op == "NOT IN":
        return col.not_in(list(value))
    raise ValueError(f"unsupported operator {op!r}")  # the parser admits no other
