"""Import an MLflow tracking database or tracking server into setpoint: experiments, runs
with their whole metric history, artifacts, registered models, versions and aliases.

A database's own tables are read with SQLAlchemy, a server through its REST API and artifact
proxy (no MLflow needed either way); everything is written through a setpoint client, so the
import works in both SDK modes. What was imported carries MLflow's id (a run tag, a version
tag) and is skipped the next time: importing twice changes nothing. An item that cannot be
imported is listed in the report and the rest goes on.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from setpoint.client.mlflow_database import (
    MlflowDatabase,
    MlflowRun,
    MlflowSource,
    MlflowVersion,
    Plan,
    short_reason,
)
from setpoint.core import names
from setpoint.core.config import DEFAULT_PROJECT
from setpoint.core.errors import InvalidArgumentError, NotFoundError
from setpoint.core.types import BlobRef, MetricBatch

IMPORTED_RUN = "mlflow.imported_run_id"
IMPORTED_VERSION = "mlflow.imported_version"  # "<registered model>/<version>"
SOURCE, IMPORTED_SOURCE, MODEL_ID = "mlflow.source", "mlflow.imported_source", "mlflow.model_id"
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
KINDS = ("projects", "runs", "metric points", "artifacts", "model versions", "aliases")

Progress = Callable[[str], None]


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

    def fail(self, kind: str, item: str, reason: object) -> None:
        self.failures.append(Failure(kind=kind, item=item, reason=short_reason(reason)))


# ---------------------------------------------------------------- the import


class MlflowImporter:
    """Copies what ``source`` holds into setpoint through ``client`` (local or remote).

    ``artifacts``: MLflow's artifact root (``./mlruns``, or a server's artifact destination),
    laid out as ``<experiment id>/<run id>/artifacts``; without it, a run's files are read from
    its ``artifact_uri`` when that is a local path, or fetched by the source (a server's
    ``mlflow-artifacts:`` URIs).
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

    def plan(self) -> Plan:
        """What the source holds: runs, model versions and aliases (read once)."""
        return self.source.runs(), self.source.versions(), self.source.aliases()

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
        while self._waiting:  # their parent could not be imported: without it, as before
            for child, tags in self._waiting.pop(next(iter(self._waiting))):
                self._import_run(child, tags, wait=False)
        self._import_registry(versions, aliases, step)
        return self.report

    # ------------------------------------------------------------ experiments

    def _import_experiments(self) -> None:
        existing = {p.name: p for p in self.client.list_projects(lifecycle="all")}
        for e in self.source.experiments():
            if e.deleted:
                continue
            project = DEFAULT_PROJECT if e.id == "0" else e.name
            try:
                names.check_name(project, "project")
            except InvalidArgumentError as exc:
                self.report.fail("experiment", f"{e.name} (id {e.id})", exc)
                continue
            if project in existing and existing[project].deleted_at is not None:
                self.report.fail(
                    "experiment",
                    f"{e.name} (id {e.id})",
                    f"project {project!r} is deleted in setpoint: restore it to import into it",
                )
                continue
            self._projects[e.id] = project
            if project in existing:
                self.report.existing["projects"] += 1
            else:
                existing[project] = self.client.create_project(project)
                self.report.new["projects"] += 1

    def _find_imported_runs(self) -> None:
        from setpoint.core.errors import ProjectNotFoundError

        for project in sorted(set(self._projects.values())):
            token = None
            while True:
                try:
                    page = self.client.search_runs(
                        [project],
                        f"tags.`{IMPORTED_RUN}` LIKE '%'",
                        None,
                        50_000,
                        token,
                        "all",  # a run deleted in setpoint since was imported all the same
                    )
                except ProjectNotFoundError:
                    break
                for r in page.runs:
                    self._imported[r.tags[IMPORTED_RUN]] = (r.id, r.project)
                token = page.next_page_token
                if not token:
                    break

    # ------------------------------------------------------------ runs

    def _import_run(
        self, r: MlflowRun, raw_tags: list[tuple[str, Any]] | None = None, wait: bool = True
    ) -> None:
        if r.deleted:
            self.report.deleted_skipped += 1
            return
        if r.id in self._imported:
            self.report.existing["runs"] += 1
            return
        project = self._projects.get(r.experiment_id)
        if project is None:
            self.report.fail("run", r.id, f"its experiment {r.experiment_id} was not imported")
            return
        if raw_tags is None:
            raw_tags = self.source.pairs("tags", r.id)
        parent = dict(raw_tags).get("mlflow.parentRunId")
        source_parent = self._runs.get(parent) if isinstance(parent, str) else None
        if (
            wait
            and source_parent is not None
            and not source_parent.deleted
            and source_parent.id not in self._imported
        ):
            self._waiting.setdefault(source_parent.id, []).append((r, raw_tags))
            return
        try:
            self._send_run(r, project, raw_tags)
        except Exception as exc:  # one bad run must not stop the others
            self.report.fail("run", r.id, exc)
        for child, tags in self._waiting.pop(r.id, []):
            self._import_run(child, tags, wait=r.id in self._imported)

    def _send_run(self, r: MlflowRun, project: str, raw_tags: list[tuple[str, Any]]) -> None:
        params = self._checked_pairs("param", r.id, self.source.pairs("params", r.id))
        tags = self._checked_pairs("tag", r.id, raw_tags)
        tags[IMPORTED_RUN] = r.id
        keys, values, steps, stamps = self._metric_columns(r.id)
        files = self._upload_run_files(r)
        parent_run, parent_project = self._imported.get(
            tags.get("mlflow.parentRunId", ""), ("", "")
        )
        parent = parent_run if parent_project == project else None
        status = STATUS.get(str(r.status), "running")
        start = r.start_time if r.start_time is not None else (r.end_time or 0)
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
            del tags[IMPORTED_RUN]
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
            for i in range(limit, len(keys), limit):
                j = i + limit
                self.client.log_metrics(run.id, keys[i:j], values[i:j], steps[i:j], stamps[i:j])
            if status != "running":
                self.client.end_run(run.id, status, actor=self.actor)
            self.client.set_tags(run.id, {IMPORTED_RUN: r.id})
        self._imported[r.id] = (run.id, project)
        self.report.new["runs"] += 1
        self.report.new["metric points"] += len(keys)
        self.report.new["artifacts"] += len(files)

    def _checked_pairs(self, kind: str, run_id: str, rows: list[tuple[str, Any]]) -> dict[str, str]:
        out = {}
        check = names.param_value if kind == "param" else names.tag_value
        for key, value in rows:
            try:
                out[names.check_key(key, f"{kind} key")] = check(
                    "" if value is None else value, key
                )
            except InvalidArgumentError as exc:
                self.report.fail(kind, f"{run_id} {key}", exc)
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

    def _run_folder(self, r: MlflowRun) -> Path | None:
        """Where a run's files are on this machine (None: it logged none, or not here)."""
        candidates = []
        if self.artifacts is not None:
            candidates.append(self.artifacts / r.experiment_id / r.id / "artifacts")
        candidates.extend(self._local_paths(r.artifact_uri))
        return next((c for c in candidates if c.is_dir()), None)

    def _local_paths(self, uri: str | None) -> list[Path]:
        """Local folders an MLflow URI may stand for: the folder the source fetched it into,
        a file path as it is, and (when the artifact root was moved) the same path re-rooted
        under ``artifacts``."""
        if not uri:
            return []
        fetched = self.source.local_folder(uri)  # a server's files; a database has none
        parsed = urlparse(uri)
        out = [fetched] if fetched is not None else []
        if parsed.scheme == "file" or (parsed.scheme == "" and uri):
            out.append(Path(unquote(parsed.path) if parsed.scheme else uri))
        elif len(parsed.scheme) == 1:  # a Windows drive letter
            out.append(Path(uri))
        if self.artifacts is not None:
            rel = unquote(parsed.path).lstrip("/")
            if parsed.scheme == "mlflow-artifacts":
                out.append(self.artifacts / rel)
            found = _TAIL.search("/" + rel)
            if found:
                out.append(self.artifacts / found.group(0).lstrip("/"))
        return out

    def _upload_run_files(self, r: MlflowRun) -> dict[str, BlobRef]:
        folder = self._run_folder(r)
        if folder is None:
            return {}
        out = {}
        for rel, path in _files(folder):
            try:
                out[rel] = self.client.upload_file(path)
            except OSError as exc:
                self.report.fail("artifact", f"{r.id} {rel}", exc)
        return out

    # ------------------------------------------------------------ registry

    def _import_registry(
        self,
        versions: list[MlflowVersion],
        aliases: list[tuple[str, str, int]],
        step: Progress,
    ) -> None:
        if not versions and not aliases:
            return
        logged = self.source.logged_models()
        version_tags = self.source.version_tags()
        done = self._imported_versions({v.name for v in versions})
        home: dict[str, str] = {name: project for name, (project, _) in done.items()}
        mapped: dict[tuple[str, int], tuple[str, int]] = {}  # MLflow -> (project, version)
        for name, (project, by_mlflow) in done.items():
            for mv, sv in by_mlflow.items():
                mapped[(name, mv)] = (project, sv)
        for v in versions:
            item = f"{v.name} v{v.version}"
            if (v.name, v.version) in mapped:
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

    def _imported_versions(self, wanted: set[str]) -> dict[str, tuple[str, dict[int, int]]]:
        """Models already imported: name -> (project, MLflow version -> setpoint version).
        A version deleted in setpoint since counts: it was imported all the same."""
        out: dict[str, tuple[str, dict[int, int]]] = {}
        for p in self.client.list_projects():
            for m in self.client.list_models(p.name):
                if m.name not in wanted or m.name in out:
                    continue
                found = {}
                for sv in self.client.list_model_versions(m.name, p.name, "all"):
                    tag = sv.tags.get(IMPORTED_VERSION, "")
                    mlflow_name, _, number = tag.rpartition("/")
                    if mlflow_name == m.name and names.is_whole(number):
                        found[int(number)] = sv.version
                out[m.name] = (p.name, found)
        return out

    def _import_version(
        self,
        v: MlflowVersion,
        logged: Mapping[str, tuple[str, str | None]],
        version_tags: Mapping[tuple[str, int], dict[str, str]],
        home: dict[str, str],
    ) -> tuple[str, int]:

        from setpoint.models import package
        from setpoint.models.flavors import mlflow as flavor

        names.check_name(v.name, "registered model name")
        folder, run_prefix = self._version_folder(v, logged)
        run = self._imported.get(v.run_id or "")
        project = home.get(v.name) or (run[1] if run else DEFAULT_PROJECT)
        mlmodel = folder / flavor.MLMODEL
        if not mlmodel.is_file():
            raise NotFoundError(f"no MLmodel file in {folder}: not an MLflow model folder")
        text = mlmodel.read_text(encoding="utf-8")
        flavor.describe(text)  # refuses a model setpoint cannot load, before any upload
        refs = {rel: self.client.upload_file(path) for rel, path in _files(folder)}
        meta = flavor.package_meta({p: ref.digest for p, ref in refs.items()}, text)
        blob = self.client.upload_blob(io.BytesIO(meta))
        entries = [
            {"path": p, "digest": ref.digest, "size": ref.size} for p, ref in sorted(refs.items())
        ]
        entries.append({"path": package.MANIFEST, "digest": blob.digest, "size": blob.size})
        manifest = self.client.upload_blob(io.BytesIO(package.manifest_bytes(entries)))
        tags = {
            **version_tags.get((v.name, v.version), {}),
            IMPORTED_VERSION: f"{v.name}/{v.version}",
            IMPORTED_SOURCE: v.source,
        }
        if run is not None and run_prefix is not None:
            tags[SOURCE] = f"runs:/{run[0]}" + (f"/{run_prefix}" if run_prefix else "")
        if v.source.startswith("models:/m-"):
            tags[MODEL_ID] = v.source.removeprefix("models:/").strip("/")
        if v.stage and v.stage != "None":
            tags["mlflow.stage"] = v.stage
        made = self.client.register_model_version(
            v.name,
            manifest.digest,
            project,
            run[0] if run is not None and run[1] == project else None,
            v.description,
            tags,
            self.actor,
        )
        home[v.name] = project
        return project, int(made.version)

    def _version_folder(
        self, v: MlflowVersion, logged: Mapping[str, tuple[str, str | None]]
    ) -> tuple[Path, str | None]:
        """The version's MLflow folder here, and its path inside its run's artifacts (None
        when the files are not a run's: MLflow 3's logged models)."""
        source = v.source
        candidates: list[tuple[Path, str | None]] = []
        if source.startswith("runs:/"):
            run_id, _, path = source.removeprefix("runs:/").partition("/")
            path = path.strip("/")
            r = self._runs.get(run_id)
            folder = self._run_folder(r) if r is not None else None
            if folder is not None and ".." not in path.split("/"):
                candidates.append((folder / path if path else folder, path))
        elif source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").strip("/")
            experiment, location = logged.get(model_id, ("", None))
            if self.artifacts is not None and experiment:
                base = self.artifacts / experiment / "models" / model_id / "artifacts"
                candidates.append((base, None))
            candidates.extend((p, None) for p in self._local_paths(location))
        else:
            for p in self._local_paths(source):
                found = _TAIL.search(p.as_posix())
                inside = (found.group(2) or "").strip("/") if found and found.group(1) else None
                candidates.append((p, inside))
        for p in self._local_paths(v.storage_location):
            candidates.append((p, None))
        for folder_here, inside_run in candidates:
            if folder_here.is_dir():
                return folder_here, inside_run
        raise NotFoundError(f"the files of source {source!r} are not on this machine")

    def _import_alias(self, name: str, alias: str, project: str, version: int) -> None:
        """Set an alias setpoint does not have yet; one that points elsewhere (moved in
        setpoint, or in MLflow, since the last import) is left alone and listed."""
        now = self.client.get_model(name, project).aliases.get(alias)
        if now == version:
            self.report.existing["aliases"] += 1
        elif now is not None:
            self.report.fail(
                "alias",
                f"{name}@{alias}",
                f"points at v{now} in setpoint and at what became v{version} in MLflow; "
                "left as it is",
            )
        else:
            self.client.set_alias(name, alias, version, project, "imported from MLflow", self.actor)
            self.report.new["aliases"] += 1


# "/<experiment>/<run>/artifacts[/path]" or "/<experiment>/models/<m-id>/artifacts[/path]":
# MLflow's layout under its artifact root (group 1: the run; group 2: the path in it).
_TAIL = re.compile(r"/\d+/(?:([0-9a-f]{32})|models/m-[0-9a-f]+)/artifacts(/.*)?$")


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(path inside ``folder``, file) of every file below it, in order; a link to nothing is
    given too, so that reading it fails and is listed."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            path = Path(root) / f
            yield path.relative_to(folder).as_posix(), path


def _run_name(name: str | None, run_id: str) -> str:
    """MLflow's run name as a setpoint name (other characters become '-'); the name as it
    was stays in the ``mlflow.runName`` tag."""
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name or "").strip("-._")[: names.MAX_NAME]
    return text or f"run-{run_id[:8]}"


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
    return MlflowDatabase(url).open()
