"""Dataset versions: register a stored blob as the next version of a named dataset.

A ``table`` version is a Parquet blob; its facts (rows, schema) are read from the blob's
footer here, not taken from the caller, and its profile is a JSON blob checked here. A
``files`` version is a manifest blob listing content-addressed files, each checked present.
Data identical to the latest version returns it instead of a new version; data equal to an
older version becomes a new version (the latest must always be what was logged last),
sharing the stored blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from setpoint.core import names
from setpoint.core.clock import Clock
from setpoint.core.errors import (
    ArtifactNotFoundError,
    DatasetNotFoundError,
    InvalidArgumentError,
)
from setpoint.core.hashing import is_digest
from setpoint.core.types import Dataset, DatasetFile, DatasetVersion, LineageEdge, ValidationRecord
from setpoint.store.metadata import datasets as repo
from setpoint.store.metadata import runs as runs_repo

if TYPE_CHECKING:
    from setpoint.governance.audit import AuditLog
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database

MAX_DESCRIPTION = 10_000
KINDS = ("table", "files")
MAX_PROFILE_BYTES = 64 << 20
MAX_EDGE_ID = 200  # the length of lineage_edges' id columns


class DatasetVersions:
    def __init__(
        self, db: Database, blobs: BlobStore, clock: Clock, audit: AuditLog | None = None
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock
        self.audit = audit

    def create(
        self,
        project: str,
        name: str,
        digest: str,
        source: str = "",
        description: str = "",
        parents: Sequence[str] | None = None,
        creator: str | None = None,
        kind: str = "table",
        profile: str | None = None,
    ) -> DatasetVersion:
        names.check_name(project, "project")
        names.check_name(name, "name")
        if not isinstance(digest, str) or not is_digest(digest):
            raise InvalidArgumentError("digest must be a BLAKE3 hex digest", field="digest")
        if kind not in KINDS:
            raise InvalidArgumentError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if profile is not None and (kind != "table" or not is_digest(profile)):
            raise InvalidArgumentError(
                "profile must be the BLAKE3 digest of a stored profile, for tables only",
                field="profile",
            )
        if len(description) > MAX_DESCRIPTION:
            raise InvalidArgumentError(
                f"description is longer than {MAX_DESCRIPTION} characters", field="description"
            )
        parent_refs = [self._check_parent(p) for p in parents or []]
        with self.db.read() as conn:
            # Re-adding known data (the usual case for an unchanged file) reads nothing else.
            known = repo.latest_if_digest_by_name(conn, project, name, digest)
        if known is not None:
            return known
        size = self.blobs.keep(digest)  # kept young: gc spares it until this commits
        files: list[DatasetFile] = []
        if kind == "table":
            num_rows, schema, meta = self._parquet_facts(digest)
            if profile is not None:
                self._check_profile(profile, meta)
        else:
            files = self._manifest(digest)
            num_rows, schema = len(files), []
            size = sum(f.size for f in files)
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            pid = runs_repo.ensure_live_project(conn, project, now)
            did = repo.locked_dataset_id(conn, pid, name, now)
            same = repo.latest_if_digest(conn, did, digest)
            if same is not None:
                return same
            version = repo.insert_version(
                conn,
                did,
                digest=digest,
                size=size,
                num_rows=num_rows,
                schema=schema,
                source=source,
                description=description,
                parents=parent_refs,
                creator=creator,
                now=now,
                kind=kind,
                profile_digest=profile,
            )
            if files:
                vid = repo.version_id(conn, project, name, version)
                assert vid is not None
                repo.insert_files(conn, vid, files)
            runs_repo.add_edges(
                conn, _derived_from(f"{project}/{name}@{version}", parent_refs, now)
            )
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=creator,
                    action="dataset_version.create",
                    project=project,
                    subject_kind="dataset_version",
                    subject=f"{project}/{name}@{version}",
                    after={"digest": digest, "kind": kind, "rows": num_rows, "source": source},
                )
            return repo.get_version(conn, project, name, version)

        return self.db.write_retrying(tx)  # type: ignore[no-any-return]

    def get(self, project: str, name: str, version: int | None = None) -> DatasetVersion:
        if version is not None:
            names.check_version(version)
        with self.db.read() as conn:
            found = repo.get_version(conn, project, name, version)
            # a version of a dataset that is not there: say the dataset is not
            known = found is not None or (
                version is not None and repo.get_version(conn, project, name, None) is not None
            )
        if found is None:
            which = f"has no version {version}" if known else "does not exist"
            raise DatasetNotFoundError(
                f"dataset {project}/{name} {which}",
                field="version" if known else "name",
            )
        return found

    def list_versions(self, project: str, name: str) -> list[DatasetVersion]:
        with self.db.read() as conn:
            found = repo.list_versions(conn, project, name)
        if not found:
            raise DatasetNotFoundError(f"dataset {project}/{name} does not exist", field="name")
        return found

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        with self.db.read() as conn:
            return repo.list_datasets(conn, project)

    def list_files(self, project: str, name: str, version: int) -> list[DatasetFile]:
        names.check_version(version)
        with self.db.read() as conn:
            vid = repo.version_id(conn, project, name, version)
            if vid is None:
                raise DatasetNotFoundError(
                    f"dataset {project}/{name} has no version {version}", field="version"
                )
            return repo.list_files(conn, vid)

    def record_validation(
        self,
        project: str,
        name: str,
        version: int,
        *,
        suite: str,
        suite_digest: str,
        environment: str | None,
        checks: list[dict[str, Any]],
        creator: str | None = None,
    ) -> ValidationRecord:
        """Keep a validation result with the version it judged."""
        names.check_version(version)
        _check_results(checks)
        if environment is not None:
            names.check_name(environment, "environment")
        if not is_digest(suite_digest):
            raise InvalidArgumentError(
                "suite_digest must be a BLAKE3 hex digest", field="suite_digest"
            )
        names.check_key(suite, "suite")
        errors = sum(1 for c in checks if not c.get("passed") and c.get("severity") == "error")
        warnings = sum(1 for c in checks if not c.get("passed") and c.get("severity") == "warn")
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            vid = repo.version_id(conn, project, name, version)
            if vid is None:
                raise DatasetNotFoundError(
                    f"dataset {project}/{name} has no version {version}", field="version"
                )
            new_id = repo.insert_validation(
                conn,
                vid,
                suite=suite,
                suite_digest=suite_digest,
                environment=environment,
                passed=errors == 0,
                errors=errors,
                warnings=warnings,
                checks=checks,
                creator=creator,
                now=now,
            )
            if self.audit is not None:
                self.audit.append(
                    conn,
                    actor=creator,
                    action="dataset_version.validate",
                    project=project,
                    subject_kind="dataset_version",
                    subject=f"{project}/{name}@{version}",
                    after={
                        "suite": suite,
                        "environment": environment,
                        "passed": errors == 0,
                        "errors": errors,
                        "warnings": warnings,
                    },
                )
            return new_id

        new_id = self.db.write_retrying(tx)
        return next(r for r in self.list_validations(project, name, version) if r.id == new_id)

    def list_validations(self, project: str, name: str, version: int) -> list[ValidationRecord]:
        self.get(project, name, version)  # a clear error for an unknown version
        with self.db.read() as conn:
            return repo.list_validations(conn, project, name, version)

    # ------------------------------------------------------------ internals

    def _check_profile(self, digest: str, meta: Any) -> None:
        import orjson

        from setpoint.data.profile import mismatch

        if self.blobs.keep(digest) > MAX_PROFILE_BYTES:
            raise InvalidArgumentError("profile blob is too large", field="profile")
        try:
            data = orjson.loads(self.blobs.get_bytes(digest))
        except orjson.JSONDecodeError:
            raise InvalidArgumentError("profile blob is not JSON", field="profile") from None
        if (
            not isinstance(data, dict)
            or data.get("format") != 1
            or not isinstance(data.get("columns"), list)
        ):
            raise InvalidArgumentError("profile blob is not a setpoint profile", field="profile")
        problem = mismatch(data, meta)
        if problem is not None:
            raise InvalidArgumentError(
                f"the profile does not describe this data: {problem}", field="profile"
            )

    def _manifest(self, digest: str) -> list[DatasetFile]:
        import orjson

        try:
            data = orjson.loads(self.blobs.get_bytes(digest))
            files = [
                DatasetFile(path=str(f["path"]), digest=str(f["digest"]), size=int(f["size"]))
                for f in data["files"]
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidArgumentError(
                f"blob blake3:{digest} is not a file manifest", field="digest"
            ) from None
        for f in files:
            try:
                held = is_digest(f.digest) and self.blobs.keep(f.digest) == f.size
            except ArtifactNotFoundError:
                held = False
            if not held:
                raise InvalidArgumentError(
                    f"manifest lists {f.path} as blake3:{f.digest} ({f.size} bytes), "
                    "which the store does not hold",
                    field="digest",
                )
        for f in files:
            check_relative_path(f.path)
        if len({f.path for f in files}) != len(files):
            raise InvalidArgumentError("manifest lists a path twice", field="digest")
        return files

    def _parquet_facts(self, digest: str) -> tuple[int, list[dict[str, str]], Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self.blobs.open_raw(digest) as fh:
            try:
                meta = pq.read_metadata(fh)
                schema = meta.schema.to_arrow_schema()
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"blob blake3:{digest} is not a Parquet file: {exc}", field="digest"
                ) from None
        return meta.num_rows, [{"name": f.name, "type": str(f.type)} for f in schema], meta

    def _check_parent(self, ref: str) -> str:
        project, name, version = parse_parent(ref)
        try:
            self.get(project, name, version)
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(f"parent {ref!r}: {exc.message}", field="parents") from None
        return f"{project}/{name}@{version}"


def parse_parent(ref: str) -> tuple[str, str, int]:
    """(project, name, version) of a parent reference, which must name a version."""
    project, name, version = parse_ref(ref, field="parents")
    if version is None:
        raise InvalidArgumentError(
            f"parent {ref!r} must name a version, like project/name@3", field="parents"
        )
    return project, name, version


def _derived_from(ref: str, parents: list[str], now: int) -> list[LineageEdge]:
    """The lineage edges of a new version ``ref`` to each of its parents (an id too long for
    an edge, from the longest names, keeps its parent in ``parents`` only)."""
    return [
        LineageEdge(
            source_kind="dataset_version",
            source_id=ref,
            relation="derived_from",
            target_kind="dataset_version",
            target_id=parent,
            created_at=now,
        )
        for parent in parents
        if max(len(ref), len(parent)) <= MAX_EDGE_ID
    ]


SEVERITIES = ("error", "warn")
MAX_PATH = 4096


def check_relative_path(path: str) -> str:
    """A file's place inside a version: relative, '/'-separated, no '.', '..' or empty parts
    (so it can never name anything outside the folder it is written to)."""
    parts = path.split("/")
    bad = (
        not path
        or len(path) > MAX_PATH
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
    )
    if bad:
        raise InvalidArgumentError(
            f"manifest path {path[:200]!r} must be relative, '/'-separated, without '.', '..' "
            "or empty parts",
            field="digest",
        )
    return path


def _check_results(checks: object) -> None:
    """Each check result: ``check`` (text), ``severity`` (error|warn), ``passed`` (bool)."""
    if not isinstance(checks, list):
        raise InvalidArgumentError("checks must be a list of objects", field="checks")
    for i, c in enumerate(checks):
        if not isinstance(c, dict) or not isinstance(c.get("check"), str):
            raise InvalidArgumentError(
                f"checks[{i}] must be an object with a 'check' name", field="checks"
            )
        if c.get("severity") not in SEVERITIES:
            raise InvalidArgumentError(
                f"checks[{i}].severity must be 'error' or 'warn'", field="checks"
            )
        if not isinstance(c.get("passed"), bool):
            raise InvalidArgumentError(f"checks[{i}].passed must be true or false", field="checks")


def parse_ref(
    ref: str, *, default_project: str = "default", field: str = "ref"
) -> tuple[str, str, int | None]:
    """``[project/]name[@version|@latest]`` -> (project, name, version or None for latest)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgumentError(f"{field} must be like project/name@3", field=field)
    body, at, version_text = ref.partition("@")
    if body.count("/") > 1 or (at and not version_text):
        raise InvalidArgumentError(
            f"{field} {ref!r} must be like project/name@3, name@3 or name@latest", field=field
        )
    project, _, name = body.rpartition("/")
    project = project or default_project
    names.check_name(project, field)
    names.check_name(name, field)
    if version_text in ("", "latest"):
        return project, name, None
    if not names.is_whole(version_text) or int(version_text) < 1:
        raise InvalidArgumentError(
            f"{field} {ref!r}: the version after '@' must be a positive number or 'latest'",
            field=field,
        )
    return project, name, int(version_text)
