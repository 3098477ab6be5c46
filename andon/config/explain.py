"""Turn a pydantic error into a key path in the file and words an engineer acts on (nearest valid key or type)."""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from andon.config.schema import Config

# Which kind of driver a discriminated union under this key picks.
DRIVER_KINDS = {"sources": "source", "stack_light": "stack light", "buttons": "andon button"}


def nearest(word: str, choices: list[str]) -> str | None:
    """Return the choice closest to a misspelt word, if one is close enough."""
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if found:
        return found[0]
    lowered = {c.lower(): c for c in choices}
    return lowered.get(word.lower())


def data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union tags (the driver type names) from an error location."""
    path: list[Any] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and current.get("type") == part:
            continue
        else:
            path.append(part)
            current = None
    return tuple(path)


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _narrow(annotation: Any, value: Any) -> Any:
    """Pick the union member a value is meant for (a driver by its ``type``; else the one non-null)."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) == 1:
        return members[0]
    if isinstance(value, dict):
        for member in members:
            is_driver = isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields
            if is_driver and member.model_fields["type"].default == value.get("type"):
                return member
    return None


def _field(model: type[BaseModel], key: Any) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field.annotation
    return None


def model_at(path: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    """Return the config model whose mapping sits at ``path`` in the file's data."""
    annotation: Any = Config
    value = data
    for part in path:
        annotation = _narrow(annotation, value)
        if annotation is None:
            return None
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _field(annotation, part)
        elif origin in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None
        value = value[part] if isinstance(value, dict | list) and _has(value, part) else None
    final = _narrow(annotation, value)
    return final if isinstance(final, type) and issubclass(final, BaseModel) else None


def _has(container: dict[Any, Any] | list[Any], part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(part, int) and 0 <= part < len(container)


def keys_of(model: type[BaseModel]) -> list[str]:
    """Return the keys a model accepts, as written in the file."""
    return [field.alias or name for name, field in model.model_fields.items()]


def explain_all(error: Any, data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Return ``explain``'s answer, then those of the errors a cross-field error carries (``several``)."""
    found = [explain(error, data)]
    base = data_path(tuple(error["loc"]), data)
    for message, at in (error.get("ctx") or {}).get("also", ()):
        found.append(((*base, *at), str(message)))
    return found


def explain(error: Any, data: Any) -> tuple[tuple[Any, ...], str]:
    """Return the key path of one validation error and its message, with the nearest valid choice."""
    path = data_path(tuple(error["loc"]), data)
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        model = model_at(path[:-1], data)
        guess = nearest(str(path[-1]), keys_of(model)) if model is not None else None
        return path, "unknown key" + (f"; did you mean {guess}?" if guess else "")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        what = DRIVER_KINDS.get(next((p for p in reversed(path) if isinstance(p, str)), ""), "driver")
        types_ = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        listed = ", ".join(sorted(types_))
        if kind == "union_tag_not_found":
            return path, f"no type: give the {what} type, one of {listed}"
        tag = str(ctx.get("tag"))
        guess = nearest(tag, types_)
        hint = f"did you mean {guess}?" if guess else f"the {what} types are {listed}"
        return (*path, "type"), f"unknown {what} type {tag!r}; {hint}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        value = error.get("input")
        guess = nearest(str(value), choices) if isinstance(value, str) and choices else None
        if guess is not None:
            message += f"; did you mean {guess}?"
    at = ctx.get("at")
    if isinstance(at, tuple):
        path = (*path, *at)
    return path, message
