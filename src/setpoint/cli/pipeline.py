"""``setpoint pipeline``: run a pipeline defined in a Python file, and explain a run."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from setpoint.cli.output import json_option, print_json, stdout_to_stderr, table, write_file

executor_option = click.option(
    "--executor",
    type=click.Choice(["inprocess", "process", "ray"]),  # executors.EXECUTORS, without importing it
    default="inprocess",
    show_default=True,
    help="Where steps run: here one by one, in local processes side by side, or on Ray "
    "(SETPOINT_RAY_ADDRESS, else a local instance).",
)


@click.group()
def pipeline() -> None:
    """Run pipelines of typed steps (cached, tracked) and explain what ran and why."""


def _load(target: str) -> Any:
    """``path/to/file.py:function`` -> the @sp.pipeline object it names."""
    from setpoint.pipelines.dag import Pipeline

    path, sep, attr = target.rpartition(":")
    if not sep or not path or not attr:
        raise click.BadParameter("expected FILE.py:PIPELINE", param_hint="TARGET")
    if os.path.isdir(path):
        raise click.BadParameter(f"{path} is a folder, not a Python file", param_hint="TARGET")
    if not os.path.isfile(path):
        raise click.BadParameter(f"{path} does not exist", param_hint="TARGET")
    if not path.endswith(".py"):
        raise click.BadParameter(f"{path} is not a Python file (.py)", param_hint="TARGET")
    name = os.path.splitext(os.path.basename(path))[0]
    known = sys.modules.get(name)
    if known is not None and not getattr(known, _LOADED, False):  # setpoint's, pandas...
        raise click.BadParameter(
            f"{path} would be imported as {name!r}, the name of a module already in use; "
            "rename the file",
            param_hint="TARGET",
        )
    try:
        module = import_file(path)
    except Exception as exc:
        if os.environ.get("SETPOINT_DEBUG"):
            raise
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise click.BadParameter(
            f"importing {path} failed{where}: {type(exc).__name__}: {exc}", param_hint="TARGET"
        ) from None
    found = getattr(module, attr, None)
    if found is None:
        raise click.BadParameter(f"{path} has no @sp.pipeline named {attr!r}", param_hint="TARGET")
    if not isinstance(found, Pipeline):
        raise click.BadParameter(
            f"{attr!r} in {path} is not a pipeline (a function decorated with @sp.pipeline)",
            param_hint="TARGET",
        )
    return found


_LOADED = "__setpoint_pipeline_file__"  # marks the modules import_file made


def import_file(path: str) -> Any:
    """Import a Python file as the module named after it, its folder on the path (so the
    pipeline's own modules import as they do for it)."""
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    setattr(module, _LOADED, True)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def absolute(target: str) -> str:
    """``FILE.py:PIPELINE`` with the file's absolute path: a run resumed, or a schedule run,
    from another folder finds it."""
    path, _, attr = target.rpartition(":")
    return f"{os.path.abspath(path)}:{attr}"


def _params(pipe: Any, items: tuple[str, ...], hint_name: str = "--param") -> dict[str, Any]:
    """KEY=VALUE pairs, converted to the pipeline function's parameter types."""
    import json

    import orjson

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=hint_name)
        _check_key(pipe, key, out, hint_name)
        hint = pipe.hints.get(key, str)
        plain = _optional_plain(hint)
        try:
            if hint in _PLAIN:
                out[key] = _plain_value(hint, text)
            elif plain is str and text.startswith('"'):  # str | None as JSON, as before
                out[key] = _of_kind(key, json.loads(text), hint, hint_name)
            elif plain is not None:  # X | None: null, or X written as for X
                out[key] = None if text == "null" else _plain_value(plain, text)
            else:
                # the standard parser keeps whole numbers whole: orjson reads one beyond
                # 64 bits as a float (1e+23), which would pass as a parameter unseen
                out[key] = _of_kind(key, json.loads(text), hint, hint_name)
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise click.BadParameter(
                f"{key}={text!r} is not {_a(hint)}: {exc}", param_hint=hint_name
            ) from None
        _storable(key, out[key])
    return out


def require_params(pipe: Any, given: Any, hint_name: str = "--param") -> None:
    """A usage error (exit 2, as for a value of the wrong type) naming each parameter of the
    pipeline function that has no default and was not ``given``."""
    import inspect

    missing = [
        name
        for name, p in pipe.signature.parameters.items()
        if p.default is inspect.Parameter.empty and name not in given
    ]
    if missing:
        give = " ".join(f"--param {name}=VALUE" for name in missing)
        raise click.BadParameter(
            f"pipeline {pipe.name!r} has no default for {', '.join(missing)}: give {give}",
            param_hint=hint_name,
        )


