"""Safe YAML: no Python tags, no duplicate keys; every problem a ConfigError naming the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from xaicli.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_VALUES = 100_000  # values in a document once its aliases are expanded (a config has a few hundred)
MAX_DEPTH = 50  # levels of nesting
MAX_DIGITS = 1000  # digits of an integer


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    """Duplicate explicit keys are refused; merge keys (`<<: *base`) are merged, explicit keys winning."""
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, found {key!r}", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> int:
    if sum(c.isdigit() for c in node.value) > MAX_DIGITS:
        raise yaml.constructor.ConstructorError(None, None, f"an integer of more than {MAX_DIGITS} digits",
                                                node.start_mark)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def check_size(root: yaml.Node | None, source: str) -> None:
    """Refuse a document that aliases expand beyond MAX_VALUES values or that nests beyond MAX_DEPTH,
    before anything is built from it (an alias bomb would otherwise hang `xai config` as it grows)."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep; a config is a few levels")
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_VALUES:
                raise ConfigError(f"{source}: expands to more than {MAX_VALUES:,} values through its aliases "
                                  f"(&anchor / *alias); refused")
        elif id(node) not in sizes:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML with the safe loader (no Python tags), refusing duplicate keys, alias bombs, deep
    nesting and huge integers with a ConfigError."""
    loader = None
    try:
        loader = _UniqueKeyLoader(text)  # a SafeLoader: no Python tags, no arbitrary objects
        node = loader.get_single_node()
        check_size(node, source)
        return loader.construct_document(node) if node is not None else None
    except RecursionError:
        raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep; a config is a few levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}:{where} invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml_file(path: str | Path) -> dict:
    """Read a config file into a dict; every problem becomes a ConfigError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a YAML config file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        raise ConfigError(f"{path}: the file is empty; expected a mapping of config sections")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections at the top level, "
                          f"found a {type(data).__name__}")
    return data
