"""Alerts: what a monitor raises when it finds drift or a metric out of bounds. Stored with
the project, audited, and read by the scheduler, which runs the pipelines of schedules
triggered by them (retraining when monitoring says so)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from setpoint.core import names
from setpoint.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from setpoint.core.types import Alert
from setpoint.store.metadata import runs as runs_repo
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.tables import alerts, projects

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

SEVERITIES = ("warning", "critical")
MAX_MESSAGE = 4000
MAX_DETAILS = 64 * 1024
MAX_WEBHOOK_OUTCOME = 4 * 1024


class Alerts:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def raise_(
        self,
        project: str,
        monitor: str,
        message: str,
        severity: str = "warning",
        details: Mapping[str, Any] | None = None,
        actor: str | None = None,
        rule: str | None = None,
    ) -> Alert:
        """Record an alert. A rule's alert is raised once while it is open: raising it again
        (another scheduler found the same breach) raises ConflictError, and only
        the caller whose raise stored the alert acts on it (posts the webhook)."""
        names.check_name(project, "project")
        names.check_name(monitor, "monitor")
        if severity not in SEVERITIES:
            raise InvalidArgumentError(
                f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}",
                field="severity",
            )
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise InvalidArgumentError(
                f"message must be text of 1 to {MAX_MESSAGE} characters", field="message"
            )
        if details is not None and not isinstance(details, Mapping):
            raise InvalidArgumentError("details must be a JSON object", field="details")
        try:
            details_text = orjson.dumps(dict(details or {}), option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            raise InvalidArgumentError("details must be JSON values", field="details") from None
        if len(details_text) > MAX_DETAILS:
            raise InvalidArgumentError(
                f"details must be at most {MAX_DETAILS} bytes of JSON", field="details"
            )
        now = self.clock.now_ms()

        def tx(conn: Connection) -> int:
            pid = runs_repo.ensure_project(conn, project, now)
            # the unique index on open alerts of a rule (ux_alerts_open_rule) decides between
            # two raisers of one breach, in the store: the second inserts nothing
            row = _sql(
                conn,
                "INSERT INTO alerts (project_id, monitor, severity, message, details, actor, "
                "created_at, rule, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id, monitor, rule) WHERE status = 'open' DO NOTHING "
                "RETURNING id",
                (pid, monitor, severity, message, details_text, actor, now, rule, "open"),
            ).first()
            if row is None:
                found = _sql(
                    conn,
                    "SELECT id FROM alerts WHERE project_id = ? AND monitor = ? AND rule = ? "
                    "AND status = 'open'",
                    (pid, monitor, rule),
                ).first()
                raise ConflictError(
                    f"monitor {monitor} of project {project} has an open alert of rule "
                    f"{rule!r} already (alert {found[0] if found else '?'}): it was not "
                    "raised again",
                    field="rule",
                )
            self.audit.append(
                conn,
                actor=actor,
                action="alert.raise",
                project=project,
                subject_kind="alert",
                subject=f"{project}/{monitor}#{row[0]}",
                after={"severity": severity, "message": message},
            )
            return int(row[0])

        alert_id = self.db.write_retrying(tx)
        return Alert(
            id=alert_id,
            project=project,
            monitor=monitor,
            severity=severity,
            message=message,
            details=orjson.loads(details_text),
            actor=actor,
            created_at=now,
            rule=rule,
        )

    def record_webhook(self, project: str, alert_id: int, outcome: dict[str, Any]) -> None:
        """Keep the outcome of posting an alert to its monitor's webhook with the alert (the
        post follows the raise: only the raiser whose alert was stored posts it)."""
        if not isinstance(outcome, dict) or not isinstance(outcome.get("delivered"), bool):
            raise InvalidArgumentError(
                "outcome must be an object with 'delivered' (true or false)", field="outcome"
            )
        text = orjson.dumps(outcome).decode()
        if len(text) > MAX_WEBHOOK_OUTCOME:
            raise InvalidArgumentError(
                f"outcome is over {MAX_WEBHOOK_OUTCOME} characters of JSON", field="outcome"
            )

        def tx(conn: Connection) -> None:
            found = _alert_row(conn, project, alert_id, "details")
            details = {**orjson.loads(found[1] or "{}"), "webhook": outcome}
            _sql(
                conn,
                "UPDATE alerts SET details = ? WHERE id = ?",
                (orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode(), alert_id),
            )

        self.db.write_retrying(tx)

    def resolve(self, project: str, alert_id: int, actor: str | None = None) -> None:
        """Mark an alert resolved (the condition is gone, or someone dealt with it)."""
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            found = _alert_row(conn, project, alert_id, "monitor")
            _sql(
                conn,
                "UPDATE alerts SET status = 'resolved', resolved_at = ? WHERE id = ? "
                "AND (status IS NULL OR status = 'open')",
                (now, alert_id),
            )
            self.audit.append(
                conn,
                actor=actor,
                action="alert.resolve",
                project=project,
                subject_kind="alert",
                subject=f"{project}/{found[1]}#{alert_id}",
            )

        self.db.write_retrying(tx)

    def list(
        self,
        project: str,
        monitor: str | None = None,
        since: int | None = None,
        limit: int = 100,
        status: str | None = None,
    ) -> builtins.list[Alert]:
        """Alerts of a project (of one monitor), newest first; ``since``: created after."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgumentError("limit must be within 1..10000", field="limit")
        q = (
            select(
                alerts.c.id,
                alerts.c.monitor,
                alerts.c.severity,
                alerts.c.message,
                alerts.c.details,
                alerts.c.actor,
                alerts.c.created_at,
                alerts.c.rule,
                alerts.c.status,
                alerts.c.resolved_at,
            )
            .join(projects, projects.c.id == alerts.c.project_id)
            .where(projects.c.name == project)
            .order_by(alerts.c.created_at.desc(), alerts.c.id.desc())
            .limit(limit)
        )
        if monitor is not None:
            q = q.where(alerts.c.monitor == monitor)
        if since is not None:
            q = q.where(alerts.c.created_at > since)
        if status == "open":
            q = q.where((alerts.c.status == "open") | alerts.c.status.is_(None))
        elif status is not None:
            q = q.where(alerts.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [
            Alert(
                id=r[0],
                project=project,
                monitor=r[1],
                severity=r[2],
                message=r[3],
                details=orjson.loads(r[4]),
                actor=r[5],
                created_at=r[6],
                rule=r[7],
                status=r[8] or "open",
                resolved_at=r[9],
            )
            for r in rows
        ]


def _alert_row(conn: Connection, project: str, alert_id: Any, column: str) -> Any:
    """(id, ``column``) of alert ``alert_id`` of ``project``; NotFoundError without one."""
    if isinstance(alert_id, bool) or not isinstance(alert_id, int):
        raise InvalidArgumentError("alert id must be a number", field="alert_id")
    found = _sql(
        conn,
        f"SELECT a.id, a.{column} FROM alerts a JOIN projects p ON p.id = a.project_id "
        "WHERE p.name = ? AND a.id = ?",
        (project, alert_id),
    ).first()
    if found is None:
        raise NotFoundError(f"project {project} has no alert {alert_id}", field="alert_id")
    return found
