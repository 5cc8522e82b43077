"""MLflow's model registry (``registered-models``, ``model-versions``) over setpoint's.

A registered model is a setpoint model, in the project of the run whose model makes its
first version (a version is registered in the project of the run that made it). Until then
a registered model made with ``create_registered_model`` is a reserved name in the store
(models/reservations.py), with its description and tags, which its first version gives the
setpoint model it makes.
A version is made from a logged model's folder in MLflow's format, registered as it is
(flavor ``mlflow``): setpoint can then gate, promote, load and serve it. Setting an alias
promotes: the alias's gates are judged first and a refusal is MLflow's
INVALID_PARAMETER_VALUE with the failing gates. A registered model's name that is not a
setpoint model name ("Fraud Detector") is kept as the model ``names.registered_model`` gives
("Fraud-Detector-<hash>"), with the name in its tag ``mlflow.registeredModelName``; MLflow's
clients see and use the name they gave. ``project/name`` names a model in that project.
"""

from __future__ import annotations

import io
import operator
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import Request

from setpoint.core.errors import (
    ConflictError,
    InvalidArgumentError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
)
from setpoint.core.names import (
    MODEL_NAME_TAG,
    check_key,
    registered_model,
    tag_value,
)
from setpoint.core.run_filter import like_regex
from setpoint.core.types import ModelReservation
from setpoint.models.reservations import check_reserved_name, project_of
from setpoint.server.mlflow_api import required_key
from setpoint.server.mlflow_fields import (
    not_name_tag,
    optional_text,
    order_by,
    page,
    pairs,
    sorted_by,
    text,
    text_list,
    whole,
)
from setpoint.server.mlflow_models import run_id_of

