"""Compiling a pipeline to a Kubeflow Pipelines v2 spec (through the kfp SDK, an extra).

Each step becomes a container task that runs ``setpoint step run FILE.py:PIPELINE --step
NAME`` in the given image, with the pipeline's parameters and the records of its upstream
steps' outputs as inputs, and its own output record as its one output parameter. Outputs
travel through setpoint's artifact store, so caching, lineage and results are the same as
on a laptop; Kubeflow's own cache is turned off, since only setpoint's key knows the code.
Each task also carries the hash of the compiled graph's shape (:func:`graph_shape`): a task
whose pipeline, rebuilt with the run's parameters, has other steps refuses to run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import typing
from typing import Any

from setpoint.core.errors import PipelineError
from setpoint.pipelines.dag import Graph, Output, Pipeline

# pipeline parameter type -> (component input type, type in the KFP pipeline signature)
_TYPES: dict[Any, tuple[str, type]] = {
    str: ("String", str),
    int: ("Integer", int),
    float: ("Float", float),
    bool: ("Boolean", bool),
}


PIPELINE_FUNCTION = "_sp_pipeline"  # kfp reads a Python function; its name is not the pipeline's


def graph_shape(graph: Graph) -> str:
    """A hash of the graph's steps and of which outputs feed which: what a compiled pipeline
    was compiled for, and what each of its tasks checks the rebuilt graph against."""
    shape = [
        [
            node.name,
            sorted([p, v.node] for p, v in node.inputs.items() if isinstance(v, Output)),
        ]
        for node in graph.nodes
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def parameter_changing_shape(pipe: Pipeline, params: dict[str, Any], graph: Graph) -> str | None:
    """A parameter whose value changes the steps of ``graph`` (built from ``params``), found
    by building it again with each parameter of a plain type, or list, set to another value;
    None when none does, as far as that tells."""
    shape = graph_shape(graph)
    for name in pipe.signature.parameters:
        current = graph.params.get(name)
        other = _another(pipe.hints.get(name, str), current)
        if other is None:
            continue
        try:
            changed = pipe.build_shape({**params, name: other})
        except Exception:  # a value the pipeline refuses: nothing to tell from it
            continue
        if graph_shape(changed) != shape:
            return name
    return None


def _another(hint: Any, value: Any) -> Any:
    """A value of ``hint`` other than ``value`` (None: none at hand)."""
    if hint is bool:
        return not value
    if hint in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return hint(value + 1)
    if hint is str and isinstance(value, str):
        return value + "x"
    if (hint is list or typing.get_origin(hint) is list) and isinstance(value, list) and value:
        return [*value, value[0]]
    return None


def _task_name(step: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", step.lower()).strip("-") or "step"


def compile_kubeflow(
    pipe: Pipeline,
    target: str,
    params: dict[str, Any],
    image: str,
    env: dict[str, str],
    path: str,
) -> Graph:
    """Write the Kubeflow spec of ``pipe`` (found at ``target``, FILE.py:PIPELINE as the
    image sees it) to ``path``; ``params`` become the defaults of the pipeline's inputs."""
    try:
        from kfp import compiler, components, dsl
    except ImportError:
        raise PipelineError(
            "compiling for Kubeflow needs the kfp SDK: pip install 'setpoint[kubeflow]'",
            field="target",
        ) from None
    graph = pipe.build_shape(params)
    inputs: list[tuple[str, str, type, Any]] = []  # name, component type, python type, default
    for name, parameter in pipe.signature.parameters.items():
        hint = pipe.hints.get(name, str)
        kind, py = _TYPES.get(hint, ("String", str))
        if name in params:
            default = params[name]
        elif parameter.default is not parameter.empty:
            default = parameter.default
        else:
            default = parameter.empty
        if default is not parameter.empty and py is str and not isinstance(default, str):
            default = json.dumps(default)  # JSON values travel as text
        inputs.append((name, kind, py, default))

    shape = graph_shape(graph)
    namespace: dict[str, Any] = {"_sp_dsl": dsl}
    lines = []
    for node in graph.nodes:
        upstream = {p: v for p, v in node.inputs.items() if isinstance(v, Output)}
        spec = {
            "name": _task_name(node.name),
            "inputs": [{"name": f"param_{n}", "type": k} for n, k, _, _ in inputs]
            + [{"name": "pipeline_run", "type": "String"}]
            + [{"name": f"in_{p}", "type": "String"} for p in upstream],
            "outputs": [{"name": "output", "type": "String"}],
            "implementation": {
                "container": {
                    "image": image,
                    "command": ["setpoint", "step", "run", target, "--step", node.name],
                    "args": [
                        *[
                            a
                            for n, _, _, _ in inputs
                            for a in (
                                "--param",
                                {"concat": [f"{n}=", {"inputValue": f"param_{n}"}]},
                            )
                        ],
                        *[
                            a
                            for p in upstream
                            for a in ("--input", {"concat": [f"{p}=", {"inputValue": f"in_{p}"}]})
                        ],
                        "--pipeline-run",
                        {"inputValue": "pipeline_run"},
                        "--shape",
                        shape,
                        "--output-file",
                        {"outputPath": "output"},
                    ],
                }
            },
        }
        namespace[f"_sp_c{node.index}"] = components.load_component_from_text(json.dumps(spec))
        args = [f"param_{n}={n}" for n, _, _, _ in inputs]
        args.append("pipeline_run=_sp_dsl.PIPELINE_JOB_ID_PLACEHOLDER")
        args += [f"in_{p}=_sp_t{v.node}.outputs['output']" for p, v in upstream.items()]
        lines.append(f"    _sp_t{node.index} = _sp_c{node.index}({', '.join(args)})")
        lines.append(f"    _sp_t{node.index}.set_display_name({node.name!r})")
        lines.append(f"    _sp_t{node.index}.set_caching_options(False)")
        for key, value in env.items():
            lines.append(f"    _sp_t{node.index}.set_env_variable({key!r}, {value!r})")
    signature = []
    for name, _, py, default in inputs:
        namespace[f"_sp_T_{name}"] = py
        if default is inspect.Parameter.empty:
            signature.append(f"{name}: _sp_T_{name}")
        else:
            namespace[f"_sp_D_{name}"] = default
            signature.append(f"{name}: _sp_T_{name} = _sp_D_{name}")
    source = f"def {PIPELINE_FUNCTION}({', '.join(signature)}):\n"
    # the pipeline function kfp reads (its annotations real types: no future import here)
    code = compile(source + "\n".join(lines) + "\n", "<kubeflow>", "exec", dont_inherit=True)
    exec(code, namespace)
    fn = namespace[PIPELINE_FUNCTION]
    kfp_pipeline = dsl.pipeline(name=_task_name(pipe.name), description=pipe.__doc__)(fn)
    compiler.Compiler().compile(kfp_pipeline, package_path=path)
    return graph
