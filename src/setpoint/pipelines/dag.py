"""Steps and pipelines as plain typed functions; calling steps inside a pipeline function
builds a DAG instead of running them.

``@step`` marks a function as a step; ``@pipeline`` marks the function whose body wires
steps together. Building a pipeline calls its body once with the given parameters: each step
call records a node and returns an :class:`Output` placeholder, so the graph is known, and
checked (type hints present, inputs that fit), before anything runs. Outside a pipeline a
step is an ordinary function call.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import inspect
import itertools
import math
import numbers
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from setpoint.core import names
from setpoint.core.durations import parse_seconds
from setpoint.core.errors import PipelineError
from setpoint.pipelines.cache import literal_hash

# A cache expiration beyond this is a mistake (and beyond what a datetime can add).
MAX_EXPIRATION_S = 100 * 365 * 86400

_BUILDS = itertools.count(1)
_building: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar(
    "setpoint_pipeline_builder", default=None
)


@dataclass(frozen=True)
class Output:
    """What a step call returns while a pipeline is being built: node ``node``'s result."""

    node: int
    step: str
    type: Any
    graph: int = field(default=0, compare=False)  # the build it is a node of (Graph.build)

    def _unknown(self, *_: Any) -> Any:
        raise PipelineError(
            f"the output of step {self.step!r} is not known while the pipeline is built: "
            "pipeline bodies wire steps together; decide, compute or format inside a step"
        )

    # Using the value itself (testing, formatting, arithmetic, indexing) would otherwise
    # give a placeholder, or a bare TypeError, not the step's result.
    __bool__ = __str__ = __format__ = __len__ = __iter__ = __contains__ = _unknown
    __getitem__ = __float__ = __int__ = __index__ = __round__ = __abs__ = __neg__ = _unknown
    __lt__ = __le__ = __gt__ = __ge__ = _unknown
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unknown
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _unknown
    __pow__ = __rpow__ = __and__ = __rand__ = __or__ = __ror__ = _unknown


@dataclass(frozen=True, kw_only=True)
class Node:
    index: int
    step: Step
    # parameter -> Output or a literal value (JSON, the node's own copy), for the arguments
    # given; a default is left to the function (it is part of the step's code in the key)
    inputs: dict[str, Any]

    @property
    def name(self) -> str:
        return self.step.name


@dataclass(kw_only=True)
class Graph:
    pipeline: str
    project: str | None
    params: dict[str, Any]
    nodes: list[Node] = field(default_factory=list)
    # which build of a pipeline this is, unique in the process (the outputs of each are its own)
    build: int = field(default_factory=lambda: next(_BUILDS), compare=False)

    def upstream(self, node: Node) -> list[Node]:
        return [self.nodes[v.node] for v in node.inputs.values() if isinstance(v, Output)]


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Output:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineError(f"step {step.name!r}: {exc}", field="step") from None
        _check_returns(step)
        inputs = {}
        for param, value in bound.arguments.items():
            if isinstance(value, Output) and value.graph != self.graph.build:
                raise PipelineError(
                    f"step {step.name!r}: parameter {param!r} is given the output of step "
                    f"{value.step!r} of another pipeline build (kept from an earlier call?): "
                    "a step takes outputs of steps called in this pipeline's body",
                    field="step",
                )
            _check_input(step, param, value)
            if not isinstance(value, Output):
                what = f"step {step.name!r}: parameter {param!r}"
                value = _literal(step, param, _typed(step.hints.get(param), value, what))
            inputs[param] = value
        index = len(self.graph.nodes)
        # the same step called twice: each call is its own node, named apart by how many
        # calls of that name came before it (not by its place among all the steps)
        taken = {n.name for n in self.graph.nodes}
        node_name, calls = step.name, 1
        while node_name in taken:  # "one.2" may be a step's own name too
            calls += 1
            node_name = f"{step.name}.{calls}"
        node_step = step.renamed(node_name) if node_name != step.name else step
        self.graph.nodes.append(Node(index=index, step=node_step, inputs=inputs))
        return Output(node=index, step=node_step.name, type=step.returns, graph=self.graph.build)


