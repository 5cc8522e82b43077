"""The operations table: each method of :class:`Api` is one operation, with its REST route.

The local client calls these methods directly; the server builds one route per operation from
the same signatures (arguments validated, results encoded); the remote client builds one HTTP
call per operation. Nothing about an operation is written twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.types import (
    Alert,
    AliasMove,
    Approval,
    Artifact,
    AuditEvent,
    AuditVerdict,
    BlobRef,
    Dataset,
    DatasetFile,
    DatasetVersion,
    Deployment,
    Evaluation,
    LineageEdge,
    MetricBatch,
    MetricHistory,
    Model,
    ModelFile,
    ModelReservation,
    ModelVersion,
    Monitor,
    MonitorWindow,
    Occurrence,
    PredictionLogFile,
    Project,
    Promotion,
    Run,
    RunInput,
    RunPage,
    Schedule,
    ValidationRecord,
)
from setpoint.data.versions import parse_ref
from setpoint.tracking.environment import RunEnvironment

if TYPE_CHECKING:
    # The services are imported by the clients that make them: several import SQLAlchemy,
    # which a client on the lite store (client/lite.py) mostly goes without.
    from setpoint.data.versions import DatasetVersions
    from setpoint.governance.audit import AuditLog
    from setpoint.models.registry import Registry
    from setpoint.monitoring.alerts import Alerts
    from setpoint.monitoring.monitors import Monitors
    from setpoint.pipelines.schedules import Schedules
    from setpoint.serving.logs import PredictionLogs
    from setpoint.tracking.artifacts import RunArtifacts
    from setpoint.tracking.lineage import Lineage
    from setpoint.tracking.runs import Runs

API_PREFIX = "/api/v1"


@dataclass(frozen=True, kw_only=True)
class OperationSpec:
    name: str
    method: Literal["GET", "POST", "PUT"]
    path: str
    # "json": arguments not in the path travel as a JSON body (POST/PUT) or query (GET);
    # "stream": the request body is raw bytes (uploads); "download": the answer is raw bytes.
    kind: Literal["json", "stream", "download"] = "json"
    # for "download": whether the operation writes one file at `dest` or files under it
    dest: Literal["file", "folder"] = "file"
    # the role a caller needs in the operation's project when the server enforces roles;
    # "any": every authenticated caller (reads and writes of content-addressed blobs)
    role: Literal["viewer", "editor", "approver", "admin", "any"] = "viewer"

    @property
    def path_params(self) -> list[str]:
        return [p.strip("{}").split(":")[0] for p in self.path.split("/") if p.startswith("{")]


def operation(
    method: Literal["GET", "POST", "PUT"],
    path: str,
    kind: Literal["json", "stream", "download"] = "json",
    dest: Literal["file", "folder"] = "file",
    role: Literal["viewer", "editor", "approver", "admin", "any"] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a method as an operation; ``role`` defaults to viewer for GET, editor otherwise."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__operation__ = OperationSpec(  # type: ignore[attr-defined]
            name=fn.__name__,
            method=method,
            path=path,
            kind=kind,
            dest=dest,
            role=role or ("viewer" if method == "GET" else "editor"),
        )
        return fn

    return mark


def operations() -> Iterator[tuple[OperationSpec, Callable[..., Any]]]:
    """Every operation of :class:`Api`, in definition order."""
    for value in vars(Api).values():
        spec = getattr(value, "__operation__", None)
        if spec is not None:
            yield spec, value


class Api:
    """The operations over the lifecycle services of one setpoint store."""

    def __init__(
        self,
        runs: Runs,
        artifacts: RunArtifacts,
        lineage: Lineage,
        datasets: DatasetVersions,
        registry: Registry,
        audit: AuditLog,
        schedules: Schedules,
        alerts: Alerts,
        prediction_logs: PredictionLogs,
        monitors: Monitors,
    ) -> None:
        self.runs = runs
        self.artifacts = artifacts
        self.lineage = lineage
        self.datasets = datasets
        self.registry = registry
        self.audit = audit
        self.schedules = schedules
        self.alerts = alerts
        self.prediction_logs = prediction_logs
        self.monitors = monitors

    # ------------------------------------------------------------ projects

    @operation("POST", "/projects")
    def create_project(
        self, name: str, description: str = "", tags: dict[str, Any] | None = None
    ) -> Project:
        """Create a project (or return the existing one of that name), with ``tags``."""
        return self.runs.create_project(name, description, tags)

    @operation("GET", "/projects", role="any")
    def list_projects(self, lifecycle: str = "active") -> list[Project]:
        """Projects by name: ``active`` ones (not deleted), ``deleted`` ones, or ``all``;
        without their tags (``get_project`` has them)."""
        return self.runs.list_projects(lifecycle)

    @operation("GET", "/projects/{project}")
    def get_project(self, project: str) -> Project:
        """One project, deleted or not, with its tags."""
        return self.runs.get_project(project)

    @operation("POST", "/projects/{project}/delete", role="admin")
    def delete_project(self, project: str, actor: str | None = None) -> Project:
        """Delete a project: it leaves listings and searches of every project, and takes no
        new runs. Nothing is erased; ``restore_project`` undoes it."""
        return self.runs.delete_project(project, actor)

    @operation("POST", "/projects/{project}/restore", role="admin")
    def restore_project(self, project: str, actor: str | None = None) -> Project:
        """Undo ``delete_project``."""
        return self.runs.restore_project(project, actor)

    @operation("POST", "/projects/{project}/tags")
    def set_project_tags(self, project: str, tags: dict[str, Any]) -> None:
        """Set tags on a project (a tag may be overwritten)."""
        self.runs.set_project_tags(project, tags)

    @operation("POST", "/projects/{project}/delete-tag")
    def delete_project_tag(self, project: str, key: str) -> None:
        """Remove one tag of a project."""
        self.runs.delete_project_tag(project, key)

    # ------------------------------------------------------------ runs

    @operation("POST", "/runs")
    def create_run(
        self,
        project: str,
        name: str | None = None,
        tags: dict[str, Any] | None = None,
        parent_id: str | None = None,
        environment: RunEnvironment | None = None,
        actor: str | None = None,
        heartbeats: bool = True,
        start_time: int | None = None,
    ) -> Run:
        """Start a run in a project (created on first use); ``start_time`` (ms) when the
        caller says when it started."""
        return self.runs.create_run(
            project, name, tags, parent_id, environment, actor, heartbeats, start_time
        )

    @operation("GET", "/runs/{run_id}")
    def get_run(self, run_id: str) -> Run:
        """One run with its params, latest metrics and tags."""
        return self.runs.get_run(run_id)

    @operation("POST", "/runs/{run_id}/end")
    def end_run(
        self,
        run_id: str,
        status: str = "finished",
        error: str | None = None,
        final_metrics: MetricBatch | None = None,
        final_params: dict[str, Any] | None = None,
        actor: str | None = None,
        end_time: int | None = None,
    ) -> Run:
        """End a running run as finished, failed or killed (with its last points and params);
        ``end_time`` (ms) when the caller says when it ended."""
        return self.runs.end_run(
            run_id, status, error, final_metrics, final_params, actor, end_time
        )

    @operation("POST", "/runs/import")
    def import_run(
        self,
        project: str,
        name: str,
        status: str,
        start_time: int,
        end_time: int | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        metrics: MetricBatch | None = None,
        user: str | None = None,
        artifacts: dict[str, BlobRef] | None = None,
        parent_id: str | None = None,
        actor: str | None = None,
    ) -> Run:
        """Record a run made elsewhere (e.g. in MLflow) whole, in one transaction: its times,
        status, params, tags, metric points and artifacts (path -> a blob uploaded first)."""
        self.artifacts.require_stored(artifacts or {})
        return self.runs.import_run(
            project,
            name,
            status,
            start_time,
            end_time,
            params,
            tags,
            metrics,
            user,
            artifacts,
            parent_id,
            actor,
        )

    @operation("POST", "/runs/{run_id}/params")
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Log params (write-once: another value for a logged key is a conflict)."""
        self.runs.log_params(run_id, params)

    @operation("POST", "/runs/{run_id}/tags")
    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set tags (a tag may be overwritten)."""
        self.runs.set_tags(run_id, tags)

    @operation("POST", "/runs/{run_id}/delete-tag")
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag of a run."""
        self.runs.delete_tag(run_id, key)

    @operation("POST", "/runs/{run_id}/inputs")
    def log_inputs(
        self, run_id: str, datasets: list[dict[str, Any]], consumed_runs: list[str] | None = None
    ) -> None:
        """Record datasets the run read that setpoint does not hold (MLflow's dataset
        inputs: ``name``, ``digest``, ``source_type``, ``source``, ``schema``, ``profile``,
        ``tags``), and runs whose outputs it read (lineage), in one transaction. Data
        versioned in setpoint is recorded with ``run.log_input`` instead."""
        self.runs.log_inputs(run_id, datasets, consumed_runs)

    @operation("GET", "/runs/{run_id}/inputs")
    def list_run_inputs(self, run_id: str) -> list[RunInput]:
        """The datasets recorded with ``log_inputs``, in the order they were first logged."""
        return self.runs.list_inputs(run_id)

    @operation("POST", "/runs/{run_id}/delete")
    def delete_run(self, run_id: str, actor: str | None = None) -> Run:
        """Delete a run: it leaves searches and takes no more logging. Nothing is erased;
        ``restore_run`` undoes it."""
        return self.runs.delete_run(run_id, actor)

    @operation("POST", "/runs/{run_id}/restore")
    def restore_run(self, run_id: str, actor: str | None = None) -> Run:
        """Undo ``delete_run``."""
        return self.runs.restore_run(run_id, actor)

    @operation("POST", "/runs/{run_id}/metrics")
    def log_metrics(
        self,
        run_id: str,
        keys: list[str],
        values: list[float | None],
        steps: list[int],
        timestamps: list[int] | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Append metric points given as parallel columns (null values stand for NaN).
        ``batch_id`` (1-64 of ``A-Za-z0-9._:-``): sending a request again under the id it
        was first sent with stores its points once."""
        self.runs.log_metrics(run_id, keys, values, steps, timestamps, batch_id)

    @operation("POST", "/runs/{run_id}/batch")
    def log_batch(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        keys: list[str] | None = None,
        values: list[float | None] | None = None,
        steps: list[int] | None = None,
        timestamps: list[int] | None = None,
        ended: bool = False,
    ) -> None:
        """Params, tags and metric points (columns, as in ``log_metrics``; timestamps default
        to now) in one transaction: all of them are stored, or none. ``ended``: also to a run
        that has ended, which stays as it ended otherwise (MLflow's clients log to ended runs:
        autolog, a model's score after the fit that ended its run)."""
        keys = keys or []
        metrics = MetricBatch(
            keys=keys,
            values=values or [],
            steps=steps or [],
            timestamps=[self.runs.clock.now_ms()] * len(keys) if timestamps is None else timestamps,
        )
        self.runs.log_batch(run_id, params, tags, metrics, ended)

    @operation("POST", "/runs/{run_id}/rename")
    def rename_run(self, run_id: str, name: str, actor: str | None = None) -> Run:
        """Give a run another name (audited)."""
        return self.runs.rename_run(run_id, name, actor)

    @operation("POST", "/runs/{run_id}/heartbeat")
    def heartbeat(self, run_id: str) -> None:
        """Tell the store the process behind a running run is alive."""
        self.runs.heartbeat(run_id)

    @operation("GET", "/runs/{run_id}/metric-history")
    def get_metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric of a run, ordered by step."""
        return self.runs.get_metric_history(run_id, key)

    @operation("POST", "/runs/search", role="viewer")
    def search_runs(
        self,
        project: list[str] | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        lifecycle: str = "active",
    ) -> RunPage:
        """Runs matching a filter such as ``metrics.auc > 0.9 and params.depth = '8'``;
        ``lifecycle``: ``active`` (not deleted), ``deleted`` or ``all``."""
        return self.runs.search_runs(project, filter, order_by, max_results, page_token, lifecycle)

    @operation("POST", "/runs/tagged", role="viewer")
    def tagged_runs(
        self, project: str, tags: dict[str, str], status: str = "finished", limit: int = 5
    ) -> list[Run]:
        """The project's newest runs in ``status`` carrying every one of ``tags`` (exact
        values), up to ``limit`` (1..100): what a pipeline step's cache lookup asks."""
        return self.runs.tagged_runs(project, tags, status, limit)

    # ------------------------------------------------------------ artifacts

    @operation("GET", "/runs/{run_id}/artifacts")
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        """Artifacts of a run, optionally below a folder path."""
        return self.artifacts.list_artifacts(run_id, prefix)

    @operation("PUT", "/runs/{run_id}/artifacts/{path:path}", kind="stream")
    def upload_artifact(self, run_id: str, path: str, stream: BinaryIO) -> Artifact:
        """Store the request body as the artifact at ``path``."""
        return self.artifacts.log_stream(run_id, path, stream)

    @operation("POST", "/runs/{run_id}/artifacts")
    def log_artifacts(
        self, run_id: str, files: dict[str, BlobRef], ended: bool = False
    ) -> list[Artifact]:
        """Record blobs uploaded first as the run's artifacts (path -> blob), in one
        transaction: a folder is visible whole or not at all. ``ended``: also to a run that
        has ended (as ``log_batch``'s)."""
        return self.artifacts.log_blobs(run_id, files, ended)

    @operation("POST", "/runs/{run_id}/imported-artifacts")
    def log_imported_artifacts(
        self, run_id: str, files: dict[str, BlobRef], missing: str | None = None
    ) -> list[Artifact]:
        """Add the files of a run imported without (some of) them, ended or not (it carries
        the tag ``setpoint.imported_without_files``): blobs uploaded first (path -> blob).
        ``missing`` says why some are still not there (kept in that tag); None removes it."""
        return self.artifacts.log_imported(run_id, files, missing)

    @operation("GET", "/runs/{run_id}/artifacts/{path:path}", kind="download", dest="folder")
    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> list[str]:
        """Write an artifact (or a folder of them) under ``dest``, verifying every byte."""
        return self.artifacts.download(run_id, path, dest)

    # ------------------------------------------------------------ blobs and datasets

    @operation("PUT", "/blobs", kind="stream", role="editor")
    def upload_blob(self, stream: BinaryIO) -> BlobRef:
        """Store the request body as a content-addressed blob (identical bytes are kept once)."""
        digest, size = self.artifacts.blobs.put_stream(stream)
        return BlobRef(digest=digest, size=size)

    @operation("GET", "/blobs/{digest}/exists", role="editor")
    def has_blob(self, digest: str) -> bool:
        """Whether the store holds this blob (kept from `gc` a while: a writer asks before
        it refers to one; with roles, an editor in some project may ask)."""
        return self.artifacts.blobs.held(digest)

    def upload_file(self, path: str | os.PathLike[str]) -> BlobRef:
        """Store a local file as a blob (not an operation: remote clients stream it)."""
        digest, size = self.artifacts.blobs.put_file(path)
        return BlobRef(digest=digest, size=size)

    def local_blob_path(self, digest: str) -> str | None:
        """The stored file of a blob when the store is a local folder, its bytes verified."""
        return self.artifacts.blobs.local_path(digest)

    @operation("GET", "/blobs/{digest}", kind="download", role="viewer")
    def download_blob(self, digest: str, dest: str | os.PathLike[str]) -> str:
        """Write a blob to the file ``dest``, verifying its hash; returns the path."""
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        self.artifacts.blobs.get_file(digest, dest)
        return str(dest)

    @operation("POST", "/datasets/{name}/versions")
    def create_dataset_version(
        self,
        name: str,
        digest: str,
        project: str = "default",
        source: str = "",
        description: str = "",
        parents: list[str] | None = None,
        creator: str | None = None,
        kind: Literal["table", "files"] = "table",
        profile: str | None = None,
    ) -> DatasetVersion:
        """Register a stored blob (Parquet, or a file manifest for ``kind="files"``) as the
        next version, with its profile blob; or return the latest if it holds the same data."""
        return self.datasets.create(
            project, name, digest, source, description, parents, creator, kind, profile
        )

    @operation("GET", "/datasets/{name}/version")
    def get_dataset_version(
        self, name: str, project: str = "default", version: int | None = None
    ) -> DatasetVersion:
        """One version of a dataset; the latest when no version is given."""
        return self.datasets.get(project, name, version)

    @operation("GET", "/datasets/{name}/versions")
    def list_dataset_versions(self, name: str, project: str = "default") -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        return self.datasets.list_versions(project, name)

    @operation("GET", "/datasets")
    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        """Datasets with their latest version number."""
        return self.datasets.list_datasets(project)

    @operation("GET", "/datasets/{name}/versions/{version}/files")
    def list_dataset_files(
        self, name: str, version: int, project: str = "default"
    ) -> list[DatasetFile]:
        """The files of a ``files`` version (none for a table)."""
        return self.datasets.list_files(project, name, version)

    @operation("POST", "/datasets/{name}/versions/{version}/validations")
    def record_validation(
        self,
        name: str,
        version: int,
        suite: str,
        suite_digest: str,
        checks: list[dict[str, Any]],
        project: str = "default",
        environment: str | None = None,
        creator: str | None = None,
    ) -> ValidationRecord:
        """Keep a validation result with the version it judged."""
        return self.datasets.record_validation(
            project,
            name,
            version,
            suite=suite,
            suite_digest=suite_digest,
            environment=environment,
            checks=checks,
            creator=creator,
        )

    @operation("GET", "/datasets/{name}/versions/{version}/validations")
    def list_validations(
        self, name: str, version: int, project: str = "default"
    ) -> list[ValidationRecord]:
        """Validation results of one version, oldest first."""
        return self.datasets.list_validations(project, name, version)

    # ------------------------------------------------------------ lineage

    @operation("POST", "/lineage")
    def add_lineage(
        self, source_kind: str, source_id: str, relation: str, target_kind: str, target_id: str
    ) -> LineageEdge:
        """Record that ``source`` relates to ``target`` (e.g. run consumed dataset_version)."""
        return self.lineage.add(source_kind, source_id, relation, target_kind, target_id)

    @operation("GET", "/lineage")
    def get_lineage(self, kind: str, id: str) -> list[LineageEdge]:
        """Every edge into or out of one node."""
        return self.lineage.of(kind, id)

    # ------------------------------------------------------------ models

    @operation("POST", "/models")
    def create_model(
        self, name: str, project: str = "default", description: str = "", actor: str | None = None
    ) -> Model:
        """Create a model (or return the existing one of that name)."""
        return self.registry.create_model(project, name, description, actor)

    @operation("GET", "/models")
    def list_models(self, project: str | None = None) -> list[Model]:
        """Models with their latest version and aliases."""
        return self.registry.list_models(project)

    @operation("GET", "/models/{name}")
    def get_model(self, name: str, project: str = "default") -> Model:
        """One model with its latest version and aliases."""
        return self.registry.get_model(project, name)

    @operation("POST", "/models/{name}/versions")
    def register_model_version(
        self,
        name: str,
        digest: str,
        project: str = "default",
        run_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        actor: str | None = None,
        version: int | None = None,
    ) -> ModelVersion:
        """Register a stored model package (its manifest blob) as the model's next version,
        or as ``version``: a number the model has not had (409 when it has)."""
        return self.registry.register(
            project, name, digest, run_id, description, tags, actor, version
        )

    # A name reserved before its first version (MLflow's create_registered_model). Only an
    # editor (in the project of a project/name, else in some project) may see or change one.

    @operation("POST", "/model-reservations")
    def reserve_model(
        self,
        name: str,
        description: str = "",
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelReservation:
        """Reserve a model name before its first version (409 when it is reserved)."""
        return self.registry.reservations.reserve(name, description, tags, actor)

    @operation("GET", "/model-reservations")
    def list_model_reservations(self) -> list[ModelReservation]:
        """Every reserved model name, by name."""
        return self.registry.reservations.list_reservations()

    @operation("GET", "/model-reservations/{name:path}")
    def get_model_reservation(self, name: str) -> ModelReservation:
        """One reserved model name."""
        return self.registry.reservations.get(name)

    @operation("PUT", "/model-reservations/{name:path}")
    def update_model_reservation(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelReservation:
        """Replace a reservation's description and/or set its tags (an empty value removes
        one)."""
        return self.registry.reservations.update(name, description, tags, actor)

    @operation("POST", "/model-reservations/{name:path}/release")
    def release_model_reservation(self, name: str, actor: str | None = None) -> bool:
        """Release a reserved name (deleted, or taken over by its first version's model);
        whether it was reserved."""
        return self.registry.reservations.release(name, actor)

    @operation("GET", "/models/{name}/versions")
    def list_model_versions(
        self, name: str, project: str = "default", lifecycle: str = "active"
    ) -> list[ModelVersion]:
        """Every version of a model, oldest first. ``lifecycle``: ``active`` (not deleted),
        ``deleted`` or ``all``."""
        return self.registry.list_versions(project, name, lifecycle)

    @operation("GET", "/models/{name}/versions/{version}")
    def get_model_version(self, name: str, version: int, project: str = "default") -> ModelVersion:
        """One version of a model."""
        return self.registry.get_version(project, name, version)

    @operation("GET", "/models/{name}/aliases/{alias}")
    def resolve_alias(self, name: str, alias: str, project: str = "default") -> ModelVersion:
        """The version an alias points at (``latest``: the newest)."""
        return self.registry.resolve(project, name, alias)

    @operation("GET", "/models/{name}/versions/{version}/files")
    def list_model_files(
        self, name: str, version: int, project: str = "default"
    ) -> list[ModelFile]:
        """The files of a version's package."""
        return self.registry.list_files(project, name, version)

    @operation("POST", "/models/{name}/versions/{version}/status", role="approver")
    def set_model_status(
        self,
        name: str,
        version: int,
        status: str,
        project: str = "default",
        actor: str | None = None,
    ) -> ModelVersion:
        """Mark a version candidate, approved, rejected or archived."""
        return self.registry.set_status(project, name, version, status, actor)

    @operation("POST", "/models/{name}/versions/{version}/tags")
    def set_model_tags(
        self,
        name: str,
        version: int,
        tags: dict[str, str],
        project: str = "default",
        actor: str | None = None,
    ) -> ModelVersion:
        """Set tags of a version (an empty value removes one)."""
        return self.registry.set_tags(project, name, version, tags, actor)

    @operation("POST", "/models/{name}")
    def update_model(
        self,
        name: str,
        project: str = "default",
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> Model:
        """Replace a model's description and/or set its tags (an empty value removes one)."""
        return self.registry.update_model(project, name, description, tags, actor)

    @operation("POST", "/models/{name}/versions/{version}")
    def update_model_version(
        self,
        name: str,
        version: int,
        description: str,
        project: str = "default",
        actor: str | None = None,
    ) -> ModelVersion:
        """Replace a version's description."""
        return self.registry.update_version(project, name, version, description, actor)

    @operation("POST", "/models/{name}/versions/{version}/delete", role="approver")
    def delete_model_version(
        self, name: str, version: int, project: str = "default", actor: str | None = None
    ) -> None:
        """Delete a version: it leaves listings and cannot be loaded, aliased or promoted;
        nothing is erased and its number is never given again. Refused while an alias
        points at it."""
        self.registry.delete_version(project, name, version, actor)

    @operation("POST", "/models/{name}/delete", role="approver")
    def delete_model(self, name: str, project: str = "default", actor: str | None = None) -> None:
        """Delete a model and its versions (erasing nothing); its name is free again.
        Refused while it has aliases."""
        self.registry.delete_model(project, name, actor)

    @operation("PUT", "/models/{name}/aliases/{alias}")
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        project: str = "default",
        reason: str = "",
        actor: str | None = None,
    ) -> AliasMove:
        """Point an alias at a version without gates (``version`` null removes it)."""
        return self.registry.set_alias(project, name, alias, version, actor, reason)

    @operation("POST", "/models/{name}/aliases/{alias}/rollback")
    def rollback_alias(
        self,
        name: str,
        alias: str,
        project: str = "default",
        reason: str = "",
        actor: str | None = None,
    ) -> AliasMove:
        """Move an alias back to its previous target."""
        return self.registry.rollback(project, name, alias, actor, reason)

    @operation("GET", "/models/{name}/history")
    def alias_history(
        self, name: str, project: str = "default", alias: str | None = None
    ) -> list[AliasMove]:
        """Every move of a model's aliases (or one alias), oldest first."""
        return self.registry.history(project, name, alias)

    @operation("POST", "/models/{name}/versions/{version}/evaluations")
    def record_evaluation(
        self,
        name: str,
        version: int,
        dataset: str,
        target: str,
        task: str,
        metrics: dict[str, float | None],
        result: dict[str, Any] | None = None,
        project: str = "default",
        actor: str | None = None,
    ) -> Evaluation:
        """Keep an evaluation of a version on a dataset version."""
        return self.registry.record_evaluation(
            project, name, version, dataset, target, task, metrics, result, actor
        )

    @operation("GET", "/models/{name}/versions/{version}/evaluations")
    def list_evaluations(
        self, name: str, version: int, project: str = "default"
    ) -> list[Evaluation]:
        """Evaluations of a version, oldest first."""
        return self.registry.list_evaluations(project, name, version)

    @operation("POST", "/models/{name}/versions/{version}/approvals", role="approver")
    def approve(
        self,
        name: str,
        version: int,
        alias: str,
        project: str = "default",
        comment: str = "",
        actor: str | None = None,
    ) -> Approval:
        """Approve a version for an alias (counts towards the alias's approvals gate)."""
        return self.registry.approve(project, name, version, alias, actor, comment)

    @operation("GET", "/models/{name}/versions/{version}/approvals")
    def list_approvals(self, name: str, version: int, project: str = "default") -> list[Approval]:
        """Approvals of a version."""
        return self.registry.list_approvals(project, name, version)

    @operation("PUT", "/models/{name}/policies/{alias}", role="admin")
    def set_policy(
        self, name: str, alias: str, text: str, project: str = "default", actor: str | None = None
    ) -> str:
        """Store the promotion policy (YAML) guarding an alias; empty text removes it."""
        return self.registry.set_policy(project, name, alias, text, actor)

    @operation("GET", "/models/{name}/policies/{alias}")
    def get_policy(self, name: str, alias: str, project: str = "default") -> str:
        """The policy guarding an alias ("" when none)."""
        return self.registry.get_policy(project, name, alias)

    @operation("POST", "/models/{name}/versions/{version}/promote")
    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        project: str = "default",
        force: bool = False,
        reason: str = "",
        dry_run: bool = False,
        actor: str | None = None,
    ) -> Promotion:
        """Run the alias's gates for a version and move the alias if all pass (or forced)."""
        return self.registry.promote(project, name, version, alias, actor, force, reason, dry_run)

    @operation("GET", "/models/{name}/versions/{version}/promotions")
    def list_promotions(self, name: str, version: int, project: str = "default") -> list[Promotion]:
        """Every promotion attempt of a version with its gate results."""
        return self.registry.list_promotions(project, name, version)

    # ------------------------------------------------------------ schedules

    @operation("POST", "/schedules")
    def add_schedule(
        self,
        name: str,
        target: str,
        project: str = "default",
        params: dict[str, Any] | None = None,
        cron: str | None = None,
        dataset: str | None = None,
        actor: str | None = None,
        alert: str | None = None,
        workdir: str | None = None,
    ) -> Schedule:
        """Run ``target`` (file.py:pipeline) on a cron schedule, on each new dataset version,
        or on the alerts of a monitor of the project (``alert``; "*" for any monitor); its
        runs start in ``workdir`` (an absolute path) when given."""
        return self.schedules.add(
            project, name, target, params, cron, dataset, actor, alert, workdir
        )

    @operation("GET", "/schedules")
    def list_schedules(self, project: str | None = None) -> list[Schedule]:
        """Schedules with the newest occurrence claimed so far."""
        return self.schedules.list(project)

    @operation("POST", "/schedules/{name}/remove")
    def remove_schedule(
        self, name: str, project: str = "default", actor: str | None = None
    ) -> None:
        """Disable a schedule (its history stays)."""
        self.schedules.remove(project, name, actor)

    @operation("POST", "/schedules/{name}/claims")
    def claim_occurrence(
        self,
        name: str,
        occurrence: str,
        due_at: int,
        project: str = "default",
        status: str = "running",
        actor: str | None = None,
    ) -> bool:
        """Claim one occurrence (to run it, or to record it missed); False if already claimed."""
        return self.schedules.claim(project, name, occurrence, due_at, status, actor)

    @operation("POST", "/schedules/{name}/finish")
    def finish_occurrence(
        self,
        name: str,
        occurrence: str,
        status: str,
        project: str = "default",
        run_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a claimed occurrence ended."""
        self.schedules.finish(project, name, occurrence, status, run_id, error)

    @operation("GET", "/schedules/{name}/occurrences")
    def list_occurrences(
        self, name: str, project: str = "default", limit: int = 100
    ) -> list[Occurrence]:
        """A schedule's occurrences, newest first."""
        return self.schedules.occurrences(project, name, limit)

    # ------------------------------------------------------------ alerts

    @operation("POST", "/alerts")
    def raise_alert(
        self,
        monitor: str,
        message: str,
        project: str = "default",
        severity: str = "warning",
        details: dict[str, Any] | None = None,
        actor: str | None = None,
        rule: str | None = None,
    ) -> Alert:
        """Record an alert of a monitor; schedules on that monitor's alerts run next tick."""
        return self.alerts.raise_(project, monitor, message, severity, details, actor, rule)

    @operation("POST", "/alerts/{alert_id}/webhook")
    def record_alert_webhook(
        self, alert_id: int, outcome: dict[str, Any], project: str = "default"
    ) -> None:
        """Keep the outcome of posting an alert to its monitor's webhook with the alert."""
        self.alerts.record_webhook(project, alert_id, outcome)

    @operation("POST", "/alerts/{alert_id}/resolve")
    def resolve_alert(
        self, alert_id: int, project: str = "default", actor: str | None = None
    ) -> None:
        """Mark an alert resolved."""
        self.alerts.resolve(project, alert_id, actor)

    @operation("GET", "/alerts")
    def list_alerts(
        self,
        project: str = "default",
        monitor: str | None = None,
        since: int | None = None,
        limit: int = 100,
        status: str | None = None,
    ) -> list[Alert]:
        """A project's alerts (of one monitor; created after ``since``; "open" or "resolved"),
        newest first."""
        return self.alerts.list(project, monitor, since, limit, status)

    # ------------------------------------------------------------ monitors

    @operation("POST", "/monitors")
    def add_monitor(
        self,
        name: str,
        deployment: str,
        reference: str,
        config: dict[str, Any],
        project: str = "default",
        actor: str | None = None,
    ) -> Monitor:
        """Watch a deployment's prediction log against a reference dataset version."""
        from setpoint.monitoring.monitors import check_config

        check_config(config)  # its own mistakes first, then how it fits the reference
        ref_project, ref_name, version = parse_ref(
            reference, default_project=project, field="reference"
        )
        if version is None:
            raise InvalidArgumentError(
                f"reference {reference!r} must name a version (like {ref_name}@3): the "
                "monitor compares with the same data for as long as it runs",
                field="reference",
            )
        found = self.datasets.get(ref_project, ref_name, version)
        if found.profile_digest is None:
            raise InvalidArgumentError(
                f"{reference} holds files, not a table: it has no profile to monitor against",
                field="reference",
            )
        columns = {c["name"] for c in found.schema}
        for field, wanted in (
            ("target", [config["target"]] if config.get("target") else []),
            ("sensitive", list(config.get("sensitive") or [])),
        ):
            for column in wanted:
                if column not in columns:
                    raise InvalidArgumentError(
                        f"{field} {column!r} is not a column of {reference} "
                        f"(it has: {', '.join(sorted(columns))})",
                        field=field,
                    )
        return self.monitors.add(project, name, deployment, reference, config, actor)

    @operation("GET", "/monitors")
    def list_monitors(self, project: str | None = None) -> list[Monitor]:
        """Monitors (of one project)."""
        return self.monitors.list(project)

    @operation("GET", "/monitors/{name}")
    def get_monitor(self, name: str, project: str = "default") -> Monitor:
        """One monitor."""
        return self.monitors.get(project, name)

    @operation("POST", "/monitors/{name}/windows")
    def record_monitor_window(
        self,
        name: str,
        start_at: int,
        end_at: int,
        rows: int,
        labeled: int,
        result: dict[str, Any],
        project: str = "default",
    ) -> MonitorWindow:
        """Store a computed window of a monitor (again, when late labels re-scored it)."""
        return self.monitors.record_window(project, name, start_at, end_at, rows, labeled, result)

    @operation("GET", "/monitors/{name}/windows")
    def list_monitor_windows(
        self, name: str, project: str = "default", since: int | None = None
    ) -> list[MonitorWindow]:
        """A monitor's computed windows, oldest first."""
        return self.monitors.windows(project, name, since)

    # ------------------------------------------------------------ prediction logs

    @operation("POST", "/deployments/{deployment}/logs")
    def record_prediction_log(
        self,
        deployment: str,
        kind: str,
        day: str,
        digest: str,
        rows: int,
        first_at: int,
        last_at: int,
        project: str = "default",
        dropped: int = 0,
    ) -> PredictionLogFile:
        """Record a Parquet file (uploaded first) of a deployment's predictions or feedback."""
        return self.prediction_logs.record(
            project, deployment, kind, day, digest, rows, first_at, last_at, dropped
        )

    @operation("GET", "/deployments/{deployment}/logs")
    def list_prediction_logs(
        self,
        deployment: str,
        project: str = "default",
        kind: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[PredictionLogFile]:
        """A deployment's prediction log files, oldest first (``since``/``until``: UTC days)."""
        return self.prediction_logs.list(project, deployment, kind, since, until)

    @operation("GET", "/deployments")
    def list_deployments(self, project: str | None = None) -> list[Deployment]:
        """Deployments that have logged predictions, with their row counts and times."""
        return self.prediction_logs.deployments(project)

    # ------------------------------------------------------------ audit

    @operation("GET", "/audit")
    def list_audit_events(
        self,
        project: str | None = None,
        subject_kind: str | None = None,
        subject: str | None = None,
        action: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
        by: str | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """Audit events in order (or newest first), optionally of one project, subject,
        action or actor."""
        return self.audit.list(
            project=project,
            subject_kind=subject_kind,
            subject=subject,
            action=action,
            after_seq=after_seq,
            limit=limit,
            by=by,
            before_seq=before_seq,
            newest_first=newest_first,
        )

    @operation("GET", "/audit/verify")
    def verify_audit(self) -> AuditVerdict:
        """Recompute the audit chain; names the first edited, removed or inserted event (the
        chain spans every project: with roles, a viewer of every project may ask)."""
        return self.audit.verify()
