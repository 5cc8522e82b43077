"""`setpoint init --ci github`: the workflow it writes tests, runs the pipeline, gates and
deploys only when the gates pass; its setpoint commands, run as the runner would run them,
do that against a store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PIPELINE = """
import numpy as np
import pandas as pd
import setpoint as sp
from sklearn.linear_model import LogisticRegression

@sp.step
def load(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    return pd.DataFrame({"x": x, "y": (x > 0).astype(int)})

@sp.step
def train(data: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(data[["x"]], data["y"])

@sp.pipeline(project="ci")
def retrain(rows: int = 200):
    model = train(load(rows))
    sp.steps.register(model, name="churn")
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from setpoint.client import sdk

    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "retrain.py").write_text(textwrap.dedent(PIPELINE))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "requirements.txt").write_text("setpoint\nscikit-learn\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    sdk.use(None)
    yield tmp_path
    sdk.use(None)


def _steps(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    job = workflow["jobs"]["test-train-deploy"]
    return {s.get("name", s.get("uses")): s for s in job["steps"]}


def _run_step(step: dict[str, Any], repo: Path, event: str, outputs: Path) -> int:
    """A workflow step's script under bash, with the runner's expressions filled in (the
    earlier steps' outputs read from ``outputs``, as the runner does)."""
    written = outputs.read_text().splitlines() if outputs.exists() else []
    given = dict(line.split("=", 1) for line in written if "=" in line)
    script = re.sub(
        r"\$\{\{\s*github\.(\w+)\s*\}\}",
        lambda m: {"run_id": "41", "sha": "abc123"}[m[1]],
        step["run"],
    )
    script = re.sub(r"\$\{\{\s*steps\.\w+\.outputs\.(\w+)\s*\}\}", lambda m: given[m[1]], script)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_EVENT_NAME": event,
    }
    return subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env).returncode


