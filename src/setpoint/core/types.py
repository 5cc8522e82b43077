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
