"""The datasets repository: SQL for datasets and their versions (no data, no Parquet)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from setpoint.core.types import Dataset, DatasetFile, DatasetVersion, ValidationRecord
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.statements import insert_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_VERSION_COLUMNS = (
    "p.name, d.name, v.version, v.digest, v.size, v.num_rows, v.schema, v.source, "
    "v.description, v.parents, v.creator, v.created_at, v.kind, v.profile_digest"
)
_JOINS = "JOIN datasets d ON d.id = v.dataset_id JOIN projects p ON p.id = d.project_id"
_FROM = f"FROM dataset_versions v {_JOINS}"


def _version(row: Any, created: bool = True) -> DatasetVersion:
    return DatasetVersion(
        project=row[0],
        name=row[1],
        version=row[2],
        digest=row[3],
        size=row[4],
        num_rows=row[5],
        schema=json.loads(row[6]),
        source=row[7],
        description=row[8],
        parents=json.loads(row[9]),
        creator=row[10],
        created_at=row[11],
        kind=row[12],
        profile_digest=row[13],
        created=created,
    )


def locked_dataset_id(conn: Connection, project_id: int, name: str, now: int) -> int:
    """The dataset's id, created if needed, locked until the transaction ends (PostgreSQL;
    SQLite writers are serialised already) so two writers cannot both take version N."""
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    sql = f"SELECT id FROM datasets WHERE project_id = ? AND name = ?{lock}"
    row = _sql(conn, sql, (project_id, name)).first()
    if row is None:
        _sql(
            conn,
            "INSERT INTO datasets (project_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (project_id, name) DO NOTHING",
            (project_id, name, now),
        )
        row = _sql(conn, sql, (project_id, name)).first()
    return int(row[0])


def latest_if_digest(conn: Connection, dataset_id: int, digest: str) -> DatasetVersion | None:
    """The latest version, if it holds exactly this data."""
    row = _sql(
        conn,
        f"SELECT {_VERSION_COLUMNS} {_FROM} WHERE v.dataset_id = ? ORDER BY v.version DESC LIMIT 1",
        (dataset_id,),
    ).first()
    return None if row is None or row[3] != digest else _version(row, created=False)


def latest_if_digest_by_name(
    conn: Connection, project: str, name: str, digest: str
) -> DatasetVersion | None:
    latest = get_version(conn, project, name, None)
    if latest is None or latest.digest != digest:
        return None
    return DatasetVersion(**{**vars(latest), "created": False})


def insert_version(
    conn: Connection,
    dataset_id: int,
    *,
    digest: str,
    size: int,
    num_rows: int,
    schema: list[dict[str, str]],
    source: str,
    description: str,
    parents: list[str],
    creator: str | None,
    now: int,
    kind: str = "table",
    profile_digest: str | None = None,
) -> int:
    row = _sql(
        conn, "SELECT MAX(version) FROM dataset_versions WHERE dataset_id = ?", (dataset_id,)
    ).first()
    version = (row[0] or 0) + 1
    _sql(
        conn,
        "INSERT INTO dataset_versions (dataset_id, version, digest, size, num_rows, schema, "
        "source, description, parents, creator, created_at, kind, profile_digest) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            dataset_id,
            version,
            digest,
            size,
            num_rows,
            json.dumps(schema),
            source,
            description,
            json.dumps(parents),
            creator,
            now,
            kind,
            profile_digest,
        ),
    )
    return version


def get_version(
    conn: Connection, project: str, name: str, version: int | None
) -> DatasetVersion | None:
    where = "p.name = ? AND d.name = ?"
    if version is None:
        sql = f"SELECT {_VERSION_COLUMNS} {_FROM} WHERE {where} ORDER BY v.version DESC LIMIT 1"
        row = _sql(conn, sql, (project, name)).first()
    else:
        sql = f"SELECT {_VERSION_COLUMNS} {_FROM} WHERE {where} AND v.version = ?"
        row = _sql(conn, sql, (project, name, version)).first()
    return None if row is None else _version(row)


def list_versions(conn: Connection, project: str, name: str) -> list[DatasetVersion]:
    rows = _sql(
        conn,
        f"SELECT {_VERSION_COLUMNS} {_FROM} WHERE p.name = ? AND d.name = ? ORDER BY v.version",
        (project, name),
    )
    return [_version(r) for r in rows]


def list_datasets(conn: Connection, project: str | None) -> list[Dataset]:
    sql = (
        "SELECT p.name, d.name, d.created_at, MAX(v.version), COUNT(v.id) FROM datasets d "
        "JOIN projects p ON p.id = d.project_id JOIN dataset_versions v ON v.dataset_id = d.id "
    )
    params: tuple[Any, ...] = ()
    if project is not None:
        sql += "WHERE p.name = ? "
        params = (project,)
    sql += "GROUP BY p.name, d.name, d.created_at ORDER BY p.name, d.name"
    return [
        Dataset(project=r[0], name=r[1], created_at=r[2], latest_version=r[3], versions=r[4])
        for r in _sql(conn, sql, params)
    ]


def version_id(conn: Connection, project: str, name: str, version: int) -> int | None:
    row = _sql(
        conn,
        f"SELECT v.id {_FROM} WHERE p.name = ? AND d.name = ? AND v.version = ?",
        (project, name, version),
    ).first()
    return None if row is None else int(row[0])


def insert_files(conn: Connection, version_id: int, files: list[DatasetFile]) -> None:
    insert_rows(
        conn,
        "dataset_files",
        ("version_id", "path", "digest", "size"),
        ("integer", "text", "text", "bigint"),
        [(version_id, f.path, f.digest, f.size) for f in files],
    )


def list_files(conn: Connection, version_id: int) -> list[DatasetFile]:
    rows = _sql(
        conn,
        "SELECT path, digest, size FROM dataset_files WHERE version_id = ? ORDER BY path",
        (version_id,),
    )
    return [DatasetFile(path=r[0], digest=r[1], size=r[2]) for r in rows]


def insert_validation(
    conn: Connection,
    version_id: int,
    *,
    suite: str,
    suite_digest: str,
    environment: str | None,
    passed: bool,
    errors: int,
    warnings: int,
    checks: list[dict[str, Any]],
    creator: str | None,
    now: int,
) -> int:
    row = _sql(
        conn,
        "INSERT INTO dataset_validations (version_id, suite, suite_digest, environment, passed, "
        "errors, warnings, result, creator, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (
            version_id,
            suite,
            suite_digest,
            environment,
            passed,
            errors,
            warnings,
            json.dumps(checks),
            creator,
            now,
        ),
    ).first()
    return int(row[0])


def list_validations(
    conn: Connection, project: str, name: str, version: int
) -> list[ValidationRecord]:
    rows = _sql(
        conn,
        "SELECT x.id, x.suite, x.suite_digest, x.environment, x.passed, x.errors, x.warnings, "
        "x.result, x.creator, x.created_at FROM dataset_validations x "
        f"JOIN dataset_versions v ON v.id = x.version_id {_JOINS} "
        "WHERE p.name = ? AND d.name = ? AND v.version = ? ORDER BY x.id",
        (project, name, version),
    )
    ref = f"{project}/{name}@{version}"
    return [
        ValidationRecord(
            id=r[0],
            ref=ref,
            suite=r[1],
            suite_digest=r[2],
            environment=r[3],
            passed=bool(r[4]),
            errors=r[5],
            warnings=r[6],
            checks=json.loads(r[7]),
            creator=r[8],
            created_at=r[9],
        )
        for r in rows
    ]
