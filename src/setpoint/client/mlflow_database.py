"""Reading an MLflow tracking database: its experiments, runs (params, tags, metric
history), registered models, versions and aliases, straight from MLflow's own tables with
SQLAlchemy (no MLflow needed), opened read-only. Also the records and the interface every
MLflow source shares (a tracking server's is mlflow_server.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from setpoint.core.errors import InvalidArgumentError


@dataclass(frozen=True, kw_only=True)
class MlflowExperiment:
    id: str
    name: str
    artifact_location: str | None
    deleted: bool


@dataclass(frozen=True, kw_only=True)
class MlflowRun:
    id: str
    experiment_id: str
    name: str | None
    user: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    deleted: bool


@dataclass(frozen=True, kw_only=True)
class MlflowVersion:
    name: str
    version: int
    description: str
    source: str
    run_id: str | None
    stage: str | None
    storage_location: str | None


@dataclass(frozen=True, kw_only=True)
class MlflowLoggedModel:
    """An MLflow 3 logged model: where its files are, and what setpoint keeps of it."""

    experiment_id: str
    artifact_location: str | None
    name: str
    created_at: int | None
    source_run_id: str | None
    deleted: bool = False


class MlflowSource(Protocol):
    """What the importer reads, opened: :class:`MlflowDatabase` or
    :class:`setpoint.client.mlflow_server.MlflowServer`."""

    def close(self) -> None: ...
    def experiments(self) -> list[MlflowExperiment]: ...
    def runs(self) -> list[MlflowRun]: ...
    def experiment_tags(self) -> dict[str, dict[str, str]]: ...
    def pairs(self, table: str, run_id: str) -> list[tuple[str, Any]]: ...
    def metrics(self, run_id: str) -> list[Any]: ...
    def versions(self) -> list[MlflowVersion]: ...
    def version_tags(self) -> dict[tuple[str, int], dict[str, str]]: ...
    def aliases(self) -> list[tuple[str, str, int]]: ...
    def registered_models(self) -> dict[str, tuple[str, dict[str, str]]]: ...
    def logged_models(self) -> dict[str, MlflowLoggedModel]: ...
    def refused_experiments(self) -> dict[str, str]: ...
    def local_folder(self, uri: str | None) -> Path | None: ...
    def serves(self, uri: str | None) -> bool: ...


class MlflowDatabase:
    """MLflow's tracking database, read only. Construct, then :meth:`open`. A read that
    fails (a corrupt page, say) raises InvalidArgumentError (field ``from``) naming what
    could not be read, so that the importer lists that part and goes on with the others."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = url  # the URL as the user gave it, its password hidden
        self.engine: Any = None
        self.tables: set[str] = set()
        self.columns: dict[str, set[str]] = {}

    def open(self) -> MlflowDatabase:
        """Connect and check this is MLflow's schema; InvalidArgumentError (field ``from``)
        when the URL is unusable or names something else."""
        import sqlalchemy as sa

        try:
            url = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError:
            raise _bad(f"{self.url!r} is not a database URL (e.g. sqlite:///mlflow.db)") from None
        self.shown = url.render_as_string()  # not the read-only rewrite below
        if url.drivername.startswith("sqlite"):
            if not url.database or not os.path.isfile(url.database):
                raise _bad(f"no SQLite file at {url.database or '(none given)'}")
            # read only: an import never writes to MLflow's database
            url = url.set(
                database=f"file:{quote(os.path.abspath(url.database))}",
                query={**url.query, "mode": "ro", "uri": "true"},
            )
        try:
            self.engine = sa.create_engine(url)
            inspector = sa.inspect(self.engine)
            self.tables = set(inspector.get_table_names())
            for t in ("experiments", "runs", "model_versions", "logged_models"):
                if t in self.tables:
                    self.columns[t] = {c["name"] for c in inspector.get_columns(t)}
        except ImportError as exc:
            raise _bad(f"no driver for {url.drivername}: {exc}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise _bad(f"cannot read {self.shown}: {short_reason(exc)}") from None
        missing = {"experiments", "runs", "params", "metrics", "tags"} - self.tables
        if missing:
            raise _bad(
                f"{self.shown} is not an MLflow tracking database "
                f"(no table {', '.join(sorted(missing))})"
            )
        return self

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params).all())
        except sa.exc.SQLAlchemyError as exc:
            table = sql.partition(" FROM ")[2].split()[0]
            why = short_reason(getattr(exc, "orig", None) or exc)  # the driver's words
            raise _bad(f"cannot read table {table} of {self.shown}: {why}") from None

    def experiments(self) -> list[MlflowExperiment]:
        return [
            MlflowExperiment(
                id=str(r[0]), name=r[1], artifact_location=r[2], deleted=r[3] == "deleted"
            )
            for r in self._rows(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments "
                "ORDER BY experiment_id"
            )
        ]

    def runs(self) -> list[MlflowRun]:
        name = "name" if "name" in self.columns["runs"] else "NULL"
        return [
            MlflowRun(
                id=r[0],
                experiment_id=str(r[1]),
                name=r[2],
                user=r[3],
                status=r[4],
                start_time=r[5],
                end_time=r[6],
                artifact_uri=r[7],
                deleted=r[8] == "deleted",
            )
            for r in self._rows(
                f"SELECT run_uuid, experiment_id, {name}, user_id, status, start_time, end_time, "
                "artifact_uri, lifecycle_stage FROM runs ORDER BY start_time, run_uuid"
            )
        ]

    def experiment_tags(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if "experiment_tags" in self.tables:
            for r in self._rows("SELECT experiment_id, key, value FROM experiment_tags"):
                out.setdefault(str(r[0]), {})[r[1]] = r[2] or ""
        return out

    def pairs(self, table: str, run_id: str) -> list[tuple[str, Any]]:
        sql = f"SELECT key, value FROM {table} WHERE run_uuid = :r"
        return [(r[0], r[1]) for r in self._rows(sql, r=run_id)]

    def metrics(self, run_id: str) -> list[Any]:
        return self._rows(
            "SELECT key, value, step, timestamp, is_nan FROM metrics WHERE run_uuid = :r "
            "ORDER BY key, step, timestamp",
            r=run_id,
        )

    def versions(self) -> list[MlflowVersion]:
        if "model_versions" not in self.tables:
            if "registered_models" in self.tables:  # MLflow makes both tables together
                raise _bad("cannot read the model versions: table model_versions is missing")
            return []
        cols = self.columns["model_versions"]
        storage = "storage_location" if "storage_location" in cols else "NULL"
        return [
            MlflowVersion(
                name=r[0],
                version=int(r[1]),
                description=r[2] or "",
                source=r[3] or "",
                run_id=r[4] or None,
                stage=r[5],
                storage_location=r[6],
            )
            for r in self._rows(
                f"SELECT name, version, description, source, run_id, current_stage, {storage} "
                "FROM model_versions ORDER BY name, version"
            )
            if r[5] != "Deleted_Internal"
        ]

    def version_tags(self) -> dict[tuple[str, int], dict[str, str]]:
        out: dict[tuple[str, int], dict[str, str]] = {}
        if "model_version_tags" in self.tables:
            for r in self._rows("SELECT name, version, key, value FROM model_version_tags"):
                out.setdefault((r[0], int(r[1])), {})[r[2]] = r[3] or ""
        return out

    def aliases(self) -> list[tuple[str, str, int]]:
        if "registered_model_aliases" not in self.tables:
            return []
        rows = self._rows(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY name, alias"
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    def registered_models(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Registered models: name -> (description, tags)."""
        if "registered_models" not in self.tables:
            return {}
        out: dict[str, tuple[str, dict[str, str]]] = {
            r[0]: (r[1] or "", {})
            for r in self._rows("SELECT name, description FROM registered_models")
        }
        if "registered_model_tags" in self.tables:
            for r in self._rows("SELECT name, key, value FROM registered_model_tags"):
                if r[0] in out:
                    out[r[0]][1][r[1]] = r[2] or ""
        return out

    def refused_experiments(self) -> dict[str, str]:
        """Experiments listed but not readable (a server's 403): none in a database."""
        return {}

    def logged_models(self) -> dict[str, MlflowLoggedModel]:
        """MLflow 3's logged models, by id."""
        if "logged_models" not in self.tables:
            return {}
        cols = self.columns["logged_models"]
        more = [
            c if c in cols else "NULL"
            for c in ("name", "creation_timestamp_ms", "source_run_id", "lifecycle_stage")
        ]
        rows = self._rows(
            f"SELECT model_id, experiment_id, artifact_location, {', '.join(more)} "
            "FROM logged_models"
        )
        return {
            r[0]: MlflowLoggedModel(
                experiment_id=str(r[1]),
                artifact_location=r[2],
                name=r[3] or "model",
                created_at=r[4] if type(r[4]) is int else None,
                source_run_id=r[5] or None,
                deleted=r[6] == "deleted",
            )
            for r in rows
        }

    def local_folder(self, uri: str | None) -> Path | None:
        """None: a database holds no files, the importer looks for them on this machine."""
        return None

    def serves(self, uri: str | None) -> bool:
        """Whether :meth:`local_folder` fetches what ``uri`` names: never, for a database."""
        return False


# What a source holds: runs, model versions, aliases (model, alias, version).
Plan = tuple[list[MlflowRun], list[MlflowVersion], list[tuple[str, str, int]]]


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, field="from")


def short_reason(exc: object) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message).splitlines()[0][:300]
