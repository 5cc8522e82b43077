"""A step's code as a hash: the code part of its cache key (see cache.py).

The code part covers what the step runs, as it runs: its code object (constants, docstring
and parameter names included), the user's wrappers around it (``functools.wraps``) and the
user's classes its annotations name (the code it calls on such an input), and every name it
reads, followed by what the name holds when the key is computed, not by how the source
assigns it: a function or class of the user's in
any module (its loaded code, followed in turn), a module of the user's imported at the top
of a file or inside the step (the whole of it: file, loaded code, submodules; and the
attributes the code may read there), a value by its content (numbers, strings, lists, dicts,
sets in a stable order, numpy arrays, pandas objects, objects of the user's classes by their
attributes, functions in any of these by their code; defaults and closures alike). A class
counts by its source, its methods and properties, the values of its attributes and its user
base classes, not by Python's entries such as ``__module__`` (``__main__`` for a script, the
file's name under the CLI). State the code changes in place (a log it appends to, a memo, an
object its methods change) counts as it was when a key first read it in the process. A
library's object the key cannot read stably counts by the statement assigning it (or its
text). User code is anything outside the standard library, site-packages and setpoint; a
library counts through its version when a step declares it in ``packages``.
"""

from __future__ import annotations

import collections
import enum
import functools
import inspect
import re
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson


def code_hash(fn: Callable[..., Any]) -> str:
    """BLAKE3 of the step's running code and of the user code and values it reaches (see the
    module's note): other steps of the same file can change without this key changing."""
    key = _CodeKey()
    key.stack.extend(_layers(fn))
    key.stack.extend(_annotated_classes(fn))
    while key.stack or key.values:
        while key.stack:
            key.visit(key.stack.pop())
        # values after the code: whether the code changes one in place is known only then
        values, key.values = key.values, []
        for name, value, module, in_source in values:
            key.hash_value(name, value, module, in_source)
    return key.h.hexdigest()


