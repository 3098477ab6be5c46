"""Write the configuration reference (docs/config-reference.md) from the config models themselves."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from andon.config.bases import ButtonConfigBase, SourceConfigBase, StackLightConfigBase
from andon.config.schema import Config
from devices import catalog

# Units read from a key's name; a field may say its own with json_schema_extra={"unit": ...}.
UNIT_SUFFIXES = (("_seconds", "s"), ("_minutes", "min"), ("_hz", "Hz"), ("_bytes", "bytes"))

INTRO = """\
# Configuration reference

Every key of the configuration file, with its type, default, unit and meaning: every section, and every
type of count source, stack light and andon button. This page is generated from the config models
(`andon config-reference -o docs/config-reference.md`); a test fails when it differs from them, so edit
the models' descriptions, not this page. `config/example.yaml` shows the keys in use.

- Unknown keys are errors, and so are values outside the range given under *type*. `andon check-config
  CONFIG` lists every error with its YAML line, and suggests the nearest valid key or type.
- *required* keys have no default. `null` means not set.
- `${NAME}` anywhere in a value reads the environment variable NAME (an error when it is unset);
  `${NAME:-default}` gives `default` when NAME is unset or empty.
- Units: s seconds, min minutes, Hz per second, parts counted parts. Times of day are local plant time
  (`plant.timezone`), written `"HH:MM"` in quotes.
"""


@dataclass(frozen=True)
class DriverFamily:
    """One kind of driver (count source, stack light, andon button) and where it sits in the file."""

    title: str
    one: str
    where: str
    base: type[BaseModel]
    drivers: dict[str, catalog.Driver]


def _families() -> list[DriverFamily]:
    return [
        DriverFamily("Count sources", "Count source", "lines[].sources[]", SourceConfigBase, catalog.sources()),
        DriverFamily("Stack lights", "Stack light", "lines[].stack_light", StackLightConfigBase, catalog.lights()),
        DriverFamily("Andon buttons", "Andon button", "lines[].andon.buttons[]", ButtonConfigBase,
                     catalog.buttons()),
    ]


def _driver_models() -> dict[type[BaseModel], str]:
    return {d.config_model: f.where for f in _families() for d in f.drivers.values()}


def _parts(annotation: Any) -> list[Any]:
    """Split a union (X | Y, Optional, Annotated unions) into its members."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _parts(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [p for arg in get_args(annotation) for p in _parts(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    """Say whether an annotation is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    """Return the models a key holds: itself, a list's items, a mapping's values."""
    found: list[type[BaseModel]] = []
    for part in _parts(annotation):
        origin = get_origin(part)
        if _is_model(part):
            found.append(part)
        elif origin in (list, dict):
            found.extend(_inner_models(get_args(part)[-1]))
    return found


def _type_text(annotation: Any, sections: dict[type[BaseModel], str]) -> str:
    parts = _parts(annotation)
    if len(parts) > 1:
        drivers = _driver_models()
        models = [p for p in parts if p is not type(None)]
        if all(p in drivers for p in models):
            nullable = " or null" if len(models) < len(parts) else ""
            return f"one of the types under `{drivers[models[0]]}`{nullable}"
        return " or ".join(_type_text(p, sections) for p in parts)
    (part,) = parts
    origin = get_origin(part)
    if part is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(part))
    if origin is list:
        return f"list of {_type_text(get_args(part)[0], sections)}"
    if origin is dict:
        key, value = get_args(part)
        return f"mapping of {_type_text(key, sections)} to {_type_text(value, sections)}"
    if _is_model(part):
        drivers = _driver_models()
        if part in drivers:
            return f"one of the types under `{drivers[part]}`"
        return f"mapping, see `{sections.get(part, part.__name__)}`"
    names = {str: "text", int: "integer", float: "number", bool: "true or false"}
    return names.get(part, getattr(part, "__name__", str(part)))


