"""Import an MLflow tracking database or tracking server into setpoint: experiments, runs
with their whole metric history, artifacts, registered models, versions and aliases.

A database's own tables are read with SQLAlchemy, a server through its REST API and artifact
proxy (no MLflow needed either way); everything is written through a setpoint client, so the
import works in both SDK modes. What was imported carries MLflow's id (a run's tag; a
version's name, number, source and run) and is skipped the next time: importing twice changes
nothing. An item that cannot be
imported (or a part of the source that cannot be read) is listed in the report and the rest
goes on. Files are read only from below ``--artifacts`` (or, without it, below each
experiment's artifact location), never through a link that leaves a run's folder.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from setpoint.client.mlflow_database import (
    MlflowDatabase,
    MlflowLoggedModel,
    MlflowRun,
    MlflowSource,
    MlflowVersion,
    Plan,
    short_reason,
)
from setpoint.core import mlflow_tags, names
from setpoint.core.config import DEFAULT_PROJECT
from setpoint.core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProjectNotFoundError,
)
from setpoint.core.types import BlobRef, MetricBatch
from setpoint.tracking.artifacts import IMPORTED_WITHOUT_FILES

IMPORTED_RUN = "mlflow.imported_run_id"
IMPORTED_PARENT = "mlflow.imported_parent_run_id"  # MLflow's id of an imported run's parent
IMPORTED_VERSION = "mlflow.imported_version"  # "<registered model>/<version>"
IMPORTED_VERSION_RUN = "mlflow.imported_version_run"  # the MLflow run of an imported version
SOURCE, IMPORTED_SOURCE, MODEL_ID = "mlflow.source", "mlflow.imported_source", "mlflow.model_id"
IMPORTED_MODEL = "mlflow.imported_model_id"  # MLflow's id of an imported logged model
# on a run sent in parts until its last part is in: the next import sends what is missing
INCOMPLETE = "setpoint.import_incomplete"
# An MLflow 3 logged model becomes what setpoint's MLflow API makes of one (see
# server/mlflow_models.py): a run of kind LOGGED_MODEL_KIND under the run that logged it,
# its files that run's artifacts, its id "m-" and the run's id.
STATUS = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "killed",
    "RUNNING": "running",
    "SCHEDULED": "running",
}
# A remote client sends a run's points in requests of at most this many (the server's body
# limit); the local client sends a run in one transaction whatever its size.
REMOTE_POINTS = 400_000
KINDS = (
    "projects",
    "runs",
    "metric points",
    "artifacts",
    "logged models",
    "model versions",
    "aliases",
)
LINK_OUT = "a link that leads out of its folder: not followed"
NOT_FILE = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device"}

Progress = Callable[[str], None]
# a version imported before: MLflow source and run (None: not recorded), project, version
Earlier = tuple[str | None, str | None, str, int]
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Failure:
    """Something that was not imported: its kind, MLflow's name for it, and why."""

    kind: str
    item: str
    reason: str


@dataclass(kw_only=True)
class ImportReport:
    """Counts per kind (see ``KINDS``) of what is new and what was there already."""

    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    existing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    deleted_skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    # imported, but not quite as MLflow had it (a version under another number, a status
    # MLflow does not have): said, without making the import fail
    warnings: list[Failure] = field(default_factory=list)

    def fail(self, kind: str, item: str, reason: object) -> None:
        self.failures.append(Failure(kind=kind, item=item, reason=short_reason(reason)))

    def warn(self, kind: str, item: str, reason: object) -> None:
        self.warnings.append(Failure(kind=kind, item=item, reason=short_reason(reason)))


# ---------------------------------------------------------------- the import


