"""The runs repository: SQL for projects, runs, params, tags, metrics, artifacts and lineage.

It knows tables, not ML: callers validate, check states and supply timestamps.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import ConflictError, ParamConflictError, ProjectDeletedError
from setpoint.core.types import Artifact, LineageEdge, MetricHistory, Project, Run, RunInput
from setpoint.store.metadata.statements import VALUE_INDEX_PREFIX, fetch_all
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.statements import insert_rows as _insert_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# SQLAlchemy and the table definitions are imported where a statement is built with them:
# the hand-written SQL of the hot paths runs without them (lite.py).


_KV = ("run_id", "key", "value")
_KV_TYPES = ("text", "text", "text")


# ---------------------------------------------------------------- projects


def project_id(conn: Connection, name: str) -> int | None:
    row = _sql(conn, "SELECT id FROM projects WHERE name = ?", (name,)).first()
    return None if row is None else row[0]


def ensure_project(conn: Connection, name: str, now: int, description: str = "") -> int:
    """Return the project's id, creating it if needed (safe against a concurrent creator)."""
    pid = project_id(conn, name)
    if pid is not None:
        return pid
    _sql(
        conn,
        "INSERT INTO projects (name, description, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        (name, description, now),
    )
    pid = project_id(conn, name)
    assert pid is not None
    return pid


def ensure_live_project(conn: Connection, name: str, now: int) -> int:
    """Like :func:`ensure_project`, for something new in the project: a deleted project
    takes nothing new until it is restored."""
    pid = ensure_project(conn, name, now)
    require_live_project(conn, pid, name)
    return pid


def require_live_project(conn: Connection, project_id: int, name: str) -> None:
    if project_deleted(conn, project_id):
        raise ProjectDeletedError(
            f"project {name!r} is deleted; restore it first (`setpoint projects restore {name}`)",
            field="project",
        )


_PROJECT_COLUMNS = "p.id, p.name, p.description, p.created_at, p.deleted_at"


def list_projects(conn: Connection, deleted: bool | None = False) -> list[Project]:
    """Projects by name, without their tags: live ones (``deleted=False``), deleted ones
    (True) or all (None)."""
    where = "" if deleted is None else f" WHERE p.deleted_at IS {'NOT ' if deleted else ''}NULL"
    rows = _sql(conn, f"SELECT {_PROJECT_COLUMNS} FROM projects p{where} ORDER BY p.name").all()
    return [_project(r, {}) for r in rows]


def get_project(conn: Connection, name: str) -> Project | None:
    """The project of that name with its tags, deleted or not."""
    r = _sql(conn, f"SELECT {_PROJECT_COLUMNS} FROM projects p WHERE p.name = ?", (name,)).first()
    if r is None:
        return None
    tags = fetch_all(conn, "SELECT key, value FROM project_tags WHERE project_id = ?", (r[0],))
    return _project(r, dict(sorted(tags)))


def _project(r: Any, tags: dict[str, str]) -> Project:
    return Project(name=r[1], description=r[2], created_at=r[3], deleted_at=r[4], tags=tags)


def project_deleted(conn: Connection, project_id: int) -> bool:
    row = _sql(conn, "SELECT deleted_at FROM projects WHERE id = ?", (project_id,)).first()
    return row is not None and row[0] is not None


def live_project_ids(conn: Connection) -> list[int] | None:
    """The ids of the projects not deleted, or None when no project is deleted (so that
    a search of every project need not name them)."""
    rows = fetch_all(conn, "SELECT id, deleted_at FROM projects")
    if all(r[1] is None for r in rows):
        return None
    return [r[0] for r in rows if r[1] is None]


def set_project_deleted(conn: Connection, name: str, deleted_at: int | None) -> bool:
    """Mark a project deleted (a time) or live again (None); False when nothing changed."""
    state = "IS NULL" if deleted_at is not None else "IS NOT NULL"
    row = _sql(
        conn,
        f"UPDATE projects SET deleted_at = ? WHERE name = ? AND deleted_at {state} RETURNING id",
        (deleted_at, name),
    ).first()
    return row is not None


