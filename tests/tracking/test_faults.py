"""Faults a user would hit: many writers at once, a process killed mid-run, blobs raced."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from setpoint.client.local import LocalClient
from setpoint.core.config import Settings

WRITER = textwrap.dedent(
    """
    import sys
    import setpoint as sp
    n = int(sys.argv[1])
    with sp.start_run(project="load", name=sys.argv[2]) as run:
        for i in range(n):
            run.log_metric("x", float(i), step=i)
    print(run.id)
    """
)


def _run_all(settings: Settings, script: str, argvs: list[list[str]], timeout: float) -> list[str]:
    """Run ``script`` once per argv list, all at the same time; return each one's stdout."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            env=_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        assert "locked" not in err
        outs.append(out.strip())
    return outs


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETPOINT_")}
    env.update(
        SETPOINT_HOME=settings.home,
        SETPOINT_DATABASE_URL=settings.database_url,
        SETPOINT_ARTIFACTS_URL=settings.artifacts_url,
        SETPOINT_FLUSH_INTERVAL="0.05",
        **extra,
    )
    return env


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_eight_processes_log_at_once(db: str, request: pytest.FixtureRequest) -> None:
    settings = request.getfixturevalue("sqlite_settings" if db == "sqlite" else "pg_settings")
    LocalClient(settings).open().close()  # create the schema before the stampede
    ids = _run_all(settings, WRITER, [["5000", f"writer-{i}"] for i in range(8)], timeout=300)
    client = LocalClient(settings).open()
    total = 0
    for run_id in ids:
        h = client.get_metric_history(run_id, "x")
        assert h.steps == list(range(5000))
        total += len(h.steps)
        assert client.get_run(run_id).status == "finished"
    assert total == 40_000
    client.close()


KILLED = textwrap.dedent(
    """
    import sys, time
    import setpoint as sp
    run = sp.start_run(project="crash", name="victim")
    run.log_bytes(b"x" * 1000, "before.bin")
    print(run.id, flush=True)
    i = 0
    while True:
        run.log_metric("x", float(i), step=i)
        i += 1
        if i % 100 == 0:
            print(i, flush=True)
            time.sleep(0.01)
    """
)


