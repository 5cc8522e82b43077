"""Compiling a pipeline to a Kubeflow Pipelines v2 spec (through the kfp SDK, an extra).

Each step becomes a container task that runs ``setpoint step run FILE.py:PIPELINE --step
NAME`` in the given image, with the pipeline's parameters and the records of its upstream
steps' outputs as inputs, and its own output record as its one output parameter. Outputs
travel through setpoint's artifact store, so caching, lineage and results are the same as
on a laptop; Kubeflow's own cache is turned off, since only setpoint's key knows the code.
"""

from __future__ import annotations

import inspect
import json
import re
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
    source = f"def {_fn_name(pipe)}({', '.join(signature)}):\n"
    # the pipeline function kfp reads (its annotations real types: no future import here)
    code = compile(source + "\n".join(lines) + "\n", "<kubeflow>", "exec", dont_inherit=True)
    exec(code, namespace)
    fn = namespace[_fn_name(pipe)]
    kfp_pipeline = dsl.pipeline(name=_task_name(pipe.name), description=pipe.__doc__)(fn)
    compiler.Compiler().compile(kfp_pipeline, package_path=path)
    return graph


def _fn_name(pipe: Pipeline) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", pipe.name)