def set_project_tags(conn: Connection, project_id: int, values: dict[str, str]) -> None:
    if not values:
        return
    _sql(
        conn,
        "INSERT INTO project_tags (project_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value",
        [(project_id, k, v) for k, v in values.items()],
    )


def delete_project_tag(conn: Connection, project_id: int, key: str) -> bool:
    row = _sql(
        conn,
        "DELETE FROM project_tags WHERE project_id = ? AND key = ? RETURNING key",
        (project_id, key),
    ).first()
    return row is not None


# ---------------------------------------------------------------- runs


_RUN_INSERT = (
    "INSERT INTO runs (id, project_id, name, status, start_time, parent_id, git_commit, "
    'git_dirty, host, "user", python_version, packages, heartbeat_at) '
    "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_run(conn: Connection, run: Run, project_id: int) -> None:
    """Insert a new running run and its tags."""
    _sql(
        conn,
        _RUN_INSERT,
        (
            run.id,
            project_id,
            run.name,
            run.start_time,
            run.parent_id,
            run.git_commit,
            run.git_dirty,
            run.host,
            run.user,
            run.python_version,
            json.dumps(run.packages, sort_keys=True),
            run.heartbeat_at,
        ),
    )
    if run.tags:
        _insert_rows(conn, "tags", _KV, _KV_TYPES, [(run.id, k, v) for k, v in run.tags.items()])


PROJECT_DELETED = "project deleted"


def run_state(conn: Connection, run_id: str) -> str | None:
    """The run's status, ``"deleted"`` while it is deleted, PROJECT_DELETED while its
    project is, None when there is no such run."""
    row = _sql(
        conn,
        "SELECT r.status, r.deleted_at, p.deleted_at FROM runs r "
        "JOIN projects p ON p.id = r.project_id WHERE r.id = ?",
        (run_id,),
    ).first()
    if row is None:
        return None
    if row[1] is not None:
        return "deleted"
    return row[0] if row[2] is None else PROJECT_DELETED


def set_run_deleted(conn: Connection, run_id: str, deleted_at: int | None) -> str | None:
    """Mark a run deleted (a time) or live again (None); its project's name, or None when
    nothing changed (no such run, or already in that state)."""
    state = "IS NULL" if deleted_at is not None else "IS NOT NULL"
    row = _sql(
        conn,
        f"UPDATE runs SET deleted_at = ? WHERE id = ? AND deleted_at {state} RETURNING project_id",
        (deleted_at, run_id),
    ).first()
    if row is None:
        return None
    return str(_sql(conn, "SELECT name FROM projects WHERE id = ?", (row[0],)).scalar_one())


def add_inputs(conn: Connection, run_id: str, inputs: Sequence[RunInput], now: int) -> None:
    """Record datasets a run read; one already recorded (same name and digest) stays as it was."""
    if not inputs:
        return
    _sql(
        conn,
        "INSERT INTO run_inputs (run_id, name, digest, source_type, source, schema, profile, "
        "tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, name, digest) DO NOTHING",
        [
            (
                run_id,
                i.name,
                i.digest,
                i.source_type,
                i.source,
                i.schema,
                i.profile,
                json.dumps(i.tags, sort_keys=True),
                now,
            )
            for i in inputs
        ],
    )


def list_inputs(conn: Connection, run_id: str) -> list[RunInput]:
    rows = fetch_all(
        conn,
        "SELECT name, digest, source_type, source, schema, profile, tags FROM run_inputs "
        "WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    return [
        RunInput(
            name=r[0],
            digest=r[1],
            source_type=r[2],
            source=r[3],
            schema=r[4],
            profile=r[5],
            tags=json.loads(r[6]),
        )
        for r in rows
    ]


def run_tag(conn: Connection, run_id: str, key: str) -> str | None:
    """The value of the run's tag ``key``, or None."""
    row = _sql(conn, "SELECT value FROM tags WHERE run_id = ? AND key = ?", (run_id, key)).first()
    return None if row is None else str(row[0])


def delete_tag(conn: Connection, run_id: str, key: str) -> bool:
    row = _sql(
        conn, "DELETE FROM tags WHERE run_id = ? AND key = ? RETURNING key", (run_id, key)
    ).first()
    return row is not None


def finish_run(
    conn: Connection, run_id: str, status: str, end_time: int, error: str | None
) -> bool:
    """End a running run; False when the run does not exist or has ended already."""
    row = _sql(
        conn,
        "UPDATE runs SET status = ?, end_time = ?, error = ?, heartbeat_at = ? "
        "WHERE id = ? AND status = 'running' AND deleted_at IS NULL RETURNING id",
        (status, end_time, error, end_time, run_id),
    ).first()
    return row is not None


def rename_run(conn: Connection, run_id: str, name: str) -> None:
    _sql(conn, "UPDATE runs SET name = ? WHERE id = ?", (name, run_id))


def heartbeat(conn: Connection, run_id: str, now: int) -> None:
    _sql(
        conn,
        # a run made without heartbeats (heartbeat_at NULL) stays without them
        "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running' "
        "AND heartbeat_at IS NOT NULL",
        (now, run_id),
    )


def stale_running_runs(conn: Connection, cutoff: int) -> list[str]:
    sql = "SELECT id FROM runs WHERE status = 'running' AND heartbeat_at < ?"
    return [r[0] for r in _sql(conn, sql, (cutoff,))]


def latest_tagged(
    conn: Connection, project_id: int, tags: dict[str, str], status: str, limit: int
) -> list[str]:
    """Ids of the project's runs (not deleted) in ``status`` that carry every one of
    ``tags``, newest first (as a search ordered by start time is): found through the
    first tag's index, whatever the project's size."""
    (key, value), *others = tags.items()
    where = f"t.key = ? AND substr(t.value, 1, {VALUE_INDEX_PREFIX}) = ?"
    params: list[object] = [key, value[:VALUE_INDEX_PREFIX]]
    if len(value) >= VALUE_INDEX_PREFIX:
        where += " AND t.value = ?"
        params.append(value)
    for k, v in others:
        where += (
            " AND EXISTS (SELECT 1 FROM tags o WHERE o.run_id = r.id AND o.key = ? AND o.value = ?)"
        )
        params += [k, v]
    sql = (
        f"SELECT r.id FROM tags t JOIN runs r ON r.id = t.run_id WHERE {where} "
        "AND r.project_id = ? AND r.status = ? AND r.deleted_at IS NULL "
        "ORDER BY r.start_time DESC, r.id DESC LIMIT ?"
    )
    return [r[0] for r in _sql(conn, sql, (*params, project_id, status, limit))]


def fail_stale_runs(
    conn: Connection, run_ids: Sequence[str], cutoff: int, message: str
) -> list[tuple[str, str]]:
    """Fail those of ``run_ids`` still running with a heartbeat older than ``cutoff``;
    returns (run id, project) of each run failed here."""
    failed: list[Any] = []
    for at in range(0, len(run_ids), _IDS_PER_STATEMENT):
        ids = tuple(run_ids[at : at + _IDS_PER_STATEMENT])
        marks = ", ".join("?" * len(ids))
        failed += _sql(
            conn,
            "UPDATE runs SET status = 'failed', end_time = heartbeat_at, error = ? "
            f"WHERE id IN ({marks}) AND status = 'running' AND heartbeat_at < ? "
            "RETURNING id, project_id",
            (message, *ids, cutoff),
        ).all()
    if not failed:
        return []
    pids = tuple({r[1] for r in failed})
    marks = ", ".join("?" * len(pids))
    names = dict(_sql(conn, f"SELECT id, name FROM projects WHERE id IN ({marks})", pids).all())
    return [(r[0], names[r[1]]) for r in failed]


_RUN_SELECT = (
    "SELECT r.id, p.name, r.name, r.status, r.start_time, r.end_time, r.parent_id, "
    'r.git_commit, r.git_dirty, r.host, r."user", r.python_version, r.packages, r.error, '
    "r.heartbeat_at, r.deleted_at FROM runs r JOIN projects p ON p.id = r.project_id "
    "WHERE r.id IN "
)


_NO_NUMBER = "CAST(NULL AS DOUBLE PRECISION)"
_NO_TEXT = "CAST(NULL AS TEXT)"


# Ids a statement names at most: under SQLite's usual cap of 32,766 variables a statement,
# and PostgreSQL's 65,535 parameters; loading runs names each id three times.
_IDS_PER_STATEMENT = 10_000
_RUNS_PER_STATEMENT = _IDS_PER_STATEMENT // 3


def load_runs(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """Whole run records (params, latest metrics, tags) in the order of ``run_ids``."""
    if not run_ids:
        return []
    if len(run_ids) > _RUNS_PER_STATEMENT:  # a search's page may hold up to 50,000
        return [
            run
            for at in range(0, len(run_ids), _RUNS_PER_STATEMENT)
            for run in load_runs(conn, run_ids[at : at + _RUNS_PER_STATEMENT])
        ]
    ids = tuple(run_ids)
    marks = "(" + ", ".join("?" * len(ids)) + ")"
    base = {r[0]: r for r in _sql(conn, _RUN_SELECT + marks, ids)}
    p: dict[str, dict[str, str]] = defaultdict(dict)
    t: dict[str, dict[str, str]] = defaultdict(dict)
    m: dict[str, dict[str, float]] = defaultdict(dict)
    sql = (
        f"SELECT 0, run_id, key, value, {_NO_NUMBER} FROM params WHERE run_id IN {marks} "
        f"UNION ALL SELECT 1, run_id, key, value, {_NO_NUMBER} FROM tags WHERE run_id IN {marks} "
        f"UNION ALL SELECT 2, run_id, key, {_NO_TEXT}, value FROM metric_series "
        f"WHERE run_id IN {marks}"
    )
    for kind, rid, k, text, num in fetch_all(conn, sql, ids * 3):
        if kind == 0:
            p[rid][k] = text
        elif kind == 1:
            t[rid][k] = text
        else:
            m[rid][k] = math.nan if num is None else num
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
                git_dirty=None if r[8] is None else bool(r[8]),
                host=r[9],
                user=r[10],
                python_version=r[11],
                packages=json.loads(r[12]) if r[12] else {},
                error=r[13],
                heartbeat_at=r[14],
                params=dict(sorted(p[rid].items())),
                metrics=dict(sorted(m[rid].items())),
                tags=dict(sorted(t[rid].items())),
                deleted_at=r[15],
            )
        )
    return out


