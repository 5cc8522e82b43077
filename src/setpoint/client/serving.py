"""A prediction server wired to a store: aliases resolved, versions fetched (hash-checked)
and the prediction log written through the client, local or remote.

``setpoint serve`` builds a :class:`ServeSpec`; with several workers each worker process
builds its app from the spec passed in the ``SETPOINT_SERVE`` environment variable
(:func:`app_from_env`, the factory uvicorn imports).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from setpoint.core.errors import InvalidArgumentError

ENV = "SETPOINT_SERVE"


@dataclass(frozen=True, kw_only=True)
class ServeSpec:
    model: str
    alias: str = "champion"
    project: str | None = None
    name: str | None = None  # the deployment (default: the model's name)
    canary: str | None = None  # alias
    canary_percent: float = 0.0
    shadow: str | None = None  # alias
    allow_nan: bool = False
    max_batch: int = 1024
    max_wait_ms: float = 0.0
    poll: float = 2.0
    log: bool = True
    log_interval: float = 5.0
    max_body: int = 16 * 1024 * 1024
    access_log: bool = True
    log_scores: bool = False

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        return cls(**orjson.loads(text))


def parse_canary(text: str) -> tuple[str, float]:
    """``challenger=10%`` (or ``challenger=10``) -> ("challenger", 10.0)."""
    alias, sep, share = text.partition("=")
    share = share.strip().removesuffix("%")
    try:
        percent = float(share)
    except ValueError:
        percent = -1.0
    if not sep or not alias or not 0 < percent <= 100:
        raise InvalidArgumentError(
            f"canary must be ALIAS=PERCENT like challenger=10%, got {text!r}", field="canary"
        )
    return alias, percent


def build_app(spec: ServeSpec, c: Any = None, cache_dir: str | None = None) -> Any:
    """The ASGI app for ``spec`` (nothing is loaded until it starts)."""
    from setpoint import __version__
    from setpoint.client import sdk
    from setpoint.client.models import load_model, model_project
    from setpoint.serving.app import PredictionApp, ServerConfig
    from setpoint.serving.deployment import Deployment, Route
    from setpoint.serving.metrics import Metrics
    from setpoint.serving.predlog import PredictionLog

    c = c if c is not None else sdk.client()
    cache = cache_dir or os.path.join(sdk.settings().home, "cache")
    project = model_project(c, spec.model, spec.project)
    name = spec.name or spec.model
    routes = [Route(role="primary", alias=spec.alias)]
    if spec.canary:
        routes.append(Route(role="canary", alias=spec.canary, percent=spec.canary_percent))
    if spec.shadow:
        routes.append(Route(role="shadow", alias=spec.shadow))

    def resolve(alias: str) -> Any:
        return c.resolve_alias(spec.model, alias, project)

    def load(version: Any) -> Any:
        return load_model(c, version, None, cache)

    metrics = Metrics(name)
    deployment = Deployment(
        name,
        spec.model,
        routes,
        resolve,
        load,
        metrics,
        allow_nan=spec.allow_nan,
        max_rows=spec.max_batch,
        max_wait=spec.max_wait_ms / 1000,
        poll=spec.poll,
        scores=spec.log_scores,
    )
    log = None
    if spec.log:

        def sink(
            kind: str, day: str, data: bytes, rows: int, first: int, last: int, dropped: int
        ) -> None:
            digest = c.upload_blob(io.BytesIO(data)).digest
            c.record_prediction_log(name, kind, day, digest, rows, first, last, project, dropped)

        log = PredictionLog(sink, interval=spec.log_interval, on_error=_log_error)
    config = ServerConfig(
        max_body=spec.max_body,
        access_log=spec.access_log,
        version=__version__,
        tokens=tokens(),
    )
    return PredictionApp(deployment, metrics, log, config)


def _log_error(exc: BaseException) -> None:
    """A prediction log file that could not be written (the store away: kept and tried
    again; rows that cannot be encoded: dropped and counted in /metrics), as a JSON line on
    stderr beside the access log."""
    line = {"event": "prediction_log_error", "error": f"{type(exc).__name__}: {exc}"[:2000]}
    sys.stderr.write(orjson.dumps(line).decode() + "\n")
    sys.stderr.flush()


TOKENS_ENV = "SETPOINT_SERVE_TOKENS"


def tokens() -> tuple[str, ...]:
    """The bearer tokens requests must carry: SETPOINT_SERVE_TOKENS, comma-separated."""
    raw = os.environ.get(TOKENS_ENV, "")
    return tuple(t.strip() for t in raw.split(",") if t.strip())


@contextlib.contextmanager
def serving(spec: ServeSpec, c: Any = None) -> Iterator[str]:
    """``spec`` served on a free loopback port by a thread of this process (the quickstart's
    demonstrations); yields the URL, and on exit stops the server gracefully (its prediction
    log written). RuntimeError when it does not start."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(spec, c), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError(f"the server for {spec.model} did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def app_from_env() -> Any:
    """The uvicorn factory of each worker process: the app for the spec in SETPOINT_SERVE."""
    text = os.environ.get(ENV)
    if not text:
        raise InvalidArgumentError(f"{ENV} is not set: start workers with `setpoint serve`")
    return build_app(ServeSpec.from_json(text))


def read_log(
    c: Any,
    deployment: str,
    project: str,
    since: str | None,
    until: str | None,
    feedback: bool,
) -> Any:
    """A deployment's prediction log as one pandas DataFrame (oldest first), with the
    feedback labels joined on request id (column ``label``, None where none came)."""
    import pandas as pd
    import pyarrow as pa

    from setpoint.client.materializers import blob_bytes
    from setpoint.serving.predlog import read_file

    def tables(kind: str) -> list[pa.Table]:
        out = []
        for f in c.list_prediction_logs(deployment, project, kind, since, until):
            out.append(read_file(blob_bytes(c, f.digest)))
        return out

    predictions = tables("predictions")
    if not predictions:
        return pd.DataFrame(
            columns=["request_id", "row", "time", "model_version", "role", "latency_ms"]
        )
    frame = pa.concat_tables(predictions, promote_options="permissive").to_pandas()
    return join_labels(frame, tables("feedback") if feedback else [])


def join_labels(frame: Any, feedback: list[Any]) -> Any:
    """``frame`` (prediction log rows) with column ``label``: each request's newest
    feedback; a list label as long as the request's rows gives one label per row."""
    import pyarrow as pa

    if not feedback:
        frame["label"] = None
        return frame
    fb = pa.concat_tables(feedback, promote_options="permissive").to_pandas()
    fb = fb.drop_duplicates("request_id", keep="last")
    labels = dict(zip(fb["request_id"], (orjson.loads(v) for v in fb["label"]), strict=True))
    rows = frame["row"].to_numpy() if "row" in frame else [0] * len(frame)
    out = []
    for rid, row in zip(frame["request_id"], rows, strict=True):
        label = labels.get(rid)
        if isinstance(label, list):
            label = label[int(row)] if int(row) < len(label) else None
        elif isinstance(label, dict):
            label = None  # not a value a metric can use
        out.append(label)
    frame["label"] = out
    return frame
