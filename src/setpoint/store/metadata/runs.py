"""The runs repository: SQL for projects, runs, params, tags, metrics, artifacts and lineage.

It knows tables, not ML: callers validate, check states and supply timestamps.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, tuple_, update

from setpoint.core.errors import ParamConflictError
from setpoint.core.types import Artifact, LineageEdge, MetricHistory, Project, Run
from setpoint.store.metadata.tables import (
    DIGEST_COLUMNS,
    VALUE_INDEX_PREFIX,
    artifacts,
    lineage_edges,
    metric_series,
    params,
    projects,
    runs,
    tags,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# ---------------------------------------------------------------- projects


def project_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar()


def ensure_project(conn: Connection, name: str, now: int, description: str = "") -> int:
    """Return the project's id, creating it if needed (safe against a concurrent creator)."""
    pid = project_id(conn, name)
    if pid is not None:
        return pid
    stmt = _insert_ignore(conn, projects).values(name=name, description=description, created_at=now)
    conn.execute(stmt)
    pid = project_id(conn, name)
    assert pid is not None
    return pid


def list_projects(conn: Connection) -> list[Project]:
    rows = conn.execute(
        select(projects.c.name, projects.c.description, projects.c.created_at).order_by(
            projects.c.name
        )
    )
    return [Project(name=r[0], description=r[1], created_at=r[2]) for r in rows]


def get_project(conn: Connection, name: str) -> Project | None:
    r = conn.execute(
        select(projects.c.name, projects.c.description, projects.c.created_at).where(
            projects.c.name == name
        )
    ).first()
    return None if r is None else Project(name=r[0], description=r[1], created_at=r[2])


# ---------------------------------------------------------------- runs


def insert_run(conn: Connection, **values: Any) -> None:
    values = dict(values)
    values["packages"] = json.dumps(values.get("packages") or {}, sort_keys=True)
    conn.execute(insert(runs).values(**values))


def run_state(conn: Connection, run_id: str) -> str | None:
    return conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()


def finish_run(
    conn: Connection, run_id: str, status: str, end_time: int, error: str | None
) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, end_time=end_time, error=error, heartbeat_at=end_time)
    )


def heartbeat(conn: Connection, run_id: str, now: int) -> None:
    conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.status == "running").values(heartbeat_at=now)
    )


def stale_running_runs(conn: Connection, cutoff: int) -> list[str]:
    rows = conn.execute(
        select(runs.c.id).where(runs.c.status == "running", runs.c.heartbeat_at < cutoff)
    )
    return [r[0] for r in rows]


def fail_stale_runs(conn: Connection, run_ids: Sequence[str], cutoff: int, message: str) -> int:
    result = conn.execute(
        update(runs)
        .where(runs.c.id.in_(run_ids), runs.c.status == "running", runs.c.heartbeat_at < cutoff)
        .values(status="failed", end_time=runs.c.heartbeat_at, error=message)
    )
    return result.rowcount or 0


