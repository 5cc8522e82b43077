"""MLflow's tracking REST API (``/api/2.0/mlflow/``) over setpoint's own operations, so
existing MLflow code logs to a setpoint server unchanged (``MLFLOW_TRACKING_URI``).

An experiment is a project (its id is the project's name; MLflow's "0" is the default
project; an experiment name that is no project name, "/Users/ana/fraud", is kept in the
project ``experiment_project`` gives and in its ``mlflow.experimentName`` tag), a run is a
run. Every call goes through the operation it maps to, with that
operation's authorization. Errors take MLflow's shape, ``{"error_code", "message"}``, with its
status codes (a client mistake is never a 5xx: the MLflow client retries those).

This covers experiments, runs (with deletion, tags and dataset inputs), params, metrics,
search, metric history and the artifact proxy; MLflow 3's logged models are in
mlflow_models.py and the model registry in mlflow_registry.py.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from setpoint.api.operations import operations
from setpoint.api.wire import PROTOBUF, dumps_json
from setpoint.core.config import DEFAULT_PROJECT
from setpoint.core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RunNotActiveError,
    SetpointError,
)
from setpoint.core.names import (
    EXPERIMENT_NAME_TAG,
    INT64_MAX,
    INT64_MIN,
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    check_metric_value,
    experiment_project,
    is_whole,
    plain_run_name,
    tag_value,
)
from setpoint.server.bodies import read_body
from setpoint.server.mlflow_fields import (
    not_name_tag,
    optional_text,
    order_by,
    page,
    pairs,
    sorted_by,
    text_list,
    whole,
)
from setpoint.store.metadata.lite import NeedsSqlAlchemy
from setpoint.tracking.environment import RunEnvironment

PREFIX = "/api/2.0/mlflow"
# the MLflow UI's prefix, under which MLflow's server answers the same JSON API
AJAX_PREFIX = "/ajax-api/2.0/mlflow"
# MLflow 3's other API versions (traces, evaluation datasets, ...) and the preview prefix
# older clients used: not implemented here, answered in MLflow's error shape
OTHER_PREFIXES = (
    "/api/3.0/mlflow/",
    "/ajax-api/3.0/mlflow/",
    "/api/2.0/preview/mlflow/",
    "/ajax-api/2.0/preview/mlflow/",
)
# The name MLflow gives experiment 0
DEFAULT_EXPERIMENT = "Default"
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
STATUS_OF = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}
ERRORS = {
    # setpoint error code -> (MLflow error code, HTTP status)
    "not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "project_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "run_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "model_not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "unauthenticated": ("UNAUTHENTICATED", 401),
    "permission_denied": ("PERMISSION_DENIED", 403),
    "conflict": ("RESOURCE_ALREADY_EXISTS", 400),
    "param_conflict": ("INVALID_PARAMETER_VALUE", 400),
    "payload_too_large": ("INVALID_PARAMETER_VALUE", 400),
}


def mlflow_error(exc: SetpointError) -> Response:
    default = (
        ("RESOURCE_DOES_NOT_EXIST", 404) if exc.status == 404 else ("INVALID_PARAMETER_VALUE", 400)
    )
    code, status = ERRORS.get(exc.code, default)
    if exc.status >= 500 and exc.code not in ERRORS:
        code, status = "INTERNAL_ERROR", 500
    return Response(
        orjson.dumps({"error_code": code, "message": exc.message}),
        status_code=status,
        media_type="application/json",
    )


def endpoint_not_found(method: str, path: str) -> Response:
    """MLflow's answer to a call no endpoint takes (404 ENDPOINT_NOT_FOUND)."""
    return Response(
        orjson.dumps(
            {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API endpoint {method} {path} here"}
        ),
        status_code=404,
        media_type="application/json",
    )


def _project(experiment_id: Any) -> str:
    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidArgumentError("experiment_id must be a string", field="experiment_id")
    return DEFAULT_PROJECT if experiment_id == "0" else experiment_id


def _experiment_id(project: str) -> str:
    return "0" if project == DEFAULT_PROJECT else project


def _experiment_name(p: Any) -> str:
    """The name MLflow knows project ``p`` (read with its tags) by: experiment 0 (the default
    project) is MLflow's "Default", unless a tag names it otherwise."""
    given = p.tags.get(EXPERIMENT_NAME_TAG)
    if given:
        return str(given)
    return DEFAULT_EXPERIMENT if p.name == DEFAULT_PROJECT else str(p.name)


def _truncating() -> bool:
    """Whether long param and tag values are cut to MLflow's limits, as MLflow's server does
    unless its ``MLFLOW_TRUNCATE_LONG_VALUES`` is false (then they are refused)."""
    return os.environ.get("MLFLOW_TRUNCATE_LONG_VALUES", "true").strip().lower() not in (
        "false",
        "0",
    )


def _cut(values: dict[str, str], limit: int) -> dict[str, str]:
    """Param or tag values cut to ``limit`` characters, as MLflow's server stores them (a
    param logged again with the same long value then equals the one stored)."""
    if not _truncating() or all(len(v) <= limit for v in values.values()):
        return values
    return {k: v[:limit] for k, v in values.items()}


def _experiment(p: Any) -> dict[str, Any]:
    return {
        "experiment_id": _experiment_id(p.name),
        "name": _experiment_name(p),
        "artifact_location": f"mlflow-artifacts:/{p.name}",
        "lifecycle_stage": "active" if p.deleted_at is None else "deleted",
        "creation_time": p.created_at,
        "last_update_time": p.created_at if p.deleted_at is None else p.deleted_at,
        "tags": [{"key": k, "value": v} for k, v in p.tags.items() if k != EXPERIMENT_NAME_TAG],
    }


def _not_name_tag(key: str) -> str:
    """A tag key an MLflow client may set or delete on an experiment: not the one that
    keeps its name."""
    return not_name_tag(key, EXPERIMENT_NAME_TAG, "experiment")


_EXPERIMENT_ORDER = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}