class _CodeKey:
    """The code part of one step's key while it is computed: what is still to visit, the
    values read, and the names the code changes in place."""

    def __init__(self) -> None:
        from blake3 import blake3

        self.h = blake3()
        self.stack: list[Any] = []
        self.seen: set[int] = set()
        self.values: list[tuple[str, Any, str | None, bool]] = []
        self.queued: set[tuple[str, int]] = set()
        self.changed: set[str] = set()

    def visit(self, obj: Any) -> None:
        if id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            # a module used as module.name: all of it (its file, and its loaded code)
            self.h.update(obj.__name__.encode() + _file_bytes(obj))
            for _, value in sorted(vars(obj).items(), key=lambda kv: kv[0]):
                _module_member(self.stack, obj, value)
        elif isinstance(obj, type):
            self.visit_class(obj)
        else:
            self.visit_function(obj)

    def visit_function(self, fn: types.FunctionType) -> None:
        """Its code, defaults, closure and the names it reads, the modules it imports in its
        body included; of a module of the user's, also the attributes it may read there."""
        code = fn.__code__
        _hash_code(self.h, code)
        facts = _facts(code)
        self.changed |= facts.changed
        params = code.co_varnames[: code.co_argcount]
        defaults = fn.__defaults__ or ()
        for name, value in zip(params[len(params) - len(defaults) :], defaults, strict=True):
            self.read(name, value)
        for name, value in (fn.__kwdefaults__ or {}).items():
            self.read(name, value)
        for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.read(name, value)
        module = fn.__globals__.get("__name__")
        # the globals it reads, not every name in co_names: `json.load` or `OBJ.f` read
        # attributes, and a step named `load` or `f` in the same file is not one of them
        modules: list[Any] = []
        for name in sorted(facts.globals - _WHERE_FROM):
            if name in fn.__globals__:
                self.read(name, fn.__globals__[name], module)
                modules.append(fn.__globals__[name])
        modules += self.read_imports(facts.imports, fn.__globals__)
        self.read_module_attributes(modules, sorted(facts.attributes - _WHERE_FROM))

    def read_imports(
        self, imports: tuple[tuple[str, int, tuple[str, ...]], ...], namespace: dict[str, Any]
    ) -> list[Any]:
        """What ``import`` statements in a function's body give (the user's modules among
        them, to read their attributes)."""
        modules: list[Any] = []
        for target, level, fromlist in imports:
            imported = _imported(target, level, namespace)
            if isinstance(imported, str):  # a library's: its version counts, if declared
                self.h.update(b"import:" + imported.encode())
                continue
            if not fromlist:
                imported = sys.modules.get(target.partition(".")[0], imported)  # binds a of a.b
                self.read(imported.__name__, imported)
                modules.append(imported)
            for name in fromlist:
                value = getattr(imported, name, _MISSING)
                if value is _MISSING:  # from package import submodule
                    value = _imported(f"{imported.__name__}.{name}", 0, {})
                if isinstance(value, str):
                    self.h.update(b"import:" + value.encode())
                    continue
                self.read(name, value, imported.__name__)
                modules.append(value)
        return modules

    def read_module_attributes(self, modules: list[Any], names: list[str]) -> None:
        """``module.NAME`` of the user's modules (and their submodules) a function reads:
        the attribute names in its code are all it may read there."""
        done: set[int] = set()
        while modules:
            found = modules.pop()
            if not isinstance(found, types.ModuleType) or id(found) in done:
                continue
            done.add(id(found))
            if not _is_user(found):
                continue
            members = vars(found)
            for name in names:
                if name in members:
                    self.read(name, members[name], found.__name__)
                    modules.append(members[name])

    def visit_class(self, cls: type) -> None:
        """A class by its source (attributes, decorators), its methods and properties followed
        like functions, the values of its other attributes, and its user base classes. Python's
        own entries are left out (``__module__`` is ``__main__`` when the file runs as a script
        and the file's name under the CLI; the docstring counts as part of the source, as a
        function's counts as part of its code)."""
        self.h.update(cls.__qualname__.encode() + _class_source(cls))
        for name, member in sorted(vars(cls).items(), key=lambda kv: kv[0]):
            if isinstance(member, property):
                parts: tuple[Any, ...] = (member.fget, member.fset, member.fdel)
            elif isinstance(member, functools.cached_property):
                parts = (member.func,)
            else:
                parts = (getattr(member, "__func__", member),)  # static and class methods
            functions = [f for p in parts if callable(p) for f in _layers(p)]
            if any(isinstance(f, types.FunctionType) for f in functions):
                self.stack.extend(f for f in functions if isinstance(f, types.FunctionType))
            elif not _python_entry(name) and not _opaque(member):
                # a library's object is in the class's source, which is hashed
                self.read(name, member, in_class=True)
        for base in cls.__bases__:
            if _is_user(base):
                self.stack.append(base)

    def read(
        self, name: str, value: Any, module: str | None = None, *, in_class: bool = False
    ) -> None:
        """A name the code reads (a global of ``module``, an attribute of a class, or else a
        default or a closure's), hashed with what it holds once the code is visited. A
        library's object a module assigns (a model, a connection) counts by the statement
        assigning it, as its content may not be readable the same way in every process."""
        if (name, id(value)) in self.queued:
            return
        self.queued.add((name, id(value)))
        if module is not None and _opaque(value):
            assigned = _assignment(module, name)
            if assigned:
                self.h.update(name.encode() + b"~" + assigned.encode())
                return
        self.values.append((name, value, module, module is not None or in_class))

    def hash_value(self, name: str, value: Any, module: str | None, in_source: bool) -> None:
        """A value by its content now; state the code keeps (a log it appends to, a memo, an
        object whose methods change it) by its content when a key first read it in this
        process, so that running the step does not change its key."""
        keeps = name in self.changed or _keeps_state(value)
        found = (_first_content if keeps else _content)(value, in_source=in_source)
        self.h.update(name.encode() + b"=" + found.digest)
        if found.unread and module is not None:  # a library's object in it
            self.h.update(b"~" + _assignment(module, name).encode())
        self.stack.extend(found.follow)


