"""``setpoint init --ci github``: a GitHub Actions workflow that tests the code, runs the
training pipeline, evaluates the new model version against the alias's gates, and deploys
(promotes it) only if they pass, on pushes to the main branch."""

from __future__ import annotations

import glob
import os
import re
import shlex
import sys
from typing import Any

import click

_BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")
_PYTHON = re.compile(r"3\.[0-9]{1,2}")
WORKFLOW = ".github/workflows/setpoint.yml"

TEMPLATE = """\
# Written by `setpoint init --ci github`. Tests, trains, gates and deploys with setpoint:
# a model version is promoted to {alias!r} only if every gate on that alias passes.
#
# The runs, datasets and models go to your team's setpoint server: set the repository
# secrets SETPOINT_URL and SETPOINT_TOKEN (a token of a user with the editor role, and the
# approver role where the gates ask for approvals; `setpoint tokens create`).
name: setpoint

on:
  push:
    branches: [{branch}]
  pull_request:
    branches: [{branch}]
  workflow_dispatch: {{}}

jobs:
  test-train-deploy:
    runs-on: ubuntu-latest
    env:
      SETPOINT_URL: ${{{{ secrets.SETPOINT_URL }}}}
      SETPOINT_TOKEN: ${{{{ secrets.SETPOINT_TOKEN }}}}
    steps:
      - uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - name: Install dependencies
        run: |
          {install}
      - name: Run tests
        run: {tests}
      - name: Run the training pipeline
        id: pipeline
        run: |
          setpoint pipeline run {pipeline}{params} --result-file pipeline-run.json
          # the version this run registered: it is the one gated and promoted below, even
          # when another run registers a newer one meanwhile
          python -c 'import json, sys; v = json.load(open("pipeline-run.json"))["versions"]; sys.exit("error: the pipeline registered no version of model {model} (it registered: " + (", ".join(v) or "none") + "); fix --model in setpoint init") if "{model}" not in v else print("version=" + v["{model}"])' >> "$GITHUB_OUTPUT"
      - name: Evaluate the new version against the gates of {alias}
        id: gate
        run: |
          # a gate that did not pass skips the deploy; a store that cannot be reached, or a
          # token it refuses, fails the workflow
          if setpoint models promote ${{{{ steps.pipeline.outputs.version }}}} --to {alias} --dry-run --json > gate.json; then
            echo "passed=true" >> "$GITHUB_OUTPUT"
          elif python -c 'import json, sys; sys.exit(json.load(open("gate.json")).get("passed") is not False)' 2> /dev/null; then
            cat gate.json
            echo "passed=false" >> "$GITHUB_OUTPUT"
          else
            echo "error: the gates could not be evaluated (see above)" >&2
            exit 1
          fi
      - name: Deploy (promote to {alias})
        if: steps.gate.outputs.passed == 'true' && github.event_name != 'pull_request' && github.ref == 'refs/heads/{branch}'
        run: setpoint models promote ${{{{ steps.pipeline.outputs.version }}}} --to {alias} --reason "CI run ${{{{ github.run_id }}}} of ${{{{ github.sha }}}}"
"""


@click.command("init")
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    required=True,
    help="Write a CI workflow for this service.",
)
@click.option(
    "--pipeline",
    "target",
    default=None,
    help="FILE.py:PIPELINE to run (default: the one pipeline under pipelines/).",
)
@click.option(
    "--model",
    default=None,
    help="Model the pipeline registers (default: read from its register step).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="KEY=VALUE the workflow runs the pipeline with (repeatable, as in `pipeline run`); "
    "needed for each parameter without a default.",
)
@click.option("--alias", default="champion", show_default=True, help="Alias to deploy to.")
@click.option("--branch", default="main", show_default=True, help="Branch that deploys.")
@click.option(
    "--python",
    "python",
    default=None,
    help="Python version of the workflow (default: the oldest setpoint supports).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing workflow.")
