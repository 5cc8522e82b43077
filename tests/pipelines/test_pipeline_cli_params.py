"""`setpoint pipeline` with the parameters users give it: JSON kept exact (or refused, in a
line naming the parameter), long values run and resume, why a step ran said against the
execution it is most like, and a sweep whose combination fails keeps the others."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli

PIPELINE = """
import os

import setpoint as sp

@sp.step
def train(depth: int, ids: list, month: str) -> dict:
    if os.path.exists(os.environ["BREAK"]) and depth == 13:
        raise ValueError("bad depth")
    return {{"score": depth / 10 + {bonus}, "n": len(ids), "last": ids[-1] if ids else 0}}

@sp.pipeline(project="{project}")
def pipe(depth: int = 4, ids: list = [], month: str = "a"):
    train(depth, ids, month)
"""


def _pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, bonus: int = 0
) -> tuple[str, Path]:
    """The pipeline's target, and the file whose presence makes depth=13 fail."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(PIPELINE.format(bonus=bonus, project=name)))
    broken = tmp_path / "broken"
    monkeypatch.setenv("BREAK", str(broken))
    return f"{path}:pipe", broken


def _pipeline_runs(project: str) -> list[Any]:
    from setpoint.client import sdk

    try:
        return list(sdk.client().search_runs([project], "tags.kind = 'pipeline'", None, 100).runs)
    except Exception:  # no project yet: nothing ran
        return []


BEYOND = "a number parameter must be finite and, when whole, fit in 64 bits"


@pytest.mark.parametrize(
    ("option", "text", "code", "said"),
    [
        # a value no parameter holds: refused as a run would refuse it, before one starts
        (
            "--params-json",
            '{"ids": [1, 99999999999999999999999]}',
            1,
            f"pipeline parameter 'ids' holds 99999999999999999999999: {BEYOND}",
        ),
        (
            "--params-json",
            '{"depth": 99999999999999999999999}',
            1,
            f"pipeline parameter 'depth' is 99999999999999999999999: {BEYOND}",
        ),
        ("--param", "ids=[1, 99999999999999999999999]", 1, "'ids' holds 99999999999999999999999"),
        ("--params-json", '{"ids": [NaN]}', 1, f"pipeline parameter 'ids' holds nan: {BEYOND}"),
        # a value of another kind than the parameter's: a usage error
        ("--param", 'ids={"a": 1}', 2, 'Invalid value for --param: ids={"a": 1} is not a list'),
        ("--params-json", '{"ids": {"a": 1}}', 2, 'ids={"a": 1} is not a list'),
        ("--params-json", '{"month": ["a"]}', 2, 'month=["a"] is not a str'),
        # the last of two ran, where the docs say a parameter given twice is refused
        ("--params-json", '{"month": "a", "month": "b"}', 2, "month is given twice"),
    ],
)
def test_a_parameter_value_that_would_change_is_refused_naming_it(
    home: Path,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    option: str,
    text: str,
    code: int,
    said: str,
) -> None:
    """A whole number beyond 64 bits ran as 1e+23 (exit 0); a dict ran as a list parameter."""
    target, _ = _pipeline(tmp_path, monkeypatch, "refused")
    exit_code, _, err = run_cli(capsys, "pipeline", "run", target, option, text)
    assert exit_code == code and said in err and "unexpected" not in err
    assert len(err.strip().splitlines()) == 1
    assert _pipeline_runs("refused") == []  # nothing ran


