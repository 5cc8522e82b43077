"""The record of a deployment's prediction log files: which Parquet blob holds which
deployment's predictions (or feedback) of which UTC day. Servers add a record per file they
write; monitoring and ``sp.prediction_log`` read them back by deployment and days."""

from __future__ import annotations

import builtins
import datetime as dt
import re
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from setpoint.core import names
from setpoint.core.errors import InvalidArgumentError
from setpoint.core.types import Deployment, PredictionLogFile
from setpoint.store.metadata import runs as runs_repo
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.tables import prediction_logs, projects

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database

KINDS = ("predictions", "feedback")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class PredictionLogs:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock

    def record(
        self,
        project: str,
        deployment: str,
        kind: str,
        day: str,
        digest: str,
        rows: int,
        first_at: int,
        last_at: int,
        dropped: int = 0,
    ) -> PredictionLogFile:
        names.check_name(project, "project")
        names.check_name(deployment, "deployment")
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        _check_day(day, "day")
        for field, value in (
            ("rows", rows),
            ("first_at", first_at),
            ("last_at", last_at),
            ("dropped", dropped),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
                raise InvalidArgumentError(f"{field} must be a whole number >= 0", field=field)
        if first_at > last_at:
            raise InvalidArgumentError("first_at must not be after last_at", field="first_at")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidArgumentError("digest must be 64 hex characters", field="digest")
        if not self.blobs.held(digest):
            raise InvalidArgumentError(
                f"blob {digest} is not in the artifact store: upload the file first",
                field="digest",
            )
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            pid = runs_repo.ensure_project(conn, project, now)
            _sql(
                conn,
                "INSERT INTO prediction_logs (project_id, deployment, kind, day, digest, rows, "
                "first_at, last_at, dropped, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, deployment, kind, day, digest, rows, first_at, last_at, dropped, now),
            )

        self.db.write_retrying(tx)
        return PredictionLogFile(
            project=project,
            deployment=deployment,
            kind=kind,
            day=day,
            digest=digest,
            rows=rows,
            first_at=first_at,
            last_at=last_at,
            dropped=dropped,
            created_at=now,
        )

    def list(
        self,
        project: str,
        deployment: str,
        kind: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> builtins.list[PredictionLogFile]:
        """Files of a deployment, oldest first; ``since`` and ``until`` are UTC days,
        both included."""
        if kind is not None and kind not in KINDS:
            raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        for field, value in (("since", since), ("until", until)):
            if value is not None:
                _check_day(value, field)
        q = (
            select(
                prediction_logs.c.deployment,
                prediction_logs.c.kind,
                prediction_logs.c.day,
                prediction_logs.c.digest,
                prediction_logs.c.rows,
                prediction_logs.c.first_at,
                prediction_logs.c.last_at,
                prediction_logs.c.dropped,
                prediction_logs.c.created_at,
            )
            .join(projects, projects.c.id == prediction_logs.c.project_id)
            .where(projects.c.name == project, prediction_logs.c.deployment == deployment)
            .order_by(prediction_logs.c.first_at, prediction_logs.c.id)
        )
        if kind is not None:
            q = q.where(prediction_logs.c.kind == kind)
        if since is not None:
            q = q.where(prediction_logs.c.day >= since)
        if until is not None:
            q = q.where(prediction_logs.c.day <= until)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [
            PredictionLogFile(
                project=project,
                deployment=r[0],
                kind=r[1],
                day=r[2],
                digest=r[3],
                rows=r[4],
                first_at=r[5],
                last_at=r[6],
                dropped=r[7],
                created_at=r[8],
            )
            for r in rows
        ]

    def deployments(self, project: str | None = None) -> builtins.list[Deployment]:
        """Every deployment that has logged predictions, with its totals, by name."""
        q = (
            select(
                projects.c.name,
                prediction_logs.c.deployment,
                func.sum(prediction_logs.c.rows),
                func.min(prediction_logs.c.first_at),
                func.max(prediction_logs.c.last_at),
                func.sum(prediction_logs.c.dropped),
            )
            .join(projects, projects.c.id == prediction_logs.c.project_id)
            .where(prediction_logs.c.kind == "predictions")
            .group_by(projects.c.name, prediction_logs.c.deployment)
            .order_by(projects.c.name, prediction_logs.c.deployment)
        )
        if project is not None:
            q = q.where(projects.c.name == project)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [
            Deployment(
                project=r[0],
                name=r[1],
                rows=int(r[2] or 0),
                first_at=int(r[3]),
                last_at=int(r[4]),
                dropped=int(r[5] or 0),
            )
            for r in rows
        ]


def _check_day(value: object, field: str) -> None:
    if isinstance(value, str) and DAY.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
            return
        except ValueError:  # 2026-02-30
            pass
    raise InvalidArgumentError(f"{field} must be a UTC day like 2026-11-23", field=field)
