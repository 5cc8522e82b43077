"""YAML as setpoint reads the documents users write (validation suites, promotion policies):
PyYAML's safe subset without aliases and without a key given twice in one mapping (PyYAML
keeps the last silently: a second ``gates:`` would drop the first one's gates), and every
value a tag cannot build an error of YAML.

An alias (``*name``) repeats a node: a few hundred bytes of aliases nested in aliases
stand for billions of values, and one that refers to itself never ends. Nothing in a suite
or a policy needs them."""

from __future__ import annotations

from typing import Any

import yaml


class Loader(yaml.SafeLoader):
    """The safe loader, refusing aliases and repeated keys where they appear (with their
    line)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                except TypeError:  # unhashable: the safe loader says so itself
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key!r} appears twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def problem(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """(line, what is wrong) of a YAML error; the line (1-based) when PyYAML knows it."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return (None if mark is None else mark.line + 1), str(exc.problem or exc.context)
    return None, str(exc)


def compose(text: str) -> Any:
    """The node tree of ``text`` (None when empty); raises yaml.YAMLError."""
    return yaml.compose(text, Loader=Loader)


def load(text: str) -> Any:
    """The value of ``text``; raises yaml.YAMLError, also for a value its tag cannot build
    (``!!int abc``, ``!!timestamp soon``)."""
    try:
        return yaml.load(text, Loader=Loader)  # the safe loader, without aliases
    except (ValueError, TypeError, AttributeError) as exc:
        raise yaml.YAMLError(f"a value cannot be read: {exc}") from None
