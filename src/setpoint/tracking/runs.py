"""Runs: create, log params/tags/metrics, end, heartbeat, search. The rules live here.

Validation (names, keys, values), states (no logging to an ended run), write-once params,
derived failure of runs whose heartbeat stopped: all enforced in one place for both SDK modes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from setpoint.core import names
from setpoint.core.clock import Clock
from setpoint.core.config import DEFAULT_PROJECT
from setpoint.core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    ProjectNotFoundError,
    RunNotActiveError,
    RunNotFoundError,
)
from setpoint.core.lifecycle import deleted_filter
from setpoint.core.run_filter import parse_filter, parse_order_by
from setpoint.core.types import (
    RUN_STATUSES,
    BlobRef,
    LineageEdge,
    MetricBatch,
    MetricHistory,
    Project,
    Run,
    RunInput,
    RunPage,
)
from setpoint.store.metadata import runs as repo
from setpoint.tracking.environment import RunEnvironment

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from setpoint.governance.audit import AuditLog
    from setpoint.store.metadata.database import Database

MAX_RESULTS = 50_000
HEARTBEAT_INTERVAL_MS = 5_000
LOST_HEARTBEAT = "the process stopped sending heartbeats (killed or crashed)"


class Runs:
    """Run operations over one metadata database."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        heartbeat_timeout_ms: int = 6 * HEARTBEAT_INTERVAL_MS,
        audit: AuditLog | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self._next_reap = 0

    # ------------------------------------------------------------ projects

    def create_project(
        self, name: str, description: str = "", tags: Mapping[str, object] | None = None
    ) -> Project:
        """Create a project (or return the existing one) and set ``tags`` on it, in one
        transaction."""
        names.check_name(name, "project")
        values = _tags(tags, names.MAX_PROJECT_TAG_VALUE)
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            pid = repo.ensure_project(conn, name, now, description)
            repo.require_live_project(conn, pid, name)
            repo.set_project_tags(conn, pid, values)  # setting them again changes nothing
            return repo.get_project(conn, name)

        project = self.db.write_retrying(tx)
        assert project is not None
        return project  # type: ignore[no-any-return]

    def list_projects(self, lifecycle: str = "active") -> list[Project]:
        """Projects by name, without their tags (anyone may list projects; reading a
        project's tags is :meth:`get_project`, which needs a role in it)."""
        deleted = deleted_filter(lifecycle)
        with self.db.read() as conn:
            return repo.list_projects(conn, deleted)

    def get_project(self, project: str) -> Project:
        """A project by name, deleted or not."""
        with self.db.read() as conn:
            found = repo.get_project(conn, project)
        if found is None:
            raise missing_project(project)
        return found

    def delete_project(self, project: str, actor: str | None = None) -> Project:
        """Hide a project (and its runs from searches that do not name it); restorable."""
        if project == DEFAULT_PROJECT:
            raise InvalidArgumentError(
                f"the {DEFAULT_PROJECT!r} project takes every run that names none: it "
                "cannot be deleted",
                field="project",
            )
        return self._set_project_deleted(project, self.clock.now_ms(), actor)

    def restore_project(self, project: str, actor: str | None = None) -> Project:
        return self._set_project_deleted(project, None, actor)

    def _set_project_deleted(self, project: str, at: int | None, actor: str | None) -> Project:
        def tx(conn):  # type: ignore[no-untyped-def]
            if not repo.set_project_deleted(conn, project, at):
                if repo.project_id(conn, project) is None:
                    raise missing_project(project)
                state = "deleted" if at is not None else "not deleted"
                raise ConflictError(f"project {project!r} is {state} already", field="project")
            self._audit_deletion(conn, "project", project, project, at, actor)
            found = repo.get_project(conn, project)
            assert found is not None
            return found

        return self.db.write_retrying(tx)

    def set_project_tags(self, project: str, tags: Mapping[str, object]) -> None:
        values = _tags(tags, names.MAX_PROJECT_TAG_VALUE)

        def tx(conn):  # type: ignore[no-untyped-def]
            repo.set_project_tags(conn, _live_project_id(conn, project), values)

        self.db.write_retrying(tx)

    def delete_project_tag(self, project: str, key: str) -> None:
        def tx(conn):  # type: ignore[no-untyped-def]
            if not repo.delete_project_tag(conn, _live_project_id(conn, project), key):
                raise NotFoundError(f"project {project!r} has no tag {key!r}", field="key")

        self.db.write_retrying(tx)

    # ------------------------------------------------------------ runs

    def create_run(
        self,
        project: str,
        name: str | None = None,
        tags: Mapping[str, object] | None = None,
        parent_id: str | None = None,
        environment: RunEnvironment | None = None,
        actor: str | None = None,
        heartbeats: bool = True,
        start_time: int | None = None,
    ) -> Run:
        """A running run. ``heartbeats=False`` for a client that sends none (MLflow's): its
        run is never marked failed for silence, only when the client ends it. ``start_time``
        (ms): when the client says it started (MLflow's clients send one), else now."""
        names.check_name(project, "project")
        if start_time is not None:
            names.check_step(start_time, "start_time")
        if name is None:
            name = f"run-{secrets.token_hex(4)}"
        names.check_run_name(name)
        tag_values = _tags(tags)
        env = _checked_environment(environment or RunEnvironment())
        now = self.clock.now_ms()
        from setpoint.core.ids import new_run_id

        run = Run(
            id=new_run_id(),
            project=project,
            name=name,
            status="running",
            start_time=now if start_time is None else start_time,
            parent_id=parent_id,
            git_commit=env.git_commit,
            git_dirty=env.git_dirty,
            host=env.host,
            user=env.user,
            python_version=env.python_version,
            packages=dict(env.packages),
            heartbeat_at=now if heartbeats else None,
            tags=dict(sorted(tag_values.items())),
        )

        tried: list[bool] = []  # a retry may follow an attempt that committed, answer lost

        def tx(conn):  # type: ignore[no-untyped-def]
            if tried and repo.run_state(conn, run.id) is not None:
                return  # that earlier attempt made it
            tried.append(True)
            _insert_run(conn, run, now)
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=actor or env.user,
                    action="run.create",
                    project=project,
                    subject_kind="run",
                    subject=run.id,
                    after={"name": name, "parent_id": parent_id},
                )

        self.db.write_retrying(tx)
        return run

    def import_run(
        self,
        project: str,
        name: str,
        status: str,
        start_time: int,
        end_time: int | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        metrics: MetricBatch | None = None,
        user: str | None = None,
        artifacts: Mapping[str, BlobRef] | None = None,
        parent_id: str | None = None,
        actor: str | None = None,
    ) -> Run:
        """Record a run made elsewhere (an import from another tracker) whole, in one
        transaction: its own times and status, and ``artifacts`` (path -> a stored blob). A
        running one never gets heartbeats. ``actor`` is who imports; ``user`` who ran it."""
        names.check_name(project, "project")
        names.check_run_name(name)
        if status not in RUN_STATUSES:
            raise InvalidArgumentError(
                f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}", field="status"
            )
        names.check_step(start_time, "start_time")
        if end_time is not None:
            names.check_step(end_time, "end_time")
        ended = start_time if end_time is None else end_time
        values, tag_values = _params(params or {}), _tags(tags)
        from setpoint.tracking.artifacts import check_artifact_path

        files = {check_artifact_path(p): ref for p, ref in (artifacts or {}).items()}
        batch = None if metrics is None else self._checked(metrics)
        if user is not None and len(user) > _ENVIRONMENT_LIMITS["user"]:
            raise InvalidArgumentError("user is longer than 255 characters", field="user")
        from setpoint.core.ids import new_run_id

        run = Run(
            id=new_run_id(),
            project=project,
            name=name,
            status="running",
            start_time=start_time,
            parent_id=parent_id,
            user=user,
            tags=dict(sorted(tag_values.items())),
        )
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            _insert_run(conn, run, now)
            repo.add_params(conn, run.id, values)
            if batch is not None and batch.keys:
                repo.add_metrics(conn, run.id, *batch.columns())
            for path, ref in files.items():
                repo.put_artifact(conn, run.id, path, ref.digest, ref.size, now)
            repo.add_edges(
                conn,
                [
                    LineageEdge(
                        source_kind="run",
                        source_id=run.id,
                        relation="produced",
                        target_kind="artifact",
                        target_id=digest,
                        created_at=now,
                    )
                    for digest in sorted({ref.digest for ref in files.values()})
                ],
            )
            if status != "running":
                repo.finish_run(conn, run.id, status, ended, None)
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=actor,
                    action="run.import",
                    project=project,
                    subject_kind="run",
                    subject=run.id,
                    after={"name": name, "status": status},
                )
            return repo.load_runs(conn, [run.id])[0]

        return self.db.write_retrying(tx)

    def rename_run(self, run_id: str, name: str, actor: str | None = None) -> Run:
        """Give a run another name (MLflow's clients rename runs); a deleted run keeps its."""
        names.check_run_name(name)

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=False, live=True)
            run = repo.load_runs(conn, [run_id])[0]
            repo.rename_run(conn, run_id, name)
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=actor or run.user,
                    action="run.rename",
                    project=run.project,
                    subject_kind="run",
                    subject=run_id,
                    before={"name": run.name},
                    after={"name": name},
                )

        self.db.write_retrying(tx)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        self._reap_if_due()
        with self.db.read() as conn:
            found = repo.load_runs(conn, [run_id])
        if not found:
            raise RunNotFoundError(f"run {run_id!r} does not exist", field="run_id")
        return found[0]

    def latest_points(self, run_ids: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
        """Run id -> metric key -> (step, timestamp) of the point each latest value
        (``Run.metrics``) was logged at; runs that do not exist are left out."""
        with self.db.read() as conn:
            return repo.latest_points(conn, list(run_ids))

    def end_run(
        self,
        run_id: str,
        status: str = "finished",
        error: str | None = None,
        final_metrics: MetricBatch | None = None,
        final_params: Mapping[str, object] | None = None,
        actor: str | None = None,
        end_time: int | None = None,
    ) -> Run:
        """End a run; a handle's last buffered points and params commit with the end.
        ``end_time`` (ms): when the client says it ended, else now."""
        if status not in RUN_STATUSES or status == "running":
            raise InvalidArgumentError(
                f"status must be one of finished, failed, killed; got {status!r}", field="status"
            )
        if end_time is not None:
            names.check_step(end_time, "end_time")
        batch = None if final_metrics is None else self._checked(final_metrics)
        params = _params(final_params or {})
        now = self.clock.now_ms() if end_time is None else end_time

        def tx(conn):  # type: ignore[no-untyped-def]
            # Ending first is safe inside the transaction and saves a status read.
            if not repo.finish_run(conn, run_id, status, now, error):
                require_run(conn, run_id)  # raises: not found, or ended already
            repo.add_params(conn, run_id, params)
            if batch is not None and batch.keys:
                repo.add_metrics(conn, run_id, *batch.columns())
            run = repo.load_runs(conn, [run_id])[0]
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=actor or run.user,
                    action="run.end",
                    project=run.project,
                    subject_kind="run",
                    subject=run_id,
                    after={"status": status, "error": None if error is None else error[:500]},
                )
            return run

        return self.db.write_retrying(tx)

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        values = _params(params)

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id)
            repo.add_params(conn, run_id, values)

        self.db.write_retrying(tx)

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        values = _tags(tags)

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=False, live=True)
            repo.set_tags(conn, run_id, values)

        self.db.write_retrying(tx)

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        metrics: MetricBatch | None = None,
        ended: bool = False,
    ) -> None:
        """Params, tags and metric points in one transaction: everything is checked first,
        then all of it is stored or none (a conflicting param stores nothing else). Params
        and points go to a running run only, unless ``ended``."""
        values, tag_values = _params(params or {}), _tags(tags)
        batch = None if metrics is None or not metrics.keys else self._checked(metrics)
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=bool(values or batch) and not ended, live=True)
            if values:
                repo.add_params(conn, run_id, values)
            if tag_values:
                repo.set_tags(conn, run_id, tag_values)
            if batch is not None:
                repo.add_metrics(conn, run_id, *batch.columns())
                repo.heartbeat(conn, run_id, now)

        self.db.write_retrying(tx)

    def delete_tag(self, run_id: str, key: str) -> None:
        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=False, live=True)
            if not repo.delete_tag(conn, run_id, key):
                raise NotFoundError(f"run {run_id} has no tag {key!r}", field="key")

        self.db.write_retrying(tx)

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[Mapping[str, Any]],
        consumed_runs: Sequence[str] | None = None,
    ) -> None:
        """Record datasets the run read that setpoint does not hold (MLflow's dataset
        inputs), and runs whose outputs it read (lineage: run consumed run), in one
        transaction; one already recorded (same name and digest, same run) is left as it was."""
        inputs = [_run_input(d, n) for n, d in enumerate(_listed(datasets, "datasets"))]
        consumed = list(_listed(consumed_runs or [], "consumed_runs"))
        if not all(isinstance(r, str) and r for r in consumed):
            raise InvalidArgumentError("consumed_runs must be run ids", field="consumed_runs")
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id, running=False, live=True)
            for other in consumed:
                require_run(conn, other, running=False)
            repo.add_inputs(conn, run_id, inputs, now)
            repo.add_edges(
                conn,
                [
                    LineageEdge(
                        source_kind="run",
                        source_id=run_id,
                        relation="consumed",
                        target_kind="run",
                        target_id=other,
                        created_at=now,
                    )
                    for other in dict.fromkeys(consumed)
                ],
            )

        self.db.write_retrying(tx)

    def list_inputs(self, run_id: str) -> list[RunInput]:
        with self.db.read() as conn:
            require_run(conn, run_id, running=False)
            return repo.list_inputs(conn, run_id)

    def delete_run(self, run_id: str, actor: str | None = None) -> Run:
        """Hide a run from searches and refuse logging to it; restorable. Nothing is erased."""
        return self._set_run_deleted(run_id, self.clock.now_ms(), actor)

    def restore_run(self, run_id: str, actor: str | None = None) -> Run:
        return self._set_run_deleted(run_id, None, actor)

    def _set_run_deleted(self, run_id: str, at: int | None, actor: str | None) -> Run:
        def tx(conn):  # type: ignore[no-untyped-def]
            project = repo.set_run_deleted(conn, run_id, at)
            if project is None:
                require_run(conn, run_id, running=False)  # raises when there is no such run
                state = "deleted" if at is not None else "not deleted"
                raise ConflictError(f"run {run_id} is {state} already", field="run_id")
            self._audit_deletion(conn, "run", run_id, project, at, actor)
            return repo.load_runs(conn, [run_id])[0]

        return self.db.write_retrying(tx)

    def _audit_deletion(
        self,
        conn: Connection,
        kind: str,
        subject: str,
        project: str,
        at: int | None,
        actor: str | None,
    ) -> None:
        """``<kind>.delete`` (``at``: when) or ``<kind>.restore`` (``at`` None), audited."""
        if self.audit is not None:
            self.audit.append(
                conn,
                actor=actor,
                action=f"{kind}.delete" if at is not None else f"{kind}.restore",
                project=project,
                subject_kind=kind,
                subject=subject,
                after={"deleted_at": at},
            )

    def log_metrics(
        self,
        run_id: str,
        keys: Sequence[str],
        values: Sequence[float | None],
        steps: Sequence[int],
        timestamps: Sequence[int] | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Append metric points given as columns (``values`` may hold None for NaN).

        ``batch_id``: the writer's id of this request. The points of an id the run has stored
        already are not stored again: a writer that did not learn whether its request got
        through (a timeout, a lost connection) sends it again under the same id."""
        if timestamps is None:
            timestamps = [self.clock.now_ms()] * len(keys)
        batch = self._checked(
            MetricBatch(keys=keys, values=values, steps=steps, timestamps=timestamps)
        )
        if batch_id is not None:
            check_batch_id(batch_id)
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            if batch_id is not None and repo.has_metric_batch(conn, run_id, batch_id):
                return  # stored by the first attempt (the run may have ended since)
            require_run(conn, run_id)
            if batch_id is not None and not repo.claim_metric_batch(conn, run_id, batch_id):
                return  # a concurrent attempt stored it
            repo.add_metrics(conn, run_id, *batch.columns())
            repo.heartbeat(conn, run_id, now)

        self.db.write_retrying(tx)

    @staticmethod
    def _checked(batch: MetricBatch) -> MetricBatch:
        n = len(batch.keys)
        if not (len(batch.values) == len(batch.steps) == len(batch.timestamps) == n):
            raise InvalidArgumentError(
                "keys, values, steps and timestamps must have the same length", field="values"
            )
        for k in set(batch.keys):
            names.check_key(k, "metric key")
        values = batch.values
        if not all(type(v) is float for v in values):  # the common case skips the slow checks
            values = [
                math.nan if v is None else names.check_metric_value(v, f"metrics.{batch.keys[i]}")
                for i, v in enumerate(values)
            ]
        steps = _int64s(batch.steps, "step")
        stamps = _int64s(batch.timestamps, "timestamp")
        return MetricBatch(keys=batch.keys, values=values, steps=steps, timestamps=stamps)

    def heartbeat(self, run_id: str) -> None:
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            require_run(conn, run_id)
            repo.heartbeat(conn, run_id, now)

        self.db.write_retrying(tx)

    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        with self.db.read() as conn:
            require_run(conn, run_id, running=False)
            return repo.metric_history(conn, run_id, key)

    def metric_arrays(self, run_id: str, key: str) -> tuple[Any, Any, Any]:
        """Like :meth:`get_metric_history`, as numpy arrays (steps, timestamps, values):
        for readers of long series that would otherwise build a million Python floats."""
        with self.db.read() as conn:
            require_run(conn, run_id, running=False)
            return repo.metric_arrays(conn, run_id, key)

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        lifecycle: str = "active",
    ) -> RunPage:
        """Runs matching ``filter``; ``lifecycle``: active (not deleted), deleted or all.
        An active search without ``project`` leaves out the runs of deleted projects."""
        deleted = deleted_filter(lifecycle)
        expr = parse_filter(filter)
        order = parse_order_by(order_by)
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise InvalidArgumentError("max_results must be an integer", field="max_results")
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgumentError(
                f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}",
                field="max_results",
            )
        offset = _decode_token(page_token)
        self._reap_if_due()
        with self.db.read() as conn:
            project_ids: list[int] | None = None
            if project is not None:
                wanted = [project] if isinstance(project, str) else list(project)
                project_ids = []
                for p in wanted:
                    pid = repo.project_id(conn, p)
                    if pid is None:
                        raise missing_project(p)
                    project_ids.append(pid)
            elif deleted is False:  # the runs of deleted projects stay out of live searches
                project_ids = repo.live_project_ids(conn)  # None while none is deleted
            from setpoint.store.metadata import run_search  # SQLAlchemy: only when searching

            ids = run_search.search_run_ids(
                conn, project_ids, expr, order, max_results + 1, offset, deleted
            )
            found = repo.load_runs(conn, ids[:max_results])
        token = _encode_token(offset + max_results) if len(ids) > max_results else None
        return RunPage(runs=found, next_page_token=token)

    def tagged_runs(
        self,
        project: str,
        tags: Mapping[str, str],
        status: str = "finished",
        limit: int = 5,
    ) -> list[Run]:
        """The project's newest runs (not deleted) in ``status`` that carry every one of
        ``tags`` (exact values): a pipeline step's cache lookup, without a filter to parse
        or build. None in a project that does not exist."""
        names.check_name(project, "project")
        values = _tags(tags)
        if not values:
            raise InvalidArgumentError("tags must name at least one tag", field="tags")
        if status not in RUN_STATUSES:
            raise InvalidArgumentError(
                f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}", field="status"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidArgumentError("limit must be an integer within 1..100", field="limit")
        self._reap_if_due()
        with self.db.read() as conn:
            pid = repo.project_id(conn, project)
            if pid is None:
                return []
            return repo.load_runs(conn, repo.latest_tagged(conn, pid, values, status, limit))

    # ------------------------------------------------------------ internals

    def reap_stale_runs(self) -> list[str]:
        """Mark runs whose heartbeat stopped as failed; returns their ids."""
        cutoff = self.clock.now_ms() - self.heartbeat_timeout_ms
        with self.db.read() as conn:
            stale = repo.stale_running_runs(conn, cutoff)
        if stale:

            def tx(conn):  # type: ignore[no-untyped-def]
                failed = repo.fail_stale_runs(conn, stale, cutoff, LOST_HEARTBEAT)
                for run_id, project in failed if self.audit is not None else []:
                    self.audit.append(  # type: ignore[union-attr]
                        conn,
                        actor="setpoint",
                        action="run.end",
                        project=project,
                        subject_kind="run",
                        subject=run_id,
                        after={"status": "failed", "error": LOST_HEARTBEAT},
                    )

            self.db.write_retrying(tx)
        return stale

    def _reap_if_due(self) -> None:
        now = self.clock.now_ms()
        if now >= self._next_reap:
            self._next_reap = now + 1000
            self.reap_stale_runs()


def _int64s(values: Sequence[int], field: str) -> Sequence[int]:
    """The common case (plain ints in range) is checked in C; anything else point by point."""
    if all(type(v) is int for v in values) and (
        not values or (min(values) >= names.INT64_MIN and max(values) <= names.INT64_MAX)
    ):
        return values
    return [names.check_step(v, field) for v in values]


# Column sizes of the environment a client reports (see store/metadata/tables.py).
_ENVIRONMENT_LIMITS = {"git_commit": 64, "host": 255, "user": 255, "python_version": 32}


def _checked_environment(env: RunEnvironment) -> RunEnvironment:
    for name, limit in _ENVIRONMENT_LIMITS.items():
        value = getattr(env, name)
        if value is not None and len(value) > limit:
            raise InvalidArgumentError(
                f"environment.{name} is {len(value)} characters long; at most {limit} are allowed",
                field=f"environment.{name}",
            )
    return env


def require_run(
    conn: Connection,
    run_id: str,
    *,
    running: bool = True,
    live: bool = False,
    refused: str = "nothing more can be logged to it",
) -> None:
    """Raise unless the run exists (and, with ``running``, has not ended; with ``running``
    or ``live``, is not deleted, nor its project)."""
    state = repo.run_state(conn, run_id)
    if state is None:
        raise RunNotFoundError(f"run {run_id!r} does not exist", field="run_id")
    if state == "deleted" and (running or live):
        raise RunNotActiveError(
            f"run {run_id} is deleted; restore it first ({refused})", field="run_id"
        )
    if state == repo.PROJECT_DELETED and (running or live):
        raise RunNotActiveError(
            f"the project of run {run_id} is deleted; restore it first ({refused})",
            field="run_id",
        )
    if running and state != "running":
        raise RunNotActiveError(f"run {run_id} has ended ({state}); {refused}", field="run_id")


_BATCH_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_batch_id(batch_id: object) -> None:
    """A metric batch's id: 1 to 64 letters, digits and ``._:-``."""
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        raise InvalidArgumentError(
            f"batch_id must be 1 to 64 letters, digits or '._:-', got {batch_id!r}",
            field="batch_id",
        )


MAX_INPUTS = 1000  # datasets in one log_inputs call


def _listed(items: object, field: str) -> Sequence[Any]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InvalidArgumentError(f"{field} must be a list", field=field)
    if len(items) > MAX_INPUTS:
        raise InvalidArgumentError(
            f"{field}: at most {MAX_INPUTS} in one call, got {len(items)}", field=field
        )
    return items


def _text(value: str, field: str) -> str:
    if "\x00" in value:  # PostgreSQL cannot store it; SQLite would, differently
        raise InvalidArgumentError(f"{field} contains a NUL character", field=field)
    return value


def _run_input(d: object, n: int) -> RunInput:
    """One dataset input, checked field by field (``datasets[n].name``, ...)."""
    where = f"datasets[{n}]"
    if not isinstance(d, Mapping):
        raise InvalidArgumentError(f"{where} must be an object", field=where)
    limits = {"name": 500, "digest": 64, "source_type": 64}
    text: dict[str, Any] = {}
    for key in ("name", "digest", "source_type", "source", "schema", "profile"):
        value = d.get(key)
        required = key in ("name", "digest")
        if value is None and not required:
            text[key] = "" if key in ("source_type", "source") else None
            continue
        if not isinstance(value, str) or (required and not value):
            raise InvalidArgumentError(
                f"{where}.{key} must be {'a non-empty' if required else 'a'} string",
                field=f"{where}.{key}",
            )
        if key in limits and len(value) > limits[key]:
            raise InvalidArgumentError(
                f"{where}.{key} is longer than {limits[key]} characters", field=f"{where}.{key}"
            )
        text[key] = _text(value, f"{where}.{key}")
    return RunInput(**text, tags=_tags(d.get("tags")))


def _insert_run(conn: Connection, run: Run, now: int) -> None:
    """Insert a new run: its parent must exist, its project is made on first use and must
    not be deleted."""
    if run.parent_id is not None and repo.run_state(conn, run.parent_id) is None:
        raise RunNotFoundError(f"parent run {run.parent_id!r} does not exist", field="parent_id")
    pid = repo.ensure_live_project(conn, run.project, now)
    repo.insert_run(conn, run, pid)


def missing_project(project: str) -> ProjectNotFoundError:
    """The error for a project that does not exist (saying where an MLflow experiment of
    that name is kept, when the name is none of a project)."""
    return ProjectNotFoundError(
        f"project {project!r} does not exist{names.experiment_hint(project)}", field="project"
    )


def _live_project_id(conn: Connection, project: str) -> int:
    pid = repo.project_id(conn, project)
    if pid is None:
        raise missing_project(project)
    repo.require_live_project(conn, pid, project)
    return pid


def _params(params: Mapping[str, object]) -> dict[str, str]:
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("params must be a mapping of key to value", field="params")
    return {
        names.check_key(k, "param key"): names.param_value(v, f"params.{k}")
        for k, v in params.items()
    }


def _tags(tags: Mapping[str, object] | None, limit: int = names.MAX_TAG_VALUE) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError("tags must be a mapping of key to value", field="tags")
    return {
        names.check_key(k, "tag key"): names.tag_value(v, f"tags.{k}", limit)
        for k, v in tags.items()
    }


def page_token_at(offset: int) -> str:
    """The page token of a search page that starts ``offset`` runs in."""
    return _encode_token(offset)


def page_offset(token: str | None) -> int:
    """How many runs in a search page token starts (0 for none); a bad token is refused."""
    return _decode_token(token)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**62:
        raise InvalidArgumentError(
            "page_token is not a token returned by a previous search", field="page_token"
        )
    return offset
