"""Where a pipeline's steps run: in this process, in a local process pool, or as Ray tasks.

Every executor runs :func:`execute` on a :class:`StepTask`: it opens the step's run, loads
the inputs from the artifact store, calls the step (with its retries), stores the output
and returns the output's record. Cache decisions are made before, in the driver, so results,
cache keys and lineage are the same whichever executor ran the step.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from setpoint.core.config import Settings
from setpoint.core.errors import ConfigurationError, PipelineError, WorkerDiedError

MAX_BACKOFF_S = 10.0
EXECUTORS = ("inprocess", "process", "ray")
NEEDS_RAY = "the Ray executor needs Ray: pip install 'setpoint[ray]'"

# The stored records of the running step's inputs, for the standard steps (a validation is
# stored with the dataset version a step was handed, a registered model's training data is
# the data its training step consumed).
_INPUTS: contextvars.ContextVar[dict[str, dict[str, Any]] | None] = contextvars.ContextVar(
    "setpoint_step_inputs", default=None
)


def input_record(param: str) -> dict[str, Any] | None:
    """The record (kind, ref, digest) of the running step's input ``param`` as the step
    before it stored it; None for a literal, or outside a step."""
    return (_INPUTS.get() or {}).get(param)


@dataclass(kw_only=True)
class StepTask:
    """Everything a worker needs to run one step, and nothing it must share with the driver."""

    settings: Settings
    project: str
    pipeline: str
    step: str
    fn: Callable[..., Any]
    retries: int
    pickle: bool
    parent_id: str | None
    tags: dict[str, str]
    literals: dict[str, Any]
    inputs: dict[str, dict[str, Any]]  # parameter -> record of the upstream step's output
    # the parameters whose upstream step declared pickle=True: only their records may be a
    # pickle (the step's own flag is about what it returns, not what it takes)
    pickled_inputs: frozenset[str] = frozenset()
    paths: list[str] = field(default_factory=list)  # sys.path entries the step's code needs
    # the step's return hint, resolved where the graph was built (a worker could not resolve
    # a string annotation: the function's globals travel only as far as its code uses them)
    returns: Any = object


@dataclass(kw_only=True)
class StepOutcome:
    """A step that ran: its run, and the record of its stored output. The value itself stays
    where the step ran; the steps after it load what was stored, in every executor."""

    run_id: str
    record: dict[str, Any]


class StepError(Exception):
    """A step's own error that could not come back as itself from the process that ran it
    (its class cannot be pickled, or not rebuilt from its pickle, as when its ``__init__``
    takes other arguments than the message): the original's type name and text."""

    def __init__(self, type_name: str, text: str, module: str = "") -> None:
        super().__init__(f"{type_name}: {text}" if text else type_name)
        self.type_name = type_name
        self.text = text
        self.module = module

    @classmethod
    def of(cls, exc: BaseException) -> StepError:
        kind = type(exc)
        try:
            text = str(exc)
        except Exception:  # a __str__ that fails: the type still says what it was
            text = ""
        return cls(kind.__qualname__, text, kind.__module__)

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its fields, not from the message as Exception pickles its args
        return (StepError, (self.type_name, self.text, self.module), self.__dict__)


# Set in a step worker told to stop (client/worker.py): a step that returns all the same
# (it caught the KeyboardInterrupt, as training loops do to end early) has its run killed
# and its result dropped, never stored or cached as the step's output.
STOPPING = threading.Event()


def execute(task: StepTask, loaded: dict[str, Any] | None = None) -> StepOutcome:
    """Run one step as a tracked run; ``loaded`` holds inputs already in memory (in-process:
    loaded from the store, as another process loads them)."""
    from setpoint.client import materializers, sdk
    from setpoint.pipelines.dag import check_returned

    c = sdk.client()
    loaded = loaded or {}
    with sdk.start_run(
        project=task.project, name=task.step, tags=task.tags, parent_id=task.parent_id
    ) as run:
        if task.literals:
            run.log_params({p: param_text(v) for p, v in task.literals.items()})
        for record in task.inputs.values():
            if record["kind"] == "dataset":
                c.add_lineage("run", run.id, "consumed", "dataset_version", record["ref"])
        args = dict(task.literals)
        for param, record in task.inputs.items():
            args[param] = (
                loaded[param]
                if param in loaded
                else materializers.load(c, record, param in task.pickled_inputs)
            )
        inputs = _INPUTS.set(task.inputs)
        try:
            value = _call(task, args, run, lambda param: _reload(c, task, param))
        finally:
            _INPUTS.reset(inputs)
        if STOPPING.is_set():  # a step that caught the stop returned what it had: not stored
            raise KeyboardInterrupt
        # after the retries, not within them: a wrong type is the code's, not a flaky call's
        check_returned(task.step, task.returns, value)
        record = materializers.store(c, value, task.step, task.pickle, task.pipeline, run)
        run.set_tag("output", materializers.dumps(record))
    return StepOutcome(run_id=run.id, record=record)