def latest_points(
    conn: Connection, run_ids: Sequence[str]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Run id -> metric key -> (step, timestamp) of the point its latest value is (the one
    ``load_runs`` reports: highest step, then latest timestamp)."""
    out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for at in range(0, len(run_ids), _IDS_PER_STATEMENT):
        ids = tuple(run_ids[at : at + _IDS_PER_STATEMENT])
        marks = "(" + ", ".join("?" * len(ids)) + ")"
        sql = f"SELECT run_id, key, step, timestamp FROM metric_series WHERE run_id IN {marks}"
        for rid, key, step, stamp in fetch_all(conn, sql, ids):
            out[rid][key] = (step, stamp)
    return dict(out)


# ---------------------------------------------------------------- params and tags


def add_params(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    """Params are write-once: re-logging the same value is a no-op, another value an error."""
    if not values:
        return
    rows = [(run_id, k, v) for k, v in values.items()]
    inserted = _insert_rows(
        conn,
        "params",
        _KV,
        _KV_TYPES,
        rows,
        returning="key",
        on_conflict="ON CONFLICT (run_id, key) DO NOTHING",
    )
    if len(inserted) == len(rows):
        return
    done = {r[0] for r in inserted}
    again = [k for k in values if k not in done]
    marks = ", ".join("?" * len(again))
    existing = dict(
        _sql(
            conn,
            f"SELECT key, value FROM params WHERE run_id = ? AND key IN ({marks})",
            (run_id, *again),
        ).all()
    )
    for key in again:
        if existing.get(key) != values[key]:
            raise ParamConflictError(
                f"param {key!r} of run {run_id} is already {existing.get(key)!r}; "
                f"params are write-once and cannot become {values[key]!r}",
                field=f"params.{key}",
            )


def set_tags(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    _insert_rows(
        conn,
        "tags",
        _KV,
        _KV_TYPES,
        [(run_id, k, v) for k, v in values.items()],
        on_conflict="ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )


def value_equals(column: Any, value: str) -> Any:
    """An equality on a param/tag value that the prefix index can serve.

    For a value shorter than the prefix, prefix equality already implies full equality; saying
    only that keeps the planner's row estimate right (two predicates would be counted twice).
    The prefix's bounds are literals, as in the index: SQLite matches an expression index
    only to the very same expression, and ``substr(value, ?, ?)`` is not it.
    """
    from sqlalchemy import func, literal_column

    prefix = func.substr(column, literal_column("1"), literal_column(str(VALUE_INDEX_PREFIX)))
    if len(value) < VALUE_INDEX_PREFIX:
        return prefix == value
    return (prefix == value[:VALUE_INDEX_PREFIX]) & (column == value)


# ---------------------------------------------------------------- metrics


def add_metrics(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    values: Sequence[float],
    steps: Sequence[int],
    timestamps: Sequence[int],
) -> None:
    """Append points (one chunk row per key) and move each series' latest value."""
    import numpy as np

    by_key: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        by_key[k].append(i)
    latest = []
    for key, idx in by_key.items():
        # of points at one step and time, the last logged wins, as across flushes (_NEWER)
        last = max(idx, key=lambda i: (steps[i], timestamps[i], i)) if len(idx) > 1 else idx[0]
        latest.append(
            (run_id, key, _db_value(values[last]), steps[last], timestamps[last], len(idx))
        )
    # One upsert moves every series' latest point (highest step, then timestamp) and count,
    # and hands back the series ids the chunks need.
    series_id = {
        key: sid
        for sid, key in _insert_rows(
            conn,
            "metric_series",
            ("run_id", "key", "value", "step", "timestamp", "count"),
            ("text", "text", "float8", "int8", "int8", "int8"),
            latest,
            returning="id, key",
            on_conflict=_SERIES_UPSERT,
        )
    }
    chunks = []
    all_in_order = len(by_key) == 1
    for k, idx in by_key.items():
        if all_in_order:
            st_arr = np.asarray(steps, dtype="<i8")
            ts_arr = np.asarray(timestamps, dtype="<i8")
            v_arr = np.asarray(values, dtype="<f8")
        else:
            st_arr = np.asarray([steps[i] for i in idx], dtype="<i8")
            ts_arr = np.asarray([timestamps[i] for i in idx], dtype="<i8")
            v_arr = np.asarray([values[i] for i in idx], dtype="<f8")
        chunks.append((series_id[k], len(idx), st_arr.tobytes(), ts_arr.tobytes(), v_arr.tobytes()))
    _insert_rows(
        conn,
        "metric_chunks",
        ("series_id", "count", "step_data", "time_data", "value_data"),
        ("int4", "int4", "bytea", "bytea", "bytea"),
        chunks,
    )


def has_metric_batch(conn: Connection, run_id: str, batch_id: str) -> bool:
    """Whether the run stored the metric batch of this id already."""
    sql = "SELECT 1 FROM metric_batches WHERE run_id = ? AND batch_id = ?"
    return _sql(conn, sql, (run_id, batch_id)).first() is not None


def claim_metric_batch(conn: Connection, run_id: str, batch_id: str) -> bool:
    """Record the batch as stored by this transaction; False when another one (that has
    committed) stored it first."""
    sql = (
        "INSERT INTO metric_batches (run_id, batch_id) VALUES (?, ?) "
        "ON CONFLICT (run_id, batch_id) DO NOTHING RETURNING batch_id"
    )
    return _sql(conn, sql, (run_id, batch_id)).first() is not None


def forget_metric_batches(conn: Connection, ended_before: int, dry_run: bool) -> int:
    """Forget (or with ``dry_run``, count) the metric batch ids of runs that ended before
    ``ended_before`` (ms). A writer sends a batch again while its run is running; an ended
    run's ids only guard against a retry arriving long after its end."""
    where = (
        "FROM metric_batches WHERE run_id IN "
        "(SELECT id FROM runs WHERE status <> 'running' AND end_time <= ?)"
    )
    if dry_run:
        return int(_sql(conn, f"SELECT count(*) {where}", (ended_before,)).scalar_one())
    return int(_sql(conn, f"DELETE {where}", (ended_before,)).rowcount)


_NEWER = (
    "(excluded.step > metric_series.step OR (excluded.step = metric_series.step "
    "AND excluded.timestamp >= metric_series.timestamp))"
)
_SERIES_UPSERT = (
    "ON CONFLICT (run_id, key) DO UPDATE SET "
    f"value = CASE WHEN {_NEWER} THEN excluded.value ELSE metric_series.value END, "
    f"step = CASE WHEN {_NEWER} THEN excluded.step ELSE metric_series.step END, "
    f"timestamp = CASE WHEN {_NEWER} THEN excluded.timestamp ELSE metric_series.timestamp END, "
    "count = metric_series.count + excluded.count"
)


def _db_value(v: float) -> float | None:
    return None if v != v else v  # NaN is stored as NULL (SQLite cannot hold NaN)


def metric_history(conn: Connection, run_id: str, key: str) -> MetricHistory:
    steps, stamps, vals = metric_arrays(conn, run_id, key)
    return MetricHistory(
        run_id=run_id,
        key=key,
        steps=steps.tolist(),
        values=vals.tolist(),
        timestamps=stamps.tolist(),
    )


def metric_arrays(conn: Connection, run_id: str, key: str) -> tuple[Any, Any, Any]:
    """A metric's steps, timestamps and values as numpy arrays, ordered by step then time."""
    import numpy as np

    rows = _sql(
        conn,
        "SELECT c.step_data, c.time_data, c.value_data FROM metric_chunks c "
        "JOIN metric_series s ON s.id = c.series_id "
        "WHERE s.run_id = ? AND s.key = ? ORDER BY c.id",
        (run_id, key),
    ).all()
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)
    steps = np.concatenate([np.frombuffer(r[0], dtype="<i8") for r in rows])
    stamps = np.concatenate([np.frombuffer(r[1], dtype="<i8") for r in rows])
    vals = np.concatenate([np.frombuffer(r[2], dtype="<f8") for r in rows])
    if len(steps) > 1 and not (
        np.all(steps[1:] > steps[:-1])
        or (np.all(steps[1:] >= steps[:-1]) and _ties_in_time_order(steps, stamps))
    ):
        order = np.lexsort((stamps, steps))  # by step, then timestamp; stable
        steps, stamps, vals = steps[order], stamps[order], vals[order]
    return steps, stamps, vals


