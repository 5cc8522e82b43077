"""Pipelines of typed steps: checked before they run, tracked, cached by content, explained."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pytest

import setpoint as sp
from conftest import module_from_source
from setpoint.client.local import LocalClient
from setpoint.core.errors import InvalidArgumentError, PipelineError

PIPELINE = """
import numpy as np
import pandas as pd
import setpoint as sp

CALLS = []

def scale(x):
    return x * {factor}

@sp.step
def load(month: str) -> pd.DataFrame:
    CALLS.append("load")
    rng = np.random.default_rng(len(month))
    x = rng.normal(size=200)
    return pd.DataFrame({{"x": x, "y": (x > 0).astype(int)}})

@sp.step
def fit(data: pd.DataFrame, shift: float = 0.0) -> dict:
    CALLS.append("fit")
    return {{"threshold": float(scale(data["x"].median())) + shift}}

@sp.step
def score(model: dict, data: pd.DataFrame) -> np.ndarray:
    CALLS.append("score")
    return (data["x"].to_numpy() > model["threshold"]).astype(np.int64)

@sp.pipeline(project="pipes")
def retrain(month: str, shift: float = 0.0):
    data = load(month)
    model = fit(data, shift=shift)
    score(model, data)
"""


def _module(tmp_path: Path, factor: int = 2, name: str = "retrain_pipe") -> Any:
    return module_from_source(tmp_path, name, PIPELINE.format(factor=factor))


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_unchanged_steps_come_from_the_cache_and_changes_say_why(
    client: Any, tmp_path: Path
) -> None:
    m = _module(tmp_path)
    first = sp.run_pipeline(m.retrain, month="2026-11")
    assert [(s.step, s.status) for s in first.steps] == [
        ("load", "ran"),
        ("fit", "ran"),
        ("score", "ran"),
    ]
    assert m.CALLS == ["load", "fit", "score"]
    again = sp.run_pipeline(m.retrain, month="2026-11")
    assert [s.status for s in again.steps] == ["cached"] * 3 and m.CALLS == ["load", "fit", "score"]
    assert again.steps[1].cached_from == first.steps[1].run_id
    np.testing.assert_array_equal(again.value("score"), first.value("score"))
    assert isinstance(again.value("load"), pd.DataFrame)
    shifted = sp.run_pipeline(m.retrain, month="2026-11", shift=0.5)
    assert [(s.status, s.why) for s in shifted.steps] == [
        ("cached", shifted.steps[0].why),
        ("ran", ["parameter 'shift' changed"]),
        ("ran", ["input 'model' changed"]),
    ]
    # a helper the step calls is part of its code
    m2 = _module(tmp_path, factor=3, name="retrain_pipe")
    changed = sp.run_pipeline(m2.retrain, month="2026-11", shift=0.5)
    assert [(s.step, s.status) for s in changed.steps][:2] == [("load", "cached"), ("fit", "ran")]
    assert changed.steps[1].why == ["its code changed"]
    explained = sp.explain_pipeline(changed.run_id)
    assert [(e["step"], e["status"]) for e in explained] == [
        ("load", "cached"),
        ("fit", "ran"),
        ("score", "ran"),
    ]
    # each step is a run of its own, under the pipeline's run, with lineage to its data
    fit_run = client.get_run(changed.steps[1].run_id)
    assert fit_run.parent_id == changed.run_id and fit_run.tags["step"] == "fit"
    consumed = [e.target_id for e in sp.lineage(fit_run.id) if e.relation == "consumed"]
    assert consumed == ["pipes/retrain.load@1"]


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_each_step_run_names_the_steps_it_takes_outputs_from(client: Any, tmp_path: Path) -> None:
    m = _module(tmp_path, name="after_pipe")
    first = sp.run_pipeline(m.retrain, month="2026-11")
    again = sp.run_pipeline(m.retrain, month="2026-11")
    assert [s.status for s in again.steps] == ["cached"] * 3
    for result in (first, again):  # cached steps are tagged the same way
        after = {s.step: orjson.loads(client.get_run(s.run_id).tags["after"]) for s in result.steps}
        # score(model, data): its inputs, in the order it takes them
        assert after == {"load": [], "fit": ["load"], "score": ["fit", "load"]}


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_cached_output_that_is_gone_is_made_again(
    client: Any, local: LocalClient, tmp_path: Path
) -> None:
    m = _module(tmp_path)
    first = sp.run_pipeline(m.retrain, month="2026-11")
    local.blobs.delete(first.steps[1].output["digest"])
    again = sp.run_pipeline(m.retrain, month="2026-11")
    assert again.steps[1].status == "ran"
    assert again.steps[1].why == ["an earlier execution had the same key, but its outputs are gone"]
    assert again.steps[2].status == "cached"  # same input content: same key


def test_pipelines_are_checked_before_anything_runs() -> None:
    with pytest.raises(PipelineError, match="parameter 'x' has no type hint"):

        @sp.step
        def untyped(x) -> int:  # type: ignore[no-untyped-def]
            return 1

    with pytest.raises(PipelineError, match="has no return type"):

        @sp.step
        def no_return(x: int):  # type: ignore[no-untyped-def]
            return x

    @sp.step
    def numbers() -> dict:
        return {}

    @sp.step
    def table(data: pd.DataFrame) -> int:
        return len(data)

    @sp.pipeline
    def wrong():
        table(numbers())

    with pytest.raises(
        PipelineError, match=r"expects pandas\.DataFrame, but step 'numbers' returns dict"
    ):
        wrong.build()

    @sp.pipeline
    def empty(month: str) -> None:
        pass

    with pytest.raises(PipelineError, match="calls no steps"):
        empty.build(month="x")
    with pytest.raises(PipelineError, match="unexpected keyword"):
        wrong.build(bogus=1)
    assert table(pd.DataFrame({"a": [1, 2]})) == 2  # outside a pipeline, a plain call


class _Forest:
    def predict(self, x: Any) -> Any:
        return x


def test_an_output_that_cannot_fit_its_parameter_is_refused_before_anything_runs() -> None:
    """Judged by the classes the output's type names (a union's members, a generic's
    origin); a whole number for a float, ``Any`` and an optional for its member are taken."""

    @sp.step
    def ids() -> list[int]:
        return [1]

    @sp.step
    def maybe() -> typing.Optional[int]:  # noqa: UP045 (written as users write it)
        return 1

    @sp.step
    def scores() -> dict[str, float]:
        return {}

    @sp.step
    def frame_or_none() -> pd.DataFrame | None:
        return None

    @sp.step
    def count() -> int:
        return 3

    @sp.step
    def anything() -> typing.Any:
        return 3

    @sp.step
    def frame() -> pl.DataFrame:
        return pl.DataFrame({"y": [0, 1]})

    @sp.step
    def table(d: pd.DataFrame) -> int:
        return len(d)

    @sp.step
    def shout(s: str) -> str:
        return s.upper()

    @sp.step
    def first(x: list[int]) -> int:
        return x[0]

    @sp.step
    def double(x: int) -> int:
        return 2 * x

    @sp.step
    def half(x: float) -> float:
        return x / 2

    @sp.step
    def or_zero(x: int | None) -> int:
        return x or 0

    refused = [
        (table, ids, "expects pandas.DataFrame, but step 'ids' returns list[int]"),
        (shout, frame, "expects str, but step 'frame' returns polars.DataFrame"),
        (shout, maybe, "expects str, but step 'maybe' returns int | None"),
        (first, scores, "expects list[int], but step 'scores' returns dict[str, float]"),
        (
            double,
            frame_or_none,
            "expects int, but step 'frame_or_none' returns pandas.DataFrame | None",
        ),
    ]
    for consumer, producer, message in refused:

        @sp.pipeline
        def wrong() -> None:
            consumer(producer())  # noqa: B023 (built here, at once)

        with pytest.raises(PipelineError, match=re.escape(message)):
            wrong.build()

    @sp.step
    def scores_as_mapping() -> typing.Mapping[str, float]:
        return {}

    @sp.step
    def summed(x: dict[str, float]) -> float:
        return sum(x.values())

    @sp.step
    def fitted() -> sp.Model:
        return _Forest()

    @sp.step
    def forest_size(f: _Forest | None) -> int:
        return 1

    taken = [
        (half, count),
        (double, anything),
        (double, maybe),
        (or_zero, count),
        (summed, scores_as_mapping),  # declared as a Mapping, it may be a dict
        (forest_size, fitted),  # declared a model, it may be that kind of model
    ]
    for consumer, producer in taken:

        @sp.pipeline
        def fine() -> None:
            consumer(producer())  # noqa: B023

        assert [n.name for n in fine.build().nodes] == [producer.name, consumer.name]

    @sp.pipeline
    def standard() -> None:  # the standard steps take a table of any library
        data = frame()
        sp.steps.validate(data, "suite.yaml")
        sp.steps.register_and_promote(fitted(), "m", data=data, target="y")

    assert len(standard.build().nodes) == 4


def test_an_output_kept_from_another_build_is_refused() -> None:
    kept: list[Any] = []

    @sp.step
    def a(x: int) -> int:
        return x

    @sp.pipeline
    def earlier() -> None:
        kept.append(a(1))

    earlier.build()

    @sp.pipeline
    def later() -> None:
        a(kept[0])

    with pytest.raises(PipelineError, match="output of step 'a' of another pipeline build"):
        later.build()


def test_step_and_pipeline_options_and_function_kinds_are_checked() -> None:
    """Options of the wrong type used to pass: `packages="numpy"` keyed the cache on the
    letters n, u, m..., `cache="no"` was truthy, `cache_expiration=10**400` overflowed at
    run time; an async or generator step returned an object nobody ran."""

    def fn(x: int) -> int:
        return x

    bad_options: list[tuple[dict[str, Any], str]] = [
        ({"packages": "numpy"}, "packages must be a list of package names"),
        ({"packages": [1]}, "packages must be a list of package names"),
        ({"packages": None}, "packages must be a list of package names"),
        ({"packages": [""]}, "packages must be a list of package names"),
        ({"cache": "no"}, "cache must be True or False"),
        ({"pickle": 1}, "pickle must be True or False"),
        ({"cache_expiration": 10**400}, "cache_expiration must be a positive duration"),
        ({"cache_expiration": float("nan")}, "cache_expiration must be a positive duration"),
        ({"cache_expiration": float("inf")}, "cache_expiration must be a positive duration"),
        ({"cache_expiration": "36600000d"}, "at most 100 years"),
    ]
    for options, message in bad_options:
        with pytest.raises(PipelineError, match=message):
            sp.step(**options)(fn)
    assert sp.step(packages=["numpy"], cache_expiration=3600.5)(fn).packages == ("numpy",)
    with pytest.raises(PipelineError, match="@step decorates a function"):
        sp.step(5)  # type: ignore[call-overload]
    with pytest.raises(PipelineError, match="@pipeline decorates a function"):
        sp.pipeline("fraud")
    with pytest.raises(InvalidArgumentError, match="project"):
        sp.pipeline(project="no spaces")(fn)

    async def fetch(x: int) -> int:
        return x

    def rows(n: int) -> list:
        yield from range(n)

    def star(*xs: int) -> int:
        return sum(xs)

    def stars(**kw: int) -> int:
        return len(kw)

    for f, message in [
        (fetch, "is async"),
        (rows, "is a generator"),
        (star, r"parameter \*xs cannot be given"),
        (stars, r"parameter \*\*kw cannot be given"),
    ]:
        with pytest.raises(PipelineError, match=message):
            sp.step(f)
    with pytest.raises(PipelineError, match=r"parameter \*\*kw cannot be given"):
        sp.pipeline(stars)


def test_a_step_called_twice_never_takes_another_steps_name() -> None:
    @sp.step(name="one.2")
    def literal() -> int:
        return 0

    @sp.step
    def one(x: int) -> int:
        return x

    @sp.pipeline
    def twice():
        literal()
        one(1)
        one(2)

    names = [n.name for n in twice.build().nodes]
    assert names[:2] == ["one.2", "one"] and len(set(names)) == 3


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_outputs_need_a_way_to_be_stored_and_failures_are_retried(client: Any) -> None:
    class Thing:
        pass

    @sp.step
    def make() -> object:
        return Thing()

    @sp.pipeline(project="pipes")
    def odd():
        make()

    with pytest.raises(PipelineError, match="returned a Thing, which setpoint cannot store"):
        sp.run_pipeline(odd)

    # text with a lone surrogate failed with a bare TypeError ("str is not valid UTF-8")
    @sp.step
    def garbled() -> str:
        return b"caf\xe9".decode("utf-8", "surrogateescape")

    @sp.step
    def garbled_inside() -> dict:
        return {"name": b"caf\xe9".decode("utf-8", "surrogateescape")}

    @sp.pipeline(project="pipes")
    def texts(which: int):
        (garbled_inside if which else garbled)()

    with pytest.raises(PipelineError, match="returned text that is not valid Unicode"):
        sp.run_pipeline(texts, which=0)
    with pytest.raises(PipelineError, match=r"its value at \['name'\] \('caf\\udce9'\)"):
        sp.run_pipeline(texts, which=1)

    @sp.step(pickle=True)
    def make_pickled() -> object:
        return Thing()

    @sp.pipeline(project="pipes")
    def opted():
        make_pickled()

    assert isinstance(sp.run_pipeline(opted).value("make_pickled"), Thing)

    attempts: list[int] = []

    @sp.step(retries=2)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 2:
            raise RuntimeError("transient")
        return 7

    @sp.pipeline(project="pipes")
    def shaky():
        flaky()

    result = sp.run_pipeline(shaky)
    assert result.value("flaky") == 7 and len(attempts) == 2
    with pytest.raises(PipelineError, match="literal parameters must be JSON"):

        @sp.step
        def takes(x: object) -> int:
            return 1

        @sp.pipeline(project="pipes")
        def literal():
            takes(object())

        sp.run_pipeline(literal)


def test_cli_says_what_is_wrong_with_a_pipeline_file(
    home: Path, tmp_path: Path, capsys: Any
) -> None:
    from setpoint.cli.main import main

    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "broken_syntax.py").write_text("def (:\n")
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "pandas.py").write_text("import setpoint as sp\n")
    import pandas  # noqa: F401 - in use, as it is in any setpoint process

    for target, phrase in (
        (f"{tmp_path / 'data.csv'}:p", "not a Python file"),
        (f"{tmp_path / 'broken_syntax.py'}:p", "SyntaxError"),
        (f"{tmp_path / 'raises_on_import.py'}:p", "RuntimeError: boom"),
        (f"{tmp_path / 'pandas.py'}:p", "rename the file"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["pipeline", "run", target])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and phrase in err and "unexpected" not in err, err


def test_cli_runs_and_explains(home: Path, tmp_path: Path, capsys: Any) -> None:
    from setpoint.cli.main import main

    path = tmp_path / "cli_pipe.py"
    path.write_text(textwrap.dedent(PIPELINE.format(factor=2)))
    target = f"{path}:retrain"
    import json

    for expected in ("ran", "cached"):
        main(
            [
                "pipeline",
                "run",
                target,
                "--param",
                "month=2026-11",
                "--param",
                "shift=0.25",
                "--json",
            ]
        )
        out = json.loads(capsys.readouterr().out)
        assert [s["status"] for s in out["steps"]] == [expected] * 3
    main(["pipeline", "explain", out["run_id"]])
    assert capsys.readouterr().out.count("cached") >= 3
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "run", target, "--param", "shift=x"])
    assert exit_.value.code == 2 and "is not a float" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pipeline", "run", f"{path}:nope"])
    assert "no @sp.pipeline named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_sweep_runs_each_combination_and_shares_what_it_can(client: Any, tmp_path: Path) -> None:
    m = _module(tmp_path, name="sweep_pipe")
    df = sp.sweep(m.retrain, {"shift": [0.0, 0.5, 1.0]}, month="2026-11")
    assert list(df["shift"]) == [0.0, 0.5, 1.0]
    assert df["fit.threshold"].diff().dropna().round(6).tolist() == [0.5, 0.5]
    assert m.CALLS.count("load") == 1  # the data step does not depend on shift: cached
    runs = client.search_runs(["pipes"], "tags.kind = 'pipeline'", None, 100).runs
    assert {r.parent_id for r in runs} == {df.attrs["sweep_run_id"]}
    sampled = sp.sweep(m.retrain, {"shift": [0.0, 0.5, 1.0]}, samples=2, month="2026-11")
    assert len(sampled) == 2 and set(sampled["shift"]) <= {0.0, 0.5, 1.0}
    twice = sp.sweep(m.retrain, {"shift": [0.5, 0.0, 0.5]}, month="2026-11")
    assert list(twice["shift"]) == [0.5, 0.0]  # a value given twice is run once
    with pytest.raises(PipelineError, match="has no parameter 'depth'"):
        sp.sweep(m.retrain, {"depth": [1]}, month="2026-11")
    sweeps = len(client.search_runs(["pipes"], "tags.kind = 'sweep'", None, 100).runs)
    for grid, fixed, words in (
        ({"shift": [0.0, 1.0]}, {}, "month"),  # a required parameter missing
        ({"shift": [float("nan"), 1.0]}, {"month": "m"}, "shift"),
        ({"shift": [1.0]}, {"month": "m", "shift": 2.0}, "both swept and held"),
        ({"shift": 5}, {"month": "m"}, "list of values"),
    ):
        with pytest.raises(PipelineError, match=words):
            sp.sweep(m.retrain, grid, **fixed)
    with pytest.raises(PipelineError, match="samples must be a whole number"):
        sp.sweep(m.retrain, {"shift": [1.0]}, samples="2", month="m")  # type: ignore[arg-type]
    # refused before the sweep run starts: no failed sweep runs left behind
    assert len(client.search_runs(["pipes"], "tags.kind = 'sweep'", None, 100).runs) == sweeps


def test_cli_sweeps(home: Path, tmp_path: Path, capsys: Any) -> None:
    import json

    from setpoint.cli.main import main

    path = tmp_path / "cli_sweep.py"
    path.write_text(textwrap.dedent(PIPELINE.format(factor=2)))
    main(
        [
            "pipeline",
            "sweep",
            f"{path}:retrain",
            "--grid",
            "shift=0,1",
            "--param",
            "month=m",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["shift"] for r in out["runs"]] == [0.0, 1.0] and "fit.threshold" in out["runs"][0]
    # values equal once converted are one run each: 1, 1.0 and 01 are the same float
    main(
        [
            "pipeline",
            "sweep",
            f"{path}:retrain",
            "--grid",
            "shift=1,0,1.0,01",
            "--param",
            "month=m",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["shift"] for r in out["runs"]] == [1.0, 0.0]
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "sweep", f"{path}:retrain", "--grid", "shift=a", "--param", "month=m"])
    assert exit_.value.code == 2 and "--grid" in capsys.readouterr().err


def test_cli_parameters_are_typed_and_given_once(home: Path, tmp_path: Path, capsys: Any) -> None:
    import json

    from setpoint.cli.main import main

    path = tmp_path / "cli_params.py"
    path.write_text(textwrap.dedent(PIPELINE.format(factor=2)))
    target = f"{path}:retrain"

    def refused(*args: str) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(["pipeline", *args])
        assert exit_.value.code == 2
        return capsys.readouterr().err

    main(["pipeline", "run", target, "--param", "month=m", "--param", "shift=1", "--json"])
    assert {s["status"] for s in json.loads(capsys.readouterr().out)["steps"]} == {"ran"}
    # a whole number in JSON is the float parameter's 1.0: the same cache keys
    main(["pipeline", "run", target, "--params-json", '{"month": "m", "shift": 1}', "--json"])
    assert {s["status"] for s in json.loads(capsys.readouterr().out)["steps"]} == {"cached"}

    assert 'shift="1" is not a float' in refused("run", target, "--params-json", '{"shift": "1"}')
    assert "month=3 is not a str" in refused("run", target, "--params-json", '{"month": 3}')
    assert "has no parameter 'depth'" in refused("run", target, "--params-json", '{"depth": 3}')
    err = refused("run", target, "--param", "shift=1", "--param", "shift=2")
    assert "shift is given twice" in err
    err = refused("run", target, "--param", "shift=1", "--params-json", '{"shift": 2}')
    assert "shift is given twice" in err
    sweep = ["sweep", target, "--param", "month=m"]
    assert "shift is given twice" in refused(*sweep, "--grid", "shift=0,1", "--grid", "shift=2")
    err = refused(*sweep, "--grid", "shift=0,1", "--param", "shift=2")
    assert "shift is both swept and fixed" in err
    # a parameter without a default, not given: a usage error too (it exited 1)
    err = refused("run", target, "--param", "shift=1")
    assert "pipeline 'retrain' has no default for month: give --param month=VALUE" in err
    assert "has no default for month" in refused("sweep", target, "--grid", "shift=0,1")


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_run_again_after_it_failed_says_so(client: Any, tmp_path: Path) -> None:
    """It said "nothing in its key changed" (the failed execution's key was the same)."""
    flag = tmp_path / "broken"
    flag.write_text("yes")

    @sp.step
    def flaky(n: int) -> dict:
        if flag.exists():
            raise RuntimeError("not yet")
        return {"n": n}

    @sp.pipeline(project="again")
    def flow(n: int = 1):
        flaky(n)

    with pytest.raises(RuntimeError, match="not yet"):
        sp.run_pipeline(flow)
    flag.unlink()
    result = sp.run_pipeline(flow)
    assert result.steps[0].why == [
        "the last execution with this key did not finish (it failed or stopped)"
    ]


def test_an_object_of_a_notebook_class_is_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A class defined in a notebook (``__main__`` without a file) made the key fail with
    OSError ("source code not available") when a step read an instance of it."""
    import types

    from setpoint.pipelines.code_key import code_hash

    notebook = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    exec("class Cfg:\n    k = 1\n", notebook.__dict__)
    cfg = notebook.Cfg()

    def step() -> int:
        return int(cfg.k)

    assert code_hash(step) == code_hash(step)


def test_a_whole_number_beyond_64_bits_is_refused_not_rounded(
    home: Path, tmp_path: Path, capsys: Any
) -> None:
    """``--param o=99999999999999999999999`` on an ``int | None`` parameter ran with 1e+23."""
    from setpoint.cli.main import main

    path = tmp_path / "big_param.py"
    path.write_text(
        textwrap.dedent(
            """
            import setpoint as sp

            @sp.step
            def echo(o: int | None) -> dict:
                return {"o": o}

            @sp.pipeline(project="big")
            def p(o: int | None = None):
                echo(o)
            """
        )
    )
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "run", f"{path}:p", "--param", "o=99999999999999999999999"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "parameter 'o' is 99999999999999999999999" in err
    assert "fit in 64 bits" in err
    main(["pipeline", "run", f"{path}:p", "--param", "o=12", "--json"])
    assert '"ran"' in capsys.readouterr().out
    # an int | None parameter took 1.5 (its type went unchecked)
    for args in (["--params-json", '{"o": 1.5}'], ["--param", "o=1.5"], ["--param", 'o="x"']):
        with pytest.raises(SystemExit) as exit_:
            main(["pipeline", "run", f"{path}:p", *args])
        assert exit_.value.code == 2 and "is not an int" in capsys.readouterr().err
    main(["pipeline", "run", f"{path}:p", "--params-json", '{"o": null}', "--json"])
    assert '"ran"' in capsys.readouterr().out


STANDARD = """
import pandas as pd
import setpoint as sp
from sklearn.linear_model import LogisticRegression

@sp.step
def train(data: pd.DataFrame, c: float = 1.0) -> object:
    return LogisticRegression(C=c).fit(data[["amount"]], data["fraud"])

@sp.pipeline(project="std")
def retrain(source: str, suite: str, c: float = 1.0):
    data = sp.steps.ingest(source, "transactions")
    sp.steps.validate(data, suite)
    model = train(data, c=c)
    sp.steps.evaluate(model, data, "fraud")
    sp.steps.register_and_promote(model, "fraud-detector", "champion", data=data, target="fraud")
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_standard_steps_make_a_retraining_pipeline(client: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"amount": rng.normal(size=300)})
    df["fraud"] = (df.amount + rng.normal(scale=0.3, size=300) > 0).astype(int)
    csv = tmp_path / "tx.csv"
    df.to_csv(csv, index=False)
    suite = tmp_path / "checks.yaml"
    suite.write_text(sp.infer_suite(sp.log_dataset(df, name="ref", project="std"), reference=False))
    path = tmp_path / "std_pipe.py"
    path.write_text(textwrap.dedent(STANDARD))
    spec = importlib.util.spec_from_file_location("std_pipe", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first = sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite))
    outcome = first.value("register_and_promote")
    assert outcome["promoted"] and outcome["version"] == "std/fraud-detector/1"
    assert first.value("evaluate")["accuracy"] > 0.8
    assert sp.get_model_version("std/fraud-detector@champion").version == 1
    # what the gates judge is recorded by the pipeline itself: an accuracy floor, a
    # comparison with the holder on the same data and validated training data pass (they
    # failed "the version has no evaluation" and "no training dataset version is recorded")
    gates = [
        {"metric": "accuracy", "min": 0.8},
        {"compare": "accuracy", "max_regression": 0.05},
        {"data_validation": "passed"},
    ]
    sp.set_policy("fraud-detector", "champion", {"gates": gates}, project="std")
    judged = sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite), c=0.9)
    outcome = judged.value("register_and_promote")
    assert outcome["promoted"] and all(g["passed"] for g in outcome["gates"])
    assert len(outcome["gates"]) == 3
    assert sp.get_model_version("std/fraud-detector@champion").version == 2
    card = sp.model_card("std/fraud-detector/2", format="dict")
    assert [d["ref"] for d in card["datasets"]] == ["std/retrain.ingest@1"]
    # a gate the new version fails refuses it: the holder scored on the same data
    strict = [{"compare": "accuracy", "min_improvement": 0.5}]
    sp.set_policy("fraud-detector", "champion", {"gates": strict}, project="std")
    refused = sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite), c=0.8)
    said = refused.value("register_and_promote")
    assert (said["alias"], said["promoted"]) == ("champion", False)
    assert [(g["rule"], g["passed"]) for g in said["gates"]] == [
        ("accuracy vs current holder: improves by >= 0.5 (higher is better)", False)
    ]
    assert said["gates"][0]["observed"] is not None  # the verdict's numbers, not only its rule
    # gates apply: a policy nobody can pass refuses the next version, and says so
    sp.set_policy("fraud-detector", "champion", {"gates": [{"approvals": 1}]}, project="std")
    second = sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite), c=0.5)
    outcome = second.value("register_and_promote")
    assert not outcome["promoted"]
    assert [(g["rule"], g["passed"]) for g in outcome["gates"]] == [("1 approval(s)", False)]
    # the file and the suite are read again (a path's content can change); the same data
    # keeps the steps after them cached
    assert [s.status for s in second.steps][:3] == ["ran", "ran", "ran"]  # c changed: train
    third = sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite), c=0.5)
    assert [s.status for s in third.steps][:4] == ["ran", "ran", "cached", "cached"]
    # the same trained model: the version the run before registered, judged again
    again = third.value("register_and_promote")
    assert (again["version"], again["registered"]) == (outcome["version"], False)
    assert not again["promoted"] and sp.get_model_version("std/fraud-detector").version == 4
    evaluations = sp.client().list_evaluations("fraud-detector", 4, "std")
    assert len(evaluations) == 1  # not evaluated again on the same data
    # bad data stops the pipeline at validation
    df.loc[0, "amount"] = None
    df.to_csv(csv, index=False)
    with pytest.raises(PipelineError, match="the data failed validation"):
        sp.run_pipeline(module.retrain, source=str(csv), suite=str(suite))
    # an alias that cannot be one is refused before a version is registered
    latest = sp.get_model_version("std/fraud-detector").version
    with pytest.raises(InvalidArgumentError, match="alias"):
        sp.steps.register_and_promote(object(), "fraud-detector", "bad alias")
    assert sp.get_model_version("std/fraud-detector").version == latest