_PLAIN = (bool, int, float, str)  # types a --param value is written as, not as JSON


def _plain_value(hint: type, text: str) -> Any:
    """``text`` as a value of the plain type ``hint`` (bool: true/false/1/0; int: a whole
    number, also written ``3.0`` as Kubeflow writes an integer parameter's default)."""
    if hint is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError("expected true or false")
        return text.lower() in ("true", "1")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            import decimal

            try:
                exact = decimal.Decimal(text.strip())
            except decimal.InvalidOperation:
                raise ValueError(f"invalid literal for int(): {text!r}") from None
            if not exact.is_finite() or exact != exact.to_integral_value():
                raise ValueError(f"{text!r} is not a whole number") from None
            return int(exact)
    return hint(text)


def _optional_plain(hint: Any) -> type | None:
    """X of a hint ``X | None`` (``Optional[X]``) whose X is a plain type, else None."""
    import types
    import typing

    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(hint)
    others = [a for a in args if a is not type(None)]
    if len(args) == 2 and len(others) == 1 and others[0] in _PLAIN:
        return others[0]  # type: ignore[no-any-return]
    return None


def _check_key(pipe: Any, key: str, given: dict[str, Any], hint_name: str) -> None:
    if key not in pipe.signature.parameters:
        known = ", ".join(pipe.signature.parameters) or "none"
        raise click.BadParameter(
            f"{pipe.name} has no parameter {key!r} (it has: {known})", param_hint=hint_name
        )
    if key in given:
        raise click.BadParameter(f"{key} is given twice", param_hint=hint_name)


class _GivenTwice(Exception):
    pass


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys differ (the last of two would win unsaid)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _GivenTwice(key)
        out[key] = value
    return out


def _json_params(pipe: Any, text: str, given: dict[str, Any]) -> dict[str, Any]:
    """A JSON object of parameters, each value of the pipeline function's type for it."""
    import json

    try:
        # as --param: the standard parser keeps a whole number beyond 64 bits whole (orjson
        # reads it as a float, 1e+23), so that it is refused, not run with another value
        values = json.loads(text, object_pairs_hook=_once)
    except _GivenTwice as twice:
        raise click.BadParameter(f"{twice} is given twice", param_hint="--params-json") from None
    except ValueError as exc:  # JSONDecodeError, or a number too long to read
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--params-json") from None
    if not isinstance(values, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--params-json")
    out = dict(given)
    for key, value in values.items():
        _check_key(pipe, key, out, "--params-json or --param")
        out[key] = _of_kind(key, value, pipe.hints.get(key), "--params-json")
        _storable(key, out[key])
    return out


def _storable(key: str, value: Any, within: bool = False) -> None:
    """Refuse a value a parameter cannot hold, naming the parameter as a run would (before
    anything runs): a whole number beyond 64 bits, NaN or an infinity (the standard parser
    reads ``NaN`` and ``1e999``), also inside a list or dict."""
    import math

    from setpoint.core.errors import PipelineError
    from setpoint.core.names import fits_64_bits

    if isinstance(value, list | dict):
        for item in value.values() if isinstance(value, dict) else value:
            _storable(key, item, True)
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    if (whole and not fits_64_bits(value)) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        text = str(value)
        shown = text if len(text) <= 40 else f"a number of {len(text)} digits"
        raise PipelineError(
            f"pipeline parameter {key!r} {'holds' if within else 'is'} {shown}: a number "
            "parameter must be finite and, when whole, fit in 64 bits",
            field="params",
        )


def _of_kind(key: str, value: Any, hint: Any, where: str) -> Any:
    """``value`` when it is a JSON value of the parameter's type (``X | None``: also null);
    a whole number for a float becomes one."""
    import json
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(others) == 1 and len(typing.get_args(hint)) == 2:  # Optional[X]
            return None if value is None else _of_kind(key, value, others[0], where)
    kinds = _JSON_KINDS.get(typing.get_origin(hint) or hint)
    if kinds is not None and (
        isinstance(value, bool) is not (hint is bool) or not isinstance(value, kinds)
    ):
        shown = json.dumps(value)
        if len(shown) > 60:
            shown = f"{shown[:40]}… (a JSON {_JSON_NAMES.get(type(value), 'value')})"
        raise click.BadParameter(f"{key}={shown} is not {_a(hint)}", param_hint=where)
    return float(value) if hint is float else value


# JSON values a parameter of each plain type takes (a whole number is a float too); a
# list or dict parameter (``items: list``, ``list[int]``) takes that kind of container
_JSON_KINDS: dict[Any, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str,),
    list: (list,),
    dict: (dict,),
}
_JSON_NAMES: dict[type, str] = {list: "array", dict: "object", str: "string"}


