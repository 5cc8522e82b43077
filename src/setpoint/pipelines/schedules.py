"""Schedules: which pipeline runs when (a cron expression, or each new dataset version), and
the record of every occurrence. An occurrence is claimed by inserting its row; the unique key
makes a second claim (another scheduler, a restart) find it taken, so no occurrence runs twice.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, func, select, update

from setpoint.core import names
from setpoint.core.cron import parse_cron
from setpoint.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from setpoint.core.types import Occurrence, Schedule
from setpoint.data.versions import parse_ref
from setpoint.store.metadata import runs as runs_repo
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.tables import projects, schedule_occurrences, schedules

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

STATUSES = ("running", "succeeded", "failed", "missed")
MAX_TARGET = 1000
MAX_CRON = 128
MAX_WORKDIR = 4096
MAX_OCCURRENCE = 300
# A claim may be this far ahead of the database's clock (schedulers' clocks drift a little);
# further ahead, the scheduler's clock is wrong and the occurrence is not due yet.
FUTURE_TOLERANCE_MS = 60_000
# An occurrence still running this long after its claim has lost its scheduler: a scheduled
# run is stopped after 24 hours (client/scheduler.py), so nothing is running it any more.
STALE_AFTER_MS = 25 * 3600 * 1000
STOPPED = "the scheduler running it stopped"


class Schedules:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def add(
        self,
        project: str,
        name: str,
        target: str,
        params: Mapping[str, Any] | None = None,
        cron: str | None = None,
        dataset: str | None = None,
        actor: str | None = None,
        alert: str | None = None,
        workdir: str | None = None,
    ) -> Schedule:
        names.check_name(project, "project")
        names.check_name(name, "name")
        if not isinstance(target, str) or ":" not in target or len(target) > MAX_TARGET:
            raise InvalidArgumentError(
                "target must be like pipelines/retrain.py:retrain", field="target"
            )
        if sum(x is not None for x in (cron, dataset, alert)) != 1:
            raise InvalidArgumentError(
                "give a schedule one trigger: a cron expression, a dataset to watch, or a "
                "monitor whose alerts run it",
                field="cron",
            )
        if alert is not None and alert != "*":
            names.check_name(alert, "alert")
        if cron is not None:
            if len(cron) > MAX_CRON:
                raise InvalidArgumentError(
                    f"cron must be at most {MAX_CRON} characters", field="cron"
                )
            parse_cron(cron)
        if dataset is not None:
            p, n, v = parse_ref(dataset, default_project=project, field="dataset")
            if v is not None:
                raise InvalidArgumentError(
                    "dataset names the dataset to watch, like fraud/transactions, without @version",
                    field="dataset",
                )
            dataset = f"{p}/{n}"
        if workdir is not None and (
            not isinstance(workdir, str)
            or not os.path.isabs(workdir)
            or len(workdir) > MAX_WORKDIR
            or "\0" in workdir
        ):
            raise InvalidArgumentError(
                f"workdir must be an absolute folder path of at most {MAX_WORKDIR} characters",
                field="workdir",
            )
        if params is not None and not isinstance(params, Mapping):
            raise InvalidArgumentError("params must be a JSON object", field="params")
        try:
            params_text = orjson.dumps(dict(params or {}), option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            raise InvalidArgumentError("params must be JSON values", field="params") from None
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            pid = runs_repo.ensure_live_project(conn, project, now)
            settings = {
                "target": target,
                "params": params_text,
                "cron": cron,
                "dataset": dataset,
                "alert": alert,
                "enabled": True,
                "actor": actor,
                "workdir": workdir,
                # a removed schedule added again starts from now: nothing is caught up for
                # the time it was removed
                "created_at": now,
            }
            removed = conn.execute(
                select(
                    schedules.c.id,
                    schedules.c.target,
                    schedules.c.cron,
                    schedules.c.dataset,
                    schedules.c.alert,
                    schedules.c.params,
                ).where(
                    schedules.c.project_id == pid,
                    schedules.c.name == name,
                    schedules.c.enabled.is_(False),
                )
            ).first()
            before = None
            if removed is not None:  # its name is taken again: enabled, with its history
                done = conn.execute(
                    update(schedules)
                    .where(schedules.c.id == removed[0], schedules.c.enabled.is_(False))
                    .values(**settings)
                ).rowcount
                before = {
                    "target": removed[1],
                    "cron": removed[2],
                    "dataset": removed[3],
                    "alert": removed[4],
                    "params": orjson.loads(removed[5]),
                    "enabled": False,
                }
            else:
                done = _sql(
                    conn,
                    "INSERT INTO schedules (project_id, name, target, params, cron, dataset, "
                    "alert, enabled, actor, created_at, workdir) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
                    (
                        pid,
                        name,
                        target,
                        params_text,
                        cron,
                        dataset,
                        alert,
                        True,
                        actor,
                        now,
                        workdir,
                    ),
                ).first()
            if not done:
                raise ConflictError(
                    f"project {project} has a schedule named {name!r} already", field="name"
                )
            self.audit.append(
                conn,
                actor=actor,
                action="schedule.add",
                project=project,
                subject_kind="schedule",
                subject=f"{project}/{name}",
                before=before,
                after={
                    "target": target,
                    "cron": cron,
                    "dataset": dataset,
                    "alert": alert,
                    "params": params,
                },
            )

        self.db.write_retrying(tx)
        return self.get(project, name)

    def get(self, project: str, name: str) -> Schedule:
        found = [s for s in self.list(project) if s.name == name]
        if not found:
            raise NotFoundError(f"project {project} has no schedule {name!r}", field="name")
        return found[0]

    def list(self, project: str | None = None) -> list[Schedule]:
        """Schedules, those of deleted projects as disabled."""
        last = (
            select(
                schedule_occurrences.c.schedule_id,
                func.max(schedule_occurrences.c.due_at).label("last"),
            )
            .group_by(schedule_occurrences.c.schedule_id)
            .subquery()
        )
        q = (
            select(
                projects.c.name,
                schedules.c.name,
                schedules.c.target,
                schedules.c.params,
                schedules.c.cron,
                schedules.c.dataset,
                # a schedule of a deleted project does not fire (until the project is restored)
                and_(schedules.c.enabled, projects.c.deleted_at.is_(None)),
                schedules.c.actor,
                schedules.c.created_at,
                last.c.last,
                schedules.c.alert,
                schedules.c.workdir,
            )
            .join(projects, projects.c.id == schedules.c.project_id)
            .outerjoin(last, last.c.schedule_id == schedules.c.id)
            .order_by(projects.c.name, schedules.c.name)
        )
        if project is not None:
            q = q.where(projects.c.name == project)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [
            Schedule(
                project=r[0],
                name=r[1],
                target=r[2],
                params=orjson.loads(r[3]),
                cron=r[4],
                dataset=r[5],
                enabled=bool(r[6]),
                actor=r[7],
                created_at=r[8],
                last_due_at=r[9],
                alert=r[10],
                workdir=r[11],
            )
            for r in rows
        ]

    def remove(self, project: str, name: str, actor: str | None = None) -> None:
        """Disable a schedule (its history stays; adding one of its name enables it again)."""

        def tx(conn: Connection) -> None:
            sid = self._id(conn, project, name)
            conn.execute(update(schedules).where(schedules.c.id == sid).values(enabled=False))
            self.audit.append(
                conn,
                actor=actor,
                action="schedule.remove",
                project=project,
                subject_kind="schedule",
                subject=f"{project}/{name}",
            )

        self.db.write_retrying(tx)

    def claim(
        self,
        project: str,
        name: str,
        occurrence: str,
        due_at: int,
        status: str = "running",
        claimed_by: str | None = None,
    ) -> bool:
        """Record an occurrence as ``running`` (this caller runs it) or ``missed``; False when
        it was claimed already, by anyone.

        Refused when ``due_at`` is ahead of the database's own clock (a ``running`` claim: by
        more than FUTURE_TOLERANCE_MS): the scheduler's clock is fast, and the occurrence is
        not due yet. A ``missed`` claim of a cron schedule is refused, too, until the next
        occurrence is due by the database's clock.
        Occurrences of the schedule still ``running`` STALE_AFTER_MS after their claim are
        recorded failed first: their scheduler is gone."""
        if status not in ("running", "missed"):
            raise InvalidArgumentError("a claim's status is running or missed", field="status")
        if not isinstance(occurrence, str) or not 1 <= len(occurrence) <= MAX_OCCURRENCE:
            raise InvalidArgumentError(
                f"occurrence must be text of 1 to {MAX_OCCURRENCE} characters", field="occurrence"
            )
        if isinstance(due_at, bool) or not isinstance(due_at, int) or not 0 <= due_at < 2**62:
            raise InvalidArgumentError("due_at must be epoch milliseconds", field="due_at")
        now = self.clock.now_ms()

        def tx(conn: Connection) -> bool:
            sid, cron = self._id_and_cron(conn, project, name)
            db_now = database_now_ms(conn)
            ahead = due_at - db_now
            # a run may start a little early; an occurrence is missed only once it is past
            if ahead > (FUTURE_TOLERANCE_MS if status == "running" else 0):
                raise InvalidArgumentError(
                    f"occurrence {occurrence!r} of {project}/{name} is not due for another "
                    f"{max(ahead // 1000, 1)} s by the database's clock: is the scheduler's "
                    "clock fast?",
                    field="due_at",
                )
            if status == "missed" and cron is not None:
                # and only once the next one is due too: until then a scheduler may still run
                # it (one whose clock is fast must not record each occurrence missed as it
                # falls due, and so run none)
                later = parse_cron(cron).next_after(due_at)
                if later > db_now:
                    raise InvalidArgumentError(
                        f"occurrence {occurrence!r} of {project}/{name} is not missed: the next "
                        f"one is not due for another {max((later - db_now) // 1000, 1)} s by "
                        "the database's clock, and this one may still run: is the scheduler's "
                        "clock fast?",
                        field="due_at",
                    )
            conn.execute(
                update(schedule_occurrences)
                .where(
                    schedule_occurrences.c.schedule_id == sid,
                    schedule_occurrences.c.status == "running",
                    schedule_occurrences.c.claimed_at < now - STALE_AFTER_MS,
                )
                .values(
                    status="failed",
                    error=f"{STOPPED} (no result {STALE_AFTER_MS // 3_600_000} h after its claim)",
                    finished_at=now,
                )
            )
            added = _sql(
                conn,
                "INSERT INTO schedule_occurrences (schedule_id, occurrence, due_at, status, "
                "claimed_by, claimed_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (schedule_id, occurrence) DO NOTHING RETURNING id",
                (sid, occurrence, due_at, status, claimed_by, now),
            ).first()
            return added is not None

        return bool(self.db.write_retrying(tx))

    def finish(
        self,
        project: str,
        name: str,
        occurrence: str,
        status: str,
        run_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a claimed occurrence ended. One recorded failed because its scheduler
        seemed gone takes the result still, when it names a pipeline run of the schedule's
        project (its scheduler was not gone after all; the change is audited); NotFoundError
        when the occurrence is not open to a result."""
        if status not in ("succeeded", "failed"):
            raise InvalidArgumentError("status must be succeeded or failed", field="status")
        col = schedule_occurrences.c
        values = {
            "status": status,
            "run_id": run_id,
            "error": None if error is None else error[:4000],
        }

        def tx(conn: Connection) -> None:
            sid = self._id(conn, project, name)
            at = (col.schedule_id == sid, col.occurrence == occurrence)
            now = self.clock.now_ms()
            done = conn.execute(
                update(schedule_occurrences)
                .where(*at, col.status == "running")
                .values(**values, finished_at=now)
            ).rowcount
            if not done and run_id is not None and _pipeline_run_of(conn, run_id, project):
                # a run that ended after its occurrence was recorded failed for want of its
                # scheduler (taken for gone, or silent for STALE_AFTER_MS): its result wins
                done = conn.execute(
                    update(schedule_occurrences)
                    .where(
                        *at,
                        col.status == "failed",
                        col.run_id.is_(None),
                        col.error.startswith(STOPPED),
                    )
                    .values(**values, finished_at=now)
                ).rowcount
                if done:
                    self.audit.append(
                        conn,
                        actor=None,
                        action="schedule.occurrence_result",
                        project=project,
                        subject_kind="schedule",
                        subject=f"{project}/{name}",
                        before={"occurrence": occurrence, "status": "failed"},
                        after={"occurrence": occurrence, "status": status, "run_id": run_id},
                    )
            if not done:
                raise NotFoundError(
                    f"schedule {project}/{name} has no running occurrence {occurrence!r}",
                    field="occurrence",
                )

        self.db.write_retrying(tx)

    def occurrences(self, project: str, name: str, limit: int = 100) -> builtins.list[Occurrence]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError("limit must be within 1..10000", field="limit")
        with self.db.read() as conn:
            sid = self._id(conn, project, name)
            rows = conn.execute(
                select(
                    schedule_occurrences.c.occurrence,
                    schedule_occurrences.c.due_at,
                    schedule_occurrences.c.status,
                    schedule_occurrences.c.run_id,
                    schedule_occurrences.c.error,
                    schedule_occurrences.c.claimed_by,
                    schedule_occurrences.c.claimed_at,
                    schedule_occurrences.c.finished_at,
                )
                .where(schedule_occurrences.c.schedule_id == sid)
                .order_by(schedule_occurrences.c.due_at.desc(), schedule_occurrences.c.id.desc())
                .limit(limit)
            ).all()
        return [
            Occurrence(
                schedule=f"{project}/{name}",
                occurrence=r[0],
                due_at=r[1],
                status=r[2],
                run_id=r[3],
                error=r[4],
                claimed_by=r[5],
                claimed_at=r[6],
                finished_at=r[7],
            )
            for r in rows
        ]

    def _id_and_cron(self, conn: Connection, project: str, name: str) -> tuple[int, str | None]:
        found = conn.execute(
            select(schedules.c.id, schedules.c.cron)
            .join(projects, projects.c.id == schedules.c.project_id)
            .where(projects.c.name == project, schedules.c.name == name)
        ).first()
        if found is None:
            raise NotFoundError(f"project {project} has no schedule {name!r}", field="name")
        return int(found[0]), found[1]

    def _id(self, conn: Connection, project: str, name: str) -> int:
        return self._id_and_cron(conn, project, name)[0]


def database_now_ms(conn: Connection) -> int:
    """The database's own clock, in epoch milliseconds (one clock for every scheduler)."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * 1000 AS BIGINT)"
    else:  # SQLite: days since noon, 24 November 4714 BC
        sql = "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    return int(conn.exec_driver_sql(sql).scalar_one())


def _pipeline_run_of(conn: Connection, run_id: str, project: str) -> bool:
    """Whether ``run_id`` is a pipeline run of ``project``."""
    sql = (
        "SELECT 1 FROM runs r JOIN projects p ON p.id = r.project_id "
        "JOIN tags t ON t.run_id = r.id AND t.key = 'kind' AND t.value = 'pipeline' "
        "WHERE r.id = ? AND p.name = ?"
    )
    return _sql(conn, sql, (run_id, project)).first() is not None
