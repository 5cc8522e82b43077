"""Monitors: what is watched on a deployment (its prediction log), against which reference
dataset version, in which windows, with which alert rules; and the windows computed so far
(a window is computed once, and again only when late labels arrived for it)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select

from setpoint.core import names
from setpoint.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from setpoint.core.types import Monitor, MonitorWindow
from setpoint.store.metadata import runs as runs_repo
from setpoint.store.metadata.statements import execute as _sql
from setpoint.store.metadata.tables import monitor_windows, monitors, projects

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.core.clock import Clock
    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

CONFIG_KEYS = {
    "window_seconds",
    "window_rows",
    "drift_share",
    "metric_rules",
    "fairness_gap",
    "sensitive",
    "webhook",
    "target",
    "task",
    "grace_seconds",
    "decay_rules",
}


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The monitor's configuration, checked: exactly one window kind, rules that make sense."""
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise InvalidArgumentError(f"unknown monitor setting {unknown[0]!r}", field=unknown[0])
    out = dict(config)
    seconds, rows = out.get("window_seconds"), out.get("window_rows")
    if (seconds is None) == (rows is None):
        raise InvalidArgumentError(
            "give a monitor one window: a duration (window_seconds) or a row count (window_rows)",
            field="window",
        )
    for field, value in (("window_seconds", seconds), ("window_rows", rows)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidArgumentError(f"{field} must be a whole number >= 1", field=field)
    share = out.setdefault("drift_share", 0.5)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise InvalidArgumentError("drift_share must be in (0, 1]", field="drift_share")
    rules = out.setdefault("metric_rules", [])
    if not isinstance(rules, list):
        raise InvalidArgumentError("metric_rules must be a list", field="metric_rules")
    for rule in rules:
        if (
            not isinstance(rule, dict)
            or not isinstance(rule.get("metric"), str)
            or not isinstance(rule.get("min"), int | float)
            or not isinstance(rule.get("windows", 1), int)
            or rule.get("windows", 1) < 1
        ):
            raise InvalidArgumentError(
                "a metric rule is {metric, min, windows}: e.g. accuracy below 0.8 for 2 windows",
                field="metric_rules",
            )
    decay = out.setdefault("decay_rules", [])
    if not isinstance(decay, list):
        raise InvalidArgumentError("decay_rules must be a list", field="decay_rules")
    for rule in decay:
        if (
            not isinstance(rule, dict)
            or not isinstance(rule.get("metric"), str)
            or not isinstance(rule.get("max_drop"), int | float)
            or not rule["max_drop"] > 0
            or not isinstance(rule.get("windows", 1), int)
            or rule.get("windows", 1) < 1
        ):
            raise InvalidArgumentError(
                "a decay rule is {metric, max_drop, windows}: e.g. accuracy more than 0.05 "
                "below the served version's evaluation for 2 windows",
                field="decay_rules",
            )
    gap = out.get("fairness_gap")
    if gap is not None and (not isinstance(gap, int | float) or not 0 < gap <= 1):
        raise InvalidArgumentError("fairness_gap must be in (0, 1]", field="fairness_gap")
    sensitive = out.setdefault("sensitive", [])
    if not isinstance(sensitive, list) or not all(isinstance(s, str) for s in sensitive):
        raise InvalidArgumentError("sensitive must be a list of column names", field="sensitive")
    hook = out.get("webhook")
    if hook is not None and (
        not isinstance(hook, str) or not hook.startswith(("http://", "https://"))
    ):
        raise InvalidArgumentError("webhook must be an http(s) URL", field="webhook")
    grace = out.setdefault("grace_seconds", 60)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise InvalidArgumentError(
            "grace_seconds must be a whole number >= 0", field="grace_seconds"
        )
    task = out.get("task")
    if task is not None and task not in ("classification", "regression"):
        raise InvalidArgumentError("task must be classification or regression", field="task")
    return out


class Monitors:
    def __init__(self, db: Database, clock: Clock, audit: AuditLog) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    def add(
        self,
        project: str,
        name: str,
        deployment: str,
        reference: str,
        config: Mapping[str, Any],
        actor: str | None = None,
    ) -> Monitor:
        names.check_name(project, "project")
        names.check_name(name, "name")
        names.check_name(deployment, "deployment")
        if not isinstance(reference, str) or "@" not in reference or len(reference) > 300:
            raise InvalidArgumentError(
                "reference must name a dataset version, like fraud/transactions@3",
                field="reference",
            )
        checked = check_config(config)
        now = self.clock.now_ms()
        text = orjson.dumps(checked, option=orjson.OPT_SORT_KEYS).decode()

        def tx(conn: Connection) -> None:
            pid = runs_repo.ensure_live_project(conn, project, now)
            added = _sql(
                conn,
                "INSERT INTO monitors (project_id, name, deployment, reference, config, enabled, "
                "actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
                (pid, name, deployment, reference, text, True, actor, now),
            ).first()
            if added is None:
                raise ConflictError(
                    f"project {project} has a monitor named {name!r} already", field="name"
                )
            self.audit.append(
                conn,
                actor=actor,
                action="monitor.add",
                project=project,
                subject_kind="monitor",
                subject=f"{project}/{name}",
                after={"deployment": deployment, "reference": reference, **checked},
            )

        self.db.write_retrying(tx)
        return self.get(project, name)

    def get(self, project: str, name: str) -> Monitor:
        found = [m for m in self.list(project) if m.name == name]
        if not found:
            raise NotFoundError(f"project {project} has no monitor {name!r}", field="name")
        return found[0]

    def list(self, project: str | None = None) -> builtins.list[Monitor]:
        q = (
            select(
                projects.c.name,
                monitors.c.name,
                monitors.c.deployment,
                monitors.c.reference,
                monitors.c.config,
                monitors.c.enabled,
                monitors.c.actor,
                monitors.c.created_at,
            )
            .join(projects, projects.c.id == monitors.c.project_id)
            .order_by(projects.c.name, monitors.c.name)
        )
        if project is not None:
            q = q.where(projects.c.name == project)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [
            Monitor(
                project=r[0],
                name=r[1],
                deployment=r[2],
                reference=r[3],
                config=orjson.loads(r[4]),
                enabled=bool(r[5]),
                actor=r[6],
                created_at=r[7],
            )
            for r in rows
        ]

    def record_window(
        self,
        project: str,
        name: str,
        start_at: int,
        end_at: int,
        rows: int,
        labeled: int,
        result: Mapping[str, Any],
    ) -> MonitorWindow:
        """Store a computed window (again, when late labels re-scored it)."""
        for field, value in (
            ("start_at", start_at),
            ("end_at", end_at),
            ("rows", rows),
            ("labeled", labeled),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"{field} must be a whole number >= 0", field=field)
        if labeled > rows:
            raise InvalidArgumentError("labeled must not exceed rows", field="labeled")
        try:
            text = orjson.dumps(dict(result), option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except TypeError:
            raise InvalidArgumentError("result must be JSON values", field="result") from None
        now = self.clock.now_ms()

        def tx(conn: Connection) -> None:
            mid = self._id(conn, project, name)
            _sql(
                conn,
                "INSERT INTO monitor_windows (monitor_id, start_at, end_at, rows, labeled, result, "
                "computed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (monitor_id, start_at) DO "
                "UPDATE SET end_at = excluded.end_at, rows = excluded.rows, labeled = "
                "excluded.labeled, result = excluded.result, computed_at = excluded.computed_at",
                (mid, start_at, end_at, rows, labeled, text, now),
            )

        self.db.write_retrying(tx)
        return MonitorWindow(
            monitor=name,
            start_at=start_at,
            end_at=end_at,
            rows=rows,
            labeled=labeled,
            result=orjson.loads(text),
            computed_at=now,
        )

    def windows(
        self, project: str, name: str, since: int | None = None
    ) -> builtins.list[MonitorWindow]:
        """Computed windows, oldest first (``since``: starting at or after)."""
        with self.db.read() as conn:
            mid = self._id(conn, project, name)
            q = (
                select(
                    monitor_windows.c.start_at,
                    monitor_windows.c.end_at,
                    monitor_windows.c.rows,
                    monitor_windows.c.labeled,
                    monitor_windows.c.result,
                    monitor_windows.c.computed_at,
                )
                .where(monitor_windows.c.monitor_id == mid)
                .order_by(monitor_windows.c.start_at)
            )
            if since is not None:
                q = q.where(monitor_windows.c.start_at >= since)
            rows = conn.execute(q).all()
        return [
            MonitorWindow(
                monitor=name,
                start_at=r[0],
                end_at=r[1],
                rows=r[2],
                labeled=r[3],
                result=orjson.loads(r[4]),
                computed_at=r[5],
            )
            for r in rows
        ]

    def _id(self, conn: Connection, project: str, name: str) -> int:
        mid = conn.execute(
            select(monitors.c.id)
            .join(projects, projects.c.id == monitors.c.project_id)
            .where(projects.c.name == project, monitors.c.name == name)
        ).scalar()
        if mid is None:
            raise NotFoundError(f"project {project} has no monitor {name!r}", field="name")
        return int(mid)
