"""Cache keys of step executions, and why two executions' keys differ.

A key hashes four parts: the step's code, its literal parameters, the content hashes of its
inputs, and its environment (Python's, setpoint's and the declared packages' versions).
``explain`` compares the parts of two executions and names what changed.

The code part covers what the step runs, as it runs: its code object (constants and
parameter names included), defaults and closure, and, followed through the names they use,
every function and class of the user's it reaches in any module (their loaded code), the
values of constants it reads, and the whole of any user module it uses as ``module.name``
(file and loaded code, its submodules, and what its functions reach in turn). A class counts
by its source, its methods and properties (followed like functions) and its user base
classes; ``functools.partial`` by its function and arguments; any other object a module
assigns by the statement that assigns it and its class. User code is anything outside the
standard library, site-packages and setpoint; a library counts through its version when a
step declares it in ``packages``.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import orjson

from setpoint.core.errors import PipelineError
from setpoint.core.names import fits_64_bits


def code_hash(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the step's running code and of the user code it reaches (see the module's
    note): other steps of the same file can change without this key changing."""
    from blake3 import blake3

    h = blake3()
    seen: set[int] = set()
    stack: list[Any] = [inspect.unwrap(fn)]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            # a module used as module.name: all of it (its file, and its loaded code)
            h.update(obj.__name__.encode() + _file_bytes(obj))
            for _, value in sorted(vars(obj).items(), key=lambda kv: kv[0]):
                _module_member(stack, obj, value)
            continue
        if isinstance(obj, type):
            _hash_class(h, stack, obj)
            continue
        _hash_code(h, obj.__code__)
        _hash_value(h, stack, (obj.__defaults__, obj.__kwdefaults__))
        for cell in obj.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            _follow(h, stack, "<closure>", value, None)
        module = obj.__globals__.get("__name__")
        for name in sorted(set(_names(obj.__code__))):
            if name in obj.__globals__:
                _follow(h, stack, name, obj.__globals__[name], module)
    return h.hexdigest()


def _module_member(stack: list[Any], module: types.ModuleType, value: Any) -> None:
    """A module's own functions and classes, and its user submodules, are followed whole
    (a file edited but not reloaded runs the old code: the file and the code both count)."""
    value = inspect.unwrap(value) if callable(value) else value
    if isinstance(value, types.ModuleType):
        if value.__name__.startswith(module.__name__ + ".") and _is_user(value):
            stack.append(value)  # mypkg.sub.f(), through mypkg
        return
    if getattr(value, "__module__", None) != module.__name__:
        return
    if isinstance(value, types.FunctionType | type):
        stack.append(value)


def _hash_class(h: Any, stack: list[Any], cls: type) -> None:
    """A class by its source (attributes, decorators), its methods and properties followed
    like functions, and its user base classes."""
    h.update(cls.__qualname__.encode() + _class_source(cls))
    for name, member in sorted(vars(cls).items(), key=lambda kv: kv[0]):
        if isinstance(member, property):
            parts: tuple[Any, ...] = (member.fget, member.fset, member.fdel)
        elif isinstance(member, functools.cached_property):
            parts = (member.func,)
        else:
            parts = (getattr(member, "__func__", member),)  # static and class methods
        functions = [inspect.unwrap(p) for p in parts if callable(p)]
        if any(isinstance(f, types.FunctionType) for f in functions):
            stack.extend(f for f in functions if isinstance(f, types.FunctionType))
        elif isinstance(member, bool | int | float | str | bytes | tuple | frozenset):
            h.update(name.encode() + b"=" + _stable(member))
    for base in cls.__bases__:
        if _is_user(base):
            stack.append(base)


def _class_source(cls: type) -> bytes:
    """The class statement's text in its file as it is now ("" for a class made at run time,
    in a notebook cell or inside a function)."""
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):  # built in, or a notebook's __main__ without a file
        return b""
    if not path:
        return b""
    return _classes(_read(path)).get(cls.__qualname__, "").encode()