_MISSING = object()
# where a module was loaded from and as what: `__name__` is `__main__` for a script and the
# file's name under the CLI (a logger named after it does the same work)
_WHERE_FROM = frozenset(
    ("__name__", "__file__", "__cached__", "__spec__", "__loader__", "__package__", "__path__")
)


def _module_member(stack: list[Any], module: types.ModuleType, value: Any) -> None:
    """A module's own functions and classes, and its user submodules, are followed whole
    (a file edited but not reloaded runs the old code: the file and the code both count)."""
    if isinstance(value, types.ModuleType):
        if value.__name__.startswith(module.__name__ + ".") and _is_user(value):
            stack.append(value)  # mypkg.sub.f(), through mypkg
        return
    layers = _layers(value) if callable(value) and not isinstance(value, type) else [value]
    if getattr(layers[-1], "__module__", None) != module.__name__:
        return
    stack.extend(f for f in layers if isinstance(f, types.FunctionType | type))


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


def _python_entry(name: str) -> bool:
    """An entry Python or a library makes in a class: ``__module__``, ``__doc__``,
    ``__dict__``, a dataclass's fields, an Enum's ``_member_map_``, ABC's ``_abc_impl``."""
    return (name.startswith("_") and name.endswith("_") and len(name) > 2) or name == "_abc_impl"


@dataclass(frozen=True, kw_only=True)
class _Facts:
    imports: tuple[tuple[str, int, tuple[str, ...]], ...]  # (module, level, names)
    changed: frozenset[str]  # names of what the code changes in place
    globals: frozenset[str]  # names it reads (or sets) as globals
    attributes: frozenset[str]  # names it reads as attributes (`x.name`, `from m import name`)


# methods that change their object in place
_CHANGING = frozenset(
    (
        *("append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse"),
        *("update", "setdefault", "add", "discard", "difference_update", "intersection_update"),
        *("symmetric_difference_update", "appendleft", "extendleft", "popleft", "rotate"),
        *("fill", "put", "resize", "itemset", "__setitem__", "__delitem__", "__iadd__"),
    )
)


# instructions naming a global (LOAD_NAME and LOAD_FROM_DICT_OR_GLOBALS: in a class body,
# a name the class does not assign is a global) and an attribute (3.12 folds LOAD_METHOD
# into LOAD_ATTR): by name, as opcode numbers change between versions
_GLOBAL_OPS = frozenset(
    ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS", "STORE_GLOBAL", "DELETE_GLOBAL")
)
_ATTRIBUTE_OPS = frozenset(
    ("LOAD_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR", "STORE_ATTR", "DELETE_ATTR", "IMPORT_FROM")
)


