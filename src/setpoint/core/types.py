"""Records passed between layers and over the wire: frozen, keyword-only dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["running", "finished", "failed", "killed"]
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "killed")
TERMINAL_STATUSES: tuple[str, ...] = ("finished", "failed", "killed")


@dataclass(frozen=True, kw_only=True)
class Project:
    name: str
    description: str = ""
    created_at: int
    deleted_at: int | None = None  # set while the project is deleted (restorable)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Run:
    """One execution: what ran, where, how it ended, and its latest metric values."""

    id: str
    project: str
    name: str
    status: str
    start_time: int
    end_time: int | None = None
    parent_id: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    host: str | None = None
    user: str | None = None
    python_version: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    heartbeat_at: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted_at: int | None = None  # set while the run is deleted (restorable)


@dataclass(frozen=True, kw_only=True)
class RunInput:
    """A dataset a run read that setpoint does not hold as a dataset version (MLflow's
    dataset inputs): its name, digest, where it came from, and tags such as the context."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MetricPoint:
    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, kw_only=True)
class MetricBatch:
    """Metric points as parallel columns (a None value stands for NaN on the wire)."""

    keys: Sequence[str]
    values: Sequence[float | None]
    steps: Sequence[int]
    timestamps: Sequence[int]

    def columns(self) -> tuple[Sequence[str], Sequence[float], Sequence[int], Sequence[int]]:
        return self.keys, self.values, self.steps, self.timestamps  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class MetricHistory:
    """One metric's series, columnar so large histories move without per-point objects."""

    run_id: str
    key: str
    steps: list[int]
    values: list[float]
    timestamps: list[int]


@dataclass(frozen=True, kw_only=True)
class RunPage:
    runs: list[Run]
    next_page_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """A file logged to a run: its path inside the run and the blob that holds its bytes."""

    run_id: str
    path: str
    digest: str
    size: int
    created_at: int


@dataclass(frozen=True, kw_only=True)
class LineageEdge:
    source_kind: str
    source_id: str
    relation: str
    target_kind: str
    target_id: str
    created_at: int


@dataclass(frozen=True, kw_only=True)
class GcReport:
    referenced: int
    unreferenced: list[str]
    deleted: int
    bytes_freed: int
    dry_run: bool
    stale_temporaries: int = 0  # files of writes that never finished (a killed process)
    # with verify: blobs whose bytes no longer hash to their name (deleted too unless dry_run)
    corrupted: list[str] = field(default_factory=list)
    # ids of metric batches of runs ended before the cutoff (forgotten too unless dry_run)
    forgotten_batch_ids: int = 0


@dataclass(frozen=True, kw_only=True)
class BlobRef:
    digest: str
    size: int


@dataclass(frozen=True, kw_only=True)
class DatasetVersion:
    """An immutable snapshot of a dataset: a Parquet blob and the facts read from it
    (``kind="table"``), or a manifest of files (``kind="files"``)."""

    project: str
    name: str
    version: int
    digest: str
    size: int
    num_rows: int
    schema: list[dict[str, str]]
    source: str
    description: str
    parents: list[str]
    creator: str | None
    created_at: int
    kind: str = "table"
    profile_digest: str | None = None  # the stored profile (tables)
    created: bool = True  # False when identical data returned an existing version

    @property
    def ref(self) -> str:
        """``project/name@version``: how lineage and the CLI name this version."""
        return f"{self.project}/{self.name}@{self.version}"


@dataclass(frozen=True, kw_only=True)
class Dataset:
    project: str
    name: str
    created_at: int
    latest_version: int
    versions: int


@dataclass(frozen=True, kw_only=True)
class DatasetFile:
    """One file of a ``kind="files"`` dataset version."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, kw_only=True)
class ValidationRecord:
    """A stored validation result: which suite judged which version, and how it went."""

    id: int
    ref: str
    suite: str
    suite_digest: str
    environment: str | None
    passed: bool
    errors: int
    warnings: int
    checks: list[dict[str, Any]]
    creator: str | None
    created_at: int


@dataclass(frozen=True, kw_only=True)
class Model:
    project: str
    name: str
    description: str
    created_at: int
    latest_version: int = 0
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ModelReservation:
    """A model name reserved before its first version (MLflow's registered model made by
    name alone), with what that version's model will take over."""

    name: str  # MLflow's name as given, or project/name
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int
    updated_at: int


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """An immutable registered model package: its files, flavor, signature and origin."""

    project: str
    name: str
    version: int
    digest: str  # the package manifest blob
    size: int
    flavor: str
    meta: dict[str, Any]  # the package's model.json (signature, requirements, files, ...)
    run_id: str | None
    status: str  # candidate | approved | rejected | archived
    description: str
    tags: dict[str, str]
    creator: str | None
    created_at: int
    aliases: list[str] = field(default_factory=list)
    deleted_at: int | None = None  # set once the version is deleted (kept, never loaded)

    @property
    def ref(self) -> str:
        """``project/name/version``: how lineage, the CLI and the audit log name it."""
        return f"{self.project}/{self.name}/{self.version}"


