"""Schedules and the scheduler: due occurrences run once, missed ones are recorded."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import setpoint as sp
from conftest import run_cli
from setpoint.client.scheduler import RunFailed, run_in_subprocess, tick
from setpoint.core.errors import ConflictError, InvalidArgumentError, NotFoundError

MINUTE = 60_000


@pytest.fixture
def time_travel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test runs the scheduler at times ahead of the real clock (minutes or days on,
    without waiting for them): the database's clock, which claims are checked against, is
    as far ahead."""
    from setpoint.pipelines import schedules

    monkeypatch.setattr(schedules, "database_now_ms", lambda conn: 2**61)


def _recorder(calls: list[str], fail: bool = False, delay: float = 0.0) -> Any:
    def runner(s: Any) -> str:
        time.sleep(delay)
        calls.append(s.name)
        if fail:
            raise RuntimeError("the pipeline broke")
        return f"run-{len(calls)}"

    return runner


def test_schedules_are_stored_checked_and_disabled(client: Any) -> None:
    s = client.add_schedule("nightly", "p.py:retrain", "fraud", {"month": "latest"}, "0 3 * * *")
    assert (s.cron, s.dataset, s.enabled, s.params) == (
        "0 3 * * *",
        None,
        True,
        {"month": "latest"},
    )
    with pytest.raises(ConflictError):
        client.add_schedule("nightly", "p.py:retrain", "fraud", None, "0 4 * * *")
    with pytest.raises(InvalidArgumentError, match="minute field"):
        client.add_schedule("bad", "p.py:retrain", "fraud", None, "99 * * * *")
    with pytest.raises(InvalidArgumentError, match="one trigger: a cron expression, a dataset"):
        client.add_schedule("both", "p.py:retrain", "fraud", None, "0 3 * * *", "fraud/tx")
    with pytest.raises(InvalidArgumentError, match="target"):
        client.add_schedule("t", "no-colon", "fraud", None, "0 3 * * *")
    client.remove_schedule("nightly", "fraud")
    assert [x.enabled for x in client.list_schedules("fraud")] == [False]
    with pytest.raises(NotFoundError):
        client.remove_schedule("nope", "fraud")


def test_due_occurrences_run_once_and_missed_ones_are_recorded(
    client: Any, time_travel: None
) -> None:
    s = client.add_schedule("every5", "p.py:retrain", "fraud", None, "*/5 * * * *")
    base = s.created_at - s.created_at % (5 * MINUTE)  # the 5-minute mark before creation
    calls: list[str] = []
    runner = _recorder(calls)
    # 16 minutes later three marks have passed: two are missed, the newest runs
    done = tick(client, base + 16 * MINUTE, "a", runner)
    assert [d["status"] for d in done] == ["missed", "missed", "succeeded"] and calls == ["every5"]
    assert tick(client, base + 16 * MINUTE, "a", runner) == []  # nothing new: nothing runs
    done = tick(client, base + 21 * MINUTE, "a", runner)
    assert [d["status"] for d in done] == ["succeeded"] and len(calls) == 2
    history = client.list_occurrences("every5", "fraud")
    assert [o.status for o in history] == ["succeeded", "succeeded", "missed", "missed"]
    assert history[0].run_id == "run-2" and history[0].claimed_by == "a"


def test_a_schedule_that_cannot_run_does_not_stop_the_others(
    client: Any, monkeypatch: pytest.MonkeyPatch, time_travel: None
) -> None:
    from setpoint.client import scheduler

    with pytest.raises(InvalidArgumentError, match="never fires"):
        client.add_schedule("feb30", "p.py:retrain", "fraud", None, "0 0 30 2 *")
    good = client.add_schedule("good", "p.py:retrain", "fraud", None, "*/5 * * * *")
    client.add_schedule("stale", "p.py:retrain", "fraud", None, "1 2 3 4 *")
    real_due = scheduler.due

    def due(cron: str, after_ms: int, now_ms: int) -> list[int]:
        if cron == "1 2 3 4 *":  # as a cron stored before such were refused would
            raise InvalidArgumentError(f"cron {cron!r} never fires", field="cron")
        return real_due(cron, after_ms, now_ms)

    monkeypatch.setattr(scheduler, "due", due)
    calls: list[str] = []
    done = tick(client, good.created_at + 6 * MINUTE, "a", _recorder(calls))
    assert {d["schedule"]: d["status"] for d in done} == {"good": "succeeded", "stale": "skipped"}
    assert calls == ["good"]


