"""`setpoint pipeline compile --target kubeflow`: a Kubeflow Pipelines v2 spec whose DAG is
the pipeline's, loaded back with kfp; and its tasks' commands, run as Kubeflow would run
them, give the pipeline's results through `setpoint step run` (cached the second time)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp

kfp_components = pytest.importorskip("kfp.components")

PIPELINE = """
import numpy as np
import pandas as pd
import setpoint as sp

@sp.step
def load(month: str, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(len(month))
    return pd.DataFrame({"x": rng.normal(size=rows)})

@sp.step
def fit(data: pd.DataFrame, depth: int) -> dict:
    return {"mean": float(data["x"].mean()), "depth": depth}

@sp.step
def score(model: dict, data: pd.DataFrame) -> dict:
    return {"above": int((data["x"] > model["mean"]).sum())}

@sp.pipeline(project="kf")
def retrain(month: str, depth: int = 8, rows: int = 100):
    '''Retrain on a month of data.'''
    data = load(month, rows)
    model = fit(data, depth)
    score(model, data)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from setpoint.client import sdk

    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "retrain.py").write_text(textwrap.dedent(PIPELINE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    sdk.use(None)
    yield tmp_path
    sdk.use(None)


def _compile(capsys: Any, *extra: str) -> Any:
    from setpoint.cli.main import main

    main(
        [
            "pipeline",
            "compile",
            "pipelines/retrain.py:retrain",
            "--target",
            "kubeflow",
            "-o",
            "retrain.yaml",
            "--image",
            "registry.local/fraud:1",
            "--env",
            "SETPOINT_URL=http://setpoint.internal:8080",
            *extra,
        ]
    )
    assert "3 steps" in capsys.readouterr().out
    return kfp_components.load_component_from_file("retrain.yaml")


def test_the_compiled_dag_is_the_pipelines(project: Path, capsys: Any) -> None:
    spec = _compile(capsys, "--param", "depth=4").pipeline_spec
    tasks = spec.root.dag.tasks
    assert set(tasks) == {"load", "fit", "score"}
    assert list(tasks["load"].dependent_tasks) == []
    assert list(tasks["fit"].dependent_tasks) == ["load"]
    assert sorted(tasks["score"].dependent_tasks) == ["fit", "load"]
    assert not any(t.caching_options.enable_cache for t in tasks.values())
    inputs = spec.root.input_definitions.parameters
    assert set(inputs) == {"month", "depth", "rows"}
    assert inputs["depth"].default_value.number_value == 4  # --param became the default
    assert not inputs["month"].is_optional  # no default: asked for when the run is submitted
    for name, task in tasks.items():
        container = _container(spec, task)
        assert container["image"] == "registry.local/fraud:1"
        assert container["command"] == [
            "setpoint",
            "step",
            "run",
            "pipelines/retrain.py:retrain",
            "--step",
            name,
        ]
        assert {"name": "SETPOINT_URL", "value": "http://setpoint.internal:8080"} in container[
            "env"
        ]


def _container(spec: Any, task: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    executors = MessageToDict(spec.deployment_spec)["executors"]
    component = spec.components[task.component_ref.name]
    return executors[component.executor_label]["container"]  # type: ignore[no-any-return]


def _resolve(arg: str, values: dict[str, str]) -> str:
    """A container argument with Kubeflow's placeholders filled in, as its launcher would."""
    if arg.startswith('{"Concat"'):
        return "".join(_resolve(a, values) for a in json.loads(arg)["Concat"])
    return re.sub(r"\{\{\$\.[^}]*\}\}", lambda m: values[m.group(0)], arg)


def _run_like_kubeflow(spec: Any, params: dict[str, str], run_id: str, tmp: Path) -> dict:
    """Each task's command in dependency order; outputs passed on as Kubeflow passes output
    parameters."""
    from setpoint.cli.main import main

    tasks = spec.root.dag.tasks
    outputs: dict[str, str] = {}
    done: list[str] = []
    while len(done) < len(tasks):
        for name, task in tasks.items():
            if name in done or any(d not in done for d in task.dependent_tasks):
                continue
            values: dict[str, str] = {}
            for key, value in task.inputs.parameters.items():
                if value.component_input_parameter:
                    text = params[value.component_input_parameter]
                elif value.task_output_parameter.producer_task:
                    text = outputs[value.task_output_parameter.producer_task]
                else:
                    assert value.runtime_value.constant.string_value == "{{$.pipeline_job_uuid}}"
                    text = run_id
                values[f"{{{{$.inputs.parameters['{key}']}}}}"] = text
            out = tmp / f"{run_id}-{name}.json"
            values["{{$.outputs.parameters['output'].output_file}}"] = str(out)
            container = _container(spec, task)
            assert container["command"][:3] == ["setpoint", "step", "run"]
            main([*container["command"][1:], *(_resolve(a, values) for a in container["args"])])
            outputs[name] = out.read_text()
            done.append(name)
    return outputs


def test_the_compiled_tasks_run_the_pipeline_through_step_run(project: Path, capsys: Any) -> None:
    spec = _compile(capsys).pipeline_spec
    params = {"month": "2026-11", "depth": "3", "rows": "50"}
    first = _run_like_kubeflow(spec, params, "kfp-run-1", project)
    capsys.readouterr()
    score = json.loads(first["score"])
    assert score["kind"] == "json"
    steps = sp.search_runs(project="kf", filter="tags.pipeline_run = 'kfp-run-1'")
    assert sorted(zip(steps["name"], steps["tags.cache"], strict=True)) == [
        ("fit", "miss"),
        ("load", "miss"),
        ("score", "miss"),
    ]
    # what a whole run in process gives is what the containers gave
    spec_ = importlib.util.spec_from_file_location("kf_retrain", "pipelines/retrain.py")
    assert spec_ is not None and spec_.loader is not None
    module = importlib.util.module_from_spec(spec_)
    sys.modules["kf_retrain"] = module
    spec_.loader.exec_module(module)
    here = sp.run_pipeline(module.retrain, month="2026-11", depth=3, rows=50)
    assert [s.status for s in here.steps] == ["cached"] * 3
    assert here.steps[2].output == score
    second = _run_like_kubeflow(spec, params, "kfp-run-2", project)
    assert second == first
    again = sp.search_runs(project="kf", filter="tags.pipeline_run = 'kfp-run-2'")
    assert set(again["tags.cache"]) == {"hit"}


def test_bad_compile_and_step_input_get_one_line(project: Path, capsys: Any) -> None:
    from setpoint.cli.main import main
    from setpoint.client import sdk

    with pytest.raises(SystemExit) as exit_:
        main(
            ["step", "run", "pipelines/retrain.py:retrain", "--step", "nope", "--param", "month=x"]
        )
    assert exit_.value.code == 1
    assert "has no step 'nope' (it has: load, fit, score)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["step", "run", "pipelines/retrain.py:retrain", "--step", "fit", "--param", "month=x"])
    assert "takes the outputs of other steps as data; got none" in capsys.readouterr().err
    # a record that is not JSON; records naming nothing the store holds (made up, or of
    # another store) are refused
    unheld = "the store holds no step output matching this record"
    for record, message in (
        ("{not json", "the record is not JSON"),
        ('{"kind": "none", "digest": "forged"}', unheld),
        ('{"kind": "json", "digest": "' + "0" * 64 + '"}', unheld),
        ('{"kind": "dataset", "ref": "kf/nothing@1", "digest": "x"}', unheld),
    ):
        fit = ["step", "run", "pipelines/retrain.py:retrain", "--step", "fit", "--param", "month=x"]
        with pytest.raises(SystemExit):
            main([*fit, "--input", f"data={record}"])
        assert message in capsys.readouterr().err
    assert "kf" not in [p.name for p in sdk.client().list_projects()]  # no step ran on them
    with pytest.raises(SystemExit):
        main(["pipeline", "compile", "pipelines/retrain.py:retrain", "-o", "x.yaml"])
    assert "Missing option '--target'" in capsys.readouterr().err


SHAPED = """
import setpoint as sp

@sp.step
def load(rows: int) -> dict:
    return {"rows": rows}

@sp.step
def extra(data: dict) -> dict:
    return {"more": data["rows"] + 1}

@sp.pipeline(name="2026-retrain", project="kf")
def retrain(rows: int = 10, wide: bool = False):
    data = load(rows)
    if wide:
        extra(data)
"""


def test_a_compiled_pipeline_refuses_a_run_whose_steps_differ(project: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    (project / "pipelines" / "retrain.py").write_text(textwrap.dedent(SHAPED))
    # a pipeline name that is no Python name compiles (it stays the KFP pipeline's name)
    main(
        [
            *("pipeline", "compile", "pipelines/retrain.py:retrain"),
            *("--target", "kubeflow", "-o", "retrain.yaml"),
        ]
    )
    out, err = capsys.readouterr()
    assert "pipeline 2026-retrain, 1 steps" in out
    assert "warning: the steps of 2026-retrain change with the value of 'wide'" in err
    spec = kfp_components.load_component_from_file("retrain.yaml").pipeline_spec
    assert spec.pipeline_info.name == "2026-retrain"
    # with the values it was compiled for, it runs; with others that add a step, each task
    # refuses instead of running a graph Kubeflow does not have
    _run_like_kubeflow(spec, {"rows": "5", "wide": "false"}, "kfp-run-1", project)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        _run_like_kubeflow(spec, {"rows": "5", "wide": "true"}, "kfp-run-2", project)
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and len(err.strip().splitlines()) == 1
    assert "other steps than it was compiled with (now: load, extra)" in err
