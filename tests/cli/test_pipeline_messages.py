"""What `setpoint pipeline` says of a promotion its standard step refused, and of an error
the pipeline function's own body raised."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import setpoint as sp
from conftest import run_cli

PROMOTING = """
import pandas as pd
import setpoint as sp
from sklearn.linear_model import LogisticRegression

@sp.step
def load(source: str) -> pd.DataFrame:
    return pd.read_csv(source)

@sp.step
def train(data: pd.DataFrame) -> object:
    return LogisticRegression().fit(data[["x"]], data["y"])

@sp.pipeline(project="promo")
def retrain(source: str):
    data = load(source)
    model = train(data)
    sp.steps.register_and_promote(model, "clf", "champion", data=data, target="y")
"""


def test_run_and_resume_say_whether_the_standard_step_promoted(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused promotion (a failing gate) was only in the step's stored value: the table
    said `ran` and the command exited 0 as for a promotion. The pipeline did run, so it
    still exits 0; a line after the table names the version, the alias and the failed gate."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200)})
    df["y"] = (df.x + rng.normal(scale=1.0, size=200) > 0).astype(int)  # accuracy ~0.75
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "promo_pipe.py").write_text(textwrap.dedent(PROMOTING))
    target = f"{tmp_path / 'promo_pipe.py'}:retrain"
    source = f"source={tmp_path / 'd.csv'}"
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source)
    assert code == 0, err
    assert out.rstrip().splitlines()[-1] == "clf/1 promoted to champion", out
    # run again with nothing changed: the trained model is the same, and so is its version
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source)
    assert code == 0, err
    last = out.rstrip().splitlines()[-1]
    assert last == "clf/1 already holds champion: registered by an earlier run", out
    sp.set_policy(
        "clf", "champion", {"gates": [{"metric": "accuracy", "min": 0.99}]}, project="promo"
    )
    df["y"] = (df.x + rng.normal(scale=1.0, size=200) > 0).astype(int)  # new labels
    df.to_csv(tmp_path / "d2.csv", index=False)
    source = f"source={tmp_path / 'd2.csv'}"
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source)
    assert code == 0, err  # a refusal is the gate doing its job, not a failed pipeline
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("clf/2 not promoted to champion: accuracy min 0.99 failed"), out
    assert "(observed 0." in last, out  # the verdict's own numbers
    assert "promoted to champion" not in out.replace(last, "")  # one line per step
    # again unchanged: the same version is judged again (an approval or a policy may have
    # changed since), not a copy of it
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source)
    assert out.rstrip().splitlines()[-1].startswith("clf/2 not promoted to champion"), out
    assert [v.version for v in sp.client().list_model_versions("clf", "promo")] == [1, 2]
    # a version a reviewer rejected stays refused: the same bytes are not a fresh candidate
    sp.client().set_model_status("clf", 2, "rejected", project="promo")
    sp.set_policy("clf", "champion", {"gates": []}, project="promo")
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source)
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("clf/2 not promoted to champion: status not in rejected"), out
    assert "version 2 is rejected" in last, out
    assert len(sp.client().list_model_versions("clf", "promo")) == 2
    # the run succeeded: resuming it is refused (it would run the standard step again)
    run_id = out.split(" · run ")[1].split()[0]
    code, out, err = run_cli(capsys, "pipeline", "resume", run_id)
    assert code == 1 and "succeeded: there is nothing to resume" in err, err
    # --json stays JSON
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--param", source, "--json")
    assert code == 0 and out.lstrip().startswith("{") and "not promoted" not in out, err


CHECKING = """
import setpoint as sp

@sp.step
def s(n: int) -> dict:
    return {"n": n}

@sp.pipeline(project="body")
def p(n: int = 1):
    if n > 0:
        raise ValueError("n must be <= 0\\nsecond line")
    s(n)
