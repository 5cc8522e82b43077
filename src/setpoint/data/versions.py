"""Dataset versions: register a stored Parquet blob as the next version of a named dataset.

The facts of a version (rows, schema) are read from the blob's Parquet footer here, not
taken from the caller. Data identical to the latest version returns it instead of a new
version; data equal to an older version becomes a new version (the latest must always be what
was logged last), sharing the stored blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from setpoint.core import names
from setpoint.core.clock import Clock
from setpoint.core.errors import DatasetNotFoundError, InvalidArgumentError
from setpoint.core.hashing import is_digest
from setpoint.core.types import Dataset, DatasetVersion
from setpoint.store.metadata import datasets as repo
from setpoint.store.metadata import runs as runs_repo

if TYPE_CHECKING:
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database

MAX_DESCRIPTION = 10_000


class DatasetVersions:
    def __init__(self, db: Database, blobs: BlobStore, clock: Clock) -> None:
        self.db = db
        self.blobs = blobs
        self.clock = clock

    def create(
        self,
        project: str,
        name: str,
        digest: str,
        source: str = "",
        description: str = "",
        parents: Sequence[str] | None = None,
        creator: str | None = None,
    ) -> DatasetVersion:
        names.check_name(project, "project")
        names.check_name(name, "name")
        if not isinstance(digest, str) or not is_digest(digest):
            raise InvalidArgumentError("digest must be a BLAKE3 hex digest", field="digest")
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
        size = self.blobs.size(digest)
        num_rows, schema = self._parquet_facts(digest)
        now = self.clock.now_ms()

        def tx(conn):  # type: ignore[no-untyped-def]
            pid = runs_repo.ensure_project(conn, project, now)
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
            )
            return repo.get_version(conn, project, name, version)

        return self.db.write_retrying(tx)  # type: ignore[no-any-return]

    def get(self, project: str, name: str, version: int | None = None) -> DatasetVersion:
        with self.db.read() as conn:
            found = repo.get_version(conn, project, name, version)
        if found is None:
            which = "does not exist" if version is None else f"has no version {version}"
            raise DatasetNotFoundError(
                f"dataset {project}/{name} {which}",
                field="version" if version is not None else "name",
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

    # ------------------------------------------------------------ internals

    def _parquet_facts(self, digest: str) -> tuple[int, list[dict[str, str]]]:
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
        return meta.num_rows, [{"name": f.name, "type": str(f.type)} for f in schema]

    def _check_parent(self, ref: str) -> str:
        project, name, version = parse_ref(ref, field="parents")
        if version is None:
            raise InvalidArgumentError(
                f"parent {ref!r} must name a version, like project/name@3", field="parents"
            )
        self.get(project, name, version)
        return f"{project}/{name}@{version}"


def parse_ref(
    ref: str, *, default_project: str = "default", field: str = "ref"
) -> tuple[str, str, int | None]:
    """``[project/]name[@version|@latest]`` -> (project, name, version or None for latest)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgumentError(f"{field} must be like project/name@3", field=field)
    body, _, version_text = ref.partition("@")
    project, _, name = body.rpartition("/")
    project = project or default_project
    names.check_name(project, field)
    names.check_name(name, field)
    if version_text in ("", "latest"):
        return project, name, None
    if not version_text.isdigit() or int(version_text) < 1:
        raise InvalidArgumentError(
            f"{field} {ref!r}: the version after '@' must be a positive number or 'latest'",
            field=field,
        )
    return project, name, int(version_text)