def _max_results(body: dict[str, Any], default: int) -> int:
    """MLflow's ``max_results``: a positive whole number (0 is not "the default")."""
    given = body.get("max_results")
    if given is None:
        return default
    return whole(given, "max_results", 1, MAX_SEARCH)


MAX_SEARCH = 50_000  # runs a search answers at most, MLflow's bound (and setpoint's)


# MLflow's view types -> setpoint's lifecycle filter
_VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}


def _view_type(value: Any, field: str) -> str:
    if value in (None, "", 1, "1"):
        return "active"
    if isinstance(value, int) or (isinstance(value, str) and is_whole(value)):
        value = {2: "DELETED_ONLY", 3: "ALL"}.get(int(value), value)  # the proto's numbers
    if not isinstance(value, str) or value not in _VIEW_TYPES:
        raise InvalidArgumentError(
            f"{field} must be one of ACTIVE_ONLY, DELETED_ONLY, ALL; got {value!r}", field=field
        )
    return _VIEW_TYPES[value]


# A metric's latest point (step, timestamp) by run id and key: see Runs.latest_points
_Points = dict[str, dict[str, tuple[int, int]]]


def _run_name(r: Any) -> str:
    """A run's name as MLflow gave it (its ``mlflow.runName`` tag, which may hold what a
    run's name cannot), unless the run was renamed in setpoint since."""
    given = r.tags.get("mlflow.runName")
    return str(given) if given and plain_run_name(given) == r.name else r.name or ""


def _run(r: Any, points: _Points | None = None) -> dict[str, Any]:
    """A run in MLflow's shape; each metric with the step and timestamp of its latest value
    when ``points`` holds them."""
    info = {
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": _run_name(r),
        "experiment_id": _experiment_id(r.project),
        "user_id": r.user or r.tags.get("mlflow.user", ""),
        "status": STATUS_OF.get(r.status, "RUNNING"),
        "start_time": r.start_time,
        "artifact_uri": f"mlflow-artifacts:/{r.project}/{r.id}/artifacts",
        "lifecycle_stage": "active" if r.deleted_at is None else "deleted",
    }
    if r.end_time is not None:
        info["end_time"] = r.end_time
    stamp = r.end_time or r.start_time
    at = (points or {}).get(r.id, {})
    data = {
        "metrics": [
            {"key": k, "value": v, "timestamp": t, "step": s}
            for k, v in r.metrics.items()
            for s, t in [at.get(k, (0, stamp))]
        ],
        "params": [{"key": k, "value": v} for k, v in r.params.items()],
        "tags": [{"key": k, "value": v} for k, v in r.tags.items()],
    }
    return {"info": info, "data": data}


def _step_bound(body: dict[str, Any], field: str, default: Any) -> int:
    """``start_step`` or ``end_step`` of a bulk-interval request, ``default`` when not given."""
    given = body.get(field)
    if given is None or given == "":
        return int(default)
    return whole(given, field, INT64_MIN, INT64_MAX)


def _millis(value: Any, field: str) -> int | None:
    """A time the client gave (ms since the epoch, a JSON number or its digits), or None."""
    if value is None or value == "":
        return None
    return whole(value, field, INT64_MIN, INT64_MAX)


def required_key(body: dict[str, Any]) -> str:
    """The request's ``key`` (of a tag to set or delete)."""
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError("key is required", field="key")
    return key


# Operations done on the event loop itself, through the embedded store opened not to wait
# (client/lite.py), where it can do them at once: handing a call to a thread costs more than
# logging a point does. The others, and these where the store is busy or not embedded, are
# done in a thread.
INLINE_OPERATIONS = frozenset({"log_batch"})


class _Ops:
    """Our operations by name, called with their own authorization."""

    def __init__(self, client: Any, auth: Any) -> None:
        self.client = client
        self.auth = auth
        self.specs = {spec.name: (spec, fn) for spec, fn in operations()}
        self._inline: Any = None  # opened on first use; False where the store has none

    def inline(self) -> Any:
        """The client for INLINE_OPERATIONS, or None."""
        if self._inline is None:
            from setpoint.client.lite import open_inline_client
            from setpoint.client.local import LocalClient

            found = isinstance(self.client, LocalClient) and open_inline_client(self.client)
            self._inline = found or False
        return self._inline or None

    async def __call__(self, request: Request, op: str, /, **args: Any) -> Any:
        spec, fn = self.specs[op]
        actor = await self.auth.authorize(request, spec, args)
        if actor is not None and "actor" in spec_args(fn):
            args["actor"] = actor
        if op in INLINE_OPERATIONS and (inline := self.inline()) is not None:
            try:
                return fn(inline, **args)
            except NeedsSqlAlchemy:  # nothing of it was done: it is done in a thread below
                pass
        result = await run_in_threadpool(fn, self.client, **args)
        if op == "upload_blob":
            self.auth.note_upload(actor, result)
        return result


def spec_args(fn: Callable[..., Any]) -> tuple[str, ...]:
    return fn.__code__.co_varnames[: fn.__code__.co_argcount]