def _range_text(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        for kind, attribute, sign in (("Ge", "ge", "≥"), ("Gt", "gt", ">"), ("Le", "le", "≤"), ("Lt", "lt", "<")):
            if isinstance(item, getattr(annotated_types, kind)):
                bounds.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
            bounds.append(f"at least {item.min_length} long")
        pattern = getattr(item, "pattern", None)
        if pattern:
            bounds.append(f"matching `{pattern}`")
    return ", ".join(bounds)


def _value_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    elif isinstance(value, list):
        value = [v.model_dump(mode="json", exclude_defaults=True) if isinstance(v, BaseModel) else v for v in value]
    if isinstance(value, str) and not value.isprintable():
        return f"`{json.dumps(value)}`"
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    text = text.removesuffix("\n...").strip()
    return f"`{text}`"


def _default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return _value_text(field.default_factory())  # type: ignore[call-arg]
    if field.default is PydanticUndefined:
        return "*required*"
    return _value_text(field.default)


def _unit(name: str, field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "unit" in extra:
        return str(extra["unit"])
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(fields: dict[str, FieldInfo], sections: dict[type[BaseModel], str]) -> list[str]:
    rows = ["| key | type | default | unit | meaning |", "|---|---|---|---|---|"]
    for name, field in fields.items():
        kind = _type_text(field.annotation, sections)
        limits = _range_text(field)
        if limits:
            kind = f"{kind}, {limits}"
        cells = (f"`{field.alias or name}`", kind, _default_text(field), _unit(name, field),
                 field.description or "")
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def _notes(model: type[BaseModel]) -> list[str]:
    notes = getattr(model, "reference_notes", "")
    return ["", notes.strip()] if notes else []


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().splitlines()[0]


def _walk(path: str, model: type[BaseModel], out: list[tuple[str, type[BaseModel]]], seen: set[Any]) -> None:
    """Append (path in the file, model) for every section below ``model``, depth first (file order)."""
    for name, field in model.model_fields.items():
        outer = get_origin(_parts(field.annotation)[0])
        suffix = "[]" if outer is list else ".<name>" if outer is dict else ""
        for inner in _inner_models(field.annotation):
            if inner in seen:
                continue
            seen.add(inner)
            child = f"{path}.{field.alias or name}{suffix}".lstrip(".")
            out.append((child, inner))
            _walk(child, inner, out, seen)


def _sections() -> list[tuple[str, type[BaseModel]]]:
    """Return (path in the file, model) of the top level and every section it reaches, drivers aside."""
    out: list[tuple[str, type[BaseModel]]] = [("", Config)]
    _walk("", Config, out, {Config, *_driver_models()})
    return out


def _section(title: str, model: type[BaseModel], fields: dict[str, FieldInfo], sections: dict[Any, str],
             lead: str = "") -> list[str]:
    table = _table(fields, sections) if fields else ["No keys of its own."]
    return [title, "", lead or _summary(model), "", *table, *_notes(model), ""]


def reference_markdown() -> str:
    """Return the whole reference as Markdown."""
    top = _sections()
    families = _families()
    seen: set[Any] = {model for _, model in top} | set(_driver_models())
    below: dict[str, list[tuple[str, type[BaseModel]]]] = {}
    for family in families:
        found: list[tuple[str, type[BaseModel]]] = []
        for model in (family.base, *(d.config_model for d in family.drivers.values())):
            _walk(family.where, model, found, seen)
        below[family.where] = found
    sections: dict[Any, str] = {model: path for path, model in top}
    sections.update({model: path for found in below.values() for path, model in found})
    lines = [INTRO]
    for path, model in top:
        lines += _section(f"## `{path}`" if path else "## Top level", model, model.model_fields, sections)
    for family in families:
        base_fields = family.base.model_fields
        kinds = ", ".join(f"`{name}`" for name in sorted(family.drivers))
        lead = f"{_summary(family.base)} `type` (required) picks the driver: {kinds}."
        common = {k: f for k, f in base_fields.items() if k != "type"}
        lines += _section(f"## {family.title}: `{family.where}`", family.base, common, sections, lead)
        for name in sorted(family.drivers):
            model = family.drivers[name].config_model
            own = {k: f for k, f in model.model_fields.items()
                   if k != "type" and (k not in base_fields or repr(f) != repr(base_fields[k]))}
            lead = f"{_summary(model)} Takes the keys above, and these:" if own else \
                f"{_summary(model)} Takes the keys above."
            lines += _section(f"### {family.one} `type: {name}`", model, own, sections, lead)
        for path, model in below[family.where]:
            lines += _section(f"### `{path}`", model, model.model_fields, sections)
    return "\n".join(lines).rstrip() + "\n"