FLAKY = """
import os
import setpoint as sp

@sp.step
def first(n: int) -> dict:
    with open(os.environ["STEP_LOG"], "a") as fh:
        fh.write("first\\n")
    return {"n": n}

@sp.step
def second(data: dict) -> dict:
    with open(os.environ["STEP_LOG"], "a") as fh:
        fh.write("second\\n")
    if os.path.exists(os.environ["BREAK"]):
        raise RuntimeError("broken")
    return {"n": data["n"] + 1}

@sp.pipeline(project="resume")
def flaky(n: int = 1):
    second(first(n))
"""


def test_cli_resumes_a_failed_run_from_the_failed_step(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from setpoint.cli.main import main
    from setpoint.client import sdk

    path = tmp_path / "flaky_pipe.py"
    path.write_text(textwrap.dedent(FLAKY))
    log, broken = tmp_path / "log.txt", tmp_path / "broken"
    monkeypatch.setenv("STEP_LOG", str(log))
    monkeypatch.setenv("BREAK", str(broken))
    broken.write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "run", f"{path}:flaky", "--param", "n=5"])
    failed = sdk.search_runs(project="resume", filter="tags.kind = 'pipeline'")
    run_id = failed["run_id"].iloc[0]
    err = capsys.readouterr().err
    # the step's error in a line, then where to resume: no "unexpected" (a setpoint bug)
    assert exit_.value.code == 1 and "broken" in err and "unexpected" not in err
    assert f"step 'second' of pipeline run {run_id} failed" in err
    assert f"setpoint pipeline resume {run_id}" in err
    # its file moved away: the run's target is said, not an argument resume does not take
    path.rename(tmp_path / "moved.py")
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "resume", run_id])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "TARGET" not in err
    assert f"pipeline run {run_id} ran {path}:flaky, which cannot be loaded now" in err
    (tmp_path / "moved.py").rename(path)
    broken.unlink()
    main(["pipeline", "resume", run_id[:12], "--json"])  # a prefix, as `runs list` shows
    out = json.loads(capsys.readouterr().out)
    assert [(s["step"], s["status"]) for s in out["steps"]] == [
        ("first", "cached"),
        ("second", "ran"),
    ]
    assert log.read_text().split() == ["first", "second", "second"]
    with pytest.raises(SystemExit):
        main(["pipeline", "resume", out["steps"][0]["run_id"]])
    assert "not a pipeline run" in capsys.readouterr().err
    # the failed run, once a resume of it succeeded, is not resumed again (a model would be
    # registered twice)
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "resume", run_id])
    err = capsys.readouterr().err
    assert exit_.value.code == 1
    assert f"was resumed by run {out['run_id']}, which succeeded" in err
    assert log.read_text().split() == ["first", "second", "second"]