def test_whole_numbers_within_64_bits_reach_the_step_exactly(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, _ = _pipeline(tmp_path, monkeypatch, "exact")
    big = 2**63 - 1
    code, _, _ = run_cli(
        capsys, "pipeline", "run", target, "--params-json", json.dumps({"ids": [1, big]})
    )
    assert code == 0
    from setpoint.client import sdk

    step = sdk.client().search_runs(["exact"], "tags.step = 'train'", None, 1).runs[0]
    assert json.loads(step.params["ids"]) == [1, big]


def test_a_long_parameter_runs_and_resumes(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 ids (16,001 characters) failed the pipeline run: a param holds 6,000."""
    target, broken = _pipeline(tmp_path, monkeypatch, "long")
    ids = list(range(1_000_000, 1_002_000))
    given = json.dumps({"ids": ids, "depth": 13})
    broken.write_text("")
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--params-json", given, "--json")
    assert code == 1 and "ValueError: bad depth" in err and "characters long" not in err
    (failed,) = _pipeline_runs("long")
    assert failed.status == "failed"
    said = json.loads(out)  # --json: the failed run, for a script to resume
    assert said == {"run_id": failed.id, "failed_step": "train", "error": "ValueError: bad depth"}
    shown = failed.params["ids"]  # its start, its length and its hash
    assert shown.startswith("[1000000,1000001,") and "16001 characters, hash" in shown
    broken.unlink()
    code, out, err = run_cli(capsys, "pipeline", "resume", failed.id, "--json")
    assert code == 0, err
    resumed = json.loads(out)
    from setpoint.client import sdk

    c = sdk.client()
    step = c.get_run(resumed["steps"][0]["run_id"])
    assert step.status == "finished"
    again = c.get_run(resumed["run_id"])
    assert again.params["ids"] == shown and json.loads(again.params["depth"]) == 13
    # the step had every id: run again with them, it is cached
    code, out, _ = run_cli(capsys, "pipeline", "run", target, "--params-json", given, "--json")
    assert code == 0 and [s["status"] for s in json.loads(out)["steps"]] == ["cached"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_long_parameter_runs_from_the_sdk(client: Any, tmp_path: Path) -> None:
    import setpoint as sp

    @sp.step
    def count(ids: list) -> dict:
        return {"n": len(ids), "last": ids[-1]}

    @sp.pipeline(project="long_sdk")
    def counting(ids: list):
        count(ids)

    ids = list(range(1_000_000, 1_002_000))
    result = sp.run_pipeline(counting, ids=ids)
    assert result.value("count") == {"n": 2000, "last": 1_001_999}
    assert client.get_run(result.run_id).status == "finished"


def test_why_a_step_ran_is_said_against_the_execution_most_like_it(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """depth=4; depth=8 month=b; new code, depth=4: only the code changed since depth=4 (it
    named the parameters and month of the depth=8 run too)."""
    target, _ = _pipeline(tmp_path, monkeypatch, "why")

    def why(*params: str) -> list[str]:
        args = [a for p in params for a in ("--param", p)]
        code, out, err = run_cli(capsys, "pipeline", "run", target, *args, "--json")
        assert code == 0, err
        steps = json.loads(out)["steps"]
        explained = run_cli(capsys, "pipeline", "explain", json.loads(out)["run_id"], "--json")
        assert json.loads(explained[1])[0]["why"] == steps[0]["why"]
        return list(steps[0]["why"])

    assert why("depth=4") == ["no earlier execution of this step"]
    assert why("depth=8", "month=b") == ["parameter 'depth' changed", "parameter 'month' changed"]
    _pipeline(tmp_path, monkeypatch, "why", bonus=1)  # train's code changes
    assert why("depth=4") == ["its code changed"]
    assert why("depth=8", "month=b") == ["its code changed"]


def _sweep(capsys: Any, target: str, *more: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(
        capsys, "pipeline", "sweep", target, "--grid", "depth=4,13,16", *more, "--json"
    )
    return code, json.loads(out), err


def test_a_failing_combination_of_a_sweep_keeps_the_others(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """depth=13 raising ended the sweep: an "unexpected" error, no table, depth=16 never ran,
    and its pipeline run could not be resumed."""
    target, broken = _pipeline(tmp_path, monkeypatch, "sweep_fails")
    broken.write_text("")
    code, out, err = _sweep(capsys, target)
    assert code == 1 and "unexpected" not in err
    rows = {r["depth"]: r for r in out["runs"]}
    assert [r["status"] for r in out["runs"]] == ["finished", "failed", "finished"]
    assert rows[13]["error"] == "ValueError: bad depth" and "train.score" not in rows[13]
    assert rows[16]["train.score"] == 1.6 and rows[4]["train.score"] == 0.4
    assert "1 of 3 combinations failed" in err
    assert f"setpoint pipeline resume {rows[13]['run_id']}" in err
    # the table names the failed run, its status and its error
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough not to fold them
    code, table_out, _ = run_cli(capsys, "pipeline", "sweep", target, "--grid", "depth=4,13")
    (failed_row,) = [line for line in table_out.splitlines() if "bad depth" in line]
    assert code == 1 and "failed" in failed_row and "ValueError" in failed_row
    broken.unlink()
    code, out, err = run_cli(capsys, "pipeline", "resume", rows[13]["run_id"], "--json")
    assert code == 0, err
    assert [s["status"] for s in json.loads(out)["steps"]] == ["ran"]
    # all finished: the table as before, without status columns
    code, out, _ = _sweep(capsys, target)
    assert code == 0 and all("status" not in r for r in out["runs"])
    assert [r["train.score"] for r in out["runs"]] == [0.4, 1.3, 1.6]


def test_a_failing_combination_of_a_parallel_sweep_keeps_the_others(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, broken = _pipeline(tmp_path, monkeypatch, "sweep_fails_side_by_side")
    broken.write_text("")
    code, out, err = _sweep(capsys, target, "--executor", "process")
    assert code == 1 and "1 of 3 combinations failed" in err
    assert [(r["depth"], r["status"]) for r in out["runs"]] == [
        (4, "finished"),
        (13, "failed"),
        (16, "finished"),
    ]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_sdks_sweep_raises_the_steps_error_after_running_every_combination(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import setpoint as sp
    from setpoint.cli.pipeline import import_file

    target, broken = _pipeline(tmp_path, monkeypatch, "sdk_sweep_fails")
    broken.write_text("")
    module = import_file(target.rpartition(":")[0])
    with pytest.raises(ValueError, match="bad depth") as raised:
        sp.sweep(module.pipe, {"depth": [4, 13, 16]})
    assert any("1 of 3 combinations" in note for note in raised.value.__notes__)
    ran = client.search_runs(["sdk_sweep_fails"], "tags.kind = 'pipeline'", None, 10).runs
    assert sorted((json.loads(r.params["depth"]), r.status) for r in ran) == [
        (4, "finished"),
        (13, "failed"),
        (16, "finished"),
    ]
    sweep_run = client.search_runs(["sdk_sweep_fails"], "tags.kind = 'sweep'", None, 1).runs[0]
    assert sweep_run.status == "failed"
    assert os.path.exists(broken)


OPTIONAL = """
import setpoint as sp

@sp.step
def echo(tag: str | None, depth: int | None, on: bool | None) -> dict:
    return {"tag": tag, "depth": depth, "on": on}

@sp.pipeline(project="optional")
def pipe(tag: str | None = None, depth: int | None = None, on: bool | None = None):
    echo(tag, depth, on)
"""


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (("tag=hello", "depth=3", "on=true"), {"tag": "hello", "depth": 3, "on": True}),
        (("tag=null", "depth=null"), {"tag": None, "depth": None, "on": None}),
        (('tag="quoted"',), {"tag": "quoted", "depth": None, "on": None}),  # JSON, as before
    ],
)
def test_optional_parameters_are_written_as_their_type_is(
    home: Path, tmp_path: Path, capsys: Any, given: tuple[str, ...], kept: dict[str, Any]
) -> None:
    """``tag: str | None`` took only JSON (``--param tag='"hello"'``): plain text failed with
    "Expecting value", and so did the value Kubeflow's form holds for it."""
    from setpoint.client import sdk

    path = tmp_path / "optional.py"
    path.write_text(OPTIONAL)
    args = [a for item in given for a in ("--param", item)]
    code, out, err = run_cli(capsys, "pipeline", "run", f"{path}:pipe", *args, "--json")
    assert code == 0, err
    run = sdk.client().get_run(json.loads(out)["run_id"])
    assert {k: json.loads(run.params[k]) for k in kept} == kept


def test_a_whole_number_written_as_kubeflow_writes_it_is_an_int(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled Kubeflow spec holds an int parameter's default as 3.0 (protobuf numbers
    are doubles), and each task passes it on as `--param depth=3.0`: an int, not an error."""
    from setpoint.client import sdk

    target, _ = _pipeline(tmp_path, monkeypatch, "kfpints")
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", "depth=3.0", "--json")
    assert code == 0, err
    assert sdk.client().get_run(json.loads(out)["run_id"]).params["depth"] == "3"
    code, _, err = run_cli(capsys, "pipeline", "run", target, "--param", "depth=3.5")
    assert code == 2 and "not a whole number" in err


def test_a_target_that_is_no_file_or_a_name_outside_ascii_says_so(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "pipeline", "run", f"{tmp_path}:pipe")
    assert code == 2 and f"{tmp_path} is a folder, not a Python file" in err
    path = tmp_path / "named.py"
    path.write_text(
        textwrap.dedent(
            """
            import setpoint as sp

            @sp.step(name="grüße")
            def greet(n: int) -> int:
                return n
            """
        )
    )
    code, _, err = run_cli(capsys, "pipeline", "run", f"{path}:pipe")
    assert code == 2 and "has characters outside ASCII letters" in err, err


CHATTY = """
import os
import sys

import setpoint as sp

print("loading the chatty pipeline")

@sp.step
def train(depth: int) -> dict:
    print(f"training with depth={depth}")
    os.system("echo from a child process of the step")
    if os.path.exists(os.environ["BREAK"]):
        raise ValueError("bad depth")
    return {"score": depth / 10}

@sp.pipeline(project="chatty")
def pipe(depth: int = 4):
    train(depth)
"""


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_json_output_is_json_when_the_pipeline_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    """With --json, what the pipeline's module and steps printed came first on stdout, so the
    document a script reads (to resume the failed run) did not parse."""
    import subprocess
    import sys

    (tmp_path / "chatty.py").write_text(CHATTY)
    broken = tmp_path / "broken"
    env = {**os.environ, "SETPOINT_HOME": str(tmp_path / "home"), "BREAK": str(broken)}

    def cli(*args: str) -> tuple[int, Any, str]:
        done = subprocess.run(
            [sys.executable, "-m", "setpoint", "pipeline", *args, "--executor", executor, "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        said = "\n".join(("loading the chatty", "training with", "from a child process"))
        for line in said.splitlines():
            assert line in done.stderr, done.stderr
        return done.returncode, json.loads(done.stdout), done.stderr

    broken.write_text("")
    code, failed, _ = cli("run", "chatty.py:pipe")
    assert code == 1 and failed["failed_step"] == "train"
    broken.unlink()
    code, resumed, err = cli("resume", failed["run_id"])
    assert code == 0, err
    assert [s["status"] for s in resumed["steps"]] == ["ran"]
    code, swept, err = cli("sweep", "chatty.py:pipe", "--grid", "depth=2,3")
    assert code == 0, err
    assert sorted(r["depth"] for r in swept["runs"]) == [2, 3]
