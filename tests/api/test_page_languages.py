"""Every page in every language: its words from the catalogs, ``<html lang>`` saying which, the texts of its
scripts beside it; the device's ``?lang=`` kept in a cookie, else the plant's language; a language there is no
catalog for refused with the choices."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from andon import i18n
from andon.clock import ManualClock
from tests.api.api_fixtures import api, config_text
from tests.core.engine_fixtures import utc

PAGES = ["/", "/board/line1", "/plant", "/andon?line=line1&station=st1", "/problems", "/trends", "/tier/1/line1",
         "/tier/2/assembly", "/tier/3"]
AREAS = "areas:\n  - {{id: assembly, lines: [line1, line2]}}\n"
SCRIPT = re.compile(r"<script>window\.ANDON_I18N=(.*?);</script>")


def plant_text(language: str | None = None) -> str:
    text = config_text() + AREAS
    if language is not None:
        text = text.replace("plant: {{name: Test Plant,", f"plant: {{{{language: {language}, name: Test Plant,")
    return text


def with_lang(path: str, language: str) -> str:
    return path + ("&" if "?" in path else "?") + "lang=" + language


def script_texts(page: str) -> dict[str, object]:
    found = SCRIPT.search(page)
    assert found is not None, "the page carries its scripts' texts"
    data: dict[str, object] = json.loads(found.group(1).replace("<\\/", "</"))
    return data


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_page_is_whole_in_every_language(tmp_path: Path, language: str) -> None:
    with api(tmp_path, ManualClock(utc("2026-11-26 08:00")), text=plant_text()) as client:
        texts = i18n.messages(language)
        for path in PAGES:
            reply = client.get(with_lang(path, language))
            assert reply.status_code == 200, (path, reply.text)
            page = reply.text
            assert f'<html lang="{language}">' in page, path
            assert re.findall(r"\{\{[a-z][a-z0-9_.]*\}\}", page) == [], f"{path}: marks left unfilled"
            data = script_texts(page)
            assert data["lang"] == language
            sent = data["texts"]
            assert isinstance(sent, dict) and sent, path
            assert all(sent[k] == texts[k] for k in sent)
            assert {k for k in texts if k.startswith("app.")} <= set(sent), f"{path}: every shared script text"
        home = client.get(with_lang("/", language)).text
        assert f"<h2>{html.escape(texts['home.pages'])}</h2>" in home


def test_the_device_keeps_its_language_and_the_plant_gives_the_default(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc("2026-11-26 08:00")), text=plant_text("de-DE")) as client:
        assert '<html lang="de">' in client.get("/").text  # plant.language, normalised
        reply = client.get("/plant?lang=pl")
        assert '<html lang="pl">' in reply.text
        assert "andon_lang=pl" in reply.headers["set-cookie"]
        assert '<html lang="pl">' in client.get("/problems").text  # the cookie: the device's next pages keep it
        assert client.get("/problems").headers.get("set-cookie") is None
        assert '<html lang="zh-Hans">' in client.get("/?lang=zh-CN").text
        assert "<h2>页面</h2>" in client.get("/").text
        client.cookies.clear()
        assert '<html lang="de">' in client.get("/").text
        client.cookies.set("andon_lang", "tlh")  # a cookie naming a catalog gone with a release: passed over
        assert '<html lang="de">' in client.get("/").text


def test_a_language_with_no_catalog_is_refused_with_the_choices(tmp_path: Path) -> None:
    with api(tmp_path, ManualClock(utc("2026-11-26 08:00")), text=plant_text()) as client:
        reply = client.get("/board/line1?lang=fr")
        assert reply.status_code == 400
        assert reply.json() == {"detail": "unknown language 'fr': choose one of en, de, es, pl, zh-Hans"}
        assert "set-cookie" not in reply.headers
        assert client.get("/?lang=" + "x" * 36).status_code == 422
        empty = client.get("/?lang=")  # an empty choice (a form's): the plant's language, no cookie
        assert (empty.status_code, '<html lang="en">' in empty.text) == (200, True)
        assert "set-cookie" not in empty.headers
        odd = client.get("/?lang=%3Cscript%3E")
        assert (odd.status_code, odd.headers["content-type"]) == (400, "application/json")
