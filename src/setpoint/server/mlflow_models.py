"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models``) over setpoint runs, so that
``mlflow.<flavor>.log_model`` works against a setpoint server.

A logged model is a run of the experiment's project, tagged ``kind=mlflow_model``, made
under the run that logged it: its files are that run's artifacts (uploaded through the
artifact proxy to its ``artifact_uri``), its params are the run's params, its status a tag.
Its id is ``m-`` and the run's id, so ``models:/m-...`` URIs resolve to it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from setpoint.core.errors import InvalidArgumentError, NotFoundError
from setpoint.core.mlflow_tags import (
    LOGGED_MODEL_KIND,
    MODEL_NAME,
    MODEL_STATUS,
    MODEL_STATUSES,
    MODEL_TYPE,
    SOURCE_RUN,
)
from setpoint.core.run_filter import parse_filter
from setpoint.server.mlflow_fields import optional_text, pairs, whole

KIND = LOGGED_MODEL_KIND
PREFIX = "m-"
NAME, TYPE, SOURCE, STATUS = MODEL_NAME, MODEL_TYPE, SOURCE_RUN, MODEL_STATUS
RESERVED = {"kind", NAME, TYPE, SOURCE, STATUS}
STATUSES = MODEL_STATUSES

# MLflow's logged-model attributes, as the fields of the run behind a model
_FILTER_FIELDS = {
    "name": "name",
    "source_run_id": f"tags.`{SOURCE}`",
    "model_type": f"tags.`{TYPE}`",
    "status": f"tags.`{STATUS}`",
    "creation_timestamp": "start_time",
    "creation_time": "start_time",
}
_ORDER_FIELDS = {
    "name": "name",
    "model_id": "id",
    "creation_timestamp": "start_time",
    "creation_time": "start_time",
    "last_updated_timestamp": "end_time",
    "last_updated_time": "end_time",
}
# a quoted string or name (left as it is), or a bare name (an attribute, or params.x, ...)
_PIECE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`|[A-Za-z_][\w.]*""")
_NO_METRICS = (
    "setpoint keeps no metrics of logged models (a metric logged with model_id is kept with "
    "its run): search the runs that logged them instead"
)

Route = Callable[[str, str], Callable[[Any], Any]]
Call = Callable[..., Awaitable[Any]]


def run_id_of(model_id: Any) -> str:
    """The run behind a logged model's id."""
    if not isinstance(model_id, str) or not model_id.startswith(PREFIX) or len(model_id) < 3:
        raise NotFoundError(f"Logged model with ID '{model_id}' not found.", field="model_id")
    return model_id[len(PREFIX) :]


def is_logged_model(run: Any) -> bool:
    """Whether a setpoint run is an MLflow logged model (a run of kind ``mlflow_model``)."""
    return bool(run.tags.get("kind") == KIND)


def model_filter(text: Any) -> str:
    """MLflow's logged-model filter ("name = 'clf' and params.C = '1.0'") as a filter of the
    runs behind logged models: its attributes become the run's fields and tags; params and
    tags are the run's. Metrics, and the attributes no run field holds, are refused."""
    text = optional_text(text, "filter")
    if text is None:
        return f"tags.kind = '{KIND}'"

    def field(m: re.Match[str]) -> str:
        piece = m.group()
        if piece[0] in "'\"`":
            return piece
        head, _, rest = piece.partition(".")
        if head.lower() in ("metrics", "metric"):
            raise InvalidArgumentError(_NO_METRICS, field="filter")
        name = rest if head.lower() in ("attributes", "attribute", "attr") else piece
        if name.lower() in _FILTER_FIELDS:
            return _FILTER_FIELDS[name.lower()]
        if name.lower() in ("model_id", "last_updated_timestamp", "last_updated_time"):
            raise InvalidArgumentError(
                f"filter on {name!r} is not supported here; the attributes are "
                f"{', '.join(_FILTER_FIELDS)}, with params.<key> and tags.<key>",
                field="filter",
            )
        return piece

    translated = _PIECE.sub(field, text)
    parse_filter(translated)  # whole on its own: its parentheses cannot reach the kind's term
    return f"tags.kind = '{KIND}' AND ({translated})"