def _a(hint: Any) -> str:
    """``a float``, ``a list[int]``: the type as an error names it."""
    from setpoint.pipelines.dag import type_name

    name = type_name(hint)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


@pipeline.command("run")
@click.argument("target")
@click.option("--param", "params", multiple=True, help="KEY=VALUE, repeatable.")
@click.option(
    "--params-json", default=None, help="All parameters as one JSON object (for scripts)."
)
@click.option("--result-file", default=None, help="Also write the result as JSON to this file.")
@click.option("--project", "-p", default=None, help="Project (default: the pipeline's).")
@executor_option
@json_option
def run(
    target: str,
    params: tuple[str, ...],
    params_json: str | None,
    result_file: str | None,
    project: str | None,
    executor: str,
    as_json: bool,
) -> None:
    """Run TARGET (FILE.py:PIPELINE); steps whose inputs, code and parameters did not change
    are taken from the cache."""
    from setpoint.client import sdk
    from setpoint.client.executors import make_executor, run_on

    # A run whose steps are cached only starts and ends runs: on the embedded store that
    # needs no SQLAlchemy, whose import would cost more than the rest of the command.
    with sdk.lite_default():
        # opened first: a Ray executor connects while the pipeline's file is imported
        ex = make_executor(executor, sdk.settings()).open()
        with run_on(ex):
            _run(target, params, params_json, result_file, project, ex, as_json)


def _run(
    target: str,
    params: tuple[str, ...],
    params_json: str | None,
    result_file: str | None,
    project: str | None,
    ex: Any,
    as_json: bool,
) -> None:
    import orjson

    from setpoint.client.pipelines import run_pipeline

    def started(run_id: str) -> None:
        # the run, as soon as it exists: a process stopped mid-run (SIGTERM) still names it
        if result_file:
            write_file(result_file, orjson.dumps({"run_id": run_id, "status": "running"}))

    with _step_failures(result_file, as_json), stdout_to_stderr(as_json):
        pipe = _load(target)
        values = _params(pipe, params)
        if params_json is not None:
            values = _json_params(pipe, params_json, values)
        require_params(pipe, values)
        tags = {"target": absolute(target)}
        with _pipeline_body(pipe):
            result = run_pipeline(pipe, values, project, tags=tags, executor=ex, on_start=started)
    if result_file:
        document = {"run_id": result.run_id, "versions": registered_versions(result)}
        write_file(result_file, orjson.dumps(document))
    _print_result(result, as_json)


def registered_versions(result: Any) -> dict[str, str]:
    """Model name -> the version this pipeline run registered (what CI promotes: that
    version, not whatever is the latest when the promotion runs): steps returning a model,
    and the standard register steps."""
    out: dict[str, str] = {}
    for s in result.steps:
        record = s.output or {}
        ref = record.get("ref") if record.get("kind") == "model" else None
        if ref is None and record.get("kind") == "json":
            value = result.value(s.step)
            found = value.get("version") if isinstance(value, dict) else None
            ref = found if isinstance(found, str) and found.count("/") == 2 else None
        if ref is not None:
            out[ref.split("/")[1]] = ref
    return out


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        print_json({"run_id": result.run_id, "steps": result.steps})
        return
    table(
        f"{result.pipeline} · run {result.run_id}",
        ["step", "", "seconds", "why"],
        [(s.step, s.status, f"{s.seconds:.3f}", "; ".join(s.why)) for s in result.steps],
    )
    for line in _promotions(result):
        click.echo(line)


_PROMOTE_STEP = "register_and_promote"  # sp.steps' step (called again: "register_and_promote.4")


