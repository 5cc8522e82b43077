"""The ASGI app: one route per API operation, token auth, body limits, errors as JSON.

Every error answer is ``{"error": {"code", "message", "field"}}`` with a 4xx status for bad
input; an unexpected failure is logged with its traceback and answered 500 without one.
"""

from __future__ import annotations

import inspect
import logging
import os
import posixpath
import shutil
import tempfile
import time
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, Response
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from setpoint import __version__
from setpoint.api.operations import API_PREFIX, OperationSpec, operations
from setpoint.api.wire import dumps_json, wire_number
from setpoint.client.local import LocalClient
from setpoint.core.errors import (
    AuthenticationError,
    InvalidArgumentError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SetpointError,
)
from setpoint.core.names import INT64_MAX, INT64_MIN, is_whole
from setpoint.core.same_site import refusal
from setpoint.core.types import BlobRef
from setpoint.governance.tokens import Caller
from setpoint.server.auth import Authorizer
from setpoint.server.bodies import read_body

log = logging.getLogger("setpoint.server")

MAX_JSON_BODY = 32 * 1024 * 1024
MAX_UPLOAD = 20 * 1024 * 1024 * 1024
TOKEN_CACHE_S = 5.0
TOKEN_CACHE_MAX = 1024  # verdicts kept; random bearer strings must not grow memory


def error_response(exc: SetpointError) -> Response:
    return Response(
        orjson.dumps({"error": exc.to_dict()}),
        status_code=exc.status,
        media_type="application/json",
    )


def create_app(
    client: LocalClient,
    *,
    require_token: bool = False,
    enforce_roles: bool = False,
    max_json_body: int = MAX_JSON_BODY,
    max_upload: int = MAX_UPLOAD,
    web_ui: bool = True,
) -> FastAPI:
    """Build the app over an opened :class:`LocalClient`. ``enforce_roles`` (``--auth``)
    requires a token on every request and the user's role in the project of each operation,
    and has the registry refuse an approval by the version's own creator."""
    app = FastAPI(
        title="setpoint",
        version=__version__,
        description="The setpoint REST API. Every operation of the Python SDK, over HTTP.",
        docs_url=None,  # the interactive docs page loads assets from the internet
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    auth = _TokenCheck(
        client, require_token or enforce_roles, Authorizer(client) if enforce_roles else None
    )
    if enforce_roles:
        client.registry.creator_may_approve = False
    from setpoint.server.mlflow_api import register as register_mlflow

    # first: its lane for MLflow's JSON calls sits inside the middleware added below
    register_mlflow(app, client, auth, max_upload, max_json_body)
    if not auth.required:
        app.add_middleware(_SameSiteApi)
    app.add_middleware(_InternalErrors)  # added last: the outermost of ours

    @app.exception_handler(SetpointError)
    async def _setpoint_error(_request: Request, exc: SetpointError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # an unknown route or method under the API: the API's error shape, not FastAPI's
        if not request.url.path.startswith(f"{API_PREFIX}/"):
            return await http_exception_handler(request, exc)
        code, message = {
            404: ("not_found", f"no such endpoint: {request.url.path}"),
            405: ("method_not_allowed", f"{request.method} is not allowed on {request.url.path}"),
        }.get(exc.status_code, ("http_error", str(exc.detail)))
        return Response(
            orjson.dumps({"error": {"code": code, "message": message, "field": None}}),
            status_code=exc.status_code,
            media_type="application/json",
            headers=exc.headers,
        )

    if web_ui:
        from setpoint.server.ui import register as register_ui

        register_ui(app, client, auth)

    @app.get(f"{API_PREFIX}/health", tags=["server"])
    async def health() -> dict[str, str]:
        """Liveness: answers without a token."""
        return {"status": "ok", "version": __version__}

    for spec, fn in operations():
        if spec.kind == "json":
            endpoint = _json_endpoint(spec, fn, client, auth, max_json_body)
            model = _request_model(spec, fn)
            extra: dict[str, Any] = {}
            if spec.method != "GET" and model is not None:
                extra["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": model.model_json_schema()}},
                }
            app.add_api_route(
                API_PREFIX + spec.path,
                endpoint,
                methods=[spec.method],
                name=spec.name,
                summary=(fn.__doc__ or spec.name).strip().splitlines()[0],
                response_model=_return_type(fn),
                openapi_extra=extra or None,
                tags=[spec.path.split("/")[1]],
            )
        elif spec.kind == "stream":
            app.add_api_route(
                API_PREFIX + spec.path,
                _upload_endpoint(spec, fn, client, auth, max_upload),
                methods=[spec.method],
                name=spec.name,
                summary=(fn.__doc__ or spec.name).strip().splitlines()[0],
                tags=[spec.path.split("/")[1]],
            )
        else:
            app.add_api_route(
                API_PREFIX + spec.path,
                _download_endpoint(spec, fn, client, auth),
                methods=[spec.method],
                name=spec.name,
                summary=(fn.__doc__ or spec.name).strip().splitlines()[0],
                tags=[spec.path.split("/")[1]],
            )
    return app