class Step:
    """A typed function that runs as one tracked, cached unit of a pipeline."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        retries: int = 0,
        cache: bool = True,
        pickle: bool = False,
        packages: tuple[str, ...] | list[str] = (),
        cache_expiration: float | str | datetime.timedelta | None = None,
    ) -> None:
        _check_function(fn, "step")
        self.fn = fn
        self.name = name or fn.__name__
        self.declared = self.name  # the step's own name; ``name`` is its node's (renamed)
        names.check_name(self.name, "step")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise PipelineError("retries must be a whole number from 0 to 10", field="retries")
        self.retries = retries
        self.cache = _flag(cache, "cache")
        self.cache_expiration = _seconds(cache_expiration)
        self.pickle = _flag(pickle, "pickle")
        self.packages = _packages(packages)
        self.signature = inspect.signature(fn)
        _check_parameters(self.signature, f"step {self.name!r}", "step")
        hints = _hints(fn)
        missing = [p for p in self.signature.parameters if p not in hints]
        if missing:
            raise PipelineError(
                f"step {self.name!r}: parameter {missing[0]!r} has no type hint; write it like "
                f"`{missing[0]}: int` so that inputs can be checked and stored",
                field="step",
            )
        if "return" not in hints:
            raise PipelineError(
                f"step {self.name!r} has no return type; write it like "
                f"`def {fn.__name__}(...) -> pd.DataFrame:`",
                field="step",
            )
        self.hints = hints
        self.returns = hints["return"]
        functools.update_wrapper(self, fn)

    def renamed(self, name: str) -> Step:
        other = Step.__new__(Step)
        other.__dict__.update(self.__dict__)
        other.name = name
        return other

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _building.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"


class Pipeline:
    """A function whose body calls steps; ``build(**params)`` gives the checked DAG."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, project: str | None):
        _check_function(fn, "pipeline")
        self.fn = fn
        self.name = name or fn.__name__
        names.check_name(self.name, "pipeline")
        if project is not None:
            names.check_name(project, "project")
        self.project = project
        self.signature = inspect.signature(fn)
        _check_parameters(self.signature, f"pipeline {self.name!r}", "pipeline")
        self.hints = _hints(fn)
        self.__doc__ = fn.__doc__

    def build(self, **params: Any) -> Graph:
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            raise PipelineError(f"pipeline {self.name!r}: {exc}", field="params") from None
        bound.apply_defaults()
        values = {
            # a given value is checked against its hint; a default only made a float (as
            # `--param lr=8` is): `x: str = None` is the function's own business
            name: _typed(
                self.hints.get(name),
                value,
                f"pipeline {self.name!r}: parameter {name!r}",
                check=name in params,
            )
            for name, value in bound.arguments.items()
        }
        graph = Graph(pipeline=self.name, project=self.project, params=values)
        token = _building.set(_Builder(graph))
        try:
            self.fn(**values)
        finally:
            _building.reset(token)
        if not graph.nodes:
            raise PipelineError(f"pipeline {self.name!r} calls no steps", field="pipeline")
        return graph

    def build_shape(self, params: dict[str, Any]) -> Graph:
        """The graph's shape (to compile it, or read it): built with ``params`` and, for
        parameters with no value and no default, a stand-in of their type ("", 0, 0.0,
        False); a compiled step rebuilds it at run time with the real values."""
        values = dict(params)
        for name, parameter in self.signature.parameters.items():
            if name in values or parameter.default is not parameter.empty:
                continue
            hint = self.hints.get(name, str)
            if hint not in _STAND_INS:
                raise PipelineError(
                    f"give a value for {name!r} (--param {name}=...): it has no default",
                    field="params",
                )
            values[name] = _STAND_INS[hint]
        return self.build(**values)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


