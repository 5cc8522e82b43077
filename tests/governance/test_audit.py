"""The audit trail: every registry change leaves an event; the hash chain shows tampering."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import delete, update

from setpoint.client.local import LocalClient
from setpoint.core.errors import InvalidArgumentError
from setpoint.store.metadata.tables import audit_events


def _changes(client: Any, n: int = 3) -> None:
    client.create_model("fraud-detector", "fraud", "flags card fraud", "alice")
    for i in range(n):
        client.set_policy(
            "fraud-detector", "champion", f"gates:\n  - approvals: {i + 1}\n", "fraud", "bob"
        )


def test_changes_are_audited_with_actor_subject_and_before_after(client: Any) -> None:
    _changes(client)
    events = client.list_audit_events(project="fraud")
    assert [e.action for e in events] == ["model.create"] + ["model.policy"] * 3
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].actor == "alice" and events[0].subject == "fraud/fraud-detector"
    assert events[2].before == {"alias": "champion", "policy": "gates:\n  - approvals: 1\n"}
    assert events[2].after["policy"] == "gates:\n  - approvals: 2\n"
    verdict = client.verify_audit()
    assert verdict.ok and verdict.events == 4 and verdict.first_bad is None
    assert client.list_audit_events(project="other") == []
    assert [e.seq for e in client.list_audit_events(after_seq=2, limit=1)] == [3]


def test_an_edited_event_is_named_by_verify(client: Any, local: LocalClient) -> None:
    _changes(client)
    with local.db.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(actor="mallory"))
    verdict = client.verify_audit()
    assert not verdict.ok and verdict.first_bad == 2 and verdict.events == 1
    assert "contents" in (verdict.reason or "")


def test_a_deleted_event_is_named_by_verify(client: Any, local: LocalClient) -> None:
    _changes(client)
    with local.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 3))
    verdict = client.verify_audit()
    assert (verdict.ok, verdict.first_bad) == (False, 3)
    # and the last one: the chain is intact but shorter than its head says
    with local.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq >= 3))
    verdict = client.verify_audit()
    assert (verdict.ok, verdict.first_bad) == (False, 3)


def test_a_failed_change_leaves_no_event(client: Any) -> None:
    _changes(client, 1)
    with pytest.raises(InvalidArgumentError):
        client.set_policy("fraud-detector", "champion", "gates: [{bogus: 1}]", "fraud", "bob")
    assert len(client.list_audit_events()) == 2 and client.verify_audit().ok


def test_concurrent_writers_keep_the_chain_gap_free(client: Any, mode: str) -> None:
    if mode == "remote":
        pytest.skip("the store-side concurrency is what is under test")
    # one model per writer: nothing but the audit head serialises them
    for i in range(4):
        client.create_model(f"m{i}", "p")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                client.set_policy(
                    f"m{i}", "champion", f"gates:\n  - approvals: {j + 1}\n", "p", f"w{i}"
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = client.list_audit_events(limit=1000)
    assert [e.seq for e in events] == list(range(1, 45))
    assert client.verify_audit().ok


def test_one_new_model_created_by_many_writers_at_once(client: Any, mode: str) -> None:
    if mode == "remote":
        pytest.skip("the store-side concurrency is what is under test")
    client.create_project("p")
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        try:
            barrier.wait()
            client.create_model("same", "p")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [m.name for m in client.list_models("p")] == ["same"]
    assert len(client.list_audit_events(action="model.create")) == 1


def test_cli_lists_and_verifies(client: Any, local: LocalClient, mode: str, capsys: Any) -> None:
    from setpoint.cli.main import main

    if mode != "sqlite":
        pytest.skip("the CLI reads the SDK default client; one mode is enough")
    _changes(client, 1)
    main(["audit", "list", "--project", "fraud"])
    out = capsys.readouterr().out
    assert "model.create" in out and "model.policy" in out
    main(["audit", "verify"])
    assert "ok: 2 events" in capsys.readouterr().out
    with local.db.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 1).values(action="x"))
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "verify"])
    assert exit_.value.code == 1
    assert "event 1" in capsys.readouterr().err


def test_runs_and_dataset_versions_are_audited(client: Any) -> None:
    import pandas as pd

    import setpoint as sp

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with sp.start_run(project="p", name="train") as run:
        v = sp.log_dataset(df, name="d", project="p")
        sp.log_dataset(df, name="d", project="p")  # unchanged: no new version, no event
        run.log_input(v)
        sp.validate(v, sp.infer_suite(v, reference=False))
    events = client.list_audit_events(project="p")
    assert [(e.action, e.subject) for e in events] == [
        ("run.create", run.id),
        ("dataset_version.create", "p/d@1"),
        ("dataset_version.validate", "p/d@1"),
        ("run.end", run.id),
    ]
    assert events[0].after == {"name": "train", "parent_id": None}
    assert events[3].after == {"status": "finished", "error": None}
    assert events[2].after["passed"] is True
    assert client.verify_audit().ok
