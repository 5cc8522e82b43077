"""A step's cache key follows what its code reads as it is when the key is computed (values
by their content, modules it imports in its body, objects in class attributes and
containers), is the same in every process, and the same whether the pipeline file runs as a
script or under the CLI."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import setpoint as sp
from conftest import run_cli
from setpoint.pipelines.code_key import code_hash

Load = Callable[[dict[str, str]], Any]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """Write modules (name -> source) into a new folder and import the last one anew, as a
    new process would."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no stale .pyc of an earlier text
    folders = itertools.count()
    names: set[str] = set()

    def write_and_import(files: dict[str, str]) -> Any:
        folder = tmp_path / f"v{next(folders)}"
        folder.mkdir()
        monkeypatch.syspath_prepend(str(folder))
        for name, text in files.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(text))
            sys.modules.pop(name, None)
            names.add(name)
        return importlib.import_module(list(files)[-1])

    yield write_and_import
    for name in names:
        sys.modules.pop(name, None)


STEP = "import setpoint as sp\n\n@sp.step\ndef s(x: int) -> object:\n"

# name -> (the two versions' differing text, the modules with {v} where the text goes);
# the step module comes last and its step is `s`
CHANGES: dict[str, tuple[tuple[str, str], dict[str, str]]] = {
    "a helper imported in the step's body": (
        ("2", "100"),
        {
            "kh_feat": "def scale(x):\n    return x * {v}\n",
            "kh_step": STEP + "    from kh_feat import scale\n    return scale(x)\n",
        },
    ),
    "a module imported in the step's body": (
        ("2", "100"),
        {
            "kh_feat": "def scale(x):\n    return x * {v}\n",
            "kh_step": STEP + "    import kh_feat\n    return kh_feat.scale(x)\n",
        },
    ),
    "a list extended by +=": (
        ("b", "c"),
        {"kh_step": "COLS = ['a']\nCOLS += ['{v}']\n" + STEP + "    return COLS\n"},
    ),
    "a list appended to where the module is loaded": (
        ("b", "c"),
        {"kh_step": "COLS = ['a']\nCOLS.append('{v}')\n" + STEP + "    return COLS\n"},
    ),
    "a constant assigned in an if block": (
        ("b", "c"),
        {
            "kh_step": "import sys\nif sys.version_info >= (3, 8):\n    COLS = ['{v}']\n"
            "else:\n    COLS = []\n" + STEP + "    return COLS\n"
        },
    ),
    "a constant assigned with others": (
        ("b", "c"),
        {"kh_step": "COLS, OTHER = ['{v}'], ['z']\n" + STEP + "    return COLS\n"},
    ),
    "a function in a dict": (
        ("2", "100"),
        {
            "kh_feat": "def helper(x):\n    return x + {v}\n",
            "kh_step": "from kh_feat import helper\nREG = {{'h': helper}}\n"
            + STEP
            + "    return REG['h'](x)\n",
        },
    ),
    "a method of an object in a class attribute": (
        ("2", "100"),
        {
            "kh_feat": "class M:\n    def go(self, x):\n        return x + {v}\n",
            "kh_step": "import kh_feat\n\nclass Holder:\n    impl = kh_feat.M()\n"
            + STEP
            + "    return Holder.impl.go(x)\n",
        },
    ),
    "a list in a class attribute, changed after the class": (
        ("b", "c"),
        {
            "kh_step": "class C:\n    COLS = ['a']\n\nC.COLS.append('{v}')\n"
            + STEP
            + "    return C.COLS\n"
        },
    ),
    "a module's value made from another module's": (
        ("b", "c"),
        {
            "kh_base": "BASE = ['{v}']\n",
            "kh_feat": "from kh_base import BASE\nCOLS = BASE + ['z']\n",
            "kh_step": "import kh_feat as H\n" + STEP + "    return H.COLS\n",
        },
    ),
    "a library's function under another name": (
        ("mean", "median"),
        {"kh_step": "from statistics import {v} as agg\n" + STEP + "    return agg([x, 1, 8])\n"},
    ),
    "a global read in a class body inside the step": (
        ("b", "c"),
        {
            "kh_step": "COLS = ['{v}']\n"
            + STEP
            + "    class Local:\n        cols = COLS\n    return Local.cols\n"
        },
    ),
    "a global read in a comprehension": (
        ("2", "100"),
        {"kh_step": "F = {v}\n" + STEP + "    return [F * i for i in range(x)]\n"},
    ),
    "a user module's attribute read through a global module": (
        ("b", "c"),
        {
            "kh_cfg": "COLS = ['{v}']\n",
            "kh_step": "import kh_cfg\n" + STEP + "    return kh_cfg.COLS\n",
        },
    ),
    "a decorator's wrapper made with functools.wraps": (
        ("20", "25"),
        {
            "kh_deco": "import functools\n\ndef clip(fn):\n    @functools.wraps(fn)\n"
            "    def wrapper(x):\n        return min(fn(x), {v})\n    return wrapper\n",
            "kh_step": "from kh_deco import clip\n\n@clip\ndef score(x):\n    return x * 10\n\n"
            + STEP
            + "    return score(x)\n",
        },
    ),
    "the step's own decorator, made with functools.wraps": (
        ("20", "25"),
        {
            "kh_deco": "import functools\n\ndef clip(fn):\n    @functools.wraps(fn)\n"
            "    def wrapper(x):\n        return min(fn(x), {v})\n    return wrapper\n",
            "kh_step": "from kh_deco import clip\nimport setpoint as sp\n\n@sp.step\n@clip\n"
            "def s(x: int) -> object:\n    return x * 10\n",
        },
    ),
    "an overload of a singledispatch function": (
        ("2", "100"),
        {
            "kh_disp": "import functools\n\n@functools.singledispatch\ndef f(x):\n    return 0\n\n"
            "@f.register\ndef _(x: int):\n    return x * {v}\n",
            "kh_step": "from kh_disp import f\n" + STEP + "    return f(x)\n",
        },
    ),
    "a method of a class the step's parameter is annotated with": (
        ("1", "2"),
        {
            "kh_model": "class Scorer:\n    def score(self, x):\n        return x + {v}\n",
            "kh_step": "import setpoint as sp\nfrom kh_model import Scorer\n\n@sp.step\n"
            "def s(m: Scorer, x: int = 3) -> object:\n    return m.score(x)\n",
        },
    ),
    "a method of a generic class the step's parameter is annotated with": (
        ("1", "2"),
        {
            "kh_model": "import typing\nT = typing.TypeVar('T')\n\n"
            "class Scorer(typing.Generic[T]):\n    def score(self, x):\n        return x + {v}\n",
            "kh_step": "import setpoint as sp\nfrom kh_model import Scorer\n\n@sp.step\n"
            "def s(m: Scorer[int], x: int = 3) -> object:\n    return m.score(x)\n",
        },
    ),
    "a numpy array changed where the module is loaded": (
        ("2", "100"),
        {
            "kh_step": "import numpy as np\nW = np.zeros(3)\nW[0] = {v}\n"
            + STEP
            + "    return float(W.sum()) + x\n"
        },
    ),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_what_the_code_reads_changed_changes_the_key(case: str, load: Load) -> None:
    """Each change made the step return something else with the same key (a stale cached
    output): names were hashed by how the module's source assigns them, and imports inside a
    step's body were not followed."""
    (old, new), files = CHANGES[case]

    def key(v: str) -> tuple[str, object]:
        module = load({name: text.format(v=v) for name, text in files.items()})
        fn = module.s.fn
        returned = fn(sys.modules["kh_model"].Scorer()) if "kh_model" in files else fn(3)
        return code_hash(fn), returned

    (first, returned), (same, _), (changed, returned_now) = key(old), key(old), key(new)
    assert returned != returned_now  # the change is one the step sees
    assert first == same  # nothing changed: the same key in a fresh import
    assert first != changed


NEIGHBOURS = """
import json
import setpoint as sp

class Obj:
    @staticmethod
    def f(n):
        return n + 1

OBJ = Obj()

@sp.step
def load(month: str) -> dict:
    return {{"month": month, "rows": {rows}}}

@sp.step
def f(n: int) -> int:
    return n * {rows}

@sp.step
def settings(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)

@sp.step
def calls_method(n: int) -> int:
    return OBJ.f(n)

@sp.pipeline(project="neighbours")
def pipe(month: str = "2026-11", path: str = "cfg.json"):
    load(month)
    f(1)
    settings(path)
    calls_method(2)
"""


def test_a_step_named_like_an_attribute_another_step_reads_leaves_its_key(load: Load) -> None:
    """Editing step ``load`` changed the key of step ``settings``, which calls
    ``json.load``, and editing step ``f`` that of a step calling ``OBJ.f``: every name in the
    code's ``co_names``, attributes included, was looked up among the module's globals."""

    def keys(rows: int) -> dict[str, str]:
        module = load({"kh_neighbours": NEIGHBOURS.format(rows=rows)})
        steps = ("load", "f", "settings", "calls_method")
        return {name: code_hash(getattr(module, name).fn) for name in steps}

    before, after = keys(100), keys(200)
    assert before["load"] != after["load"] and before["f"] != after["f"]
    assert before["settings"] == after["settings"]
    assert before["calls_method"] == after["calls_method"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_editing_one_step_leaves_the_others_of_its_file_cached(
    client: Any, load: Load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the edited steps run again (``settings`` and ``calls_method`` ran again with
    "its code changed")."""
    (tmp_path / "cfg.json").write_text('{"x": 1}')
    monkeypatch.chdir(tmp_path)

    def run(rows: int) -> dict[str, tuple[str, list[str]]]:
        module = load({"kh_neighbours_run": NEIGHBOURS.format(rows=rows)})
        return {s.step: (s.status, s.why) for s in sp.run_pipeline(module.pipe).steps}

    run(100)
    steps = run(200)
    assert steps["load"] == ("ran", ["its code changed"])
    assert steps["f"] == ("ran", ["its code changed"])
    assert steps["settings"][0] == "cached"
    assert steps["calls_method"][0] == "cached"


PLACES = """
import setpoint as sp
from kh_place_a import load as load_a
from kh_place_b import load as load_b

@sp.step
def inc(x: int) -> int:
    return x + 100

@sp.step
def other(x: int) -> int:
    return x * 10

@sp.pipeline(project="places")
def pipe(n: int = 1):
    {first}
    {second}
    {extra}
    inc(inc(n))

@sp.pipeline(project="places")
def again(n: int = 1):
    inc(n)
"""

PLACE = """
import setpoint as sp

@sp.step
def load(x: int) -> int:
    return x + {add}
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_s_key_does_not_depend_on_its_place_in_the_pipeline(client: Any, load: Load) -> None:
    """A step's key held its node's name, numbered by its place among all the steps: a step
    added before it ran it again ("no earlier execution of this step"), and so did swapping
    the calls of two steps named alike ("its code changed"), though nothing they compute
    changed."""

    def run(first: str, second: str, extra: str = "", pipeline: str = "pipe") -> dict:
        module = load(
            {
                "kh_place_a": PLACE.format(add=1),
                "kh_place_b": PLACE.format(add=2),
                "kh_place_run": PLACES.format(first=first, second=second, extra=extra),
            }
        )
        return {s.step: s.status for s in sp.run_pipeline(getattr(module, pipeline)).steps}

    first = run("load_a(n)", "load_b(n)")
    assert set(first.values()) == {"ran"}, first
    assert run("load_a(n)", "load_b(n)", "other(n)") == {
        "load": "cached",
        "load.2": "cached",
        "other": "ran",
        "inc": "cached",
        "inc.2": "cached",
    }
    swapped = run("load_b(n)", "load_a(n)", "other(n)")
    assert set(swapped.values()) == {"cached"}, swapped
    # another pipeline's step is its own (its outputs are named after it)
    assert run("load_a(n)", "load_b(n)", pipeline="again") == {"inc": "ran"}


HALF = """
import setpoint as sp

@sp.step
def half(x: int) -> {returns}:
    return x / 2

@sp.pipeline(project="returns")
def pipe(n: int = 3):
    half(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_step_whose_return_type_changed_runs_again(client: Any, load: Load) -> None:
    """The body's code is the same, the declared type is not: a cached 1.5 was handed on as
    the `int` the step now declares, unchecked."""
    from setpoint.core.errors import PipelineError

    first = load({"kh_half": HALF.format(returns="float")})
    assert sp.run_pipeline(first.pipe).value("half") == 1.5
    second = load({"kh_half": HALF.format(returns="int")})
    with pytest.raises(PipelineError, match="declared to return int but returned float"):
        sp.run_pipeline(second.pipe)
    # and `explain` says so (it said the last execution with this key did not finish)
    third = sp.run_pipeline(load({"kh_half": HALF.format(returns="object")}).pipe)
    assert third.steps[0].why == ["its return type changed (int -> object)"]


LOCAL_PIPE = """
import setpoint as sp

@sp.step
def compute(n: int) -> int:
    from kh_local_feat import scale  # imported where it runs (a worker's habit)
    return scale(n)

@sp.pipeline(project="localimport")
def p(n: int = 5):
    compute(n)
"""


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_helper_imported_in_the_step_is_run_again_when_it_changes(
    client: Any, load: Load
) -> None:
    """The step came from the cache with x * 2's 10 after ``scale`` became x * 100."""

    def run(factor: int) -> Any:
        feat = f"def scale(x):\n    return x * {factor}\n"
        return sp.run_pipeline(load({"kh_local_feat": feat, "kh_local_pipe": LOCAL_PIPE}).p)

    assert run(2).value("compute") == 10
    assert run(2).steps[0].status == "cached"
    changed = run(100)
    assert (changed.steps[0].status, changed.steps[0].why) == ("ran", ["its code changed"])
    assert changed.value("compute") == 500


STATE = """
import setpoint as sp

LOG = []
MEMO = {}
COLS = ["a"]

class Lazy:
    def __init__(self):
        self.model = None

    def get(self):
        if self.model is None:
            self.model = {"w": 2}
        return self.model

LAZY = Lazy()

@sp.step
def s(x: int) -> int:
    LOG.append(x)
    if x not in MEMO:
        MEMO[x] = x * 2
    return MEMO[x] + LAZY.get()["w"] + len(COLS)
"""


def test_state_the_step_keeps_leaves_its_key_and_a_value_changed_in_place_does_not(
    load: Load,
) -> None:
    """A list the step only reads, changed in place in a running process (a notebook),
    kept the key: the step came from the cache with the old list's result."""
    module = load({"kh_state": STATE})
    before = code_hash(module.s.fn)
    module.s.fn(3)  # the step ran: its log, memo and lazily loaded model changed
    assert module.LOG == [3] and module.MEMO == {3: 6} and module.LAZY.model is not None
    assert code_hash(module.s.fn) == before
    module.COLS.append("b")  # what it reads
    assert code_hash(module.s.fn) != before


CYCLES = """
import setpoint as sp

A = ["a"]
A.append(A)
D = {"k": 1}
D["self"] = D

class Node:
    def __init__(self):
        self.me = self
        self.items = [self, A]

N = Node()

@sp.step
def s(x: int) -> int:
    return len(A) + len(D) + len(N.items) + x
"""


def test_values_that_hold_themselves_are_hashed_once_and_the_same(load: Load) -> None:
    first = code_hash(load({"kh_cycles": CYCLES}).s.fn)
    assert code_hash(load({"kh_cycles": CYCLES}).s.fn) == first
    changed = CYCLES.replace('D = {"k": 1}', 'D = {"k": 2}')
    assert code_hash(load({"kh_cycles": changed}).s.fn) != first


def test_a_library_object_inside_a_value_counts_by_the_statement_assigning_it(
    load: Load,
) -> None:
    """Its text may differ between processes (a lock's state, a logger's level): its type
    and the statement count, as for a library's object a module assigns directly."""
    text = (
        "import string, threading\n"
        "CFG = {{'t': string.Template('$x-{v}'), 'lock': threading.Lock(), 'n': [1]}}\n"
        + STEP
        + "    return CFG['t'].substitute(x=x)\n"
    )
    first = load({"kh_lib_obj": text.format(v="a")})
    key = code_hash(first.s.fn)
    first.CFG["lock"].acquire()  # its text says locked now
    assert code_hash(first.s.fn) == key
    assert code_hash(load({"kh_lib_obj": text.format(v="a")}).s.fn) == key
    assert code_hash(load({"kh_lib_obj": text.format(v="b")}).s.fn) != key


def test_a_library_imported_in_the_step_is_not_imported_for_its_key(load: Load) -> None:
    """The key is the same whether the library is loaded in this process or not."""
    module = load({"kh_lib": STEP + "    import colorsys\n    return colorsys.ONE_THIRD\n"})
    sys.modules.pop("colorsys", None)
    absent = code_hash(module.s.fn)
    assert "colorsys" not in sys.modules
    import colorsys  # noqa: F401

    assert code_hash(module.s.fn) == absent


SEEDED = """
from setpoint.pipelines.code_key import code_hash

def make():
    cfg = {"cols": {"alpha", "beta", "gamma", "delta", "eps"}, "pairs": frozenset({("a", 1)})}

    def s(x: int) -> int:
        return len(cfg["cols"]) + x

    return s

COLS = {"alpha", "beta", "gamma", "delta", "eps"}

def reads(x: int) -> int:
    return len(COLS) + x

print(code_hash(make()), code_hash(reads))
"""


def test_a_set_in_a_closure_gives_the_same_key_in_every_process() -> None:
    """A dict holding a set, captured by a closure, was hashed by its repr: set order changes
    with PYTHONHASHSEED, so each process had another key and the step never came from the
    cache."""
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", SEEDED], env=env, capture_output=True, text=True, check=True
        )
        keys.add(done.stdout.strip())
    assert len(keys) == 1, keys


SCRIPT = """
import enum
import logging
from dataclasses import dataclass, field

import setpoint as sp


class Unit:
    pass


@dataclass
class Conf:
    unit: Unit | None = None
    cols: list = field(default_factory=lambda: ["a"])


class Color(enum.Enum):
    RED = 1


class Scaler:
    '''Scales by its factor.'''

    factor = 3
    conf = Conf()

    def __init__(self):
        self.log = logging.getLogger(__name__)

    def apply(self, x):
        self.log.debug("scaling %s", x)
        return x * self.factor


SCALER = Scaler()


def double(x):
    return 2 * x


@sp.step
def scale(n: int, f: object = double, c: object = Color.RED) -> int:
    return SCALER.apply(f(n)) + len(Scaler.conf.cols) + c.value


@sp.pipeline(project="scriptcli")
def p(n: int = 2):
    scale(n)
"""


def test_a_pipeline_file_run_as_a_script_then_under_the_cli_comes_from_the_cache(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A class in the pipeline file made the key differ between ``python file.py`` and
    ``setpoint pipeline run file.py:p``: its ``__module__`` (and a dataclass's generated
    ``__doc__``, a function given as a default, ``__name__`` read for a logger) is
    ``__main__`` in one and the file's name in the other."""
    path = tmp_path / "kh_scriptcli.py"
    path.write_text(textwrap.dedent(SCRIPT))
    spec = importlib.util.spec_from_file_location("__main__", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "__main__", script)
    spec.loader.exec_module(script)  # python kh_scriptcli.py
    try:
        assert [s.status for s in sp.run_pipeline(script.p).steps] == ["ran"]
        code, out, err = run_cli(capsys, "pipeline", "run", f"{path}:p", "--json")
    finally:
        sys.modules.pop("kh_scriptcli", None)
    assert code == 0, err
    steps = [(s["step"], s["status"], s["why"]) for s in json.loads(out)["steps"]]
    assert [(step, status) for step, status, _ in steps] == [("scale", "cached")], steps