_STAND_INS: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False}


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    retries: int = 0,
    cache: bool = True,
    pickle: bool = False,
    packages: tuple[str, ...] | list[str] = (),
    cache_expiration: float | str | datetime.timedelta | None = None,
) -> Any:
    """``@step`` or ``@step(retries=2, cache=False, pickle=True, packages=["scikit-learn"])``.

    ``packages`` are part of the cache key (their installed versions); ``pickle=True`` lets a
    step return a value no materializer stores, pickled (only for your own steps);
    ``cache_expiration`` ("12h", "7d", seconds or a timedelta) makes a cached output older
    than that count as absent."""

    if fn is not None and not callable(fn):
        raise PipelineError(
            f"@step decorates a function; got {fn!r} (give options by name: @step(retries=2))",
            field="step",
        )

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(
            f,
            name=name,
            retries=retries,
            cache=cache,
            pickle=pickle,
            packages=packages,
            cache_expiration=cache_expiration,
        )

    return wrap(fn) if fn is not None else wrap


def pipeline(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, project: str | None = None
) -> Any:
    """``@pipeline`` or ``@pipeline(project="fraud")``."""
    if fn is not None and not callable(fn):
        raise PipelineError(
            f"@pipeline decorates a function; got {fn!r} (give options by name: "
            '@pipeline(project="fraud"))',
            field="pipeline",
        )

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, project=project)

    return wrap(fn) if fn is not None else wrap


def _seconds(value: float | str | datetime.timedelta | None) -> float | None:
    """A cache expiration as seconds: "90s", "15m", "12h", "7d", a number or a timedelta."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if abs(value) <= MAX_EXPIRATION_S else math.inf
    elif isinstance(value, str) and (whole := parse_seconds(value)) is not None:
        seconds = float(whole)
    if seconds is None or not 0 < seconds <= MAX_EXPIRATION_S:
        raise PipelineError(
            f"cache_expiration must be a positive duration of at most 100 years like '12h' "
            f"or '7d' (s, m, h, d), a number of seconds or a timedelta, got {value!r}",
            field="cache_expiration",
        )
    return seconds


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise PipelineError(f"{field} must be True or False, got {value!r}", field=field)
    return value


# a distribution's name as pip installs it (PEP 508): no version, extras or markers
_DISTRIBUTION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def _packages(value: object) -> tuple[str, ...]:
    """Distribution names: a list or tuple of non-empty strings (a bare string is refused: it
    would be read letter by letter), each a plain name: the key holds its installed version,
    so "scikit-learn>=1.3" would never be found installed. Whether a name is installed is
    checked where the key is computed (an image may have what the compiling machine has not)."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(p, str) and p.strip() for p in value
    ):
        raise PipelineError(
            f"packages must be a list of package names like ['scikit-learn'], got {value!r}",
            field="packages",
        )
    for name in value:
        if not _DISTRIBUTION.fullmatch(name):
            raise PipelineError(
                f"packages must be a list of package names like ['scikit-learn'], got "
                f"{name!r}: give a distribution's name as pip installs it, without a version "
                "or extras (its installed version is what the cache key holds)",
                field="packages",
            )
    return tuple(value)


