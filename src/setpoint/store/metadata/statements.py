"""Hand-written SQL for the hot paths: ``?`` placeholders on every dialect, bulk inserts.

The hot paths (run creation, metric flushes, history reads, dataset versions) skip
SQLAlchemy's statement building, which costs more than the database does for statements
this small.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Equality searches on params and tags use this prefix of the value, so that values up to the
# documented maximum never overflow an index entry (PostgreSQL caps btree entries near 2.7 kB).
VALUE_INDEX_PREFIX = 200


@lru_cache(maxsize=256)
def dialect_sql(sql: str, paramstyle: str) -> str:
    """SQL written with ``?`` placeholders, in the driver's own style."""
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


def execute(conn: Connection, sql: str, params: Any = ()) -> Any:
    """Run SQL written with ``?`` placeholders; ``params`` as a list of tuples is executemany."""
    return conn.exec_driver_sql(dialect_sql(sql, conn.dialect.paramstyle), params)


def fetch_all(conn: Connection, sql: str, params: Any = ()) -> list[Any]:
    """Every row of a query, as the driver's tuples: for reads of thousands of small rows,
    where building a result row object per row costs more than the query."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(dialect_sql(sql, conn.dialect.paramstyle), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


_SQLITE_ROWS_PER_STATEMENT = 1000  # keeps multi-row statements under SQLite's variable cap


def insert_rows(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    pg_types: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    returning: str | None = None,
    on_conflict: str = "",
) -> list[Any]:
    """Insert many rows in as few round trips as the dialect allows.

    PostgreSQL gets one statement of fixed text, ``INSERT ... SELECT * FROM unnest(arrays)``,
    which psycopg prepares once; SQLite gets executemany, or multi-row VALUES when rows must
    come back (``RETURNING``)."""
    if not rows:
        return []
    cols = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for t in pg_types)
        sql = f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays}) {on_conflict}"
        if returning:
            sql += f" RETURNING {returning}"
        result = conn.exec_driver_sql(sql, tuple(list(c) for c in zip(*rows, strict=True)))
        return list(result.all()) if returning else []
    one = "(" + ", ".join("?" * len(columns)) + ")"
    if not returning:
        conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES {one} {on_conflict}", list(rows))
        return []
    out: list[Any] = []
    for i in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
        part = rows[i : i + _SQLITE_ROWS_PER_STATEMENT]
        flat = tuple(x for row in part for x in row)
        values = ", ".join([one] * len(part))
        sql = f"INSERT INTO {table} ({cols}) VALUES {values} {on_conflict} RETURNING {returning}"
        out.extend(conn.exec_driver_sql(sql, flat).all())
    return out