HELPER = """
SCALE = {scale}

def featurize(x):
    return x * {factor}
"""

USES_HELPER = """
import setpoint as sp
import helper_mod
from helper_mod import featurize

@sp.step
def compute(n: int) -> dict:
    return {{"v": featurize(n) + helper_mod.SCALE}}

@sp.pipeline(project="helpers")
def calc(n: int = 2):
    compute(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_helpers_and_constants_in_other_user_modules_are_part_of_the_key(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(scale: int, factor: int) -> Any:
        (tmp_path / "helper_mod.py").write_text(HELPER.format(scale=scale, factor=factor))
        (tmp_path / "uses_helper.py").write_text(USES_HELPER.format())
        for name in ("helper_mod", "uses_helper"):
            sys.modules.pop(name, None)
        import uses_helper  # type: ignore[import-not-found]

        return uses_helper

    m = load(1, 2)
    assert sp.run_pipeline(m.calc).value("compute") == {"v": 5}
    m = load(1, 2)
    assert sp.run_pipeline(m.calc).steps[0].status == "cached"
    m = load(1, 3)  # the helper in another module changed
    result = sp.run_pipeline(m.calc)
    assert (result.steps[0].status, result.steps[0].why) == ("ran", ["its code changed"])
    assert result.value("compute") == {"v": 7}
    m = load(10, 3)  # a constant of a module the step reads changed
    assert sp.run_pipeline(m.calc).value("compute") == {"v": 16}


DEEP_UTIL = """
def norm(x):
    return x + {norm_add}