_RUN_COLUMNS = [
    runs.c.id,
    projects.c.name,
    runs.c.name,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.parent_id,
    runs.c.git_commit,
    runs.c.git_dirty,
    runs.c.host,
    runs.c.user,
    runs.c.python_version,
    runs.c.packages,
    runs.c.error,
    runs.c.heartbeat_at,
]


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Whole run records (params, latest metrics, tags) in the order of ``run_ids``."""
    if not run_ids:
        return []
    ids = list(run_ids)
    base = {
        r[0]: r
        for r in conn.execute(
            select(*_RUN_COLUMNS)
            .join(projects, projects.c.id == runs.c.project_id)
            .where(runs.c.id.in_(ids))
        )
    }
    p: dict[str, dict[str, str]] = defaultdict(dict)
    for rid, k, v in conn.execute(
        select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(ids))
    ):
        p[rid][k] = v
    t: dict[str, dict[str, str]] = defaultdict(dict)
    for rid, k, v in conn.execute(
        select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(ids))
    ):
        t[rid][k] = v
    m: dict[str, dict[str, float]] = defaultdict(dict)
    for rid, k, v in conn.execute(
        select(metric_series.c.run_id, metric_series.c.key, metric_series.c.value).where(
            metric_series.c.run_id.in_(ids)
        )
    ):
        m[rid][k] = math.nan if v is None else v
    out = []
    for rid in ids:
        r = base.get(rid)
        if r is None:
            continue
        out.append(
            Run(
                id=r[0],
                project=r[1],
                name=r[2],
                status=r[3],
                start_time=r[4],
                end_time=r[5],
                parent_id=r[6],
                git_commit=r[7],
                git_dirty=r[8],
                host=r[9],
                user=r[10],
                python_version=r[11],
                packages=json.loads(r[12]) if r[12] else {},
                error=r[13],
                heartbeat_at=r[14],
                params=dict(sorted(p[rid].items())),
                metrics=dict(sorted(m[rid].items())),
                tags=dict(sorted(t[rid].items())),
            )
        )
    return out


# ---------------------------------------------------------------- params and tags


def add_params(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    """Params are write-once: re-logging the same value is a no-op, another value an error."""
    if not values:
        return
    existing = dict(
        conn.execute(
            select(params.c.key, params.c.value).where(
                params.c.run_id == run_id, params.c.key.in_(list(values))
            )
        ).all()
    )
    for key, value in values.items():
        if key in existing and existing[key] != value:
            raise ParamConflictError(
                f"param {key!r} of run {run_id} is already {existing[key]!r}; "
                f"params are write-once and cannot become {value!r}",
                field=f"params.{key}",
            )
    new = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items() if k not in existing]
    if new:
        conn.execute(insert(params), new)


def set_tags(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    conn.execute(delete(tags).where(tags.c.run_id == run_id, tags.c.key.in_(list(values))))
    conn.execute(
        insert(tags), [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
    )


def value_equals(column: Any, value: str) -> Any:
    """An equality on a param/tag value that the prefix index can serve."""
    return (func.substr(column, 1, VALUE_INDEX_PREFIX) == value[:VALUE_INDEX_PREFIX]) & (
        column == value
    )


# ---------------------------------------------------------------- metrics


def add_metrics(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    values: Sequence[float],
    steps: Sequence[int],
    timestamps: Sequence[int],
) -> None:
    """Append points and move each series' latest value (highest step, then timestamp)."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        by_key[k].append(i)
    existing = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            select(
                metric_series.c.key,
                metric_series.c.id,
                metric_series.c.step,
                metric_series.c.timestamp,
            ).where(metric_series.c.run_id == run_id, metric_series.c.key.in_(list(by_key)))
        )
    }
    rows: list[tuple[int, int, int, float | None]] = []
    for key, idx in by_key.items():
        last = max(idx, key=lambda i: (steps[i], timestamps[i]))
        lv = _db_value(values[last])
        ls, lt = steps[last], timestamps[last]
        if key in existing:
            sid, s0, t0 = existing[key]
            newer = (ls, lt) >= (s0, t0)
            upd: dict[str, Any] = {"count": metric_series.c.count + len(idx)}
            if newer:
                upd.update(value=lv, step=ls, timestamp=lt)
            conn.execute(update(metric_series).where(metric_series.c.id == sid).values(**upd))
        else:
            sid = conn.execute(
                insert(metric_series)
                .values(run_id=run_id, key=key, value=lv, step=ls, timestamp=lt, count=len(idx))
                .returning(metric_series.c.id)
            ).scalar_one()
        rows.extend((sid, steps[i], timestamps[i], _db_value(values[i])) for i in idx)
    _bulk_insert_points(conn, rows)


def _db_value(v: float) -> float | None:
    return None if v != v else v  # NaN is stored as NULL


