"""Message catalogs: every word the product shows people, in each language it speaks.

A catalog is a folder per language (``catalogs/<language>/``) of JSON files, one per part of the product
(``web``, ``board``, ``display``, ``notify`` ...): a flat object of key -> text, every key starting with the
file's name and a dot (``board.title``). Texts take named fields in braces (``{count} open``); a literal
brace is doubled. English is complete by rule (the tests hold every other language to English's keys and
fields); a key missing from another language falls back to English rather than showing the key.

Which language: ``?lang=`` on a page or a display option (a device), then the person (notifications),
then ``plant.language``, then English. Tags are matched loosely: ``de-DE`` is German, ``zh``, ``zh-CN``
and ``zh-Hans-CN`` are Simplified Chinese.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES: tuple[str, ...] = ("en", "de", "es", "pl", "zh-Hans")
DEFAULT = "en"
NAMES: Mapping[str, str] = {"en": "English", "de": "Deutsch", "es": "Español", "pl": "Polski", "zh-Hans": "简体中文"}

_BY_LOWER = {code.lower(): code for code in LANGUAGES}
_CHINESE_SIMPLIFIED = ("zh", "zh-hans", "zh-cn", "zh-sg", "zh-hans-cn", "zh-hans-sg")


class UnknownLanguage(ValueError):
    """A language tag this product has no catalog for."""

    def __init__(self, tag: str) -> None:
        super().__init__(f"unknown language {tag!r}: choose one of {', '.join(LANGUAGES)}")
        self.tag = tag


def match(tag: str | None) -> str | None:
    """Return the catalog a language tag asks for (``de-AT`` -> ``de``), or None when there is none."""
    if not tag:
        return None
    lowered = tag.strip().replace("_", "-").lower()
    if lowered in _BY_LOWER:
        return _BY_LOWER[lowered]
    if lowered in _CHINESE_SIMPLIFIED or lowered.startswith("zh-hans-"):
        return "zh-Hans"
    if lowered.startswith("zh"):
        return None  # Traditional Chinese (zh-Hant, zh-TW, zh-HK) is another script: no catalog yet
    return _BY_LOWER.get(lowered.split("-", 1)[0])


def resolve(tag: str) -> str:
    """Return the catalog of a configured language tag; raise UnknownLanguage (a ValueError) when there is none."""
    found = match(tag)
    if found is None:
        raise UnknownLanguage(tag)
    return found


def choose(*tags: str | None) -> str:
    """Return the first of ``tags`` with a catalog (device, then person, then plant), else English."""
    for tag in tags:
        found = match(tag)
        if found is not None:
            return found
    return DEFAULT


@cache
def _read(language: str) -> dict[str, str]:
    folder = resources.files("andon.i18n").joinpath("catalogs", language)
    messages: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        messages.update(json.loads(entry.read_text(encoding="utf-8")))
    return messages


@cache
def messages(language: str) -> Mapping[str, str]:
    """Return every text of ``language`` (English's where it has none), key -> text."""
    merged = dict(_read(DEFAULT))
    if language != DEFAULT:
        merged.update(_read(resolve(language)))
    return merged


def part(language: str, *prefixes: str) -> dict[str, str]:
    """Return the texts whose keys start with one of ``prefixes`` (``"board."``), for a page's script."""
    return {k: v for k, v in messages(language).items() if k.startswith(prefixes)}


def text(language: str, key: str, **fields: Any) -> str:
    """Return the text of ``key`` in ``language`` with its fields filled; raise KeyError for an unknown key."""
    return _filled(messages(language)[key], fields)


def _filled(found: str, values: Mapping[str, Any]) -> str:
    return found.format(**values) if values or "{" in found else found


def fields(template: str) -> frozenset[str]:
    """Return the names of the fields a text takes (``"{count} open"`` -> ``{"count"}``)."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class Translator:
    """The texts of one language, bound: ``t("board.title")``, ``t("home.open", count=3)``."""

    def __init__(self, language: str) -> None:
        self.language = resolve(language)
        self._messages = messages(self.language)

    def __call__(self, key: str, **values: Any) -> str:
        return _filled(self._messages[key], values)