def _check_function(fn: Callable[..., Any], what: str) -> None:
    """A step or pipeline is a plain function that returns its result: a coroutine or a
    generator function would return an object that is never run or drained."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise PipelineError(
            f"{what} {fn.__name__!r} is async; {what}s are plain functions (call "
            "asyncio.run(...) inside it)",
            field=what,
        )
    if inspect.isgeneratorfunction(fn):
        raise PipelineError(
            f"{what} {fn.__name__!r} is a generator (it yields); {what}s return their "
            "result (return a list instead)",
            field=what,
        )


def _check_parameters(signature: inspect.Signature, what: str, field: str) -> None:
    """Every parameter has a name an input or a --param can give it by."""
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise PipelineError(
                f"{what}: parameter {star}{p.name} cannot be given a stored input or a "
                "parameter; name each parameter",
                field=field,
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise PipelineError(
                f"{what}: parameter {p.name} is positional-only (before the /), and inputs "
                "and parameters are given by name: remove the /",
                field=field,
            )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # a hint naming something not importable
        raise PipelineError(
            f"the type hints of {fn.__name__!r} cannot be resolved: {exc}", field="step"
        ) from None


def _literal(step: Step, param: str, value: Any) -> Any:
    """A literal argument, checked while the graph is built (a value the key cannot hash is
    refused before any step runs) and copied: the pipeline body changing the list it passed,
    or a step changing its own in place, must not change what another step gets."""
    literal_hash(value, what=f"step {step.name!r} parameter {param!r}")
    return orjson.loads(orjson.dumps(value))  # exactly JSON: the same value, order kept


# hints a literal or a pipeline parameter is checked against (list[int]: a list, items unseen)
_SIMPLE = (bool, int, float, str, list, dict)


def _typed(hint: Any, value: Any, what: str, *, check: bool = True) -> Any:
    """``value`` as a parameter hinted ``hint`` takes it: a whole number for a ``float``
    becomes one (a bool does not), so that ``lr=8`` is the ``8.0`` the CLI gives and keys
    the same; with ``check``, a value not of a simple hint's type (``int``, ``float``,
    ``str``, ``bool``, ``list``, ``dict``, ``X | None`` of one) is refused. Other hints (a
    class, a union of several, ``Any``, a TypeVar) are not second-guessed."""
    simple = _simple(hint)
    if simple is None:
        return value
    kind, optional = simple
    if value is None and optional:
        return value
    if kind is list and isinstance(value, tuple):  # stored as JSON, a tuple is a list
        return list(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # beyond any float: refused as a number that does not fit
            return value
    if check and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise PipelineError(
            f"{what} expects {type_name(hint)}, got {type_name(type(value))} {shown}",
            field="params",
        )
    return value


def _simple(hint: Any) -> tuple[type, bool] | None:
    """(the class a simple hint asks for, whether None fits too), or None for another hint."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(args) != 2:
            return None
        hint, optional = others[0], True
    kind = typing.get_origin(hint) or hint
    return (kind, optional) if kind in _SIMPLE else None


def type_name(hint: Any) -> str:
    """A type as it is written: ``int``, ``float | None``, ``list[int]``."""
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(origin, type) and args:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


class _ModelKind(type):
    def __instancecheck__(cls, value: object) -> bool:
        return callable(getattr(value, "predict", None))

    def __subclasscheck__(cls, kind: type) -> bool:
        return isinstance(kind, type) and callable(getattr(kind, "predict", None))


class Model(metaclass=_ModelKind):
    """``sp.Model``: the type of a step's model output or input (``-> sp.Model``,
    ``model: sp.Model``). Any object with ``predict`` is one; a step returning it stores it
    as a model version through its flavor, and the step after it gets the loaded model."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


# Return types no materializer stores without pickle, by (top-level module, name). Only
# certain ones: a union, ``Any``, ``object`` or a class of yours (it may have ``predict``)
# are left to the value the step returns.
_UNSTORABLE = {
    ("builtins", name)
    for name in ("set", "frozenset", "tuple", "bytes", "bytearray", "complex", "range")
} | {
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("decimal", "Decimal"),
    ("pandas", "Series"),
}


def _check_returns(step: Step) -> None:
    """A step returning a type no materializer stores is refused before anything runs,
    not after it ran, unless it opted into pickle."""
    if step.pickle:
        return
    kind = typing.get_origin(step.returns) or step.returns  # set[int] -> set
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", None)
    if not isinstance(module, str) or (module.split(".")[0], name) not in _UNSTORABLE:
        return
    raise PipelineError(
        f"step {step.name!r} returns {name}, which setpoint cannot store: return a DataFrame "
        "or Arrow table, a numpy array, exact JSON (a list for a tuple or set, text for a "
        "date) or a model, or declare @sp.step(pickle=True) for your own objects",
        field="step",
    )


def _check_input(step: Step, param: str, value: Any) -> None:
    """An output feeding a parameter is refused where it certainly cannot be of the
    parameter's type: no class the output's type names (each member of a union, a generic
    by its origin: ``list[int]`` is a list) is one the parameter takes (a whole number is a
    float, as for literals). ``Any``, TypeVars, literals and the like are not judged."""
    if not isinstance(value, Output):
        return
    hint = step.hints[param]
    wanted, produced = _classes(hint), _classes(value.type)
    if wanted is None or produced is None:
        return
    if any(_takes(w, p) for w in wanted for p in produced):
        return
    raise PipelineError(
        f"step {step.name!r}: parameter {param!r} expects {shown(hint)}, but step "
        f"{value.step!r} returns {shown(value.type)}",
        field="step",
    )


def _classes(hint: Any) -> list[type] | None:
    """The classes a value of ``hint`` is an instance of (any of them), or None where that
    cannot be said."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _classes(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[type] = []
        for member in typing.get_args(hint):
            kinds = _classes(member)
            if kinds is None:
                return None
            found += kinds
        return found
    if hint is None:
        return [type(None)]
    kind = hint if origin is None else origin
    if kind is typing.Any or kind is object or not isinstance(kind, type):
        return None
    return [kind]