Route = Callable[[str, str], Callable[[Any], Any]]
Call = Callable[..., Awaitable[Any]]
SOURCE, MODEL_ID = "mlflow.source", "mlflow.model_id"
STAGE = "mlflow.stage"  # MLflow's stage of a version, kept as a tag ("None": no tag)
# where the files of a version made from another (source models:/name/version) are, fixed
# when it is made, as MLflow's storage_location: the version named may be deleted later
STORAGE = "mlflow.storage_location"
_STAGES = {s.lower(): s for s in ("None", "Staging", "Production", "Archived")}
# setpoint's own tags on a version, shown to MLflow clients as fields (source, model_id,
# current_stage), never as tags: MLflow's server has no such tags
_INTERNAL = frozenset({SOURCE, MODEL_ID, STAGE, STORAGE})
_RESERVED_ALIAS = re.compile(r"v\d+", re.I)  # MLflow's version aliases ("v3" names version 3)
# MLflow's order_by keys: (registered models, model versions) -> the field sorted on
_MODEL_ORDER = {
    "name": "name",
    "timestamp": "last_updated_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "creation_timestamp": "creation_timestamp",
}
_VERSION_ORDER = {
    "name": "name",
    "version_number": "version",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
_TEXT = frozenset({"name"})  # what orders as text; the other keys hold numbers


def add_routes(route: Route, call: Call, require: Call) -> None:
    """``require(request, role, what, project)``: the caller's role for what no operation
    covers (a registered model with no version yet)."""

    async def readable_models(request: Request) -> list[tuple[str, Any]]:
        """(project, model) of every model in the projects the caller may read."""
        out: list[tuple[str, Any]] = []
        for p in await call(request, "list_projects"):
            try:
                models = await call(request, "list_models", project=p.name)
            except PermissionDeniedError:
                continue
            out.extend((p.name, m) for m in models)
        return out

    async def where(request: Request, name: Any) -> str | None:
        """The project holding model ``name`` (``project/name`` names one), None if none."""
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name is required", field="name")
        if "/" in name:
            return name.split("/", 1)[0]
        key = registered_model(name)
        found = [project for project, m in await readable_models(request) if m.name == key]
        if len(found) > 1:
            raise InvalidArgumentError(
                f"projects {', '.join(found)} each have a model {name!r}: name it project/name",
                field="name",
            )
        return found[0] if found else None

    def plain(name: str) -> str:
        """The setpoint model's name for MLflow's ``name`` (or ``project/name``)."""
        return registered_model(name.split("/", 1)[1] if "/" in name else name)

    async def model_of(request: Request, name: Any) -> tuple[str, Any]:
        project = await where(request, name)
        if project is None:
            raise ModelNotFoundError(f"Registered Model with name={name} not found", field="name")
        return project, await call(request, "get_model", name=plain(name), project=project)

    def version_shape(v: Any, name: str) -> dict[str, Any]:
        """Version ``v`` as MLflow shows it, of the registered model called ``name``."""
        return {
            "name": name,
            "version": str(v.version),
            "creation_timestamp": v.created_at,
            "last_updated_timestamp": v.created_at,
            "current_stage": v.tags.get(STAGE, "None"),
            "description": v.description,
            "user_id": v.creator or "",
            "source": v.tags.get(SOURCE, ""),
            "run_id": v.run_id or "",
            "status": "READY",
            "tags": [{"key": k, "value": val} for k, val in _visible(v.tags).items()],
            "aliases": list(v.aliases),
            **({"model_id": v.tags[MODEL_ID]} if MODEL_ID in v.tags else {}),
        }

    async def registered_source(request: Request, source: str) -> tuple[str, Any] | None:
        """The version a source names through the registry, read as the caller, and the
        source as MLflow keeps it (``models:/name/version``): MLflow's ``models:/name/3``,
        ``models:/name@alias``, ``models:/name/Production`` and ``models:/name/latest``
        (``project/name`` for the name); None for any other source (``models:/m-...`` is a
        logged model)."""
        ref = source.removeprefix("models:/").strip("/") if source.startswith("models:/") else ""
        head, _, tail = ref.rpartition("/")
        if head and tail.isdigit():
            name, (project, m) = head, await model_of(request, head)
            v = await call(
                request, "get_model_version", name=m.name, version=int(tail), project=project
            )
        elif head:  # the newest version (in a stage), as MLflow resolves these
            stage = None if tail.lower() == "latest" else _STAGES.get(tail.lower())
            if stage is None and tail.lower() != "latest":
                raise InvalidArgumentError(
                    f"source {source!r}: a registered version is models:/name/version, "
                    f"models:/name@alias, models:/name/latest or models:/name/STAGE (one of "
                    f"{', '.join(_STAGES.values())})",
                    field="source",
                )
            name, (project, m) = head, await model_of(request, head)
            versions = await call(request, "list_model_versions", name=m.name, project=project)
            newest = _newest_by_stage(versions, {stage} if stage else None)
            if not newest:
                raise NotFoundError(
                    f"Registered model {head} has no version"
                    + (f" in stage {stage}" if stage else ""),
                    field="source",
                )
            v = max(newest, key=lambda found: found.version)
        elif "@" in ref:
            name, _, alias = ref.rpartition("@")
            project, m = await model_of(request, name)
            if _RESERVED_ALIAS.fullmatch(alias):  # v3: version 3, as MLflow
                v = await call(
                    request,
                    "get_model_version",
                    name=m.name,
                    version=int(alias[1:]),
                    project=project,
                )
            elif alias in m.aliases:
                v = await call(request, "resolve_alias", name=m.name, alias=alias, project=project)
            else:  # MLflow's answer: INVALID_PARAMETER_VALUE, as registered-models/alias
                raise InvalidArgumentError(
                    f"Registered model alias {alias} not found.", field="source"
                )
        else:
            return None
        return f"models:/{name}/{v.version}", v

    def stored_at(v: Any) -> str:
        """Where a version's MLflow folder is, as an artifact URI of this server."""
        return v.tags.get(STORAGE) or _artifact_uri(
            v.project, v.tags.get(SOURCE, ""), v.tags.get(MODEL_ID)
        )

    async def model_shape(request: Request, project: str, m: Any) -> dict[str, Any]:
        versions = (
            await call(request, "list_model_versions", name=m.name, project=project)
            if m.latest_version
            else []
        )
        return {
            "name": _shown(m),
            "creation_timestamp": m.created_at,
            "last_updated_timestamp": max([m.created_at, *(v.created_at for v in versions)]),
            "description": m.description,
            # as MLflow: the newest version in each stage that has one
            "latest_versions": [version_shape(v, _shown(m)) for v in _newest_by_stage(versions)],
            "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m.aliases.items())],
            "tags": [{"key": k, "value": v} for k, v in _model_tags(m.tags).items()],
        }

    def pending_shape(held: ModelReservation) -> dict[str, Any]:
        return {
            "name": held.name,
            "creation_timestamp": held.created_at,
            "last_updated_timestamp": held.updated_at,
            "description": held.description,
            "latest_versions": [],
            "tags": [{"key": k, "value": v} for k, v in held.tags.items()],
        }

    async def held(request: Request, name: Any) -> ModelReservation | None:
        """The registered model ``name`` made by ``registered-models/create`` with no version
        yet (a reserved name, and no setpoint model of that name since), None if it is not
        one. Only an editor may learn of one: to others it is None."""
        if not isinstance(name, str) or not name:
            return None
        try:
            found = await call(request, "get_model_reservation", name=name)
        except (ModelNotFoundError, PermissionDeniedError):
            return None
        try:  # a first version made the model, and the server stopped before releasing
            await model_of(request, name)
            return None
        except NotFoundError:
            return found  # type: ignore[no-any-return]

    async def may_hold(request: Request, name: Any) -> str:
        """``name`` of a registered model with no version yet, once the caller is known to be
        an editor (in its project when named project/name, else in some project): only they
        may learn of, add or remove such a name."""
        check_reserved_name(name)  # MLflow's names are free text
        await require(request, "editor", "create or delete a registered model", project_of(name))
        return str(name)

    @route("POST", "registered-models/create")
    async def create(request: Request, body: dict[str, Any]) -> Any:
        description = text(body.get("description"), "description")
        tags = {
            _not_name_tag(check_key(k, "tags")): tag_value(v, f"tags.{k}")
            for k, v in pairs(body.get("tags"), "tags").items()
            if v != ""
        }
        name = await may_hold(request, body.get("name"))
        try:
            await model_of(request, name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"Registered Model (name={name}) already exists.", field="name")
        made = await call(request, "reserve_model", name=name, description=description, tags=tags)
        return {"registered_model": pending_shape(made)}

    @route("GET", "registered-models/get")
    async def get(request: Request, body: dict[str, Any]) -> Any:
        name = body.get("name")
        if (waiting := await held(request, name)) is not None:
            return {"registered_model": pending_shape(waiting)}
        project, m = await model_of(request, name)
        return {"registered_model": await model_shape(request, project, m)}

    @route("GET", "registered-models/search")
    async def search(request: Request, body: dict[str, Any]) -> Any:
        """MLflow's search: name and tag filters, ``order_by`` name or last_updated_timestamp
        (then name ASC, as MLflow), pages in that order; pending names shown to editors."""
        wanted = name_filter(body.get("filter"))
        order = order_by(body.get("order_by"), _MODEL_ORDER, [("name", True)])
        limit = (
            100
            if body.get("max_results") is None
            else whole(body["max_results"], "max_results", 1, 10**9)
        )
        out = [
            await model_shape(request, project, m)
            for project, m in await readable_models(request)
            if wanted is None or wanted(_shown(m), _model_tags(m.tags))
        ]
        try:  # the names reserved with no version yet, for an editor
            reserved = await call(request, "list_model_reservations")
        except PermissionDeniedError:
            reserved = []
        named = {m["name"] for m in out}
        out.extend(
            pending_shape(waiting)
            for waiting in reserved
            if waiting.name not in named and (wanted is None or wanted(waiting.name, waiting.tags))
        )
        return page(
            sorted_by(out, order, _TEXT), "registered_models", body.get("page_token"), limit
        )

    @route("POST", "registered-models/get-latest-versions")
    async def latest(request: Request, body: dict[str, Any]) -> Any:
        """The newest version in each stage asked for (every stage when none is), as
        ``models:/name/Production`` resolves: the stage is the version's ``mlflow.stage``."""
        stages = text_list(body.get("stages"), "stages")
        wanted = set()
        for given in stages:
            stage = _STAGES.get(given.lower())
            if stage is None:
                raise InvalidArgumentError(
                    f"stages: {given!r} is not one of {', '.join(_STAGES.values())}",
                    field="stages",
                )
            wanted.add(stage)
        if await held(request, body.get("name")) is not None:
            return {"model_versions": []}
        project, m = await model_of(request, body.get("name"))
        versions = await call(request, "list_model_versions", name=m.name, project=project)
        shown = _shown(m)
        return {
            "model_versions": [version_shape(v, shown) for v in _newest_by_stage(versions, wanted)]
        }

    @route("POST", "model-versions/create")
    async def create_version(request: Request, body: dict[str, Any]) -> Any:
        """A version of a registered model that exists, or that ``registered-models/create``
        made (MLflow's ``log_model(registered_model_name=...)`` makes it first): its first
        version makes the setpoint model, in the project of the run, with what it holds."""
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name is required", field="name")
        source = body.get("source")
        if not isinstance(source, str) or not source:
            raise InvalidArgumentError("source is required", field="source")
        model_id = body.get("model_id") or None
        run_id = optional_text(body.get("run_id"), "run_id")
        storage = None
        if (origin := await registered_source(request, source)) is not None:
            # as MLflow: the version named by its number, its run and logged model unless
            # given, and they must be its own if given
            source, of = origin
            if (run_id is not None and run_id != (of.run_id or "")) or (
                model_id is not None and model_id != of.tags.get(MODEL_ID)
            ):
                raise InvalidArgumentError(
                    f"source {source!r}: run_id and model_id must be those of that version",
                    field="source",
                )
            run_id, model_id = run_id or of.run_id, model_id or of.tags.get(MODEL_ID)
            storage = stored_at(of)
        folder_run, prefix = _folder(storage or source, None if storage else model_id)
        project: str | None
        waiting = await held(request, name)
        if waiting is None:
            project, _ = await model_of(request, name)
        else:
            project = name.split("/", 1)[0] if "/" in name else None
        run = await call(request, "get_run", run_id=run_id or folder_run)
        source_run = run.tags.get("mlflow.source_run_id")
        if source_run:  # a logged model's own run: the version comes from the run that logged it
            run = await call(request, "get_run", run_id=source_run)
        project = project or run.project
        digest = await _package(request, call, folder_run, prefix)
        tags = {**pairs(body.get("tags"), "tags"), SOURCE: source}
        if model_id:
            tags[MODEL_ID] = str(model_id)
        if storage:
            tags[STORAGE] = storage
        v = await call(
            request,
            "register_model_version",
            name=plain(name),
            digest=digest,
            project=project,
            run_id=run.id if run.project == project else None,
            description=text(body.get("description"), "description"),
            tags=tags,
        )
        shown = name.split("/", 1)[-1]
        if waiting is not None:  # the model made: what it held, and MLflow's name for it
            kept = {MODEL_NAME_TAG: shown} if plain(name) != shown else {}
            if waiting.description or waiting.tags or kept:
                await call(
                    request,
                    "update_model",
                    name=plain(name),
                    project=project,
                    description=waiting.description or None,
                    tags={**waiting.tags, **kept} or None,
                )
            await call(request, "release_model_reservation", name=name)
        return {"model_version": version_shape(v, shown)}

    async def version_of(request: Request, body: dict[str, Any]) -> tuple[str, Any]:
        """MLflow's name of the registered model, and the version the body names."""
        project, m = await model_of(request, body.get("name"))
        version = whole(body.get("version") or "", "version", 0, 2**63 - 1)
        v = await call(request, "get_model_version", name=m.name, version=version, project=project)
        return _shown(m), v

    @route("GET", "model-versions/get")
    async def get_version(request: Request, body: dict[str, Any]) -> Any:
        shown, v = await version_of(request, body)
        return {"model_version": version_shape(v, shown)}

    @route("GET", "model-versions/get-download-uri")
    async def download_uri(request: Request, body: dict[str, Any]) -> Any:
        _, v = await version_of(request, body)
        return {"artifact_uri": stored_at(v)}

    @route("GET", "model-versions/search")
    async def search_versions(request: Request, body: dict[str, Any]) -> Any:
        """MLflow's search: filters on name, run_id, source_path, version_number and tags,
        ``order_by`` (by default newest first, as MLflow: last_updated_timestamp DESC, then
        name ASC, version_number DESC)."""
        wanted = version_filter(body.get("filter"))
        order = order_by(
            body.get("order_by") or ["last_updated_timestamp DESC"],
            _VERSION_ORDER,
            [("name", True), ("version", False)],
        )
        limit = whole(body.get("max_results") or 10_000, "max_results", 1, 10**9)
        out: list[dict[str, Any]] = []
        for project, m in await readable_models(request):
            # a name clause narrows the models first; the others test each version
            if wanted is None or wanted({"name": _shown(m)}, None):
                versions = await call(request, "list_model_versions", name=m.name, project=project)
                shaped = [version_shape(v, _shown(m)) for v in versions]
                out.extend(
                    s
                    for s, v in zip(shaped, versions, strict=True)
                    if wanted is None or wanted(_filtered_on(s), _visible(v.tags))
                )
        return page(sorted_by(out, order, _TEXT), "model_versions", body.get("page_token"), limit)

    @route("PATCH", "registered-models/update")
    async def update(request: Request, body: dict[str, Any]) -> Any:
        description = text(body.get("description"), "description")
        if await held(request, body.get("name")) is not None:
            changed = await call(
                request, "update_model_reservation", name=body["name"], description=description
            )
            return {"registered_model": pending_shape(changed)}
        project, m = await model_of(request, body.get("name"))
        m = await call(
            request,
            "update_model",
            name=m.name,
            project=project,
            description=description,
        )
        return {"registered_model": await model_shape(request, project, m)}

    @route("POST", "registered-models/set-tag")
    async def set_model_tag(request: Request, body: dict[str, Any]) -> Any:
        """Set a tag; an empty value (MLflow accepts one) removes it, as everywhere in
        setpoint."""
        value = text(body.get("value"), "value")
        key = _not_name_tag(required_key(body))
        if await held(request, body.get("name")) is not None:
            await call(request, "update_model_reservation", name=body["name"], tags={key: value})
            return {}
        project, m = await model_of(request, body.get("name"))
        await call(request, "update_model", name=m.name, project=project, tags={key: value})
        return {}

    @route("DELETE", "registered-models/delete-tag")
    async def delete_model_tag(request: Request, body: dict[str, Any]) -> Any:
        """Remove a tag; one that is not there is already removed (as MLflow), for a
        caller who may remove one (the editor role, or 403 whatever the tag)."""
        key = _not_name_tag(required_key(body))
        if (waiting := await held(request, body.get("name"))) is not None:
            if key in waiting.tags:
                await call(request, "update_model_reservation", name=waiting.name, tags={key: ""})
            return {}
        project, m = await model_of(request, body.get("name"))
        if key in m.tags:
            await call(request, "update_model", name=m.name, project=project, tags={key: ""})
        else:  # nothing to remove: the caller must still be one who may remove it
            await require(request, "editor", "delete a registered model's tag", project)
        return {}

    @route("POST", "registered-models/rename")
    async def rename(request: Request, body: dict[str, Any]) -> Any:
        await model_of(request, body.get("name"))
        raise InvalidArgumentError(
            "setpoint does not rename models: deployments, monitors and the audit trail "
            "refer to them by name",
            field="new_name",
        )

    @route("DELETE", "registered-models/delete")
    async def delete_model(request: Request, body: dict[str, Any]) -> Any:
        name = body.get("name")
        if await held(request, name) is not None:
            await call(request, "release_model_reservation", name=name)
            return {}
        project, m = await model_of(request, name)
        await call(request, "delete_model", name=m.name, project=project)
        return {}

    @route("PATCH", "model-versions/update")
    async def update_version(request: Request, body: dict[str, Any]) -> Any:
        shown, v = await version_of(request, body)
        v = await call(
            request,
            "update_model_version",
            name=v.name,
            version=v.version,
            project=v.project,
            description=text(body.get("description"), "description"),
        )
        return {"model_version": version_shape(v, shown)}

    @route("POST", "model-versions/set-tag")
    async def set_version_tag(request: Request, body: dict[str, Any]) -> Any:
        """Set a tag; an empty value (MLflow accepts one) removes it, as everywhere in
        setpoint."""
        _, v = await version_of(request, body)
        value = text(body.get("value"), "value")
        await call(
            request,
            "set_model_tags",
            name=v.name,
            version=v.version,
            project=v.project,
            tags={required_key(body): value},
        )
        return {}

    @route("DELETE", "model-versions/delete-tag")
    async def delete_version_tag(request: Request, body: dict[str, Any]) -> Any:
        """Remove a tag; one that is not there (or one of setpoint's own, which MLflow clients
        do not see) is already removed, as MLflow answers, for a caller who may remove one."""
        _, v = await version_of(request, body)
        key = required_key(body)
        if key not in _visible(v.tags):  # nothing to remove: still only for who may remove it
            await require(request, "editor", "delete a model version's tag", v.project)
            return {}
        await call(
            request,
            "set_model_tags",
            name=v.name,
            version=v.version,
            project=v.project,
            tags={key: ""},
        )
        return {}

    @route("DELETE", "model-versions/delete")
    async def delete_version(request: Request, body: dict[str, Any]) -> Any:
        _, v = await version_of(request, body)
        await call(
            request, "delete_model_version", name=v.name, version=v.version, project=v.project
        )
        return {}

    @route("POST", "model-versions/transition-stage")
    async def transition_stage(request: Request, body: dict[str, Any]) -> Any:
        """MLflow's stages (deprecated there in favour of aliases) are kept as the tag
        ``mlflow.stage``; setpoint's own promotions use aliases and gates."""
        shown, v = await version_of(request, body)
        stage = _STAGES.get(str(body.get("stage") or "").lower())
        if stage is None:
            raise InvalidArgumentError(
                f"stage must be one of {', '.join(_STAGES.values())}; got {body.get('stage')!r}",
                field="stage",
            )
        archive = str(body.get("archive_existing_versions") or "").lower() == "true" or (
            body.get("archive_existing_versions") is True
        )
        if archive and stage in ("Staging", "Production"):
            for other in await call(request, "list_model_versions", name=v.name, project=v.project):
                if other.version != v.version and other.tags.get(STAGE) == stage:
                    await call(
                        request,
                        "set_model_tags",
                        name=v.name,
                        version=other.version,
                        project=v.project,
                        tags={STAGE: "Archived"},
                    )
        v = await call(
            request,
            "set_model_tags",
            name=v.name,
            version=v.version,
            project=v.project,
            tags={STAGE: "" if stage == "None" else stage},
        )
        return {"model_version": version_shape(v, shown)}

    @route("POST", "registered-models/alias")
    async def set_alias(request: Request, body: dict[str, Any]) -> Any:
        alias = body.get("alias")
        if not isinstance(alias, str) or not alias:
            raise InvalidArgumentError("alias is required", field="alias")
        if _RESERVED_ALIAS.fullmatch(alias):  # MLflow's models:/name@v3 means version 3
            raise InvalidArgumentError(f"Version alias name '{alias}' is reserved.", field="alias")
        shown, v = await version_of(request, body)
        result = await call(
            request,
            "promote",
            name=v.name,
            version=v.version,
            alias=alias,
            project=v.project,
            reason="set through MLflow's API",
        )
        if not result.moved:
            failed = [g for g in result.gates if not g.get("passed")]
            why = "; ".join(str(g.get("rule") or g.get("name") or g) for g in failed)
            raise InvalidArgumentError(
                f"setpoint's gates refused {shown} v{v.version} for {alias!r}: {why}",
                field="alias",
            )
        return {}

    @route("GET", "registered-models/alias")
    async def get_alias(request: Request, body: dict[str, Any]) -> Any:
        project, m = await model_of(request, body.get("name"))
        alias = str(body.get("alias") or "")
        if alias not in m.aliases:  # MLflow's answer: INVALID_PARAMETER_VALUE, not 404
            raise InvalidArgumentError(f"Registered model alias {alias} not found.", field="alias")
        v = await call(request, "resolve_alias", name=m.name, alias=alias, project=project)
        return {"model_version": version_shape(v, _shown(m))}

    @route("DELETE", "registered-models/alias")
    async def delete_alias(request: Request, body: dict[str, Any]) -> Any:
        """Remove an alias; one that is not there is already removed (as MLflow), for a
        caller who may remove one (the editor role, or 403 whatever the alias)."""
        project, m = await model_of(request, body.get("name"))
        alias = str(body.get("alias") or "")
        if alias not in m.aliases:  # nothing to remove: still only for who may remove it
            await require(request, "editor", "delete an alias", project)
            return {}
        await call(
            request,
            "set_alias",
            name=m.name,
            alias=alias,
            version=None,
            project=project,
            reason="deleted through MLflow's API",
        )
        return {}


def _shown(m: Any) -> str:
    """A setpoint model's name to MLflow: the name MLflow gave it, where it is not one."""
    return str(m.tags.get(MODEL_NAME_TAG) or m.name)


def _model_tags(tags: dict[str, str]) -> dict[str, str]:
    """A model's tags as MLflow clients see them: without the one keeping its name."""
    return {k: v for k, v in tags.items() if k != MODEL_NAME_TAG}


def _not_name_tag(key: str) -> str:
    """``key``, once known not to be the tag that keeps a registered model's name."""
    return not_name_tag(key, MODEL_NAME_TAG, "registered model")


def _visible(tags: dict[str, str]) -> dict[str, str]:
    """A version's tags as MLflow clients see them: without setpoint's own."""
    return {k: v for k, v in tags.items() if k not in _INTERNAL}


def _filtered_on(shaped: dict[str, Any]) -> dict[str, Any]:
    """A version's attributes that MLflow's model-versions filters name, from its shape."""
    return {
        "name": shaped["name"],
        "run_id": shaped["run_id"] or None,
        "source_path": shaped["source"],
        "version_number": int(shaped["version"]),
    }


def _newest_by_stage(versions: Iterable[Any], stages: set[str] | None = None) -> list[Any]:
    """The newest version in each stage (of ``stages``, every one when none), by version."""
    newest: dict[str, Any] = {}
    for v in versions:
        stage = v.tags.get(STAGE, "None")
        if (not stages or stage in stages) and (
            stage not in newest or v.version > newest[stage].version
        ):
            newest[stage] = v
    return sorted(newest.values(), key=lambda v: v.version)


def _folder(source: str, model_id: Any) -> tuple[str, str]:
    """(run holding the model's folder, folder inside its artifacts) of a version's source."""
    if model_id:
        return run_id_of(model_id), ""
    if source.startswith("models:/"):
        return run_id_of(source.removeprefix("models:/").strip("/")), ""
    if source.startswith("mlflow-artifacts:/"):
        from setpoint.server.mlflow_api import artifact_location

        _, run, inner = artifact_location(source.removeprefix("mlflow-artifacts:/").lstrip("/"))
        return run, inner
    if source.startswith("runs:/"):
        run, _, path = source.removeprefix("runs:/").partition("/")
        if run and ".." not in path.split("/"):
            return run, path.strip("/")
    raise InvalidArgumentError(
        f"source {source!r} is not a logged model (models:/m-...), a registered version "
        "(models:/name/version, models:/name@alias), a run's folder (runs:/RUN_ID/path) or "
        "an artifact URI of this server",
        field="source",
    )


def _artifact_uri(project: str, source: str, model_id: str | None) -> str:
    """Where the version's MLflow folder is, as an artifact URI of this server."""
    if source.startswith("mlflow-artifacts:/"):
        return source
    run, prefix = _folder(source, model_id)
    return f"mlflow-artifacts:/{project}/{run}/artifacts" + (f"/{prefix}" if prefix else "")


async def _package(request: Request, call: Call, run_id: str, prefix: str) -> str:
    """A setpoint package of the MLflow folder at ``prefix`` in the run's artifacts: its files
    as they are (already stored blobs) and a model.json naming the ``mlflow`` flavor; returns
    the manifest's digest."""
    from setpoint.models import package
    from setpoint.models.flavors import mlflow as flavor

    base = f"{prefix}/" if prefix else ""
    listed = await call(request, "list_artifacts", run_id=run_id, prefix=prefix)
    files = [a for a in listed if a.path.startswith(base)]
    by_path = {a.path[len(base) :]: a for a in files}
    if flavor.MLMODEL not in by_path:
        raise InvalidArgumentError(
            f"no MLmodel file in {prefix or 'the artifacts'} of run {run_id}: not an MLflow model",
            field="source",
        )
    tmp = tempfile.mkdtemp(prefix="setpoint-mlflow-")
    try:
        written = await call(
            request, "download_artifact", run_id=run_id, path=base + flavor.MLMODEL, dest=tmp
        )
        with open(written[0], encoding="utf-8") as fh:
            mlmodel = fh.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta = flavor.package_meta({p: a.digest for p, a in by_path.items()}, mlmodel)
    blob = await call(request, "upload_blob", stream=io.BytesIO(meta))
    entries = [{"path": p, "digest": a.digest, "size": a.size} for p, a in sorted(by_path.items())]
    entries.append({"path": package.MANIFEST, "digest": blob.digest, "size": blob.size})
    manifest = package.manifest_bytes(entries)
    ref = await call(request, "upload_blob", stream=io.BytesIO(manifest))
    return str(ref.digest)


_STRINGS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_LISTS = frozenset({"IN", "NOT IN"})
_NUMBERS = frozenset({"=", "!=", "<", "<=", ">", ">="})
# the attributes MLflow's model-versions search filters on (its SearchModelVersionUtils),
# each with the comparisons it allows there
_VERSION_FILTERS = {
    "name": _STRINGS | _LISTS,
    "run_id": _STRINGS | _LISTS,
    "source_path": _STRINGS,
    "version_number": _NUMBERS,
}
_VERSION_FILTERS_SAID = (
    "name and run_id (=, !=, LIKE, ILIKE, IN, NOT IN), source_path (=, !=, LIKE, ILIKE), "
    "version_number (=, !=, <, <=, >, >= a whole number) and tags (tags.k = 'v', !=, LIKE, "
    "ILIKE), joined with AND"
)
_CLAUSE = re.compile(
    r"\s*(?P<field>tags?\.(?:`[^`]+`|[\w.]+)|(?:attribute\.)?\w+)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|NOT\s+IN\b|IN\b|I?LIKE\b)\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|\([^)]*\)|[-+]?\d[\w.]*)\s*",
    re.I,
)
_LISTED = re.compile(r"\s*('[^']*'|\"[^\"]*\")\s*(?:,|$)")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
Filter = Callable[[dict[str, Any], dict[str, str] | None], bool]


def _clauses(text: str) -> list[str]:
    """A filter's clauses, joined with AND: an AND inside quotes (`tags.team = 'R and D'`)
    is part of its value."""
    out, start, quote = [], 0, ""
    for m in re.finditer(r"['\"`]|\s+AND\s+", text, re.I):
        token = m.group()
        if len(token) == 1:  # a quote opens, or closes the one open ('' is two of them)
            quote = "" if token == quote else quote or token
        elif not quote:
            out.append(text[start : m.start()])
            start = m.end()
    out.append(text[start:])
    return out


_PROMPT_TAG = "mlflow.prompt.is_prompt"


def name_filter(text: Any) -> Callable[[str, dict[str, str] | None], bool] | None:
    """MLflow's registry filters this server understands, clauses joined with AND:
    ``name = 'x'``, ``name LIKE '%x%'`` (also ILIKE, and ``!=``), and the same comparisons on
    tags (``tags.k = 'v'``; a model without the tag satisfies none, but ``!=`` on MLflow's
    prompt tag, as its own prompt exclusion expects); None for no filter. The test takes a name and its tags."""
    said = "name = '...', name LIKE '...' and the same comparisons on tags, joined with AND"
    holds = _filter(text, {"name": _STRINGS}, said)
    if holds is None:
        return None
    return lambda name, tags: holds({"name": name}, tags)


# what MLflow's search_experiments filters on (its SearchExperimentsUtils), each with the
# comparisons this server takes there; ``attribute.`` is the one prefix MLflow allows
_EXPERIMENT_FILTERS = {
    "name": _STRINGS,
    "experiment_id": _STRINGS | _LISTS,
    "creation_time": _NUMBERS,
    "last_update_time": _NUMBERS,
}
_EXPERIMENT_FILTERS_SAID = (
    "name (=, !=, LIKE, ILIKE), experiment_id (also IN, NOT IN), creation_time and "
    "last_update_time (=, !=, <, <=, >, >= a whole number), each may be prefixed "
    "attribute., and tags (tags.k = 'v', !=, LIKE, ILIKE), joined with AND"
)


def experiment_filter(text: Any) -> Filter | None:
    """MLflow's search_experiments filters: ``name``, ``experiment_id``, ``creation_time``
    and ``last_update_time`` (also as ``attribute.name``...), and tags, joined with AND. The
    test takes an experiment's attributes and its tags."""
    return _filter(text, _EXPERIMENT_FILTERS, _EXPERIMENT_FILTERS_SAID, prefixed=True)


def version_filter(text: Any) -> Filter | None:
    """MLflow's model-versions filters: those of :func:`name_filter`, and ``run_id``,
    ``source_path`` and ``version_number`` as MLflow compares them. The test takes a
    version's attributes (a clause on one not given holds) and its tags (None: not tested)."""
    return _filter(text, _VERSION_FILTERS, _VERSION_FILTERS_SAID)


def _filter(
    text: Any, allowed: dict[str, frozenset[str]], said: str, *, prefixed: bool = False
) -> Filter | None:
    """The test of a filter's clauses, on the ``allowed`` attributes (with their comparisons,
    named with the ``attribute.`` prefix too when ``prefixed``) and on tags; one this server
    does not understand is refused, saying what it does."""
    if not text:
        return None
    # (attribute, or tag key, or None), how, what: a str, a compiled pattern, a set or an int
    tests: list[tuple[str | None, str | None, str, Any]] = []
    for part in _clauses(str(text)):
        found = _CLAUSE.fullmatch(part)
        field = found.group("field") if found else ""
        if field[:10].lower() == "attribute.":  # an attribute named as MLflow allows it
            field = field[10:] if prefixed else ""
        op = " ".join(found.group("op").upper().split()) if found else ""
        value = found.group("value") if found else ""
        tag = field.split(".", 1)[1].strip("`") if "." in field else None
        attribute = None if tag is not None else field.lower()
        ops = _STRINGS if tag is not None else allowed.get(str(attribute), frozenset())
        what: Any = None
        if op in ops and op in _LISTS and value.startswith("("):
            inner = value[1:-1]
            items = _LISTED.findall(inner)
            if items and sum(len(m.group(0)) for m in _LISTED.finditer(inner)) == len(inner):
                what = {i[1:-1] for i in items}
        elif op in ops and ops is _NUMBERS:
            number = value.strip("'\"") if value[:1] in "'\"" else value
            if re.fullmatch(r"[-+]?\d+", number):
                what = int(number)
        elif op in ops and value[:1] in "'\"":
            what = value[1:-1]
            if op in ("LIKE", "ILIKE"):
                what = re.compile(like_regex(what), re.S | (re.I if op == "ILIKE" else 0))
                op = "like"
        if what is None:
            raise InvalidArgumentError(
                f"filter {text!r}: this server understands {said}", field="filter"
            )
        tests.append((attribute, tag, op, what))

    def holds(attributes: dict[str, Any], tags: dict[str, str] | None) -> bool:
        """Whether a model or version passes; a clause on what is not given is not tested."""
        for attribute, tag, how, what in tests:
            if attribute is not None:
                if attribute not in attributes:
                    continue
                value = attributes[attribute]
            elif tags is None:
                continue
            else:
                value = tags.get(str(tag))
            if value is None:
                # no clause on a tag it lacks, as in MLflow, but `!=` on the tag of its prompts
                # (its client adds one to leave prompts out); a version with no run no run_id
                # clause (as SQL)
                ok = how == "!=" and tag == _PROMPT_TAG
            elif how == "like":
                ok = what.fullmatch(value) is not None
            elif how in _LISTS:
                ok = (value in what) == (how == "IN")
            else:
                ok = _COMPARE[how](value, what)
            if not ok:
                return False
        return True

    return holds