def param_text(value: Any) -> str:
    """A literal as its step run's param: its JSON; beyond what a param holds (a long list
    of ids), its start, its size and its hash, the one in the step's ``cache_parts`` (the
    cache key hashes the whole value)."""
    from setpoint.client import materializers
    from setpoint.core.names import MAX_PARAM_VALUE
    from setpoint.pipelines.cache import literal_hash

    text = materializers.dumps(value)
    if len(text) <= MAX_PARAM_VALUE:
        return text
    tail = f"... ({len(text)} characters, hash {literal_hash(value, what='a parameter')})"
    return text[: MAX_PARAM_VALUE - len(tail)] + tail


def _call(task: StepTask, args: dict[str, Any], run: Any, reload: Callable[[str], Any]) -> Any:
    """Call the step, with its retries. Each attempt gets its own copy of every argument: an
    attempt that changed an input in place before it failed must not hand the change on to
    the next one. The last attempt takes the originals (nothing needs them after it)."""
    for attempt in range(task.retries + 1):
        last = attempt == task.retries
        try:
            return task.fn(**(args if last else _fresh(args, reload)))
        except Exception:
            if last:
                raise
            run.log_metric("retries", float(attempt + 1), step=attempt)
            time.sleep(min(0.5 * 2**attempt, MAX_BACKOFF_S))
    raise AssertionError("unreachable")


def _fresh(args: dict[str, Any], reload: Callable[[str], Any]) -> dict[str, Any]:
    out = {}
    for param, value in args.items():
        try:
            out[param] = private_copy(value)
        except Exception:  # no copy of it can be made: a fresh load (of an input) is one
            out[param] = reload(param)
    return out


def _reload(c: Any, task: StepTask, param: str) -> Any:
    from setpoint.client import materializers

    if param not in task.inputs:  # a literal: JSON values, which copy
        raise PipelineError(
            f"parameter {param!r} of step {task.step!r} cannot be copied", field="params"
        )
    return materializers.load(c, task.inputs[param], param in task.pickled_inputs)


_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, range)


def private_copy(value: Any) -> Any:
    """A copy of ``value`` that a step may change in place without changing ``value``."""
    import copy

    if isinstance(value, _IMMUTABLE):
        return value
    library = type(value).__module__.split(".")[0]
    if library == "pyarrow":  # tables and arrays cannot be changed in place
        return value
    if library == "polars" and hasattr(value, "clone"):
        return value.clone()  # shares the column buffers, which are never written
    if library in ("numpy", "pandas") and hasattr(value, "copy"):
        return value.copy()  # deep for an array, a DataFrame and a Series
    return copy.deepcopy(value)


def execute_payload(payload: bytes) -> StepOutcome:
    """What a worker process (pool or Ray) runs: unpickle the task, use its store, run it.
    The value stays in the worker; only the record goes back."""
    import cloudpickle

    paths, body = cloudpickle.loads(payload)
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)
    task: StepTask = cloudpickle.loads(body)
    warm_up(task.settings)
    return execute(task)


def payload(task: StepTask) -> bytes:
    """The task pickled for another process. The step's own modules go by value, so a
    worker that cannot import them (a Ray node elsewhere, a file run by path) still runs the
    code the cache key was computed from; their folders go along for what they import."""
    with _PICKLING:  # by-value registration is global in cloudpickle: one task at a time
        return _payload(task)


_PICKLING = threading.Lock()


