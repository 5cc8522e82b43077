"""How UI routes are declared (``@page``, ``@action``, ``@data``) and mounted: the session
check before every page, form tokens on every action, and errors shown as pages."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.staticfiles import StaticFiles

from setpoint.api.wire import dumps_json
from setpoint.core.errors import (
    AuthenticationError,
    InvalidArgumentError,
    PayloadTooLargeError,
    SetpointError,
)
from setpoint.core.same_site import host_name, is_loopback, same_origin
from setpoint.server.ui.context import Page, Ui

if TYPE_CHECKING:
    from setpoint.client.local import LocalClient
    from setpoint.governance.tokens import Caller
    from setpoint.server.app import _TokenCheck

log = logging.getLogger("setpoint.server.ui")

HERE = Path(__file__).parent
SESSION_COOKIE = "setpoint_session"
MAX_FORM = 1024 * 1024
# Scripts only from this server; nothing is fetched from anywhere else.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)

PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}

Handler = Callable[[Page], Response]


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST"]
    path: str
    fn: Handler
    kind: Literal["page", "action", "data"]


ROUTES: list[Route] = []


def page(path: str) -> Callable[[Handler], Handler]:
    """A GET page: ``fn(page) -> Response`` (usually :func:`render`)."""
    return _route("GET", path, "page")


def action(path: str) -> Callable[[Handler], Handler]:
    """A POST form: the form token is checked before ``fn`` runs."""
    return _route("POST", path, "action")


def data(path: str) -> Callable[[Handler], Handler]:
    """A GET answering JSON for a page's script (charts): ``fn(page) -> Response``."""
    return _route("GET", path, "data")


def _route(
    method: Literal["GET", "POST"], path: str, kind: Literal["page", "action", "data"]
) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, path, fn, kind))
        return fn

    return deco