class _InternalErrors:
    """An unexpected error is logged and answered 500 here. Starlette's own last resort
    answers it too but then raises it on to the server, which drops the connection: the
    client's next request on that kept-alive connection failed as well."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise  # half an answer went out: only dropping the connection says so
            log.exception("unexpected error", exc_info=exc)
            response = error_response(SetpointError("internal error; see the server log"))
            await response(scope, receive, send)


class _SameSiteApi:
    """Without tokens, the API answers programs on this machine, not web pages of other
    sites (see :mod:`setpoint.core.same_site`; the web UI checks its own requests). That is
    setpoint's API and MLflow's, also under the MLflow UI's prefix ``/ajax-api/``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("/api/", "/ajax-api/")):
            headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
            why = refusal(scope["method"], headers.get(b"host", ""), headers.get(b"origin"))
            if why is not None:
                refused = PermissionDeniedError(why, field="origin")
                if scope["path"].startswith(("/api/2.0/mlflow", "/ajax-api/")):
                    from setpoint.server.mlflow_api import mlflow_error

                    response = mlflow_error(refused)  # in the shape MLflow's clients read
                else:
                    response = error_response(refused)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TokenCheck:
    """Bearer-token check (and, with roles enforced, the role check of the operation);
    returns the name that stands for the caller in the audit trail: the token's user, or the
    token's name for a token made without a user."""

    def __init__(
        self, client: LocalClient, required: bool, authorizer: Authorizer | None = None
    ) -> None:
        self.client = client
        self.required = required
        self.authorizer = authorizer
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def note_upload(self, actor: str | None, result: object) -> None:
        """Bytes a caller uploaded (``result``, a blob) are theirs to refer to, also when
        another project holds the same bytes (roles enforced only)."""
        if self.authorizer is not None and actor is not None and isinstance(result, BlobRef):
            self.authorizer.uploaded(actor, result.digest)

    async def authorize(
        self,
        request: Request,
        spec: OperationSpec,
        args: dict[str, Any],
        caller: Caller | None = None,
    ) -> str | None:
        """Check the caller's role for this operation (``caller``: already authenticated)."""
        if caller is None:
            caller = await self.authenticate(request)
        if caller is None:
            return None
        if self.authorizer is not None:
            await run_in_threadpool(self.authorizer.check, _user(caller), spec, args)
        return caller.user or caller.token

    async def require(
        self, request: Request, needed: str, what: str, project: str | None = None
    ) -> str | None:
        """Authenticate, then check the caller's ``needed`` role in ``project`` (in some
        project when None), for what no operation covers (an MLflow registered model with no
        version yet); the caller's name, as :meth:`authorize`."""
        caller = await self.authenticate(request)
        if caller is None:
            return None
        if self.authorizer is not None:
            await run_in_threadpool(self.authorizer.require, _user(caller), needed, what, project)
        return caller.user or caller.token

    async def authenticate(self, request: Request) -> Caller | None:
        """Who the request's token speaks for (None when tokens are not required)."""
        if not self.required:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        name = None
        if scheme.lower() == "basic" and secret:
            # MLflow's MLFLOW_TRACKING_USERNAME/PASSWORD: the user and a token of theirs
            name, secret = _basic(secret)
        elif scheme.lower() != "bearer" or not secret:
            raise AuthenticationError(
                "this server requires a token: Authorization: Bearer <token> "
                "(or Basic with the user's name and the token as the password)"
            )
        caller = await self.caller_for(secret)
        if caller is None:
            raise AuthenticationError("the token is unknown or revoked, or its user is disabled")
        if name is not None and name not in (caller.user, caller.token):
            raise AuthenticationError(f"the token does not belong to {name!r}")
        return caller

    async def caller_for(self, secret: str) -> Caller | None:
        """Who an active token with this secret speaks for (verdicts cached for 5 s)."""
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit is None or hit[0] < now:
            caller = await run_in_threadpool(self.client.tokens.verify, secret)
            if len(self._cache) >= TOKEN_CACHE_MAX:
                self._cache.clear()
            self._cache[secret] = (now + TOKEN_CACHE_S, caller)
        else:
            caller = hit[1]
        return caller