def register(
    app: FastAPI,
    client: Any,
    auth: Any,
    max_upload: int = 1 << 40,
    max_json_body: int = 32 << 20,
) -> None:
    """Add the MLflow routes to ``app``; a JSON body over ``max_json_body`` bytes is refused
    (INVALID_PARAMETER_VALUE) before it is read whole."""
    call = _Ops(client, auth)
    routes: dict[tuple[str, str], Callable[[Request, dict[str, Any]], Awaitable[Any]]] = {}
    patterns: list[tuple[str, re.Pattern[str], Any]] = []

    def route(method: str, path: str) -> Callable[[Any], Any]:
        """``path`` may hold ``{name}`` segments: they arrive in the body under that name."""

        def add(fn: Any) -> Any:
            if "{" in path:
                regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
                patterns.append((method, re.compile(regex), fn))
            else:
                routes[(method, path)] = fn
            return fn

        return add

    def handler_of(method: str, path: str) -> tuple[Any, dict[str, str]]:
        found = routes.get((method, path))
        if found is not None:
            return found, {}
        for m, regex, fn in patterns:
            hit = regex.fullmatch(path) if m == method else None
            if hit:
                return fn, hit.groupdict()
        return None, {}

    @route("POST", "experiments/create")
    async def create_experiment(request: Request, body: dict[str, Any]) -> Any:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError("name must be a non-empty string", field="name")
        project = experiment_project(name)
        existing = {p.name: p for p in await call(request, "list_projects", lifecycle="all")}
        if project not in existing:  # experiment 0 is MLflow's "Default"
            project = getattr(await by_name(request, name), "name", project)
        if project in existing:
            gone = " in deleted state; restore it" if existing[project].deleted_at else ""
            raise ConflictError(f"Experiment '{name}' already exists{gone}.", field="name")
        tags = pairs(body.get("tags"), "tags")
        tags.pop(EXPERIMENT_NAME_TAG, None)
        if project != name:
            tags[EXPERIMENT_NAME_TAG] = name
        await call(request, "create_project", name=project, tags=tags)  # one transaction
        return {"experiment_id": _experiment_id(project)}

    async def find(request: Request, project: str) -> Any:
        """The project with its tags. Listed first (any role may list), so that a name
        nobody made answers 404, as MLflow's set_experiment expects before it creates one;
        then read (a viewer's role) for its tags."""
        if project not in await project_names(request, made=project == DEFAULT_PROJECT):
            raise NotFoundError(f"No Experiment with id={_experiment_id(project)} exists")
        return await call(request, "get_project", project=project)

    @route("POST", "experiments/delete")
    async def delete_experiment(request: Request, body: dict[str, Any]) -> Any:
        with suppress(ConflictError):  # MLflow's delete and restore are idempotent
            await call(request, "delete_project", project=_project(body.get("experiment_id")))
        return {}

    @route("POST", "experiments/restore")
    async def restore_experiment(request: Request, body: dict[str, Any]) -> Any:
        with suppress(ConflictError):  # MLflow's delete and restore are idempotent
            await call(request, "restore_project", project=_project(body.get("experiment_id")))
        return {}

    @route("POST", "experiments/update")
    async def update_experiment(request: Request, body: dict[str, Any]) -> Any:
        project = _project(body.get("experiment_id"))
        new_name = body.get("new_name")
        found = await find(request, project)
        if new_name in (None, "", _experiment_name(found)):
            return {}
        # Datasets, models, monitors and the audit trail name projects by name, so a
        # rename would leave them pointing at nothing.
        raise InvalidArgumentError(
            "setpoint does not rename projects (experiments): their datasets, models and "
            "audit trail refer to them by name",
            field="new_name",
        )

    @route("POST", "experiments/set-experiment-tag")
    async def set_experiment_tag(request: Request, body: dict[str, Any]) -> Any:
        project = _project(body.get("experiment_id"))
        tags = pairs([body], "tag")
        for key in tags:
            _not_name_tag(key)
        await call(request, "set_project_tags", project=project, tags=tags)
        return {}

    @route("POST", "experiments/delete-experiment-tag")
    async def delete_experiment_tag(request: Request, body: dict[str, Any]) -> Any:
        project = _project(body.get("experiment_id"))
        key = _not_name_tag(required_key(body))
        await call(request, "delete_project_tag", project=project, key=key)
        return {}

    @route("GET", "experiments/get")
    async def get_experiment(request: Request, body: dict[str, Any]) -> Any:
        return {"experiment": _experiment(await find(request, _project(body.get("experiment_id"))))}

    @route("GET", "experiments/get-by-name")
    async def get_by_name(request: Request, body: dict[str, Any]) -> Any:
        name = body.get("experiment_name")
        if not isinstance(name, str):
            raise InvalidArgumentError("experiment_name is required", field="experiment_name")
        found = await by_name(request, name)
        if found is None:
            raise NotFoundError(f"Could not find experiment with name '{name}'")
        return {"experiment": _experiment(found)}

    async def by_name(request: Request, name: str) -> Any:
        """The project (read with its tags) of the experiment MLflow calls ``name``, if any.
        Experiment 0 is "Default" (and "default", its project's name, finds it too, as
        setpoint's project "default" cannot be another experiment), unless a tag names it
        otherwise or a project of setpoint's is called "Default" (then that one is)."""
        default = name in (DEFAULT_EXPERIMENT, DEFAULT_PROJECT)
        # a project setpoint's SDK named "Default" keeps that name: it is found first
        projects = [experiment_project(name), DEFAULT_PROJECT]  # (its tag may name it)
        names = await project_names(request, made=default)
        for project in dict.fromkeys(projects):
            if project not in names:
                continue
            found = await call(request, "get_project", project=project)
            known = _experiment_name(found)
            if known == name or (
                project == DEFAULT_PROJECT == name and known == DEFAULT_EXPERIMENT
            ):
                return found
        return None

    @route("POST", "experiments/search")
    async def search_experiments(request: Request, body: dict[str, Any]) -> Any:
        """MLflow's search: its name and tag filters (joined with AND), ``order_by`` on
        name, experiment_id, creation_time or last_update_time, pages of ``max_results``."""
        from setpoint.server.mlflow_registry import experiment_filter

        lifecycle = _view_type(body.get("view_type"), "view_type")
        wanted = experiment_filter(body.get("filter"))
        order = order_by(  # newest first by default, the id breaking ties, as MLflow
            body.get("order_by") or ["creation_time DESC"],
            _EXPERIMENT_ORDER,
            [("experiment_id", True)],
            unique=False,
        )
        limit = _max_results(body, 1000)
        await project_names(request, made=True)
        found = []
        for p in await call(request, "list_projects", lifecycle=lifecycle):
            with suppress(PermissionDeniedError):  # listed, but its tags are not the caller's
                p = await call(request, "get_project", project=p.name)
            shaped = _experiment(p)
            if wanted is None or wanted(shaped, p.tags):
                found.append(shaped)
        ordered = sorted_by(found, order, frozenset({"name", "experiment_id"}))
        return page(ordered, "experiments", body.get("page_token"), limit)

    async def project_names(request: Request, made: bool) -> set[str]:
        """Every project's name, deleted ones too. With ``made``, experiment 0 (setpoint's
        default project, which MLflow always has) is made first when missing."""
        names = {p.name for p in await call(request, "list_projects", lifecycle="all")}
        if made and DEFAULT_PROJECT not in names:
            with suppress(PermissionDeniedError):  # a viewer cannot make it
                with suppress(ConflictError):  # another request made it meanwhile
                    await call(request, "create_project", name=DEFAULT_PROJECT, tags={})
                names.add(DEFAULT_PROJECT)
        return names

    @route("POST", "runs/create")
    async def create_run(request: Request, body: dict[str, Any]) -> Any:
        project = _project(body.get("experiment_id") or "0")
        # setpoint makes a project on its first run; MLflow's experiments are made first
        if project not in await project_names(request, made=project == DEFAULT_PROJECT):
            raise NotFoundError(f"No Experiment with id={_experiment_id(project)} exists")
        tags = _cut(pairs(body.get("tags"), "tags"), MAX_TAG_VALUE)
        user = optional_text(body.get("user_id"), "user_id")
        if user and "mlflow.user" not in tags:
            tags["mlflow.user"] = user  # MLflow's own record of who started the run
        # a run given no name gets one here, as MLflow's server names it, so that its
        # mlflow.runName tag (which searches and `mlflow.search_runs` columns read) holds it
        named, tagged = optional_text(body.get("run_name"), "run_name"), tags.get("mlflow.runName")
        if named and tagged and named != tagged:  # (MLflow's words)
            raise InvalidArgumentError(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{named}', mlflow.runName='{tagged}').",
                field="run_name",
            )
        given = named or tagged
        # MLflow's names are free text: the run's name is it made plain, the tag keeps it
        name = plain_run_name(given) or f"run-{secrets.token_hex(4)}"
        tags.setdefault("mlflow.runName", given or name)
        run = await call(
            request,
            "create_run",
            project=project,
            name=name,
            tags=tags,
            parent_id=await nested_under(request, tags.get("mlflow.parentRunId"), project),
            environment=RunEnvironment(user=user or None),  # attributes.user_id finds it
            heartbeats=False,  # MLflow's clients send none: its runs end when the client says
            start_time=_millis(body.get("start_time"), "start_time"),
        )
        return {"run": _run(run)}

    async def nested_under(request: Request, parent: str | None, project: str) -> str | None:
        """The run ``mlflow.start_run(nested=True)`` names in its tag, when it is a run of
        the same project; otherwise (a tag copied from elsewhere) only the tag is kept."""
        if not parent:
            return None
        try:
            found = await call(request, "get_run", run_id=parent)
        except (NotFoundError, InvalidArgumentError, PermissionDeniedError):
            return None
        return str(found.id) if found.project == project else None

    @route("GET", "runs/get")
    async def get_run(request: Request, body: dict[str, Any]) -> Any:
        run_id = _run_id(body)
        run = await call(request, "get_run", run_id=run_id)  # authorizes reading the run
        shaped = _run(run, await latest_points([run]))
        shaped["inputs"], shaped["outputs"] = await run_io(request, run_id)
        return {"run": shaped}

    async def latest_points(runs: list[Any]) -> _Points:
        """Where each metric's latest value of ``runs`` (read already, so readable by the
        caller) was logged: no operation returns it, so it is read from the runs service."""
        service = getattr(call.client, "runs", None)
        if service is None or not any(r.metrics for r in runs):
            return {}
        points: _Points = await run_in_threadpool(service.latest_points, [r.id for r in runs])
        return points

    async def run_io(request: Request, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """MLflow's ``inputs`` of a run: its dataset inputs, and the logged models it read
        (lineage: run consumed the model's run); and its ``outputs``: the logged models it
        made (lineage: run produced the model's run)."""
        datasets = [
            {
                "tags": [{"key": k, "value": v} for k, v in i.tags.items()],
                "dataset": {
                    "name": i.name,
                    "digest": i.digest,
                    "source_type": i.source_type,
                    "source": i.source,
                    **({"schema": i.schema} if i.schema is not None else {}),
                    **({"profile": i.profile} if i.profile is not None else {}),
                },
            }
            for i in await call(request, "list_run_inputs", run_id=run_id)
        ]
        from setpoint.server.mlflow_models import is_logged_model

        edges = await call(request, "get_lineage", kind="run", id=run_id)
        models: dict[str, list[dict[str, Any]]] = {"consumed": [], "produced": []}
        for e in edges:
            if e.source_id == run_id and e.relation in models and e.target_kind == "run":
                # a run linked through setpoint's own lineage (a pipeline step's upstream
                # run, say) is no logged model
                with suppress(NotFoundError, PermissionDeniedError):
                    linked = await call(request, "get_run", run_id=e.target_id)
                    if is_logged_model(linked):
                        models[e.relation].append({"model_id": f"m-{e.target_id}"})
        outputs = [{**m, "step": 0} for m in models["produced"]]  # logged at no step
        return (
            {"dataset_inputs": datasets, "model_inputs": models["consumed"]},
            {"model_outputs": outputs},
        )

    @route("POST", "runs/log-inputs")
    async def log_inputs(request: Request, body: dict[str, Any]) -> Any:
        from setpoint.server.mlflow_models import is_logged_model, run_id_of

        run_id = _run_id(body)
        given = body.get("datasets") or []
        if not isinstance(given, list):
            raise InvalidArgumentError("datasets must be a list", field="datasets")
        datasets = []
        for n, item in enumerate(given):
            dataset = item.get("dataset") if isinstance(item, dict) else None
            if not isinstance(dataset, dict):
                raise InvalidArgumentError(
                    f"datasets[{n}] must be {{tags, dataset}}", field=f"datasets[{n}]"
                )
            datasets.append({**dataset, "tags": pairs(item.get("tags"), f"datasets[{n}].tags")})
        models = body.get("models") or []
        if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
            raise InvalidArgumentError("models must be a list of {model_id}", field="models")
        consumed = []
        for m in models:  # each must be a logged model (a run of that kind)
            run = await call(request, "get_run", run_id=run_id_of(m.get("model_id")))
            if not is_logged_model(run):
                raise NotFoundError(
                    f"Logged model with ID '{m.get('model_id')}' not found.", field="model_id"
                )
            consumed.append(run.id)
        await call(request, "log_inputs", run_id=run_id, datasets=datasets, consumed_runs=consumed)
        return {}

    @route("POST", "runs/update")
    async def update_run(request: Request, body: dict[str, Any]) -> Any:
        run_id = _run_id(body)
        status = body.get("status")
        # a write, also where it changes nothing (the run as it is): an editor's, as in MLflow
        found = await call(request, "get_run", run_id=run_id)
        await auth.require(request, "editor", "update a run", found.project)
        if status in ("FINISHED", "FAILED", "KILLED"):
            run = found
            end_time = _millis(body.get("end_time"), "end_time")
            if run.status == "running":
                run = await call(
                    request, "end_run", run_id=run_id, status=status.lower(), end_time=end_time
                )
            elif status.lower() != run.status:
                # MLflow moves an ended run to another status; setpoint keeps how it ended
                # (its audit trail and monitors read it). Ending it again the same way is no
                # change and no error: the client sends its own clock's end time each time,
                # so a retried call differs in that alone.
                raise RunNotActiveError(
                    f"run {run_id} has ended ({STATUS_OF.get(run.status, run.status)}); "
                    "setpoint keeps an ended run's status and end time as they were",
                    field="status",
                )
        elif status not in (None, "RUNNING", "SCHEDULED"):
            raise InvalidArgumentError(f"unknown run status {status!r}", field="status")
        else:
            run = found
            if status is not None and run.status != "running":
                raise RunNotActiveError(
                    f"run {run_id} has ended ({run.status}); setpoint keeps an ended run as it "
                    "ended: start a new run (its parent may be this one) to log more",
                    field="status",
                )
        name = optional_text(body.get("run_name"), "run_name")
        if name is not None:  # the run's name, and MLflow's tag for it
            tag_value(name, "run_name")  # checked before anything changes
            if plain := plain_run_name(name):
                run = await call(request, "rename_run", run_id=run_id, name=plain)
            await call(request, "set_tags", run_id=run_id, tags={"mlflow.runName": name})
        return {"run_info": _run(run)["info"]}

    async def _not_logged(
        request: Request, run_id: str, items: list[dict[str, Any]], metrics: _Columns
    ) -> _Columns:
        """The points of a batch but those naming a logged model (``model_id``) that the run
        holds already, same key, step, time and value: MLflow 3's ``log_model`` sends the
        run's points again to tie them to the model, and MLflow's server keeps a point once."""
        keys, values, steps, stamps = metrics
        assert stamps is not None
        # only a point at or before its series' latest (step, then time) can be held already:
        # a training loop's new points (MLflow names the active model on each) are not read
        # against the history
        run = await call(request, "get_run", run_id=run_id)
        latest = (await latest_points([run])).get(run.id, {})
        tied = {
            keys[i]
            for i, m in enumerate(items)
            if m.get("model_id") and keys[i] in latest and (steps[i], stamps[i]) <= latest[keys[i]]
        }
        if not tied:
            return metrics
        held: set[tuple[str, int, int, float | None]] = set()
        for key in tied:  # each a series of the run just read
            h = await call(request, "get_metric_history", run_id=run_id, key=key)
            held.update(map(_point, [key] * len(h.steps), h.steps, h.timestamps, h.values))
        keep = [
            i
            for i, m in enumerate(items)
            if not (m.get("model_id") and _point(keys[i], steps[i], stamps[i], values[i]) in held)
        ]
        return _points_at(metrics, keep)

    async def log(
        request: Request,
        run_id: str,
        metrics: _Columns | None,
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None:
        keys, values, steps, stamps = metrics or ([], [], [], None)
        await call(
            request,
            "log_batch",
            run_id=run_id,
            params=params,
            tags=tags,
            keys=keys,
            values=values,
            steps=steps,
            timestamps=stamps,
            ended=True,  # MLflow logs to ended runs (autolog's score after the fit ended it)
        )
        if name := plain_run_name(tags.get("mlflow.runName")):  # MLflow's tag for it renames it
            await call(request, "rename_run", run_id=run_id, name=name)

    @route("POST", "runs/delete")
    async def delete_run(request: Request, body: dict[str, Any]) -> Any:
        with suppress(ConflictError):  # MLflow's delete and restore are idempotent
            await call(request, "delete_run", run_id=_run_id(body))
        return {}

    @route("POST", "runs/restore")
    async def restore_run(request: Request, body: dict[str, Any]) -> Any:
        with suppress(ConflictError):  # MLflow's delete and restore are idempotent
            await call(request, "restore_run", run_id=_run_id(body))
        return {}

    @route("POST", "runs/delete-tag")
    async def delete_tag(request: Request, body: dict[str, Any]) -> Any:
        await call(request, "delete_tag", run_id=_run_id(body), key=required_key(body))
        return {}

    @route("POST", "runs/log-batch")
    async def log_batch(request: Request, body: dict[str, Any]) -> Any:
        points = body.get("metrics") or []
        metrics = _metric_columns(points, "metrics")
        params = _cut(pairs(body.get("params"), "params", unique=True), MAX_PARAM_VALUE)
        tags = _cut(pairs(body.get("tags"), "tags"), MAX_TAG_VALUE)
        total = len(metrics[0]) + len(params) + len(tags)
        for field, count, limit in (
            ("metrics", len(metrics[0]), MAX_METRICS),
            ("params", len(params), MAX_PARAMS),
            ("tags", len(tags), MAX_TAGS),
            ("metrics, params, and tags", total, MAX_ENTITIES),  # MLflow's limit on the sum
        ):
            if count > limit:
                raise InvalidArgumentError(
                    f"A batch logging request can contain at most {limit} {field}. Got {count} {field}.",
                    field=field.split(",")[0],
                )
        if any(m.get("model_id") for m in points):  # limits first: this one reads
            metrics = await _not_logged(request, _run_id(body), points, metrics)
        await log(request, _run_id(body), _once(metrics), params, tags)
        return {}

    @route("POST", "runs/log-metric")
    async def log_metric(request: Request, body: dict[str, Any]) -> Any:
        metrics = _metric_columns([body], "metric")
        await log(request, _run_id(body), metrics, {}, {})
        return {}

    @route("POST", "runs/log-parameter")
    async def log_parameter(request: Request, body: dict[str, Any]) -> Any:
        await log(request, _run_id(body), None, _cut(pairs([body], "param"), MAX_PARAM_VALUE), {})
        return {}

    @route("POST", "runs/set-tag")
    async def set_tag(request: Request, body: dict[str, Any]) -> Any:
        await log(request, _run_id(body), None, {}, _cut(pairs([body], "tag"), MAX_TAG_VALUE))
        return {}

    @route("POST", "runs/search")
    async def search_runs(request: Request, body: dict[str, Any]) -> Any:
        """MLflow's runs of ``experiment_ids`` (none: no runs; ids of no experiment are
        left out, as MLflow). The runs behind logged models are no runs to MLflow: they are
        skipped, and a page is filled from the runs after them."""
        from setpoint.server.mlflow_models import is_logged_model
        from setpoint.tracking.runs import page_offset, page_token_at

        ids = body.get("experiment_ids") or []
        if not isinstance(ids, list):
            raise InvalidArgumentError("experiment_ids must be a list", field="experiment_ids")
        wanted = [_project(i) for i in ids]
        args = {
            "filter": optional_text(body.get("filter"), "filter"),
            "order_by": text_list(body.get("order_by"), "order_by") or None,
            "lifecycle": _view_type(body.get("run_view_type"), "run_view_type"),
        }
        limit = _max_results(body, 1000)
        offset = page_offset(optional_text(body.get("page_token"), "page_token"))
        known = await project_names(request, made=DEFAULT_PROJECT in wanted)
        projects = [p for p in dict.fromkeys(wanted) if p in known]
        found: list[Any] = []
        more = False
        ask = min(limit + 1, MAX_SEARCH)  # one more: whether another page follows, at once
        while projects:
            page = await call(
                request,
                "search_runs",
                project=projects,
                max_results=ask,
                page_token=page_token_at(offset),
                **args,
            )
            for r in page.runs:
                if len(found) == limit and not is_logged_model(r):
                    more = True  # full, and a later run is one of MLflow's: another page
                    break
                offset += 1  # (past the runs of logged models too: never answered)
                if not is_logged_model(r):
                    found.append(r)
            # full with only logged models after it so far (or a page of MAX_SEARCH): the
            # next page says whether another run of MLflow's follows (a last page must not
            # promise one)
            if more or not page.next_page_token:
                break
        points = await latest_points(found)
        out: dict[str, Any] = {"runs": [_run(r, points) for r in found]}
        if more:
            out["next_page_token"] = page_token_at(offset)
        return out

    from setpoint.server.mlflow_models import add_routes

    add_routes(route, call, _project, _experiment_id)
    from setpoint.server.mlflow_registry import add_routes as add_registry_routes

    add_registry_routes(route, call, auth.require)

    @route("GET", "metrics/get-history")
    async def metric_history(request: Request, body: dict[str, Any]) -> Any:
        key = body.get("metric_key")
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("metric_key is required", field="metric_key")
        history = await call(request, "get_metric_history", run_id=_run_id(body), key=key)
        return {
            "metrics": [
                {"key": key, "value": v, "timestamp": t, "step": s}
                for s, v, t in zip(history.steps, history.values, history.timestamps, strict=True)
            ]
        }

    @route("GET", "metrics/get-history-bulk-interval")
    async def history_bulk(request: Request, body: dict[str, Any]) -> Any:
        """The UI's call: each run's history of one metric, at most ``max_results`` points a
        run, keeping each interval's first, lowest, highest and last point."""
        import numpy as np

        from setpoint.server.ui.charts import reduce_series

        key = body.get("metric_key")
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError("metric_key is required", field="metric_key")
        ids = body.get("run_ids") or []
        ids = [ids] if isinstance(ids, str) else list(ids)
        if not ids or len(ids) > 100:
            raise InvalidArgumentError("run_ids: give 1 to 100 runs", field="run_ids")
        limit = whole(body.get("max_results", "320"), "max_results", 1, 2500)
        lo = _step_bound(body, "start_step", INT64_MIN)  # every step unless given, as MLflow
        hi = _step_bound(body, "end_step", INT64_MAX)
        out: list[dict[str, Any]] = []
        for run_id in ids:
            h = await call(request, "get_metric_history", run_id=run_id, key=key)
            steps = np.asarray(h.steps, dtype=np.int64)
            keep = (steps >= lo) & (steps <= hi)
            values = np.asarray(h.values, dtype=np.float64)[keep]
            stamps = np.asarray(h.timestamps, dtype=np.int64)[keep]
            if len(values) <= limit:  # all of them, as MLflow
                x, y, at = steps[keep], values, np.arange(len(values))
            else:
                x, y = reduce_series(steps[keep], values, max(1, limit // 4))
                at = np.searchsorted(steps[keep], x)
            out.extend(
                {"key": key, "value": float(v), "timestamp": int(stamps[i]), "step": int(s),
                 "run_id": run_id}
                for s, v, i in zip(x, y, at, strict=True)
            )  # fmt: skip
        return {"metrics": out}

    async def dispatch(request: Request) -> Response:
        full = request.scope["path"]
        prefix = next((p for p in _LANES if full.startswith(p)), "")
        path = full[len(prefix) :]
        handler, path_args = handler_of(request.method, path) if prefix in _SERVED else (None, {})
        if handler is None:
            return endpoint_not_found(request.method, full)
        try:
            # Who is asking comes first: nothing of an unauthenticated request is read or
            # parsed (each call then checks the role of its operation).
            await auth.authenticate(request)
            if request.method == "GET":
                # a key given more than once (run_ids=a&run_ids=b) arrives as a list
                query = request.query_params
                body: Any = {}
                for k in query:
                    given = query.getlist(k)
                    body[k] = given if len(given) > 1 else given[0]
            else:
                raw = await read_body(request, max_json_body)
                try:
                    body = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError as exc:
                    raise InvalidArgumentError(
                        f"the body is not JSON: {exc}", field="body"
                    ) from None
                if not isinstance(body, dict):
                    raise InvalidArgumentError("the body must be a JSON object", field="body")
            body.update(path_args)
            result = await handler(request, body)
        except SetpointError as exc:
            return mlflow_error(exc)
        return Response(
            dumps_json(result, PROTOBUF),
            media_type="application/json",
        )

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = await dispatch(Request(scope, receive))
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    app.add_middleware(_Lane, serve=serve)
    _artifacts(app, call, max_upload)


class _Lane:
    """MLflow's JSON API, answered before FastAPI's routing: its calls are small and many
    (a training loop's ``log_metric`` each step), and the router, dependency solving and
    response classes cost more than the call itself. Added before the app's own middleware,
    so those (same-site refusal, the 500 answer) still apply. Every method is answered here:
    one no route takes is MLflow's ENDPOINT_NOT_FOUND."""

    def __init__(self, app: Any, serve: Callable[[dict[str, Any], Any, Any], Awaitable[None]]):
        self.app = app
        self.serve = serve

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_LANES):
            await self.serve(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# the JSON API, under MLflow's own prefix and the UI's (MLflow's server answers both)
_SERVED = (PREFIX + "/", AJAX_PREFIX + "/")
_LANES = _SERVED + OTHER_PREFIXES


ARTIFACTS_API = "/api/2.0/mlflow-artifacts"
ARTIFACTS = f"{ARTIFACTS_API}/artifacts"
# MLflow's own words (its client looks for them) for an artifact store without multipart
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"


def artifact_location(path: str) -> tuple[str, str, str]:
    """``PROJECT/RUN_ID/artifacts[/FILE]`` (what a run's artifact_uri names) -> (project, run
    id, path inside the run); a path that climbs (``..``) or is absolute is refused."""
    given = path[:-1] if path.endswith("/") else path
    parts = [p for p in given.split("/") if p != "."]
    if path.startswith("/") or "\\" in path or any(p in ("", "..") for p in parts):
        raise InvalidArgumentError(f"artifact path {path!r} is not allowed", field="path")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise InvalidArgumentError(
            f"artifact path {path!r} is not PROJECT/RUN_ID/artifacts/...", field="path"
        )
    return _project(parts[0]), parts[1], "/".join(parts[3:])


def _artifacts(app: FastAPI, call: _Ops, max_upload: int) -> None:
    """MLflow's artifact proxy (``mlflow-artifacts:/`` URIs): upload, list, download."""
    import shutil
    import tempfile

    from setpoint.core.errors import PayloadTooLargeError

    async def located(request: Request, path: str) -> tuple[str, str]:
        """(run id, path inside its artifacts) of an artifact path naming the run's project
        (another project's folder does not hold the run); the caller is authenticated
        before the path is looked at."""
        await call.auth.authenticate(request)
        project, run_id, inner = artifact_location(path)
        run = await call(request, "get_run", run_id=run_id)
        if run.project != project:
            raise NotFoundError(
                f"run {run_id} is not in experiment {_experiment_id(project)!r}", field="path"
            )
        return run_id, inner

    async def upload(request: Request) -> Response:
        try:
            run_id, inner = await located(request, request.path_params["path"])
            if not inner:
                raise InvalidArgumentError("an upload needs a file path", field="path")
            spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
            size = 0
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        raise PayloadTooLargeError(f"upload larger than {max_upload} bytes")
                    spool.write(chunk)
                spool.seek(0)
                try:
                    await call(request, "upload_artifact", run_id=run_id, path=inner, stream=spool)
                except RunNotActiveError:
                    # MLflow takes a file for an ended run too (a deleted one is refused
                    # below): its bytes first, then the run's row for them
                    spool.seek(0)
                    ref = await call(request, "upload_blob", stream=spool)
                    files = {inner: ref}
                    await call(request, "log_artifacts", run_id=run_id, files=files, ended=True)
            finally:
                spool.close()
        except SetpointError as exc:
            return mlflow_error(exc)
        return Response(b"{}", media_type="application/json")

    async def listing(request: Request) -> Response:
        try:
            run_id, inner = await located(request, request.query_params.get("path", ""))
            found = await call(request, "list_artifacts", run_id=run_id, prefix=inner)
        except SetpointError as exc:
            return mlflow_error(exc)
        base = f"{inner}/" if inner else ""
        files: dict[str, dict[str, Any]] = {}
        for a in found:
            if not a.path.startswith(base):
                continue  # the path names this file itself: a file lists nothing (as MLflow)
            rest = a.path[len(base) :]
            head, sep, _ = rest.partition("/")
            if sep:  # a folder below: listed once
                files.setdefault(head, {"path": head, "is_dir": True})
            else:
                files[head] = {"path": head, "is_dir": False, "file_size": a.size}
        return Response(
            orjson.dumps({"files": list(files.values())}), media_type="application/json"
        )

    async def download(request: Request) -> Response:
        tmp = tempfile.mkdtemp(prefix="setpoint-mlflow-")
        try:
            run_id, inner = await located(request, request.path_params["path"])
            written = await call(request, "download_artifact", run_id=run_id, path=inner, dest=tmp)
            if len(written) != 1 or os.path.relpath(written[0], tmp) != posixpath.basename(inner):
                raise InvalidArgumentError(
                    f"{inner} is a folder: list it, then fetch each file", field="path"
                )
            with open(written[0], "rb") as fh:
                data = fh.read()
        except SetpointError as exc:
            return mlflow_error(exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Response(data, media_type="application/octet-stream")

    app.add_api_route(
        f"{ARTIFACTS}/{{path:path}}", upload, methods=["PUT"], include_in_schema=False
    )
    app.add_api_route(
        f"{ARTIFACTS}/{{path:path}}", download, methods=["GET"], include_in_schema=False
    )
    app.add_api_route(ARTIFACTS, listing, methods=["GET"], include_in_schema=False)

    async def multipart(request: Request) -> Response:
        # The client (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD) uploads the file whole when told
        # so in MLflow's words, as MLflow's server tells it for a store without multipart.
        try:
            await call.auth.authenticate(request)
        except SetpointError as exc:
            return mlflow_error(exc)
        return Response(
            orjson.dumps({"error_code": "NOT_IMPLEMENTED", "message": MULTIPART_UNSUPPORTED}),
            status_code=501,
            media_type="application/json",
        )

    async def unknown(request: Request) -> Response:
        return endpoint_not_found(request.method, request.url.path)

    for op in ("create", "complete", "abort"):
        app.add_api_route(
            f"{ARTIFACTS_API}/mpu/{op}/{{path:path}}",
            multipart,
            methods=["POST"],
            include_in_schema=False,
        )
    # last: what no route above takes, in MLflow's shape (not FastAPI's {"detail": ...})
    app.add_api_route(
        f"{ARTIFACTS_API}/{{rest:path}}",
        unknown,
        methods=["GET", "PUT", "POST", "DELETE", "PATCH"],
        include_in_schema=False,
    )


def _run_id(body: dict[str, Any]) -> str:
    run_id = body.get("run_id") or body.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidArgumentError("run_id is required", field="run_id")
    return run_id


# Metric points as columns: keys, values, steps, timestamps (None: now, on the server).
_Columns = tuple[list[str], list[float], list[int], list[int] | None]

# protobuf's JSON spells these as strings, and the MLflow client sends them so
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _point(key: str, step: int, stamp: int, value: float) -> tuple[str, int, int, float | None]:
    """A metric point as compared for sameness (NaN is NaN)."""
    return (key, step, stamp, None if math.isnan(value) else value)


def _once(metrics: _Columns) -> _Columns:
    """The points of a batch, each (key, value, step, timestamp) once: MLflow stores a point
    a batch gives twice once."""
    keys, values, steps, stamps = metrics
    times = stamps if stamps is not None else [0] * len(keys)
    seen: set[tuple[str, float, int, int]] = set()
    kept = []
    for i, point in enumerate(zip(keys, values, steps, times, strict=True)):
        if point not in seen:
            seen.add(point)
            kept.append(i)
    return _points_at(metrics, kept)


def _points_at(metrics: _Columns, kept: list[int]) -> _Columns:
    """The points at positions ``kept`` (ascending) of ``metrics``."""
    keys, values, steps, stamps = metrics
    if len(kept) == len(keys):
        return metrics
    return (
        [keys[i] for i in kept],
        [values[i] for i in kept],
        [steps[i] for i in kept],
        None if stamps is None else [stamps[i] for i in kept],
    )


def _metric_columns(items: Any, field: str) -> _Columns:
    """Metric points as the MLflow client sends them: ``value`` a JSON number, or "NaN",
    "Infinity", "-Infinity"; ``step`` and ``timestamp`` whole numbers (or their digits as a
    string, as protobuf's JSON allows). Anything else is INVALID_PARAMETER_VALUE naming the
    field; a point without a timestamp gets the server's time."""
    if not isinstance(items, list):
        raise InvalidArgumentError(
            f"{field} must be a list of {{key, value, timestamp, step}}", field=field
        )
    keys: list[str] = []
    values: list[float] = []
    steps: list[int] = []
    stamps: list[int | None] = []
    for m in items:
        if not isinstance(m, dict) or not isinstance(m.get("key"), str) or not m["key"]:
            raise InvalidArgumentError(
                f"{field} must be a list of {{key, value, timestamp, step}}", field="key"
            )
        value = m.get("value")
        keys.append(m["key"])
        # the usual spellings are taken as they are; anything else is read and checked
        if value.__class__ is not float:
            if isinstance(value, str) and value in _NON_FINITE:
                value = _NON_FINITE[value]
            value = check_metric_value(value, "value")
        values.append(value)
        step = m.get("step")
        if step.__class__ is not int or not INT64_MIN <= step <= INT64_MAX:
            step = 0 if step is None else whole(step, "step", INT64_MIN, INT64_MAX)
        steps.append(step)
        stamp = m.get("timestamp")
        if stamp is not None and (
            stamp.__class__ is not int or not INT64_MIN <= stamp <= INT64_MAX
        ):
            stamp = whole(stamp, "timestamp", INT64_MIN, INT64_MAX)
        stamps.append(stamp)
    if all(t is not None for t in stamps):
        return keys, values, steps, [t for t in stamps if t is not None]
    now = int(time.time() * 1000)
    return keys, values, steps, [now if t is None else t for t in stamps]
