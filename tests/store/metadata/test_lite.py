"""The embedded store opened without SQLAlchemy (lite.py) and the client over it
(client/lite.py): it opens only what it can serve, its records are the full store's, and
what it cannot do is done whole by the full client."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from setpoint.client.lite import LiteClient, open_inline_client, open_lite_client
from setpoint.client.local import LocalClient
from setpoint.core.config import Settings
from setpoint.core.errors import InvalidArgumentError, RunNotActiveError
from setpoint.core.types import MetricBatch
from setpoint.store.metadata.lite import LiteDatabase, NeedsSqlAlchemy, WouldWait
from sqlite_locks import write_lock_free


@pytest.fixture
def made(sqlite_settings: Settings) -> Settings:
    """Settings of an embedded store that exists (made, migrated and closed)."""
    LocalClient(sqlite_settings).open().close()
    return sqlite_settings


def test_only_a_current_embedded_store_opens_lite(
    tmp_path: Path, sqlite_settings: Settings, made: Settings
) -> None:
    with pytest.raises(NeedsSqlAlchemy):
        LiteDatabase("postgresql://postgres@127.0.0.1/test").open()
    with pytest.raises(NeedsSqlAlchemy):
        LiteDatabase(f"sqlite:///{tmp_path / 'none.db'}").open()
    assert not (tmp_path / "none.db").exists()  # never made: the full store makes it
    assert open_lite_client(replace(made, server_url="http://127.0.0.1:9")) is None
    path = made.database_url.split("///", 1)[1]
    raw = sqlite3.connect(path)
    raw.execute("UPDATE alembic_version SET version_num = '0013'")
    raw.commit()
    raw.close()
    assert open_lite_client(made) is None  # another schema: the full store's to upgrade


def test_runs_started_and_ended_lite_are_the_full_stores_records(made: Settings) -> None:
    lite = open_lite_client(made)
    assert isinstance(lite, LiteClient)
    run = lite.create_run("fraud", "train", {"team": "risk"})
    lite.log_params(run.id, {"depth": "8"})
    lite.log_metrics(run.id, ["auc", "auc"], [0.5, 0.75], [0, 1])
    lite.set_tags(run.id, {"stage": "dev"})
    ended = lite.end_run(
        run.id,
        "finished",
        final_metrics=MetricBatch(keys=["loss"], values=[0.1], steps=[2], timestamps=[1]),
    )
    assert ended.status == "finished"
    assert lite.tagged_runs("fraud", {"team": "risk", "stage": "dev"}, "finished")[0].id == run.id
    assert lite.tagged_runs("fraud", {"team": "other"}, "finished") == []
    assert lite.tagged_runs("no-such-project", {"team": "risk"}) == []
    assert lite._full is None  # nothing so far needed the full store
    lite.close()

    full = LocalClient(made).open()
    stored = full.get_run(run.id)
    assert (stored.name, stored.status, stored.project) == ("train", "finished", "fraud")
    assert stored.params == {"depth": "8"}
    assert stored.tags == {"stage": "dev", "team": "risk"}
    assert stored.metrics == {"auc": 0.75, "loss": 0.1}
    assert full.get_metric_history(run.id, "auc").values == [0.5, 0.75]
    actions = [e.action for e in full.list_audit_events(project="fraud")]
    assert actions == ["run.create", "run.end"]
    assert full.verify_audit().ok  # one hash chain with the full store's events
    full.close()


def test_lite_operations_check_what_the_full_ones_check(made: Settings) -> None:
    lite = open_lite_client(made)
    assert lite is not None
    with pytest.raises(InvalidArgumentError) as bad:
        lite.create_run("bad project!", "x")
    assert bad.value.field == "project"
    run = lite.create_run("p", "x")
    lite.end_run(run.id, "finished")
    with pytest.raises(RunNotActiveError):
        lite.log_params(run.id, {"late": "1"})
    with pytest.raises(InvalidArgumentError) as bad:
        lite.tagged_runs("p", {}, "finished")
    assert bad.value.field == "tags"
    lite.close()


def test_other_operations_go_to_the_full_store_opened_on_need(
    made: Settings, tmp_path: Path
) -> None:
    lite = open_lite_client(made)
    assert lite is not None
    run = lite.create_run("p", "x")
    (tmp_path / "notes.txt").write_text("hello")
    lite.log_artifacts(run.id, {"notes.txt": lite.upload_file(tmp_path / "notes.txt")})
    assert lite._full is not None
    assert [r.id for r in lite.search_runs(["p"], "attributes.name = 'x'").runs] == [run.id]
    assert lite.has_blob(lite.list_artifacts(run.id)[0].digest)
    lite.close()


def test_a_lite_operation_meeting_sqlalchemy_is_done_whole_by_the_full_store(
    made: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lite transaction is rolled back before the full client does the operation: the
    run is made once, and the audit chain has one event for it."""
    from setpoint.store.metadata import runs as repo

    real = repo.insert_run

    def insert_run(conn: Any, run: Any, project_id: int) -> None:
        real(conn, run, project_id)  # written, then a built statement: lite cannot go on
        from sqlalchemy import text

        conn.execute(text("SELECT 1"))

    monkeypatch.setattr(repo, "insert_run", insert_run)
    lite = open_lite_client(made)
    assert lite is not None
    run = lite.create_run("p", "once")
    assert lite._full is not None
    lite.close()
    full = LocalClient(made).open()
    assert [r.id for r in full.search_runs(["p"]).runs] == [run.id]
    assert [e.action for e in full.list_audit_events(project="p")] == ["run.create"]
    assert full.verify_audit().ok
    full.close()