def init(
    ci: str,
    target: str | None,
    model: str | None,
    params: tuple[str, ...],
    alias: str,
    branch: str,
    python: str | None,
    force: bool,
) -> None:
    """Write a CI workflow (tests → pipeline → gate → deploy) into this repository."""
    from setpoint.core import names

    names.check_name(alias, "alias")
    # both go into the workflow's YAML and its expressions as they are
    if not _BRANCH.fullmatch(branch) or ".." in branch or branch.endswith((".lock", "/")):
        raise click.BadParameter(
            f"{branch!r} is not a branch name (letters, digits, '.', '_', '-', '/')",
            param_hint="--branch",
        )
    oldest = _oldest_python()
    python = python or f"3.{oldest}"
    if not _PYTHON.fullmatch(python):
        raise click.BadParameter(
            f"{python!r} is not a Python version like 3.{oldest}", param_hint="--python"
        )
    if int(python.split(".")[1]) < oldest:
        raise click.BadParameter(
            f"setpoint needs Python 3.{oldest} or newer, not {python}", param_hint="--python"
        )
    if os.path.exists(WORKFLOW) and not force:
        click.echo(f"error: {WORKFLOW} exists; --force overwrites it", err=True)
        sys.exit(1)
    target = target or _find_pipeline()
    pipe = _pipeline(target)
    values = _values(pipe, params)
    graph = pipe.build_shape(values)
    registered = _registered_models(graph)
    if _promotes(graph):
        click.echo(
            f"note: pipeline {pipe.name} promotes with sp.steps.register_and_promote, in "
            "every run of this workflow (pull requests included) and before its gate step: "
            "register with sp.steps.register to have the workflow decide",
            err=True,
        )
    if model is None and not registered:
        raise click.UsageError(
            f"pipeline {pipe.name} has no register step naming its model: give --model NAME"
        )
    model = model or registered[0]
    names.check_name(model, "model")
    if registered and model not in registered:
        raise click.BadParameter(
            f"pipeline {pipe.name} registers {', '.join(registered)}, not {model!r}",
            param_hint="--model",
        )
    install = ["python -m pip install --upgrade pip"]
    tests = glob.glob("tests/**/test_*.py", recursive=True) + glob.glob(
        "tests/**/*_test.py", recursive=True
    )
    if tests:
        install.append("pip install pytest")  # before the project's: its pin wins
    if os.path.exists("requirements.txt"):
        install.append("pip install -r requirements.txt")
    elif os.path.exists("pyproject.toml"):
        # editable: the project's code stays in the checkout, where the pipeline's cache keys
        # follow it (code installed into site-packages counts as a library's, through its
        # version only: an edit that keeps the version would leave steps cached)
        install.append("pip install -e .")
    if not _declares_setpoint():  # every later step runs setpoint
        install.append("pip install setpoint")
    text = TEMPLATE.format(
        alias=alias,
        branch=branch,
        python=python,
        install="\n          ".join(install),
        tests="pytest" if tests else 'echo "no tests under tests/"',
        pipeline=_relative(target),
        params="".join(f" --param {shlex.quote(item)}" for item in params),
        model=model,
    )
    os.makedirs(os.path.dirname(WORKFLOW), exist_ok=True)
    with open(WORKFLOW, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(
        f"wrote {WORKFLOW}: tests → {_relative(target)} → gates of {model}@{alias} → promote "
        f"on {branch}; set the secrets SETPOINT_URL and SETPOINT_TOKEN"
    )


_SETPOINT = re.compile(r"\s*setpoint\s*(\[[^\]]*\])?\s*([<>=!~;@(]|$)", re.IGNORECASE)


def _declares_setpoint() -> bool:
    """Whether what the workflow installs (requirements.txt, else pyproject.toml's
    dependencies) names setpoint."""
    if os.path.exists("requirements.txt"):
        with open("requirements.txt", encoding="utf-8", errors="replace") as fh:
            lines = [line.split("#", 1)[0] for line in fh]
    elif os.path.exists("pyproject.toml"):
        import tomllib

        try:
            with open("pyproject.toml", "rb") as fb:
                project = tomllib.load(fb).get("project") or {}
        except (tomllib.TOMLDecodeError, OSError):
            return False
        lines = [str(d) for d in project.get("dependencies") or []]
    else:
        return False
    return any(_SETPOINT.match(line) for line in lines)


def _find_pipeline() -> str:
    from setpoint.cli.pipeline import import_file
    from setpoint.pipelines.dag import Pipeline

    found = []
    for path in sorted(glob.glob("pipelines/**/*.py", recursive=True)):
        try:
            module = import_file(path)
        except Exception:  # a file that does not import is not the pipeline we look for
            continue
        found += [f"{path}:{k}" for k, v in vars(module).items() if isinstance(v, Pipeline)]
    if len(found) != 1:
        which = f"found {', '.join(found)}" if found else "found none under pipelines/"
        raise click.UsageError(f"give --pipeline FILE.py:PIPELINE ({which})")
    return found[0]


def _pipeline(target: str) -> Any:
    from setpoint.cli.pipeline import _load

    return _load(target)


def _values(pipe: Any, params: tuple[str, ...]) -> dict[str, Any]:
    """The --param values the workflow runs the pipeline with: converted and checked as
    `pipeline run` does, one for every parameter without a default, each on one line of
    the workflow's script as it is."""
    from setpoint.cli.pipeline import _params
    from setpoint.core.errors import PipelineError
    from setpoint.pipelines.cache import literal_hash

    for item in params:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in item) or "${{" in item:
            raise click.BadParameter(
                f"{item!r}: a value on one line, without control characters or ${{{{ }}}} "
                "expressions",
                param_hint="--param",
            )
    values = _params(pipe, params)
    for name, parameter in pipe.signature.parameters.items():
        if parameter.default is parameter.empty and name not in values:
            raise PipelineError(
                f"pipeline {pipe.name} has no default for {name!r}, and the workflow must "
                f"give it one: --param {name}=VALUE",
                field="param",
            )
    for key, value in pipe.build(**values).params.items():  # what `pipeline run` refuses
        literal_hash(value, what=f"parameter {key!r}")
    return values


