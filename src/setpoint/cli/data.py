"""``setpoint data``: version datasets, profile, validate and compare them."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from setpoint.cli.output import (
    Finite,
    client,
    json_option,
    print_json,
    show_error,
    table,
    when,
    write_file,
)


@click.group()
def data() -> None:
    """Version datasets (CSV, Parquet, folders, globs, any files); profile, validate, diff."""


@data.command("add")
@click.argument("path")
@click.option("--name", "-n", required=True, help="Dataset name.")
@click.option(
    "--project", "-p", default=None, help="Project (default: SETPOINT_PROJECT or 'default')."
)
@click.option("--description", "-d", default="", help="What this version is.")
@click.option(
    "--files",
    "as_files",
    is_flag=True,
    help="Store the files byte for byte (default for anything but CSV/Parquet).",
)
@click.option(
    "--parent",
    "parents",
    multiple=True,
    metavar="REF",
    help="A version this one was made from, like project/name@3 (repeatable).",
)
@json_option
def add(
    path: str,
    name: str,
    project: str | None,
    description: str,
    as_files: bool,
    parents: tuple[str, ...],
    as_json: bool,
) -> None:
    """Version the data at PATH (a file, a folder or a quoted glob) as the next version."""
    from setpoint.core.config import default_project
    from setpoint.core.names import check_name

    check_name(name, "name")  # before anything is copied into the store
    check_name(default_project(project), "project")
    if not as_json and not parents and not description:  # (those are checked the usual way)
        known = _unchanged(path, name, project, as_files)
        if known is not None:
            click.echo(f"unchanged: {known[0]} already holds this data (blake3 {known[1][:16]})")
            return
    ahead = _store_ahead(path, as_files)
    from setpoint.client import sdk

    # Adding a version needs no SQLAlchemy on the embedded store (client/lite.py), whose
    # import would take CPU from the copy and the hash going on meanwhile.
    try:
        with sdk.lite_default():
            sdk.client()  # imports and opens the store meanwhile
            if ahead is not None:
                ahead.wait()  # the SDK then finds the file stored
            kind = "files" if as_files else None
            v = sdk.log_dataset(
                path,
                name,
                project=project,
                description=description,
                parents=list(parents),
                kind=kind,
            )
    finally:  # never leave a half-copied temporary behind, even when that failed
        if ahead is not None:
            ahead.wait()
    if as_json:
        print_json(v.info)
        return
    if v.created and v.kind == "files":
        click.echo(f"{v.ref}: {v.num_rows} files, {v.size} bytes, blake3 {v.hash[:16]}")
    elif v.created:
        click.echo(f"{v.ref}: {v.num_rows} rows, {len(v.schema)} columns, blake3 {v.hash[:16]}")
    else:
        # a version's facts are those of when it was made: what was given now is not applied
        kept = " (its description and parents stay as recorded)" if parents or description else ""
        click.echo(f"unchanged: {v.ref} already holds this data (blake3 {v.hash[:16]}){kept}")


def _unchanged(path: str, name: str, project: str | None, as_files: bool) -> tuple[str, str] | None:
    """(ref, digest) when PATH is one file whose stat matches what it was last stored as and
    that data is already the dataset's latest version on a local SQLite store; None sends the
    add the usual way. Re-adding an unchanged file then costs a stat, the stat cache and one
    query, without opening the store."""
    from setpoint.client.stat_cache import cached_digest, manifest_bytes
    from setpoint.core.config import Settings, default_project
    from setpoint.data.formats import is_tabular
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.peek import latest_dataset_version, sqlite_path

    settings = Settings.from_env()
    db = sqlite_path(settings.database_url)
    if settings.remote or db is None or not os.path.isfile(path):
        return None
    kind = "table" if is_tabular([path]) and not as_files else "files"
    digest = cached_digest(os.path.join(settings.home, "cache"), path, kind)
    blobs = BlobStore.for_settings(settings)
    if digest is None or not blobs.is_local_folder or not blobs.open().exists(digest):
        return None  # (a blob `gc --verify` removed is stored again the usual way)
    if kind == "files":  # the version holds a manifest of the one file
        import blake3

        entry = {"path": os.path.basename(path), "digest": digest, "size": os.path.getsize(path)}
        digest = blake3.blake3(manifest_bytes([entry])).hexdigest()
    project = default_project(project)
    latest = latest_dataset_version(db, project, name)
    if latest is None or latest[1] != digest:
        return None
    return f"{project}/{name}@{latest[0]}", digest


def _store_ahead(path: str, as_files: bool) -> Any:
    """For one file stored byte for byte in a local artifact folder: start copying and
    hashing it into the store on a thread at once, while the rest of setpoint is imported
    (the copy and the hash release the GIL), and note its digest in the stat cache, where
    ``log_dataset`` then finds it stored. The thread, or None when nothing was started.

    Best effort: if this fails, ``log_dataset`` stores the file (and reports any error)
    itself. A blob stored here and never referred to (the add failed after it) is what
    ``setpoint gc`` removes."""
    import threading

    from setpoint.client.stat_cache import FILE_NAME, StatCache, stat_key
    from setpoint.core.config import Settings
    from setpoint.core.errors import SetpointError
    from setpoint.data.formats import is_tabular
    from setpoint.store.artifacts.blobs import BlobStore

    try:
        settings = Settings.from_env()
        key = stat_key(path) if os.path.isfile(path) else None
    except (OSError, SetpointError):
        return None
    if settings.remote or key is None or (is_tabular([path]) and not as_files):
        return None
    blobs = BlobStore.for_settings(settings)
    if not blobs.is_local_folder:
        return None

    cancel, done = threading.Event(), threading.Event()

    def store() -> None:
        try:
            digest, _ = blobs.open().put_file(path, cancel=cancel)
            cache = StatCache(os.path.join(settings.home, "cache", FILE_NAME), "files")
            cache.put(key, digest)
            cache.save()
        except Exception:  # log_dataset does it again, and reports what went wrong
            return
        finally:
            done.set()

    thread = threading.Thread(target=store, name="setpoint-store-ahead", daemon=True)
    thread.start()
    return _Ahead(cancel, done)


class _Ahead:
    """The store-ahead copy under way: ``wait`` for it to end; interrupted meanwhile (Ctrl-C,
    SIGTERM), it stops the copy, which removes what it copied, before the interrupt goes on."""

    def __init__(self, cancel: Any, done: Any) -> None:
        self.cancel = cancel
        self.done = done

    def wait(self) -> None:
        # (an event, not the thread's join: a join interrupted once returns at once after)
        try:
            self.done.wait()
        except BaseException:
            self.cancel.set()
            self.done.wait()  # one chunk at most
            raise


@data.command("list")
@click.option("--project", "-p", default=None, help="Only this project.")
@json_option
def list_datasets(project: str | None, as_json: bool) -> None:
    """Datasets and their latest version."""
    found = client().list_datasets(project)
    if as_json:
        print_json(found)
        return
    table(
        f"{len(found)} datasets",
        ["project", "name", "latest", "versions", "created (UTC)"],
        [(d.project, d.name, d.latest_version, d.versions, when(d.created_at)) for d in found],
    )


@data.command("show")
@click.argument("ref")
@json_option
def show(ref: str, as_json: bool) -> None:
    """One version: REF is [project/]name[@version] (latest by default), with its lineage
    (the runs that consumed or produced it)."""
    from setpoint.client import sdk

    v = sdk.get_dataset(ref)
    if as_json:
        print_json(v.info)
        return
    facts = [
        ("version", v.ref),
        ("files" if v.kind == "files" else "rows", v.num_rows),
        ("bytes" if v.kind == "files" else "bytes (Parquet)", v.size),
        ("blake3", v.hash),
        ("source", v.source),
        ("description", v.description),
        ("parents", ", ".join(v.parents)),
        ("created (UTC)", when(v.created_at)),
        ("creator", v.creator),
    ]
    table("dataset version", ["fact", "value"], [f for f in facts if f[1] not in (None, "")])
    if v.kind == "files":
        table(
            "files",
            ["path", "bytes", "blake3"],
            [(f.path, f.size, f.digest[:16]) for f in v.files()],
        )
    else:
        table("schema", ["column", "type"], [(c["name"], c["type"]) for c in v.schema])
    edges = sdk.lineage(v)
    if edges:  # the runs that consumed or produced it

        def node(kind: str, ident: str) -> str:
            return "this version" if ident == v.ref else f"{kind} {ident}"

        rows = [
            (
                node(e.source_kind, e.source_id),
                e.relation,
                node(e.target_kind, e.target_id),
                when(e.created_at),
            )
            for e in edges
        ]
        table("lineage", ["from", "relation", "to", "at (UTC)"], rows)


@data.command("versions")
@click.argument("name")
@click.option("--project", "-p", default=None)
@json_option
def versions(name: str, project: str | None, as_json: bool) -> None:
    """Every version of a dataset (NAME or PROJECT/NAME, as other commands write it),
    oldest first."""
    from setpoint.client import sdk
    from setpoint.data.versions import parse_ref

    if "/" in name or "@" in name:  # fraud/transactions, as `data show` takes it
        given = name
        named, name, version = parse_ref(
            given, default_project=project or sdk._project(None), field="name"
        )
        if version is not None:
            raise click.BadParameter(
                f"{given} names one version: give the dataset ({given.split('@')[0]})",
                param_hint="NAME",
            )
        if project is not None and project != named:  # (only a PROJECT/ given can differ)
            raise click.BadParameter(
                f"{given} is in project {named}, not {project}", param_hint="NAME/--project"
            )
        project = named
    found = client().list_dataset_versions(name, sdk._project(project))
    if as_json:
        print_json(found)
        return
    table(
        f"{name}: {len(found)} versions",
        ["version", "rows", "blake3", "source", "created (UTC)"],
        [(v.version, v.num_rows, v.digest[:16], v.source, when(v.created_at)) for v in found],
    )


@data.command("profile")
@click.argument("ref")
@click.option("--html", "html_path", default=None, help="Also write an offline HTML report here.")
@json_option
def profile(ref: str, html_path: str | None, as_json: bool) -> None:
    """Per-column statistics of a version (stored when it was added)."""
    from setpoint.client import sdk
    from setpoint.core.errors import InvalidArgumentError

    v = sdk.get_dataset(ref)
    prof = v.profile
    if prof is None:
        raise InvalidArgumentError(
            f"{v.ref} holds files, not a table: it has no profile", field="ref"
        )
    if html_path:
        from setpoint.data.report import profile_html

        write_file(html_path, profile_html(prof, title=f"{v.ref} profile"))
    if as_json:
        print_json(prof)
        return
    rows = []
    non_finite = any(c.get(k) for c in prof["columns"] for k in _NON_FINITE)
    for c in prof["columns"]:
        total = c["count"] + c["nulls"]
        nulls = f"{100 * c['nulls'] / total:.1f}%" if total else ""
        distinct = "" if c.get("distinct") is None else f"{c['distinct']}"
        distinct = distinct if not distinct or c.get("distinct_exact") else f"≈{distinct}"
        if c["kind"] in ("numeric", "temporal"):
            detail = _sparkline(c.get("histogram"))
        else:
            detail = ", ".join(f"{k} {n}" for k, n in (c.get("top") or [])[:3])
            detail = detail if len(detail) <= 24 else detail[:23] + "…"
        rows.append(
            (
                c["name"],
                c["type"],
                nulls,
                distinct,
                _short(c.get("min")),
                _short(c.get("max")),
                _short(c.get("mean")),
                *([_non_finite(c)] if non_finite else []),
                detail,
            )
        )
    table(
        f"{v.ref}: {prof['num_rows']} rows",
        [
            *["column", "type", "nulls", "distinct", "min", "max", "mean"],
            *(["nan / ±inf"] if non_finite else []),
            "shape / top",
        ],
        rows,
        keep_whole=["shape / top"],
    )
    if html_path:
        click.echo(f"HTML report: {html_path}")


# Counts a float column's min, max and mean leave out.
_NON_FINITE = {"nan": "nan", "pos_inf": "+inf", "neg_inf": "-inf"}


def _non_finite(column: dict[str, Any]) -> str:
    return ", ".join(f"{label} {column[k]}" for k, label in _NON_FINITE.items() if column.get(k))


def _short(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _sparkline(histogram: dict[str, Any] | None) -> str:
    if not histogram or not histogram.get("counts"):
        return ""
    counts = histogram["counts"]
    top = max(counts) or 1
    blocks = " ▁▂▃▄▅▆▇█"
    return "".join(blocks[round(n / top * 8)] for n in counts)


@data.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--threshold",
    default=0.1,
    show_default=True,
    type=Finite(min=0),
    help="Drift score that counts as drift.",
)
@click.option("--html", "html_path", default=None, help="Also write an offline HTML report here.")
@json_option
def diff(old: str, new: str, threshold: float, html_path: str | None, as_json: bool) -> None:
    """What changed between two versions: schema, rows, per-column drift, categories."""
    from setpoint.client import sdk

    result = sdk.diff_datasets(old, new, threshold=threshold)
    if html_path:
        from setpoint.data.report import diff_html

        write_file(html_path, diff_html(result, title=f"{result['from']} → {result['to']}"))
    if as_json:
        print_json(result)
        return
    rows_a, rows_b = result["rows"]["from"], result["rows"]["to"]
    click.echo(
        f"{result['from']} → {result['to']}: rows {rows_a} → {rows_b} ({rows_b - rows_a:+d})"
    )
    schema = result["schema"]
    for c in schema["added"]:
        click.echo(f"  + column {c['name']} ({c['type']})")
    for c in schema["removed"]:
        click.echo(f"  - column {c['name']} ({c['type']})")
    for c in schema["changed"]:
        click.echo(f"  ~ column {c['name']}: {c['from']} → {c['to']}")
    ranked = sorted(result["columns"], key=lambda c: -(c["drift"] or 0))
    table(
        None,
        ["column", "drift", "drifted", "mean", "nulls", "new categories", "vanished"],
        [
            (
                c["name"],
                c["drift"],
                "yes" if c["drifted"] else "",
                _pair(c["stats"].get("mean")),
                _pair(c["stats"].get("nulls")),
                ", ".join(c["new_categories"][:5]),
                ", ".join(c["vanished_categories"][:5]),
            )
            for c in ranked
        ],
    )
    if html_path:
        click.echo(f"HTML report: {html_path}")


def _pair(values: list[Any] | None) -> str:
    if not values:
        return ""
    return " → ".join(
        "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in values
    )


@data.command("infer-suite")
@click.argument("ref")
@click.option("--no-shift", is_flag=True, help="Leave out shift checks against this version.")
def infer_suite(ref: str, no_shift: bool) -> None:
    """Print a YAML suite that REF passes, to edit and use with `data validate`."""
    from setpoint.client import sdk

    sys.stdout.write(sdk.infer_suite(ref, reference=not no_shift))


@data.command("validate")
@click.argument("target")
@click.option("--suite", "-s", "suite_path", required=True, help="The YAML suite.")
@click.option("--env", "environment", default=None, help="Environment, e.g. training or serving.")
@click.option("--reference", default=None, help="Version shift checks compare against.")
@click.option("--scan", is_flag=True, help="Read every row instead of deciding from the profile.")
@click.option("--no-record", is_flag=True, help="Do not store the result with the version.")
@json_option
def validate(
    target: str,
    suite_path: str,
    environment: str | None,
    reference: str | None,
    scan: bool,
    no_record: bool,
    as_json: bool,
) -> None:
    """Check TARGET (a version like name@3, or a CSV/Parquet path) against a suite.
    Exits 1 when an error-level check fails, 2 when it cannot validate (a bad suite, data
    that cannot be read)."""
    from setpoint.client import sdk
    from setpoint.core.errors import SetpointError

    if os.getcwd() not in sys.path:  # custom checks' modules, as `python -m` finds them
        sys.path.insert(0, os.getcwd())
    try:
        report = sdk.validate(
            target,
            suite_path,
            environment=environment,
            reference=reference,
            record=not no_record,
            use_profile=not scan,
        )
    except SetpointError as exc:  # not validated (a bad suite, no such data): not "failed"
        if os.environ.get("SETPOINT_DEBUG"):
            raise
        show_error(exc)
        sys.exit(2)
    if as_json:
        print_json(report.result)
    else:
        _print_report(report)
    if not report.passed:
        sys.exit(1)


def _print_report(report: Any) -> None:
    rows = []
    for c in report.checks:
        state = "ok" if c["passed"] else ("FAIL" if c["severity"] == "error" else "warn")
        sample = ", ".join(
            f"row {s['row']}" + (f"={s['value']!r}" if "value" in s else "")
            for s in (c.get("sample") or [])[:3]
        )
        rows.append(
            (
                state,
                c["check"],
                c.get("column") or c.get("name") or "",
                c["observed"],
                c["expected"],
                c.get("failing", ""),
                sample,
            )
        )
    table(
        f"{report.ref or 'data'} · suite {report.result['suite']}",
        ["", "check", "column", "observed", "expected", "failing rows", "sample"],
        rows,
    )
    verdict = "passed" if report.passed else "FAILED"
    click.echo(f"{verdict}: {report.errors} errors, {report.warnings} warnings")


@data.command("validations")
@click.argument("ref")
@json_option
def validations(ref: str, as_json: bool) -> None:
    """Stored validation results of a version, oldest first."""
    from setpoint.client import sdk

    v = sdk.get_dataset(ref)
    found = client().list_validations(v.name, v.version, v.project)
    if as_json:
        print_json(found)
        return
    table(
        f"{v.ref}: {len(found)} validations",
        ["id", "suite", "environment", "passed", "errors", "warnings", "creator", "created (UTC)"],
        [
            (
                r.id,
                r.suite,
                r.environment or "",
                "yes" if r.passed else "no",
                r.errors,
                r.warnings,
                r.creator or "",
                when(r.created_at),
            )
            for r in found
        ],
    )
