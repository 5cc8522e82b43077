"""The scheduler: runs schedules' pipelines when they are due, through any client.

Each tick looks at every enabled schedule. For a cron schedule, every occurrence since the
last one claimed is due: all but the newest are recorded ``missed`` (the scheduler was not
running then), the newest is claimed and run. For a dataset schedule, a version made after
the schedule and not yet claimed is run; for an alert schedule, the newest alert of its
monitor raised since the schedule was added, unless claimed already. Claims are rows with a
unique key in the store, so a restarted scheduler, or two schedulers, never run one occurrence
twice. A scheduler that is stopped records the occurrence it was running as failed; one that
was killed leaves it ``running``, which :func:`reconcile` (or, after a day, the next claim)
records as failed; on Linux its pipeline process gets SIGTERM when it dies, and ends its runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson

from setpoint.core.cron import parse_cron
from setpoint.core.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetNotFoundError,
    NotFoundError,
    RemoteError,
    SchemaOutOfDateError,
    SetpointError,
    StoreBusyError,
    StoreUnavailableError,
)
from setpoint.core.types import Schedule
from setpoint.pipelines.schedules import STOPPED

MAX_CATCH_UP = 1000  # missed occurrences recorded per schedule and tick, newest kept
Runner = Callable[[Schedule], str]
Report = Callable[[dict[str, Any]], None]
STOP_GRACE_S = 10.0  # a stopped scheduler's pipeline process gets this long to end its runs


CATCH_UP_WINDOW_MS = 7 * 24 * 3600 * 1000  # occurrences older than a week are not recorded


def due(cron: str, after_ms: int, now_ms: int) -> list[int]:
    """Occurrences of ``cron`` in (after_ms, now_ms], the newest MAX_CATCH_UP + 1 of them, and
    none older than a week (a scheduler down for a year must not walk the whole year)."""
    expr = parse_cron(cron)
    out: list[int] = []
    t = max(after_ms, now_ms - CATCH_UP_WINDOW_MS)
    while True:
        t = expr.next_after(t)
        if t > now_ms:
            return out
        out.append(t)
        if len(out) > MAX_CATCH_UP + 1:
            del out[0]


def occurrence_name(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


# errors that are not one schedule's but the store's (or this scheduler's settings): they end
# the pass, and the next pass tries again
PASS_ERRORS: tuple[type[SetpointError], ...] = (
    StoreBusyError,
    StoreUnavailableError,
    SchemaOutOfDateError,
    RemoteError,
    AuthenticationError,
    ConfigurationError,
)
# errors of the store that a moment may cure: recording an occurrence's result is retried
TRANSIENT_ERRORS: tuple[type[SetpointError], ...] = (
    StoreBusyError,
    StoreUnavailableError,
    RemoteError,
)
RECORD_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # recording a result: attempts after the first


def tick(
    client: Any,
    now_ms: int,
    who: str,
    runner: Runner,
    report: Report | None = None,
    *,
    unfinished: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One pass over the schedules; returns what this scheduler did, and hands each line to
    ``report`` as soon as it is known (an occurrence when its run ends).

    ``unfinished``: results this scheduler could not record (the store was
    busy), kept between passes and recorded first."""
    done = _Done(report)
    if unfinished:
        _record_unfinished(client, unfinished, done)
    for s in client.list_schedules():
        if not s.enabled:
            continue
        try:
            _tick_one(client, s, now_ms, who, runner, done, unfinished)
        except PASS_ERRORS:
            raise  # the store's, not this schedule's: the pass ends, the next one tries again
        except SetpointError as exc:
            # this schedule's own fault (a cron stored before such were refused, a role the
            # scheduler lacks in its project, ...): the others still run
            done.append(
                {"schedule": s.name, "occurrence": "-", "status": "skipped", "error": exc.message}
            )
    return done


class _Done(list[dict[str, Any]]):
    """What a pass did, each line reported as it is added."""

    def __init__(self, report: Report | None) -> None:
        super().__init__()
        self.report = report

    def append(self, item: dict[str, Any]) -> None:
        super().append(item)
        if self.report is not None:
            self.report(item)


