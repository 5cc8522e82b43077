"""The prediction server as a plain ASGI application (no framework on the hot path).

Routes:

| method | path | what |
|---|---|---|
| GET | /v2/health/live, /v2/health/ready | liveness; readiness (every alias loaded) |
| GET | /v2 | server metadata |
| GET | /v2/models/{name}[/versions/{v}][/ready] | model metadata (from the signature); readiness |
| POST | /v2/models/{name}[/versions/{v}]/infer | Open Inference Protocol infer (JSON or binary) |
| POST | /invocations | MLflow's scoring shapes (JSON or CSV) |
| GET | /ping, /health, /version | MLflow's health check and version |
| POST | /feedback | ground truth for earlier requests, by request id |
| GET | /metrics | Prometheus metrics |
| GET | /openapi.json | this server's OpenAPI description |
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from setpoint.core.errors import (
    AuthenticationError,
    MalformedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SetpointError,
)
from setpoint.core.names import is_whole
from setpoint.core.same_site import refusal
from setpoint.serving import protocol
from setpoint.serving.deployment import Deployment, Slot
from setpoint.serving.metrics import Metrics
from setpoint.serving.predlog import Entry, Feedback, PredictionLog, now_ms

JSON = [(b"content-type", b"application/json")]
MAX_SHADOW_BACKLOG = 256  # queued shadow requests beyond which copies are skipped


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    max_body: int = 16 * 1024 * 1024
    access_log: bool = True
    version: str = ""
    tokens: tuple[str, ...] = ()  # bearer tokens every request but health checks must carry


OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health"})


class _Disconnected(Exception):
    pass


class PredictionApp:
    def __init__(
        self,
        deployment: Deployment,
        metrics: Metrics,
        log: PredictionLog | None,
        config: ServerConfig,
    ) -> None:
        self.deployment = deployment
        self.metrics = metrics
        self.log = log
        self.config = config
        self.ready = False
        self._access: deque[bytes] = deque(maxlen=100_000)
        self._writer: asyncio.Task[None] | None = None
        self._shadows: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await self.deployment.open()
        if self.log is not None:
            self.log.start()
        if self.config.access_log:
            self._writer = asyncio.get_running_loop().create_task(self._write_access_log())
        self.ready = True

    async def shutdown(self) -> None:
        """Graceful: the server stopped taking requests; finish the shadows, stop the
        models, write the prediction log."""
        self.ready = False
        if self._shadows:
            await asyncio.gather(*self._shadows, return_exceptions=True)
        await self.deployment.close()
        if self._writer is not None:
            self._writer.cancel()
            self._flush_access_log()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    # ------------------------------------------------------------ routing

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        t0 = time.perf_counter()
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given_id = headers.get("x-request-id") or ""
        ctx = {"id": "", "version": "", "role": ""}
        status, body, endpoint = 500, b"", "other"
        extra: dict[str, str] = {}
        try:
            ctx["id"] = _request_id(given_id)
            if self.config.tokens:
                if path not in OPEN_PATHS:
                    self._authenticate(headers)
            elif why := refusal(method, headers.get("host", ""), headers.get("origin")):
                # no tokens: a loopback server, for programs, not other sites' pages
                raise PermissionDeniedError(why, field="origin")
            if method == "POST":
                data = await self._body(receive, headers)
                if path == "/invocations":
                    endpoint = "invocations"
                    status, body, extra = await self._invocations(data, headers, ctx, t0)
                elif path.startswith("/v2/models/") and path.endswith("/infer"):
                    endpoint = "infer"
                    status, body, extra = await self._infer(path, data, headers, ctx, t0)
                elif path == "/feedback":
                    endpoint = "feedback"
                    status, body = self._feedback(data)
                else:
                    status, body = _error(404, f"no route POST {path}")
            elif method in ("GET", "HEAD"):
                status, body, extra = self._get(path)
            else:
                status, body = _error(405, f"method {method} is not allowed")
        except _Disconnected:
            return
        except SetpointError as exc:
            status = exc.status
            body = orjson.dumps({"error": exc.message, **_extra(exc)})
        except Exception as exc:  # the model failed on this request
            status = 500
            body = orjson.dumps(
                {
                    "error": f"the model failed on this request: {type(exc).__name__}: {exc}",
                    "id": ctx["id"],
                }
            )
        seconds = time.perf_counter() - t0
        request_id, version, role = ctx["id"], ctx["version"], ctx["role"]
        if endpoint != "other":
            self.metrics.request(version or "-", role or "-", endpoint, status, seconds)
        out = [(b"content-type", extra.pop("content-type", "application/json").encode())]
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        if request_id:
            out.append((b"x-request-id", request_id.encode()))
        if version:
            out.append((b"x-model-version", version.encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        if self.config.access_log:
            self._access.append(
                orjson.dumps(
                    {
                        "t": now_ms(),
                        "method": method,
                        "path": path,
                        "status": status,
                        "ms": round(seconds * 1000, 3),
                        "id": request_id or None,
                        "version": version or None,
                        "role": role or None,
                    }
                )
            )

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(
            hmac.compare_digest(token.encode(), t.encode()) for t in self.config.tokens
        ):
            raise AuthenticationError("this server needs 'Authorization: Bearer <token>'")

    async def _body(self, receive: Any, headers: dict[str, str]) -> bytes:
        limit = self.config.max_body
        declared = headers.get("content-length")
        if declared is not None and is_whole(declared, 30) and int(declared) > limit:
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # ------------------------------------------------------------ predictions

    async def _infer(
        self, path: str, data: bytes, headers: dict[str, str], ctx: dict[str, str], t0: float
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = path.split("/")  # ['', 'v2', 'models', name, ('versions', v,) 'infer']
        name = parts[3]
        self._check_name(name)
        doc, binary = protocol.parse_infer(data, headers.get(protocol.HEADER_LENGTH))
        given = doc.get("id")
        if given is not None and not isinstance(given, str):
            raise MalformedRequestError("'id' must be a string", field="id")
        request_id = ctx["id"] = _request_id(given or ctx["id"]) or uuid.uuid4().hex
        slot = self._slot(parts, request_id)
        ctx["version"], ctx["role"] = slot.number, slot.role
        with protocol.decoding():
            tensors = protocol.infer_tensors(doc, binary)
            request = slot.schema.from_tensors(tensors, request_id)
        wanted = _requested_outputs(doc)
        request.proba = "predict_proba" in wanted
        if request.proba and not slot.model.has_proba:
            raise MalformedRequestError(
                f"this {slot.model.meta.flavor} model gives no class probabilities: ask for "
                "the output predict only",
                field="outputs",
            )
        request.binary = _binary_outputs(doc)
        prediction = await slot.batcher.predict(request)
        outputs = {k: v for k, v in prediction.outputs.items() if k != "score"}  # log only
        if wanted:
            unknown = [w for w in wanted if w not in outputs]
            if unknown:
                raise MalformedRequestError(
                    f"the model gives outputs predict and predict_proba, not {unknown[0]!r}",
                    field="outputs",
                )
            outputs = {k: v for k, v in outputs.items() if k in wanted}
        body, extra = protocol.infer_response(
            self.deployment.model, slot.number, given or None, outputs, request.binary
        )
        self._after(slot, request, prediction.outputs, t0)
        return 200, body, extra

    async def _invocations(
        self, data: bytes, headers: dict[str, str], ctx: dict[str, str], t0: float
    ) -> tuple[int, bytes, dict[str, str]]:
        request_id = ctx["id"] = _request_id(ctx["id"]) or uuid.uuid4().hex
        slot = self.deployment.route(request_id)
        ctx["version"], ctx["role"] = slot.number, slot.role
        with protocol.decoding():
            parsed = protocol.parse_invocations(
                data, headers.get("content-type", ""), slot.schema.text_columns
            )
        with protocol.decoding():
            request = slot.schema.from_invocation(parsed, request_id)
        prediction = await slot.batcher.predict(request)
        predicted = prediction.outputs["predict"]
        values = predicted if predicted.dtype.kind in "biuf" else predicted.tolist()
        body = orjson.dumps({"predictions": values}, option=orjson.OPT_SERIALIZE_NUMPY)
        self._after(slot, request, prediction.outputs, t0)
        return 200, body, {}

    def _slot(self, parts: list[str], request_id: str) -> Slot:
        if len(parts) == 7 and parts[4] == "versions":
            slot = self.deployment.by_version(parts[5])
            if slot is None:
                raise NotFoundError(
                    f"version {parts[5]} of {self.deployment.model} is not served here "
                    f"(serving {', '.join(self.deployment.versions())})"
                )
            return slot
        if len(parts) != 5:
            raise NotFoundError(f"no route {'/'.join(parts)}")
        return self.deployment.route(request_id)

    def _check_name(self, name: str) -> None:
        if name not in (self.deployment.model, self.deployment.name):
            raise NotFoundError(
                f"unknown model {name!r}: this server serves {self.deployment.model!r}"
            )

    def _after(
        self, slot: Slot, request: protocol.Request, outputs: dict[str, Any], t0: float
    ) -> None:
        """Log the answer, and hand a copy to the shadow (never waited for)."""
        latency = (time.perf_counter() - t0) * 1000
        if self.log is not None:
            self.log.append(_entry(request, slot, outputs, latency))
        shadow = self.deployment.shadow()
        if shadow is None:
            return
        if shadow.batcher.pending >= MAX_SHADOW_BACKLOG:
            self.metrics.shadow_skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self._shadow(shadow, request))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, slot: Slot, request: protocol.Request) -> None:
        t0 = time.perf_counter()
        copy = protocol.Request(
            id=request.id, rows=request.rows, columns=request.columns, tensor=request.tensor
        )
        try:
            if slot.schema.columns and request.columns is not None:
                given = request.columns  # the shadow takes its own columns of these
                names = [n for n, _ in slot.schema.columns]
                copy = slot.schema.from_columns(
                    {n: given[n] for n in names if n in given}, request.id
                )
            prediction = await slot.batcher.predict(copy)
        except Exception:
            self.metrics.request(slot.number, "shadow", "shadow", 500, time.perf_counter() - t0)
            return
        seconds = time.perf_counter() - t0
        self.metrics.request(slot.number, "shadow", "shadow", 200, seconds)
        if self.log is not None:
            self.log.append(_entry(copy, slot, prediction.outputs, seconds * 1000))

    def _feedback(self, data: bytes) -> tuple[int, bytes]:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise MalformedRequestError(f"the body is not JSON: {exc}", field="body") from None
        if isinstance(doc, list):  # the items themselves
            items: Any = doc
        else:
            items = doc.get("feedback") if isinstance(doc, dict) and "feedback" in doc else [doc]
        if not isinstance(items, list) or not items:
            raise MalformedRequestError(
                "send {'request_id': ..., 'label': ...}, a list of them, or {'feedback': [...]}",
                field="body",
            )
        out, t = [], now_ms()
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
                raise MalformedRequestError(
                    f"feedback[{i}] needs a string 'request_id'", field="request_id"
                )
            if not item["request_id"]:
                raise MalformedRequestError(
                    f"feedback[{i}] has an empty 'request_id'", field="request_id"
                )
            _request_id(item["request_id"], "request_id")  # what a request's id can be
            if item.get("label") is None:
                raise MalformedRequestError(f"feedback[{i}] needs a 'label'", field="label")
            if len(orjson.dumps(item["label"])) > MAX_LABEL_BYTES:
                raise MalformedRequestError(
                    f"feedback[{i}] 'label' is longer than {MAX_LABEL_BYTES} bytes as JSON",
                    field="label",
                )
            out.append(Feedback(request_id=item["request_id"], time_ms=t, label=item["label"]))
        if self.log is None:
            raise NotFoundError("this server keeps no prediction log (--no-log), so no feedback")
        self.log.feedback(out)
        return 202, orjson.dumps({"accepted": len(out)})

    # ------------------------------------------------------------ the rest

    def _get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if path in ("/v2/health/live", "/ping", "/health"):
            return 200, orjson.dumps({"live": True}), {}
        if path == "/v2/health/ready":
            return (200 if self.ready else 503), orjson.dumps({"ready": self.ready}), {}
        if path == "/version":
            return 200, orjson.dumps({"version": self.config.version}), {}
        if path == "/openapi.json":
            from setpoint.serving.openapi import document

            primary = self.deployment.slots["primary"]
            doc = document(self.deployment.model, primary.schema, self.config.version)
            return 200, orjson.dumps(doc), {}
        if path == "/v2":
            return (
                200,
                orjson.dumps(
                    {
                        "name": "setpoint",
                        "version": self.config.version,
                        "extensions": ["binary_tensor_data"],
                    }
                ),
                {},
            )
        if path == "/metrics":
            gauges = {
                "setpoint_ready": 1.0 if self.ready else 0.0,
                "setpoint_prediction_log_dropped_rows_total": float(
                    self.log.dropped if self.log else 0
                ),
                "setpoint_prediction_log_written_rows_total": float(
                    self.log.written if self.log else 0
                ),
            }
            return 200, self.metrics.render(gauges), {"content-type": "text/plain; version=0.0.4"}
        if path in ("/invocations", "/feedback") or (
            path.startswith("/v2/models/") and path.endswith("/infer")
        ):
            status, body = _error(405, f"{path} takes POST")
            return status, body, {"allow": "POST"}
        if path.startswith("/v2/models/"):
            return self._model_get(path.split("/"))
        status, body = _error(404, f"no route GET {path}")
        return status, body, {}

    def _model_get(self, parts: list[str]) -> tuple[int, bytes, dict[str, str]]:
        d = self.deployment
        self._check_name(parts[3])
        tail = parts[4:]
        if tail and tail[0] == "versions" and len(tail) >= 2:
            version = tail[1]
            slot = d.by_version(version)
            ready_only = tail[2:] == ["ready"]
            if slot is None:
                why = d.not_ready.get(version)
                if ready_only and why is not None:
                    return 503, orjson.dumps({"ready": False, "error": why}), {}
                raise NotFoundError(f"version {version} of {d.model} is not served here")
            if ready_only:
                return 200, orjson.dumps({"ready": self.ready}), {}
            return 200, self._metadata(slot), {}
        if tail == ["ready"]:
            return (200 if self.ready else 503), orjson.dumps({"ready": self.ready}), {}
        if not tail:
            return 200, self._metadata(d.slots["primary"]), {}
        raise NotFoundError(f"no route GET {'/'.join(parts)}")

    def _metadata(self, slot: Slot) -> bytes:
        outputs = [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
        if slot.model.has_proba:
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
        return orjson.dumps(
            {
                "name": self.deployment.model,
                "versions": self.deployment.versions(),
                "platform": f"setpoint-{slot.model.meta.flavor}",
                "inputs": slot.schema.metadata_inputs(),
                "outputs": outputs,
                "parameters": {
                    "deployment": self.deployment.name,
                    "aliases": {
                        s.role: f"{s.alias}={s.number}" for s in self.deployment.slots.values()
                    },
                    "not_ready": self.deployment.not_ready,
                },
            }
        )

    async def _write_access_log(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._flush_access_log()

    def _flush_access_log(self) -> None:
        if not self._access:
            return
        lines = []
        while self._access:
            lines.append(self._access.popleft())
        sys.stderr.write(b"\n".join(lines).decode() + "\n")
        sys.stderr.flush()


MAX_LABEL_BYTES = 4096  # one row's ground truth, as JSON


def _request_id(value: str, field: str = "id") -> str:
    """A request id as given, if it is one a header can carry back: printable ASCII, at
    most 256 characters."""
    if value and (len(value) > 256 or not value.isascii() or not value.isprintable()):
        raise MalformedRequestError(
            "a request id must be printable ASCII of at most 256 characters", field=field
        )
    return value


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": message})


def _extra(exc: SetpointError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": exc.code}
    fields = getattr(exc, "fields", None)
    if fields:
        out["fields"] = fields
    elif exc.field:
        out["field"] = exc.field
    return out


def _requested_outputs(doc: dict[str, Any]) -> list[str]:
    """The outputs a request names: a list of {"name": ...} (no list: every output)."""
    outputs = doc.get("outputs")
    if outputs is None:
        return []
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"] for o in outputs
    ):
        raise MalformedRequestError(
            'outputs must be a list of {"name": ...} objects', field="outputs"
        )
    return [o["name"] for o in outputs]


def _binary_outputs(doc: dict[str, Any]) -> bool:
    """Whether the answer carries its tensors as binary data (the binary tensor extension:
    ``binary_data_output``, or ``binary_data`` on an output, each true or false)."""
    params = doc.get("parameters")
    wanted = _flag(params, "binary_data_output", "parameters")
    for o in doc.get("outputs") or []:
        given = o.get("parameters")
        wanted = _flag(given, "binary_data", f"outputs.{o['name']}.parameters") or wanted
    return wanted


def _flag(params: Any, key: str, where: str) -> bool:
    if params is None:
        return False
    if not isinstance(params, dict):
        raise MalformedRequestError(f"{where} must be an object", field=where)
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise MalformedRequestError(
            f"{where}.{key} must be true or false, got {value!r}", field=f"{where}.{key}"
        )
    return value


def _entry(
    request: protocol.Request, slot: Slot, outputs: dict[str, Any], latency_ms: float
) -> Entry:
    return Entry(
        request_id=request.id or "",
        time_ms=now_ms(),
        version=int(slot.version.version),
        role=slot.role,
        latency_ms=latency_ms,
        rows=request.rows,
        columns=request.columns,
        tensor=request.tensor,
        outputs=outputs["predict"],
        scores=outputs.get("score"),
    )