def _takes(wanted: type, produced: type) -> bool:
    """Whether a value declared ``produced`` may be a ``wanted``: one of its subclasses, or
    a class of which ``wanted`` is one (declared as a base, it may be any of its kinds)."""
    try:
        return issubclass(produced, _NUMBERS.get(wanted, wanted)) or issubclass(wanted, produced)
    except TypeError:  # a protocol, or a class that cannot say: not judged
        return True


# What a number's hint takes: any integer (numpy's, a bool) for `int`, any real for `float`.
_NUMBERS: dict[Any, type] = {
    int: numbers.Integral,
    float: numbers.Real,
    complex: numbers.Complex,
}


def check_returned(step: str, hint: Any, value: Any) -> None:
    """Refuse a step's result that is not of its declared return type, before it is stored
    (a dict for a ``pd.DataFrame`` would be stored as JSON and handed on as a dict). Only
    what can be checked is: a class by isinstance, a generic by its origin (``dict[str,
    float]``: a dict), a union or ``X | None`` by any member, ``Annotated`` by its type,
    ``None`` by being None; ``Any``, TypeVars, protocols, literals and the like are not
    second-guessed."""
    if hint is None or _fits(hint, value):
        return
    if hint is type(None):
        raise PipelineError(
            f"step {step!r} is declared to return None but returned {shown(type(value))}: "
            "declare the type it returns",
            field="output",
        )
    raise PipelineError(
        f"step {step!r} is declared to return {shown(hint)} but returned "
        f"{shown(type(value))}: return a {shown(hint)}, or declare the type it returns",
        field="output",
    )


def _fits(hint: Any, value: Any) -> bool:
    """False only when ``value`` is certainly not of ``hint``."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _fits(typing.get_args(hint)[0], value)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in typing.get_args(hint))
    kind = hint if origin is None else origin
    if kind in _NUMBERS:
        return isinstance(value, _NUMBERS[kind])
    if not isinstance(kind, type) or kind is typing.Any or getattr(kind, "_is_protocol", False):
        return True  # a TypeVar, a Literal, a string never resolved, a protocol, Any, ...
    try:
        return isinstance(value, kind)
    except TypeError:  # a class isinstance refuses (a TypedDict, say)
        return True


def shown(hint: Any) -> str:
    """A type as an error names it: ``pandas.DataFrame``, ``dict[str, float]``, ``int | None``."""
    if hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:  # the type checked, not what is said about it
        return shown(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(shown(a) for a in args)
    if isinstance(origin, type) and args:
        return f"{shown(origin)}[{', '.join(shown(a) for a in args)}]"
    if not isinstance(hint, type):
        return str(hint).replace("typing.", "")
    module: str = getattr(hint, "__module__", "") or ""
    name: str = hint.__qualname__
    if module == "builtins":
        return name
    top = module.split(".")[0]
    # by the name it is known by (pandas.DataFrame, not pandas.core.frame.DataFrame)
    if getattr(sys.modules.get(top), name, None) is hint:
        return f"{top}.{name}"
    return f"{module}.{name}"
