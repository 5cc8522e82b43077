"""Cache keys of step executions, and why two executions' keys differ.

A key hashes four parts: the step's code (its source and that of the functions of its own
module it calls, recursively), its literal parameters, the content hashes of its inputs, and
its environment (Python's version and the declared packages' versions). ``explain`` compares
the parts of two executions and names what changed.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import orjson

from setpoint.core.errors import PipelineError


def code_hash(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the source of ``fn`` and of every function of its own module it names,
    followed recursively: editing a helper the step calls changes the key."""
    from blake3 import blake3

    h = blake3()
    seen: set[int] = set()
    stack: list[Any] = [inspect.unwrap(fn)]
    module = getattr(stack[0], "__module__", None)
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        try:
            h.update(inspect.getsource(f).encode())
        except (OSError, TypeError):  # no source (defined in a REPL): its bytecode then
            h.update(getattr(getattr(f, "__code__", None), "co_code", b"") or repr(f).encode())
        code = getattr(f, "__code__", None)
        if code is None:
            continue
        for name in _names(code):
            target = f.__globals__.get(name)
            target = getattr(target, "fn", target)  # a step called from a step
            if isinstance(target, types.FunctionType) and target.__module__ == module:
                stack.append(target)
    return h.hexdigest()


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

    env = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
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
