"""The SDK side of models: package a model here, store its files as blobs, register the
package; load a version back with every byte checked before anything is deserialised.

Packaging and loading happen in the user's process in both SDK modes; the store only receives
finished blobs and a manifest listing them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from setpoint.core.errors import ArtifactCorruptedError, InvalidArgumentError
from setpoint.core.types import Evaluation, ModelVersion


def log_model(
    client: Any,
    model: Any,
    name: str,
    project: str,
    *,
    run_id: str | None = None,
    input_example: Any = None,
    signature: Any = None,
    flavor: str | None = None,
    description: str = "",
    tags: dict[str, str] | None = None,
    actor: str | None = None,
) -> ModelVersion:
    """Save ``model`` as a package, upload its files and register the next version."""
    from setpoint.models.package import manifest_bytes, save_model

    with tempfile.TemporaryDirectory(prefix="setpoint-model-") as tmp:
        save_model(model, tmp, flavor=flavor, input_example=input_example, signature=signature)
        files = []
        for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            ref = client.upload_file(path)
            files.append(
                {"path": path.relative_to(tmp).as_posix(), "digest": ref.digest, "size": ref.size}
            )
    blob = client.upload_blob(io.BytesIO(manifest_bytes(files)))
    return client.register_model_version(  # type: ignore[no-any-return]
        name, blob.digest, project, run_id, description, tags, actor
    )


def model_project(client: Any, name: str, project: str | None) -> str:
    """The project of model ``name``: ``project`` when given; else the default project
    (SETPOINT_PROJECT or "default") if it has such a model; else the one project that does
    (model names are per project, but a name used in one project only needs no prefix)."""
    from setpoint.core.config import default_project
    from setpoint.core.errors import ModelNotFoundError, PermissionDeniedError

    if project is not None:
        return project
    fallback = default_project()
    try:
        client.get_model(name, fallback)
        return fallback
    except (ModelNotFoundError, PermissionDeniedError):
        pass
    try:
        holders = sorted({m.project for m in client.list_models() if m.name == name})
    except PermissionDeniedError:  # may not list every project: stay with the default
        return fallback
    if len(holders) > 1:
        raise InvalidArgumentError(
            f"model {name!r} exists in projects {', '.join(holders)}: name one, like "
            f"{holders[0]}/{name}",
            field="model",
        )
    return holders[0] if holders else fallback


def resolve(client: Any, ref: str, default_project: str | None = None) -> ModelVersion:
    """``name/7``, ``name@alias``, ``project/name/7`` or ``name`` (latest) -> the version."""
    from setpoint.models.registry import parse_model_ref

    project, name, which = parse_model_ref(ref, default_project=default_project)
    project = model_project(client, name, project)
    if isinstance(which, int):
        return client.get_model_version(name, which, project)  # type: ignore[no-any-return]
    return client.resolve_alias(name, which, project)  # type: ignore[no-any-return]


def fetch(client: Any, version: ModelVersion, cache_dir: str | os.PathLike[str]) -> Path:
    """The version's package files in a local folder (cached by package digest). A folder
    appears under that name only whole: each process downloads into a folder of its own and
    renames it into place, so processes loading at once never see each other's files."""
    import uuid

    import blake3

    from setpoint.data.versions import check_relative_path

    models = Path(cache_dir) / "models"
    folder = models / version.digest
    files = [
        (f, check_relative_path(f.path))
        for f in client.list_model_files(version.name, version.version, version.project)
    ]
    meta = next((f for f, _ in files if f.path == "model.json"), None)
    if meta is None:
        raise InvalidArgumentError(f"{version.ref} has no model.json", field="model")
    if not all(
        (folder / rel).is_file() and (folder / rel).stat().st_size == f.size for f, rel in files
    ):  # verified below, like a fresh download, before any load
        if folder.exists():
            discard(folder)  # a copy cut short (by an older setpoint, or a removed file)
        _remove_stale_work(models)
        partial = models / f".partial-{uuid.uuid4().hex}"
        try:
            for f, rel in files:
                (partial / rel).parent.mkdir(parents=True, exist_ok=True)
                client.download_blob(f.digest, partial / rel)
            try:
                os.rename(partial, folder)
            except OSError:
                if not folder.is_dir():
                    raise
                # another process put its whole copy there first: use that one
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    # model.json lists every other file's digest (checked by the package loader); it must
    # itself be the bytes the registry recorded.
    actual = blake3.blake3((folder / "model.json").read_bytes()).hexdigest()
    if actual != meta.digest:
        discard(folder)
        raise ArtifactCorruptedError(
            f"{version.ref}: model.json hashes to blake3:{actual}, the registry recorded "
            f"blake3:{meta.digest}; the cached copy was removed"
        )
    return folder