@pytest.mark.slow
def test_a_killed_process_loses_at_most_one_flush_interval(sqlite_settings: Settings) -> None:
    LocalClient(sqlite_settings).open().close()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED],
        env=_env(sqlite_settings, SETPOINT_HEARTBEAT_INTERVAL="0.2"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    last = 0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        last = int(proc.stdout.readline())
    # `last` points were logged 1 s (several flush intervals) before the kill at the latest.
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    reader = _env(
        sqlite_settings, SETPOINT_HEARTBEAT_TIMEOUT="1", SETPOINT_HEARTBEAT_INTERVAL="0.2"
    )
    client = LocalClient(Settings.from_env(reader)).open()
    time.sleep(1.5)
    run = client.get_run(run_id)
    assert run.status == "failed"
    assert "heartbeat" in (run.error or "")
    h = client.get_metric_history(run_id, "x")
    assert len(h.steps) >= last
    assert h.steps == list(range(len(h.steps)))  # no holes, nothing half-written
    assert [a.path for a in client.list_artifacts(run_id)] == ["before.bin"]
    ended = client.list_audit_events(subject_kind="run", subject=run_id, action="run.end")
    assert [(e.actor, e.after["status"]) for e in ended] == [("setpoint", "failed")]
    client.close()


def test_runs_of_a_live_process_are_not_failed(client: Any, mode: str) -> None:
    import setpoint as sp

    with sp.start_run(project="p") as run:
        time.sleep(0.5)  # several heartbeat intervals of the test settings
        assert sp.get_run(run.id).status == "running"
    assert sp.get_run(run.id).status == "finished"


def test_transient_store_failure_keeps_buffered_points(sqlite_settings: Settings) -> None:
    """A flush that fails for a transient reason keeps its points for the next attempt: the
    failed batch goes first, alone and under the id it had, then what was logged since."""
    from setpoint.tracking.metric_buffer import MetricBuffer

    written: list[tuple[list[str], str, int]] = []
    tried: list[tuple[str, int]] = []
    fail = {"n": 2}

    def sink(keys: list[str], _v: Any, _s: Any, _t: Any, batch_id: str, offset: int) -> None:
        tried.append((batch_id, offset))
        if fail["n"]:
            fail["n"] -= 1
            raise OSError("connection reset")
        written.append((list(keys), batch_id, offset))

    buf = MetricBuffer(sink, flush_interval=10)
    buf.add("a", 1.0, 0, 0)
    with pytest.raises(OSError):
        buf.flush()
    buf.add("b", 2.0, 0, 0)
    with pytest.raises(OSError):
        buf.flush()
    buf.flush()
    first = tried[0]
    assert tried[:3] == [first, first, first]  # the same request, three times
    assert [w[0] for w in written] == [["a"], ["b"]]
    assert written[1][1] != first[0]


def test_an_interrupted_or_partly_written_batch_keeps_its_ids() -> None:
    """Ctrl-C during a flush loses nothing; the rest of a batch cut off partway is sent
    again from where it stopped, its requests named as the first time."""
    from setpoint.tracking.metric_buffer import MetricBuffer, PartlyWritten

    calls: list[tuple[list[str], str, int]] = []
    plan = [KeyboardInterrupt(), PartlyWritten(2, OSError("reset")), None]

    def sink(keys: list[str], _v: Any, _s: Any, _t: Any, batch_id: str, offset: int) -> None:
        calls.append((list(keys), batch_id, offset))
        step = plan.pop(0)
        if step is not None:
            raise step

    buf = MetricBuffer(sink, flush_interval=10)
    for k in "abcde":
        buf.add(k, 1.0, 0, 0)
    with pytest.raises(KeyboardInterrupt):
        buf.flush()
    with pytest.raises(OSError):
        buf.flush()
    buf.flush()
    batch_id = calls[0][1]
    assert calls == [
        (list("abcde"), batch_id, 0),
        (list("abcde"), batch_id, 0),
        (list("cde"), batch_id, 2),
    ]


def test_a_metric_batch_id_stores_its_points_once(client: Any) -> None:
    from setpoint.core.errors import InvalidArgumentError

    run = client.create_run("ids")
    for _ in range(2):  # the same request twice
        client.log_metrics(run.id, ["m", "m"], [1.0, 2.0], [0, 1], [5, 5], "b1:0")
    client.log_metrics(run.id, ["m"], [3.0], [2], [5], "b1:2")  # another request of it
    client.log_metrics(run.id, ["m"], [4.0], [3], [5])  # no id: stored each time
    client.end_run(run.id)
    client.log_metrics(run.id, ["m"], [3.0], [2], [5], "b1:2")  # stored before the end
    assert client.get_metric_history(run.id, "m").steps == [0, 1, 2, 3]
    with pytest.raises(InvalidArgumentError) as err:
        client.log_metrics(run.id, ["m"], [1.0], [0], [5], "no spaces")
    assert err.value.field == "batch_id"


def test_heartbeats_keep_their_pace_under_a_long_flush_interval() -> None:
    """Heartbeats went out only after a flush: with a flush interval longer than the
    heartbeat timeout (SETPOINT_FLUSH_INTERVAL=45 with the default 30 s timeout), a live run
    was failed for silence and its buffered points were refused."""
    import threading

    from setpoint.tracking.metric_buffer import MetricBuffer

    beats = threading.Event()
    flushed: list[Any] = []
    buf = MetricBuffer(
        lambda *batch: flushed.append(batch),
        flush_interval=60,
        heartbeat=beats.set,
        heartbeat_interval=0.05,
    )
    buf.add("m", 1.0, 0, 0)
    buf.start()
    try:
        assert beats.wait(10), "no heartbeat within 10 s"
        assert flushed == []  # the points wait for their own interval
    finally:
        buf.stop()
    buf.flush()
    assert [b[0] for b in flushed] == [["m"]]


def test_gc_forgets_batch_ids_only_of_runs_ended_before_its_cutoff(client: Any, local: Any) -> None:
    ended = client.create_run("ids")
    running = client.create_run("ids")
    for run in (ended, running):
        client.log_metrics(run.id, ["m", "m"], [1.0, 2.0], [0, 1], [5, 5], "b1:0")
        client.log_metrics(run.id, ["m"], [3.0], [2], [5], "b1:2")
    client.end_run(ended.id)
    time.sleep(0.002)
    assert local.gc(dry_run=False, min_age_s=3600).forgotten_batch_ids == 0
    assert local.gc(dry_run=True, min_age_s=0).forgotten_batch_ids == 2
    assert local.gc(dry_run=False, min_age_s=0).forgotten_batch_ids == 2
    assert local.gc(dry_run=True, min_age_s=0).forgotten_batch_ids == 0
    client.log_metrics(running.id, ["m"], [3.0], [2], [5], "b1:2")  # still known: not stored
    assert client.get_metric_history(running.id, "m").steps == [0, 1, 2]


@pytest.mark.parametrize("ending", [False, True])
def test_a_request_whose_answer_was_lost_is_stored_once(
    client: Any, monkeypatch: pytest.MonkeyPatch, ending: bool
) -> None:
    """The store committed a flush but its answer never arrived (a client timeout, a
    connection dropped during COMMIT): the points were sent again and stored twice."""
    import setpoint as sp
    from setpoint.client import run as run_module
    from setpoint.core.errors import RemoteError

    monkeypatch.setattr(run_module, "MAX_POINTS_PER_REQUEST", 10)
    real = client.log_metrics
    calls = {"n": 0}

    def answer_lost(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise RemoteError("timed out waiting for the answer")

    run = sp.start_run(project="lost")
    run._buffer.stop()  # flushes only when asked, here
    for i in range(45):
        run.log_metric("m", float(i), step=i)
    monkeypatch.setattr(client, "log_metrics", answer_lost)
    if ending:
        with pytest.raises(RemoteError):
            run.end()
        run.end()
    else:
        with pytest.raises(RemoteError):
            run.flush()
        run.log_metric("m", 45.0, step=45)
        run.flush()
        run.end()
    history = sp.get_metric_history(run.id, "m")
    assert history["step"].tolist() == list(range(46 if not ending else 45))


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("ending", [False, True])
def test_a_flush_cut_off_partway_writes_each_point_once(
    client: Any, monkeypatch: pytest.MonkeyPatch, ending: bool
) -> None:
    """A flush goes out in requests of a bounded size, each committed on its own: when a
    later one failed, the whole batch was queued again and the earlier requests' points
    were stored twice (a database restart during a large flush, or during the run's end)."""
    import setpoint as sp
    from setpoint.client import run as run_module
    from setpoint.core.errors import StoreUnavailableError

    monkeypatch.setattr(run_module, "MAX_POINTS_PER_REQUEST", 10)
    real = client.log_metrics
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the third request of the flush: two are stored already
            raise StoreUnavailableError("the connection was lost")
        return real(*args, **kwargs)

    run = sp.start_run(project="cut")
    run._buffer.stop()  # flushes only when asked, here
    for i in range(45):
        run.log_metric("m", float(i), step=i)
    monkeypatch.setattr(client, "log_metrics", flaky)
    if ending:
        with pytest.raises(StoreUnavailableError):
            run.end()
        run.end()  # as a retry, or the exit hook, would
    else:
        with pytest.raises(StoreUnavailableError):
            run.flush()
        run.flush()
        run.end()
    history = sp.get_metric_history(run.id, "m")
    assert history["step"].tolist() == list(range(45))  # each point once


def test_two_writers_of_the_same_artifact(tmp_path: Path, sqlite_settings: Settings) -> None:
    script = textwrap.dedent(
        """
        import sys
        import setpoint as sp
        with sp.start_run(project="race") as run:
            run.log_artifact(sys.argv[1], "model.bin")
        print(run.id)
        """
    )
    payload = tmp_path / "model.bin"
    payload.write_bytes(os.urandom(8 * 1024 * 1024))
    LocalClient(sqlite_settings).open().close()
    ids = _run_all(sqlite_settings, script, [[str(payload)], [str(payload)]], timeout=120)
    client = LocalClient(sqlite_settings).open()
    for run_id in ids:
        client.download_artifact(run_id, "model.bin", tmp_path / run_id)
        assert (tmp_path / run_id / "model.bin").read_bytes() == payload.read_bytes()
    assert len(list(client.blobs.iter_digests())) == 1
    tmp = Path(sqlite_settings.artifacts_url) / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())
    client.close()


def test_a_server_restart_mid_run_loses_no_points(sqlite_settings: Settings, serve: Any) -> None:
    from dataclasses import replace

    import setpoint as sp
    from setpoint.client import sdk
    from setpoint.client.remote import RemoteClient

    local = LocalClient(sqlite_settings).open()
    first = serve(local)
    remote = RemoteClient(first.url).open()
    sdk.use(remote, replace(sqlite_settings, server_url=first.url))
    try:
        run = sp.start_run(project="p")
        for i in range(100):
            run.log_metric("x", float(i), step=i)
        run.flush()
        first.__exit__()  # the server goes away...
        for i in range(100, 200):
            run.log_metric("x", float(i), step=i)
        time.sleep(0.3)  # background flushes fail meanwhile and keep their points
        serve(local, port=first.port)  # ...and comes back on the same address
        run.end()
        h = local.get_metric_history(run.id, "x")
        assert h.steps == list(range(200))
        assert local.get_run(run.id).status == "finished"
    finally:
        sdk.use(None)
        local.close()


def test_a_script_that_dies_without_with_marks_its_run_failed(sqlite_settings: Settings) -> None:
    script = textwrap.dedent(
        """
        import setpoint as sp
        run = sp.start_run(project="p")
        print(run.id, flush=True)
        run.log_param("lr", 0.1)
        run.log_metric("x", 1.0)
        raise ValueError("bad batch")
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", script], env=_env(sqlite_settings), capture_output=True, text=True
    )
    assert p.returncode == 1 and "ValueError: bad batch" in p.stderr
    client = LocalClient(sqlite_settings).open()
    run = client.get_run(p.stdout.strip())
    assert run.status == "failed" and "ValueError: bad batch" in (run.error or "")
    assert run.params == {"lr": "0.1"} and run.metrics == {"x": 1.0}
    client.close()


def test_a_script_that_forgets_to_end_its_run_finishes_it(sqlite_settings: Settings) -> None:
    script = "import setpoint as sp\nrun = sp.start_run(project='p')\nrun.log_metric('x', 2.0)\nprint(run.id)"
    p = subprocess.run(
        [sys.executable, "-c", script], env=_env(sqlite_settings), capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    client = LocalClient(sqlite_settings).open()
    run = client.get_run(p.stdout.strip())
    assert run.status == "finished" and run.metrics == {"x": 2.0}
    client.close()


UPLOADER = textwrap.dedent(
    """
    import time
    import setpoint as sp

    class Slow:
        def read(self, n=-1):
            time.sleep(0.005)
            return b"x" * 65536

    run = sp.start_run(project="p")
    print(run.id, flush=True)
    run._client.upload_artifact(run.id, "model.bin", Slow())  # never ends by itself
    """
)


@pytest.mark.slow
def test_a_process_killed_mid_upload_leaves_no_visible_artifact(sqlite_settings: Settings) -> None:
    LocalClient(sqlite_settings).open().close()
    proc = subprocess.Popen(
        [sys.executable, "-c", UPLOADER],
        env=_env(sqlite_settings),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    tmp = Path(sqlite_settings.artifacts_url) / "tmp"
    deadline = time.monotonic() + 10
    while not (tmp.exists() and any(f.stat().st_size > 0 for f in tmp.iterdir())):
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    client = LocalClient(sqlite_settings).open()
    assert client.list_artifacts(run_id) == []
    assert list(client.blobs.iter_digests()) == []
    report = client.gc(dry_run=False, min_age_s=0)
    assert report.stale_temporaries == 1
    assert not any(tmp.iterdir())
    client.close()


def _aged(local: Any, digest: str, seconds: float = 7200) -> None:
    old = time.time() - seconds
    os.utime(local.blobs._path(digest), (old, old))


def test_gc_spares_a_blob_a_writer_reuses_after_its_last_look(
    sqlite_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc judged a blob old from its listing and deleted it, although a writer had reused it
    since (refreshing its time) and committed a reference after gc's last look at them."""
    from setpoint.client.local import LocalClient
    from setpoint.store import gc as gc_module

    local = LocalClient(sqlite_settings).open()
    digest, _ = local.blobs.put_bytes(b"logged again")
    _aged(local, digest)
    listing = local.blobs.iter_digests

    def listed_then_reused() -> Any:
        found = list(listing())
        local.blobs.put_bytes(b"logged again")  # a writer reuses it; its row commits late
        return iter(found)

    monkeypatch.setattr(local.blobs, "iter_digests", listed_then_reused)
    monkeypatch.setattr(gc_module.repo, "referenced_digests", lambda _conn: set())
    report = local.gc(dry_run=False, min_age_s=3600)
    assert report.unreferenced == [digest] and report.deleted == 0
    assert local.blobs.get_bytes(digest) == b"logged again"
    local.close()


def test_a_version_made_of_a_blob_already_stored_keeps_it_from_gc(sqlite_settings: Any) -> None:
    """Registering data whose blob was stored long ago (the stat cache of `data add`, a
    files manifest, another run's upload) left its old time: gc could take it before the
    version committed. Referring to a blob now refreshes its time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": [1, 2]}), sink)
    digest, _ = local.blobs.put_bytes(sink.getvalue().to_pybytes())
    _aged(local, digest)
    assert local.has_blob(digest)
    assert os.path.getmtime(local.blobs._path(digest)) > time.time() - 60
    _aged(local, digest)
    local.create_dataset_version("d", digest, "gc")
    assert os.path.getmtime(local.blobs._path(digest)) > time.time() - 60
    local.close()


def test_a_gc_killed_half_way_through_a_deletion_puts_a_referenced_blob_back(
    sqlite_settings: Any,
) -> None:
    from setpoint.client.local import LocalClient

    local = LocalClient(sqlite_settings).open()
    run = local.create_run("gc")
    kept = local.upload_artifact(run.id, "kept.bin", io.BytesIO(b"kept"))
    dropped, _ = local.blobs.put_bytes(b"dropped")
    for digest in (kept.digest, dropped):  # as a gc killed between its two steps left them
        _aged(local, digest)
        aside = local.blobs._aside(digest)
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.rename(local.blobs._path(digest), aside)
    local.gc(dry_run=False, min_age_s=3600)
    assert local.blobs.get_bytes(kept.digest) == b"kept"
    assert not local.blobs.exists(dropped)
    assert not os.listdir(os.path.dirname(local.blobs._aside(dropped)))
    local.close()


@pytest.mark.parametrize("mode", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_write_whose_commit_answer_was_lost_is_done_once(
    mode: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost during COMMIT, after the database committed: the write was run
    again, and made a second model version of the same package (or failed on the run id
    it had stored)."""
    from contextlib import contextmanager

    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sqlalchemy.exc import OperationalError

    from setpoint.client.local import LocalClient
    from setpoint.client.models import log_model

    settings = request.getfixturevalue("pg_settings" if mode == "postgres" else "sqlite_settings")
    local = LocalClient(settings).open()
    real = local.db.write
    lose = {"next": False}

    @contextmanager
    def committed_then_lost() -> Any:
        with real() as conn:
            yield conn
        if lose["next"]:  # committed, and then the answer never came
            lose["next"] = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(local.db, "write", committed_then_lost)
    lose["next"] = True
    run = local.create_run("lost")
    assert [r.id for r in local.search_runs(["lost"], None, None, 10, None).runs] == [run.id]
    x = np.random.default_rng(0).normal(size=(40, 2))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    lose["next"] = True
    mv = log_model(local, model, "m", "lost")
    assert mv.version == 1
    assert [v.version for v in local.list_model_versions("m", "lost")] == [1]
    lose["next"] = True
    local.create_project("again", "", {"k": "v"})
    assert local.get_project("again").tags == {"k": "v"}
    local.close()