"""

DEEP_HELPERS = """
import functools
import deep_util

CFG = {{"th": {th}}}

class Scaler:
    def apply(self, x):
        return x * {scale}

@functools.lru_cache(maxsize=None)
def cached_offset():
    return {offset}

def featurize(x, *, extra={extra}):
    return deep_util.norm(x) + extra
"""

DEEP_PIPE = """
import setpoint as sp
from deep_helpers import CFG, Scaler, cached_offset, featurize

LOG = []

@sp.step
def compute(n: int) -> dict:
    LOG.append(n)
    return {{"v": Scaler().apply(featurize(n)) + cached_offset() + CFG["th"]}}

@sp.pipeline(project="deep")
def calc(n: int = 1):
    compute(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_no_change_in_reachable_user_code_goes_unseen(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    base = {"norm_add": 1, "th": 1, "scale": 1, "offset": 0, "extra": 0}

    def run(**changes: int) -> Any:
        v = {**base, **changes}
        (tmp_path / "deep_util.py").write_text(DEEP_UTIL.format(**v))
        (tmp_path / "deep_helpers.py").write_text(DEEP_HELPERS.format(**v))
        (tmp_path / "deep_pipe.py").write_text(DEEP_PIPE.format())
        for name in ("deep_util", "deep_helpers", "deep_pipe"):
            sys.modules.pop(name, None)
        import deep_pipe  # type: ignore[import-not-found]

        return sp.run_pipeline(deep_pipe.calc)

    first = run()
    assert first.value("compute") == {"v": 3}
    assert run().steps[0].status == "cached"  # nothing changed (the step's LOG grew: state)
    for change, expected in [
        ({"norm_add": 2}, 4),  # two modules away
        ({"th": 5}, 7),  # a dict constant
        ({"scale": 2}, 5),  # a method of a class
        ({"offset": 3}, 6),  # behind functools.lru_cache
        ({"extra": 4}, 7),  # a keyword-only default
    ]:
        result = run(**change)
        assert (result.steps[0].status, result.value("compute")) == ("ran", {"v": expected}), change


WIDE_UTIL = """
def scale(x):
    return x * {scale}
"""

WIDE_SUB = """
def f(x):
    return x * {sub}
"""

WIDE_HELPERS = """
import functools
from dataclasses import dataclass

import wide_util


def compute(x):
    return wide_util.scale(x)


class Base:
    def k(self):
        return {base_k}


class Child(Base):
    pass


class Cfg:
    DEPTH = {depth}

    @property
    def prop(self):
        return {prop}


def helper({params}):
    return {body}


@dataclass
class Conf:
    k: int


CONF = Conf(k={conf_k})
scaled = functools.partial(helper, b={partial_b})


def _total(xs):
    return sum(xs)


def agg(xs, f=_total):
    return f(xs)
"""

WIDE_PIPE = """
import setpoint as sp
import wide_helpers as H
import wide_pkg.sub
from wide_helpers import CONF, Cfg, Child, agg, helper, scaled


@sp.step
def compute(n: int) -> dict:
    v = H.compute(n) + Child().k() + Cfg.DEPTH + Cfg().prop + CONF.k + scaled(a=n)
    return {{"v": v + agg([n, 1]) + helper(a=n, b=1) + wide_pkg.sub.f(n)}}


@sp.pipeline(project="wide")
def calc(n: int = 2):
    compute(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_code_reached_through_modules_classes_and_objects_is_part_of_the_key(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of these changed what the step returns and still came from the cache: a module
    two calls away through ``module.f``, a submodule, a base class, a class attribute, a
    property, a dataclass instance, a partial's argument, a swap of parameter names. A
    function as a default made the key differ in every process (never cached)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "wide_pkg").mkdir()
    (tmp_path / "wide_pkg" / "__init__.py").write_text("")
    base = {
        "scale": 1,
        "sub": 1,
        "base_k": 0,
        "depth": 0,
        "prop": 0,
        "conf_k": 0,
        "partial_b": 0,
        "params": "a, b",
        "body": "a - b",
    }

    def expected(n: int, v: dict[str, Any]) -> int:
        sign = 1 if v["params"] == "a, b" else -1  # helper(a, b) is a - b, or b - a
        fixed = v["base_k"] + v["depth"] + v["prop"] + v["conf_k"]
        partial = sign * (n - v["partial_b"])
        return n * v["scale"] + fixed + partial + (n + 1) + sign * (n - 1) + n * v["sub"]

    def run(**changes: Any) -> Any:
        v = {**base, **changes}
        (tmp_path / "wide_util.py").write_text(WIDE_UTIL.format(**v))
        (tmp_path / "wide_pkg" / "sub.py").write_text(WIDE_SUB.format(**v))
        (tmp_path / "wide_helpers.py").write_text(WIDE_HELPERS.format(**v))
        (tmp_path / "wide_pipe.py").write_text(WIDE_PIPE.format())
        for name in ("wide_util", "wide_pkg", "wide_pkg.sub", "wide_helpers", "wide_pipe"):
            sys.modules.pop(name, None)
        import wide_pipe  # type: ignore[import-not-found]

        return sp.run_pipeline(wide_pipe.calc), expected(2, v)

    first, value = run()
    assert first.value("compute") == {"v": value}
    again, _ = run()
    assert again.steps[0].status == "cached", again.steps[0].why
    for change in [
        {"scale": 2},  # helpers.compute() -> wide_util.scale(), in another file
        {"sub": 3},  # wide_pkg.sub.f(), through the package
        {"base_k": 4},  # a base class's method
        {"depth": 5},  # a class attribute
        {"prop": 6},  # a property
        {"conf_k": 7},  # a dataclass instance a module assigns
        {"partial_b": 8},  # a functools.partial's argument
        # the same bytecode: only the parameters' names say which is subtracted
        {"params": "b, a", "body": "b - a"},
    ]:
        result, value = run(**change)
        assert (result.steps[0].status, result.value("compute")) == ("ran", {"v": value}), change


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_changing_its_input_in_place_changes_nothing_else(client: Any) -> None:
    """In a process, every consumer got the very object the upstream step returned: a step
    that scaled its input in place changed what the next step read (and what was cached
    for it, and the pipeline's result), unlike in separate processes."""

    @sp.step
    def load() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2, 3]})

    @sp.step
    def settings() -> dict:
        return {"k": [1]}

    @sp.step
    def featurize(df: pd.DataFrame, cfg: dict, ids: list) -> int:
        df["x"] = df["x"] * 100
        cfg["k"].append(2)
        ids.append(2)  # a literal too: another step given the same list must not see it
        return len(df)

    @sp.step
    def summarize(df: pd.DataFrame, cfg: dict, n: int, ids: list) -> dict:
        return {"sum_x": int(df["x"].sum()), "k": cfg["k"], "ids": ids}

    @sp.pipeline(project="inplace")
    def flow():
        d, c, ids = load(), settings(), [1]
        summarize(d, c, featurize(d, c, ids), ids)

    for _ in range(2):  # ran, then from the cache
        result = sp.run_pipeline(flow)
        assert result.value("summarize") == {"sum_x": 6, "k": [1], "ids": [1]}
        assert result.value("load")["x"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_cached_output_is_what_the_step_returned(client: Any) -> None:
    @sp.step
    def table() -> pl.DataFrame:
        return pl.DataFrame({"a": [1, 2]})

    @sp.step(cache=False)
    def kind(t: pl.DataFrame) -> str:
        return type(t).__module__.split(".")[0]

    @sp.pipeline(project="fidelity")
    def keeps():
        kind(table())

    assert sp.run_pipeline(keeps).value("kind") == "polars"
    again = sp.run_pipeline(keeps)
    assert again.steps[0].status == "cached" and again.value("kind") == "polars"
    for returned, message in [
        ((1, 2), "returned a tuple"),
        # beyond 64 bits: JSON would not keep it
        ({"big": 10**30}, r"returned a dict \(its value at \['big'\] \(10+\) is not JSON\)"),
        ({"x": [1, {"y": float("nan")}]}, r"its value at \['x'\]\[1\]\['y'\] \(nan\)"),
        # a dict of DataFrames said only "returned a dict"
        ({"train": pd.DataFrame({"a": [1]})}, r"\['train'\] \(a pandas.DataFrame\) is not JSON"),
        (pd.DataFrame({"a": [1]}, index=["r"]), "with an index of labels"),
        (pd.DataFrame({"a": [1]}, index=pd.Index([5], name="id")), r"reset_index\(drop=True\)"),
        (pd.DataFrame([[1, 2]], columns=[0, 1]), "the column label 0"),  # cached: "0"
        (pd.DataFrame([[1]], columns=pd.MultiIndex.from_tuples([("a", "x")])), "label"),
    ]:

        @sp.step
        def odd() -> object:
            return returned  # noqa: B023 - each pipeline runs before the next value

        @sp.pipeline(project="fidelity")
        def fails():
            odd()

        with pytest.raises(PipelineError, match=message):
            sp.run_pipeline(fails)


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_using_an_output_in_the_pipeline_body_is_refused(client: Any) -> None:
    """An output is not known while the graph is built: an f-string stored its placeholder
    ("vOutput(node=0, ...)") as a value, arithmetic was a bare TypeError."""

    @sp.step
    def one(x: int) -> int:
        return x

    @sp.step
    def echo(text: str) -> str:
        return text

    uses = [
        lambda y: echo(f"v{y}"),
        lambda y: echo(str(y)),
        lambda y: one(y + 1),
        lambda y: one(len(y)),
        lambda y: y > 2,
        lambda y: y["acc"],
        lambda y: [c for c in y],
    ]
    for use in uses:

        @sp.pipeline(project="uses")
        def body() -> None:
            use(one(1))  # noqa: B023 - each pipeline runs before the next use

        with pytest.raises(PipelineError, match="is not known while the pipeline is built"):
            sp.run_pipeline(body)
    assert "uses" not in [p.name for p in client.list_projects()]  # nothing ran


DEFAULTS = """
import setpoint as sp

CALLS = []

def double(x):
    return {factor} * x

@sp.step
def first(n: int) -> int:
    CALLS.append("first")
    return n

@sp.step
def second(x: int, f: object = double, cols: tuple = ("a", "b")) -> int:
    CALLS.append("second")
    return f(x) + len(cols)

@sp.pipeline(project="defaults")
def implicit(n: int = 3):
    second(first(n))

@sp.pipeline(project="defaults")
def explicit(n: int = 3):
    second(first(n), cols=("c",))
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_defaults_are_the_steps_code_and_bad_arguments_are_refused_before_a_step_runs(
    client: Any, tmp_path: Path
) -> None:
    """Every default became a literal parameter: a function or a tuple as a default was
    refused when its step came, after the steps before it had run; a bad argument too."""
    m = module_from_source(tmp_path, "defaults_pipe", DEFAULTS.format(factor=2))
    result = sp.run_pipeline(m.implicit)
    assert result.value("second") == 8 and m.CALLS == ["first", "second"]
    assert sp.get_run(result.steps[1].run_id).params == {}  # the defaults are its code
    # ... and part of its key: a function given as a default is followed into its code
    m = module_from_source(tmp_path, "defaults_pipe", DEFAULTS.format(factor=3))
    changed = sp.run_pipeline(m.implicit)
    assert [(s.status, s.why) for s in changed.steps] == [
        ("cached", changed.steps[0].why),
        ("ran", ["its code changed"]),
    ]
    assert changed.value("second") == 11
    with pytest.raises(PipelineError, match="step 'second' parameter 'cols' is a tuple"):
        sp.run_pipeline(m.explicit)
    assert m.CALLS == ["second"]  # the first step did not run
    assert len(sp.search_runs(project="defaults", filter="tags.kind = 'pipeline'")) == 2


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_long_literal_is_logged_shortened_and_keyed_whole(client: Any) -> None:
    """A literal's param is at most 6,000 characters: a list of 2,000 ids failed its step
    (after the steps before it ran), with a resume hint that could not work."""

    @sp.step
    def count(ids: list) -> int:
        return len(ids)

    @sp.pipeline(project="long")
    def many(n: int = 2000):
        count(list(range(n)))

    result = sp.run_pipeline(many)
    assert result.value("count") == 2000
    run = sp.get_run(result.steps[0].run_id)
    param, hashed = run.params["ids"], orjson.loads(run.tags["cache_parts"])["params"]["ids"]
    assert len(param) <= 6000 and param.startswith("[0,1,2,3,")
    assert param.endswith(f"characters, hash {hashed})")
    assert [s.status for s in sp.run_pipeline(many).steps] == ["cached"]
    longer = sp.run_pipeline(many, n=2001)  # the same start: the whole value is the key
    assert [(s.status, s.why) for s in longer.steps] == [("ran", ["parameter 'ids' changed"])]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_return_type_no_materializer_stores_is_refused_before_anything_runs(
    client: Any,
) -> None:
    """A step declared `-> set` was found out only once it had run, the steps before it too."""
    calls: list[int] = []

    @sp.step
    def first(n: int) -> int:
        calls.append(n)
        return n

    @sp.step
    def as_set(x: int) -> set:
        return {x}

    @sp.step
    def pair(x: int) -> tuple[int, int]:
        return (x, x)

    @sp.step
    def column(x: int) -> pd.Series:
        return pd.Series([x])

    for bad, shown in ((as_set, "set"), (pair, "tuple"), (column, "Series")):

        @sp.pipeline(project="returns")
        def unstorable() -> None:
            bad(first(1))  # noqa: B023 - each pipeline runs before the next step

        with pytest.raises(PipelineError, match=f"step '{bad.name}' returns {shown}, which"):
            sp.run_pipeline(unstorable)
    assert calls == [] and "returns" not in [p.name for p in client.list_projects()]

    @sp.step(pickle=True)
    def pickled(x: int) -> set:
        return {x}

    @sp.pipeline(project="returns")
    def opted() -> None:
        pickled(first(1))

    assert sp.run_pipeline(opted).value("pickled") == {1}


FAIR = """
import pandas as pd
import setpoint as sp
from sklearn.linear_model import LogisticRegression

@sp.step
def train(data: pd.DataFrame) -> object:
    return LogisticRegression().fit(data[["amount", "group"]], data["fraud"])

@sp.pipeline(project="fair")
def retrain(source: str, slices: list = []):
    data = sp.steps.ingest(source, "tx")
    model = train(data)
    sp.steps.register_and_promote(
        model, "clf", "champion", data=data, target="fraud", slices=slices
    )
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_version_registered_again_is_evaluated_on_the_slices_now_asked_for(
    client: Any, tmp_path: Path
) -> None:
    """The model is the same (its training step cached), so is its version; the slices a
    fairness gate needs were not in its evaluation, which the gate then read."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"amount": rng.normal(size=300), "group": rng.integers(0, 2, 300)})
    df["fraud"] = (df.amount + rng.normal(scale=0.3, size=300) > 0).astype(int)
    csv = tmp_path / "tx.csv"
    df.to_csv(csv, index=False)
    m = module_from_source(tmp_path, "fair_pipe", FAIR)
    client.create_model("clf", "fair")
    strict = {"gates": [{"metric": "accuracy", "min": 0.99}]}
    sp.set_policy("clf", "champion", strict, project="fair")
    first = sp.run_pipeline(m.retrain, source=str(csv)).value("register_and_promote")
    assert (first["version"], first["promoted"]) == ("fair/clf/1", False)
    fair = {"fairness": {"column": "group", "metric": "accuracy", "max_gap": 0.5}}
    sp.set_policy("clf", "champion", {"gates": [fair]}, project="fair")
    again = sp.run_pipeline(m.retrain, source=str(csv), slices=["group"])
    assert [s.status for s in again.steps] == ["ran", "cached", "ran"]
    out = again.value("register_and_promote")
    assert (out["version"], out["registered"], out["promoted"]) == ("fair/clf/1", False, True)


def test_a_target_that_is_not_a_pipeline_says_so(tmp_path: Path, capsys: Any) -> None:
    """A plain function was reported missing: "has no @sp.pipeline named 'plain'"."""
    from setpoint.cli.main import main

    (tmp_path / "plainfile.py").write_text("def plain():\n    pass\n")
    with pytest.raises(SystemExit) as exit_:
        main(["pipeline", "run", f"{tmp_path / 'plainfile.py'}:plain"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert (
        "'plain' in" in err and "is not a pipeline (a function decorated with @sp.pipeline)" in err
    )


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_filtered_or_sampled_dataframe_is_stored_and_handed_on(client: Any) -> None:
    """`return data[data["amount"] > 2]` failed its step ("a DataFrame with an index"), as
    did sample() and iloc[5:]: their row numbers are dropped, as log_dataset drops them, and
    the next step gets the rows numbered from 0, on every run."""

    @sp.step
    def load() -> pd.DataFrame:
        return pd.DataFrame({"amount": [1, 3, 2, 5, 4]})

    @sp.step
    def clean(data: pd.DataFrame) -> pd.DataFrame:
        return data[data["amount"] > 2]

    @sp.step
    def sampled(data: pd.DataFrame) -> pd.DataFrame:
        return data.sample(frac=1.0, random_state=0).iloc[1:]

    @sp.step
    def seen(data: pd.DataFrame) -> dict:
        return {"index": data.index.tolist(), "amount": data["amount"].tolist()}

    @sp.pipeline(project="filtered")
    def filtered():
        data = load()
        seen(clean(data))
        sampled(data)

    for status in ("ran", "cached"):
        result = sp.run_pipeline(filtered)
        assert {s.status for s in result.steps} == {status}
        assert result.value("seen") == {"index": [0, 1, 2], "amount": [3, 5, 4]}
        shuffled = result.value("sampled")
        assert shuffled.index.tolist() == [0, 1, 2, 3] and len(set(shuffled["amount"])) == 4


INGESTING = """
import os

import pandas as pd
import setpoint as sp

@sp.step
def total(data: pd.DataFrame) -> dict:
    if os.path.exists(os.environ["BREAK"]):
        raise ValueError("broken")
    return {"sum": int(data["a"].sum())}

@sp.pipeline(project="resumes")
def sums(path: str):
    total(sp.steps.ingest(path, "rows"))
"""


def test_resume_takes_the_finished_steps_of_the_run_it_resumes(
    home: Path, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resume ran again the steps whose caching is off: `ingest` versioned the file as it was
    by then, and the resumed run went on with other data than the run that failed."""
    import json

    from setpoint.cli.main import main

    (tmp_path / "ingesting.py").write_text(INGESTING)
    data, broken = tmp_path / "d.csv", tmp_path / "broken"
    monkeypatch.setenv("BREAK", str(broken))
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(data, index=False)
    broken.write_text("")
    with pytest.raises(SystemExit):
        main(["pipeline", "run", f"{tmp_path / 'ingesting.py'}:sums", "--param", f"path={data}"])
    failed = sp.search_runs(project="resumes", filter="tags.kind = 'pipeline'")["run_id"][0]
    capsys.readouterr()
    broken.unlink()
    pd.DataFrame({"a": [10, 20, 30]}).to_csv(data, index=False)  # the file changed since
    main(["pipeline", "resume", failed, "--json"])
    out = json.loads(capsys.readouterr().out)
    steps = {s["step"]: s for s in out["steps"]}
    assert steps["ingest"]["status"] == "cached"
    assert steps["ingest"]["why"] == [
        f"taken from the run it resumes: its execution there (run {steps['ingest']['cached_from']})"
    ]
    assert steps["total"]["status"] == "ran"
    assert sp.get_run(out["run_id"]).tags["resumed_from"] == failed
    # the data the failed run had; a new run reads the file as it is now
    assert _value(out, "total") == {"sum": 6}
    main(
        [
            "pipeline",
            "run",
            f"{tmp_path / 'ingesting.py'}:sums",
            "--param",
            f"path={data}",
            "--json",
        ]
    )
    again = json.loads(capsys.readouterr().out)
    assert _value(again, "total") == {"sum": 60}


def _value(printed: dict, step: str) -> Any:
    from setpoint.client import materializers, sdk

    [s] = [s for s in printed["steps"] if s["step"] == step]
    return materializers.load(sdk.client(), s["output"], False)


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_resume_finds_every_finished_step_of_a_long_pipeline(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resume looked at the newest 100 finished steps only: in a longer pipeline the first
    ones (an `ingest`, whose caching is off) ran again."""
    from setpoint.client.pipelines import run_pipeline

    broken = tmp_path / "broken"
    broken.write_text("")
    firsts = []

    @sp.step(cache=False)
    def first(n: int) -> int:
        firsts.append(n)
        return n

    @sp.step
    def plus(x: int, k: int) -> int:
        return x + k

    @sp.step
    def last(x: int) -> int:
        if broken.exists():
            raise ValueError("broken")
        return x

    @sp.pipeline(project="long")
    def long(n: int = 1):
        x = first(n)
        for k in range(110):
            plus(x, k)
        last(x)

    with pytest.raises(ValueError) as failed:
        run_pipeline(long, {})
    broken.unlink()
    run_id = failed.value.setpoint_step_failure.run_id  # type: ignore[attr-defined]
    resumed = run_pipeline(long, {}, resume_from=run_id)
    assert firsts == [1]
    status = {s.step: s.status for s in resumed.steps}
    assert status["first"] == "cached" and status["last"] == "ran"
    assert sum(s == "cached" for s in status.values()) == 111