def _user(caller: Caller) -> str:
    """The user a token acts for, which roles are checked against."""
    if caller.user is None:
        raise PermissionDeniedError(
            f"token {caller.token!r} acts for no user: make one with "
            "`setpoint tokens create NAME --user USER`",
            field="token",
        )
    return caller.user


def _basic(credentials: str) -> tuple[str, str]:
    """(user name, token secret) of HTTP Basic credentials."""
    import base64

    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        raise AuthenticationError("malformed Basic credentials") from None
    name, sep, secret = text.partition(":")
    if not sep or not secret:
        raise AuthenticationError("Basic credentials need a user name and a token as password")
    return name, secret


# Arguments that say who did something: with tokens, the server fills them in from the token.
ACTOR_ARGUMENTS = ("creator", "actor")


def _return_type(fn: Callable[..., Any]) -> Any:
    ret = typing.get_type_hints(fn).get("return")
    return None if ret is type(None) else ret


def _params(spec: OperationSpec, fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(fn)
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or name in spec.path_params:
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        out.append((name, hints[name], default))
    return out


def _whole_number_params(spec: OperationSpec, fn: Callable[..., Any]) -> frozenset[str]:
    """The operation's path parameters typed ``int`` (a route's text is all they arrive as)."""
    hints = typing.get_type_hints(fn)
    return frozenset(p for p in spec.path_params if hints.get(p) is int)


def _path_args(whole_numbers: frozenset[str], values: dict[str, str]) -> dict[str, Any]:
    """Path parameters as the operation's types."""
    out: dict[str, Any] = {}
    for name, text in values.items():
        if name in whole_numbers:
            if not is_whole(text):
                raise InvalidArgumentError(
                    f"{name} must be a whole number, not {text!r}", field=name
                )
            out[name] = int(text)
        else:
            out[name] = text
    return out


_MODELS: dict[str, type[BaseModel] | None] = {}

# What the stores hold: a whole number beyond 64 bits is refused (naming the field), not
# passed on to fail in the database.
_INT64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
# in a JSON body a whole number is a JSON number and a flag a JSON boolean: "1", true and
# "yes" are refused, not converted (a query string has only text, converted as before)
_JSON_INT64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, strict=True)]
_JSON_BOOL = Annotated[bool, Field(strict=True)]
_NUMBER = Annotated[float, BeforeValidator(wire_number)]


def _wire_type(hint: Any, json_body: bool) -> Any:
    """``hint`` as requests are checked against it: every ``int`` within 64 bits; in a JSON
    body, every ``int`` a JSON whole number and every ``bool`` a JSON boolean, every ``float``
    a JSON number or the wire's spelling of NaN and the infinities (not a boolean or another
    string)."""
    if hint is int:
        return _JSON_INT64 if json_body else _INT64
    if hint is bool and json_body:
        return _JSON_BOOL
    if hint is float and json_body:
        return _NUMBER
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None or origin is Annotated or not args:
        return hint
    new = tuple(_wire_type(a, json_body) for a in args)
    if new == args:
        return hint
    if origin in (typing.Union, types.UnionType):
        return typing.Union[new]  # noqa: UP007 - built from a tuple
    return origin[new if len(new) > 1 else new[0]]


