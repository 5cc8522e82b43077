"""The SDK side of validation and diffs: gather the data, its profile and the reference
profile, run the engine where the data is, and keep the result with the version."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from setpoint.core.errors import InvalidArgumentError
from setpoint.core.hashing import digest_bytes

if TYPE_CHECKING:
    import pyarrow as pa

    from setpoint.client.datasets import VersionHandle
    from setpoint.data.suite import Suite


@dataclass(frozen=True)
class ValidationReport:
    """What ``sp.validate`` returns: ``report.passed``, ``report.checks`` (one dict each)."""

    result: dict[str, Any]
    ref: str | None

    @property
    def passed(self) -> bool:
        return bool(self.result["passed"])

    @property
    def errors(self) -> int:
        return int(self.result["errors"])

    @property
    def warnings(self) -> int:
        return int(self.result["warnings"])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.result["checks"])

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.result["checks"] if c["passed"] is False]

    def __repr__(self) -> str:
        state = "passed" if self.passed else "FAILED"
        where = self.ref or "data"
        return (
            f"<ValidationReport {where} suite={self.result['suite']} {state}: "
            f"{len(self.checks)} checks, {self.errors} errors, {self.warnings} warnings>"
        )


def resolve_suite(suite: Any, *, reference_given: bool = False) -> Suite:
    from setpoint.data.suite import Suite, load_suite, parse_suite

    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, os.PathLike) or (isinstance(suite, str) and "\n" not in suite):
        return load_suite(os.fspath(suite), reference_given=reference_given)
    if isinstance(suite, str):
        return parse_suite(suite, reference_given=reference_given)
    raise InvalidArgumentError(
        "suite must be a path to a YAML suite, YAML text or a Suite", field="suite"
    )


def validate(
    client: Any,
    data: Any,
    suite: Any,
    *,
    environment: str | None,
    reference: VersionHandle | None,
    functions: dict[str, Callable[..., Any]] | None,
    record: bool,
    use_profile: bool,
    creator: str | None,
) -> ValidationReport:
    from setpoint.client.datasets import VersionHandle
    from setpoint.data.validation import run_suite

    parsed = resolve_suite(suite, reference_given=reference is not None)
    ref_profile = reference.profile if reference is not None else None
    with tempfile.TemporaryDirectory(prefix="setpoint-validate-") as tmp:
        if isinstance(data, VersionHandle):
            source = _version_source(data, tmp)
            ref = data.ref
        else:
            source = _table_source(_to_table(data))
            ref = None
        result = run_suite(
            parsed,
            source,
            environment=environment,
            reference_profile=ref_profile,
            functions=functions,
            use_profile=use_profile,
        )
    if reference is not None:
        result["reference"] = reference.ref
    if isinstance(data, VersionHandle) and record:
        v = data.info
        client.record_validation(
            v.name,
            v.version,
            parsed.name,
            digest_bytes(parsed.text.encode()),
            result["checks"],
            v.project,
            environment,
            creator,
        )
    return ValidationReport(result, ref)


def _version_source(v: VersionHandle, workdir: str) -> Any:
    from setpoint.data.validation import DataSource

    v._require_table()
    path: list[str] = []

    def local() -> str:
        if not path:
            path.append(v.parquet_path(workdir))  # verified once, on first use
        return path[0]

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        with pq.ParquetFile(local(), pre_buffer=False) as f:
            yield from f.iter_batches(batch_size=65_536, columns=columns)

    def table() -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(local())

    return DataSource(
        types={c["name"]: c["type"] for c in v.schema},
        num_rows=v.num_rows,
        batches=batches,
        profile=lambda: v.profile,
        table=table,
    )


def _to_table(data: Any) -> pa.Table:
    """In-memory data as ``log_dataset`` would store it (same conversion, same types), so
    a DataFrame validates exactly like the version made from it."""
    import pyarrow as pa

    from setpoint.data.ingest import read_table

    module = type(data).__module__.split(".")[0]
    if isinstance(data, pa.Table | pa.RecordBatchReader) or module in ("pandas", "polars"):
        return read_table(data)
    raise InvalidArgumentError(
        f"cannot validate a {type(data).__name__}: expected a dataset version, "
        "a pandas or polars DataFrame or a pyarrow Table",
        field="data",
    )


def _table_source(table: pa.Table) -> Any:
    from setpoint.data.validation import DataSource

    def batches(columns: list[str]) -> Iterator[pa.RecordBatch]:
        yield from table.select(columns).to_batches(max_chunksize=65_536)

    return DataSource(
        types={f.name: str(f.type) for f in table.schema},
        num_rows=table.num_rows,
        batches=batches,
        table=lambda: table,
    )


def diff(a: VersionHandle, b: VersionHandle, threshold: float) -> dict[str, Any]:
    from setpoint.data.drift import diff_profiles

    for v in (a, b):
        v._require_table()
    assert a.profile is not None and b.profile is not None  # tables always have one
    return diff_profiles(a.profile, b.profile, from_ref=a.ref, to_ref=b.ref, threshold=threshold)