def _tick_one(
    client: Any,
    s: Schedule,
    now_ms: int,
    who: str,
    runner: Runner,
    done: list[dict[str, Any]],
    unfinished: list[dict[str, Any]] | None = None,
) -> None:
    """Run (or record as missed) what one schedule has due."""
    run = functools.partial(_run, unfinished=unfinished)
    if s.cron is not None:
        # created_at: when the schedule was added, or added again after its removal (the time
        # it was removed is not caught up)
        start = max(s.created_at, s.last_due_at or 0)
        times = due(s.cron, start, now_ms)
        # the store records an occurrence missed only once the next one is due by its clock;
        # the newest missed goes first, so when the newest occurrence is not due yet (this
        # machine's clock is fast) the whole batch is refused before anything is recorded
        missed = set()
        for t in [*times[-2:-1], *times[:-2]]:
            if client.claim_occurrence(s.name, occurrence_name(t), t, s.project, "missed", who):
                missed.add(t)
        for t in times[:-1]:
            if t in missed:
                done.append(
                    {"schedule": s.name, "occurrence": occurrence_name(t), "status": "missed"}
                )
        if times:
            run(client, s, occurrence_name(times[-1]), times[-1], who, runner, done)
    elif s.dataset is not None:
        project, name = s.dataset.split("/", 1)
        try:
            v = client.get_dataset_version(name, project, None)
        except DatasetNotFoundError:
            return  # not made yet: nothing to wait for but its first version
        if v.created_at > s.created_at:
            run(client, s, v.ref, v.created_at, who, runner, done)
    elif s.alert is not None:
        monitor = None if s.alert == "*" else s.alert
        alerts = client.list_alerts(s.project, monitor, s.created_at - 1, 1)
        if alerts:  # the newest: one run answers every alert raised since the last one
            a = alerts[0]
            run(client, s, f"alert:{a.monitor}#{a.id}", a.created_at, who, runner, done)


def _run(
    client: Any,
    s: Schedule,
    occurrence: str,
    due_at: int,
    who: str,
    runner: Runner,
    done: list[dict[str, Any]],
    *,
    unfinished: list[dict[str, Any]] | None = None,
) -> None:
    if not client.claim_occurrence(s.name, occurrence, due_at, s.project, "running", who):
        return  # another scheduler has it, or it ran already
    try:
        run_id = runner(s)
    except (SchedulerStopped, KeyboardInterrupt) as exc:
        # the scheduler is stopping: its run is stopped too, and the occurrence says so (with
        # the pipeline run, when it started: the one to resume)
        how = exc.signal if isinstance(exc, SchedulerStopped) else "SIGINT"
        error = f"{STOPPED} ({how}) while the pipeline ran"
        stopped_run = getattr(exc, "setpoint_run_id", None)
        client.finish_occurrence(s.name, occurrence, "failed", s.project, stopped_run, error)
        raise
    except Exception as exc:
        failed = getattr(exc, "setpoint_step_failure", None)  # a step raised (in process)
        if isinstance(exc, RunFailed):
            error, failed_run = str(exc), exc.run_id
        elif failed is not None:
            error, failed_run = f"{type(exc).__name__}: {exc} (step {failed.step!r})", failed.run_id
        else:
            error, failed_run = f"{type(exc).__name__}: {exc}", None
        outcome = {"status": "failed", "run_id": failed_run, "error": error}
    else:
        outcome = {"status": "succeeded", "run_id": run_id}
    line = {"schedule": s.name, "occurrence": occurrence, **outcome}
    record = {"project": s.project, "schedule": s.name, "occurrence": occurrence, **outcome}
    try:
        _record(client, record)
    except NotFoundError as exc:
        # no longer running: recorded failed meanwhile by a scheduler that took this one for
        # gone (and the store keeps that), or the schedule is gone; the run is still said
        line["error"] = _joined(line.get("error"), f"its result was not recorded: {exc.message}")
    except TRANSIENT_ERRORS as exc:
        if unfinished is None:
            raise
        unfinished.append(record)  # recorded on the next pass
        line["error"] = _joined(
            line.get("error"), f"its result is not recorded yet ({exc.message.splitlines()[0]})"
        )
    done.append(line)


def _joined(first: str | None, second: str) -> str:
    return second if not first else f"{first.splitlines()[0]}; {second}"


def _record(client: Any, record: dict[str, Any]) -> None:
    """Record an occurrence's result, retrying a while when the store is busy or restarting:
    a result lost leaves the occurrence running, and its run unknown, for a day."""
    for delay in (*RECORD_RETRY_DELAYS_S, None):
        try:
            client.finish_occurrence(
                record["schedule"],
                record["occurrence"],
                record["status"],
                record["project"],
                record.get("run_id"),
                record.get("error"),
            )
            return
        except TRANSIENT_ERRORS:
            if delay is None:
                raise
            time.sleep(delay)


def _record_unfinished(
    client: Any, unfinished: list[dict[str, Any]], done: list[dict[str, Any]]
) -> None:
    """Record the results an earlier pass could not; those the store still cannot take wait
    for the next pass (a store error ends this one); one it refuses (the occurrence is no
    longer running, the scheduler lost its role) is said and dropped."""
    for record in list(unfinished):
        error: str | None = None
        try:
            _record(client, record)
        except PASS_ERRORS:
            raise
        except SetpointError as exc:
            error = f"its result was not recorded: {exc.message.splitlines()[0]}"
        unfinished.remove(record)
        line = {
            "schedule": record["schedule"],
            "occurrence": record["occurrence"],
            "status": record["status"],
            "run_id": record.get("run_id"),
            "note": "its result recorded now",
        }
        if error is not None:
            line["error"] = error
        done.append(line)


