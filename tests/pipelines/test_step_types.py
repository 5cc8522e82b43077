"""What a step's parameters and options take: literals and pipeline parameters of their
type hint's type (a whole number is a float for a ``float``), and ``packages`` as installed
distributions' names, whose versions are part of the cache key."""

from __future__ import annotations

import re
from typing import Any, Optional

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import setpoint as sp
from setpoint.core.errors import InvalidArgumentError, PipelineError


@sp.step
def train(lr: float, epochs: int = 1) -> dict:
    return {"lr": lr, "type": type(lr).__name__, "epochs": epochs}


@sp.pipeline(project="types")
def tune(lr: float = 0.1):
    train(lr)


def test_a_whole_number_for_a_float_is_a_float() -> None:
    """``sp.run_pipeline(tune, lr=8)`` gave the step int 8 and a key other than the CLI's
    ``--param lr=8`` (8.0): the step ran again with "parameter 'lr' changed"."""
    graph = tune.build(lr=8)
    assert graph.params == {"lr": 8.0} and type(graph.params["lr"]) is float
    assert type(graph.nodes[0].inputs["lr"]) is float

    @sp.pipeline(project="types")
    def literal() -> None:
        train(3, 2)

    inputs = literal.build().nodes[0].inputs
    assert inputs == {"lr": 3.0, "epochs": 2}
    assert type(inputs["lr"]) is float and type(inputs["epochs"]) is int

    @sp.pipeline(project="types")
    def whole_default(lr: float = 1) -> None:
        train(lr)

    assert type(whole_default.build().params["lr"]) is float


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_whole_number_for_a_float_param_is_cached_with_the_cli_s_float(client: Any) -> None:
    first = sp.run_pipeline(tune, lr=8.0)  # what `--param lr=8` gives
    assert first.value("train") == {"lr": 8.0, "type": "float", "epochs": 1}
    again = sp.run_pipeline(tune, lr=8)
    assert again.steps[0].status == "cached", again.steps[0].why
    assert again.value("train") == {"lr": 8.0, "type": "float", "epochs": 1}


@sp.step
def s(n: int, items: list) -> dict:
    return {"n": n}


@sp.step
def flags(
    on: bool,
    ratio: Optional[float],  # noqa: UP045 (the typing spelling is checked too)
    ids: list[int],
    meta: dict[str, int] | None,
) -> int:
    return 0


@sp.step
def loose(anything: Any, either: int | str, number: float | int) -> int:
    return 0


def _build(body: Any) -> Any:
    return sp.pipeline(name="literals", project="types")(body).build()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: s("abc", [1]), "step 's': parameter 'n' expects int, got str 'abc'"),
        (lambda: s(1, {"a": 1}), "step 's': parameter 'items' expects list, got dict"),
        (lambda: s(2.0, []), "parameter 'n' expects int, got float 2.0"),
        (lambda: s(True, []), "parameter 'n' expects int, got bool True"),
        (lambda: flags(1, None, [], None), "parameter 'on' expects bool, got int 1"),
        (lambda: flags(True, "x", [], None), "parameter 'ratio' expects float | None, got str"),
        (lambda: flags(True, False, [], None), "parameter 'ratio' expects float | None, got bool"),
        (lambda: flags(True, 1.0, {}, None), "parameter 'ids' expects list[int], got dict"),
        (lambda: flags(True, 1.0, [], []), "'meta' expects dict[str, int] | None, got list"),
    ],
    ids=["str", "dict", "float", "bool", "int", "text", "flag", "list", "listed"],
)
def test_a_literal_not_of_its_parameter_s_type_is_refused(call: Any, message: str) -> None:
    """``s("abc", {"a": 1})`` for ``s(n: int, items: list)`` ran without complaint."""
    with pytest.raises(PipelineError, match=re.escape(message)) as caught:
        _build(lambda: call())
    assert isinstance(caught.value, InvalidArgumentError)
    assert "a int" not in str(caught.value) and "a Optional" not in str(caught.value)


def test_a_literal_of_its_parameter_s_type_is_taken() -> None:
    inputs = _build(lambda: flags(False, 2, ["not checked"], {"a": 1})).nodes[0].inputs
    assert inputs == {"on": False, "ratio": 2.0, "ids": ["not checked"], "meta": {"a": 1}}
    assert type(inputs["ratio"]) is float
    assert _build(lambda: flags(True, None, [], None)).nodes[0].inputs["ratio"] is None
    assert _build(lambda: s(1, ("a", "b"))).nodes[0].inputs["items"] == ["a", "b"]  # as JSON
    # hints other than a simple type (or one of them or None) are left alone
    inputs = _build(lambda: loose([1], [2], 3)).nodes[0].inputs
    assert inputs == {"anything": [1], "either": [2], "number": 3}
    assert type(inputs["number"]) is int


