"""Byte-stable skops files: the same model written in any process gives the same bytes, so
its digest (part of downstream steps' cache keys) changes only when the model does."""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

SCHEMA = "schema.json"
# Zip's earliest date; entries carry no clock time, so writing again gives the same bytes.
EPOCH = (1980, 1, 1, 0, 0, 0)
MODE = 0o644 << 16  # a plain readable file, not the writer's umask
UNIX = 3  # the "made by" system: fixed, so Windows and Linux write the same header


def dump(model: Any, path: str) -> None:
    """Write ``model`` to ``path`` as skops.io.dump does, in its canonical form."""
    import skops.io

    buffer = io.BytesIO()
    skops.io.dump(model, buffer)
    with open(path, "wb") as f:
        f.write(canonical(buffer.getvalue()))


def canonical(data: bytes) -> bytes:
    """A skops file's bytes with what skops takes from the process made stable: object ids
    (``__id__`` and the array files named after them) and uuid file names become numbers in
    schema order, sets are listed sorted, and the zip holds no times. skops.io.load reads it
    as the original: ids only need to be the same where objects were shared."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    schema = json.loads(members.pop(SCHEMA))
    _sort_sets(schema)
    ids: dict[int, int] = {}
    names: dict[str, str] = {}
    _renumber(schema, ids, names, members)
    out = {names.get(name, name): _stable_member(name, body) for name, body in members.items()}
    if len(out) < len(members):  # a file the schema does not name took a new name
        return data
    # skops.io.dump's own layout, so the text reads as before.
    out[SCHEMA] = (json.dumps(schema, indent=2).encode("utf-8"), zipfile.ZIP_STORED)
    return _write_zip(out)


def _sort_sets(state: Any) -> None:
    """Put each set's items in one order (skops lists them in iteration order, which string
    hashing changes from process to process); innermost sets first, so the keys are final."""
    if isinstance(state, dict):
        for value in state.values():
            _sort_sets(value)
        items = _set_items(state)
        if items is not None:
            items.sort(key=_sort_key)
    elif isinstance(state, list):
        for item in state:
            _sort_sets(item)


def _set_items(state: dict[str, Any]) -> list[Any] | None:
    """The list of a set's (or frozenset's) items in its state, else None."""
    content: Any = state.get("content")
    if state.get("__loader__") == "SetNode":
        return content if isinstance(content, list) else None
    if (state.get("__module__"), state.get("__class__")) != ("builtins", "frozenset"):
        return None
    try:  # reduced to frozenset(items): a tuple holding the list of items
        items = content["content"][0]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return items if isinstance(items, list) else None


def _sort_key(state: Any) -> str:
    return json.dumps(_without_ids(state), sort_keys=True)


def _without_ids(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _without_ids(v) for k, v in state.items() if k not in ("__id__", "file")}
    if isinstance(state, list):
        return [_without_ids(v) for v in state]
    return state


def _renumber(
    state: Any, ids: dict[int, int], names: dict[str, str], members: dict[str, bytes]
) -> None:
    """Number ids and member files in the order the schema first names them, from 1 (skops
    treats an id of 0 as none)."""
    if isinstance(state, list):
        for item in state:
            _renumber(item, ids, names, members)
        return
    if not isinstance(state, dict):
        return
    old = state.get("__id__")
    if isinstance(old, int) and not isinstance(old, bool):
        state["__id__"] = ids.setdefault(old, len(ids) + 1)
    file = state.get("file")
    if isinstance(file, str) and file in members:
        if file not in names:
            names[file] = f"{len(names) + 1}{os.path.splitext(file)[1]}"
        state["file"] = names[file]
    for value in state.values():
        _renumber(value, ids, names, members)


def _stable_member(name: str, body: bytes) -> tuple[bytes, int]:
    """The member's bytes (a sparse matrix's .npz, a zip of its own, without its times) and
    its compression (skops stores members as they are)."""
    if not name.endswith(".npz"):
        return body, zipfile.ZIP_STORED
    with zipfile.ZipFile(io.BytesIO(body)) as inner:
        entries = {
            info.filename: (inner.read(info), info.compress_type) for info in inner.infolist()
        }
    return _write_zip(entries), zipfile.ZIP_STORED


def _write_zip(entries: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in sorted(entries):
            body, method = entries[name]
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = method
            info.external_attr = MODE
            info.create_system = UNIX
            out.writestr(info, body)
    return buffer.getvalue()
