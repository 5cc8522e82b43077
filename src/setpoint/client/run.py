"""The run handle users log through: ``with sp.start_run(...) as run: run.log_metric(...)``.

``log_metric`` only appends to memory (microseconds); the buffer thread writes batches. Ending
the run, leaving the ``with`` block by an exception, and interpreter exit all flush first.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from setpoint.core import names
from setpoint.core.errors import (
    InvalidArgumentError,
    ParamConflictError,
    RemoteError,
    RunNotActiveError,
    SetpointError,
)
from setpoint.core.names import INT64_MAX, INT64_MIN
from setpoint.core.types import Artifact, MetricBatch, ModelVersion, Run
from setpoint.tracking.artifacts import check_artifact_path
from setpoint.tracking.metric_buffer import MetricBuffer, PartlyWritten

if TYPE_CHECKING:
    from setpoint.core.config import Settings

_float = float
END_ATTEMPTS = 5
# Points per request: far below the server's body limit, large enough to amortise a round trip.
MAX_POINTS_PER_REQUEST = 50_000


class ActiveRun:
    """A running run: log params, metrics, tags and artifacts; end it (or let ``with`` end it)."""

    def __init__(self, client: Any, run: Run, settings: Settings) -> None:
        self._client = client
        self._run = run
        self._ended = False
        self._lock = threading.Lock()
        self._known_keys: set[str] = set()
        self._next_step: dict[str, int] = {}
        self._params: dict[str, str] = {}  # every param logged through this handle
        self._unsent_params: dict[str, str] = {}
        self._param_error: SetpointError | None = None
        self._buffer = MetricBuffer(
            self._write,
            has_pending=lambda: bool(self._unsent_params),
            flush_interval=settings.flush_interval,
            heartbeat=lambda: client.heartbeat(run.id),
            heartbeat_interval=settings.heartbeat_interval,
        )

    def start(self) -> ActiveRun:
        """Start the background writer (``sp.start_run`` does this)."""
        self._buffer.start()
        return self

    # ------------------------------------------------------------ identity

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def project(self) -> str:
        return self._run.project

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def info(self) -> Run:
        """The run as stored now (params, latest metrics, tags, status)."""
        self.flush()
        return self._client.get_run(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.project}/{self.name} id={self.id}>"

    # ------------------------------------------------------------ metrics

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Record one point; ``step`` defaults to the next step of this key (0, 1, 2, ...)."""
        self._check_open()
        if key not in self._known_keys:
            names.check_key(key, "metric key")
            self._known_keys.add(key)
        if value.__class__ is not _float:
            value = names.check_metric_value(value, f"metrics.{key}")
        if step is None:
            step = self._next_step.get(key, 0)
        elif step.__class__ is not int or not INT64_MIN <= step <= INT64_MAX:
            step = names.check_step(step, "step")
        self._next_step[key] = step + 1
        if timestamp is None:
            timestamp = time.time_ns() // 1_000_000
        elif timestamp.__class__ is not int or not INT64_MIN <= timestamp <= INT64_MAX:
            timestamp = names.check_step(timestamp, "timestamp")
        self._buffer.add(key, value, step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def flush(self) -> None:
        """Write every buffered metric point (and param) now; a param the store refused
        (another writer logged a different value first) is raised here."""
        self._buffer.flush()
        if self._param_error is not None:
            raise self._param_error

    def _write(
        self,
        keys: list[str],
        values: list[float],
        steps: list[int],
        stamps: list[int],
        batch_id: str,
        offset: int,
    ) -> None:
        # Points first: a param the store refuses (a conflict with another writer) must not
        # take the points of the same flush down with it.
        for i in range(0, len(keys), MAX_POINTS_PER_REQUEST):
            j = i + MAX_POINTS_PER_REQUEST
            # NaN travels as is: the store keeps it, the wire spells it "nan" (api/wire.py).
            # A request sent again (see metric_buffer) has the id it had the first time.
            request_id = f"{batch_id}:{offset + i}"
            try:
                self._client.log_metrics(
                    self.id, keys[i:j], values[i:j], steps[i:j], stamps[i:j], request_id
                )
            except BaseException as exc:  # Ctrl-C too: what was stored must not be sent again
                if i == 0:
                    raise
                raise PartlyWritten(i, exc) from exc  # the first i points are stored
        params = self._take_params()
        if params:
            # Never raise from here once points are written: the buffer would send them again.
            try:
                conflict = self._store_params(params)
                if conflict is not None:  # the others are stored; this one is raised next
                    self._param_error = self._param_error or conflict
            except SetpointError as exc:
                if exc.status >= 500:
                    self._return_params(params)  # transient: retried with the next flush
                else:
                    self._param_error = exc  # refused for good: raised on the next call
            except Exception:  # transient (network, database restart)
                self._return_params(params)

    def _store_params(self, params: dict[str, str]) -> ParamConflictError | None:
        """Write ``params``; one that conflicts with a value another writer stored first is
        left out (and returned, the first such) and the others are written."""
        return _leaving_out_conflicts(
            lambda kept: self._client.log_params(self.id, kept) if kept else None, params
        )

    # ------------------------------------------------------------ params and tags

    def log_param(self, key: str, value: object) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        """Record params (write-once). A conflict with a value logged through this run is
        raised here; the params are written with the next flush, at the latest at the end."""
        self._check_open()
        checked = {
            names.check_key(k, "param key"): names.param_value(v, f"params.{k}")
            for k, v in params.items()
        }
        with self._lock:
            for key, value in checked.items():
                old = self._params.get(key)
                if old is not None and old != value:
                    raise ParamConflictError(
                        f"param {key!r} of run {self.id} is already {old!r}; "
                        f"params are write-once and cannot become {value!r}",
                        field=f"params.{key}",
                    )
            for key, value in checked.items():
                if key not in self._params:
                    self._params[key] = value
                    self._unsent_params[key] = value

    def _take_params(self) -> dict[str, str]:
        with self._lock:
            params, self._unsent_params = self._unsent_params, {}
        return params

    def _return_params(self, params: dict[str, str]) -> None:
        with self._lock:
            self._unsent_params = {**params, **self._unsent_params}

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        self._client.set_tags(self.id, {k: str(v) for k, v in tags.items()})

    # ------------------------------------------------------------ artifacts

    def log_artifact(
        self, local_path: str | os.PathLike[str], path: str | None = None
    ) -> list[Artifact]:
        """Log a file, or every file below a folder, under ``path`` (default: its name)."""
        self._check_open()
        src = Path(local_path)
        if not src.exists():
            raise InvalidArgumentError(f"{src} does not exist", field="local_path")
        base = check_artifact_path(path or src.name)
        files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
        # every name checked before any upload
        dests = [
            check_artifact_path(base if f == src else f"{base}/{f.relative_to(src).as_posix()}")
            for f in files
        ]
        if not src.is_dir():
            with open(src, "rb") as fh:
                return [self._client.upload_artifact(self.id, dests[0], fh)]
        if not files:
            return []
        # the bytes first, then every file at once: a folder is visible whole or not at all
        refs = {dest: self._client.upload_file(f) for f, dest in zip(files, dests, strict=True)}
        return list(self._client.log_artifacts(self.id, refs))

    def log_bytes(self, data: bytes, path: str) -> Artifact:
        self._check_open()
        return self._client.upload_artifact(self.id, check_artifact_path(path), io.BytesIO(data))

    def log_text(self, text: str, path: str) -> Artifact:
        return self.log_bytes(text.encode(), path)

    def log_dict(self, obj: Mapping[str, Any], path: str) -> Artifact:
        """Log a JSON-able mapping as a JSON file."""
        try:
            text = json.dumps(obj, indent=2, sort_keys=True, default=str)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"cannot write the dict as JSON: {exc}", field="obj"
            ) from None
        return self.log_text(text, path)

    def log_input(self, version: Any) -> None:
        """Record that this run consumed a dataset version (``sp.log_dataset``'s result, or a
        reference like "fraud/tx@3"; "tx" or "tx@latest" is the latest version now, in this
        run's project unless named)."""
        self._check_open()
        from setpoint.data.versions import parse_ref

        given = isinstance(version, str)
        ref = version if given else getattr(version, "ref", None)
        wanted = (
            "log_input takes a dataset version (from sp.log_dataset or sp.get_dataset) or a "
            "reference like 'fraud/tx@3'"
        )
        if not isinstance(ref, str) or not (given or "@" in ref):
            raise InvalidArgumentError(wanted, field="version")
        project, name, number = parse_ref(ref, default_project=self.project, field="version")
        if number is None and not given:
            raise InvalidArgumentError(wanted, field="version")
        # the version must exist: an edge to nothing would answer lineage questions wrongly
        found = self._client.get_dataset_version(name, project, number)
        ref = f"{project}/{name}@{found.version}"
        self._client.add_lineage("run", self.id, "consumed", "dataset_version", ref)

    def log_model(
        self,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        description: str = "",
        tags: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        """Register ``model`` as the next version of model ``name`` in this run's project,
        produced by this run (signature inferred from ``input_example``)."""
        from setpoint.client.models import log_model
        from setpoint.tracking.environment import current_user

        self._check_open()
        return log_model(
            self._client,
            model,
            name,
            self.project,
            run_id=self.id,
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            description=description,
            tags={k: str(v) for k, v in (tags or {}).items()},
            actor=current_user(),
        )

    def download_artifact(self, path: str, dest: str | os.PathLike[str]) -> list[str]:
        return self._client.download_artifact(self.id, path, dest)

    # ------------------------------------------------------------ ending

    def end(self, status: str = "finished", error: str | None = None) -> Run:
        """Flush and end the run; ending twice is a no-op returning the stored run."""
        from setpoint.client import sdk

        with self._lock:
            if self._ended:
                return self._client.get_run(self.id)
            self._ended = True
        sdk._forget(self)
        params = self._take_params()  # they commit with the end (a conflict fails the run)
        keys: list[str] = []
        values: list[float] = []
        steps: list[int] = []
        stamps: list[int] = []
        try:
            # All but the last request's worth of points go first (after a batch that failed
            # earlier, under its own id); the rest, the params and the status then commit
            # together: one transaction, one request.
            self._buffer.stop()
            self._buffer.flush(leave=MAX_POINTS_PER_REQUEST)
            keys, values, steps, stamps = self._buffer.drain()
            final = MetricBatch(keys=keys, values=values, steps=steps, timestamps=stamps)
            refused = self._param_error
            if refused is None:
                return self._end(status, error, final, params)
            # a param a background flush could not store fails the run, as one at the end
            self._end("failed", f"ParamConflictError: {refused.message}", final, params)
            raise refused
        except (ParamConflictError, RunNotActiveError):
            raise  # the run has ended (here, or elsewhere): nothing to keep for a retry
        except BaseException:
            # Keep everything for another `end()` (or the one at interpreter exit).
            self._buffer.add_many(keys, values, steps, stamps)
            self._return_params(params)
            with self._lock:
                self._ended = False
            sdk._remember(self)
            raise

    def _end(
        self, status: str, error: str | None, final: MetricBatch, params: dict[str, str]
    ) -> Run:
        for attempt in range(END_ATTEMPTS):
            try:
                return self._client.end_run(self.id, status, error, final, params)
            except RunNotActiveError:
                stored = self._client.get_run(self.id)
                if stored.status == status and stored.error == error:
                    return stored  # an earlier attempt got through
                raise
            except ParamConflictError as exc:
                # Another writer logged one of these params first: keep the points, the
                # other params and the end, and say which param was refused.
                key = _param_key(exc)
                if key not in params:
                    raise
                why = f"ParamConflictError: {exc.message}"
                _leaving_out_conflicts(
                    partial(self._client.end_run, self.id, "failed", why, final),
                    {k: v for k, v in params.items() if k != key},
                )
                raise
            except RemoteError:
                if attempt == END_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.end("finished")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("killed", "KeyboardInterrupt")
        else:
            summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.end("failed", summary[:8000])

    def _check_open(self) -> None:
        if self._ended:
            raise RunNotActiveError(
                f"run {self.id} has ended; nothing more can be logged to it", field="run_id"
            )
        if self._buffer.error is not None:
            raise self._buffer.error
        if self._param_error is not None:
            raise self._param_error


def _leaving_out_conflicts(
    write: Callable[[dict[str, str]], object], params: dict[str, str]
) -> ParamConflictError | None:
    """``write(params)``; while the store refuses one of them as a conflict (another writer
    logged another value first), ``write`` again without it. The first conflict, or None."""
    first = None
    while True:
        try:
            write(params)
            return first
        except ParamConflictError as exc:
            key = _param_key(exc)
            if key not in params:
                raise
            first = first or exc
            params = {k: v for k, v in params.items() if k != key}


def _param_key(conflict: ParamConflictError) -> str | None:
    """The key of the param a conflict names (its field is ``params.KEY``)."""
    field = conflict.field or ""
    return field.removeprefix("params.") if field.startswith("params.") else None