def _follow(h: Any, stack: list[Any], name: str, value: Any, module: str | None) -> None:
    """User code a name leads to goes on the stack. A plain value counts as written: an
    immutable one by its value, a list or dict by the statement that assigns it in its module
    (its contents may be state the step changes, like a log it appends to); any other object
    by that statement and its class."""
    target = getattr(value, "fn", None) if not isinstance(value, type) else None
    target = target if isinstance(target, types.FunctionType) else value  # a step's function
    if callable(target) and hasattr(target, "__wrapped__"):
        target = inspect.unwrap(target)  # lru_cache and other wrappers
    if isinstance(target, types.FunctionType | type | types.ModuleType):
        if _is_user(target):
            stack.append(target)
        return
    if isinstance(value, bool | int | float | str | bytes | tuple | frozenset):
        h.update(name.encode() + b"=")
        _hash_value(h, stack, value)
    elif isinstance(value, list | dict | set) and module is not None:
        h.update(name.encode() + b":=" + _assignment(module, name).encode())
    elif isinstance(value, list | dict | set):  # captured by a closure: as it is now
        h.update(_stable(value))
    else:
        h.update(name.encode() + b"~")
        assigned = _assignment(module, name) if module is not None else ""
        if assigned:
            h.update(assigned.encode())
            if _is_user(type(value)):
                stack.append(type(value))
        else:
            _hash_value(h, stack, value)


def _hash_value(h: Any, stack: list[Any], value: Any) -> None:
    """A value the code holds (a default, a constant, a partial's arguments): functions and
    classes in it by name, their code followed when it is the user's; the rest by a text that
    is the same in every process."""
    if isinstance(value, functools.partial):
        h.update(b"partial(")
        _hash_value(h, stack, (value.func, value.args, value.keywords))
        h.update(b")")
        return
    if isinstance(value, types.FunctionType | type | types.ModuleType | types.BuiltinFunctionType):
        target = inspect.unwrap(value) if callable(value) else value
        h.update(
            f"<{getattr(target, '__module__', '')}.{target.__qualname__}>".encode()
            if not isinstance(target, types.ModuleType)
            else f"<{target.__name__}>".encode()
        )
        if not isinstance(target, types.BuiltinFunctionType) and _is_user(target):
            stack.append(target)
        return
    if isinstance(value, tuple | list):
        h.update(b"(")
        for item in value:
            _hash_value(h, stack, item)
            h.update(b",")
        h.update(b")")
        return
    if isinstance(value, dict):
        h.update(b"{")
        for key, item in sorted(value.items(), key=lambda kv: repr(kv[0])):
            h.update(_stable(key) + b":")
            _hash_value(h, stack, item)
            h.update(b",")
        h.update(b"}")
        return
    if _is_user(type(value)):
        stack.append(type(value))
    h.update(_stable(value))


def _assignment(module_name: str, name: str, depth: int = 0) -> str:
    """The source of the module-level statements assigning ``name``, following ``from m
    import name`` into user modules ("" if none is found)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path or depth > 8 or module is None or not _is_user(module):
        return ""
    text = _read(path)
    if not text:
        return ""
    found = _assignments(text).get(name, "")
    if found.startswith("from "):
        source, _, original = found[len("from ") :].partition(" import ")
        return found + "\n" + _assignment(source, original, depth + 1)
    return found


def _assignments(source: bytes) -> dict[str, str]:
    """Module-level assignments and ``from m import name`` lines, by name."""
    return _statements(source)[0]


def _classes(source: bytes) -> dict[str, str]:
    """Class statements of a file by qualified name (``Outer.Inner``), decorators included:
    ``inspect.getsource`` parses the whole file for every class it is asked for."""
    return _statements(source)[1]


@functools.lru_cache(maxsize=256)
def _statements(source: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(assignments, classes) of a file, from one parse per file content (keyed by the file's
    bytes: a file rewritten within one timestamp tick is still read anew)."""
    import ast

    try:
        text = source.decode()
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return {}, {}
    assigned: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                assigned[alias.asname or alias.name] = f"from {node.module} import {alias.name}"
            continue
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        for t in targets:
            if isinstance(t, ast.Name):
                segment = ast.get_source_segment(text, node) or ""
                assigned[t.id] = assigned.get(t.id, "") + segment
    classes: dict[str, str] = {}
    lines = text.splitlines()

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = prefix + node.name
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                # its decorators too: @dataclass(frozen=True) is part of what it does
                classes.setdefault(name, "\n".join(lines[first - 1 : node.end_lineno]))
                visit(node.body, name + ".")

    visit(tree.body, "")
    return assigned, classes