def test_the_workflow_tests_trains_gates_then_deploys(repo: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    main(["init", "--ci", "github"])
    assert "set the secrets SETPOINT_URL and SETPOINT_TOKEN" in capsys.readouterr().out
    workflow = yaml.safe_load(Path(".github/workflows/setpoint.yml").read_text())
    steps = _steps(workflow)
    names = list(steps)
    assert names.index("Run tests") < names.index("Run the training pipeline")
    assert names.index("Run the training pipeline") < names.index(
        "Evaluate the new version against the gates of champion"
    )
    assert steps["Install dependencies"]["run"].strip().endswith("pip install -r requirements.txt")
    assert steps["Run tests"]["run"] == "pytest"
    deploy = steps["Deploy (promote to champion)"]
    assert "steps.gate.outputs.passed == 'true'" in deploy["if"]
    assert "refs/heads/main" in deploy["if"]
    env = workflow["jobs"]["test-train-deploy"]["env"]
    assert env["SETPOINT_TOKEN"] == "${{ secrets.SETPOINT_TOKEN }}"

    # the gate fails (nobody approved) and deploy is skipped; after an approval it passes
    policy = repo / "policy.yaml"
    policy.write_text("gates:\n  - approvals: 1\n")
    outputs = repo / "outputs.txt"
    assert _run_step(steps["Run the training pipeline"], repo, "push", outputs) == 0
    assert "version=ci/churn/1" in outputs.read_text().splitlines()
    # another run (a pull request's, say) registers a newer version meanwhile: this run's
    # gate and promotion are still about the version it trained
    assert _run_step(steps["Run the training pipeline"], repo, "pull_request", repo / "pr") == 0
    main(["models", "policy", "churn", "--alias", "champion", "--file", str(policy)])
    gate = steps["Evaluate the new version against the gates of champion"]
    assert _run_step(gate, repo, "push", outputs) == 0
    assert outputs.read_text().splitlines()[-1] == "passed=false"
    main(["models", "approve", "churn/1", "--to", "champion"])
    assert _run_step(gate, repo, "push", outputs) == 0
    assert outputs.read_text().splitlines()[-1] == "passed=true"
    capsys.readouterr()
    assert _run_step(deploy, repo, "push", outputs) == 0
    main(["models", "history", "churn", "--alias", "champion", "--json"])
    assert "CI run 41 of abc123" in capsys.readouterr().out
    main(["models", "show", "churn@champion", "--json"])
    assert '"version": 1' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("files", "installs_setpoint"),
    [
        ({"requirements.txt": "pandas\n# setpoint comes later\n"}, True),
        ({"requirements.txt": "pandas\nSetpoint[ray]>=0.1  # pinned\n"}, False),
        ({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["pandas"]\n'}, True),
        ({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["setpoint==1.0"]\n'}, False),
        ({}, True),
    ],
)
def test_the_workflow_installs_setpoint_unless_the_project_does(
    repo: Path, capsys: Any, files: dict[str, str], installs_setpoint: bool
) -> None:
    from setpoint.cli.main import main

    (repo / "requirements.txt").unlink()
    for name, text in files.items():
        (repo / name).write_text(text)
    main(["init", "--ci", "github"])
    workflow = yaml.safe_load(Path(".github/workflows/setpoint.yml").read_text())
    lines = _steps(workflow)["Install dependencies"]["run"].strip().splitlines()
    assert ("pip install setpoint" in lines) == installs_setpoint
    # the project's own code stays in the checkout, where cache keys follow its edits
    # (`pip install .` put it in site-packages, a library's place: an edit left steps cached)
    assert ("pip install -e ." in lines) == ("pyproject.toml" in files)
    assert "pip install ." not in lines


def test_init_refuses_to_guess_or_overwrite(repo: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    (repo / "pipelines" / "other.py").write_text(
        "import setpoint as sp\n\n@sp.step\ndef one() -> int:\n    return 1\n\n"
        "@sp.pipeline\ndef other():\n    one()\n"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["init", "--ci", "github"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "give --pipeline FILE.py:PIPELINE (found pipelines/other.py:other" in err
    main(["init", "--ci", "github", "--pipeline", "pipelines/retrain.py:retrain"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["init", "--ci", "github", "--pipeline", "pipelines/retrain.py:retrain"])
    assert exit_.value.code == 1 and "exists; --force overwrites it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["init", "--ci", "github", "--pipeline", "pipelines/other.py:other", "--force"])
    assert "no register step naming its model: give --model NAME" in capsys.readouterr().err


def test_init_refuses_branches_and_versions_that_would_change_the_workflow(
    repo: Path, capsys: Any
) -> None:
    from setpoint.cli.main import main

    target = ["init", "--ci", "github", "--pipeline", "pipelines/retrain.py:retrain"]
    for option, value in (
        ("--branch", "x\ny: 1"),  # raw YAML
        ("--branch", "${{ secrets.SETPOINT_TOKEN }}"),  # an expression
        ("--branch", ""),
        ("--branch", "a..b"),
        ("--python", "3.11\n  evil: 1"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main([*target, option, value])
        assert exit_.value.code == 2 and option in capsys.readouterr().err
        assert not (repo / ".github").exists()
    main([*target, "--branch", "release/v2"])
    assert "refs/heads/release/v2" in (repo / ".github/workflows/setpoint.yml").read_text()


def test_the_workflow_runs_a_pipeline_with_required_parameters(repo: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    pipeline = repo / "pipelines" / "retrain.py"
    pipeline.write_text(
        textwrap.dedent(PIPELINE).replace(
            "def retrain(rows: int = 200):", "def retrain(rows: int, note: str = ''):"
        )
    )
    (repo / "tests" / "test_model.py").unlink()
    (repo / "tests" / "model_test.py").write_text("def test_ok():\n    assert True\n")
    with pytest.raises(SystemExit) as exit_:
        main(["init", "--ci", "github"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and len(err.strip().splitlines()) == 1
    assert "no default for 'rows'" in err and "--param rows=VALUE" in err
    with pytest.raises(SystemExit) as exit_:
        main(["init", "--ci", "github", "--param", "rows=many"])
    assert exit_.value.code == 2 and "rows='many' is not an int" in capsys.readouterr().err
    assert not (repo / ".github").exists()
    main(["init", "--ci", "github", "--param", "rows=150", "--param", "note=it's me"])
    steps = _steps(yaml.safe_load(Path(".github/workflows/setpoint.yml").read_text()))
    assert steps["Run tests"]["run"] == "pytest"  # tests named *_test.py count
    assert "pip install pytest" in steps["Install dependencies"]["run"]
    outputs = repo / "outputs.txt"
    assert _run_step(steps["Run the training pipeline"], repo, "push", outputs) == 0
    assert "version=ci/churn/1" in outputs.read_text().splitlines()
    import json

    import setpoint as sp

    run = sp.get_run(json.loads((repo / "pipeline-run.json").read_text())["run_id"])
    assert {k: json.loads(v) for k, v in run.params.items()} == {"rows": 150, "note": "it's me"}


def test_init_refuses_a_model_or_python_the_workflow_could_not_use(repo: Path, capsys: Any) -> None:
    """--model nosuch and --python 3.9 were taken, and the workflow failed in CI with a
    KeyError (or on installing setpoint)."""
    from setpoint.cli.main import main

    for option, value, said in (
        ("--model", "nosuch", "registers churn, not 'nosuch'"),
        ("--python", "3.9", "setpoint needs Python 3.11 or newer"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["init", "--ci", "github", option, value])
        assert exit_.value.code == 2 and said in capsys.readouterr().err
        assert not (repo / ".github").exists()
    main(["init", "--ci", "github"])
    assert 'python-version: "3.11"' in Path(".github/workflows/setpoint.yml").read_text()


def test_the_gate_fails_the_workflow_when_the_store_cannot_answer(
    repo: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate step turned any exit 1 (store unreachable, bad token) into passed=false: the
    workflow stayed green and never deployed."""
    from setpoint.cli.main import main

    main(["init", "--ci", "github"])
    steps = _steps(yaml.safe_load(Path(".github/workflows/setpoint.yml").read_text()))
    outputs = repo / "outputs.txt"
    outputs.write_text("version=ci/churn/1\n")
    monkeypatch.setenv("SETPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    gate = steps["Evaluate the new version against the gates of champion"]
    assert _run_step(gate, repo, "push", outputs) != 0
    assert "passed=" not in outputs.read_text()
    # a pipeline that registered no such model: one clear line, not a KeyError
    monkeypatch.delenv("SETPOINT_URL")
    script = steps["Run the training pipeline"]["run"].splitlines()[-1]
    (repo / "pipeline-run.json").write_text('{"run_id": "r", "versions": {"other": "ci/other/1"}}')
    done = subprocess.run(["bash", "-e", "-c", script], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "GITHUB_OUTPUT": str(outputs)})  # fmt: skip
    assert done.returncode == 1 and "registered no version of model churn" in done.stderr
    assert "KeyError" not in done.stderr


def test_init_says_when_the_pipeline_promotes_before_the_gate(repo: Path, capsys: Any) -> None:
    """A pipeline whose register step also promotes moves the alias in every CI run, pull
    requests included, before the workflow's gate: init says so."""
    from setpoint.cli.main import main

    main(["init", "--ci", "github"])
    assert "register_and_promote" not in capsys.readouterr().err  # sp.steps.register: silent
    path = repo / "pipelines" / "retrain.py"
    path.write_text(
        path.read_text().replace(
            'sp.steps.register(model, name="churn")',
            'sp.steps.register_and_promote(model, name="churn", alias="champion")',
        )
    )
    main(["init", "--ci", "github", "--force"])
    out, err = capsys.readouterr()
    assert "wrote .github/workflows/setpoint.yml" in out
    assert "promotes with sp.steps.register_and_promote" in err
    assert "pull requests included" in err