def _promotions(result: Any) -> list[str]:
    """One line per ``sp.steps.register_and_promote`` step: the version promoted to its
    alias, or not and which gates failed (the step reports a refusal instead of raising, so
    the table alone says it ran). Only those steps' values are loaded: a cached run stays
    cheap."""
    lines = []
    for s in result.steps:
        if s.step.partition(".")[0] != _PROMOTE_STEP or (s.output or {}).get("kind") != "json":
            continue
        value = result.value(s.step)
        if not _is_promotion(value):
            continue
        version = value["version"].partition("/")[2]  # project/name/n -> name/n
        alias = value.get("alias")
        to = f" to {alias}" if isinstance(alias, str) else ""
        if value["promoted"] and value.get("held") is True:
            lines.append(f"{version} already holds {alias}: registered by an earlier run")
            continue
        if value["promoted"]:
            lines.append(f"{version} promoted{to}")
            continue
        failed = [_failed_gate(g) for g in value["gates"] if not g["passed"]]
        why = f": {'; '.join(failed)}" if failed else ""
        lines.append(f"{version} not promoted{to}{why}")
    return lines


def _is_promotion(value: Any) -> bool:
    """Whether ``value`` has the shape register_and_promote returns: ``version``
    (project/name/n), ``promoted`` and ``gates`` (each a ``rule`` and whether it ``passed``)."""
    if not isinstance(value, dict):
        return False
    version, promoted, gates = value.get("version"), value.get("promoted"), value.get("gates")
    return (
        isinstance(version, str)
        and version.count("/") == 2
        and isinstance(promoted, bool)
        and isinstance(gates, list)
        and all(
            isinstance(g, dict)
            and isinstance(g.get("rule"), str)
            and isinstance(g.get("passed"), bool)
            for g in gates
        )
    )


def _failed_gate(gate: dict[str, Any]) -> str:
    """``accuracy min 0.7 failed (observed 0.62; on ...)``: the rule, and what its verdict
    carries beyond it."""
    from setpoint.cli.output import number

    said = []
    if gate.get("observed") is not None:
        said.append(f"observed {number(gate['observed'])}")
    expected = gate.get("expected")
    if expected is not None and str(expected) != gate["rule"]:
        said.append(f"expected {number(expected)}")
    if gate.get("detail"):
        said.append(str(gate["detail"]))
    return f"{gate['rule']} failed" + (f" ({'; '.join(said)})" if said else "")


@pipeline.command("resume")
@click.argument("run_id")
@executor_option
@json_option
def resume(run_id: str, executor: str, as_json: bool) -> None:
    """Run pipeline run RUN_ID again with its parameters: the steps that finished come from
    the cache, so it goes on from the step that failed."""
    from setpoint.cli.runs import resolve_run
    from setpoint.client import sdk
    from setpoint.client.pipelines import pipeline_params, run_pipeline
    from setpoint.core.errors import PipelineError

    run = resolve_run(sdk.client(), run_id)
    target = run.tags.get("target")
    if run.tags.get("kind") != "pipeline" or not target:
        raise PipelineError(
            f"run {run_id} is not a pipeline run started by `setpoint pipeline run`; run the "
            "pipeline again with the same parameters (its finished steps are cached)",
            field="run_id",
        )
    _check_resumable(sdk.client(), run, sdk.settings().heartbeat_timeout)
    with _step_failures(as_json=as_json), stdout_to_stderr(as_json):
        try:
            pipe = _load(target)
        except click.BadParameter as exc:  # (about the run's target, not an argument given)
            raise PipelineError(
                f"pipeline run {run.id} ran {target}, which cannot be loaded now: "
                f"{exc.message}; run the pipeline from where it is now with `setpoint "
                "pipeline run` (its finished steps are cached)",
                field="run_id",
            ) from None
        params = pipeline_params(sdk.client(), run)
        tags = {"target": target, "resumed_from": run.id}
        with _pipeline_body(pipe):
            result = run_pipeline(
                pipe, params, run.project, tags=tags, executor=executor, resume_from=run.id
            )
    _print_result(result, as_json)