def _ties_in_time_order(steps: Any, stamps: Any) -> bool:
    import numpy as np

    same = steps[1:] == steps[:-1]
    return bool(np.all(stamps[1:][same] >= stamps[:-1][same])) if same.any() else True


# ---------------------------------------------------------------- artifacts


def put_artifact(
    conn: Connection, run_id: str, path: str, digest: str, size: int, now: int
) -> None:
    """Store (or replace) the artifact at ``path``; a path cannot name a file and a folder:
    an artifact at one of its parent folders, or under it, is a conflict."""
    from sqlalchemy import func, select

    from setpoint.store.metadata.tables import artifacts

    parents = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
    clash = conn.execute(
        select(artifacts.c.path)
        .where(
            artifacts.c.run_id == run_id,
            artifacts.c.path.in_(parents)
            | (func.substr(artifacts.c.path, 1, len(path) + 1) == path + "/"),
        )
        .limit(1)
    ).scalar()
    if clash is not None:
        why = (
            f"{clash!r} is a file, so it cannot be a folder"
            if clash in parents
            else f"it is a folder (it holds {clash!r}), so it cannot be a file"
        )
        raise ConflictError(f"artifact path {path!r}: {why}", field="path")
    _sql(
        conn,
        "INSERT INTO artifacts (run_id, path, digest, size, created_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, path) DO UPDATE SET digest = excluded.digest, "
        "size = excluded.size, created_at = excluded.created_at",
        (run_id, path, digest, size, now),
    )


