"""Monitors: what is watched on a deployment (its prediction log), against which reference
dataset version, in which windows, with which alert rules; and the windows computed so far
(a window is computed once, and again only when late labels arrived for it)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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


# The metrics a window computes (windows.performance, windows.roc_auc): what rules can name.
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse")
# error metrics: a rise is a loss (every other metric a window computes falls when it worsens)
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
MAX_WINDOW_SECONDS = 100 * 365 * 86400
MAX_WINDOW_ROWS = 10**12
MAX_RULE_WINDOWS = 1000


def _rule_problem(rule: object, bound: str) -> str | None:
    """What is wrong with a {metric, <bound>, windows} rule (a metric rule's bound is ``min``
    or ``max``), or None."""
    if isinstance(rule, dict) and bound == "min" and "max" in rule:
        bound = "max"
    if not isinstance(rule, dict) or set(rule) - {"metric", bound, "windows"}:
        if bound in ("min", "max"):
            return "a rule has exactly metric, min or max, and windows"
        return f"a rule has exactly metric, {bound} and windows"
    if rule.get("metric") not in METRICS:
        return f"metric {rule.get('metric')!r} is not one of {', '.join(METRICS)}"
    if bound == "min" and rule["metric"] in LOWER_IS_BETTER:
        return (
            f"{rule['metric']} is an error (lower is better): a floor would alert when it "
            f"improves; give max instead (--alert-above {rule['metric']}>VALUE)"
        )
    if not names.is_finite_number(rule.get(bound)):
        return f"{bound} must be a finite number, got {rule.get(bound)!r}"
    if not names.is_whole_number(rule.get("windows", 1), 1, MAX_RULE_WINDOWS):
        return f"windows must be a whole number from 1 to {MAX_RULE_WINDOWS}"
    return None


MAX_TIME_MS = 253_402_300_799_999  # the last millisecond of the year 9999


def _result_problem(result: object) -> str | None:
    """What in a window's result is not the shape its readers (alert rules, the CLI, the
    report, the web UI) rely on, or None."""
    if not isinstance(result, Mapping):
        return "not an object"
    found = result.get("drift")
    if not isinstance(found, Mapping):
        return "drift is not an object"
    if not isinstance(found.get("dataset_drift"), bool):
        return "drift.dataset_drift is not true or false"
    share = found.get("share_drifted")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        return "drift.share_drifted is not a share from 0 to 1"
    drifted = found.get("drifted")
    if not isinstance(drifted, list) or not all(isinstance(c, str) for c in drifted):
        return "drift.drifted is not a list of columns"
    features = found.get("features")
    if not isinstance(features, Mapping) or not all(
        isinstance(f, Mapping)
        and isinstance(f.get("test"), str)
        and isinstance(f.get("drifted"), bool)
        # chi-squared may be infinite; NaN is no statistic
        and (f.get("statistic") is None or names.is_real_number(f["statistic"]))
        and (f.get("p_value") is None or names.is_finite_number(f["p_value"]))
        for f in features.values()
    ):
        return "drift.features is not a map of columns to {test, statistic, p_value, drifted}"
    problems = found.get("problems", {})
    if not isinstance(problems, Mapping) or not all(isinstance(v, str) for v in problems.values()):
        return "drift.problems is not a map of columns to reasons"
    # metrics may be infinite or NaN (an infinite prediction's error): numbers all the same
    for key in ("metrics", "baseline"):
        values = result.get(key, {})
        if not isinstance(values, Mapping) or not all(
            v is None or names.is_number(v) for v in values.values()
        ):
            return f"{key} is not a map of metric names to numbers"
    nonfinite = result.get("nonfinite_metrics", {})
    if not isinstance(nonfinite, Mapping) or not all(
        v in ("inf", "-inf", "nan") for v in nonfinite.values()
    ):
        return "nonfinite_metrics is not a map of metric names to inf, -inf or nan"
    fairness = result.get("fairness", {})
    if not isinstance(fairness, Mapping) or not all(
        isinstance(f, Mapping)
        and names.is_number(f.get("demographic_parity_difference"))
        and names.is_number(f.get("equalized_odds_difference"))
        and isinstance(f.get("groups", {}), Mapping)
        for f in fairness.values()
    ):
        return "fairness is not a map of columns to their parity and odds differences"
    if not isinstance(result.get("histograms", {}), Mapping):
        return "histograms is not an object"
    return None


def _http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or address
        return False


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
    for field, value, high in (
        ("window_seconds", seconds, MAX_WINDOW_SECONDS),
        ("window_rows", rows, MAX_WINDOW_ROWS),
    ):
        if value is not None and not names.is_whole_number(value, 1, high):
            raise InvalidArgumentError(
                f"{field} must be a whole number from 1 to {high}", field=field
            )
    share = out.setdefault("drift_share", 0.5)
    if not names.is_finite_number(share) or not 0 < share <= 1:
        raise InvalidArgumentError("drift_share must be in (0, 1]", field="drift_share")
    for field, bound, example in (
        (
            "metric_rules",
            "min",
            "{metric: accuracy, min: 0.8, windows: 2} or {metric: rmse, max: 5}",
        ),
        ("decay_rules", "max_drop", "{metric: accuracy, max_drop: 0.05, windows: 2}"),
    ):
        rules = out.setdefault(field, [])
        if not isinstance(rules, list):
            raise InvalidArgumentError(f"{field} must be a list", field=field)
        for rule in rules:
            if (problem := _rule_problem(rule, bound)) is not None:
                raise InvalidArgumentError(f"{field}: {problem} (e.g. {example})", field=field)
            if bound == "max_drop" and not rule["max_drop"] > 0:
                raise InvalidArgumentError(f"{field}: max_drop must be above 0", field=field)
    gap = out.get("fairness_gap")
    if gap is not None and (not names.is_finite_number(gap) or not 0 < gap <= 1):
        raise InvalidArgumentError("fairness_gap must be in (0, 1]", field="fairness_gap")
    sensitive = out.setdefault("sensitive", [])
    if not isinstance(sensitive, list) or not all(isinstance(s, str) and s for s in sensitive):
        raise InvalidArgumentError("sensitive must be a list of column names", field="sensitive")
    target = out.get("target")
    if target is not None and (not isinstance(target, str) or not target):
        raise InvalidArgumentError("target must be a column name", field="target")
    hook = out.get("webhook")
    if hook is not None and not _http_url(hook):
        raise InvalidArgumentError(
            f"webhook must be an http(s) URL with a host, got {hook!r}", field="webhook"
        )
    grace = out.setdefault("grace_seconds", 60)
    if not names.is_whole_number(grace, 0, 7 * 86400):
        raise InvalidArgumentError(
            "grace_seconds must be a whole number from 0 to 604800 (7 days)",
            field="grace_seconds",
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
        config = self.get(project, name).config
        if seconds := config.get("window_seconds"):
            if start_at % (seconds * 1000) or end_at != start_at + seconds * 1000:
                raise InvalidArgumentError(
                    f"a window of this monitor starts at a multiple of {seconds} s and ends "
                    f"{seconds} s later; got {start_at} to {end_at}",
                    field="end_at",
                )
        elif start_at % config["window_rows"] or rows != config["window_rows"]:
            raise InvalidArgumentError(
                f"a window of this monitor is {config['window_rows']} rows from a multiple of "
                f"that; got {rows} from row {start_at}",
                field="rows",
            )
        if max(start_at, end_at) > MAX_TIME_MS:
            raise InvalidArgumentError("the window ends after the year 9999", field="end_at")
        if (problem := _result_problem(result)) is not None:
            raise InvalidArgumentError(f"result: {problem}", field="result")
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