def _request_model(spec: OperationSpec, fn: Callable[..., Any]) -> type[BaseModel] | None:
    if spec.name not in _MODELS:
        body = spec.method != "GET"
        fields = {
            name: (_wire_type(hint, body), default) for name, hint, default in _params(spec, fn)
        }
        _MODELS[spec.name] = (
            create_model(  # type: ignore[call-overload]
                f"{''.join(w.title() for w in spec.name.split('_'))}Request",
                __config__=ConfigDict(extra="forbid"),
                **fields,
            )
            if fields
            else None
        )
    return _MODELS[spec.name]


def _json_endpoint(
    spec: OperationSpec,
    fn: Callable[..., Any],
    client: LocalClient,
    auth: _TokenCheck,
    max_body: int,
) -> Callable[..., Any]:
    model = _request_model(spec, fn)
    whole_numbers = _whole_number_params(spec, fn)

    async def endpoint(request: Request) -> Response:
        # Who is asking comes first: nothing of an unauthenticated request is read or parsed.
        caller = await auth.authenticate(request)
        if spec.method == "GET":
            raw: Any = dict(request.query_params)
        else:
            body = await read_body(request, max_body)
            try:
                raw = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"the request body is not valid JSON: {exc}", field="body"
                ) from None
            if not isinstance(raw, dict):
                raise InvalidArgumentError("the request body must be a JSON object", field="body")
        args: dict[str, Any] = {}
        if model is not None:
            try:
                parsed = model.model_validate(raw)
            except ValidationError as exc:
                raise _invalid(exc) from None
            args = {name: getattr(parsed, name) for name in model.model_fields}
        args.update(_path_args(whole_numbers, request.path_params))
        actor = await auth.authorize(request, spec, args, caller)
        if actor is not None:
            args.update({name: actor for name in ACTOR_ARGUMENTS if name in args})
        result = await run_in_threadpool(fn, client, **args)
        return Response(
            dumps_json(result),
            media_type="application/json",
        )

    return endpoint


def _upload_endpoint(
    spec: OperationSpec,
    fn: Callable[..., Any],
    client: LocalClient,
    auth: _TokenCheck,
    max_upload: int,
) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        actor = await auth.authorize(request, spec, dict(request.path_params))
        declared = request.headers.get("content-length")
        if declared and is_whole(declared, 30) and int(declared) > max_upload:
            raise PayloadTooLargeError(f"upload larger than the {max_upload} byte limit")
        # Spool to a temporary file first: the blob store hashes while it stores.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed below
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_upload:
                    raise PayloadTooLargeError(f"upload larger than the {max_upload} byte limit")
                spool.write(chunk)
            spool.seek(0)
            result = await run_in_threadpool(fn, client, **request.path_params, stream=spool)
        finally:
            spool.close()
        auth.note_upload(actor, result)
        return Response(orjson.dumps(result), media_type="application/json")

    return endpoint


def _download_endpoint(
    spec: OperationSpec, fn: Callable[..., Any], client: LocalClient, auth: _TokenCheck
) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        await auth.authorize(request, spec, dict(request.path_params))
        # One file per request (the remote client lists a folder and fetches each file); the
        # operation verifies every byte before it lands in the temporary folder.
        tmpdir = tempfile.mkdtemp(prefix="setpoint-dl-")
        dest = tmpdir if spec.dest == "folder" else os.path.join(tmpdir, "download")
        try:
            written = await run_in_threadpool(fn, client, **request.path_params, dest=dest)
            files = [written] if isinstance(written, str) else list(written)
            wanted = request.path_params.get("path")
            if len(files) != 1 or (
                spec.dest == "folder"
                and wanted is not None
                and os.path.relpath(files[0], dest) != posixpath.basename(wanted)
            ):  # a folder (of one file, perhaps)
                raise InvalidArgumentError(
                    "this path names a folder: list it and download its files one by one",
                    field="path",
                )
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        return FileResponse(
            files[0],
            media_type="application/octet-stream",
            background=BackgroundTask(shutil.rmtree, tmpdir, True),
        )

    return endpoint


def _invalid(exc: ValidationError) -> InvalidArgumentError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
    )
    return InvalidArgumentError(problems, field=field)
