"""Contract tests for tracking: the same tests on SQLite, PostgreSQL and a remote server."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import setpoint as sp
from setpoint.core.errors import (
    ArtifactCorruptedError,
    ArtifactNotFoundError,
    ConflictError,
    FilterSyntaxError,
    InvalidArgumentError,
    ParamConflictError,
    ProjectNotFoundError,
    RunNotActiveError,
    RunNotFoundError,
)


def test_the_issue_example_round_trips(client: Any, tmp_path: Path) -> None:
    png = tmp_path / "confusion.png"
    png.write_bytes(b"\x89PNG fake image bytes")
    with sp.start_run(project="fraud", name="baseline", tags={"team": "risk"}) as run:
        run.log_params({"n_estimators": 200, "max_depth": 8})
        for epoch in range(100):
            run.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        run.log_metric("auc", 0.93)
        run.log_artifact(png)
    with sp.start_run(project="fraud", name="deeper") as other:
        other.log_params({"n_estimators": 200, "max_depth": 12})
        other.log_metric("auc", 0.97)

    runs = sp.search_runs(
        project="fraud",
        filter="metrics.auc > 0.9 and params.max_depth = '8'",
        order_by=["metrics.auc desc"],
    )
    assert list(runs["run_id"]) == [run.id]
    row = runs.iloc[0]
    assert row["status"] == "finished"
    assert row["params.n_estimators"] == "200"
    assert row["tags.team"] == "risk"
    assert row["metrics.loss"] == pytest.approx(0.01)

    history = sp.get_metric_history(run.id, "loss")
    assert list(history["step"]) == list(range(100))
    assert history["value"].iloc[0] == 1.0

    stored = sp.get_run(run.id)
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.python_version and stored.host
    import numpy
    import pandas

    import setpoint

    # the versions of the key packages the code imported, as imported
    assert stored.packages["numpy"] == numpy.__version__
    assert stored.packages["pandas"] == pandas.__version__
    assert stored.packages["setpoint"] == setpoint.__version__
    assert [a.path for a in client.list_artifacts(run.id)] == ["confusion.png"]
    out = client.download_artifact(run.id, "confusion.png", tmp_path / "out")
    assert Path(out[0]).read_bytes() == png.read_bytes()


def test_sp_client_is_callable_after_any_sdk_call(client: Any) -> None:
    """The package setpoint.client shares the name: once any SDK call imported it,
    ``sp.client`` was that package and ``sp.client()`` a TypeError (the docs' ``client.``)."""
    with sp.start_run(project="fraud", name="a") as run:
        pass
    c = sp.client()
    assert c is sp.client() and c.get_run(run.id).name == "a"


def test_search_orders_filters_and_pages(client: Any) -> None:
    ids = []
    for i in range(7):
        with sp.start_run(
            project="grid", name=f"r{i}", tags={"kind": "even" if i % 2 == 0 else "odd"}
        ) as r:
            r.log_params({"depth": i % 3, "model": "xgb-hist" if i < 4 else "linear"})
            r.log_metric("auc", 0.5 + i / 20)
            ids.append(r.id)
    page = sp.search_runs(project="grid", order_by=["metrics.auc desc"], max_results=3)
    assert list(page["run_id"]) == ids[::-1][:3]
    token = page.attrs["next_page_token"]
    rest = sp.search_runs(
        project="grid", order_by=["metrics.auc desc"], max_results=3, page_token=token
    )
    assert list(rest["run_id"]) == ids[::-1][3:6]
    last = sp.search_runs(
        project="grid",
        order_by=["metrics.auc desc"],
        max_results=3,
        page_token=rest.attrs["next_page_token"],
    )
    assert list(last["run_id"]) == [ids[0]] and last.attrs["next_page_token"] is None

    def found(f: str) -> set[str]:
        return set(sp.search_runs(project="grid", filter=f)["run_id"])

    assert found("params.model LIKE 'xgb%'") == set(ids[:4])
    assert found("params.model LIKE 'XGB%'") == set()
    assert found("params.model ILIKE 'XGB%'") == set(ids[:4])
    assert found("tags.kind = 'odd' or metrics.auc >= 0.8") == {ids[1], ids[3], ids[5], ids[6]}
    assert found("(tags.kind = 'odd' or metrics.auc >= 0.8) and params.depth = '0'") == {
        ids[3],
        ids[6],
    }
    assert found("params.depth IN ('1', '2') AND name != 'r1'") == {ids[2], ids[4], ids[5]}
    assert found("status = 'finished'") == set(ids)
    assert found("metrics.missing > 0") == set()
    # whether a run has a param or tag at all, as MLflow's IS NULL / IS NOT NULL
    sp.client().set_tags(ids[0], {"reviewed": ""})  # an empty value is still a tag
    assert found("tags.reviewed IS NOT NULL") == {ids[0]}
    assert found("tags.reviewed is null") == set(ids[1:])
    assert found("params.depth IS NULL") == set()
    assert found("params.missing IS NULL and tags.kind = 'odd'") == {ids[1], ids[3], ids[5]}
    assert found("params.missing IS NOT NULL or tags.reviewed IS NOT NULL") == {ids[0]}
    ordered = sp.search_runs(
        project="grid", filter="tags.reviewed IS NULL", order_by=["metrics.auc desc"]
    )
    assert list(ordered["run_id"]) == ids[:0:-1]
    by_name = sp.search_runs(project="grid", order_by=["name asc"], max_results=2)
    assert list(by_name["name"]) == ["r0", "r1"]
    # each metric or param key is a join: as many as allowed work, more are a clear error
    # (64 keys used to be a 500: SQLite joins at most 64 tables)
    many = [f"metrics.m{i} desc" for i in range(19)] + ["metrics.auc desc"]
    assert list(sp.search_runs(project="grid", order_by=many)["run_id"]) == ids[::-1]
    for n in (21, 64):
        with pytest.raises(InvalidArgumentError, match="order_by takes at most 20 keys") as e:
            sp.search_runs(project="grid", order_by=[f"params.p{i}" for i in range(n)])
        assert e.value.field == "order_by"


def test_a_deleted_run_leaves_searches_keeps_its_data_and_comes_back(client: Any) -> None:
    with sp.start_run(project="del", name="kept") as kept:
        kept.log_metric("auc", 0.8)
    with sp.start_run(project="del", name="gone") as gone:
        gone.log_metric("auc", 0.9)
        gone.log_params({"depth": 3})
    deleted = sp.delete_run(gone.id)
    assert deleted.deleted_at is not None and deleted.status == "finished"
    with pytest.raises(ConflictError, match="already"):
        sp.delete_run(gone.id)
    assert list(sp.search_runs("del", order_by=["metrics.auc desc"])["run_id"]) == [kept.id]
    assert list(sp.search_runs("del", lifecycle="deleted")["run_id"]) == [gone.id]
    assert set(sp.search_runs("del", lifecycle="all")["run_id"]) == {kept.id, gone.id}
    with pytest.raises(InvalidArgumentError, match="lifecycle") as bad:
        sp.search_runs("del", lifecycle="gone")
    assert bad.value.field == "lifecycle"
    with pytest.raises(RunNotActiveError, match="deleted"):
        client.set_tags(gone.id, {"note": "x"})
    # still readable: the run, its params and its history
    assert sp.get_run(gone.id).params == {"depth": "3"}
    assert list(sp.get_metric_history(gone.id, "auc")["value"]) == [0.9]

    restored = sp.restore_run(gone.id)
    assert restored.deleted_at is None
    assert set(sp.search_runs("del")["run_id"]) == {kept.id, gone.id}
    with pytest.raises(RunNotFoundError):
        sp.delete_run("0" * 32)


def test_a_deleted_project_takes_no_runs_until_restored(client: Any) -> None:
    with sp.start_run(project="old", name="r") as r:
        r.log_metric("auc", 0.5)
    client.set_project_tags("old", {"owner": "ml"})
    running = client.create_run("old")
    gone = client.delete_project("old")
    # nor writes to its runs (as a deleted run takes none), but they may still end
    for write in (
        lambda: client.log_batch(running.id, params={"lr": "0.1"}),
        lambda: client.set_tags(running.id, {"k": "v"}),
        lambda: client.log_batch(r.id, tags={"k": "v"}),
    ):
        with pytest.raises(RunNotActiveError, match=r"project of run .* is deleted; restore"):
            write()
    assert client.get_run(running.id).params == {} and client.get_run(r.id).tags.get("k") is None
    assert client.end_run(running.id, "finished").status == "finished"
    assert gone.deleted_at is not None and gone.tags == {"owner": "ml"}
    assert "old" not in [p.name for p in sp.list_projects()]
    assert [p.name for p in client.list_projects(lifecycle="deleted")] == ["old"]
    with pytest.raises(ConflictError, match="restore"):
        sp.start_run(project="old")
    with pytest.raises(ConflictError, match="restore"):
        client.set_project_tags("old", {"tier": "1"})
    with pytest.raises(ConflictError, match="restore"):
        client.create_model("m", project="old")
    with pytest.raises(ConflictError, match="restore"):
        sp.log_dataset(pd.DataFrame({"a": [1]}), name="d", project="old")
    assert r.id not in list(sp.search_runs()["run_id"])
    assert set(sp.search_runs("old")["run_id"]) == {r.id, running.id}

    client.restore_project("old")
    client.set_tags(r.id, {"k": "v"})
    assert client.get_run(r.id).tags["k"] == "v"
    client.set_project_tags("old", {})  # nothing to set is no error
    with sp.start_run(project="old") as again:
        pass
    assert client.create_model("m", project="old").name == "m"
    assert set(sp.search_runs()["run_id"]) >= {r.id, again.id}
    client.delete_project_tag("old", "owner")
    assert client.get_project("old").tags == {}
    with pytest.raises(ProjectNotFoundError):
        client.delete_project("never-made")
    with pytest.raises(InvalidArgumentError, match="cannot be deleted"):
        client.delete_project("default")


def test_datasets_read_from_elsewhere_are_kept_with_the_run(client: Any) -> None:
    with sp.start_run(project="inputs") as run:
        pass
    given = {"name": "train", "digest": "bf474841", "source_type": "s3",
             "source": '{"uri": "s3://b/train.parquet"}', "tags": {"context": "training"}}  # fmt: skip
    client.log_inputs(run.id, [given, given])
    client.log_inputs(run.id, [])
    [kept] = client.list_run_inputs(run.id)
    assert (kept.name, kept.digest, kept.tags, kept.schema) == (
        "train",
        "bf474841",
        {"context": "training"},
        None,
    )
    for bad, field in (
        ({"digest": "x"}, "datasets[0].name"),
        ({"name": "t", "digest": "x" * 65}, "datasets[0].digest"),
        ({"name": "t", "digest": "x", "schema": 3}, "datasets[0].schema"),
        ({"name": "t\x00", "digest": "x"}, "datasets[0].name"),
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            client.log_inputs(run.id, [bad])
        assert refused.value.field == field
    with pytest.raises(RunNotFoundError):
        client.log_inputs("0" * 32, [given])
    with sp.start_run(project="inputs") as reader:
        pass
    client.log_inputs(reader.id, [], consumed_runs=[run.id, run.id])
    edges = [e for e in client.get_lineage("run", reader.id) if e.relation == "consumed"]
    assert [(e.source_id, e.target_id) for e in edges] == [(reader.id, run.id)]
    with pytest.raises(RunNotFoundError):  # nothing is kept when one reference is wrong
        client.log_inputs(reader.id, [given], consumed_runs=["f" * 32])
    assert client.list_run_inputs(reader.id) == []


def test_a_filtered_search_sorted_by_a_metric_keeps_to_its_projects(client: Any) -> None:
    """The filter is tested on the sort key's rows before the run's project is: runs of
    other projects with the same keys and values never come back, and runs lacking the
    sort key still come last."""
    mine: list[tuple[float, str]] = []
    for project in ("mine", "theirs"):
        for i in range(12):
            with sp.start_run(project=project, name=f"r{i}") as r:
                r.log_params({"depth": i % 3, "model": "xgb"})
                if i != 0:
                    r.log_metric("auc", i / 20)
                r.log_metric("loss", 1 - i / 20)
                if project == "mine" and i % 3 == 0 and i / 20 < 0.5:
                    mine.append((i / 20 if i else -1.0, r.id))
    page = sp.search_runs(
        project="mine",
        filter="metrics.loss > 0.5 and params.model = 'xgb' and params.depth = '0'",
        order_by=["metrics.auc desc"],
    )
    assert list(page["run_id"]) == [rid for _, rid in sorted(mine, reverse=True)]
    both = sp.search_runs(
        project=["mine", "theirs"],
        filter="params.depth = '0' and metrics.loss > 0.5",
        order_by=["metrics.auc asc"],
        max_results=3,
    )
    assert list(both["metrics.auc"]) == [0.15, 0.15, 0.3]


@pytest.mark.parametrize("per_hit", [0, 1000])  # never / always start from the equality
def test_a_narrow_equality_sorts_its_runs_as_walking_the_sort_key_does(
    client: Any, monkeypatch: pytest.MonkeyPatch, per_hit: int
) -> None:
    from setpoint.store.metadata import run_search

    monkeypatch.setattr(run_search, "CANDIDATES_PER_HIT", per_hit)
    expected: list[tuple[float, int, str]] = []
    high: list[tuple[float, int, str]] = []  # auc above 0.25
    for i in range(16):
        with sp.start_run(project="narrow", name=f"r{i}") as r:
            r.log_params({"team": "a" if i % 4 == 0 else "b", "fold": i % 2})
            if i % 8 != 0:  # two of team a lack the sort key: they come last
                r.log_metric("auc", (i % 5) / 10)
            if i % 4 == 0:
                expected.append((-((i % 5) / 10) if i % 8 else 1.0, -i, r.id))
            if i % 8 != 0 and (i % 5) / 10 > 0.25:
                high.append((-((i % 5) / 10), -i, r.id))
    with sp.start_run(project="elsewhere") as other:  # same param, other project
        other.log_params({"team": "a"})
        other.log_metric("auc", 0.99)
    ids = [rid for *_, rid in sorted(expected)]  # auc desc, lacking last, newest first

    def page(f: str, n: int, token: str | None = None) -> Any:
        return client.search_runs(["narrow"], f, ["metrics.auc DESC"], n, token)

    first = page("params.team = 'a'", 3)
    rest = page("params.team = 'a'", 3, first.next_page_token)
    assert [r.id for r in first.runs + rest.runs] == ids
    assert [r.id for r in page("params.team = 'a' and params.fold = '0'", 10).runs] == ids
    assert page("params.team = 'a' and metrics.auc > 5", 10).runs == []
    assert [r.id for r in page("metrics.auc > 0.25", 20).runs] == [rid for *_, rid in sorted(high)]
    assert page("params.team = 'nobody'", 10).runs == []


def test_params_are_write_once(client: Any) -> None:
    with sp.start_run(project="p") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # same value again: fine
        with pytest.raises(ParamConflictError) as err:
            run.log_param("lr", 0.2)
        assert "lr" in str(err.value) and "0.1" in str(err.value)
        assert run.info.params == {"lr": "0.1"}  # written with the flush `info` makes
        with pytest.raises(ParamConflictError):  # the store itself refuses too
            client.log_params(run.id, {"lr": "0.3"})
        client.log_params(run.id, {"lr": "0.1", "depth": 3})
    assert sp.get_run(run.id).params == {"depth": "3", "lr": "0.1"}


def test_logging_to_an_ended_run_is_refused(client: Any) -> None:
    run = sp.start_run(project="p")
    run.log_metric("x", 1.0)
    run.end()
    with pytest.raises(RunNotActiveError):
        run.log_metric("x", 2.0)
    with pytest.raises(RunNotActiveError):
        client.log_metrics(run.id, ["x"], [3.0], [5])
    with pytest.raises(RunNotActiveError):
        client.log_params(run.id, {"a": 1})
    with pytest.raises(RunNotActiveError):
        client.end_run(run.id)
    assert sp.get_metric_history(run.id, "x")["value"].tolist() == [1.0]


def test_unknown_ids_and_projects(client: Any) -> None:
    with pytest.raises(RunNotFoundError):
        client.get_run("0" * 32)
    with pytest.raises(RunNotFoundError):
        client.log_metrics("f" * 32, ["x"], [1.0], [0])
    with pytest.raises(RunNotFoundError):
        client.get_metric_history("f" * 32, "x")
    with pytest.raises(ProjectNotFoundError):
        sp.search_runs(project="no-such-project")


@pytest.mark.parametrize(
    ("project", "name", "phrase"),
    [
        ("", None, "must not be empty"),
        ("x" * 129, None, "at most 128"),
        ("bad name!", None, "characters outside"),
        ("trailing\n", None, "characters outside"),  # `$` matched before a final newline
        ("ok", "nm\n", "control character"),
        ("ok", "nul\x00", "control character"),
        ("ok", "x" * 129, "at most 128"),
    ],
)
def test_bad_names_are_refused(client: Any, project: str, name: str | None, phrase: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        sp.start_run(project=project, name=name)
    assert phrase in str(err.value)


def test_bad_metric_keys_and_values(client: Any) -> None:
    with sp.start_run(project="p") as run:
        with pytest.raises(InvalidArgumentError) as err:
            run.log_metric("loss", "0.5")  # type: ignore[arg-type]
        assert "must be a number" in str(err.value)
        with pytest.raises(InvalidArgumentError):
            run.log_metric("", 1.0)
        with pytest.raises(InvalidArgumentError):
            run.log_metric("a" * 300, 1.0)
        with pytest.raises(InvalidArgumentError):
            run.log_metric("ok", True)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            run.log_metric("k\n", 1.0)
        with pytest.raises(InvalidArgumentError):
            client.log_metrics(run.id, ["ok"], ["abc"], [0])
        run.log_metric("odd", math.nan, step=0)
        run.log_metric("odd", 2.5, step=1)
    h = sp.get_metric_history(run.id, "odd")
    assert math.isnan(h["value"][0]) and h["value"][1] == 2.5


def test_keys_are_those_mlflow_takes(client: Any) -> None:
    """Letters of any script, and '..' inside a key (MLflow's clients send such keys); a
    key that is not a plain relative path is refused, naming the rule."""
    keys = ["précision", "学习率", "loss..val", "val/loss", "lr schedule", "a:b", ".hidden"]
    with sp.start_run(project="p") as run:
        for i, key in enumerate(keys):
            run.log_metric(key, float(i))
        run.log_params({key: "v" for key in keys})
        run.set_tags({key: "t" for key in keys})
        for bad in ["a//b", "a/", "./a", "a/../b", "..x", "/abs", "a*b"]:
            with pytest.raises(InvalidArgumentError, match=r"no '/' or '\.\.' at its start"):
                run.log_metric(bad, 1.0)
    got = client.get_run(run.id)
    assert got.metrics == {key: float(i) for i, key in enumerate(keys)}
    assert set(got.params) == set(keys) and set(keys) <= set(got.tags)
    found = client.search_runs(["p"], "metrics.学习率 = 1 and params.`précision` = 'v'").runs
    assert [r.id for r in found] == [run.id]


def test_a_failing_block_marks_the_run_failed(client: Any) -> None:
    with pytest.raises(ZeroDivisionError), sp.start_run(project="p", name="boom") as run:
        run.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    stored = sp.get_run(run.id)
    assert stored.status == "failed"
    assert "ZeroDivisionError" in (stored.error or "")
    assert stored.metrics == {"before": 1.0}


def test_latest_metric_is_the_highest_step(client: Any) -> None:
    with sp.start_run(project="p") as run:
        run.log_metric("m", 5.0, step=10)
        run.log_metric("m", 1.0, step=3)  # late point for an earlier step
        run.flush()
        run.log_metric("m", 7.0, step=2)
    assert sp.get_run(run.id).metrics["m"] == 5.0
    assert sp.get_metric_history(run.id, "m")["step"].tolist() == [2, 3, 10]


def test_of_points_at_one_step_and_time_the_last_logged_is_the_latest(client: Any) -> None:
    """Whether the points reached the store in one flush or two used to decide it."""
    with sp.start_run(project="p") as run:
        run.log_metric("one", 5.0, step=3, timestamp=1000)
        run.log_metric("one", 4.0, step=3, timestamp=1000)  # the same flush
        run.log_metric("two", 1.0, step=3, timestamp=1000)
        run.flush()
        run.log_metric("two", 2.0, step=3, timestamp=1000)  # a later flush
    assert sp.get_run(run.id).metrics == {"one": 4.0, "two": 2.0}
    assert sp.get_metric_history(run.id, "one")["value"].tolist() == [5.0, 4.0]


def test_nested_runs_and_tags(client: Any) -> None:
    with sp.start_run(project="p", name="parent") as parent:
        with sp.start_run(project="p", name="child", nested=True) as child:
            child.set_tag("stage", "1")
            child.set_tag("stage", "2")  # tags may change
    assert sp.get_run(child.id).parent_id == parent.id
    assert sp.get_run(child.id).tags == {"stage": "2"}
    kids = sp.search_runs(project="p", filter=f"parent_id = '{parent.id}'")
    assert list(kids["run_id"]) == [child.id]


def test_filter_errors_point_at_the_position(client: Any) -> None:
    with pytest.raises(FilterSyntaxError) as err:
        sp.search_runs(filter="metrics.auc >> 0.9")
    assert "position 13" in str(err.value)
    with pytest.raises(InvalidArgumentError):
        sp.search_runs(max_results=0)
    with pytest.raises(InvalidArgumentError):
        sp.search_runs(page_token="not-a-token")


def test_artifacts_folders_bytes_and_json(client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    with sp.start_run(project="p") as run:
        run.log_artifact(folder)
        run.log_bytes(b"\x00\x01", "raw/data.bin")
        run.log_dict({"k": [1, 2]}, "config.json")
        with pytest.raises(InvalidArgumentError):
            run.log_bytes(b"x", "../outside")
        with pytest.raises(InvalidArgumentError):
            run.log_artifact(tmp_path / "missing.txt")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["config.json", "plots/a.txt", "plots/sub/b.txt", "raw/data.bin"]
    got = client.download_artifact(run.id, "plots", tmp_path / "dl")
    assert sorted(Path(p).relative_to(tmp_path / "dl").as_posix() for p in got) == [
        "plots/a.txt",
        "plots/sub/b.txt",
    ]
    assert (tmp_path / "dl" / "plots" / "sub" / "b.txt").read_text() == "B"
    with pytest.raises(ArtifactNotFoundError):
        client.download_artifact(run.id, "nope.txt", tmp_path / "dl")
    with pytest.raises(RunNotActiveError):
        run.log_bytes(b"late", "late.bin")


def test_identical_artifacts_are_stored_once(client: Any, local: Any) -> None:
    with sp.start_run(project="p") as a:
        a.log_bytes(b"same bytes", "x.bin")
    with sp.start_run(project="p") as b:
        b.log_bytes(b"same bytes", "y.bin")
    digests = {d for d, _, _ in local.blobs.iter_digests()}
    assert len(digests) == 1


def test_a_changed_artifact_is_refused(client: Any, local: Any, tmp_path: Path) -> None:
    with sp.start_run(project="p") as run:
        art = run.log_bytes(b"model weights v1", "model.bin")
    blob = (
        Path(local.settings.artifacts_url) / "blobs" / art.digest[:2] / art.digest[2:4] / art.digest
    )
    blob.write_bytes(b"model weights v2")
    with pytest.raises(ArtifactCorruptedError) as err:
        client.download_artifact(run.id, "model.bin", tmp_path / "dl")
    assert art.digest in str(err.value)
    assert not (tmp_path / "dl" / "model.bin").exists()


def test_lineage_edges(client: Any) -> None:
    with sp.start_run(project="p") as run:
        pass
    client.add_lineage("run", run.id, "consumed", "dataset_version", "transactions@3")
    client.add_lineage("run", run.id, "consumed", "dataset_version", "transactions@3")  # idempotent
    edges = client.get_lineage("run", run.id)
    assert [(e.relation, e.target_id) for e in edges] == [("consumed", "transactions@3")]
    with sp.start_run(project="p") as producer:
        art = producer.log_bytes(b"weights", "model.bin")
    produced = client.get_lineage("artifact", art.digest)
    assert [(e.source_id, e.relation) for e in produced] == [(producer.id, "produced")]
    with pytest.raises(InvalidArgumentError):
        client.add_lineage("run", run.id, "ate", "dataset_version", "x")


def test_projects(client: Any) -> None:
    client.create_project("alpha", "first")
    with sp.start_run(project="beta"):
        pass
    assert [p.name for p in sp.list_projects()] == ["alpha", "beta"]


def test_a_param_refused_by_the_store_keeps_the_points(client: Any) -> None:
    with pytest.raises(ParamConflictError), sp.start_run(project="p") as run:
        client.log_params(run.id, {"lr": "0.1"})  # another writer got there first
        run.log_param("lr", 0.2)  # unknown to this handle: accepted, checked by the store
        run.log_metric("x", 1.0)
        run.flush()
        run.log_metric("x", 2.0)  # the refusal surfaces on the next call
    stored = sp.get_run(run.id)
    assert stored.params == {"lr": "0.1"}
    assert stored.status == "failed" and "ParamConflictError" in (stored.error or "")
    assert sp.get_metric_history(run.id, "x")["value"].tolist() == [1.0]


def test_a_param_refused_in_a_flush_is_raised_and_the_others_are_stored(client: Any) -> None:
    """A conflict found by a flush dropped every param of that flush and was raised by no
    later call: the run ended finished without its other params."""
    with pytest.raises(ParamConflictError) as at_end:
        with sp.start_run(project="p") as run:
            client.log_params(run.id, {"a": "1"})  # another writer got there first
            run.log_params({"a": 2, "b": 3})
            with pytest.raises(ParamConflictError) as at_flush:
                run.flush()
            assert at_flush.value.field == "params.a"
    assert at_end.value.field == "params.a"
    stored = sp.get_run(run.id)
    assert stored.params == {"a": "1", "b": "3"}
    assert stored.status == "failed" and "ParamConflictError" in (stored.error or "")
    # found at the end: the others are stored with the end
    with pytest.raises(ParamConflictError), sp.start_run(project="p") as later:
        client.log_params(later.id, {"a": "1", "c": "1"})
        later.log_params({"a": 2, "b": 3, "c": 2, "d": 4})
    assert sp.get_run(later.id).params == {"a": "1", "b": "3", "c": "1", "d": "4"}


def test_a_param_conflict_found_at_the_end_keeps_points_and_ends_failed(client: Any) -> None:
    run = sp.start_run(project="p")
    client.log_params(run.id, {"lr": "0.1"})  # another writer
    run.log_param("lr", 0.2)
    run.log_metric("x", 1.0)
    with pytest.raises(ParamConflictError):
        run.end()
    stored = sp.get_run(run.id)
    assert stored.status == "failed" and "lr" in (stored.error or "")
    assert stored.metrics == {"x": 1.0} and stored.params == {"lr": "0.1"}


def test_out_of_range_numbers_are_refused_where_they_are_logged(client: Any) -> None:
    with sp.start_run(project="p") as run:
        with pytest.raises(InvalidArgumentError) as err:
            run.log_metric("x", 1.0, step=2**63)
        assert "64 bits" in str(err.value)
        with pytest.raises(InvalidArgumentError):
            run.log_metric("x", 10**400)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            client.log_metrics(run.id, ["x"], [1.0], [2**63])
        run.log_metric("y", 2.0)  # later points are not blocked by the refused ones
    assert sp.get_run(run.id).metrics == {"y": 2.0}
    import base64
    import json

    token = base64.urlsafe_b64encode(json.dumps({"offset": 10**30}).encode()).decode()
    with pytest.raises(InvalidArgumentError):
        sp.search_runs(page_token=token)


def test_nan_and_missing_metrics_sort_last_both_ways(client: Any) -> None:
    ids = {}
    for name, auc in (("low", 0.5), ("nan", math.nan), ("high", 0.9), ("none", None)):
        with sp.start_run(project="order", name=name) as r:
            if auc is not None:
                r.log_metric("auc", auc)
        ids[r.id] = name
    for direction, expected in (("asc", ["low", "high"]), ("desc", ["high", "low"])):
        df = sp.search_runs(project="order", order_by=f"metrics.auc {direction}")
        names = [ids[i] for i in df["run_id"]]
        assert names[:2] == expected and sorted(names[2:]) == ["nan", "none"]


def test_like_escapes_and_filter_positions_in_every_mode(client: Any) -> None:
    with sp.start_run(project="esc", tags={"share": "50%"}) as a:
        pass
    with sp.start_run(project="esc", tags={"share": "500"}):
        pass
    found = sp.search_runs(project="esc", filter="tags.share LIKE '50\\%'")
    assert list(found["run_id"]) == [a.id]
    with pytest.raises(FilterSyntaxError) as err:
        sp.search_runs(filter="metrics.auc >> 1")
    assert err.value.position == 13


def test_artifact_folders_with_a_trailing_slash(client: Any, tmp_path: Path) -> None:
    with sp.start_run(project="p") as run:
        run.log_bytes(b"w", "model/w.bin")
    assert [a.path for a in client.list_artifacts(run.id, "model/")] == ["model/w.bin"]


def test_an_artifact_path_is_a_file_or_a_folder_not_both(client: Any, tmp_path: Path) -> None:
    with sp.start_run(project="p") as run:
        run.log_bytes(b"A", "cfg")
        with pytest.raises(ConflictError) as err:
            run.log_bytes(b"B", "cfg/x.json")  # under a file
        assert err.value.field == "path" and "'cfg' is a file" in err.value.message
        run.log_bytes(b"C", "plots/roc.csv")
        with pytest.raises(ConflictError):
            run.log_bytes(b"D", "plots")  # over a folder
        run.log_bytes(b"A2", "cfg")  # the same path again replaces the file
    assert [a.path for a in client.list_artifacts(run.id)] == ["cfg", "plots/roc.csv"]
    assert (Path(client.download_artifact(run.id, "cfg", tmp_path / "a")[0])).read_bytes() == b"A2"
    # a folder of one file downloads as that folder, not as if it were the file
    got = client.download_artifact(run.id, "plots", tmp_path / "b")
    assert [Path(g).relative_to(tmp_path / "b").as_posix() for g in got] == ["plots/roc.csv"]


@pytest.mark.parametrize("name", ["lr 0.1 / depth 3", "modèle", "baseline (final)", "../x"])
def test_a_run_name_is_free_text(client: Any, name: str) -> None:
    """A run's name is a label (runs are addressed by id): any text without control
    characters, found again by a filter on it."""
    with sp.start_run(project="p", name=name) as run:
        pass
    assert client.get_run(run.id).name == name
    assert client.rename_run(run.id, f"{name} v2").name == f"{name} v2"
    found = client.search_runs(["p"], filter=f"attributes.run_name = '{name} v2'").runs
    assert [r.id for r in found] == [run.id]


def test_a_run_can_be_renamed_but_not_to_a_bad_name(client: Any) -> None:
    with sp.start_run(project="p", name="first") as run:
        pass
    assert client.rename_run(run.id, "second").name == "second"
    assert client.get_run(run.id).name == "second"
    [event] = client.list_audit_events(subject=run.id, action="run.rename")
    assert (event.before, event.after) == ({"name": "first"}, {"name": "second"})
    assert event.project == "p" and event.actor
    with pytest.raises(InvalidArgumentError):
        client.rename_run(run.id, "")
    with pytest.raises(RunNotFoundError):
        client.rename_run("0" * 32, "x")


def test_oversized_fields_are_refused_not_truncated(client: Any) -> None:
    from setpoint.tracking.environment import RunEnvironment

    with pytest.raises(InvalidArgumentError) as err:
        client.create_run("p", None, None, None, RunEnvironment(host="h" * 300))
    assert err.value.field == "environment.host"
    with sp.start_run(project="p") as run:
        pass
    with pytest.raises(InvalidArgumentError):
        client.add_lineage("run", run.id, "consumed", "dataset_version", "x" * 201)


def test_a_run_keeps_the_times_its_caller_gives(client: Any) -> None:
    """A run recorded after the fact (MLflow's clients send their own times) starts and
    ends when the caller says; without times, when the store sees it."""
    from setpoint.core.errors import InvalidArgumentError

    run = client.create_run("backfill", "old", start_time=1_600_000_000_000)
    ended = client.end_run(run.id, "finished", end_time=1_600_000_360_000)
    assert (ended.start_time, ended.end_time) == (1_600_000_000_000, 1_600_000_360_000)
    assert client.get_run(run.id).start_time == 1_600_000_000_000
    # a time far out (nanoseconds given for milliseconds, say) still has a date in a listing
    client.create_run("backfill", "far", start_time=2**62)
    listed = sp.search_runs("backfill", order_by=["start_time"])
    assert listed["start_time"].iloc[0] == pd.Timestamp(1_600_000_000_000, unit="ms", tz="UTC")
    assert listed["start_time"].iloc[1].year > 100_000_000
    for field, call in (
        ("start_time", lambda: client.create_run("backfill", "bad", start_time=2**63)),
        ("end_time", lambda: client.end_run(run.id, "finished", end_time="soon")),
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            call()
        assert refused.value.field == field


def test_a_nul_character_is_refused_alike_on_every_backend(client: Any) -> None:
    """PostgreSQL cannot store a NUL character: a param or tag holding one was an internal
    error there (a run handle's end failed and its buffered points were lost), while SQLite
    stored it and then could not find it by a filter."""
    from setpoint.core.errors import FilterSyntaxError, InvalidArgumentError

    run = client.create_run("nul")
    for call, field in (
        (lambda: client.log_params(run.id, {"a": "x\x00y"}), "params.a"),
        (lambda: client.set_tags(run.id, {"t": "x\x00y"}), "tags.t"),
        (lambda: client.create_run("nul", "r", {"t": "\x00"}), "tags.t"),
    ):
        with pytest.raises(InvalidArgumentError) as refused:
            call()
        assert refused.value.field == field
    with pytest.raises(FilterSyntaxError, match="NUL"):
        client.search_runs(["nul"], "params.a = 'x\x00y'", None, 10, None)
    with sp.start_run(project="nul") as handle:
        handle.log_metric("m", 1.0)
        with pytest.raises(InvalidArgumentError):
            handle.log_param("note", "a\x00b")
    assert sp.get_run(handle.id).status == "finished"
    assert sp.get_metric_history(handle.id, "m")["value"].tolist() == [1.0]


def test_params_tags_and_artifact_paths_mean_the_same_in_every_mode(client: Any) -> None:
    """The remote client sent values as JSON: a tuple became "[1, 2]" (locally "(1, 2)"),
    an int beyond 64 bits failed in the encoder, and an artifact path the local client
    refuses was fetched."""
    from setpoint.core.errors import InvalidArgumentError

    run = client.create_run("same")
    client.log_params(run.id, {"t": (1, 2), "big": 2**70, "f": 1.0, "n": float("nan")})
    client.set_tags(run.id, {"huge": 2**64, "l": [1, "a"]})
    stored = client.get_run(run.id)
    assert stored.params == {"t": "(1, 2)", "big": str(2**70), "f": "1.0", "n": "nan"}
    assert stored.tags["huge"] == str(2**64) and stored.tags["l"] == "[1, 'a']"
    client.log_params(run.id, {"t": "(1, 2)"})  # the same value: no conflict
    client.upload_artifact(run.id, "e/x.txt", io.BytesIO(b"x"))
    for path in ("e/", "../e"):
        with pytest.raises(InvalidArgumentError):
            client.download_artifact(run.id, path, "/nonexistent-dest")


def test_a_folder_with_a_name_that_cannot_be_logged_logs_nothing(
    client: Any, tmp_path: Path
) -> None:
    """The files before the bad name were uploaded and stayed listed: half a folder."""
    from setpoint.core.errors import InvalidArgumentError

    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "z.txt").write_text("z")
    (folder / "zz\\bad.txt").write_text("bad")  # a backslash: no artifact path
    with sp.start_run(project="folders") as run:
        with pytest.raises(InvalidArgumentError, match="backslash"):
            run.log_artifact(folder)
    assert client.list_artifacts(run.id) == []


def test_ilike_folds_every_letter_on_every_backend(client: Any) -> None:
    """SQLite's lower() folds ASCII only: ILIKE 'äbc' found 'äbc' but not 'ÄBC' there, and
    both on PostgreSQL."""
    for value in ("ÄBC", "äbc", "abc"):
        client.log_params(client.create_run("fold").id, {"s": value})
    page = client.search_runs(["fold"], "params.s ILIKE 'äbc'", None, 10, None)
    assert sorted(r.params["s"] for r in page.runs) == ["ÄBC", "äbc"]


def test_a_folder_is_visible_whole_or_not_at_all(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file of a folder was its own commit: a failure (or a kill) part-way left the
    first files listed."""
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.bin", "b.bin", "sub/c.bin"):
        (folder / name).write_bytes(name.encode() * 1000)
    real = client.upload_file
    sent: list[str] = []

    def fails_on_the_third(path: Any) -> Any:
        sent.append(str(path))
        if len(sent) == 3:
            raise OSError("the disk went away")
        return real(path)

    with sp.start_run(project="whole") as run:
        monkeypatch.setattr(client, "upload_file", fails_on_the_third)
        with pytest.raises(OSError):
            run.log_artifact(folder)
        assert client.list_artifacts(run.id) == []
        monkeypatch.setattr(client, "upload_file", real)
        logged = run.log_artifact(folder)
    assert sorted(a.path for a in logged) == ["model/a.bin", "model/b.bin", "model/sub/c.bin"]
    assert sorted(a.path for a in client.list_artifacts(run.id)) == sorted(a.path for a in logged)
    with pytest.raises(sp.errors.InvalidArgumentError):
        client.log_artifacts(run.id, {})


def test_a_folder_download_with_a_corrupted_file_leaves_nothing(
    client: Any, local: Any, tmp_path: Path
) -> None:
    """Each file was verified, but those before the corrupted one stayed in the
    destination: half a folder, looking whole."""
    from setpoint.core.errors import ArtifactCorruptedError

    run = client.create_run("dl")
    client.upload_artifact(run.id, "folder/a.txt", io.BytesIO(b"a" * 100))
    bad = client.upload_artifact(run.id, "folder/sub/b.bin", io.BytesIO(b"b" * 100))
    path = local.blobs._path(bad.digest)
    with open(path, "r+b") as fh:
        fh.write(b"X")
    dest = tmp_path / "dl"
    with pytest.raises(ArtifactCorruptedError):
        client.download_artifact(run.id, "folder", dest)
    assert [p for p in dest.rglob("*") if p.is_file()] == []
    assert [p.name for p in dest.iterdir()] == []  # no staging folder left either
    with open(path, "r+b") as fh:
        fh.write(b"b")
    files = client.download_artifact(run.id, "folder", dest)
    assert sorted(Path(f).relative_to(dest).as_posix() for f in files) == [
        "folder/a.txt",
        "folder/sub/b.bin",
    ]


@pytest.mark.parametrize("mode", ["sqlite", "postgres"], indirect=True)
def test_a_search_page_of_tens_of_thousands_of_runs_is_read_whole(client: Any) -> None:
    """A page names its runs in a few statements: one of 25,000 runs once named each id
    three times in one, past PostgreSQL's 65,535 parameters (an internal error)."""
    from setpoint.store.metadata.tables import params, runs

    project = client.create_project("wide")
    first = client.create_run("wide", name="made", tags={"k": "v"})
    client.log_params(first.id, {"p": "1"})
    client.end_run(first.id)
    pid = _project_id(client, project.name)
    rows = [
        {"id": f"{i:032x}", "project_id": pid, "name": f"r{i}", "status": "finished"}
        | {"start_time": i}
        for i in range(25_000)
    ]
    with client.db.write() as conn:
        conn.execute(runs.insert(), rows)
        conn.execute(params.insert(), [{"run_id": r["id"], "key": "p", "value": "0"} for r in rows])
    page = client.search_runs(["wide"], None, ["start_time ASC"], 30_000, None)
    assert len(page.runs) == 25_001 and page.next_page_token is None
    assert page.runs[0].params == {"p": "0"} and page.runs[-1].id == first.id
    assert page.runs[-1].params == {"p": "1"} and page.runs[-1].tags["k"] == "v"


def _project_id(client: Any, name: str) -> int:
    from sqlalchemy import select

    from setpoint.store.metadata.tables import projects

    with client.db.read() as conn:
        return int(conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar_one())


def test_tagged_runs_answers_as_the_search_for_those_tags_does(client: Any) -> None:
    """A step's cache lookup (``tagged_runs``) finds what the filter it replaced found, in
    the same order: equal start times, values past the indexed 200 characters, other
    statuses and tags, deleted runs and projects, in every mode."""

    def searched(project: str, key: str) -> list[str]:
        query = f"tags.cache_key = '{key}' and tags.cache = 'miss' and status = 'finished'"
        try:
            page = client.search_runs([project], query, ["start_time DESC"], 5)
        except ProjectNotFoundError:
            return []
        return [r.id for r in page.runs]

    def tagged(project: str, key: str) -> list[str]:
        found = client.tagged_runs(project, {"cache_key": key, "cache": "miss"}, "finished", 5)
        return [r.id for r in found]

    long_key, shared_start = "x" * 250, "x" * 200 + "y" * 50
    made = {}
    for name, key, start in [
        ("a", "k1", 1000),
        ("b", "k1", 1000),
        ("c", "k1", 1000),
        ("d", "k" * 199, 5),
        ("e", long_key, 5),
        ("f", shared_start, 6),
        ("g", "x" * 200, 7),
    ]:
        run = client.create_run("p1", name, {"cache_key": key, "cache": "miss"}, start_time=start)
        client.end_run(run.id, "finished")
        made[name] = run.id
    client.create_run("p1", "running", {"cache_key": "k1", "cache": "miss"}, start_time=2000)
    failed = client.create_run("p1", "failed", {"cache_key": "k1", "cache": "miss"})
    client.end_run(failed.id, "failed")
    hit = client.create_run("p1", "hit", {"cache_key": "k1", "cache": "hit"}, start_time=2000)
    client.end_run(hit.id, "finished")
    for key in ("k1", "k" * 199, long_key, shared_start, "x" * 200, "none"):
        assert tagged("p1", key) == searched("p1", key)
    assert len(tagged("p1", "k1")) == 3 and tagged("p1", long_key) == [made["e"]]
    assert tagged("no-such-project", "k1") == []
    client.delete_run(made["b"])
    assert tagged("p1", "k1") == searched("p1", "k1") == [made["c"], made["a"]]
    client.delete_project("p1")
    assert tagged("p1", "k1") == searched("p1", "k1")
    with pytest.raises(InvalidArgumentError) as bad:
        client.tagged_runs("p1", {"cache_key": "k1"}, "done")
    assert bad.value.field == "status"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_stale_runs_of_several_projects_fail_audited(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Failing the runs whose heartbeat stopped (hand-written SQL on every database)."""
    import time
    from dataclasses import replace

    from setpoint.client.local import LocalClient

    settings = request.getfixturevalue(f"{'pg' if backend == 'postgres' else 'sqlite'}_settings")
    c = LocalClient(replace(settings, heartbeat_timeout=0.05)).open()
    made = [c.create_run(f"proj{i % 3}", f"r{i}") for i in range(7)]
    time.sleep(0.2)
    assert sorted(c.runs.reap_stale_runs()) == sorted(r.id for r in made)
    for run in made:
        got = c.get_run(run.id)
        assert got.status == "failed" and got.end_time == got.heartbeat_at
    ends = c.list_audit_events(action="run.end")
    assert sorted((e.subject, e.project) for e in ends) == sorted((r.id, r.project) for r in made)
    assert c.verify_audit().ok
    c.close()
