"""YAML to plain data, remembering the line:column of every node (yaml.compose keeps marks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data plus where each part was written."""

    data: Any
    values: dict[Path_, str] = field(default_factory=dict)
    """Path (keys and list indexes) → 'file:line:column' of the value."""
    keys: dict[Path_, str] = field(default_factory=dict)
    """Path → 'file:line:column' of the mapping key that names it."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(location, key) of keys given twice in one mapping."""

    def where(self, path: Path_) -> str:
        """The location of `path`, or of its nearest written parent."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return next(iter(self.values.values()))

    def key_where(self, path: Path_) -> str:
        return self.keys.get(path) or self.where(path)


def mark(source: str, node_mark: yaml.Mark | None) -> str:
    if node_mark is None:
        return f"{source}:1:1"
    return f"{source}:{node_mark.line + 1}:{node_mark.column + 1}"


def compose(text: str, source: str) -> Located | None:
    """Parse one YAML document; None when it is empty. yaml.YAMLError propagates."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    located = Located(None)
    constructor = yaml.SafeLoader("")
    try:
        located.data = _convert(node, (), source, located, constructor)
    finally:
        constructor.dispose()
    return located


def _convert(
    node: yaml.Node, path: Path_, source: str, located: Located, constructor: yaml.SafeLoader
) -> Any:
    located.values[path] = mark(source, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                key = str(key)
            if key in result:
                located.duplicates.append((mark(source, key_node.start_mark), str(key)))
            located.keys[(*path, key)] = mark(source, key_node.start_mark)
            result[key] = _convert(value_node, (*path, key), source, located, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, index), source, located, constructor)
            for index, item in enumerate(node.value)
        ]
    return constructor.construct_object(node, deep=True)
