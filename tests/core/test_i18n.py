"""The message catalogs: every language says everything English says, with the same fields; tags match loosely;
a plant or a person with a language there is no catalog for is a config error that names the choices."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
from pydantic import ValidationError

from andon import i18n
from andon.config.schema import Config

CATALOGS = resources.files("andon.i18n").joinpath("catalogs")
WEB = resources.files("andon.web")


def read(language: str) -> dict[str, dict[str, str]]:
    """Return a language's catalog files: part -> key -> text, as written."""
    folder = CATALOGS.joinpath(language)
    return {f.name.removesuffix(".json"): json.loads(f.read_text(encoding="utf-8"))
            for f in folder.iterdir() if f.name.endswith(".json")}


def test_the_catalog_folders_are_the_languages() -> None:
    assert sorted(f.name for f in CATALOGS.iterdir() if f.is_dir()) == sorted(i18n.LANGUAGES)


@pytest.mark.parametrize("language", [x for x in i18n.LANGUAGES if x != "en"])
def test_every_language_has_every_english_text_with_its_fields(language: str) -> None:
    english, other = read("en"), read(language)
    assert sorted(other) == sorted(english), "the same parts (files)"
    for part, texts in english.items():
        assert sorted(other[part]) == sorted(texts), f"{language}/{part}.json: keys differ from English"
        for key, text in texts.items():
            assert i18n.fields(other[part][key]) == i18n.fields(text), f"{language}: {key} takes other fields"
            assert other[part][key].strip(), f"{language}: {key} is empty"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_keys_start_with_their_part(language: str) -> None:
    for part, texts in read(language).items():
        assert texts, f"{language}/{part}.json is empty"
        assert [k for k in texts if not k.startswith(part + ".")] == []


def test_no_two_parts_share_a_key() -> None:
    keys = [k for texts in read("en").values() for k in texts]
    assert len(keys) == len(set(keys)) and len(i18n.messages("en")) == len(keys)


def test_every_word_the_pages_ask_for_is_in_english() -> None:
    """Every ``{{key}}`` mark and every ``t("key"`` / ``Andon.t("key"`` call of the pages and their script."""
    english = i18n.messages("en")
    asked: set[str] = set()
    for f in WEB.iterdir():
        if f.name.endswith((".html", ".js")):
            source = f.read_text(encoding="utf-8")
            asked |= set(re.findall(r"\{\{([a-z][a-z0-9_.]*)\}\}", source))
            asked |= set(re.findall(r"\bt\(\"([a-z][a-z0-9_.]*)\"", source))
    assert asked, "the pages ask for words"
    assert sorted(asked - set(english)) == []


@pytest.mark.parametrize(("tag", "found"), [
    ("en", "en"), ("DE", "de"), ("de-AT", "de"), ("de_CH", "de"), ("es-MX", "es"), ("pl-PL", "pl"),
    ("zh-Hans", "zh-Hans"), ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-hans-cn", "zh-Hans"), ("zh-SG", "zh-Hans"),
    ("zh-TW", None), ("zh-Hant", None), ("fr", None), ("", None), (None, None),
])
def test_language_tags_match_loosely(tag: str | None, found: str | None) -> None:
    assert i18n.match(tag) == found


def test_choose_takes_the_first_language_with_a_catalog() -> None:
    assert i18n.choose(None, "fr", "pl", "de") == "pl"
    assert i18n.choose(None, "") == "en"


def test_texts_fill_their_fields_and_fall_back_to_english() -> None:
    assert i18n.text("de", "home.open_calls", count=3) == "3 offen"
    assert i18n.text("pl", "home.open_calls", count=3) == "otwarte: 3"
    assert i18n.Translator("zh-CN")("home.plant") == "工厂总览"
    with pytest.raises(KeyError):
        i18n.text("en", "home.no_such_text")


def base_config(**plant: object) -> dict[str, object]:
    return {"plant": {"name": "P", **plant}, "shifts": [{"id": "a", "start": "06:00", "end": "14:00"}],
            "lines": [{"id": "l1", "takt_seconds": 60}]}


def test_plant_language_defaults_to_english_and_is_normalised() -> None:
    assert Config.model_validate(base_config()).plant.language == "en"
    assert Config.model_validate(base_config(language="zh-CN")).plant.language == "zh-Hans"
    assert Config.model_validate(base_config(language="de-DE")).plant.language == "de"


def test_an_unknown_plant_or_person_language_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(base_config(language="klingon"))
    assert "unknown language 'klingon': choose one of en, de, es, pl, zh-Hans" in str(caught.value)
    people = {**base_config(), "people": [{"id": "ann", "language": "fr"}]}
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(people)
    assert "unknown language 'fr'" in str(caught.value) and "people" in str(caught.value)
    ok = Config.model_validate({**base_config(), "people": [{"id": "ann", "language": "pl-PL"}]})
    assert ok.people[0].language == "pl"