"""


def test_an_error_of_the_pipeline_body_is_the_pipelines_not_unexpected(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own check in the pipeline function read "error: unexpected ValueError: ...
    (set SETPOINT_DEBUG=1 for a traceback)", as if setpoint had crashed."""
    (tmp_path / "body_pipe.py").write_text(textwrap.dedent(CHECKING))
    target = f"{tmp_path / 'body_pipe.py'}:p"
    said = "error: pipeline 'p' raised ValueError: n must be <= 0\n"
    code, _, err = run_cli(capsys, "pipeline", "run", target)
    assert (code, err) == (1, said), err
    code, _, err = run_cli(capsys, "pipeline", "sweep", target, "--grid", "n=1,2")
    assert (code, err) == (1, said), err
    code, _, err = run_cli(capsys, "pipeline", "run", target, "--param", "n=0")
    assert code == 0, err  # the body's check passed: it runs
    monkeypatch.setenv("SETPOINT_DEBUG", "1")  # the traceback, when asked for
    with pytest.raises(ValueError, match="n must be <= 0"):
        run_cli(capsys, "pipeline", "run", target)
    monkeypatch.delenv("SETPOINT_DEBUG")
    # an error of setpoint's own code that the body called is still setpoint's: unexpected
    from setpoint.pipelines import dag

    def broken(*_args: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dag._Builder, "add", broken)
    code, _, err = run_cli(capsys, "pipeline", "run", target, "--param", "n=0")
    assert code == 1 and err.startswith("error: unexpected RuntimeError: a bug"), err


STEPS = """
import sys
import setpoint as sp

@sp.step
def one() -> int:
    return 1

@sp.step
def boom(x: int) -> int:
    raise RuntimeError("kaboom")

@sp.step
def leave(x: int) -> int:
    sys.exit(3)

@sp.pipeline(project="msgs")
def fine():
    one()

@sp.pipeline(project="msgs")
def exits():
    leave(one())

@sp.pipeline(project="msgs")
def fails():
    boom(one())
"""


def test_a_step_that_calls_sys_exit_fails_as_a_step_that_raises(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sys.exit(3) in a step made `pipeline run` exit 3 with no message and no result file."""
    import json

    (tmp_path / "steps_pipe.py").write_text(textwrap.dedent(STEPS))
    result = tmp_path / "result.json"
    target = f"{tmp_path / 'steps_pipe.py'}:exits"
    code, _, err = run_cli(capsys, "pipeline", "run", target, "--result-file", str(result))
    assert code == 1, err
    assert "step 'leave' called sys.exit(3)" in err and "pipeline resume" in err, err
    found = json.loads(result.read_text())
    assert found["failed_step"] == "leave" and "sys.exit(3)" in found["error"]
    assert sp.get_run(found["run_id"]).status == "failed"
    code, _, err = run_cli(capsys, "pipeline", "resume", found["run_id"])
    assert code == 1 and "step 'leave' called sys.exit(3)" in err, err


def test_resume_refuses_a_run_that_succeeded_or_still_runs(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resuming a succeeded run ran its uncached steps again (a model registered twice);
    resuming a running one ran its step twice at once."""
    (tmp_path / "steps_pipe.py").write_text(textwrap.dedent(STEPS))
    target = f"{tmp_path / 'steps_pipe.py'}:fine"
    code, out, err = run_cli(capsys, "pipeline", "run", target, "--json")
    assert code == 0, err
    import json

    run_id = json.loads(out)["run_id"]
    code, out, err = run_cli(capsys, "pipeline", "resume", run_id)
    assert code == 1 and f"pipeline run {run_id} succeeded: there is nothing to resume" in err
    assert len(err.strip().splitlines()) == 1
    with sp.start_run(project="msgs", tags={"kind": "pipeline", "target": target}) as live:
        code, out, err = run_cli(capsys, "pipeline", "resume", live.id)
        assert code == 1 and "is still running" in err, err
    # a failed run resumes
    code, _, err = run_cli(capsys, "pipeline", "run", f"{tmp_path / 'steps_pipe.py'}:fails")
    failed = err.split("pipeline resume ")[1].split("`")[0]
    code, _, err = run_cli(capsys, "pipeline", "resume", failed)
    assert code == 1 and "RuntimeError: kaboom" in err, err


def test_step_run_says_which_step_failed(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`step run` (a Kubeflow task) said "unexpected RuntimeError: kaboom in boom" as for a
    bug of setpoint's."""
    (tmp_path / "steps_pipe.py").write_text(textwrap.dedent(STEPS))
    target = f"{tmp_path / 'steps_pipe.py'}:fails"
    record = tmp_path / "one.json"
    code, _, err = run_cli(
        capsys, "step", "run", target, "--step", "one", "--output-file", str(record)
    )
    assert code == 0, err
    code, _, err = run_cli(
        capsys, "step", "run", target, "--step", "boom", "--input", f"x={record.read_text()}"
    )
    assert code == 1, err
    assert err.strip() == "Error: step 'boom' of fails failed: RuntimeError: kaboom", err