def _names(code: types.CodeType) -> list[str]:
    out = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions and comprehensions
            out.extend(_names(const))
    return out


def _hash_code(h: Any, code: types.CodeType) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    # parameter names and kinds: helper(b, a) called as helper(a=.., b=..) swaps them
    params = code.co_argcount + code.co_kwonlyargcount
    h.update(repr((code.co_varnames[:params], code.co_flags & 0x0C)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(h, const)
        else:
            h.update(_const_repr(const).encode())


def _const_repr(const: Any) -> str:
    """A constant's text, the same in every process (set order varies with string hashing)."""
    if isinstance(const, frozenset | set):
        return "{" + ",".join(sorted(_const_repr(c) for c in const)) + "}"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return repr(const)


def _file_bytes(module: types.ModuleType) -> bytes:
    path = getattr(module, "__file__", None)
    return _read(path) if path else b""


_FILES: dict[str, tuple[tuple[int, int, int], bytes]] = {}


def _read(path: str) -> bytes:
    """A file's bytes, read again only when its size, modification time or inode changed
    (one key reads a module once per global it follows there); b"" when it cannot be read.
    The same bytes object comes back, so the caches keyed by a file's text find it at once."""
    import os

    try:
        st = os.stat(path)
    except OSError:
        return b""
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    found = _FILES.get(path)
    if found is not None and found[0] == stamp:
        return found[1]
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return b""
    if len(_FILES) > 1024:
        _FILES.clear()
    _FILES[path] = (stamp, data)
    return data


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable(value: Any) -> bytes:
    """A stable encoding of a value: JSON when it is one, else its type and a repr that does
    not depend on set order or on where the object lives in memory."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        text = _ADDRESS.sub("", _const_repr(value))
        return f"{type(value).__qualname__}:{text}".encode()


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import os
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    # setpoint's own package: the folder above this one
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return tuple(os.path.abspath(r) + os.sep for r in roots)


def _is_user(obj: Any) -> bool:
    """Code of the user's own: it has a source file outside the standard library,
    site-packages and setpoint."""

    if isinstance(obj, types.FunctionType) and not obj.__code__.co_filename.startswith("<"):
        return _user_file(obj.__code__.co_filename)  # the common case, once per file
    if isinstance(obj, type | types.ModuleType):
        try:
            return _user_object(obj)  # a class or module is asked about over and over
        except TypeError:  # unhashable
            pass
    return _source_is_user(obj)


@functools.lru_cache(maxsize=4096)
def _user_object(obj: Any) -> bool:
    return _source_is_user(obj)


def _source_is_user(obj: Any) -> bool:
    import os

    try:
        path = inspect.getsourcefile(obj)
    except (TypeError, OSError):  # built in, or a notebook's __main__ without a file
        return False
    if path is None:
        return False
    path = os.path.abspath(path)
    return not path.startswith(_library_roots())


@functools.lru_cache(maxsize=4096)
def _user_file(filename: str) -> bool:
    """``_is_user`` of a function compiled from this file (as ``inspect.getsourcefile``
    sees it: a file that is not there is no source)."""
    import os

    if not os.path.exists(filename):
        return False
    return not os.path.abspath(filename).startswith(_library_roots())


def user_modules() -> list[types.ModuleType]:
    """The user's own modules now loaded (by the same rule as ``_is_user``); ``__main__``
    is left out, as pickling sends its code by value anyway."""
    import os

    roots = _library_roots()
    found = []
    # A copy made in one step: building a list of items allocates, a collection can run
    # finalizers mid-way, and one that imports would change sys.modules under the loop.
    for name, module in sys.modules.copy().items():
        path = getattr(module, "__file__", None)
        if (
            name == "__main__"
            or not isinstance(module, types.ModuleType)
            or not isinstance(path, str)
            or getattr(module, "__name__", None) != name
        ):
            continue
        if not os.path.abspath(path).startswith(roots):
            found.append(module)
    return found


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

    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return type(value) is int and fits_64_bits(value)
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    if type(value) is list:
        return all(is_json(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return False


def environment(packages: tuple[str, ...]) -> dict[str, str]:
    # setpoint's own code (materializers, standard steps) changes only with its version
    env = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    env["setpoint"] = _version("setpoint")
    for p in packages:
        env[p] = _version(p)
    return env


@functools.lru_cache(maxsize=256)
def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


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