def _payload(task: StepTask) -> bytes:
    import cloudpickle

    from setpoint.pipelines.code_key import user_modules

    modules = user_modules()
    registered = []
    for module in modules:
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:  # already registered, or not importable by name
            pass
    try:
        body = cloudpickle.dumps(task)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)
    paths = sorted({os.path.dirname(os.path.abspath(m.__file__)) for m in modules if m.__file__})
    return bytes(cloudpickle.dumps((paths, body)))


class InProcessExecutor:
    """Steps run one after another in this process (the default: a breakpoint works)."""

    name = "inprocess"
    parallel = False

    def open(self) -> InProcessExecutor:
        return self

    def submit(self, task: StepTask, loaded: dict[str, Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(execute(task, loaded))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


STOP_GRACE_S = 10.0  # how long a stopped worker has to end its step's run


@contextlib.contextmanager
def run_on(ex: Any, owned: bool = True) -> Iterator[Any]:
    """Run on executor ``ex``, closed at the end when ``owned``. A run ending on an
    interruption (Ctrl-C, SIGTERM) stops the steps it is running now; one ending on an error
    lets them finish (a resume finds what they stored)."""
    try:
        yield ex
    except BaseException as exc:
        stop = getattr(ex, "interrupt", None)
        if owned and not isinstance(exc, Exception) and stop is not None:
            stop()
        raise
    finally:
        if owned:
            ex.close()


class ProcessExecutor:
    """Independent steps run at the same time in worker processes of this machine (fresh
    interpreters, started on demand and kept for the pipeline run). A worker that dies takes
    only its step down."""

    name = "process"
    parallel = True

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._queue: queue.Queue[tuple[bytes, concurrent.futures.Future[Any]] | None] = (
            queue.Queue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._running: set[_Worker] = set()  # workers running a step now

    def open(self) -> ProcessExecutor:
        return self

    def submit(self, task: StepTask, loaded: dict[str, Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._busy += 1
            if self._busy > len(self._threads) and len(self._threads) < self.workers:
                thread = threading.Thread(target=self._feed, name="setpoint-step-worker")
                thread.daemon = True
                thread.start()
                self._threads.append(thread)
        self._queue.put((payload(task), future))
        return future

    def _feed(self) -> None:
        """One worker process, fed tasks from the queue; replaced when it dies."""
        worker: _Worker | None = None
        try:
            while (item := self._queue.get()) is not None:
                data, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    worker = worker if worker is not None and worker.alive() else _Worker()
                    with self._lock:
                        self._running.add(worker)
                    future.set_result(worker.run(data))
                except BaseException as exc:
                    future.set_exception(exc)
                finally:
                    with self._lock:
                        self._busy -= 1
                        self._running.discard(worker)  # type: ignore[arg-type]
        finally:
            if worker is not None:
                worker.stop()

    def interrupt(self) -> None:
        """The run was interrupted (Ctrl-C, SIGTERM): the steps running now stop (their runs
        end ``killed``, nothing of them stored), and the workers end; one that does not
        within STOP_GRACE_S is killed."""
        with self._lock:
            running = list(self._running)
        for worker in running:
            worker.terminate()
        for worker in running:
            worker.end_within(STOP_GRACE_S)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []


class _Worker:
    """A ``python -m setpoint.client.worker`` process and the two pipes to it."""

    def __init__(self) -> None:
        import subprocess

        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "setpoint.client.worker",
                str(task_r),
                str(result_w),
                str(os.getpid()),  # it ends when this process does
            ],
            pass_fds=(task_r, result_w),
        )
        os.close(task_r)
        os.close(result_w)
        self.tasks = os.fdopen(task_w, "wb")
        self.results = os.fdopen(result_r, "rb")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, data: bytes) -> StepOutcome:
        import cloudpickle

        from setpoint.client.worker import read_message, write_message

        try:
            write_message(self.tasks, data)
            reply = read_message(self.results)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            code = self.proc.wait()
            raise WorkerDiedError(
                f"the worker process running the step died (exit code {code})", field="step"
            )
        status, value = cloudpickle.loads(reply)
        if status == "error":
            raise rebuilt_error(*value)
        outcome: StepOutcome = value
        return outcome

    def terminate(self) -> None:
        """SIGTERM: the step it runs ends as on Ctrl-C (its run ``killed``), then the worker."""
        if self.alive():
            self.proc.terminate()

    def end_within(self, seconds: float) -> None:
        import subprocess

        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        try:
            self.tasks.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.results.close()


def rebuilt_error(pickled: bytes | None, stand_in: StepError) -> BaseException:
    """A worker's step error as itself when its pickle loads here, else its stand-in (which
    names the original's type): never an error of the unpickling in its place."""
    import cloudpickle

    if pickled is not None:
        try:
            exc = cloudpickle.loads(pickled)
        except Exception:
            return stand_in
        if isinstance(exc, BaseException):
            return exc
    return stand_in


class RayExecutor:
    """Steps run as Ray tasks: on the cluster at SETPOINT_RAY_ADDRESS, else on a Ray
    instance already running on this machine, else on one started here.

    ``open()`` connects in the background, and once connected has every worker import
    setpoint and open the store, while the driver goes on building the pipeline; the first
    ``submit`` waits for the connection, for SETPOINT_RAY_CONNECT_TIMEOUT seconds at most."""

    name = "ray"
    parallel = True

    def __init__(self, address: str | None = None, settings: Settings | None = None) -> None:
        self.address = address
        self.settings = settings
        self._remote: Any = None
        self._connected: threading.Event | None = None
        self._error: BaseException | None = None
        self._timeout = 0.0
        self._deadline = 0.0

    def open(self) -> RayExecutor:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise PipelineError(NEEDS_RAY, field="executor") from None
        self._timeout = connect_timeout()
        self._deadline = time.monotonic() + self._timeout
        # Connecting (or starting a local instance) overlaps with the driver's first work.
        self._connected = threading.Event()
        connecting = threading.Thread(target=self._connect, name="setpoint-ray-prepare")
        connecting.daemon = True
        connecting.start()
        return self

    def _connect(self) -> None:
        assert self._connected is not None
        try:
            ray = connect_ray(self.address, timeout=self._timeout)
            # setpoint retries steps itself (with backoff, counted in the step's run)
            self._remote = ray.remote(num_cpus=1, max_retries=0)(execute_payload)
            if self.settings is not None:
                cpus = int(ray.available_resources().get("CPU", 1))
                warm = ray.remote(num_cpus=1, max_retries=0)(warm_up)
                for _ in range(max(1, min(cpus, 16))):
                    warm.remote(self.settings)
        except BaseException as exc:
            self._error = exc
        finally:
            self._connected.set()

    def _ready(self) -> Any:
        if self._connected is not None:
            # a little beyond connect_ray's own bound, which normally answers first
            wait = self._deadline + 5.0 - time.monotonic()
            if not self._connected.wait(max(0.0, wait)):
                raise _unreachable(self.address, self._timeout)
        if isinstance(self._error, ConfigurationError):
            raise self._error
        if self._error is not None:
            raise PipelineError(f"could not connect to Ray: {self._error}", field="executor")
        assert self._remote is not None, "open() the executor first"
        return self._remote

    def submit(self, task: StepTask, loaded: dict[str, Any]) -> concurrent.futures.Future[Any]:
        data = payload(task)
        future: concurrent.futures.Future[Any] = self._ready().remote(data).future()
        return future

    def close(self) -> None:
        # Nothing to wait for: a connection still being made is left to its daemon thread,
        # so an interrupted run (Ctrl-C, SIGTERM) or a failed one ends at once.
        self._remote = None


CONNECT_TIMEOUT_S = 60.0  # starting a local instance on a small machine takes a while


def connect_timeout() -> float:
    """How long to wait for Ray: SETPOINT_RAY_CONNECT_TIMEOUT seconds, else 60."""
    raw = os.environ.get("SETPOINT_RAY_CONNECT_TIMEOUT")
    if not raw:
        return CONNECT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigurationError(
            f"SETPOINT_RAY_CONNECT_TIMEOUT must be a positive number of seconds, not {raw!r}",
            field="SETPOINT_RAY_CONNECT_TIMEOUT",
        )
    return value


def _unreachable(address: str | None, timeout: float) -> ConfigurationError:
    address = address or os.environ.get("SETPOINT_RAY_ADDRESS") or None
    if address is None:
        return ConfigurationError(
            f"Ray did not start on this machine within {timeout:g} s: check `ray status`, or "
            "raise SETPOINT_RAY_CONNECT_TIMEOUT",
            field="SETPOINT_RAY_CONNECT_TIMEOUT",
        )
    return ConfigurationError(
        f"could not connect to Ray at {address!r} within {timeout:g} s: check that "
        "SETPOINT_RAY_ADDRESS names the head node of a running Ray cluster (host:port, as "
        "`ray start --head` prints it) and that this machine can reach it",
        field="SETPOINT_RAY_ADDRESS",
    )


class _Connecting:
    """One ``ray.init`` under way, in a daemon thread of its own: a caller waits for it for
    as long as it may, and a connection that never comes is abandoned (the process can still
    exit), not waited for."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        import ray

        try:
            ray.init(
                address=self.address,
                include_dashboard=False,
                configure_logging=False,
                log_to_driver=True,
            )
        except BaseException as exc:
            self.error = exc
        finally:
            with _CONNECTING_LOCK:
                global _CONNECTING
                if _CONNECTING is self and self.error is not None:
                    _CONNECTING = None  # the next caller tries again
            self.done.set()
        if self.error is not None:
            return
        # The processes of a Ray instance started here die with the thread that started
        # them (Linux's parent-death signal follows the thread): this one stays, idle, for
        # as long as the process does.
        _FOREVER.wait()


_CONNECTING: _Connecting | None = None
_CONNECTING_LOCK = threading.Lock()
_FOREVER = threading.Event()  # never set


def connect_ray(address: str | None = None, timeout: float | None = None) -> Any:
    """The ``ray`` module, connected: to ``address``, else SETPOINT_RAY_ADDRESS, else a Ray
    instance started on this machine, else a new local one (once per process). Waits
    ``timeout`` seconds at most (default: SETPOINT_RAY_CONNECT_TIMEOUT), then raises
    :class:`ConfigurationError` naming the address."""
    global _CONNECTING
    try:
        import ray
    except ImportError:
        raise PipelineError(NEEDS_RAY, field="executor") from None
    if ray.is_initialized():
        return ray
    timeout = connect_timeout() if timeout is None else timeout
    address = address or os.environ.get("SETPOINT_RAY_ADDRESS") or None
    with _CONNECTING_LOCK:
        if ray.is_initialized():
            return ray
        attempt = _CONNECTING
        if attempt is None or attempt.done.is_set():  # (one that ended: since shut down)
            # connecting off the main thread, Ray leaves SIGTERM alone (as we want) and
            # says so in a warning nobody needs
            logging.getLogger("ray._private.worker").addFilter(_NoSigtermNotice())
            attempt = _CONNECTING = _Connecting(address)
            thread = threading.Thread(target=attempt.run, name="setpoint-ray-connect")
            thread.daemon = True
            thread.start()
    if not attempt.done.wait(timeout):
        raise _unreachable(attempt.address, timeout)
    if attempt.error is not None:
        raise attempt.error
    return ray


class _NoSigtermNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def warm_up(settings: Settings) -> None:
    """Run on a worker before its first step: the imports and the store a step needs. On
    the embedded store that is a LiteClient (client/lite.py), as for ``setpoint pipeline
    run``: starting and ending a step's run needs no SQLAlchemy, whose import would hold up
    every worker's first step."""
    from setpoint.client import materializers, sdk  # noqa: F401
    from setpoint.client.lite import open_lite_client

    if sdk._settings != settings:
        sdk.use(open_lite_client(settings) or sdk.make_client(settings), settings)


def make_executor(name: str, settings: Settings | None = None) -> Any:
    """The executor called ``name``; ``settings`` (the store steps use) lets it prepare its
    workers early."""
    if name == "inprocess":
        return InProcessExecutor()
    if name == "process":
        return ProcessExecutor()
    if name == "ray":
        return RayExecutor(settings=settings)
    raise PipelineError(
        f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS)}", field="executor"
    )


def unwrap(exc: BaseException) -> BaseException:
    """The step's own exception, out of Ray's wrapper."""
    cause = getattr(exc, "cause", None)
    if type(exc).__module__.startswith("ray.") and isinstance(cause, BaseException):
        return cause
    return exc