class MlflowImporter:
    """Copies what ``source`` holds into setpoint through ``client`` (local or remote).

    ``artifacts``: MLflow's artifact root (``./mlruns``, or a server's artifact destination),
    laid out as ``<experiment id>/<run id>/artifacts``; without it, a run's files are read from
    its ``artifact_uri`` when that is a local path, or fetched by the source (a server's
    ``mlflow-artifacts:`` URIs). A local folder is only read when it is below ``artifacts``
    (without it: below the artifact location of one of the source's experiments), once links
    and ``..`` are resolved: the source's paths are not trusted.
    """

    def __init__(
        self,
        client: Any,
        source: MlflowSource,
        artifacts: str | None = None,
        actor: str | None = None,
    ) -> None:
        self.client = client
        self.actor = actor
        self.source = source
        self.artifacts = Path(artifacts) if artifacts else None
        self.report = ImportReport()
        self._runs: dict[str, MlflowRun] = {}
        self._imported: dict[str, tuple[str, str]] = {}  # MLflow run -> (setpoint run, project)
        # children read before their parent (MLflow lists runs by start time): imported
        # right after it, so that they get it as their parent
        self._waiting: dict[str, list[tuple[MlflowRun, list[tuple[str, Any]]]]] = {}
        self._projects: dict[str, str] = {}  # experiment id -> project
        self._deleted_projects: set[str] = set()  # deleted in setpoint: listed, not imported into
        self._roots: dict[str, Path] = {}  # experiment id -> its local artifact location
        self._running: set[str] = set()  # MLflow runs imported while they were running
        self._gone: set[str] = set()  # MLflow runs whose imported run is deleted in setpoint
        # MLflow run -> (setpoint run, project, status): sent in parts by an import that
        # stopped before the last one
        self._incomplete: dict[str, tuple[str, str, str]] = {}
        self._without_files: set[str] = set()  # MLflow runs imported without (some) files
        # artifact roots runs' folders are under that are not on this machine -> those runs
        # (whose files, if they logged any, cannot be looked for)
        self._absent: dict[Path, set[str]] = {}
        self._scopes: list[str | None] | None = None  # see _readable_projects
        self._runs_unread = False  # the source's runs could not be listed
        self._versions_unread = False  # the source's model versions could not be listed
        self._named: set[tuple[str, str]] = set()  # (project, model) known to keep its name
        self._models: dict[str, tuple[str, str]] | None = None  # MLflow's id -> run, project
        self._versions: dict[tuple[str, int], MlflowVersion] = {}  # the source's, by number
        self._aliases: dict[tuple[str, str], int] = {}  # the source's (model, alias) -> number
        self._refused: set[str] = set()  # experiments listed as ones the source may not read

    def _read(self, kind: str, item: str, read: Callable[[], T], empty: T) -> T:
        """What ``read`` gives; when the source cannot give it, ``empty`` and a failure."""
        try:
            return read()
        except Exception as exc:  # one unreadable part must not stop the others
            self.report.fail(kind, item, exc)
            return empty

    def plan(self) -> Plan:
        """What the source holds: runs, model versions and aliases (read once). A part that
        cannot be read (a corrupt table, say) is listed and left empty."""
        runs = self._read("run", "(every run)", self.source.runs, None)
        self._runs_unread = runs is None
        versions = self._read("model version", "(every model version)", self.source.versions, None)
        self._versions_unread = versions is None
        return (
            runs or [],
            versions or [],
            self._read("alias", "(every alias)", self.source.aliases, []),
        )

    def run(
        self,
        plan: Plan | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        runs, versions, aliases = plan or self.plan()
        step = progress or (lambda kind: None)
        self._import_experiments()
        self._runs = {r.id: r for r in runs}
        self._find_imported_runs()
        for r in runs:
            self._import_run(r)
            step("runs")
        # their parent could not be imported: setpoint cannot give a run its parent later,
        # so they are listed, and imported with it once it is
        while self._waiting:
            parent = next(iter(self._waiting))
            for child, _ in self._waiting.pop(parent):
                self.report.fail(
                    "run",
                    child.id,
                    f"its parent run {parent} is not imported: it is imported once its parent is",
                )
        logged: dict[str, MlflowLoggedModel] = self._read(
            "logged model", "(every logged model)", self.source.logged_models, {}
        )
        self._import_logged_models(logged)
        self._import_registry(versions, aliases, logged, step)
        self._list_refused()  # refused only once their logged models were asked for
        for root, ids in self._absent.items():
            self.report.warn(
                "artifacts",
                str(root),
                f"this artifact root is not on this machine: the files of the {len(ids)} "
                "run(s) under it were not looked for; if they logged any, import again with "
                "--artifacts naming where that root is here (runs that logged none have none)",
            )
        return self.report

    def _root_absent_for(self, run_id: str) -> Path | None:
        return next((root for root, ids in self._absent.items() if run_id in ids), None)

    # ------------------------------------------------------------ experiments

    def _import_experiments(self) -> None:
        existing = {p.name: p for p in self.client.list_projects(lifecycle="all")}
        self._deleted_projects = {p.name for p in existing.values() if p.deleted_at is not None}
        # experiment 0 first: it is the default project, whatever another one is called
        experiments = sorted(self.source.experiments(), key=lambda e: e.id != "0")
        all_tags: dict[str, dict[str, str]] = self._read(
            "experiment tag", "(every experiment)", self.source.experiment_tags, {}
        )
        taken: dict[str, str] = {}  # project -> the experiment imported into it
        refused = self._list_refused()
        for e in experiments:
            local = _local_path(e.artifact_location)
            if local is not None:
                self._roots[e.id] = local
            if e.deleted:
                continue
            item = f"{e.name} (id {e.id})"
            if e.id in refused:
                continue  # listed: not made a project, as nothing of it can be read
            if not isinstance(e.name, str) or not e.name.strip():
                self.report.fail(
                    "experiment", f"(id {e.id})", "the source gives it no name: not imported"
                )
                continue
            # a name that is no project name ("/Users/ana/fraud") is kept in the project the
            # MLflow API would keep it in, with the name in a tag
            project = DEFAULT_PROJECT if e.id == "0" else names.experiment_project(e.name)
            if project in taken:
                self.report.fail(
                    "experiment",
                    item,
                    f"it would be project {project!r}, which experiment {taken[project]} is "
                    "imported into: rename one of them in MLflow",
                )
                continue
            taken[project] = item
            if project in self._deleted_projects:
                self.report.fail(
                    "experiment",
                    item,
                    f"project {project!r} is deleted in setpoint: restore it to import into it",
                )
                continue
            self._projects[e.id] = project
            tags = self._checked_pairs("experiment tag", e.name, all_tags.get(e.id, {}).items())
            tags.pop(names.EXPERIMENT_NAME_TAG, None)
            if project not in (e.name, DEFAULT_PROJECT):
                tags[names.EXPERIMENT_NAME_TAG] = e.name
            if project in existing:
                self.report.existing["projects"] += 1
                if tags:  # a later import adds the tags setpoint lacks, never overwrites one
                    have = self.client.get_project(project).tags
                    missing = {k: v for k, v in tags.items() if k not in have}
                    if missing:
                        self.client.set_project_tags(project, missing)
            else:
                existing[project] = self.client.create_project(project, "", tags)
                self.report.new["projects"] += 1

    def _list_refused(self) -> set[str]:
        """The experiments the source lists but refuses to let the caller read (a server's
        403: a user with no role in them), each listed once as not imported."""
        refused = self.source.refused_experiments()
        for e in self.source.experiments():
            if e.id in refused and e.id not in self._refused and not e.deleted:
                self._refused.add(e.id)
                self.report.fail("experiment", f"{e.name} (id {e.id})", refused[e.id])
        return set(refused)

    def _find_imported_runs(self) -> None:
        """Runs imported before, in every project (deleted ones too, and whatever the
        experiment is called now: it may have been renamed in MLflow since)."""
        # a run deleted in setpoint since was imported all the same
        for r in self._tagged_runs(IMPORTED_RUN, "all"):
            if INCOMPLETE in r.tags and r.deleted_at is None:
                self._incomplete[r.tags[IMPORTED_RUN]] = (r.id, r.project, r.status)
                continue
            self._imported[r.tags[IMPORTED_RUN]] = (r.id, r.project)
            if r.status == "running":
                self._running.add(r.tags[IMPORTED_RUN])
            if r.deleted_at is not None:
                self._gone.add(r.tags[IMPORTED_RUN])
            if IMPORTED_WITHOUT_FILES in r.tags and r.deleted_at is None:
                self._without_files.add(r.tags[IMPORTED_RUN])

    def _tagged_runs(self, tag: str, lifecycle: str = "active") -> Iterator[Any]:
        """The runs with tag ``tag``, in every project the caller may read (one they may not
        read is not theirs to import into), page by page."""
        for project in self._readable_projects():
            token = None
            while True:
                try:
                    page = self.client.search_runs(
                        None if project is None else [project],
                        f"tags.`{tag}` LIKE '%'",
                        None,
                        50_000,
                        token,
                        lifecycle,
                    )
                except (PermissionDeniedError, ProjectNotFoundError):
                    break
                yield from page.runs
                token = page.next_page_token
                if not token:
                    break

    def _readable_projects(self) -> list[str | None]:
        """What to look through for earlier imports: every project at once (None), or, for
        a caller of a server with roles in some projects only, each project in turn (found
        out once per import)."""
        if self._scopes is None:
            try:
                self.client.list_models()  # a listing over every project: a '*' grant's right
                self._scopes = [None]
            except PermissionDeniedError:
                self._scopes = [p.name for p in self.client.list_projects(lifecycle="all")]
        return self._scopes

    # ------------------------------------------------------------ runs

    def _import_run(self, r: MlflowRun, raw_tags: list[tuple[str, Any]] | None = None) -> None:
        if r.deleted:
            self.report.deleted_skipped += 1
            return
        if r.id in self._imported:
            if r.id in self._running and STATUS.get(str(r.status), "running") != "running":
                self.report.fail(
                    "run",
                    r.id,
                    f"was running when it was imported and has ended in MLflow since "
                    f"({r.status}); an import does not update a run: what it logged after "
                    "that import is not in setpoint",
                )
            else:
                self.report.existing["runs"] += 1
            if r.id in self._without_files:
                try:
                    self._add_missing_files(r)
                except Exception as exc:  # one bad run must not stop the others
                    self.report.fail("artifacts", r.id, exc)
            return
        project = self._projects.get(r.experiment_id)
        if project is None:
            self.report.fail("run", r.id, f"its experiment {r.experiment_id} was not imported")
            return
        if raw_tags is None:
            try:
                raw_tags = self.source.pairs("tags", r.id)
            except Exception as exc:  # one unreadable run must not stop the others
                self.report.fail("run", r.id, exc)
                return
        parent = dict(raw_tags).get("mlflow.parentRunId")
        source_parent = self._runs.get(parent) if isinstance(parent, str) else None
        if (
            source_parent is not None
            and not source_parent.deleted
            and source_parent.id not in self._imported
        ):
            self._waiting.setdefault(source_parent.id, []).append((r, raw_tags))
            return
        try:
            self._send_run(r, project, raw_tags)
        except Exception as exc:  # one bad run must not stop the others
            self.report.fail("run", r.id, exc)
        if r.id in self._imported:
            for child, tags in self._waiting.pop(r.id, []):
                self._import_run(child, tags)

    def _send_run(self, r: MlflowRun, project: str, raw_tags: list[tuple[str, Any]]) -> None:
        if r.id in self._incomplete:
            self._finish_parts(r, *self._incomplete[r.id])
            return
        params = self._checked_pairs("param", r.id, self.source.pairs("params", r.id))
        tags = self._checked_pairs("tag", r.id, raw_tags)
        tags[IMPORTED_RUN] = r.id
        keys, values, steps, stamps = self._metric_columns(r.id)
        files, missing, unread = self._upload_run_files(r)
        if (why := _without_files(missing, unread)) is not None:
            tags[IMPORTED_WITHOUT_FILES] = why  # said on the run: a later import adds them
        elif (root := self._root_absent_for(r.id)) is not None:
            tags[IMPORTED_WITHOUT_FILES] = names.tag_value(  # a later import looks again
                f"its artifact root {root} was not on this machine: give --artifacts",
                IMPORTED_WITHOUT_FILES,
            )
        parent_run, parent_project = self._imported.get(
            tags.get("mlflow.parentRunId", ""), ("", "")
        )
        parent = parent_run if parent_project == project else None
        if parent_run:  # MLflow's clients find children by this tag: the parent's id here
            tags[IMPORTED_PARENT] = tags["mlflow.parentRunId"]
            tags["mlflow.parentRunId"] = parent_run
        status, start = self._status_and_start(r)
        name = _run_name(r.name or tags.get("mlflow.runName"), r.id)
        user = (r.user or None) and str(r.user)[:255]
        limit = REMOTE_POINTS if getattr(self.client, "mode", "local") == "remote" else None
        if limit is None or len(keys) <= limit:
            batch = MetricBatch(keys=keys, values=values, steps=steps, timestamps=stamps)
            run = self.client.import_run(
                project,
                name,
                status,
                start,
                r.end_time,
                params,
                tags,
                batch,
                user,
                files,
                parent,
                self.actor,
            )
        else:  # too many points for one request: the last ones follow, then the end
            # known by the next import as one to finish, should this one stop half-way
            tags[INCOMPLETE] = "sent in parts: the next import sends the parts missing"
            first = MetricBatch(
                keys=keys[:limit],
                values=values[:limit],
                steps=steps[:limit],
                timestamps=stamps[:limit],
            )
            run = self.client.import_run(
                project,
                name,
                "running",
                start,
                None,
                params,
                tags,
                first,
                user,
                files,
                parent,
                self.actor,
            )
            self._send_parts(run.id, keys[limit:], values[limit:], steps[limit:], stamps[limit:])
            self._end_parts(run.id, "running", status, r.end_time)
        self._imported[r.id] = (run.id, project)
        if missing:  # the run is imported without its files, and that is said
            self.report.fail("artifacts", r.id, missing)
        self.report.new["runs"] += 1
        self.report.new["metric points"] += len(keys)
        self.report.new["artifacts"] += len(files)

    def _status_and_start(self, r: MlflowRun) -> tuple[str, int]:
        """The run's status and start time as setpoint keeps them; what MLflow does not say
        (a status outside its set, a start or end time missing) is said in the report."""
        status = STATUS.get(str(r.status))
        if status is None:
            status = "running"
            self.report.warn(
                "run", r.id, f"status {r.status!r} is none of MLflow's: kept as running"
            )
        start = r.start_time if r.start_time is not None else (r.end_time or 0)
        if r.start_time is None:
            when = "its end time" if r.end_time is not None else "0 (1970-01-01)"
            self.report.warn("run", r.id, f"it has no start time: kept as {when}")
        if r.end_time is None and status != "running":
            self.report.warn(
                "run", r.id, f"it is {status} without an end time: kept as ended when it started"
            )
        return status, start

    def _send_parts(
        self, run_id: str, keys: list[str], values: list[float], steps: list[int], stamps: list[int]
    ) -> None:
        for i in range(0, len(keys), REMOTE_POINTS):
            j = i + REMOTE_POINTS
            self.client.log_metrics(run_id, keys[i:j], values[i:j], steps[i:j], stamps[i:j])

    def _end_parts(self, run_id: str, now: str, status: str, end_time: int | None) -> None:
        """A run sent in parts, all of them in: ended as in MLflow (``now``: its status in
        setpoint), then no longer incomplete."""
        if now == "running" and status != "running":
            self.client.end_run(run_id, status, actor=self.actor, end_time=end_time)
        with suppress(NotFoundError):  # taken off already, by an import that stopped then
            self.client.delete_tag(run_id, INCOMPLETE)

    def _finish_parts(self, r: MlflowRun, run_id: str, project: str, now: str) -> None:
        """A run an earlier import sent in parts and stopped before the last one: the points
        it lacks (for each metric, those after the ones it holds: each part is stored whole,
        in the order the source gives them) are sent, and it is ended as in MLflow."""
        keys, values, steps, stamps = self._metric_columns(r.id)
        have = {k: len(self.client.get_metric_history(run_id, k).steps) for k in set(keys)}
        seen: dict[str, int] = {}
        rest = []
        for i, k in enumerate(keys):
            seen[k] = seen.get(k, 0) + 1
            if seen[k] > have[k]:
                rest.append(i)
        self._send_parts(
            run_id,
            [keys[i] for i in rest],
            [values[i] for i in rest],
            [steps[i] for i in rest],
            [stamps[i] for i in rest],
        )
        self._end_parts(run_id, now, STATUS.get(str(r.status), "running"), r.end_time)
        del self._incomplete[r.id]
        self._imported[r.id] = (run_id, project)
        self.report.new["runs"] += 1
        self.report.new["metric points"] += len(rest)

    def _checked_pairs(
        self, kind: str, owner: str, rows: Iterable[tuple[str, Any]]
    ) -> dict[str, str]:
        """The pairs setpoint accepts; each other one is listed (``owner`` and its key)."""
        out = {}
        check = names.param_value if kind == "param" else names.tag_value
        for key, value in rows:
            try:
                key = _text(key, f"{kind} key")
                out[names.check_key(key, f"{kind} key")] = check(
                    "" if value is None else _text(value, key), key
                )
            except InvalidArgumentError as exc:
                self.report.fail(kind, f"{owner} {key!s}", exc)
        return out

    def _metric_columns(self, run_id: str) -> tuple[list[str], list[float], list[int], list[int]]:
        keys: list[str] = []
        values: list[float] = []
        steps: list[int] = []
        stamps: list[int] = []
        bad: dict[str, int] = {}
        refused: set[str] = set()
        for key, value, step, stamp, is_nan in self.source.metrics(run_id):
            if key not in refused and key not in bad:
                try:
                    names.check_key(key, "metric key")
                except InvalidArgumentError as exc:
                    refused.add(key)
                    self.report.fail("metric", f"{run_id} {key}", exc)
            if key in refused:
                continue
            if is_nan:
                v = math.nan
            elif type(value) is float or (type(value) is int):
                v = float(value)
            else:
                v = None
            if v is None or type(step) is not int or type(stamp) is not int:
                bad[key] = bad.get(key, 0) + 1
                continue
            keys.append(key)
            values.append(v)
            steps.append(step)
            stamps.append(stamp)
        for key, n in bad.items():
            self.report.fail(
                "metric", f"{run_id} {key}", f"{n} point(s) without a number value, step or time"
            )
        return keys, values, steps, stamps

    # ------------------------------------------------------------ artifacts

    def _run_folder(self, r: MlflowRun) -> tuple[Path | None, str | None]:
        """Where a run's files are on this machine, or why they cannot be read; (None, None)
        when it logged none (MLflow makes a run's folder with its first file)."""
        first = []
        if self.artifacts is not None:
            first.append(self.artifacts / r.experiment_id / r.id / "artifacts")
        roots = [self.artifacts] if self.artifacts is not None else []
        if self.artifacts is None and r.experiment_id in self._roots:
            roots.append(self._roots[r.experiment_id])
        folder, refused = self._find(r.artifact_uri, roots, first)
        if folder is not None:
            return folder, None
        uri = r.artifact_uri
        if refused is not None:
            where = "--artifacts" if self.artifacts is not None else "its experiment's folder"
            return None, f"{refused} (artifact_uri {uri}) is outside {where}: not read"
        if uri and self.artifacts is None and not self.source.serves(uri) and not _local_path(uri):
            return None, f"its files at {uri} cannot be read from here: give --artifacts"
        root = _absent_root(uri) if self.artifacts is None else None
        if root is not None:  # a store copied from another machine, or no run logged a file
            self._absent.setdefault(root, set()).add(r.id)
        return None, None

    def _find(
        self, uri: str | None, roots: list[Path], first: Iterable[Path] = ()
    ) -> tuple[Path | None, Path | None]:
        """The first folder here that ``uri`` may stand for (``first`` looked at before),
        and the first one refused for being outside every one of ``roots``."""
        refused = None
        for candidate in [*first, None, *self._local_paths(uri)]:
            if candidate is None:  # a server's files, which the source fetched itself
                fetched = self.source.local_folder(uri) if uri else None
                if fetched is not None:
                    return fetched, None
            elif candidate.is_dir():
                if any(_inside(candidate, root) for root in roots):
                    return candidate, None
                refused = refused or candidate
        return None, refused

    def _local_paths(self, uri: str | None) -> list[Path]:
        """Local folders an MLflow URI may stand for: a file path as it is, and (when the
        artifact root was moved) the same path re-rooted under ``artifacts``."""
        if not uri:
            return []
        parsed = urlparse(uri)
        local = _local_path(uri)
        out = [local] if local is not None else []
        if self.artifacts is not None:
            rel = unquote(parsed.path).lstrip("/")
            if parsed.scheme == "mlflow-artifacts":
                out.append(self.artifacts / rel)  # '..' in it is refused by the caller
            found = _TAIL.search("/" + rel)
            if found:
                out.append(self.artifacts / found.group(0).lstrip("/"))
        return out

    def _upload_run_files(
        self, r: MlflowRun, have: Mapping[str, str] | None = None
    ) -> tuple[dict[str, BlobRef], str | None, int]:
        """The run's files, stored (but those ``have`` holds already: path -> digest); why
        its folder could not be read, if so; how many of its files could not be (each one
        listed)."""
        folder, missing = self._run_folder(r)
        if folder is None:
            return {}, missing, 0
        out = {}
        unread = 0
        for rel, path in _files(folder):
            if isinstance(path, str):
                self.report.fail("artifact", f"{r.id} {rel}", path)
                unread += 1
                continue
            try:
                ref = self.client.upload_file(path)
            except OSError as exc:
                self.report.fail("artifact", f"{r.id} {rel}", exc)
                unread += 1
                continue
            if have is None or have.get(rel) != ref.digest:
                out[rel] = ref
        return out, None, unread

    def _add_missing_files(self, r: MlflowRun) -> None:
        """A run imported before without (some of) its files: those that can be read now
        (``--artifacts`` given this time, a folder restored) are added to it."""
        run_id = self._imported[r.id][0]
        have = {a.path: a.digest for a in self.client.list_artifacts(run_id)}
        files, missing, unread = self._upload_run_files(r, have)
        if missing:
            self.report.fail("artifacts", r.id, f"imported before without its files: {missing}")
        still = _without_files(missing, unread)
        if still is None and self._root_absent_for(r.id) is not None:
            return  # still not here: it stays said on the run
        if files or still is None:
            self.client.log_imported_artifacts(run_id, files, still)
            self.report.new["artifacts"] += len(files)

    # ------------------------------------------------------------ registry

    def _import_registry(
        self,
        versions: list[MlflowVersion],
        aliases: list[tuple[str, str, int]],
        logged: Mapping[str, MlflowLoggedModel],
        step: Progress,
    ) -> None:
        if not versions and not aliases and self._versions_unread:
            return
        self._versions = {(v.name, v.version): v for v in versions}
        self._aliases = {(name, alias): number for name, alias, number in aliases}
        version_tags: dict[tuple[str, int], dict[str, str]] = self._read(
            "model version tag", "(every model version)", self.source.version_tags, {}
        )
        done = self._imported_versions({v.name for v in versions} | {a[0] for a in aliases})
        home: dict[str, str] = {name: project for name, (project, _) in done.items()}
        mapped: dict[tuple[str, int], tuple[str, int]] = {}  # MLflow -> (project, version)
        for v in versions:
            item = f"{v.name} v{v.version}"
            earlier = done.get(v.name, ("", {}))[1].get(v.version, [])
            same = [(p, n) for source, run, p, n in earlier if _same_version(v, source, run)]
            if same:
                mapped[(v.name, v.version)] = same[0]
                self.report.existing["model versions"] += 1
                step("model versions")
                continue
            try:
                project, number = self._import_version(v, logged, version_tags, home)
                mapped[(v.name, v.version)] = (project, number)
                self.report.new["model versions"] += 1
            except Exception as exc:
                self.report.fail("model version", item, exc)
            step("model versions")
        for name, project in sorted(home.items()):
            try:
                self._keep_name(name, project)
            except Exception as exc:
                self.report.fail("model", name, exc)
        if self._versions_unread:  # aliases to earlier imports
            for name, (_, by_mlflow) in done.items():
                for mv, earlier in by_mlflow.items():
                    mapped[(name, mv)] = earlier[0][2:]
        else:
            models: dict[str, tuple[str, dict[str, str]]] = self._read(
                "model", "(every registered model)", self.source.registered_models, {}
            )
            self._import_empty_models(set(models) - {v.name for v in versions}, home)
            self._import_models(models, home)
        for name, alias, number in aliases:
            item = f"{name}@{alias}"
            target = mapped.get((name, number))
            if target is None:
                self.report.fail("alias", item, f"version {number} was not imported")
            else:
                try:
                    self._import_alias(name, alias, *target)
                except Exception as exc:
                    self.report.fail("alias", item, exc)
            step("aliases")

    def _imported_versions(
        self, wanted: set[str]
    ) -> dict[str, tuple[str, dict[int, list[Earlier]]]]:
        """Models already imported: name -> (the project holding most of its imported
        versions, MLflow version -> what was imported under that number, from this store or
        another, those in that project first), looked for by their import tag in every
        project, deleted ones too. A version deleted in setpoint since counts: it was
        imported all the same."""
        found: dict[str, dict[str, list[tuple[int, Earlier]]]] = {}  # name -> project -> ...
        models = []
        for project in self._readable_projects():  # one, or None: all of them
            with suppress(PermissionDeniedError, ProjectNotFoundError):
                models += self.client.list_models(project)
        kept = {names.registered_model(name): name for name in wanted}  # setpoint's -> MLflow's
        for m in models:
            if m.name not in kept:
                continue
            for sv in self.client.list_model_versions(m.name, m.project, "all"):
                tag = sv.tags.get(IMPORTED_VERSION, "")
                mlflow_name, _, number = tag.rpartition("/")
                if mlflow_name == kept[m.name] and names.is_whole(number):
                    what = (sv.tags.get(IMPORTED_SOURCE), sv.tags.get(IMPORTED_VERSION_RUN))
                    found.setdefault(mlflow_name, {}).setdefault(m.project, []).append(
                        (int(number), (*what, m.project, int(sv.version)))
                    )
        out: dict[str, tuple[str, dict[int, list[Earlier]]]] = {}
        for name, projects in found.items():
            home = max(sorted(projects), key=lambda p: len(projects[p]))
            by_mlflow: dict[int, list[Earlier]] = {}
            for p in [home, *sorted(projects.keys() - {home})]:
                for mv, earlier in projects[p]:
                    by_mlflow.setdefault(mv, []).append(earlier)
            out[name] = (home, by_mlflow)
        return out

    def _import_version(
        self,
        v: MlflowVersion,
        logged: Mapping[str, MlflowLoggedModel],
        version_tags: Mapping[tuple[str, int], dict[str, str]],
        home: dict[str, str],
    ) -> tuple[str, int]:

        from setpoint.models import package
        from setpoint.models.flavors import mlflow as flavor

        run = self._imported.get(v.run_id or "")
        made_by = self._runs.get(v.run_id or "")
        if run is None and v.run_id and (self._runs_unread or (made_by and not made_by.deleted)):
            # registered without it, it would stay without its run (and maybe in another
            # project) for good: tried again with the next import
            raise NotFoundError(
                f"its run {v.run_id} is not imported (yet): the version is imported with it"
            )
        project = home.get(v.name) or (run[1] if run else DEFAULT_PROJECT)
        if project in self._deleted_projects:
            raise InvalidArgumentError(
                f"project {project!r} is deleted in setpoint: restore it to import into it",
                field="project",
            )
        origin = self._origin(v)
        folder, in_run = self._version_folder(v, origin, logged)
        files = _model_files(folder)
        mlmodel = files.get(flavor.MLMODEL)
        if mlmodel is None or not mlmodel.is_file():
            raise NotFoundError(f"no MLmodel file in {folder}: not an MLflow model folder")
        text = mlmodel.read_text(encoding="utf-8")
        flavor.describe(text)  # refuses a model setpoint cannot load, before any upload
        refs = {rel: self.client.upload_file(path) for rel, path in files.items()}
        meta = flavor.package_meta({p: ref.digest for p, ref in refs.items()}, text)
        blob = self.client.upload_blob(io.BytesIO(meta))
        entries = [
            {"path": p, "digest": ref.digest, "size": ref.size} for p, ref in sorted(refs.items())
        ]
        entries.append({"path": package.MANIFEST, "digest": blob.digest, "size": blob.size})
        manifest = self.client.upload_blob(io.BytesIO(package.manifest_bytes(entries)))
        # a tag setpoint refuses is listed on its own; the version is imported without it
        own = version_tags.get((v.name, v.version), {})
        tags = self._checked_pairs("model version tag", f"{v.name} v{v.version}", own.items())
        tags[IMPORTED_VERSION] = f"{v.name}/{v.version}"
        tags[IMPORTED_SOURCE] = v.source
        if v.run_id:
            tags[IMPORTED_VERSION_RUN] = v.run_id
        model_id = _logged_model(origin.source)
        if model_id is not None:  # an MLflow 3 logged model: setpoint's own, made once
            logger = self._imported.get(origin.run_id or "") or run
            model = self._model_run(model_id, logged.get(model_id), project, logger, refs)
            tags[MODEL_ID] = f"m-{model}"
            tags[SOURCE] = f"models:/m-{model}"
        elif in_run is not None and self._imported.get(in_run[0], ("", ""))[1] == project:
            held, path = self._imported[in_run[0]][0], in_run[1]
            tags[SOURCE] = f"runs:/{held}" + (f"/{path}" if path else "")
        if v.stage and v.stage != "None":
            tags["mlflow.stage"] = v.stage
        args = (
            names.registered_model(v.name),
            manifest.digest,
            project,
            run[0] if run is not None and run[1] == project else None,
            v.description,
            tags,
            self.actor,
        )
        try:  # MLflow's number, so that models:/name/3 names the same model in both
            made = self.client.register_model_version(*args, version=v.version)
        except ConflictError as exc:
            if exc.field != "version":
                raise
            # another version has that number here (setpoint's own, or one imported from
            # another store or from a model deleted and made again in MLflow)
            made = self.client.register_model_version(*args)
            self.report.warn(
                "model version",
                f"{v.name} v{v.version}",
                f"imported as v{made.version}: v{v.version} of the model is taken in setpoint",
            )
        home[v.name] = project
        if run is not None and run[1] != project:
            self._link_other_run(v, run, f"{project}/{made.name}/{made.version}")
        return project, int(made.version)

    def _link_other_run(self, v: MlflowVersion, run: tuple[str, str], ref: str) -> None:
        """A version made by a run of another experiment: setpoint keeps a version's run in
        the version's project, so the run is kept as the version's lineage (the run produced
        it), beside MLflow's run id in its tag ``mlflow.imported_version_run``."""
        why = (
            f"its run {v.run_id} is setpoint run {run[0]} in project {run[1]!r}, not in the "
            f"model's: the version has no run_id"
        )
        try:
            self.client.add_lineage("run", run[0], "produced", "model_version", ref)
        except Exception as exc:  # the version is imported all the same
            why += f", and its lineage could not be recorded ({short_reason(exc)})"
        else:
            why += "; the run is kept as its lineage"
        self.report.warn("model version", f"{v.name} v{v.version}", why)

    def _model_run(
        self,
        model_id: str,
        model: MlflowLoggedModel | None,
        project: str,
        made_by: tuple[str, str] | None,
        files: dict[str, BlobRef],
    ) -> str:
        """The setpoint run behind MLflow's logged model ``model_id``: the one an earlier
        import made, in whichever project (a version of a model in another project than the
        run that logged it refers to it there, as in MLflow), else a new one in ``project``
        (made under ``made_by``, the imported run that logged it, when that is in
        ``project``) holding the model's files."""
        if self._models is None:
            self._models = self._imported_models()
        found = self._models.get(model_id)
        if found is not None:
            return found[0]
        name = model.name if model is not None else "model"
        tags = {
            "kind": mlflow_tags.LOGGED_MODEL_KIND,
            mlflow_tags.MODEL_NAME: name,
            mlflow_tags.MODEL_STATUS: mlflow_tags.MODEL_STATUSES[1],  # ready
            IMPORTED_MODEL: model_id,
        }
        parent = made_by[0] if made_by is not None and made_by[1] == project else None
        if parent is not None:
            tags[mlflow_tags.SOURCE_RUN] = parent
        made = self._runs.get(model.source_run_id or "") if model is not None else None
        start = model.created_at if model is not None else None
        if start is None:  # not said by the source: when the run that logged it started
            start = (made.start_time if made is not None else None) or 0
        run = self.client.import_run(
            project,
            _run_name(name, model_id.removeprefix("m-")),
            "finished",
            start,
            start,
            {},
            tags,
            None,
            None,
            files,
            parent,
            self.actor,
        )
        if parent is not None:  # the run's output, as MLflow's runs/outputs says it
            self.client.add_lineage("run", parent, "produced", "run", run.id)
        self._models[model_id] = (run.id, project)
        self.report.new["logged models"] += 1
        return str(run.id)

    def _import_logged_models(self, logged: Mapping[str, MlflowLoggedModel]) -> None:
        """MLflow 3's logged models of the runs imported, registered or not (their files are
        in the experiment's ``models/`` folder, not the run's), each made once, in the
        project of its run; one deleted in setpoint since is not made again."""
        wanted = {
            model_id: m
            for model_id, m in logged.items()
            if not m.deleted
            and m.source_run_id in self._imported
            and m.source_run_id not in self._gone
            and self._imported[m.source_run_id][1] not in self._deleted_projects
        }
        if not wanted:
            return
        if self._models is None:
            self._models = self._imported_models()
        before = {r.tags[IMPORTED_MODEL] for r in self._tagged_runs(IMPORTED_MODEL, "all")}
        roots = [self.artifacts] if self.artifacts is not None else list(self._roots.values())
        for model_id, m in sorted(wanted.items()):
            made_by = self._imported[m.source_run_id or ""]
            if model_id in before:
                self.report.existing["logged models"] += 1
                had = self._models.get(model_id)
                if had is not None and had[1] == made_by[1]:  # (made by an import before the
                    # run's link to it was recorded, or one stopped in between: recorded once)
                    self.client.add_lineage("run", made_by[0], "produced", "run", had[0])
                continue
            try:
                folder, refused = self._logged_model_folder(model_id, m, roots)
                if folder is None:
                    where = f"{refused}, outside the artifact root: not read" if refused else ""
                    raise NotFoundError(
                        f"its files ({m.artifact_location}) are " + (where or "not on this machine")
                    )
                refs = {
                    rel: self.client.upload_file(path) for rel, path in _model_files(folder).items()
                }
                self._model_run(model_id, m, made_by[1], made_by, refs)
            except Exception as exc:  # one bad model must not stop the others
                self.report.fail("logged model", f"{m.name} ({model_id})", exc)

    def _logged_model_folder(
        self, model_id: str, model: MlflowLoggedModel | None, roots: list[Path]
    ) -> tuple[Path | None, Path | None]:
        """The folder here holding MLflow 3's logged model ``model_id``, and one refused for
        being outside every one of ``roots`` (see :meth:`_find`)."""
        first = []
        if self.artifacts is not None and model is not None and model.experiment_id:
            first.append(self.artifacts / model.experiment_id / "models" / model_id / "artifacts")
        location = model.artifact_location if model is not None else None
        return self._find(location, roots, first)

    def _imported_models(self) -> dict[str, tuple[str, str]]:
        """Logged models imported before: MLflow's id -> (setpoint run, project). One
        deleted in setpoint since is not used again."""
        return {
            r.tags[IMPORTED_MODEL]: (r.id, r.project) for r in self._tagged_runs(IMPORTED_MODEL)
        }

    def _keep_name(self, name: str, project: str) -> None:
        """Keep MLflow's name of a registered model whose name is no setpoint model name in
        the model's tag (see ``names.registered_model``), where it is not kept yet."""
        kept = names.registered_model(name)
        if kept != name and (project, kept) not in self._named:
            if names.MODEL_NAME_TAG not in self.client.get_model(kept, project).tags:
                tags = {names.MODEL_NAME_TAG: name}
                self.client.update_model(kept, project, None, tags, self.actor)
            self._named.add((project, kept))

    def _origin(self, v: MlflowVersion) -> MlflowVersion:
        """The version whose files ``v``'s are: the one its source names when that is another
        registered version (``models:/name/3`` or ``models:/name@alias``, as MLflow's
        ``copy_model_version`` makes), followed to the end; ``v`` itself otherwise, and the
        last one found when a version named is not in the source."""
        at, seen = v, set()
        while (at.name, at.version) not in seen:
            seen.add((at.name, at.version))
            ref = _registered_ref(at.source)
            if ref is None:
                break
            name, number = ref
            if isinstance(number, str):
                number = self._aliases.get((name, number), 0)
            named = self._versions.get((name, number))
            if named is None:
                break
            at = named
        return at

    def _version_folder(
        self, v: MlflowVersion, origin: MlflowVersion, logged: Mapping[str, MlflowLoggedModel]
    ) -> tuple[Path, tuple[str, str] | None]:
        """The version's MLflow folder here (that of ``origin``, the version whose files they
        are), and the MLflow run and path inside its artifacts holding it (None when the
        files are not a run's: MLflow 3's logged models). Only a folder inside a run's
        folder, ``artifacts`` or (without it) an experiment's artifact location."""
        source = origin.source
        roots = [self.artifacts] if self.artifacts is not None else list(self._roots.values())
        found: Path | None = None
        refused: Path | None = None
        inside_run: tuple[str, str] | None = None
        model_id = _logged_model(source)
        if source.startswith("runs:/"):
            run_id, _, path = source.removeprefix("runs:/").partition("/")
            path = path.strip("/")
            r = self._runs.get(run_id)
            folder = self._run_folder(r)[0] if r is not None else None
            here = (folder / path if path else folder) if folder is not None else None
            if here is not None and not _inside(here, folder or here):
                refused = here
            elif here is not None and here.is_dir():
                found, inside_run = here, (run_id, path)
        elif model_id is not None:
            found, refused = self._logged_model_folder(model_id, logged.get(model_id), roots)
        elif _registered_ref(source) is None:
            found, refused = self._find(source, roots)
            tail = _TAIL.search(found.as_posix()) if found is not None else None
            if tail and tail.group(1):
                inside_run = (tail.group(1), (tail.group(2) or "").strip("/"))
        for stored in dict.fromkeys([origin.storage_location, v.storage_location]):
            if found is None:  # MLflow's own record of where the files are
                found, elsewhere = self._find(stored, roots)
                refused = refused or elsewhere
        if found is not None:
            return found, inside_run
        if refused is not None:
            where = "--artifacts" if self.artifacts is not None else "every experiment's folder"
            raise InvalidArgumentError(
                f"the files of source {source!r} are at {refused}, outside {where}: not read",
                field="source",
            )
        raise NotFoundError(f"the files of source {source!r} are not on this machine")

    def _import_empty_models(self, empty: set[str], home: dict[str, str]) -> None:
        """Registered models without versions, each made (where no project has it yet) in
        the default project, as a model with no version yet; their description and tags
        follow in :meth:`_import_models`."""
        for name in sorted(empty - home.keys()):
            try:
                project = DEFAULT_PROJECT
                if project in self._deleted_projects:
                    raise InvalidArgumentError(
                        f"project {project!r} is deleted in setpoint: restore it to import into it",
                        field="project",
                    )
                self.client.create_model(names.registered_model(name), project, "", self.actor)
                self._keep_name(name, project)
                home[name] = project
            except Exception as exc:  # one bad model must not stop the others
                self.report.fail("model", name, exc)

    def _import_models(
        self, models: Mapping[str, tuple[str, dict[str, str]]], home: Mapping[str, str]
    ) -> None:
        """A registered model's description and tags, where setpoint's model lacks them (an
        import never overwrites what was set in setpoint)."""
        for name, (description, raw_tags) in sorted(models.items()):
            project = home.get(name)
            if project is None or project in self._deleted_projects:
                continue
            tags = self._checked_pairs("model tag", name, raw_tags.items())
            try:
                kept = names.registered_model(name)
                now = self.client.get_model(kept, project)
                missing = {k: v for k, v in tags.items() if v and k not in now.tags}
                text = description if description and not now.description else None
                if missing or text is not None:
                    self.client.update_model(kept, project, text, missing or None, self.actor)
            except Exception as exc:
                self.report.fail("model", name, exc)

    def _import_alias(self, name: str, alias: str, project: str, version: int) -> None:
        """Set an alias setpoint does not have yet; one that points elsewhere (moved in
        setpoint, or in MLflow, since the last import) is left alone and listed."""
        kept = names.registered_model(name)
        now = self.client.get_model(kept, project).aliases.get(alias)
        if now == version:
            self.report.existing["aliases"] += 1
        elif now is not None:
            self.report.fail(
                "alias",
                f"{name}@{alias}",
                f"points at v{now} in setpoint and at what became v{version} in MLflow; "
                "left as it is",
            )
        elif project in self._deleted_projects:
            self.report.fail(
                "alias",
                f"{name}@{alias}",
                f"project {project!r} is deleted in setpoint: restore it to import into it",
            )
        else:
            self.client.set_alias(kept, alias, version, project, "imported from MLflow", self.actor)
            self.report.new["aliases"] += 1


# "/<experiment>/<run>/artifacts[/path]" or "/<experiment>/models/<m-id>/artifacts[/path]":
# MLflow's layout under its artifact root (group 1: the run; group 2: the path in it).
_TAIL = re.compile(r"/\d+/(?:([0-9a-f]{32})|models/m-[0-9a-f]+)/artifacts(/.*)?$")
_LOGGED = re.compile(r"models:/(m-[0-9a-f]+)/?")  # MLflow 3's logged model: m- and hex


def _without_files(missing: str | None, unread: int) -> str | None:
    """What a run imported without (some of) its files says about them, in its tag; None
    when none is missing."""
    if not missing and not unread:
        return None
    why = missing or f"{unread} of its files could not be read"
    return names.tag_value(why[: names.MAX_TAG_VALUE], IMPORTED_WITHOUT_FILES)


def _model_files(folder: Path) -> dict[str, Path]:
    """A model's files (path inside ``folder`` -> file); InvalidArgumentError when one of
    them is not read (a model without one of its files may not load)."""
    files: dict[str, Path] = {}
    for rel, path in _files(folder):
        if isinstance(path, str):
            raise InvalidArgumentError(f"{folder}/{rel} is {path}", field="source")
        files[rel] = path
    return files


def _logged_model(source: str) -> str | None:
    """MLflow's id of the logged model a version's source names (``models:/m-...``)."""
    found = _LOGGED.fullmatch(source)
    return found.group(1) if found else None


def _registered_ref(source: str) -> tuple[str, int | str] | None:
    """(model, version number or alias) of a source naming a registered version
    (``models:/name/3``, ``models:/name@alias``); None for any other source."""
    if not source.startswith("models:/") or _logged_model(source) is not None:
        return None
    ref = source.removeprefix("models:/").strip("/")
    head, _, tail = ref.rpartition("/")
    if head and names.is_whole(tail):
        return head, int(tail)
    name, at, alias = ref.rpartition("@")
    return (name, alias) if at and name and alias and "/" not in alias else None


def _text(value: Any, field: str) -> Any:
    """A value as text when the database kept it as bytes (a BLOB): decoded when it is
    UTF-8, else refused; any other value as it is."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(
            f"{field} is binary data ({len(bytes(value))} bytes), not UTF-8 text", field=field
        ) from None


def _local_path(uri: str | None) -> Path | None:
    """The local path a URI names (a ``file:`` URL, a plain or Windows path), else None."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path; a Windows drive letter
        return Path(uri)
    return None


def _absent_root(uri: str | None) -> Path | None:
    """The artifact root a run's local ``artifact_uri`` lies under (``/x/mlruns`` of
    ``/x/mlruns/1/<run>/artifacts``) when that root is not on this machine, else None. A run
    folder missing under a root that is here is a run that logged no file (MLflow makes the
    folder with its first file); under a root that is not here, nothing can be said."""
    path = _local_path(uri)
    found = _TAIL.search(path.as_posix()) if path is not None else None
    if path is None or found is None:
        return None
    root = Path(path.as_posix()[: found.start()] or "/")
    return None if root.is_dir() else root


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it once links and '..' are resolved."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a loop of links
        return False


def _files(folder: Path) -> Iterator[tuple[str, Path | str]]:
    """(path inside ``folder``, file) of every file below it, in order; a link to nothing is
    given too, so that reading it fails and is listed. What is not read is given with the
    reason instead of its path: a link (to a file or a folder) that leads out of ``folder``
    (never followed), and what is not a regular file (opening a FIFO waits for a writer)."""
    top = folder.resolve()
    for root, dirs, files in os.walk(folder):  # links to folders are not walked
        here = Path(root)
        dirs.sort()
        for d in dirs:
            if (here / d).is_symlink() and not _inside(here / d, top):
                yield (here / d).relative_to(folder).as_posix(), LINK_OUT
        for f in sorted(files):
            path = here / f
            rel = path.relative_to(folder).as_posix()
            if not _inside(path, top):
                yield rel, LINK_OUT
                continue
            try:
                mode = path.stat().st_mode
            except OSError:  # a link to nothing: reading it fails, and that is listed
                mode = stat.S_IFREG
            if stat.S_ISREG(mode):
                yield rel, path
            else:
                what = NOT_FILE.get(stat.S_IFMT(mode), "a special file")
                yield rel, f"{what}, not a regular file: not read"


def _same_version(v: MlflowVersion, source: str | None, run: str | None) -> bool:
    """Whether a version imported from ``source`` and ``run`` is ``v``, and not one of
    another store (or of a model deleted and made again) that had the same name and number.
    What an older import did not record is not compared."""
    return source in (None, v.source) and run in (None, v.run_id or "")


def _run_name(name: str | None, run_id: str) -> str:
    """MLflow's run name as the run's name: free text, as setpoint's run names are (control
    characters become spaces, cut to 128 characters); the name as it was stays in the
    ``mlflow.runName`` tag."""
    return names.plain_run_name(name) or f"run-{run_id[:8]}"


def import_mlflow(
    client: Any,
    url: str,
    artifacts: str | None = None,
    progress: Progress | None = None,
    actor: str | None = None,
) -> ImportReport:
    """Import the MLflow tracking server or database at ``url`` through ``client``."""
    source = open_source(url)
    try:
        return MlflowImporter(client, source, artifacts, actor).run(progress=progress)
    finally:
        source.close()


def open_source(url: str) -> MlflowSource:
    """The MLflow source ``url`` names, opened: a tracking server (``http://``, ``https://``)
    or else a tracking database (a SQLAlchemy URL). InvalidArgumentError (field ``from``) when
    it cannot be read."""
    if url.lower().startswith(("http://", "https://")):
        from setpoint.client.mlflow_server import MlflowServer

        return MlflowServer(url).open()
    local = _local_path(url)
    if local is not None and (
        urlparse(url).scheme == "file" or local.is_dir() or local.name == "mlruns"
    ):
        raise InvalidArgumentError(
            f"{url} is an MLflow file store (an mlruns folder, no database), which is not "
            "read: serve it with `MLFLOW_ALLOW_FILE_STORE=true mlflow server "
            f"--backend-store-uri {local if urlparse(url).scheme else url}` and import from that server's URL (or convert it "
            "with `mlflow migrate-filestore` and import the database)",
            field="from",
        )
    return MlflowDatabase(url).open()