def list_artifacts(conn: Connection, run_id: str, prefix: str = "") -> list[Artifact]:
    from sqlalchemy import func, select

    from setpoint.store.metadata.tables import artifacts

    q = select(
        artifacts.c.run_id,
        artifacts.c.path,
        artifacts.c.digest,
        artifacts.c.size,
        artifacts.c.created_at,
    ).where(artifacts.c.run_id == run_id)
    prefix = prefix.rstrip("/")
    if prefix:
        q = q.where(
            (artifacts.c.path == prefix)
            | (func.substr(artifacts.c.path, 1, len(prefix) + 1) == prefix + "/")
        )
    return [
        Artifact(run_id=r[0], path=r[1], digest=r[2], size=r[3], created_at=r[4])
        for r in conn.execute(q.order_by(artifacts.c.path))
    ]


# The run tag in which a pipeline step records its output (client/pipelines.py): a JSON
# record whose "digest" is, for JSON, numpy and pickled outputs, a blob nothing else names.
STEP_OUTPUT_TAG = "output"


def referenced_digests(conn: Connection) -> set[str]:
    from sqlalchemy import select

    from setpoint.store.metadata.tables import DIGEST_COLUMNS
    from setpoint.store.metadata.tables import tags as run_tags

    out: set[str] = set()
    for col in DIGEST_COLUMNS:
        out.update(r[0] for r in conn.execute(select(col).distinct()) if r[0])
    named = select(run_tags.c.value).where(run_tags.c.key == STEP_OUTPUT_TAG)
    for (value,) in conn.execute(named):
        try:
            record = json.loads(value)
        except ValueError:
            continue  # a user's own tag of that name
        if isinstance(record, dict) and isinstance(record.get("digest"), str):
            out.add(record["digest"])
    return out


# ---------------------------------------------------------------- lineage


def add_edges(conn: Connection, edges: Iterable[LineageEdge]) -> None:
    """Record each edge once (one already recorded is left as it is)."""
    rows = [
        (e.source_kind, e.source_id, e.relation, e.target_kind, e.target_id, e.created_at)
        for e in edges
    ]
    if rows:  # a list of rows: one statement for each
        _sql(
            conn,
            "INSERT INTO lineage_edges (source_kind, source_id, relation, target_kind, "
            "target_id, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
        )


def edges_of(conn: Connection, kind: str, ident: str) -> list[LineageEdge]:
    from sqlalchemy import select, tuple_

    from setpoint.store.metadata.tables import lineage_edges

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