@dataclass(frozen=True, kw_only=True)
class AliasMove:
    """One move of an alias: from which version to which, how, by whom and why."""

    project: str
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str  # set | promote | rollback | remove
    forced: bool
    actor: str | None
    reason: str
    created_at: int


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Metrics of a model version on one dataset version (with slices and importances)."""

    id: int
    ref: str  # the model version
    dataset: str  # project/name@version
    target: str
    task: str
    metrics: dict[str, float | None]
    result: dict[str, Any]
    creator: str | None
    created_at: int


@dataclass(frozen=True, kw_only=True)
class Approval:
    ref: str
    alias: str
    actor: str
    comment: str
    created_at: int


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """One promotion attempt: each gate's verdict, and whether the alias moved."""

    ref: str
    alias: str
    passed: bool
    forced: bool
    moved: bool
    gates: list[dict[str, Any]]
    actor: str | None
    created_at: int


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    seq: int
    time: int
    actor: str
    action: str
    project: str | None
    subject_kind: str
    subject: str
    before: Any
    after: Any
    hash: str


@dataclass(frozen=True, kw_only=True)
class AuditVerdict:
    """The result of checking the audit chain: ``ok``, how many events were checked, the first
    event that does not fit (its sequence number and why) and the head hash (to keep
    elsewhere: a chain rewritten from some event on ends in another head)."""

    ok: bool
    events: int
    head: str | None = None
    first_bad: int | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    """One file of a model version's package."""

    path: str
    digest: str
    size: int


ROLES: tuple[str, ...] = ("viewer", "editor", "approver", "admin")


@dataclass(frozen=True, kw_only=True)
class User:
    """A person or service account; ``roles`` maps a project (or "*": every project) to a
    role: viewer < editor < approver < admin, each allowed what the ones before it are."""

    name: str
    created_at: int
    disabled_at: int | None = None
    roles: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A pipeline run on a cron schedule (UTC), on each new version of a dataset, or on the
    alerts of a monitor."""

    project: str
    name: str
    target: str  # path/to/file.py:pipeline
    params: dict[str, Any]
    cron: str | None
    dataset: str | None
    enabled: bool
    actor: str | None
    created_at: int
    last_due_at: int | None = None  # the newest occurrence claimed so far
    alert: str | None = None  # a monitor of the project ("*": any monitor)
    workdir: str | None = None  # the folder it was added in: its runs start there


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """A deployment as its prediction log knows it: rows logged, first and last time."""

    project: str
    name: str
    rows: int
    first_at: int
    last_at: int
    dropped: int


@dataclass(frozen=True, kw_only=True)
class PredictionLogFile:
    """One Parquet file of a deployment's prediction log (or of its feedback) for a UTC day."""

    project: str
    deployment: str
    kind: str  # predictions | feedback
    day: str
    digest: str
    rows: int
    first_at: int
    last_at: int
    dropped: int  # rows the server dropped (buffer full) before writing this file
    created_at: int


@dataclass(frozen=True, kw_only=True)
class Alert:
    """Something a monitor found (drift, a metric below its bound); schedules can run on it."""

    id: int
    project: str
    monitor: str
    severity: str  # warning | critical
    message: str
    details: dict[str, Any]
    actor: str | None
    created_at: int
    rule: str | None = None
    status: str = "open"  # open | resolved
    resolved_at: int | None = None


@dataclass(frozen=True, kw_only=True)
class Monitor:
    """What is watched on a deployment, against which reference, how often, and what
    happens on an alert."""

    project: str
    name: str
    deployment: str
    reference: str  # a dataset version ref
    config: dict[str, Any]  # window, rules, sensitive columns, webhook, target, task
    enabled: bool
    actor: str | None
    created_at: int


@dataclass(frozen=True, kw_only=True)
class MonitorWindow:
    """One computed window of a monitor: drift per feature, metrics, fairness."""

    monitor: str
    start_at: int
    end_at: int
    rows: int
    labeled: int
    result: dict[str, Any]
    computed_at: int


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    schedule: str  # project/name
    occurrence: str
    due_at: int
    status: str  # running | succeeded | failed | missed
    run_id: str | None
    error: str | None
    claimed_by: str | None
    claimed_at: int
    finished_at: int | None