@functools.lru_cache(maxsize=4096)
def _facts(code: types.CodeType) -> _Facts:
    """The imports in a code object's body, the names of what it changes in place
    (``x.append(...)``, ``x[k] = v``, ``x.attr = v``, ``global x``) and the names it reads
    as globals and as attributes, nested code included."""
    import dis

    imports: list[tuple[str, int, tuple[str, ...]]] = []
    changed: set[str | None] = set()
    global_names: set[str] = set()
    attributes: set[str] = set()
    ops = list(dis.get_instructions(code))
    for i, op in enumerate(ops):
        if isinstance(op.argval, str):
            if op.opname in _GLOBAL_OPS:
                global_names.add(op.argval)
            elif op.opname in _ATTRIBUTE_OPS:
                attributes.add(op.argval)
        if op.opname == "IMPORT_NAME" and i >= 2:
            level, fromlist = ops[i - 2].argval, ops[i - 1].argval
            names = tuple(fromlist) if isinstance(fromlist, tuple) else ()
            imports.append((op.argval, level if isinstance(level, int) else 0, names))
        elif i >= 1 and (
            op.opname in ("STORE_ATTR", "DELETE_ATTR")
            or (op.opname in ("LOAD_METHOD", "LOAD_ATTR") and op.argval in _CHANGING)
        ):
            changed.add(_loaded(ops[i - 1]))
        elif op.opname in ("STORE_SUBSCR", "DELETE_SUBSCR"):
            changed.add(_subscripted(ops, i))
        elif op.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") or (
            op.opname == "STORE_DEREF" and op.argval in code.co_freevars
        ):
            changed.add(op.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions and comprehensions
            inner = _facts(const)
            imports.extend(inner.imports)
            changed |= inner.changed
            global_names |= inner.globals
            attributes |= inner.attributes
    changed.discard(None)
    return _Facts(
        imports=tuple(imports),
        changed=frozenset(n for n in changed if n),
        globals=frozenset(global_names),
        attributes=frozenset(attributes),
    )


def _loaded(op: Any) -> str | None:
    """The name an instruction loads (the last one of a superinstruction's)."""
    if not op.opname.startswith("LOAD"):
        return None
    value = op.argval[-1] if isinstance(op.argval, tuple) and op.argval else op.argval
    return value if isinstance(value, str) else None


def _subscripted(ops: list[Any], i: int) -> str | None:
    """What ``x[key] = v`` at ``ops[i]`` changes: loaded just before the key's instructions,
    found by their effect on the stack (None when that is not plain)."""
    import dis

    depth = 0
    for j in range(i - 1, max(i - 16, 0), -1):
        try:
            depth += dis.stack_effect(ops[j].opcode, ops[j].arg, jump=False)
        except (ValueError, TypeError):
            return None
        if depth == 1:
            return _loaded(ops[j - 1])
    return None


def _imported(name: str, level: int, namespace: dict[str, Any]) -> types.ModuleType | str:
    """The user's module an ``import`` in a function's body gives, loaded already or imported
    now (as the step would when it runs); a library's module, or one not found, by its name
    (whether it is loaded here or not: a library's is not imported for a key)."""
    import importlib
    import importlib.util

    try:
        if level:
            name = importlib.util.resolve_name("." * level + name, namespace.get("__package__"))
        if not _user_package(name.partition(".")[0]):
            return name
        module = sys.modules.get(name)
        return module if module is not None else importlib.import_module(name)
    except Exception:  # whatever the module raises: the step itself fails with it
        return name


def _user_package(name: str) -> bool:
    """Whether a top-level module is the user's, by its file, imported or not."""
    import importlib.util
    import os

    module = sys.modules.get(name)
    if module is not None:
        return _is_user(module)
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    locations = list(spec.submodule_search_locations or ())
    path = spec.origin if spec.has_location and spec.origin else (locations or [""])[0]
    if not path or not os.path.isabs(path):  # built in, frozen
        return False
    return not os.path.abspath(path).startswith(_library_roots())


def _keeps_state(value: Any) -> bool:
    """An object of the user's whose methods, other than those making it, change it: a model
    loaded on first use, a counter."""
    cls = type(value)
    if not _by_attributes(cls):
        return False
    attributes = getattr(value, "__dict__", None)
    if not isinstance(attributes, dict):
        return False
    for klass in cls.__mro__:
        if not _by_attributes(klass):  # a library's base class: its business
            continue
        for name, member in vars(klass).items():
            fn = getattr(member, "__func__", member)
            if name in _MAKERS or not isinstance(fn, types.FunctionType):
                continue
            code = fn.__code__
            changed = _facts(code).changed
            if (code.co_argcount and code.co_varnames[0] in changed) or not changed.isdisjoint(
                attributes
            ):
                return True
    return False


_MAKERS = frozenset(("__init__", "__new__", "__post_init__", "__setstate__", "__init_subclass__"))


def _by_attributes(cls: type) -> bool:
    """Whether an object of this class is hashed by its attributes: a class of the user's,
    or of a notebook (``__main__`` without a file)."""
    return _is_user(cls) or getattr(cls, "__module__", None) == "__main__"


_FIRST: dict[tuple[int, bool], tuple[Any, _Content]] = {}


def _first_content(value: Any, *, in_source: bool) -> _Content:
    """``_content`` of a value as a key first read it in this process (the object is held,
    so its id is not another's)."""
    found = _FIRST.get((id(value), in_source))
    if found is not None and found[0] is value:
        return found[1]
    content = _content(value, in_source=in_source)
    if len(_FIRST) > 4096:
        _FIRST.clear()
    _FIRST[(id(value), in_source)] = (value, content)
    return content


@dataclass(frozen=True, kw_only=True)
class _Content:
    digest: bytes  # the same in every process
    follow: tuple[Any, ...]  # user code in it, to visit
    unread: bool  # it holds a library's object counted by its type only


def _content(value: Any, *, in_source: bool) -> _Content:
    """A value's content. ``in_source``: a statement or class source that is hashed too
    assigns it, so a library's object inside counts by its type (its text may name the
    module, ``__main__`` or not, or differ between processes); else by ``_stable``."""
    from blake3 import blake3

    encoder = _Encoder(in_source=in_source)
    encoder.value(value, 0)
    return _Content(
        digest=blake3(b"".join(encoder.out)).digest(),
        follow=tuple(dict.fromkeys(encoder.follow)),  # each once
        unread=encoder.unread,
    )


_DEPTH = 100  # deeper than this, a value counts by its type (no recursion error)
_CODE = (types.FunctionType, type, types.ModuleType, types.BuiltinFunctionType)
_HOLDERS = (list, tuple, collections.deque, dict, set, frozenset)
_SCALARS = (int, float, complex, str, bytes, bytearray)
_READABLE = (*_SCALARS, *_HOLDERS, enum.Enum, functools.partial, types.MethodType)
_JSON_HOLDERS = (list, tuple, dict)
# anything but str, int, float, bool, None, list, tuple and dict raises (an enum counts by
# its value; NaN and infinities as null)
_PLAIN_JSON = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# the standard library's values whose text is all of them, in every process
_TEXT_VALUES = frozenset(
    (
        *("datetime.date", "datetime.datetime", "datetime.time", "datetime.timedelta"),
        *("datetime.timezone", "decimal.Decimal", "fractions.Fraction", "uuid.UUID"),
        *("pathlib.PurePath", "re.Pattern", "builtins.range", "builtins.slice"),
    )
)


class _Encoder:
    """Writes a value's content to ``out``: functions, classes and modules by name (the
    user's also go on ``follow``, to be hashed by their code); containers, numpy arrays,
    pandas objects and objects of the user's classes by what they hold; other objects as
    ``_content`` says. ``active`` holds the values being written (a cycle is marked, not
    followed)."""

    def __init__(self, *, in_source: bool) -> None:
        self.in_source = in_source
        self.out: list[bytes] = []
        self.follow: list[Any] = []
        self.active: set[int] = set()
        self.unread = False

    def value(self, value: Any, depth: int) -> None:
        kind = type(value)
        out = self.out
        if value is None or kind is bool or kind is int or kind is float or kind is complex:
            out.append(f"{kind.__name__}:{value!r};".encode())
            return
        if kind is str:
            data = value.encode("utf-8", "surrogatepass")
            out.append(b"str:%d:" % len(data) + data)
            return
        if kind is bytes or kind is bytearray:
            out.append(b"%s:%d:" % (kind.__name__.encode(), len(value)) + bytes(value))
            return
        if isinstance(value, enum.Enum):
            out.append(b"enum:")
            self.reference(kind)
            out.append(value.name.encode() + b";")
            return
        if isinstance(value, functools.partial):
            out.append(b"partial(")
            self.value((value.func, value.args, value.keywords), depth + 1)
            out.append(b")")
            return
        target = _code_of(value)
        if isinstance(target, _CODE):
            self.reference(target)
            if target is not value:  # the user's wrappers around it, and overloads
                self.follow.extend(_layers(value)[:-1])
            return
        if id(value) in self.active:
            out.append(b"<cycle>;")
            return
        if depth > _DEPTH:
            out.append(b"<deep:" + kind.__qualname__.encode() + b">;")
            return
        self.active.add(id(value))
        try:
            self.holder(value, depth + 1)
        finally:
            self.active.discard(id(value))

    def reference(self, target: Any) -> None:
        """A function, class or module by name; a user's by its qualified name without its
        module's (``__main__`` for a script, the file's name under the CLI), and visited."""
        user = not isinstance(target, types.BuiltinFunctionType) and _is_user(target)
        if isinstance(target, types.ModuleType):
            text = target.__name__
        elif user:
            text = target.__qualname__
        else:
            qualname = getattr(target, "__qualname__", None) or repr(target)
            text = f"{getattr(target, '__module__', '')}.{qualname}"
        self.out.append(b"<" + text.encode() + b">")
        if user:
            self.follow.append(target)

    def holder(self, value: Any, depth: int) -> None:
        """A value that holds others, or an object."""
        kind = type(value)
        name = kind.__qualname__.encode()
        if isinstance(value, types.MethodType):
            self.out.append(b"method(")
            self.value((value.__func__, value.__self__), depth)
            self.out.append(b")")
        elif isinstance(value, _HOLDERS):
            self.container(value, depth)
        elif self.array(value, depth):
            pass
        elif isinstance(value, _SCALARS):  # a subclass of one
            self.out.append(name + b":" + _stable(value))
        elif _by_attributes(kind):
            self.reference(kind)
            attributes = getattr(value, "__dict__", None)
            if isinstance(attributes, dict):
                self.value(attributes, depth)
            for klass in kind.__mro__:
                slots = vars(klass).get("__slots__", ())
                for slot in (slots,) if isinstance(slots, str) else slots:
                    if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                        self.out.append(slot.encode() + b"=")
                        self.value(getattr(value, slot), depth)
        elif any(f"{k.__module__}.{k.__qualname__}" in _TEXT_VALUES for k in kind.__mro__):
            self.out.append(_stable(value))
        elif self.in_source and depth > 1:
            self.unread = True  # the statement assigning the whole counts instead
            self.out.append(f"<{kind.__module__}.{kind.__qualname__}>".encode())
        else:
            self.out.append(_stable(value))

    def container(self, value: Any, depth: int) -> None:
        kind = type(value)
        name = kind.__qualname__.encode()
        out = self.out
        if _by_attributes(kind):
            self.reference(kind)
        elif isinstance(value, _JSON_HOLDERS):
            try:  # plain JSON (a vocabulary, a table of numbers): 30 times faster
                out.append(name + b"=json:" + orjson.dumps(value, option=_PLAIN_JSON))
                return
            except TypeError:  # a set, a function, an object in it: item by item
                pass
        if isinstance(value, dict):
            out.append(name + b"{")
            for k, v in value.items():  # in order: the order code iterates them in
                self.value(k, depth)
                out.append(b":")
                self.value(v, depth)
            out.append(b"}")
            if isinstance(value, collections.defaultdict):
                self.value(value.default_factory, depth)
        elif isinstance(value, set | frozenset):
            if all(type(item) is str for item in value):
                try:  # a vocabulary: 10 times faster
                    out.append(name + b"=json:" + orjson.dumps(sorted(value)))
                    return
                except TypeError:  # a lone surrogate
                    pass
            items = []
            for item in value:  # sorted: set order changes with string hashing
                encoder = _Encoder(in_source=self.in_source)
                encoder.active = self.active
                encoder.value(item, depth)
                self.unread |= encoder.unread
                items.append((b"".join(encoder.out), encoder.follow))
            items.sort(key=lambda pair: pair[0])
            out.append(name + b"{" + b"".join(data for data, _ in items) + b"}")
            for _, follow in items:
                self.follow.extend(follow)
        else:
            out.append(name + b"[")
            for item in value:
                self.value(item, depth)
            out.append(b"]")

    def array(self, value: Any, depth: int) -> bool:
        """A numpy array or scalar, or a pandas DataFrame, Series or Index, by its content
        (only when the library is loaded already: nothing else can make one)."""
        np = sys.modules.get("numpy")
        if np is not None and isinstance(value, np.ndarray | np.generic):
            from blake3 import blake3

            array = np.asarray(value)
            head = f"ndarray:{array.dtype.str}:{array.dtype}:{array.shape}:".encode()
            if array.dtype.hasobject:
                self.out.append(head)
                self.value(array.tolist(), depth)
            else:
                self.out.append(head + blake3(np.ascontiguousarray(array).tobytes()).digest())
            return True
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(value, pd.DataFrame | pd.Series | pd.Index):
            return False
        try:
            rows = pd.util.hash_pandas_object(value, index=not isinstance(value, pd.Index))
        except (TypeError, ValueError):  # cells that cannot be hashed (lists)
            self.out.append(_stable(value))
            return True
        from blake3 import blake3

        name = type(value).__qualname__.encode()
        self.out.append(name + blake3(rows.to_numpy().tobytes()).digest())
        columns = list(value.columns) if isinstance(value, pd.DataFrame) else [value.name]
        dtypes = list(value.dtypes) if isinstance(value, pd.DataFrame) else [value.dtype]
        self.value((columns, [str(d) for d in dtypes]), depth)
        return True


def _annotated_classes(fn: Callable[..., Any]) -> list[type]:
    """The user's classes the step's annotations name (``m: Scorer``, ``list[Scorer]``):
    what the step calls on such an input is their code, which the input's stored bytes do not
    show (a pickle names a class, not its code)."""
    import typing

    inner = inspect.unwrap(fn)
    try:
        hints = list(typing.get_type_hints(inner).values())
    except Exception:  # a name the annotations use that is not defined where they are
        hints = [
            h for h in getattr(inner, "__annotations__", {}).values() if not isinstance(h, str)
        ]
    found: list[type] = []
    while hints:
        hint = hints.pop()
        if isinstance(hint, type) and _is_user(hint):
            found.append(hint)
        origin = typing.get_origin(hint)  # Batch of Batch[Item]
        if origin is not None and origin is not hint:
            hints.append(origin)
        hints.extend(typing.get_args(hint))
    return found


def _layers(value: Any) -> list[Any]:
    """What runs when ``value`` is called, as code to follow: each function of the user's in
    its chain of wrappers (a decorator's own wrapper, which ``functools.wraps`` hides behind
    ``__wrapped__``), the overloads of the user's a ``singledispatch`` function holds, and last
    the innermost function (``inspect.unwrap``'s)."""
    out: list[Any] = []
    seen: set[int] = set()
    layer = value
    while id(layer) not in seen:
        seen.add(id(layer))
        registry = getattr(layer, "registry", None)
        if callable(getattr(layer, "dispatch", None)) and isinstance(registry, Mapping):
            out += [
                f for f in registry.values() if isinstance(f, types.FunctionType) and _is_user(f)
            ]
        inner = getattr(layer, "__wrapped__", None)
        if inner is None:
            break
        if isinstance(layer, types.FunctionType) and _is_user(layer):
            out.append(layer)
        layer = inner
    out.append(layer)
    return out


def _code_of(value: Any) -> Any:
    """The function behind a step object or a wrapper such as ``lru_cache`` (else the value)."""
    if str(getattr(type(value), "__module__", "")).startswith("setpoint."):
        fn = getattr(value, "fn", None)  # a step used as a function: its function
        if isinstance(fn, types.FunctionType):
            return fn
    if callable(value) and not isinstance(value, type) and hasattr(value, "__wrapped__"):
        return inspect.unwrap(value)
    return value


def _opaque(value: Any) -> bool:
    """A library's object the key cannot read as data (a model, a connection)."""
    if value is None or isinstance(value, _READABLE):
        return False
    if isinstance(_code_of(value), _CODE) or _by_attributes(type(value)):
        return False
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    if np is not None and isinstance(value, np.ndarray | np.generic):
        return False
    return pd is None or not isinstance(value, pd.DataFrame | pd.Series | pd.Index)


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
