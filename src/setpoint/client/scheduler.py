"""The scheduler: runs schedules' pipelines when they are due, through any client.

Each tick looks at every enabled schedule. For a cron schedule, every occurrence since the
last one claimed is due: all but the newest are recorded ``missed`` (the scheduler was not
running then), the newest is claimed and run. For a dataset schedule, a version made after
the schedule and not yet claimed is run; for an alert schedule, the newest alert of its
monitor raised since the schedule was added, unless claimed already. Claims are rows with a unique key in the store, so a
restarted scheduler, or two schedulers, never run one occurrence twice.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import orjson

from setpoint.core.cron import parse_cron
from setpoint.core.errors import DatasetNotFoundError, InvalidArgumentError, NotFoundError
from setpoint.core.types import Schedule

MAX_CATCH_UP = 1000  # missed occurrences recorded per schedule and tick, newest kept
Runner = Callable[[Schedule], str]


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


def tick(client: Any, now_ms: int, who: str, runner: Runner) -> list[dict[str, Any]]:
    """One pass over the schedules; returns what this scheduler did."""
    done: list[dict[str, Any]] = []
    for s in client.list_schedules():
        if not s.enabled:
            continue
        try:
            _tick_one(client, s, now_ms, who, runner, done)
        except (InvalidArgumentError, NotFoundError) as exc:
            # this schedule's own fault (a cron stored before such were refused, say): the
            # others still run
            done.append(
                {"schedule": s.name, "occurrence": "-", "status": "skipped", "error": exc.message}
            )
    return done


def _tick_one(
    client: Any, s: Schedule, now_ms: int, who: str, runner: Runner, done: list[dict[str, Any]]
) -> None:
    """Run (or record as missed) what one schedule has due."""
    if s.cron is not None:
        start = s.last_due_at if s.last_due_at is not None else s.created_at
        times = due(s.cron, start, now_ms)
        for t in times[:-1]:
            name = occurrence_name(t)
            if client.claim_occurrence(s.name, name, t, s.project, "missed", who):
                done.append({"schedule": s.name, "occurrence": name, "status": "missed"})
        if times:
            _run(client, s, occurrence_name(times[-1]), times[-1], who, runner, done)
    elif s.dataset is not None:
        project, name = s.dataset.split("/", 1)
        try:
            v = client.get_dataset_version(name, project, None)
        except DatasetNotFoundError:
            return  # not made yet: nothing to wait for but its first version
        if v.created_at > s.created_at:
            _run(client, s, v.ref, v.created_at, who, runner, done)
    elif s.alert is not None:
        monitor = None if s.alert == "*" else s.alert
        alerts = client.list_alerts(s.project, monitor, s.created_at - 1, 1)
        if alerts:  # the newest: one run answers every alert raised since the last one
            a = alerts[0]
            _run(client, s, f"alert:{a.monitor}#{a.id}", a.created_at, who, runner, done)


def _run(
    client: Any,
    s: Schedule,
    occurrence: str,
    due_at: int,
    who: str,
    runner: Runner,
    done: list[dict[str, Any]],
) -> None:
    if not client.claim_occurrence(s.name, occurrence, due_at, s.project, "running", who):
        return  # another scheduler has it, or it ran already
    try:
        run_id = runner(s)
    except Exception as exc:
        failed = getattr(exc, "setpoint_step_failure", None)  # a step raised (in process)
        if isinstance(exc, RunFailed):
            error, failed_run = str(exc), exc.run_id
        elif failed is not None:
            error, failed_run = f"{type(exc).__name__}: {exc} (step {failed.step!r})", failed.run_id
        else:
            error, failed_run = f"{type(exc).__name__}: {exc}", None
        client.finish_occurrence(s.name, occurrence, "failed", s.project, failed_run, error)
        done.append(
            {
                "schedule": s.name,
                "occurrence": occurrence,
                "status": "failed",
                "error": error,
                "run_id": failed_run,
            }
        )
        return
    client.finish_occurrence(s.name, occurrence, "succeeded", s.project, run_id, None)
    done.append(
        {"schedule": s.name, "occurrence": occurrence, "status": "succeeded", "run_id": run_id}
    )


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
    import tempfile

    with tempfile.TemporaryDirectory(prefix="setpoint-scheduled-") as tmp:
        result = os.path.join(tmp, "result.json")
        command = [sys.executable, "-m", "setpoint", "pipeline", "run", s.target]
        command += ["--project", s.project, "--params-json", orjson.dumps(s.params).decode()]
        command += ["--result-file", result]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=dict(os.environ), timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the pipeline ran longer than {timeout:.0f} s") from None
        if done.returncode != 0:
            found = None
            if os.path.exists(result):
                with open(result, "rb") as fh:
                    found = orjson.loads(fh.read())
            if found is not None and "error" in found:  # a step raised: its error and its run
                raise RunFailed(
                    f"{found['error']} (step {found['failed_step']!r})", str(found["run_id"])
                )
            if found is not None:  # it finished and wrote its result, then exited badly
                return str(found["run_id"])
            lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
            # the command's own error line (what the pipeline printed comes before it)
            said = [ln for ln in lines if ln.lower().startswith("error")]
            raise RunFailed((said or lines or [f"exit status {done.returncode}"])[-1], None)
        with open(result, "rb") as fh:
            return str(orjson.loads(fh.read())["run_id"])