def _check_resumable(c: Any, run: Any, heartbeat_timeout: float) -> None:
    """Refuse to resume a pipeline run that succeeded, or that a resume of it completed (its
    steps would run again: a model registered twice), or that is still running (its step
    would run twice at once). A run still ``running`` whose process stopped sending
    heartbeats is gone, and resumes."""
    import time

    from setpoint.core.errors import ConflictError

    if run.status == "finished":
        raise ConflictError(
            f"pipeline run {run.id} succeeded: there is nothing to resume (`setpoint pipeline "
            "run` runs the pipeline again)",
            field="run_id",
        )
    done = c.tagged_runs(run.project, {"resumed_from": run.id}, "finished", 1)
    if done:
        raise ConflictError(
            f"pipeline run {run.id} was resumed by run {done[0].id}, which succeeded: there is "
            "nothing to resume (`setpoint pipeline run` runs the pipeline again)",
            field="run_id",
        )
    if run.status == "running":
        beat = run.heartbeat_at
        if beat is None or time.time() * 1000 - beat < heartbeat_timeout * 1000:
            raise ConflictError(
                f"pipeline run {run.id} is still running: resume it once it failed or was "
                f"stopped (a killed one counts as stopped {heartbeat_timeout:g} s after its "
                "last heartbeat, SETPOINT_HEARTBEAT_TIMEOUT)",
                field="run_id",
            )


@contextmanager
def _step_failures(result_file: str | None = None, as_json: bool = False) -> Iterator[None]:
    """A step that raises is the user's error, said in one line with where to resume; not a
    setpoint bug (the traceback is in the step's run, and with SETPOINT_DEBUG=1). The result
    file, when asked for, and with ``--json`` the output, then name the failed run, its step
    and the error."""
    try:
        yield
    except Exception as exc:
        failed = getattr(exc, "setpoint_step_failure", None)
        if failed is not None and (result_file or as_json):
            import orjson

            error = f"{type(exc).__name__}: {exc}"
            document = {"run_id": failed.run_id, "failed_step": failed.step, "error": error}
            if result_file:
                write_file(result_file, orjson.dumps(document))
            if as_json:
                print_json(document)
        if failed is None or os.environ.get("SETPOINT_DEBUG"):
            raise
        raise click.ClickException(f"{type(exc).__name__}: {exc}\n{failed}") from None


@contextmanager
def _pipeline_body(pipe: Any) -> Iterator[None]:
    """An exception the pipeline function's own body raised while its graph was built (the
    user's own check: ``raise ValueError("n must be <= 0")``) is the pipeline's, said in one
    line (its traceback with SETPOINT_DEBUG=1), not an unexpected error of setpoint's. One
    raised inside setpoint (called from the body, or building the graph) is left as it is."""
    from setpoint.core.errors import InvalidArgumentError, SetpointError

    try:
        yield
    except SetpointError:
        raise  # said in one line already
    except Exception as exc:
        if os.environ.get("SETPOINT_DEBUG") or not _raised_by(exc, pipe.fn):
            raise
        first = (str(exc).splitlines() or [""])[0]
        raise InvalidArgumentError(
            f"pipeline {pipe.name!r} raised {type(exc).__name__}: {first}"
        ) from None


def _raised_by(exc: BaseException, fn: Any) -> bool:
    """Whether ``exc`` came from ``fn``'s own code: its traceback passes through ``fn`` and,
    below it, through no code of setpoint's (what the body calls of the user's or of other
    libraries counts as the body's)."""
    import setpoint

    own = os.path.dirname(os.path.abspath(setpoint.__file__)) + os.sep
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    code = getattr(fn, "__code__", None)
    for i, frame in enumerate(frames):
        if frame is code:
            below = frames[i + 1 :]
            return not any(os.path.abspath(f.co_filename).startswith(own) for f in below)
    return False