def _bulk_insert_points(conn: Connection, rows: list[tuple[int, int, int, float | None]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) > 200:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            with cur.copy(
                "COPY metric_points (series_id, step, timestamp, value) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO metric_points (series_id, step, timestamp, value) "
        f"VALUES ({ph}, {ph}, {ph}, {ph})",
        rows,  # type: ignore[arg-type]
    )


def metric_history(conn: Connection, run_id: str, key: str) -> MetricHistory:
    sid = conn.execute(
        select(metric_series.c.id).where(
            metric_series.c.run_id == run_id, metric_series.c.key == key
        )
    ).scalar()
    steps: list[int] = []
    vals: list[float] = []
    stamps: list[int] = []
    if sid is not None:
        ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        result = conn.exec_driver_sql(
            "SELECT step, timestamp, value FROM metric_points "
            f"WHERE series_id = {ph} ORDER BY step, timestamp",
            (sid,),
        )
        data = result.fetchall()
        if data:
            s, t, v = zip(*data, strict=True)
            steps, stamps = list(s), list(t)
            vals = [math.nan if x is None else x for x in v]
    return MetricHistory(run_id=run_id, key=key, steps=steps, values=vals, timestamps=stamps)


def metric_keys(conn: Connection, run_id: str) -> list[str]:
    rows = conn.execute(
        select(metric_series.c.key).where(metric_series.c.run_id == run_id).order_by("key")
    )
    return [r[0] for r in rows]


# ---------------------------------------------------------------- artifacts


def put_artifact(
    conn: Connection, run_id: str, path: str, digest: str, size: int, now: int
) -> None:
    conn.execute(delete(artifacts).where(artifacts.c.run_id == run_id, artifacts.c.path == path))
    conn.execute(
        insert(artifacts).values(run_id=run_id, path=path, digest=digest, size=size, created_at=now)
    )


def list_artifacts(conn: Connection, run_id: str, prefix: str = "") -> list[Artifact]:
    q = select(
        artifacts.c.run_id,
        artifacts.c.path,
        artifacts.c.digest,
        artifacts.c.size,
        artifacts.c.created_at,
    ).where(artifacts.c.run_id == run_id)
    if prefix:
        q = q.where(
            (artifacts.c.path == prefix)
            | (func.substr(artifacts.c.path, 1, len(prefix) + 1) == prefix.rstrip("/") + "/")
        )
    return [
        Artifact(run_id=r[0], path=r[1], digest=r[2], size=r[3], created_at=r[4])
        for r in conn.execute(q.order_by(artifacts.c.path))
    ]


def referenced_digests(conn: Connection) -> set[str]:
    out: set[str] = set()
    for col in DIGEST_COLUMNS:
        out.update(r[0] for r in conn.execute(select(col).distinct()))
    return out


# ---------------------------------------------------------------- lineage


def add_edges(conn: Connection, edges: Iterable[LineageEdge]) -> None:
    for e in edges:
        stmt = _insert_ignore(conn, lineage_edges).values(
            source_kind=e.source_kind,
            source_id=e.source_id,
            relation=e.relation,
            target_kind=e.target_kind,
            target_id=e.target_id,
            created_at=e.created_at,
        )
        conn.execute(stmt)


def edges_of(conn: Connection, kind: str, ident: str) -> list[LineageEdge]:
    le = lineage_edges
    q = (
        select(
            le.c.source_kind,
            le.c.source_id,
            le.c.relation,
            le.c.target_kind,
            le.c.target_id,
            le.c.created_at,
        )
        .where(
            (tuple_(le.c.source_kind, le.c.source_id) == (kind, ident))
            | (tuple_(le.c.target_kind, le.c.target_id) == (kind, ident))
        )
        .order_by(le.c.id)
    )
    return [
        LineageEdge(
            source_kind=r[0],
            source_id=r[1],
            relation=r[2],
            target_kind=r[3],
            target_id=r[4],
            created_at=r[5],
        )
        for r in conn.execute(q)
    ]


def _insert_ignore(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