def test_a_store_opened_not_to_wait_refuses_at_once_while_another_writes(
    made: Settings,
) -> None:
    """Opened for a server's event loop: while another program writes, a write is refused
    at once (WouldWait) with nothing kept, instead of waiting for the lock."""
    import time

    db = LiteDatabase(made.database_url, wait=False).open()
    other = sqlite3.connect(db.path or "", timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(WouldWait):
        db.write_retrying(
            lambda conn: conn.exec_driver_sql(
                "INSERT INTO projects (name, description, created_at) VALUES ('p', '', 0)"
            )
        )
    assert time.monotonic() - started < 1  # no busy wait, no retries with pauses
    other.execute("ROLLBACK")
    other.close()
    db.write_retrying(
        lambda conn: conn.exec_driver_sql(
            "INSERT INTO projects (name, description, created_at) VALUES ('p', '', 0)"
        )
    )
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM projects").scalar() == 1
    db.close()


def test_an_inline_client_logs_lite_or_hands_the_call_back(made: Settings) -> None:
    """A server's client for its event loop: a batch is logged on the lite store, one that
    would wait is handed back undone (the server then logs it through the full client), and
    closing it leaves the full client open."""
    full = LocalClient(made).open()
    inline = open_inline_client(full)
    assert inline is not None
    run = full.create_run("p", "r")
    inline.log_batch(run.id, {"depth": "8"}, {}, ["loss"], [0.5], [0], [1_000])
    other = sqlite3.connect(inline.lite.path or "", timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(NeedsSqlAlchemy):
        inline.log_batch(run.id, {}, {}, ["loss"], [0.25], [1], [2_000])
    other.execute("ROLLBACK")
    other.close()
    full.log_batch(run.id, {}, {}, ["loss"], [0.25], [1], [2_000])
    inline.close()
    assert full.get_run(run.id).params == {"depth": "8"}
    assert full.get_metric_history(run.id, "loss").values == [0.5, 0.25]
    full.close()


def test_stale_runs_are_failed_lite(made: Settings) -> None:
    stale_settings = replace(made, heartbeat_timeout=0.001)
    lite = open_lite_client(stale_settings)
    assert lite is not None
    run = lite.create_run("p", "left")
    import time

    time.sleep(0.05)
    found = lite.get_run(run.id)
    assert found.status == "failed" and "heartbeat" in (found.error or "")
    assert lite._full is None
    lite.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_uses_a_connection_of_its_own(made: Settings) -> None:
    lite = open_lite_client(made)
    assert lite is not None
    parent_run = lite.create_run("p", "parent")
    pid = os.fork()
    if pid == 0:  # the child: its own connection, the parent's left alone
        try:
            lite.end_run(lite.create_run("p", "child").id, "finished")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lite.end_run(parent_run.id, "finished")  # the parent's connection still works
    names = {r.name: r.status for r in lite.search_runs(["p"]).runs}
    assert names == {"parent": "finished", "child": "finished"}
    lite.close()


PIPELINE = """
import setpoint as sp

@sp.step
def first(seed: int) -> dict:
    return {"v": seed}

@sp.step
def second(prev: dict) -> dict:
    return {"v": prev["v"] + 1}

@sp.pipeline(project="lite")
def chain(seed: int = 0):
    second(first(seed))
"""


def test_a_cached_pipeline_run_loads_no_sqlalchemy(tmp_path: Path) -> None:
    """`setpoint pipeline run` of a pipeline whose steps are all cached records its runs
    without importing SQLAlchemy (most of such a command's time otherwise)."""
    (tmp_path / "chain.py").write_text(textwrap.dedent(PIPELINE))
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    probe = textwrap.dedent(
        """
        import sys
        from setpoint.cli.main import main
        try:
            main(["pipeline", "run", "chain.py:chain", "--json"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("sqlalchemy" in sys.modules, file=sys.stderr)
        """
    )
    outs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outs.append((done.stdout, done.stderr.split()[-1]))
    import json

    first, second = (json.loads(o) for o, _ in outs)
    assert [s["status"] for s in first["steps"]] == ["ran", "ran"]
    assert [s["status"] for s in second["steps"]] == ["cached", "cached"]
    assert outs[1][1] == "False"  # the cached run: no SQLAlchemy
    full = LocalClient(Settings.from_env({"SETPOINT_HOME": str(tmp_path / "home")})).open()
    again = full.get_run(second["run_id"])
    assert again.status == "finished" and again.tags["kind"] == "pipeline"
    steps = full.search_runs(["lite"], f"tags.pipeline_run = '{second['run_id']}'").runs
    assert sorted((r.tags["step"], r.tags["cache"], r.status) for r in steps) == [
        ("first", "hit", "finished"),
        ("second", "hit", "finished"),
    ]
    full.close()


def test_a_dataset_version_added_lite_is_the_full_stores(made: Settings, tmp_path: Path) -> None:
    lite = open_lite_client(made)
    assert lite is not None
    (tmp_path / "a.bin").write_bytes(b"first")
    (tmp_path / "b.bin").write_bytes(b"second")
    from setpoint.client import sdk

    sdk.use(lite, made)
    try:
        v1 = sdk.log_dataset(str(tmp_path / "a.bin"), "blobs", project="p", kind="files")
        v2 = sdk.log_dataset(
            str(tmp_path / "b.bin"), "blobs", project="p", kind="files", parents=["p/blobs@1"]
        )
        again = sdk.log_dataset(str(tmp_path / "b.bin"), "blobs", project="p", kind="files")
        assert lite._full is None  # versions, their files and lineage: all lite
    finally:
        sdk.use(None)
    assert (v1.ref, v2.ref, again.ref, again.created) == (
        "p/blobs@1",
        "p/blobs@2",
        "p/blobs@2",
        False,
    )
    full = LocalClient(made).open()
    stored = full.get_dataset_version("blobs", "p", 2)
    assert (stored.kind, stored.num_rows, stored.parents) == ("files", 1, ["p/blobs@1"])
    assert [f.path for f in full.list_dataset_files("blobs", 2, "p")] == ["b.bin"]
    edges = full.get_lineage("dataset_version", "p/blobs@2")
    assert [(e.relation, e.target_id) for e in edges] == [("derived_from", "p/blobs@1")]
    assert [e.action for e in full.list_audit_events(project="p")] == [
        "dataset_version.create",
        "dataset_version.create",
    ]
    assert full.verify_audit().ok
    full.close()


def test_data_add_loads_no_sqlalchemy(tmp_path: Path) -> None:
    """`setpoint data add` of a new file on an existing embedded store makes its version
    without importing SQLAlchemy, whose import would compete with the copy and the hash."""
    (tmp_path / "one.bin").write_bytes(os.urandom(1000))
    (tmp_path / "two.bin").write_bytes(os.urandom(1000))
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    probe = textwrap.dedent(
        """
        import sys
        from setpoint.cli.main import main
        try:
            main(["data", "add", sys.argv[1], "--name", "blobs"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("sqlalchemy" in sys.modules, file=sys.stderr)
        """
    )
    seen = []
    for name in ("one.bin", "two.bin"):
        done = subprocess.run(
            [sys.executable, "-c", probe, name],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        seen.append((done.stdout.strip(), done.stderr.split()[-1]))
    assert seen[0][0].startswith("default/blobs@1: 1 files")
    assert seen[1][0].startswith("default/blobs@2: 1 files") and seen[1][1] == "False"


def test_an_interrupt_as_a_write_begins_leaves_no_lock_held(
    made: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM in the CLI) is raised right after the write lock is taken, as the
    BEGIN returns: the transaction is rolled back, the lock freed, and the run that was being
    changed can still be ended (the pipeline ends its runs `killed` on the way out)."""
    from setpoint.store.metadata import database

    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_S", 1)  # a failure fails fast
    armed = []

    class Interrupted(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            cursor = super().execute(sql, *args)
            if armed and sql == "BEGIN IMMEDIATE":
                armed.clear()
                raise KeyboardInterrupt  # the signal, delivered as the C call returns
            return cursor

    real_connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3, "connect", lambda *a, **k: real_connect(*a, factory=Interrupted, **k)
    )
    lite = open_lite_client(made)
    assert lite is not None
    run = lite.create_run("p", "r")
    armed.append(True)
    with pytest.raises(KeyboardInterrupt):
        lite.log_params(run.id, {"a": "1"})
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert write_lock_free(made.database_url.split("///", 1)[1])
    assert lite.end_run(run.id, "killed", "KeyboardInterrupt").status == "killed"
    assert lite._full is None
    lite.close()


def test_a_transaction_left_open_is_rolled_back_before_the_next(made: Settings) -> None:
    db = LiteDatabase(made.database_url).open()
    raw = db._raw
    assert raw is not None
    raw.execute("BEGIN IMMEDIATE")  # as an interrupt between BEGIN and the with block leaves it
    raw.execute("INSERT INTO projects (name, description, created_at) VALUES ('half', '', 0)")
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO projects (name, description, created_at) VALUES ('whole', '', 0)"
        )
    with db.read() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM projects").all()]
    assert names == ["whole"]
    assert write_lock_free(db.path or "")
    db.close()


def test_data_add_stopped_mid_copy_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGTERM (or Ctrl-C) while `data add` copies a large file into the store: the copy
    stops and what it had copied is removed (not left, whole or in part, for `gc` to find an
    hour later), nothing is versioned."""
    import signal
    import time

    big = tmp_path / "big.bin"
    block = os.urandom(8 << 20)
    with open(big, "wb") as fh:
        for _ in range(128):
            fh.write(block)  # 1 GiB: its copy takes long enough to be stopped
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home")}
    setpoint = [sys.executable, "-m", "setpoint"]
    subprocess.run([*setpoint, "data", "list"], env=env, check=True, capture_output=True)
    staging = tmp_path / "home" / "artifacts" / "tmp"
    proc = subprocess.Popen(
        [*setpoint, "data", "add", str(big), "--name", "big"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    # well into the copy, when the command is waiting for it
    while not any(f.stat().st_size >= 400 << 20 for f in staging.glob("*")):
        assert proc.poll() is None and time.monotonic() < deadline, "the copy never started"
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the copy finished before the signal landed")
    assert proc.returncode == 143 and "aborted" in err
    assert list(staging.glob("*")) == []
    stored = tmp_path / "home" / "artifacts"
    assert sum(f.stat().st_size for f in stored.rglob("*") if f.is_file()) < 1 << 20
    listed = subprocess.run([*setpoint, "data", "list"], env=env, capture_output=True, text=True)
    assert "big" not in listed.stdout


def test_a_cancelled_copy_into_the_store_keeps_nothing(made: Settings, tmp_path: Path) -> None:
    import threading

    from setpoint.store.artifacts.blobs import BlobStore, CopyCancelled

    (tmp_path / "f.bin").write_bytes(os.urandom(1 << 20))
    blobs = BlobStore.for_settings(made).open()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CopyCancelled):
        blobs.put_file(tmp_path / "f.bin", cancel=cancel)
    stored = Path(made.home) / "artifacts"
    assert [f for f in stored.rglob("*") if f.is_file()] == []