@pipeline.command("sweep")
@click.argument("target")
@click.option("--grid", "grids", multiple=True, required=True, help="KEY=V1,V2,…, repeatable.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE held fixed, repeatable.")
@click.option("--samples", type=int, default=None, help="Run this many random combinations.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --samples.")
@click.option("--project", "-p", default=None, help="Project (default: the pipeline's).")
@executor_option
@json_option
def sweep(
    target: str,
    grids: tuple[str, ...],
    params: tuple[str, ...],
    samples: int | None,
    seed: int,
    project: str | None,
    executor: str,
    as_json: bool,
) -> None:
    """Run TARGET for every combination of the --grid values (or --samples of them) and
    compare the runs: their parameters and the numbers their steps returned."""
    from setpoint.client.pipelines import sweep as run_sweep

    with stdout_to_stderr(as_json):  # what the pipeline prints: not in the JSON
        pipe = _load(target)
        grid: dict[str, list[Any]] = {}
        for item in grids:
            key, sep, values = item.partition("=")
            if not sep or not values:
                raise click.BadParameter(f"{item!r} is not KEY=V1,V2", param_hint="--grid")
            _check_key(pipe, key, grid, "--grid")
            grid[key] = [_params(pipe, (f"{key}={v}",), "--grid")[key] for v in values.split(",")]
        fixed = _params(pipe, params)
        both = sorted(grid.keys() & fixed.keys())
        if both:
            raise click.BadParameter(
                f"{both[0]} is both swept and fixed", param_hint="--grid/--param"
            )
        require_params(pipe, grid.keys() | fixed.keys(), "--grid/--param")
        # each pipeline run tagged with its target, as `pipeline run` tags it: one that failed
        # resumes; a combination that fails is its row, the others still run
        with _pipeline_body(pipe):
            sweep_id, rows = run_sweep(
                pipe,
                grid,
                fixed,
                project,
                samples,
                seed,
                executor,
                tags={"target": absolute(target)},
                keep_going=True,
            )
    failed = [r for r in rows if r.get("status") == "failed"]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    # as each run gave them (a failed run's row has no numbers: its cells are empty)
    records = [{c: r[c] for c in columns if c in r} for r in rows]
    if as_json:
        print_json({"sweep_run_id": sweep_id, "runs": records})
    else:
        table(
            f"sweep of {pipe.name} · run {sweep_id}",
            columns,
            [[r.get(c, "") for c in columns] for r in records],
            keep_whole=["run_id"],
        )
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(rows)} combinations failed; "
            f"`setpoint pipeline resume {failed[0]['run_id']}` runs the first again from its "
            "failed step"
        )


@pipeline.command("explain")
@click.argument("run_id")
@json_option
def explain(run_id: str, as_json: bool) -> None:
    """Why each step of pipeline run RUN_ID ran (what changed) or was cached."""
    from setpoint.cli.runs import resolve_run
    from setpoint.client import sdk

    steps = sdk.explain_pipeline(resolve_run(sdk.client(), run_id).id)
    if as_json:
        print_json(steps)
        return
    table(
        f"pipeline run {run_id}",
        ["step", "", "run", "why"],
        [(s["step"], s["status"], s["run_id"], "; ".join(s["why"])) for s in steps],
    )


@pipeline.command("compile")
@click.argument("target")
@click.option(
    "--target",
    "platform",
    type=click.Choice(["kubeflow"]),
    required=True,
    help="What to compile for: a Kubeflow Pipelines v2 spec.",
)
@click.option("--output", "-o", required=True, help="File to write the spec to (YAML).")
@click.option(
    "--image",
    default="setpoint-pipeline:latest",
    show_default=True,
    help="Container image holding setpoint and this project's code (its working folder the "
    "folder TARGET is relative to).",
)
@click.option("--param", "params", multiple=True, help="KEY=VALUE: an input's default.")
@click.option(
    "--env", "envs", multiple=True, help="KEY=VALUE set in every step's container (repeatable)."
)
def compile_(
    target: str,
    platform: str,
    output: str,
    image: str,
    params: tuple[str, ...],
    envs: tuple[str, ...],
) -> None:
    """Compile TARGET (FILE.py:PIPELINE) for Kubeflow: each step a container task running
    `setpoint step run`, outputs passed through setpoint's store, caching done by setpoint."""
    from setpoint.pipelines.kubeflow import compile_kubeflow, parameter_changing_shape

    if not output.endswith((".yaml", ".yml")):
        raise click.BadParameter(f"{output!r} must end with .yaml", param_hint="--output")
    if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise click.BadParameter(f"the folder of {output} does not exist", param_hint="--output")
    pipe = _load(target)
    env: dict[str, str] = {}
    for item in envs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        env[key] = value
    path, _, attr = target.rpartition(":")
    relative = os.path.relpath(os.path.abspath(path))
    if relative.startswith(".."):
        raise click.BadParameter(
            f"{path} is outside this folder: compile from the project's folder, which the "
            "image holds as its working folder",
            param_hint="TARGET",
        )
    values = _params(pipe, params)
    with _pipeline_body(pipe):
        graph = compile_kubeflow(pipe, f"{relative}:{attr}", values, image, env, output)
    click.echo(f"wrote {output}: pipeline {pipe.name}, {len(graph.nodes)} steps, image {image}")
    changing = parameter_changing_shape(pipe, values, graph)
    if changing is not None:
        click.echo(
            f"warning: the steps of {pipe.name} change with the value of {changing!r}; a run "
            "of the compiled pipeline whose values give other steps than these is refused by "
            "its tasks",
            err=True,
        )