def test_a_pipeline_parameter_not_of_its_type_is_refused() -> None:
    @sp.pipeline(project="types")
    def counted(n: int = 1, name: str = "a") -> None:
        s(n, [name])

    with pytest.raises(PipelineError, match="pipeline 'counted': parameter 'n' expects int, got"):
        counted.build(n="5")
    with pytest.raises(PipelineError, match="parameter 'name' expects str, got int 5"):
        counted.build(name=5)
    with pytest.raises(PipelineError, match="parameter 'n' expects int, got bool"):
        counted.build(n=True)

    # a pipeline parameter fed to a step of another type is the step's literal
    @sp.pipeline(project="types")
    def as_text(n: str = "1") -> None:
        s(n, [])

    with pytest.raises(PipelineError, match="step 's': parameter 'n' expects int, got str '1'"):
        as_text.build()
    assert counted.build(n=5).params == {"n": 5, "name": "a"}


def _decorate(packages: Any) -> Any:
    def fn(x: int) -> int:
        return x

    return sp.step(packages=packages)(fn)


@pytest.mark.parametrize(
    "name", ["scikit-learn>=1.3", "numpy==2.0", "numpy[extra]", " numpy", "numpy; python>'3'"]
)
def test_packages_are_refused_with_a_version_or_extras(name: str) -> None:
    """They were taken, and their version was 'not installed' for ever: upgrading the
    library never ran the step again."""
    with pytest.raises(PipelineError, match="packages must be a list of package names") as caught:
        _decorate([name])
    assert caught.value.field == "packages"
    assert repr(name) in str(caught.value) and "without a version" in str(caught.value)


@sp.step(packages=["yaml"])
def by_import_name(n: int) -> int:
    return n


@sp.step(packages=["setpoint-no-such-distribution"])
def not_installed(n: int) -> int:
    return n


@sp.step(packages=["numpy"])
def declared(n: int) -> int:
    return n


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_package_not_installed_is_refused_where_the_key_is_computed(client: Any) -> None:
    """The key held 'not installed' in place of the version: a library's upgrade was never
    seen. Declared by its import name, the error names the distribution."""

    @sp.pipeline(project="types")
    def imports() -> None:
        by_import_name(1)

    @sp.pipeline(project="types")
    def missing() -> None:
        not_installed(1)

    @sp.pipeline(project="types")
    def fine() -> None:
        declared(1)

    # decorating and building (compiling for an image that has it) are fine
    assert missing.build_shape({}).nodes[0].step.packages == ("setpoint-no-such-distribution",)
    with pytest.raises(PipelineError, match="'yaml' is the import name of distribution") as caught:
        sp.run_pipeline(imports)
    assert caught.value.field == "packages"
    assert re.search(r"distribution 'pyyaml'.*packages=\['pyyaml'\]", str(caught.value), re.I)
    with pytest.raises(
        PipelineError, match="'setpoint-no-such-distribution' is not an installed distribution"
    ):
        sp.run_pipeline(missing)
    assert sp.run_pipeline(fine).value("declared") == 1


def test_sp_model_types_a_model_output_and_input(client: Any) -> None:
    """The issue's example types a trained model `-> sp.Model` and takes it as
    `model: sp.Model`: it is stored as a model version and handed on loaded; a step
    returning something else for it, or feeding a dict to it, is refused."""

    @sp.step
    def load(rows: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"x": [float(i) for i in range(rows)], "y": [i % 2 for i in range(rows)]}
        )

    @sp.step
    def train(data: pd.DataFrame, c: float = 1.0) -> sp.Model:
        return LogisticRegression(C=c).fit(data[["x"]], data["y"])

    @sp.step
    def evaluate(model: sp.Model, data: pd.DataFrame) -> dict[str, float]:
        return {"accuracy": float((model.predict(data[["x"]]) == data["y"]).mean())}

    @sp.pipeline(project="typed")
    def retrain(rows: int = 20):
        data = load(rows)
        evaluate(train(data), data)

    result = sp.run_pipeline(retrain)
    assert [s.status for s in result.steps] == ["ran", "ran", "ran"]
    assert result.steps[1].output["kind"] == "model"
    assert 0 <= result.value("evaluate")["accuracy"] <= 1

    @sp.step(name="train")
    def not_a_model(data: pd.DataFrame) -> sp.Model:
        return {"weights": [1, 2]}  # type: ignore[return-value]

    @sp.pipeline(project="typed")
    def wrong(rows: int = 20):
        not_a_model(load(rows))

    with pytest.raises(
        PipelineError, match=r"declared to return setpoint\.Model but returned dict"
    ):
        sp.run_pipeline(wrong)

    @sp.step
    def stats(data: pd.DataFrame) -> dict:
        return {"n": len(data)}

    @sp.pipeline(project="typed")
    def mismatched(rows: int = 20):
        evaluate(stats(load(rows)), load(rows))

    with pytest.raises(
        PipelineError, match=r"parameter 'model' expects setpoint\.Model, but step 'stats'"
    ):
        sp.run_pipeline(mismatched)


def test_a_positional_only_parameter_is_refused_when_decorated() -> None:
    """`def inc(x: int, /)` was taken, and every run of it then failed with a TypeError
    (steps are called by name), with a resume that could never succeed."""

    def inc(x: int, /, y: int = 0) -> int:
        return x + y

    with pytest.raises(PipelineError, match="parameter x is positional-only") as caught:
        sp.step(inc)
    assert caught.value.field == "step"

    def pos(n: int = 1, /) -> None:
        pass

    with pytest.raises(PipelineError, match="parameter n is positional-only") as caught:
        sp.pipeline(pos)
    assert caught.value.field == "pipeline"
