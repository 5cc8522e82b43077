"""``setpoint predict`` / ``sp.predict_batch``: a registered model over files of any size,
in this process (threads over record batches) or as Ray tasks (one per input file)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from typing import Any

from setpoint.core.config import Settings
from setpoint.core.errors import InvalidArgumentError


def predict_batch(
    c: Any,
    settings: Settings,
    model: str,
    source: str,
    dest: str,
    *,
    keep: list[str] | None = None,
    proba: bool = False,
    executor: str = "inprocess",
    threads: int | None = None,
) -> dict[str, Any]:
    """Score ``source`` (CSV/Parquet file, folder or glob) with ``model`` (name@alias,
    name/7) into ``dest``: one Parquet file in process; with Ray, a folder with one part per
    input file. The alias is resolved once, so every part comes from the same version."""
    from setpoint.client.models import resolve
    from setpoint.data.ingest import source_files

    if threads is not None and threads < 1:
        raise InvalidArgumentError(f"threads must be at least 1, not {threads}", field="threads")
    # in a process, open_batches lists the inputs itself: listed here only when needed
    listed = executor == "ray" or os.path.exists(dest)
    inputs = (source_files(source, tabular_only=True) or []) if listed else []
    if os.path.exists(dest):
        for path in inputs:
            if _same_file(path, dest):
                raise InvalidArgumentError(
                    f"output {dest!r} is the input file {path!r}: scoring into it would "
                    "replace the data being read",
                    field="output",
                )
    if executor == "inprocess" and dest.lower().endswith(_NOT_PARQUET):
        raise InvalidArgumentError(
            f"predictions are written as Parquet: name the output .parquet, not {dest!r}",
            field="output",
        )
    if executor == "inprocess" and os.path.isdir(dest):
        raise InvalidArgumentError(
            f"output {dest!r} is a folder; scoring here writes one Parquet file",
            field="output",
        )
    version = resolve(c, model)
    cache = os.path.join(settings.home, "cache")
    if executor == "inprocess":
        from setpoint.client.models import load_model
        from setpoint.data.ingest import open_batches
        from setpoint.serving.scoring import score

        loaded = load_model(c, version, None, cache)
        _, schema, batches = open_batches(source, csv_types(loaded))
        result = score(loaded, batches, schema, dest, keep=keep, proba=proba, threads=threads)
        return {
            "model": version.ref,
            "rows": result.rows,
            "files": result.files,
            "keep": result.keep,
        }
    if executor != "ray":
        raise InvalidArgumentError(
            f"unknown executor {executor!r}: expected inprocess or ray", field="executor"
        )
    from setpoint.client.executors import connect_ray

    _check_parts_folder(dest)
    ray = connect_ray()
    # The parts are written to a folder of their own, which then takes dest's place: dest
    # never mixes this run's parts with an earlier run's, nor shows a run cut short.
    dest = os.path.abspath(dest)
    tmp = f"{dest}.partial-{uuid.uuid4().hex[:8]}"
    os.makedirs(tmp)
    try:
        task = ray.remote(num_cpus=1, max_retries=1)(_score_file)
        refs = [
            task.remote(settings, version, path, os.path.join(tmp, _part(i)), keep, proba)
            for i, path in enumerate(inputs)
        ]
        parts = ray.get(refs)
        _replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "model": version.ref,
        "rows": sum(p["rows"] for p in parts),
        "files": [os.path.join(dest, _part(i)) for i in range(len(parts))],
        "keep": parts[0]["keep"] if parts else [],
    }


def _part(i: int) -> str:
    return f"part-{i:05d}.parquet"


_PART = re.compile(r"part-[0-9]{5}\.parquet")


_NOT_PARQUET = (".csv", ".tsv", ".json", ".jsonl", ".txt")


def _check_parts_folder(dest: str) -> None:
    """dest must be new, or a folder of parts an earlier scoring wrote (replaced whole)."""
    if not os.path.exists(dest):
        return
    if not os.path.isdir(dest):
        raise InvalidArgumentError(
            f"output {dest!r} is a file; scoring on Ray writes a folder of parts", field="output"
        )
    others = sorted(n for n in os.listdir(dest) if not _PART.fullmatch(n))
    if others:
        raise InvalidArgumentError(
            f"output folder {dest!r} holds {others[0]!r}, which scoring did not write; give a "
            "new folder (or one of earlier parts, which is replaced)",
            field="output",
        )


def _replace_folder(new: str, dest: str) -> None:
    """Put the folder ``new`` at ``dest``, removing the folder of parts there."""
    if not os.path.exists(dest):
        os.rename(new, dest)
        return
    old = f"{dest}.old-{uuid.uuid4().hex[:8]}"
    os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _score_file(
    settings: Settings, version: Any, path: str, dest: str, keep: list[str] | None, proba: bool
) -> dict[str, Any]:
    """One Ray task: load the version (hash-checked) and score one input file."""
    from setpoint.client import sdk
    from setpoint.client.executors import warm_up
    from setpoint.client.models import load_model
    from setpoint.data.ingest import open_batches
    from setpoint.serving.scoring import score

    warm_up(settings)  # this worker's client on the driver's store
    loaded = load_model(sdk.client(), version, None, os.path.join(settings.home, "cache"))
    _, schema, batches = open_batches(path, csv_types(loaded))
    result = score(loaded, batches, schema, dest, keep=keep, proba=proba, threads=1)
    return {"rows": result.rows, "files": result.files, "keep": result.keep}


def csv_types(loaded: Any) -> dict[str, Any]:
    """The Arrow types a model's signature gives its input columns: how CSV text is read for
    it (a column of codes like "007" is text to the model, whatever it looks like)."""
    import pyarrow as pa

    signature = loaded.signature
    if signature is None or not signature.is_tabular:
        return {}
    out = {}
    for column in signature.inputs:
        with contextlib.suppress(ValueError, TypeError):  # checked when it was logged
            out[column.name] = pa.type_for_alias(column.type)
    return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # not a local file
        return False