def _registered_models(graph: Any) -> list[str]:
    """The model names the pipeline's register steps are given, in order; empty when none
    names one as a literal (a step of its own may still register one: not checked)."""
    found = []
    for node in graph.nodes:
        if node.step.fn.__name__ in ("register", "register_and_promote"):
            name = node.inputs.get("name")
            if isinstance(name, str) and name not in found:
                found.append(name)
    return found


def _promotes(graph: Any) -> bool:
    """Whether one of the pipeline's steps is the standard register-and-promote step."""
    return any(n.step.fn.__name__ == "register_and_promote" for n in graph.nodes)


def _oldest_python() -> int:
    """The oldest Python 3 minor version this setpoint supports, from its installed
    ``Requires-Python`` (``>=3.11``: 11)."""
    from importlib import metadata

    try:
        needs = metadata.metadata("setpoint")["Requires-Python"] or ""
    except metadata.PackageNotFoundError:
        needs = ""
    found = re.search(r">=\s*3\.(\d+)", needs)
    return int(found[1]) if found else _OLDEST_PYTHON


_OLDEST_PYTHON = 11  # when the installed metadata does not say (pyproject's requires-python)


def _relative(target: str) -> str:
    path, _, attr = target.rpartition(":")
    relative = os.path.relpath(os.path.abspath(path))
    if relative.startswith(".."):
        raise click.BadParameter(
            f"{path} is outside this repository: run init from the repository's root",
            param_hint="--pipeline",
        )
    return f"{relative}:{attr}"
