"""Load a YAML config, fill ${ENV} secrets, validate it, and map errors to YAML lines."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from andon.config.explain import explain_all
from andon.config.schema import Config

# ${NAME} must be set; ${NAME:-default} falls back to the default when NAME is unset or empty (as in sh).
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file: where (line, key path) and what."""

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.path or '(top)'}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` lists every error found."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def _lines_by_path(
    node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int], twice: list[ConfigProblem]
) -> None:
    """Note the line of every key and item; a key given twice in one mapping is a problem (YAML keeps the last)."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if (*path, key) in out:
                twice.append(ConfigProblem(line, _format_path((*path, key)),
                                           f"key given twice (first on line {out[(*path, key)]}); give it once"))
                continue
            out[(*path, key)] = line
            _lines_by_path(value_node, (*path, key), out, twice)
            out[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines_by_path(item, (*path, index), out, twice)


def _expand_env(data: Any, path: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]]) -> Any:
    if isinstance(data, dict):
        return {k: _expand_env(v, (*path, k), problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_expand_env(v, (*path, i), problems) for i, v in enumerate(data)]
    if isinstance(data, str):
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if default is not None and not value:
                return default
            if value is None:
                problems.append((path, f"environment variable {name} is not set (write ${{{name}:-default}} "
                                       "to give a default)"))
                return ""
            return value

        return _ENV.sub(replace, data)
    return data


def _format_path(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _nearest_line(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


MAX_VALUES = 100_000  # what a plant's config holds many times over; YAML aliases can multiply a small file


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Return how many values a node stands for once its aliases are expanded (a cycle raises ValueError)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ValueError("a YAML alias refers to the value it is part of")
    open_nodes.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes)
        if total > MAX_VALUES:
            break
    open_nodes.discard(key)
    sizes[key] = total
    return total


def _not_text(data: Any, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], str]]) -> None:
    """Note every key or value holding a lone surrogate (YAML's "\\ud800"): no page, log or database takes it."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        for text in (key, value):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    out.append(((*path, key), "holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
                                              "write the character itself"))
        _not_text(value, (*path, key), out)


def parse_config(text: str, source: str = "<config>") -> Config:
    """Validate config text; raise ConfigError listing every problem with its YAML line."""
    try:
        node = yaml.compose(text)
        if node is not None and _expanded_size(node, {}, set()) > MAX_VALUES:
            raise ConfigError(source, [ConfigProblem(None, "", f"expands through YAML aliases to more than "
                                                               f"{MAX_VALUES:,} values; write it out")])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigProblem(line, "", f"not valid YAML: {what}")]) from None
    except (ValueError, RecursionError) as exc:
        what = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise ConfigError(source, [ConfigProblem(None, "", f"not valid config: {what}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem(1, "", "the file must be a mapping of sections")])
    lines: dict[tuple[Any, ...], int] = {}
    problems: list[ConfigProblem] = []
    if node is not None:
        _lines_by_path(node, (), lines, problems)
    env_problems: list[tuple[tuple[Any, ...], str]] = []
    _not_text(data, (), env_problems)
    data = _expand_env(data, (), env_problems)
    problems += [ConfigProblem(lines.get(p), _format_path(p), m) for p, m in env_problems]
    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            for path, message in explain_all(error, data):
                problems.append(ConfigProblem(_nearest_line(path, lines), _format_path(path), message))
    if problems:
        # In file order, so an engineer works down the file; problems without a line come last.
        problems.sort(key=lambda p: p.line if p.line is not None else 1 << 30)
        raise ConfigError(source, problems)
    assert config is not None
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate a config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [ConfigProblem(None, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), [ConfigProblem(None, "", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                                          f"at offset {exc.start}); save it as UTF-8")]) from None
    return parse_config(text, str(p))
