"""Cache keys of step executions, and why two executions' keys differ.

A key hashes four parts: the step's code (its source and that of the functions of its own
module it calls, recursively), its literal parameters, the content hashes of its inputs, and
its environment (Python's version and the declared packages' versions). ``explain`` compares
the parts of two executions and names what changed.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import orjson

from setpoint.core.errors import PipelineError


def code_hash(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the step's code and of the user code it reaches: the source of every user
    function it names (followed recursively, whatever module it lives in), the whole source of
    user modules it names, and the values of simple constants it reads (``THRESHOLD = 0.5``).
    User code is anything not in the standard library, site-packages or setpoint itself, so
    editing a helper the step calls, in any of your modules, changes the key."""
    from blake3 import blake3

    h = blake3()
    seen: set[int] = set()
    stack: list[Any] = [inspect.unwrap(fn)]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, types.ModuleType):
            h.update(_source(f))
            continue
        h.update(_source(f))
        code = getattr(f, "__code__", None)
        if code is None:
            continue
        for name in sorted(set(_names(code))):
            target = f.__globals__.get(name)
            target = getattr(target, "fn", target)  # a step called from a step
            if isinstance(target, types.FunctionType | types.ModuleType) and _is_user(target):
                stack.append(target)
            elif isinstance(target, bool | int | float | str | bytes | tuple | frozenset):
                h.update(f"{name}={target!r}".encode())
        for cell in f.__closure__ or ():  # closures: the values a nested step captured
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, types.FunctionType) and _is_user(value):
                stack.append(value)
            elif isinstance(value, bool | int | float | str | bytes | tuple | frozenset):
                h.update(repr(value).encode())
        if f.__defaults__:
            h.update(repr(f.__defaults__).encode())
    return h.hexdigest()


def _source(obj: Any) -> bytes:
    try:
        return inspect.getsource(obj).encode()
    except (OSError, TypeError):  # no source (defined in a REPL): its bytecode then
        return getattr(getattr(obj, "__code__", None), "co_code", b"") or repr(obj).encode()


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import os
    import sysconfig

    import setpoint

    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(os.path.dirname(os.path.abspath(setpoint.__file__)))
    return tuple(os.path.abspath(r) + os.sep for r in roots)


def _is_user(obj: Any) -> bool:
    """Code of the user's own: it has a source file outside the standard library,
    site-packages and setpoint."""
    import os

    try:
        path = inspect.getsourcefile(obj)
    except TypeError:  # built in
        return False
    if path is None:
        return False
    path = os.path.abspath(path)
    return not path.startswith(_library_roots())


def _names(code: types.CodeType) -> list[str]:
    out = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions and comprehensions
            out.extend(_names(const))
    return out


def literal_hash(value: Any, *, what: str) -> str:
    """The hash of a literal parameter (JSON-able values only: the key must be stable)."""
    from blake3 import blake3

    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raise PipelineError(
            f"{what} is a {type(value).__name__}; literal parameters must be JSON values "
            "(numbers, strings, booleans, lists, dicts): pass anything else as a step's output",
            field="params",
        ) from None
    return blake3(data).hexdigest()


def environment(packages: tuple[str, ...]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from setpoint import __version__

    # setpoint's own code (materializers, standard steps) changes only with its version
    env = {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "setpoint": __version__}
    for p in packages:
        try:
            env[p] = version(p)
        except PackageNotFoundError:
            env[p] = "not installed"
    return env


def cache_key(parts: dict[str, Any]) -> str:
    from blake3 import blake3

    return blake3(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What differs between two executions' key parts, in words."""
    if before is None:
        return ["no earlier execution of this step"]
    out = []
    if before.get("code") != after.get("code"):
        out.append("its code changed")
    for kind, label in (("params", "parameter"), ("inputs", "input")):
        old, new = before.get(kind, {}), after.get(kind, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(f"{label} {key!r} changed")
    old_env, new_env = before.get("env", {}), after.get("env", {})
    for key in sorted(set(old_env) | set(new_env)):
        if old_env.get(key) != new_env.get(key):
            out.append(f"{key} {old_env.get(key)} -> {new_env.get(key)}")
    return out or ["nothing in its key changed"]
