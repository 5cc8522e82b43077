"""Cache keys of step executions, and why two executions' keys differ.

A key hashes four parts: the step's code, its literal parameters, the content hashes of its
inputs, and its environment (Python's, setpoint's and the declared packages' versions).
``explain`` compares the parts of two executions and names what changed.

The code part (code_key.py) covers what the step runs, as it runs: its code and every name
it reads, followed by what the name holds when the key is computed."""

from __future__ import annotations

import functools
import sys
from typing import Any

import orjson

from setpoint.core.errors import PipelineError
from setpoint.core.names import fits_64_bits


def literal_hash(value: Any, *, what: str) -> str:
    """The hash of a literal parameter (JSON-able values only: the key must be stable)."""
    from blake3 import blake3

    if not is_json(value):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise PipelineError(
                f"{what} is {value!r}: a number parameter must be finite and, when whole, "
                "fit in 64 bits",
                field="params",
            )
        raise PipelineError(
            f"{what} is a {type(value).__name__}; literal parameters must be JSON values "
            "(finite numbers, strings, booleans, lists, dicts with string keys): pass anything "
            "else as a step's output",
            field="params",
        )
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raise PipelineError(
            f"{what} is a {type(value).__name__}; literal parameters must be JSON values "
            "(numbers, strings, booleans, lists, dicts): pass anything else as a step's output",
            field="params",
        ) from None
    return blake3(data).hexdigest()


def is_json(value: Any) -> bool:
    """Exactly a JSON value: what goes in comes back the same (no tuples, NaN, dates, whole
    numbers beyond 64 bits, ...)."""
    import math

    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return utf8(value)
    if isinstance(value, int):
        return type(value) is int and fits_64_bits(value)
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    if type(value) is list:
        return all(is_json(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and utf8(k) and is_json(v) for k, v in value.items())
    return False


def utf8(text: str) -> bool:
    """Whether ``text`` is Unicode that UTF-8 holds: no lone surrogate (``"\\ud800"``, what
    decoding bytes with ``surrogateescape`` leaves), which JSON cannot store."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def environment(packages: tuple[str, ...]) -> dict[str, str]:
    # setpoint's own code (materializers, standard steps) changes only with its version
    from setpoint.core.version import VERSION  # (no scan of installed distributions)

    env = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    env["setpoint"] = VERSION
    for p in packages:
        env[p] = _version(p)
    return env


@functools.lru_cache(maxsize=256)
def _version(package: str) -> str:
    """A declared distribution's installed version; one not installed here is refused (its
    version would be 'not installed' for ever, and upgrading it would never run the step
    again)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        pass
    message = f"@sp.step(packages=[...]): {package!r} is not an installed distribution"
    owners = _distributions_of(package)
    if owners:
        named = " or ".join(repr(d) for d in owners)
        message += (
            f"; {package!r} is the import name of distribution {named}: declare "
            f"packages=[{owners[0]!r}]"
        )
    else:
        message += (
            " here: install it where the step runs, or give the name pip installs it by "
            "(its version is part of the step's cache key)"
        )
    raise PipelineError(message, field="packages")


def _distributions_of(module: str) -> list[str]:
    """The installed distributions that provide an importable ``module`` (a scan of every
    installed distribution: slow, so only for an error)."""
    from importlib.metadata import packages_distributions

    try:
        found = packages_distributions().get(module, [])
    except Exception:  # a broken distribution's metadata: the message goes without it
        return []
    return sorted(set(found))


def cache_key(parts: dict[str, Any]) -> str:
    from blake3 import blake3

    return blake3(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


NOTHING_CHANGED = "nothing in its key changed"


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What differs between two executions' key parts, in words."""
    if before is None:
        return ["no earlier execution of this step"]
    out = []
    if before.get("code") != after.get("code"):
        out.append("its code changed")
    for part, label in (("returns", "its return type"), ("pickle", "its pickle option")):
        # (executions recorded before these were parts have neither)
        if part in before and part in after and before[part] != after[part]:
            out.append(f"{label} changed ({before[part]} -> {after[part]})")
    for kind, label in (("params", "parameter"), ("inputs", "input")):
        old, new = before.get(kind, {}), after.get(kind, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                out.append(f"{label} {key!r} changed")
    old_env, new_env = before.get("env", {}), after.get("env", {})
    for key in sorted(set(old_env) | set(new_env)):
        if old_env.get(key) != new_env.get(key):
            out.append(f"{key} {old_env.get(key)} -> {new_env.get(key)}")
    return out or [NOTHING_CHANGED]