def render(p: Page, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` rendered with ``p`` and ``context``."""
    html = p.ui.templates.get_template(template).render(p=p, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _foreign(ui: Ui, request: Request) -> str | None:
    """Why a request may come from another site, or None. A POST must come from this
    server's own pages (its Origin, or else its Referer, names this host); without tokens
    (a loopback server), the Host must be a loopback name, so a page of another site that
    points its own name at 127.0.0.1 (DNS rebinding) cannot read or post."""
    host = request.headers.get("host", "")
    if not ui.tokens_required and not is_loopback(host_name(host)):
        return f"this server answers its web UI on loopback names only, not {host!r}"
    if request.method == "POST":
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin and not same_origin(origin, host):
            return "this form was sent from another site"
    return None


def _refused(p: Page, why: str) -> HTMLResponse:
    return render(p, "error.html", status=403, title="Not allowed", message=why)


def json_response(value: Any) -> Response:
    return Response(
        dumps_json(value),
        media_type="application/json",
    )


def redirect(url: str) -> RedirectResponse:
    """After an action: go to ``url`` (a GET), so reloading does not repeat the action."""
    return RedirectResponse(url, status_code=303)


def mount(app: FastAPI, client: LocalClient, auth: _TokenCheck) -> None:
    from setpoint.server.ui import pages  # noqa: F401 - registers the routes
    from setpoint.server.ui.templating import environment

    ui = Ui(
        client=client,
        authorizer=auth.authorizer,
        tokens_required=auth.required,
        templates=environment(),
        form_key=secrets.token_bytes(32),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    async def login_form(request: Request) -> Response:
        p = _page(ui, request, None, "")
        if refusal := _foreign(ui, request):
            return _refused(p, refusal)
        return render(p, "login.html", next=_safe_next(request.query_params.get("next", "/")))

    async def login(request: Request) -> Response:
        p = _page(ui, request, None, "")
        if refusal := _foreign(ui, request):
            return _refused(p, refusal)
        try:
            form = await read_form(request)
        except SetpointError as exc:
            return _error(p, exc, "page")
        secret = str(form.get("token") or "").strip()
        target = _safe_next(str(form.get("next") or "/"))
        if not ui.tokens_required:
            return redirect(target)
        caller = await auth.caller_for(secret) if secret else None
        if caller is None:
            return render(
                p,
                "login.html",
                status=401,
                next=target,
                error="That token is unknown or revoked, or its user is disabled.",
            )
        if ui.authorizer is not None and caller.user is None:
            return render(
                p,
                "login.html",
                status=403,
                next=target,
                error=f"Token {caller.token!r} acts for no user; this server checks roles.",
            )
        response = redirect(target)
        response.set_cookie(
            SESSION_COOKIE,
            secret,
            httponly=True,
            samesite="lax",  # links into the UI from mail or chat keep the session
            secure=request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto") == "https",
            path="/",
        )
        return response

    async def logout(request: Request) -> Response:
        if refusal := _foreign(ui, request):
            return _refused(_page(ui, request, None, ""), refusal)
        response = redirect("/login" if ui.tokens_required else "/")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    app.add_api_route("/login", login_form, methods=["GET"], include_in_schema=False)
    app.add_api_route("/login", login, methods=["POST"], include_in_schema=False)
    app.add_api_route("/logout", logout, methods=["POST"], include_in_schema=False)
    for route in ROUTES:
        app.add_api_route(
            route.path,
            _endpoint(ui, auth, route),
            methods=[route.method],
            include_in_schema=False,
            name=f"ui:{route.fn.__module__.rsplit('.', 1)[-1]}.{route.fn.__name__}",
        )


def _endpoint(ui: Ui, auth: _TokenCheck, route: Route) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        if refusal := _foreign(ui, request):
            return _refused(_page(ui, request, None, ""), refusal)
        try:
            caller, secret = await _session(ui, auth, request)
        except AuthenticationError as exc:
            if route.kind == "page":
                where = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(f"/login?next={quote(where, safe='')}")
            return _error(_page(ui, request, None, ""), exc, route.kind)
        p = _page(ui, request, caller, secret)
        try:
            if route.kind == "action":
                p.form = await read_form(request)
                sent = str(p.form.get("form_token") or "")
                if not secrets.compare_digest(sent, p.form_token()):
                    return render(
                        p,
                        "error.html",
                        status=403,
                        title="Form expired",
                        message="This form is from another session or an earlier server "
                        "start: go back, reload the page and try again.",
                    )
            return await run_in_threadpool(route.fn, p)
        except SetpointError as exc:
            return _error(p, exc, route.kind)
        except Exception:
            log.exception("UI page %s failed", request.url.path)
            return _error(p, None, route.kind)

    return endpoint


async def read_form(request: Request) -> FormData:
    """An urlencoded form body (the only kind the UI's forms send), at most 1 MiB."""
    from urllib.parse import parse_qsl

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidArgumentError(
            f"forms must be sent as application/x-www-form-urlencoded, not {kind or 'nothing'}",
            field="content-type",
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise PayloadTooLargeError("the form is larger than 1 MiB", field="body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError("the form is not UTF-8", field="body") from None
    pairs: list[tuple[str, str | UploadFile]] = list(parse_qsl(text, keep_blank_values=True))
    return FormData(pairs)


async def _session(ui: Ui, auth: _TokenCheck, request: Request) -> tuple[Caller | None, str]:
    if not ui.tokens_required:
        return None, ""
    secret = request.cookies.get(SESSION_COOKIE, "")
    header = request.headers.get("authorization", "")
    if not secret and header.lower().startswith("bearer "):
        secret = header[7:].strip()
    caller = await auth.caller_for(secret) if secret else None
    if caller is None:
        raise AuthenticationError("sign in with a token")
    return caller, secret


def _page(ui: Ui, request: Request, caller: Caller | None, secret: str) -> Page:
    return Page(
        ui=ui,
        path=request.url.path,
        query=request.query_params,
        path_params=dict(request.path_params),
        caller=caller,
        session=secret,
    )


def _error(p: Page, exc: SetpointError | None, kind: str) -> Response:
    status = exc.status if exc is not None else 500
    message = str(exc) if exc is not None else "Something went wrong; the server log has details."
    if kind == "data":
        return Response(
            orjson.dumps({"error": {"message": message}}),
            status_code=status,
            media_type="application/json",
        )
    titles = {401: "Sign in", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
    return render(
        p,
        "error.html",
        status=status,
        title=titles.get(status, "Cannot show this" if status < 500 else "Server error"),
        message=message,
    )


def _safe_next(target: str) -> str:
    """Only this server's own pages (no scheme, no other host) as a place to return to."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