def model_order(items: Any) -> list[str] | None:
    """MLflow's logged-model ``order_by`` ([{field_name, ascending}]) as run order keys;
    newest first (setpoint's default, as MLflow's) when none is given."""
    if not items:
        return None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("field_name"), str) for i in items
    ):
        raise InvalidArgumentError(
            "order_by must be a list of {field_name, ascending}", field="order_by"
        )
    out = []
    for item in items:
        name = item["field_name"]
        if name.split(".", 1)[0].lower() in ("metrics", "metric"):
            raise InvalidArgumentError(_NO_METRICS, field="order_by")
        if name not in _ORDER_FIELDS:
            raise InvalidArgumentError(
                f"Invalid order by field name: {name}; one of {', '.join(_ORDER_FIELDS)}",
                field="order_by",
            )
        out.append(f"{_ORDER_FIELDS[name]} {'ASC' if item.get('ascending', True) else 'DESC'}")
    return out


def logged_model(r: Any, experiment_id: str) -> dict[str, Any]:
    """A run of kind ``mlflow_model`` in MLflow's LoggedModel shape."""
    tags = r.tags
    return {
        "info": {
            "model_id": PREFIX + r.id,
            "experiment_id": experiment_id,
            "name": tags.get(NAME, r.name),
            "artifact_uri": f"mlflow-artifacts:/{r.project}/{r.id}/artifacts",
            "creation_timestamp_ms": r.start_time,
            "last_updated_timestamp_ms": r.end_time or r.start_time,
            "status": tags.get(STATUS, STATUSES[0]),
            "model_type": tags.get(TYPE, ""),
            "source_run_id": tags.get(SOURCE, ""),
            "status_message": "",
            "tags": [{"key": k, "value": v} for k, v in tags.items() if k not in RESERVED],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in r.params.items()], "metrics": []},
    }