STALE_WORK_S = 86_400  # a download folder untouched this long was left by a killed process


def _remove_stale_work(models: Path) -> None:
    """Remove the download and discard folders of processes killed mid-way."""
    import time

    if not models.is_dir():
        return
    cutoff = time.time() - STALE_WORK_S
    for entry in models.iterdir():
        if entry.name.startswith((".partial-", ".discard-")):
            with contextlib.suppress(OSError):  # gone already, or another's
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry)


def discard(folder: Path) -> None:
    """Remove a cached package folder: renamed away first (one step), so a process looking
    for it finds it whole or not at all, then deleted."""
    import uuid

    aside = folder.with_name(f".discard-{uuid.uuid4().hex}")
    try:
        os.rename(folder, aside)
    except OSError:  # gone already (another process discarded it)
        return
    shutil.rmtree(aside, ignore_errors=True)


def load_model(
    client: Any,
    ref: str | ModelVersion,
    default_project: str | None,
    cache_dir: str | os.PathLike[str],
    trusted: list[str] | None = None,
) -> Any:
    """Load a registered version; ``.predict(df)`` works the same for every flavor."""
    from setpoint.models.package import load_model as load_package

    version = ref if isinstance(ref, ModelVersion) else resolve(client, ref, default_project)
    folder = fetch(client, version, cache_dir)
    try:
        loaded = load_package(folder, trusted=trusted)
    except ArtifactCorruptedError:
        discard(folder)  # the next load downloads afresh
        raise
    loaded.version = version
    return loaded


def evaluate(
    client: Any,
    loaded: Any,
    data: Any,
    target: str,
    *,
    slices: list[str],
    task: str | None,
    importance: bool,
    record: bool,
    actor: str | None,
) -> Evaluation:
    """Evaluate a loaded model on a dataset version and (for a registered model) store it."""
    import time as _time

    from setpoint.models.evaluation import evaluate as compute

    frame = data.to_pandas()
    missing = [c for c in [target, *slices] if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"{data.ref} has no column {missing[0]!r}; it has {', '.join(map(str, frame.columns))}",
            field="target" if missing[0] == target else "slices",
        )
    gaps = frame[target].isna()
    if gaps.any():
        rows = ", ".join(str(i) for i in gaps.to_numpy().nonzero()[0][:5])
        raise InvalidArgumentError(
            f"target {target!r} has {int(gaps.sum())} missing values (rows {rows}, ...): drop "
            "or fill them before evaluating",
            field="target",
        )
    y = frame[target].to_numpy()
    features = frame.drop(columns=[target])
    signature = loaded.signature
    if signature is not None and signature.is_tabular:
        # what the model takes, so the importances are of its features only (not slices)
        taken = [c.name for c in signature.inputs]
        if all(c in features.columns for c in taken):
            features = features[taken]
    proba = loaded.predict_proba if getattr(loaded, "has_proba", False) else None
    known = getattr(loaded.native, "classes_", None)
    if known is None:
        known = loaded.meta.flavor_meta.get("classes")
    task_name, metrics, result = compute(
        loaded.predict,
        proba,
        features,
        y,
        task=task,
        slices={c: frame[c].to_numpy() for c in slices},
        importance=importance,
        example=loaded.input_example,
        classes=None if known is None else list(known),
        estimator=loaded.native,
    )
    version: ModelVersion | None = getattr(loaded, "version", None)
    if record and version is not None:
        return client.record_evaluation(  # type: ignore[no-any-return]
            version.name,
            version.version,
            data.ref,
            target,
            task_name,
            metrics,
            result,
            version.project,
            actor,
        )
    return Evaluation(
        id=0,
        ref=version.ref if version is not None else "",
        dataset=data.ref,
        target=target,
        task=task_name,
        metrics=metrics,
        result=result,
        creator=actor,
        created_at=int(_time.time() * 1000),
    )