def test_two_schedulers_never_run_one_occurrence_twice(
    client: Any, mode: str, time_travel: None
) -> None:
    if mode == "remote":
        pytest.skip("the store-side claim is what is under test")
    client.add_schedule("minutely", "p.py:retrain", "fraud", None, "* * * * *")
    s = client.list_schedules("fraud")[0]
    calls: list[str] = []
    runner = _recorder(calls, delay=0.05)
    barrier = threading.Barrier(3)

    def scheduler(who: str) -> None:
        for k in range(1, 4):
            barrier.wait()
            tick(client, s.created_at + k * MINUTE + 1, who, runner)

    threads = [threading.Thread(target=scheduler, args=(w,)) for w in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = [o for o in client.list_occurrences("minutely", "fraud") if o.status == "succeeded"]
    assert len(calls) == len(runs) == len({o.occurrence for o in runs}) == 3


def test_alerts_run_the_schedules_on_their_monitor_once_each(client: Any) -> None:
    client.add_schedule("on-drift", "p.py:retrain", "fraud", None, None, None, None, "live")
    client.add_schedule("on-any", "p.py:retrain", "fraud", None, None, None, None, "*")
    calls: list[str] = []
    runner = _recorder(calls)
    assert tick(client, 0, "a", runner) == []  # no alert yet
    client.raise_alert("shadow", "prediction rate fell", "fraud")
    assert [d["schedule"] for d in tick(client, 0, "a", runner)] == ["on-any"]
    client.raise_alert("live", "amount drifted", "fraud", "critical", {"feature": "amount"})
    newest = client.raise_alert("live", "amount drifted more", "fraud")
    done = tick(client, 0, "a", runner)
    assert sorted(d["schedule"] for d in done) == ["on-any", "on-drift"]  # once each
    assert tick(client, 0, "a", runner) == []
    history = client.list_occurrences("on-drift", "fraud")
    assert [o.occurrence for o in history] == [f"alert:live#{newest.id}"]
    alerts = client.list_alerts("fraud", "live")
    assert [a.message for a in alerts] == ["amount drifted more", "amount drifted"]
    assert alerts[1].severity == "critical" and alerts[1].details == {"feature": "amount"}
    with pytest.raises(InvalidArgumentError, match="severity must be one of warning, critical"):
        client.raise_alert("live", "x", "fraud", "panic")
    with pytest.raises(InvalidArgumentError, match="message must be text"):
        client.raise_alert("live", " ", "fraud")
    with pytest.raises(InvalidArgumentError):
        client.raise_alert("no spaces allowed", "x", "fraud")
    with pytest.raises(InvalidArgumentError, match="one trigger"):
        client.add_schedule("two", "p.py:r", "fraud", None, "0 3 * * *", None, None, "live")


def test_a_failing_pipeline_is_recorded_and_a_dataset_schedule_fires_on_new_versions(
    client: Any,
) -> None:
    sp.log_dataset(pd.DataFrame({"a": [1]}), name="tx", project="fraud")
    client.add_schedule("on-data", "p.py:retrain", "fraud", None, None, "fraud/tx")
    calls: list[str] = []
    now = int(time.time() * 1000) + MINUTE
    assert tick(client, now, "a", _recorder(calls)) == []  # the version predates the schedule
    time.sleep(0.01)
    sp.log_dataset(pd.DataFrame({"a": [2]}), name="tx", project="fraud")
    done = tick(client, now, "a", _recorder(calls, fail=True))
    assert done[0]["status"] == "failed" and "the pipeline broke" in done[0]["error"]
    assert tick(client, now, "a", _recorder(calls)) == []  # that version was handled
    [o] = client.list_occurrences("on-data", "fraud")
    assert (o.occurrence, o.status) == ("fraud/tx@2", "failed")
    assert o.error == "RuntimeError: the pipeline broke"


def test_the_scheduler_runs_the_pipeline_as_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client.local import LocalClient
    from setpoint.core.config import Settings

    pipe = tmp_path / "nightly.py"
    pipe.write_text(
        textwrap.dedent(
            """
            import setpoint as sp

            @sp.step
            def count(month: str, n: int, note: str | None = None) -> dict:
                print("a pipeline that talks on stdout")
                return {"month": month, "n": n, "note": note}

            @sp.pipeline(project="sched")
            def nightly(month: str, n: int = 1, note: str | None = None):
                count(month, n, note)

            @sp.step
            def check(month: str) -> dict:
                raise RuntimeError(f"no data for {month}")

            @sp.pipeline(project="sched")
            def broken(month: str):
                check(month)

            @sp.step(cache=False)
            def read_note(path: str) -> dict:
                with open(path) as fh:
                    return {"note": fh.read()}

            @sp.pipeline(project="sched")
            def noted(path: str = "data/note.txt"):
                read_note(path)
            """
        )
    )
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    add = subprocess.run(
        [
            sys.executable,
            "-m",
            "setpoint",
            "schedule",
            "add",
            "nightly.py:nightly",  # relative: stored absolute
            "--cron",
            "* * * * *",
            "--param",
            "month=2026-11",
            "--param",
            "n=3",
            "--param",
            'note="hi"',
            "-p",
            "sched",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert add.returncode == 0, add.stderr
    # a schedule whose every occurrence would fail (no month, which has no default) is refused
    missing = subprocess.run(
        [
            *(sys.executable, "-m", "setpoint", "schedule", "add", "nightly.py:nightly"),
            *("--cron", "* * * * *", "--name", "other", "-p", "sched"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missing.returncode == 2, missing.stderr
    assert "no default for month: give --param month=VALUE" in missing.stderr
    for interval in ("inf", "nan", "0", "1e300"):  # time.sleep used to fail on these
        bad = subprocess.run(
            [sys.executable, "-m", "setpoint", "scheduler", "--interval", interval],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2 and "--interval" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
    client = LocalClient(Settings.from_env({"SETPOINT_HOME": str(tmp_path / "home")})).open()
    try:
        [s] = client.list_schedules("sched")
        assert s.target == f"{pipe}:nightly"  # stored absolute: a scheduler runs anywhere
        monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
        monkeypatch.chdir(Path(os.sep))
        run_id = run_in_subprocess(s)
        params = client.get_run(run_id).params
        assert {k: json.loads(v) for k, v in params.items()} == {
            "month": "2026-11",
            "n": 3,
            "note": "hi",
        }
        # a step that raises: its own error, and the run to resume (the history kept only
        # the resume hint's line, and no run)
        client.add_schedule("broken", f"{pipe}:broken", "sched", {"month": "2026-13"}, "* * * * *")
        broken = next(x for x in client.list_schedules("sched") if x.name == "broken")
        with pytest.raises(RunFailed) as failed:
            run_in_subprocess(broken)
        assert str(failed.value) == "RuntimeError: no data for 2026-13 (step 'check')"
        assert client.get_run(str(failed.value.run_id)).status == "failed"
        # its runs start in the folder it was added in: a relative path in the pipeline
        # means what it meant there, wherever the scheduler runs
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "note.txt").write_text("kept")
        added = subprocess.run(
            [
                *(sys.executable, "-m", "setpoint", "schedule", "add", "nightly.py:noted"),
                *("--cron", "* * * * *", "-p", "sched"),
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert added.returncode == 0, added.stderr
        noted = next(x for x in client.list_schedules("sched") if x.name == "noted")
        assert noted.workdir == str(tmp_path)
        run = client.get_run(run_in_subprocess(noted))
        assert run.status == "finished"
        with pytest.raises(InvalidArgumentError, match="absolute"):
            client.add_schedule("rel", f"{pipe}:noted", "sched", None, "0 * * * *", workdir="x")
    finally:
        client.close()


def test_bad_schedule_input_is_refused_and_long_downtime_is_cheap(client: Any) -> None:
    from setpoint.client.scheduler import due

    with pytest.raises(InvalidArgumentError, match="at most 128"):
        client.add_schedule("long", "p.py:x", "fraud", None, "* " * 70 + "*")
    with pytest.raises(InvalidArgumentError):
        client.add_schedule("params", "p.py:x", "fraud", ["abc"], "* * * * *")  # type: ignore[arg-type]
    client.add_schedule("ok", "p.py:x", "fraud", None, "* * * * *")
    kept = client.add_schedule("wd", "p.py:x", "fraud", None, "* * * * *", workdir="/srv/ml")
    assert kept.workdir == "/srv/ml"  # its runs start there
    with pytest.raises(InvalidArgumentError, match="absolute"):
        client.add_schedule("rel", "p.py:x", "fraud", None, "* * * * *", workdir="srv/ml")
    with pytest.raises(InvalidArgumentError, match="occurrence"):
        client.claim_occurrence("ok", "x" * 301, 1, "fraud")
    with pytest.raises(InvalidArgumentError, match="limit"):
        client.list_occurrences("ok", "fraud", -1)
    # a year down: only the last week is walked, the newest 1,001 occurrences kept
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    times = due("* * * * *", now - 365 * 24 * 60 * MINUTE // MINUTE * MINUTE, now)
    assert len(times) == 1001 and time.perf_counter() - t0 < 2.0


def test_a_scheduler_with_a_fast_clock_claims_nothing_early(client: Any) -> None:
    client.add_schedule("minutely", "p.py:retrain", "fraud", None, "* * * * *")
    calls: list[str] = []
    now = int(time.time() * 1000)
    ahead = now + 10 * MINUTE  # this machine's clock, ten minutes fast
    done = tick(client, ahead, "a", _recorder(calls))
    assert done[-1]["status"] == "skipped" and "clock fast?" in done[-1]["error"]
    assert calls == []  # nothing ran early, and nothing not yet due is recorded missed
    assert all(o.due_at <= now + 1000 for o in client.list_occurrences("minutely", "fraud"))
    with pytest.raises(InvalidArgumentError, match="by the database's clock") as refused:
        client.claim_occurrence("minutely", "later", ahead, "fraud", "missed")
    assert refused.value.field == "due_at"
    # a clock a few seconds off is no fault: the occurrence is claimed
    assert client.claim_occurrence("minutely", "soon", int(time.time() * 1000) + 20_000, "fraud")


def test_a_removed_schedule_is_added_again_with_its_history(client: Any) -> None:
    client.add_schedule("nightly", "p.py:retrain", "fraud", {"month": "a"}, "0 3 * * *")
    assert client.claim_occurrence("nightly", "2026-01-01T03:00Z", 1, "fraud", "missed")
    client.remove_schedule("nightly", "fraud")
    again = client.add_schedule("nightly", "q.py:retrain", "fraud", {"month": "b"}, "0 4 * * *")
    assert (again.enabled, again.target, again.cron, again.params) == (
        True,
        "q.py:retrain",
        "0 4 * * *",
        {"month": "b"},
    )
    [kept] = client.list_occurrences("nightly", "fraud")
    assert (kept.occurrence, kept.status) == ("2026-01-01T03:00Z", "missed")
    # nothing is caught up for the time it was removed: the next pass runs only what is due
    calls: list[str] = []
    assert tick(client, again.created_at + 1, "a", _recorder(calls)) == [] and calls == []
    with pytest.raises(ConflictError, match="already"):
        client.add_schedule("nightly", "q.py:retrain", "fraud", None, "0 5 * * *")


def test_the_schedules_of_a_deleted_project_do_not_fire(client: Any) -> None:
    sp.log_dataset(pd.DataFrame({"a": [1]}), name="tx", project="gone")
    client.add_schedule("on-data", "p.py:retrain", "gone", None, None, "gone/tx")
    time.sleep(0.002)  # the new version is made after the schedule, in another millisecond
    sp.log_dataset(pd.DataFrame({"a": [2]}), name="tx", project="gone")
    client.delete_project("gone")
    calls: list[str] = []
    assert tick(client, int(time.time() * 1000), "a", _recorder(calls)) == [] and calls == []
    assert [s.enabled for s in client.list_schedules("gone")] == [False]
    client.restore_project("gone")
    assert [d["status"] for d in tick(client, 0, "a", _recorder(calls))] == ["succeeded"]


def test_occurrences_left_running_by_a_killed_scheduler_are_recorded_failed(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from setpoint.client.scheduler import reconcile
    from setpoint.pipelines import schedules

    client.add_schedule("nightly", "p.py:retrain", "fraud", None, "0 3 * * *")
    space = _space("here")
    for occurrence, who in (
        ("a", f"here:101@{space}#aaaa"),
        ("b", f"here:102@{space}#bbbb"),
        ("c", f"elsewhere:101@{space}#cccc"),
    ):
        assert client.claim_occurrence("nightly", occurrence, 1, "fraud", "running", who)
    failed = reconcile(client, "here", alive=lambda pid: pid == 102)
    assert [(d["occurrence"], d["status"]) for d in failed] == [("a", "failed")]
    status = {
        o.occurrence: (o.status, o.error) for o in client.list_occurrences("nightly", "fraud")
    }
    assert status["a"] == (
        "failed",
        "the scheduler running it stopped (process 101 on here is gone)",
    )
    assert status["b"][0] == status["c"][0] == "running"  # alive; or on a host not seen from here
    # a day on, the next claim of the schedule records those failed too (their scheduler would
    # have stopped them by then)
    monkeypatch.setattr(schedules, "STALE_AFTER_MS", -1)
    assert client.claim_occurrence("nightly", "d", 2, "fraud", "running", "here:103")
    status = {
        o.occurrence: (o.status, o.error) for o in client.list_occurrences("nightly", "fraud")
    }
    assert status["b"][0] == status["c"][0] == "failed" and status["d"][0] == "running"
    assert str(status["c"][1]).startswith("the scheduler running it stopped (no result")


def test_a_stopped_scheduler_stops_its_run_and_records_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    with _scheduler_in_a_step(
        tmp_path, monkeypatch, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as (c, scheduler, child):
        scheduler.send_signal(signal.SIGTERM)
        _, err = scheduler.communicate(timeout=60)
        assert scheduler.returncode == 0 and "scheduler stopped (SIGTERM)" in err, err
        with pytest.raises(ProcessLookupError):  # the pipeline's process was stopped with it
            os.kill(child, 0)
        [o] = c.list_occurrences("slow", "sched")
        assert o.status == "failed"
        assert o.error == "the scheduler running it stopped (SIGTERM) while the pipeline ran"
        # the pipeline run it stopped, to resume from (it had none)
        assert o.run_id is not None and c.get_run(o.run_id).status in ("killed", "failed")


@contextlib.contextmanager
def _scheduler_in_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **popen: Any
) -> Iterator[tuple[Any, subprocess.Popen[Any], int]]:
    """A `setpoint scheduler` process running a dataset schedule's pipeline (project sched,
    schedule slow) whose one step has started and sleeps: (client, scheduler, step's pid)."""
    from setpoint.client import sdk

    marker = tmp_path / "started"
    (tmp_path / "slow.py").write_text(
        textwrap.dedent(
            f"""
            import os, time
            from pathlib import Path
            import setpoint as sp

            @sp.step(cache=False)
            def wait() -> int:
                Path({str(marker)!r}).write_text(str(os.getpid()))
                time.sleep(300)
                return 1

            @sp.pipeline(project="sched")
            def slow():
                wait()
            """
        )
    )
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    sdk.use(None)
    try:
        c = sdk.client()
        c.add_schedule("slow", f"{tmp_path / 'slow.py'}:slow", "sched", {}, None, "sched/tx")
        time.sleep(0.002)  # the version is made after the schedule, in another millisecond
        sp.log_dataset(pd.DataFrame({"a": [1]}), name="tx", project="sched")
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "setpoint", "scheduler", "--no-monitors"],
            env={**os.environ},
            **popen,
        )
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline and scheduler.poll() is None, scheduler.stderr
            time.sleep(0.05)
        yield c, scheduler, int(marker.read_text())
    finally:
        sdk.use(None)


def test_a_schedule_runs_in_its_pipelines_project_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from setpoint.client import sdk

    (tmp_path / "p.py").write_text(
        "import setpoint as sp\n\n@sp.step\ndef one() -> int:\n    return 1\n\n"
        "@sp.pipeline(project='fraud')\ndef retrain():\n    one()\n\n"
        "@sp.pipeline\ndef anywhere():\n    one()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SETPOINT_PROJECT", "team")
    sdk.use(None)
    try:
        code, out, err = run_cli(capsys, "schedule", "add", "p.py:retrain", "--cron", "0 3 * * *")
        assert code == 0 and "scheduled fraud/retrain" in out, err
        run_cli(
            capsys,
            "schedule",
            "add",
            "p.py:retrain",
            "--name",
            "b",
            "--cron",
            "0 3 * * *",
            "-p",
            "b",
        )
        run_cli(capsys, "schedule", "add", "p.py:anywhere", "--cron", "0 3 * * *")
        placed = {s.name: s.project for s in sdk.client().list_schedules()}
        assert placed == {"retrain": "fraud", "b": "b", "anywhere": "team"}
        # the schedule is found in its project without -p
        code, out, err = run_cli(capsys, "schedule", "remove", "retrain")
        assert code == 0 and "disabled fraud/retrain" in out, err
    finally:
        sdk.use(None)


def test_a_scheduler_with_a_clock_fast_by_more_than_the_period_records_nothing_missed(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a scheduler recorded each occurrence missed as it fell due, so none ran, even with
    a scheduler of the right time beside it."""
    from setpoint.pipelines import schedules

    s = client.add_schedule("minutely", "p.py:retrain", "fraud", None, "* * * * *")
    first = s.created_at - s.created_at % MINUTE + MINUTE  # the first occurrence
    db_now = [first + MINUTE + 30_000]  # the database's clock: first and first+1min are due
    monkeypatch.setattr(schedules, "database_now_ms", lambda conn: db_now[0])
    calls: list[str] = []
    for ahead in (90_000, 10 * MINUTE):  # fast by one and a half periods, and by ten
        done = tick(client, db_now[0] + ahead, "fast", _recorder(calls))
        assert [d["status"] for d in done] == ["skipped"] and "clock fast?" in done[0]["error"]
        assert client.list_occurrences("minutely", "fraud") == [] and calls == []
    done = tick(client, db_now[0], "right", _recorder(calls))
    assert [d["status"] for d in done] == ["missed", "succeeded"] and calls == ["minutely"]
    assert [
        (o.due_at, o.status, o.claimed_by) for o in client.list_occurrences("minutely", "fraud")
    ] == [
        (first + MINUTE, "succeeded", "right"),
        (first, "missed", "right"),
    ]
    # in the store: an occurrence is missed only once the next one is due by its clock
    with pytest.raises(InvalidArgumentError, match="is not missed: the next one is not due"):
        client.claim_occurrence("minutely", "later", first + MINUTE, "fraud", "missed", "fast")
    db_now[0] += MINUTE
    assert client.claim_occurrence("minutely", "later", first + MINUTE, "fraud", "missed", "x")


def _space(host: str) -> str:
    """The boot and PID namespace part of this process's claims (``host:PID@SPACE#TOKEN``)."""
    from setpoint.client import scheduler

    return scheduler.claimant(host).rpartition(":")[2].partition("#")[0].partition("@")[2]


def test_reconcile_reads_only_the_result_folder_a_scheduler_names(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim's token went into the folder's path unchecked: a claim signed
    `#/../../victim` made reconcile read and delete any folder of the scheduler's user. And
    a folder was removed though recording the occurrence failed (the store busy), so the
    next reconcile recorded it without its run."""
    import tempfile

    from setpoint.client import scheduler
    from setpoint.core.errors import StoreBusyError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "result.json").write_text('{"run_id": "x", "status": "running"}')
    (tmp_path / "tmp" / "setpoint-scheduled-999999-").mkdir()
    client.add_schedule("nightly", "p.py:retrain", "fraud", None, "0 3 * * *")
    space = _space("here")
    evil = f"here:999999@{space}#/../../victim"
    assert client.claim_occurrence("nightly", "a", 1, "fraud", "running", evil)
    [done] = scheduler.reconcile(client, "here", alive=lambda pid: False)
    assert done["run_id"] is None and victim.exists() and (victim / "result.json").exists()
    # a folder this module names is read, and kept until the occurrence is recorded
    run = client.create_run("fraud", "retrain", {"kind": "pipeline"})
    left = tmp_path / "tmp" / "setpoint-scheduled-999998-0123abcd"
    left.mkdir()
    (left / "result.json").write_text(f'{{"run_id": "{run.id}", "status": "running"}}')
    claim = f"here:999998@{space}#0123abcd"
    assert client.claim_occurrence("nightly", "b", 2, "fraud", "running", claim)
    busy = StoreBusyError("the store is busy")
    with monkeypatch.context() as m:
        m.setattr(client, "finish_occurrence", lambda *a, **k: (_ for _ in ()).throw(busy))
        with pytest.raises(StoreBusyError):
            scheduler.reconcile(client, "here", alive=lambda pid: False)
    assert (left / "result.json").exists()
    [done] = scheduler.reconcile(client, "here", alive=lambda pid: False)
    assert (done["occurrence"], done["run_id"]) == ("b", run.id) and not left.exists()


def test_a_restarted_scheduler_with_the_dead_ones_pid_fails_what_it_left_running(
    client: Any,
) -> None:
    """A scheduler that exec'd again (the same pid, in the same PID namespace) took the
    claims of the one before for its own, so they stayed running for a day."""
    from setpoint.client import scheduler

    client.add_schedule("nightly", "p.py:retrain", "fraud", None, "0 3 * * *")
    pid = os.getpid()
    # claims are signed host:pid@space#token, the token new in each process
    me = scheduler.claimant("here")
    space = _space("here")
    assert me.startswith(f"here:{pid}@{space}#") and scheduler.claimant("here") == me
    for occurrence, who in (("b", f"here:{pid}@{space}#0bad0bad"), ("c", me)):
        assert client.claim_occurrence("nightly", occurrence, 1, "fraud", "running", who)
    failed = scheduler.reconcile(client, "here", alive=lambda p: True)
    assert [d["occurrence"] for d in failed] == ["b"]
    status = {o.occurrence: o.status for o in client.list_occurrences("nightly", "fraud")}
    assert status == {"b": "failed", "c": "running"}  # c: this process's own


def test_a_scheduler_in_another_container_with_this_hostname_and_pid_is_not_taken_for_gone(
    client: Any, time_travel: None
) -> None:
    """Two schedulers on one hostname in separate PID namespaces (both PID 1): one recorded
    the other's running occurrence failed, and when that run succeeded its result was lost
    ("no running occurrence") and the history ended failed with no run id."""
    from setpoint.client import scheduler
    from setpoint.pipelines.schedules import STOPPED

    s = client.add_schedule("slow", "p.py:retrain", "fraud", None, "* * * * *")
    pid = os.getpid()
    other = f"here:{pid}@0000beef#1234abcd"  # this pid, in another namespace
    assert client.claim_occurrence("slow", "x", 1, "fraud", "running", other)
    assert client.claim_occurrence("slow", "y", 1, "fraud", "running", f"here:{pid}#1234abcd")
    assert scheduler.reconcile(client, "here", alive=lambda p: False) == []
    assert {o.status for o in client.list_occurrences("slow", "fraud")} == {"running"}

    # the run's scheduler finishes after another recorded its occurrence failed: the real
    # result is kept, and the run named
    run = client.create_run("fraud", "retrain", {"kind": "pipeline"})
    elsewhere = client.create_run("other", "retrain", {"kind": "pipeline"})

    def runner(schedule: Any) -> str:
        [o] = [o for o in client.list_occurrences("slow", "fraud") if o.claimed_by == "a"]
        error = f"{STOPPED} (process 1 on here is gone)"
        client.finish_occurrence("slow", o.occurrence, "failed", "fraud", None, error)
        # a run that is none of the project's pipeline runs does not rewrite it
        for made_up in ("no-such-run", elsewhere.id):
            with pytest.raises(NotFoundError):
                client.finish_occurrence("slow", o.occurrence, "succeeded", "fraud", made_up)
        return str(run.id)

    done = tick(client, s.created_at + MINUTE + 1, "a", runner)
    assert [(d["status"], d.get("run_id")) for d in done] == [("succeeded", run.id)]
    [o] = [o for o in client.list_occurrences("slow", "fraud") if o.claimed_by == "a"]
    assert (o.status, o.run_id, o.error) == ("succeeded", run.id, None)
    # without a run to name, a failed occurrence stays as it was recorded
    with pytest.raises(NotFoundError):
        client.finish_occurrence("slow", o.occurrence, "failed", "fraud", None, "again")


def _gone(pid: int) -> bool:
    """No process ``pid`` (or only its zombie, which nothing here reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_killed_scheduler_takes_its_pipeline_process_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the scheduler left its pipeline running (and promoting) while a restarted
    scheduler recorded the occurrence failed. That one then recorded it without its pipeline
    run (the one to resume), whose id stayed in a temporary folder nothing removed."""
    import signal
    import socket
    import tempfile

    from setpoint.client.scheduler import reconcile

    with _scheduler_in_a_step(
        tmp_path, monkeypatch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as (c, scheduler, child):
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(timeout=30)
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
            pytest.fail("the pipeline process outlived its scheduler")
        [run] = c.search_runs(["sched"], filter="tags.kind = 'pipeline'").runs
        [found] = reconcile(c, socket.gethostname())
        assert (found["status"], found["run_id"]) == ("failed", run.id)
        [o] = c.list_occurrences("slow", "sched")
        assert (o.status, o.run_id) == ("failed", run.id)
        left = Path(tempfile.gettempdir()).glob(f"setpoint-scheduled-{scheduler.pid}-*")
        assert list(left) == []


def test_scheduler_once_says_why_an_occurrence_failed_and_exits_1(
    home: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`scheduler --once` (cron's way to run it) printed only the run id of a failed
    occurrence and exited 0, so nothing watching its exit code saw the failure."""
    from setpoint.client import scheduler

    passes = iter(
        [
            [
                {"schedule": "ok", "occurrence": "2026-01-01T03:00Z", "status": "succeeded",
                 "run_id": "0123abcd"},
                {"schedule": "fl", "occurrence": "2026-01-01T03:00Z", "status": "failed",
                 "run_id": "4567ef01", "error": "ValueError: boom (step 'b')\nTraceback ..."},
            ],
            [{"schedule": "ok", "occurrence": "2026-01-01T03:05Z", "status": "succeeded"}],
        ]
    )  # fmt: skip
    monkeypatch.setattr(scheduler, "tick", lambda *args, **kwargs: next(passes))
    code, out, _ = run_cli(capsys, "scheduler", "--once")
    assert code == 1
    assert "fl 2026-01-01T03:00Z: failed 4567ef01 ValueError: boom (step 'b')" in out.splitlines()
    assert "Traceback" not in out
    code, out, _ = run_cli(capsys, "scheduler", "--once")
    assert code == 0 and "ok 2026-01-01T03:05Z: succeeded" in out


class _Refusing:
    """A client whose store refuses some calls, as a server refuses a token its role."""

    def __init__(self, client: Any, refuse: Any) -> None:
        self.client = client
        self.refuse = refuse

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.client, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            error = self.refuse(name, args)
            if error is not None:
                raise error
            return found(*args, **kwargs)

        return call


def test_a_schedule_the_scheduler_may_not_run_is_skipped_and_the_others_run(
    client: Any, time_travel: None
) -> None:
    """A permission error on one schedule's claim ended the pass: every schedule after it
    never ran, on every pass."""
    from setpoint.core.errors import PermissionDeniedError, StoreBusyError

    a = client.add_schedule("s1", "p.py:retrain", "aa", None, "* * * * *")
    client.add_schedule("s2", "p.py:retrain", "bb", None, "* * * * *")

    def refuse(name: str, args: tuple[Any, ...]) -> Exception | None:
        if name == "claim_occurrence" and args[3] == "aa":
            return PermissionDeniedError("bot needs the editor role in project 'aa'")
        return None

    calls: list[str] = []
    done = tick(_Refusing(client, refuse), a.created_at + MINUTE + 1, "a", _recorder(calls))
    assert [(d["schedule"], d["status"]) for d in done] == [("s1", "skipped"), ("s2", "succeeded")]
    assert "editor role" in done[0]["error"] and calls == ["s2"]

    def busy(name: str, args: tuple[Any, ...]) -> Exception | None:  # the store's: pass ends
        return StoreBusyError("busy") if name == "claim_occurrence" else None

    with pytest.raises(StoreBusyError):
        tick(_Refusing(client, busy), a.created_at + 3 * MINUTE + 1, "a", _recorder(calls))


def test_a_result_the_store_was_too_busy_to_record_is_recorded_later(
    client: Any, time_travel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish_occurrence failing once (the store busy) left the occurrence running for a
    day, its run id lost."""
    from setpoint.client import scheduler
    from setpoint.core.errors import StoreBusyError

    monkeypatch.setattr(scheduler, "RECORD_RETRY_DELAYS_S", (0.0,))
    s = client.add_schedule("m", "p.py:retrain", "fraud", None, "* * * * *")
    failures = [1]

    def flaky(name: str, args: tuple[Any, ...]) -> Exception | None:
        if name == "finish_occurrence" and failures[0] > 0:
            failures[0] -= 1
            return StoreBusyError("the store is busy")
        return None

    c = _Refusing(client, flaky)
    done = tick(c, s.created_at + MINUTE + 1, "a", _recorder([]))  # retried: recorded
    assert [(d["status"], d["run_id"]) for d in done] == [("succeeded", "run-1")]
    [o] = client.list_occurrences("m", "fraud")
    assert (o.status, o.run_id) == ("succeeded", "run-1")
    # busy for longer than the retries: kept, and recorded on the next pass
    failures[0] = 2
    unfinished: list[dict[str, Any]] = []
    calls: list[str] = []
    done = tick(c, s.created_at + 2 * MINUTE + 1, "a", _recorder(calls), unfinished=unfinished)
    assert done[0]["run_id"] == "run-1" and "not recorded yet" in done[0]["error"]
    assert len(unfinished) == 1
    done = tick(c, s.created_at + 2 * MINUTE + 1, "a", _recorder(calls), unfinished=unfinished)
    assert unfinished == [] and done[0]["note"] == "its result recorded now"
    assert [(o.status, o.run_id) for o in client.list_occurrences("m", "fraud")] == [
        ("succeeded", "run-1"),
        ("succeeded", "run-1"),
    ]
    # a single pass (`scheduler --once`) keeps nothing for later: the store's error ends it
    # (and the command fails) instead of the result being dropped with the process
    failures[0] = 2
    with pytest.raises(StoreBusyError):
        tick(c, s.created_at + 3 * MINUTE + 1, "a", _recorder(calls))


def test_a_kept_result_the_store_refuses_is_said_and_the_schedules_still_run(
    client: Any, time_travel: None
) -> None:
    """A result kept for the next pass that the store then refused (the scheduler lost its
    role) ended every later pass before any schedule was looked at."""
    from setpoint.core.errors import PermissionDeniedError

    s = client.add_schedule("m", "p.py:retrain", "fraud", None, "* * * * *")
    kept = {"project": "fraud", "schedule": "m", "occurrence": "gone", "status": "succeeded"}
    unfinished = [{**kept, "run_id": "run-0"}]

    def refuse(name: str, args: tuple[Any, ...]) -> Exception | None:
        if name == "finish_occurrence" and args[1] == "gone":
            return PermissionDeniedError("the scheduler may not write in project fraud")
        return None

    calls: list[str] = []
    done = tick(
        _Refusing(client, refuse), s.created_at + MINUTE + 1, "a", _recorder(calls),
        unfinished=unfinished,
    )  # fmt: skip
    assert unfinished == [] and calls == ["m"]
    assert "may not write" in done[0]["error"] and done[1]["status"] == "succeeded"


def test_each_line_is_said_as_its_occurrence_ends_and_none_is_dropped(
    client: Any, time_travel: None
) -> None:
    """Each line was printed only when the whole pass ended. Every occurrence is in the
    history: the ones a pass finds due before the newest are missed (whether no scheduler
    ran then or the one running was busy with another schedule's run), the newest runs."""
    s = client.add_schedule("minutely", "p.py:retrain", "fraud", None, "* * * * *")
    first = s.created_at - s.created_at % MINUTE + MINUTE
    said: list[dict[str, Any]] = []
    calls: list[str] = []
    seen: list[int] = []

    def runner(schedule: Any) -> str:
        seen.append(len(said))  # the missed lines were said before the run started
        return _recorder(calls)(schedule)

    done = tick(client, first + 2 * MINUTE + 1, "a", runner, said.append)
    assert [d["status"] for d in done] == ["missed", "missed", "succeeded"] and said == done
    assert seen == [2]
    assert len(client.list_occurrences("minutely", "fraud")) == 3


def test_schedule_history_says_when_it_shows_only_the_newest(
    home: Path, capsys: Any, time_travel: None
) -> None:
    """history showed 100 occurrences and said nothing of the others."""
    from setpoint.client import sdk

    c = sdk.client()
    c.add_schedule("m", "p.py:retrain", "fraud", None, "* * * * *")
    for k in range(5):
        assert c.claim_occurrence("m", f"o{k}", k + 1, "fraud", "missed", "a")
    code, out, err = run_cli(capsys, "schedule", "history", "m", "--limit", "2")
    assert code == 0 and "m: 2 occurrences" in out and "… 3 more; --limit to see them" in err
    code, out, err = run_cli(capsys, "schedule", "history", "m", "--limit", "2", "--json")
    assert len(json.loads(out)) == 2 and "3 more" in err
    code, out, err = run_cli(capsys, "schedule", "history", "m")
    assert "m: 5 occurrences" in out and "more" not in err


def test_a_python_without_ctypes_still_runs_schedules_untied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tying a scheduled pipeline's process to the scheduler needs ctypes; a Python built
    without it runs the pipeline untied instead of failing it."""
    from setpoint.client import scheduler

    assert scheduler._tie_to_this_process() is not None  # Linux, with ctypes
    monkeypatch.setitem(sys.modules, "ctypes", None)
    assert scheduler._tie_to_this_process() is None