def add_routes(
    route: Route,
    call: Call,
    project_of: Callable[[Any], str],
    experiment_id: Callable[[str], str],
) -> None:
    """Register the logged-model routes through ``route`` (the MLflow API's router)."""

    async def model_run(request: Request, model_id: Any) -> Any:
        run = await call(request, "get_run", run_id=run_id_of(model_id))
        if not is_logged_model(run) or run.deleted_at is not None:  # deleted: gone, as MLflow's
            raise NotFoundError(f"Logged model with ID '{model_id}' not found.", field="model_id")
        return run

    def shape(run: Any) -> dict[str, Any]:
        return {"model": logged_model(run, experiment_id(run.project))}

    @route("POST", "logged-models")
    async def create(request: Request, body: dict[str, Any]) -> Any:
        project = project_of(body.get("experiment_id") or "0")
        name = body.get("name") or "model"
        if not isinstance(name, str):
            raise InvalidArgumentError("name must be a string", field="name")
        source = optional_text(body.get("source_run_id"), "source_run_id")
        tags = {
            **pairs(body.get("tags"), "tags"),
            "kind": KIND,
            NAME: name,
            STATUS: STATUSES[0],
        }
        model_type = optional_text(body.get("model_type"), "model_type")
        if model_type is not None:
            tags[TYPE] = model_type
        if source is not None:
            tags[SOURCE] = source
        run = await call(
            request,
            "create_run",
            project=project,
            name=name,
            tags=tags,
            parent_id=source,
            heartbeats=False,
        )
        params = pairs(body.get("params"), "params")
        if params:
            await call(request, "log_params", run_id=run.id, params=params)
            run = await call(request, "get_run", run_id=run.id)
        return shape(run)

    @route("GET", "logged-models/{model_id}")
    async def get(request: Request, body: dict[str, Any]) -> Any:
        return shape(await model_run(request, body["model_id"]))

    @route("PATCH", "logged-models/{model_id}")
    async def finalize(request: Request, body: dict[str, Any]) -> Any:
        run = await model_run(request, body["model_id"])
        status = body.get("status")
        if status not in STATUSES[1:]:
            raise InvalidArgumentError(
                f"status must be one of {', '.join(STATUSES[1:])}, not {status!r}", field="status"
            )
        await call(request, "set_tags", run_id=run.id, tags={STATUS: status})
        if run.status == "running":
            outcome = "finished" if status == "LOGGED_MODEL_READY" else "failed"
            await call(request, "end_run", run_id=run.id, status=outcome)
        return shape(await call(request, "get_run", run_id=run.id))

    @route("PATCH", "logged-models/{model_id}/tags")
    async def set_tags(request: Request, body: dict[str, Any]) -> Any:
        run = await model_run(request, body["model_id"])
        tags = pairs(body.get("tags"), "tags")
        if RESERVED & tags.keys():
            raise InvalidArgumentError(
                f"tags {sorted(RESERVED & tags.keys())} are setpoint's own", field="tags"
            )
        await call(request, "set_tags", run_id=run.id, tags=tags)
        return {}

    @route("DELETE", "logged-models/{model_id}/tags/{key}")
    async def delete_tag(request: Request, body: dict[str, Any]) -> Any:
        run = await model_run(request, body["model_id"])
        key = body["key"]
        if key in RESERVED:
            raise InvalidArgumentError(f"tag {key!r} is setpoint's own", field="key")
        if key not in run.tags:
            raise NotFoundError(
                f"No tag with key {key!r} found for model with ID {body['model_id']!r}.",
                field="key",
            )
        await call(request, "delete_tag", run_id=run.id, key=key)
        return {}

    @route("DELETE", "logged-models/{model_id}")
    async def delete(request: Request, body: dict[str, Any]) -> Any:
        run = await model_run(request, body["model_id"])
        await call(request, "delete_run", run_id=run.id)  # restorable, as a run is
        return {}

    @route("POST", "logged-models/{model_id}/params")
    async def log_params(request: Request, body: dict[str, Any]) -> Any:
        run = await model_run(request, body["model_id"])
        params = pairs(body.get("params"), "params")
        # a model is finalized (its run ended) before MLflow logs more params to it
        await call(request, "log_batch", run_id=run.id, params=params, ended=True)
        return {}

    @route("POST", "logged-models/search")
    async def search(request: Request, body: dict[str, Any]) -> Any:
        ids = body.get("experiment_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidArgumentError(
                "experiment_ids must be a list of ids", field="experiment_ids"
            )
        page = await call(
            request,
            "search_runs",
            project=[project_of(i) for i in ids] or None,
            filter=model_filter(body.get("filter")),
            order_by=model_order(body.get("order_by")),
            max_results=min(
                whole(body.get("max_results") or 100, "max_results", -(2**63), 2**63 - 1), 1000
            ),
            page_token=optional_text(body.get("page_token"), "page_token"),
        )
        out: dict[str, Any] = {"models": [shape(r)["model"] for r in page.runs]}
        if page.next_page_token:
            out["next_page_token"] = page.next_page_token
        return out

    @route("POST", "runs/outputs")
    async def log_outputs(request: Request, body: dict[str, Any]) -> Any:
        run_id = body.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgumentError("run_id is required", field="run_id")
        outputs = body.get("models") or []
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise InvalidArgumentError("models must be a list of {model_id, step}", field="models")
        if not outputs:  # nothing to add: the run must still be one the caller may write to
            await call(request, "set_tags", run_id=run_id, tags={})
        for output in outputs:
            model = await model_run(request, output.get("model_id"))
            await call(
                request,
                "add_lineage",
                source_kind="run",
                source_id=run_id,
                relation="produced",
                target_kind="run",
                target_id=model.id,
            )
        return {}