class SchedulerStopped(BaseException):
    """Raised in the scheduler by SIGTERM (see :func:`stop_on_signals`): like
    KeyboardInterrupt, it is not an error of the pipeline, and ends the pass."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal = signal_name


def stop_on_signals() -> Callable[[], None]:
    """Make SIGTERM raise :class:`SchedulerStopped` (SIGINT raises KeyboardInterrupt) in this,
    the main, thread, once; returns what puts the previous handler back."""
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the stop itself must finish
        raise SchedulerStopped(signal.Signals(signum).name)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    signal.signal(signal.SIGTERM, stop)
    return restore


def claimant(host: str) -> str:
    """What this scheduler process signs its claims with: ``host:PID@SPACE#TOKEN``. SPACE
    names the machine's boot and the PID namespace (on Linux; empty elsewhere): a pid means
    one process only within them, so two containers with one hostname do not take each
    other's schedulers for their own. The token is new in each process, so a claim of an
    earlier process that had this pid (a scheduler that exec'd again) is told from this
    one's."""
    return f"{host}:{os.getpid()}@{_pid_space()}#{_process_token()}"


@functools.cache
def _process_token() -> str:
    return secrets.token_hex(4)


@functools.cache
def _pid_space() -> str:
    """This process's boot and PID namespace, as 8 hex digits; "" where they cannot be read
    (not Linux)."""
    import hashlib

    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.blake2b(f"{boot} {namespace}".encode(), digest_size=4).hexdigest()


def reconcile(
    client: Any, host: str, alive: Callable[[int], bool] | None = None, me: str | None = None
) -> list[dict[str, Any]]:
    """Record as failed the occurrences left ``running`` by a scheduler of this host, boot
    and PID namespace that is gone (claimed by ``host:PID@SPACE`` with no process PID any
    more, or with this process's pid but not by this process, ``me``): it was killed, so
    nothing runs them. Those of schedulers elsewhere (another host, another container with
    this hostname, a claim of an earlier version) are failed by the next claim of their
    schedule a day on (Schedules.claim), since their processes cannot be seen from here."""
    alive = alive or pid_alive
    me = me or claimant(host)
    _, _, mine = me.rpartition(":")
    my_space = mine.partition("#")[0].partition("@")[2]
    done: list[dict[str, Any]] = []
    for s in client.list_schedules():
        for o in client.list_occurrences(s.name, s.project, RECONCILE_NEWEST):
            owner, _, signed = (o.claimed_by or "").rpartition(":")
            pid, at, space = signed.partition("#")[0].partition("@")
            if o.status != "running" or owner != host or not pid.isdigit():
                continue
            if not at or space != my_space:
                continue  # another PID namespace (or an unsigned claim): its pid says nothing
            if o.claimed_by == me:
                continue  # this process's own claim
            if int(pid) != os.getpid() and alive(int(pid)):
                continue
            # (this pid, another token: an earlier process of this namespace with this pid
            # claimed it, and that one is gone)
            error = f"{STOPPED} (process {pid} on {host} is gone)"
            # the pipeline run it started, if it got that far: the one to resume
            run_id, folder = _left_results(pid, signed.partition("#")[2])
            try:
                client.finish_occurrence(s.name, o.occurrence, "failed", s.project, run_id, error)
            except NotFoundError:  # it finished meanwhile
                _remove(folder)
                continue
            _remove(folder)  # (kept while not recorded: the next reconcile reads it again)
            done.append(
                {
                    "schedule": s.name,
                    "occurrence": o.occurrence,
                    "status": "failed",
                    "run_id": run_id,
                    "error": error,
                }
            )
    return done


RECONCILE_NEWEST = 100  # occurrences looked at per schedule (a killed scheduler's are newest)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's
        return True
    return True


RUN_TIMEOUT_S = 24 * 3600.0


class RunFailed(Exception):
    """A scheduled pipeline run that failed: what the step raised, and the pipeline run it
    stopped in (to resume), when it got that far."""

    def __init__(self, message: str, run_id: str | None) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_in_subprocess(s: Schedule, timeout: float = RUN_TIMEOUT_S) -> str:
    """Run the schedule's pipeline as ``setpoint pipeline run`` in a process of its own (a
    failing, hanging or leaking pipeline cannot take the scheduler with it); the parameters
    go as one JSON object and the run id comes back in a file, so nothing the pipeline prints
    can be mistaken for either."""
    folder = _results_folder()
    try:
        result = os.path.join(folder, "result.json")
        command = [sys.executable, "-m", "setpoint", "pipeline", "run", s.target]
        command += ["--project", s.project, "--params-json", orjson.dumps(s.params).decode()]
        command += ["--result-file", result]
        if s.workdir is not None and not os.path.isdir(s.workdir):
            raise RuntimeError(
                f"the folder the schedule was added in, {s.workdir}, is not there: its runs "
                "start in it (add the schedule again from where its pipeline runs)"
            )
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
            cwd=s.workdir,  # where it was added: relative paths mean what they did there
            preexec_fn=_tie_to_this_process(),
        ) as proc:
            try:
                _, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop(proc)
                raise RuntimeError(f"the pipeline ran longer than {timeout:.0f} s") from None
            # the scheduler is stopping (SIGTERM, Ctrl-C): so is its run
            except BaseException as exc:
                _stop(proc)
                found = _result(result)
                if found is not None:  # the pipeline run it stopped: the one to resume
                    exc.setpoint_run_id = str(found["run_id"])  # type: ignore[attr-defined]
                raise
        found = _result(result)
        if proc.returncode != 0:
            if found is not None and "error" in found:  # a step raised: its error and its run
                raise RunFailed(
                    f"{found['error']} (step {found['failed_step']!r})", str(found["run_id"])
                )
            if found is not None and found.get("status") != "running":
                return str(found["run_id"])  # it finished and wrote its result, then exited badly
            lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
            # the command's own error line (what the pipeline printed comes before it)
            said = [ln for ln in lines if ln.lower().startswith("error")]
            why = (said or lines or [f"exit status {proc.returncode}"])[-1]
            # a pipeline run that started and did not finish: it is the one to resume
            raise RunFailed(why, None if found is None else str(found["run_id"]))
        if found is None:
            raise RunFailed("the pipeline wrote no result", None)
        return str(found["run_id"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _results_folder() -> str:
    """A new folder for a pipeline run's result file: named after this scheduler process
    (see :func:`_left_results`), unless one of that name is there already."""
    try:
        folder = _named_results_folder(str(os.getpid()), _process_token())
        os.mkdir(folder, 0o700)
        return folder
    except FileExistsError:  # (a second run at once in this process, or not of ours)
        return tempfile.mkdtemp(prefix="setpoint-scheduled-")


def _named_results_folder(pid: str, token: str) -> str:
    return os.path.join(tempfile.gettempdir(), f"setpoint-scheduled-{pid}-{token}")


def _left_results(pid: str, token: str) -> tuple[str | None, str | None]:
    """(the pipeline run, the folder) that scheduler process ``pid`` (claims signed with
    ``token``) left when it was killed: its pipeline had written the run's id into the
    folder's result file as the run started. (None, None) where it left none, or the folder
    is not one this user made."""
    if not (pid.isdigit() and _TOKEN.fullmatch(token)):  # a claim's text, as stored: only
        return None, None  # what this module signs with names a folder (no "/", no "..")
    folder = _named_results_folder(pid, token)
    try:
        found = os.lstat(folder)
    except OSError:
        return None, None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        return None, None
    result = _result(os.path.join(folder, "result.json"))
    return (None if result is None else str(result["run_id"])), folder


_TOKEN = re.compile(r"[0-9a-f]{8}")  # what _process_token makes


def _remove(folder: str | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _result(path: str) -> dict[str, Any] | None:
    """What `pipeline run --result-file` wrote: the run id once the pipeline run started
    (``status: running``), the result or the step's error once it ended; None before."""
    try:
        with open(path, "rb") as fh:
            found = orjson.loads(fh.read())
    except (OSError, orjson.JSONDecodeError):
        return None
    return found if isinstance(found, dict) and "run_id" in found else None


def _tie_to_this_process() -> Callable[[], None] | None:
    """On Linux, what makes a pipeline process get SIGTERM when the scheduler dies, even by
    SIGKILL, so that it ends its runs as a stopped scheduler's would: a killed scheduler
    leaves no pipeline running (and promoting) that a restarted one has recorded failed.
    Elsewhere None: nothing ties them."""
    from setpoint.core.libc import parent_death_tie

    tie = parent_death_tie(os.getpid())
    if tie is None:
        return None

    def in_child() -> None:  # between fork and exec
        if not tie():  # the scheduler died before the tie was made
            os._exit(1)

    return in_child


def _stop(proc: subprocess.Popen[str]) -> None:
    """End a pipeline process: SIGTERM, so it can end its runs, then SIGKILL."""
    proc.terminate()
    try:
        proc.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
