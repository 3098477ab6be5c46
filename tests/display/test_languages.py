"""The Pi display in the plant's languages: every word from the ``display.*`` catalog, the figures unchanged,
Chinese drawn in a font that has its glyphs, and no label of a long-worded language running out of its box
(headless pygame, real pixels)."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path
from typing import Any

import pygame
import pytest

from andon import i18n
from andon.takt import OFF_WORDS
from display import text as text_module
from display.app import Board, build_parser, main, run
from display.client import UNREACHABLE, FeedSnapshot
from display.palette import BACKGROUND, condition_word
from display.plant import PlantRenderer
from display.render import LineBoardRenderer, render_line
from display.sample import SAMPLE_NOW, sample_board, sample_state
from display.text import ELLIPSIS, TextCache, font_for, fontconfig_cjk
from display.view import LineView, line_view
from display.words import reason_text, server_error, unknown_line
from tests.display.test_losses_display import prompted
from tests.display.test_render import save

SIZES = [(1280, 720), (1920, 1080)]
UNASSIGNED = "\u0378"  # no character: every font draws its "missing glyph" box for it


def view_in(language: str, **kw: Any) -> LineView:
    state, board = prompted()
    return line_view("line1", state, board, stale=False, last_good=SAMPLE_NOW, problem=None, tz=UTC,
                     show_oee=True, language=language, **kw)


def frame(language: str, state: Any, board: Any, size: tuple[int, int] = (1920, 1080),
          **kw: Any) -> tuple[pygame.Surface, LineBoardRenderer]:
    surface = pygame.Surface(size)
    renderer = LineBoardRenderer(size, UTC, language=language)
    render_line(surface, "line1", state, board, SAMPLE_NOW, tz=UTC, renderer=renderer, **kw)
    return surface, renderer


def pixels(surface: pygame.Surface, box: pygame.Rect) -> bytes:
    return pygame.image.tobytes(surface.subsurface(box), "RGB")


# -- the words ---------------------------------------------------------------------------------------------


def test_the_german_board_says_the_catalogs_words() -> None:
    german, english = view_in("de"), view_in("en")
    assert german.word == i18n.text("de", "display.word_behind") == "RÜCKSTAND"
    assert german.info == "Schicht early   Takt 60 s   Ziel 420"
    assert german.status == "14 im Rückstand   letzte Zählung 09:29"
    assert german.stop_prompt == "WARUM STEHEN WIR? seit 10:05"
    assert german.oee == "OEE 53%  V 70  L 81  Q 94"
    assert german.rows[1].reason == "Material shortage st3  [Problem #12 umsetzen]"  # the reason is data
    stale = line_view("line1", None, None, stale=True, last_good=SAMPLE_NOW - 12, problem=UNREACHABLE, tz=UTC,
                      language="de")
    assert (stale.word, stale.stale_since, stale.problem) == (
        "VERALTET", "keine Daten seit 09:29:48", "SERVER NICHT ERREICHBAR")
    # English as it always was, and the figures the same in both.
    assert (english.word, english.info, english.status, english.stop_prompt, english.oee) == (
        "BEHIND", "Shift early   Takt 60 s   Target 420", "14 behind   last count 09:29",
        "WHY DID WE STOP? since 10:05", "OEE 53%  A 70  P 81  Q 94")
    assert (german.plan, german.actual, german.delta) == (english.plan, english.actual, english.delta) == (
        "210", "196", "-14")
    numbers = [(r.hours, r.planned, r.actual, r.delta, r.cum_delta, r.scrap) for r in german.rows]
    assert numbers == [(r.hours, r.planned, r.actual, r.delta, r.cum_delta, r.scrap) for r in english.rows]


@pytest.mark.parametrize(
    ("condition", "delta", "reason", "de", "pl"),
    [
        ("normal", 3, "ahead", "VORAUS", "PRZED PLANEM"),
        ("normal", 0, "on plan", "IM PLAN", "ZGODNIE Z PLANEM"),
        ("warning", -2, "2 behind", "RÜCKSTAND", "OPÓŹNIENIE"),
        ("abnormal", 0, "line stopped", "STILLSTAND", "POSTÓJ"),
        ("off", None, "no shift", "KEINE SCHICHT", "POZA ZMIANĄ"),
        ("off", 0, "break", "PAUSE", "PRZERWA"),
        ("stale", 4, "PLC 10.0.0.5 unreachable", "VERALTET", "NIEAKTUALNE"),
    ],
)
def test_condition_words_in_german_and_polish(condition: str, delta: int | None, reason: str, de: str,
                                              pl: str) -> None:
    assert (condition_word(condition, delta, reason, "de"), condition_word(condition, delta, reason, "pl")) == (
        de, pl)


@pytest.mark.parametrize(
    ("reason", "german"),
    [
        ("3 behind", "3 im Rückstand"),
        ("changeover; 3 behind", "Umrüsten; 3 im Rückstand"),
        ("changeover overrun", "Umrüstzeit überschritten"),
        ("connecting to plc; PLC 10.0.0.5 unreachable", "verbinde mit plc; PLC 10.0.0.5 unreachable"),
        ("no data from counter", "keine Daten von counter"),
        ("not scheduled", "nicht eingeplant"),
    ],
)
def test_the_servers_reasons_are_said_in_the_displays_language(reason: str, german: str) -> None:
    # The server's own phrases are translated; a source's detail ("PLC ... unreachable") is its words.
    assert (reason_text(reason, "de"), reason_text(reason, "en")) == (german, reason)


def test_every_reason_the_server_gives_for_planned_time_has_words() -> None:
    for language in i18n.LANGUAGES:
        said = {reason_text(r, language) for r in OFF_WORDS.values()}
        assert len(said) == len(OFF_WORDS)
        if language != "en":
            assert not said & set(OFF_WORDS.values()), language  # none left in English


def test_the_links_problems_are_said_in_the_displays_language() -> None:
    assert (unknown_line("l9").text("pl"), server_error(503).text("es"), str(UNREACHABLE)) == (
        "SERWER NIE ZNA LINII l9", "ERROR DEL SERVIDOR 503", "SERVER UNREACHABLE")


# -- the pixels --------------------------------------------------------------------------------------------


def test_german_labels_are_drawn_where_english_ones_were_and_the_figures_are_the_same() -> None:
    state, board = sample_state(), sample_board()
    en, r = frame("en", state, board)
    de, _ = frame("de", state, board)
    save(de, "line_de_1920x1080.png")
    lay = r.layout
    for box in (lay.plan, lay.actual, lay.delta):
        label = pygame.Rect(box.x, box.y, box.width, box.height // 5)
        figure = pygame.Rect(box.x, box.y + box.height // 3, box.width, box.height - box.height // 3)
        assert pixels(en, label) != pixels(de, label)
        assert pixels(en, figure) == pixels(de, figure)
    # The table's hours are figures: the same pixels; its column titles are words: not.
    table = lay.table
    head = pygame.Rect(table.x, table.y, table.width, lay.px(0.045))
    hours = pygame.Rect(table.x, head.bottom, round(table.width * 0.14), table.height - head.height)
    assert pixels(en, head) != pixels(de, head)
    assert pixels(en, hours) == pixels(de, hours)
    assert pixels(en, lay.clock) == pixels(de, lay.clock)


def test_the_snapshot_command_draws_in_its_language(tmp_path: Path) -> None:
    # No server: the board says so, in its words (exit status 1, still a PNG).
    frames = {}
    for language in ("en", "de"):
        out = tmp_path / f"{language}.png"
        args = ["--server", "http://127.0.0.1:9", "--line", "line1", "--snapshot", str(out), "--size", "1280x720",
                "--timezone", "UTC", "--language", language]
        assert main(args) == 1
        frames[language] = pygame.image.load(str(out))
    stale = LineBoardRenderer((1280, 720), UTC).layout.stale
    assert pixels(frames["en"], stale) != pixels(frames["de"], stale)
    status = LineBoardRenderer((1280, 720), UTC).layout.status
    # The status band's right says SERVER UNREACHABLE / SERVER NICHT ERREICHBAR.
    assert pixels(frames["en"], status) != pixels(frames["de"], status)


def ink_mask(surface: pygame.Surface, background: tuple[int, int, int]) -> pygame.mask.Mask:
    """Return the pixels of ``surface`` that are not its background (text surfaces are 8-bit: read as RGB)."""
    rgb = pygame.Surface(surface.get_size())
    pygame.Surface.blit(rgb, surface, (0, 0))
    mask = pygame.mask.from_threshold(rgb, background, (1, 1, 1, 255))
    mask.invert()
    return mask


def ink(surface: pygame.Surface, background: tuple[int, int, int]) -> int:
    """Return how many pixels of ``surface`` are not its background."""
    return ink_mask(surface, background).count()


def test_chinese_is_drawn_with_real_glyphs_not_missing_glyph_boxes() -> None:
    bg, fg = (0, 0, 0), (255, 255, 255)
    path = font_for("zh-Hans")
    assert path is not None, "no CJK font: install Debian's fonts-wqy-microhei (scripts/test.sh does)"
    words = i18n.text("zh-Hans", "display.plan_to_date")
    assert words == "截至目前计划"
    # pygame's own font has no Chinese: each character is its missing-glyph box (what the test must tell apart).
    bundled = TextCache()
    assert (pygame.image.tobytes(bundled.render(words[0], 60, fg, bg), "RGB")
            == pygame.image.tobytes(bundled.render(UNASSIGNED, 60, fg, bg), "RGB"))
    cjk = TextCache(path)
    box = pygame.image.tobytes(cjk.render(UNASSIGNED, 60, fg, bg), "RGB")
    glyphs = [pygame.image.tobytes(cjk.render(c, 60, fg, bg), "RGB") for c in "截至目前"]
    assert box not in glyphs and len(set(glyphs)) == 4  # four characters, four shapes, none a box
    label = cjk.render(words, 60, fg, bg)
    assert ink(label, bg) > 0.15 * label.get_width() * label.get_height()
    # And the board takes that font for Chinese, and draws its label there.
    surface, renderer = frame("zh-Hans", sample_state(), sample_board())
    save(surface, "line_zh-Hans_1920x1080.png")
    assert renderer.text.font_path == path
    lay, text = renderer.layout, renderer.text
    tile, size = lay.plan, lay.px(0.05)
    label = text.render(words, size, (240, 240, 240), (32, 32, 40))  # PLAN TO DATE's size, ink and panel
    at = label.get_rect(centerx=tile.centerx, bottom=tile.y + lay.px(0.01) + text.line_height(size))
    assert pixels(surface, at) == pygame.image.tobytes(label, "RGB")  # those very glyphs, at the tile's top


def test_a_configured_font_wins_and_chinese_without_a_font_warns_and_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    assert (font_for("zh-Hans", "/opt/fonts/plant.ttf"), font_for("de", "/opt/fonts/plant.ttf")) == (
        "/opt/fonts/plant.ttf", "/opt/fonts/plant.ttf")
    assert (font_for("en"), font_for("de"), font_for("pl")) == (None, None, None)  # pygame's own font
    monkeypatch.setattr(text_module, "CJK_FONTS", (str(tmp_path / "none.ttc"),))
    monkeypatch.setattr(text_module, "fontconfig_cjk", lambda: None)
    with caplog.at_level(logging.WARNING, logger="display.text"):
        assert font_for("zh-Hans") is None
        surface, _ = frame("zh-Hans", sample_state(), sample_board(), (1280, 720))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and all("fonts-wqy-microhei" in w for w in warned)
    assert surface.get_at((5, 5))[:3] != (0, 0, 0)  # it drew a board


def test_fontconfig_is_asked_for_a_font_that_covers_chinese(tmp_path: Path) -> None:
    font = tmp_path / "cjk.ttc"
    font.write_bytes(b"")
    asked: list[list[str]] = []

    def answer(text: str) -> Any:
        def run(command: Any) -> str:
            asked.append(list(command))
            return text
        return run

    assert fontconfig_cjk(answer(f"{font}\taa|de|en|zh-cn|zh-sg")) == str(font)
    assert asked[0] == ["fc-match", "-f", "%{file}\t%{lang}", ":lang=zh-cn"]
    # fc-match answers with its nearest font even when none has the glyphs: that one is not taken.
    assert fontconfig_cjk(answer(f"{font}\taa|de|en")) is None
    assert fontconfig_cjk(answer(f"{tmp_path / 'gone.ttc'}\tzh-cn")) is None


# -- the language option -----------------------------------------------------------------------------------


def test_the_language_option_takes_a_tag_and_refuses_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args([]).language is None  # the plant's, as the server says it
    assert [parser.parse_args(["--language", t]).language for t in ("de-DE", "zh-CN", "pl")] == ["de", "zh-Hans",
                                                                                               "pl"]
    with pytest.raises(SystemExit) as exc:
        main(["--line", "line1", "--language", "fr"])
    assert exc.value.code == 2
    refused = "argument --language: unknown language 'fr': choose one of en, de, es, pl, zh-Hans"
    assert refused in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--line", "line1", "--font", "/no/such/font.ttf"])
    assert "argument --font: no font file '/no/such/font.ttf'" in capsys.readouterr().err
    with pytest.raises(i18n.UnknownLanguage, match="unknown language 'xx': choose one of en, de"):
        run("http://127.0.0.1:9", "line1", snapshot_path="/tmp/never.png", language="xx")
    with pytest.raises(ValueError, match="unknown language 'klingon'"):
        LineBoardRenderer((1280, 720), UTC, language="klingon")


def test_the_plant_board_is_titled_in_its_language() -> None:
    board = Board("plant", "", (1280, 720), UTC, language="es")
    surface = pygame.Surface((1280, 720))
    board.draw(surface, FeedSnapshot(states=(sample_state(),), last_good=SAMPLE_NOW), SAMPLE_NOW, 5.0)
    assert board.plant_renderer is not None
    assert board.plant_renderer._key is not None and board.plant_renderer._key[0] == "Planta"
    assert [v.word for v in board.plant_renderer._views] == ["RETRASADA"]


def test_the_andon_banner_names_the_built_in_categories_in_its_language() -> None:
    state = sample_state(andons=4)
    state["open_andons"][0]["category"] = "paint_shop"  # a plant's own category: as written
    cache = Said(None)
    renderer = LineBoardRenderer((1920, 1080), UTC, text=cache, language="pl")
    screen = Screen((1920, 1080))
    renderer.draw_full(screen, line_view("line1", state, sample_board(), stale=False, last_good=SAMPLE_NOW,
                                         problem=None, tz=UTC, language="pl"), SAMPLE_NOW)
    said = [cache.said[id(s)][0] for s, _, _ in screen.drawn]
    assert [t for t in said if t.startswith("ANDON ")] == [
        "ANDON st3  PAINT_SHOP", "ANDON st4  JAKOŚĆ", "ANDON st5  BEZPIECZEŃSTWO"]
    assert "5:12   supervisor" in said and "6:12   team leader   +1 więcej" in said  # tiers are the plant's


# -- nothing runs out of its box ---------------------------------------------------------------------------


class Said(TextCache):
    """A text cache that remembers what each surface it rendered says, and on what background."""

    def __init__(self, font_path: str | None) -> None:
        super().__init__(font_path)
        self.said: dict[int, tuple[str, Any]] = {}
        self._kept: list[pygame.Surface] = []

    def render(self, text: str, size: int, colour: Any, background: Any = None) -> pygame.Surface:
        surface = super().render(text, size, colour, background)
        self.said[id(surface)] = (text, background)
        self._kept.append(surface)
        return surface


class Screen(pygame.Surface):
    """A screen that records every blit: the source, where it went and which part of it was drawn."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        self.drawn: list[tuple[pygame.Surface, pygame.Rect, pygame.Rect]] = []

    def blit(self, source: pygame.Surface, dest: Any, area: Any = None, special_flags: int = 0) -> pygame.Rect:
        part = pygame.Rect(area) if area is not None else source.get_rect()
        at = dest.topleft if isinstance(dest, pygame.Rect) else tuple(dest)
        self.drawn.append((source, pygame.Rect(at, part.size), part))
        return super().blit(source, dest, area, special_flags)


def texts_drawn(screen: Screen, cache: Said) -> list[tuple[str, pygame.Rect, bool]]:
    """Return (text, its ink on the screen, whether all its ink was drawn) for every text drawn."""
    found = []
    for source, at, part in screen.drawn:
        text, background = cache.said[id(source)]
        rects = ink_mask(source, background).get_bounding_rects()
        if rects:
            inked = rects[0].unionall(rects[1:])
            found.append((text, inked.move(at.x - part.x, at.y - part.y), part.contains(inked)))
    return found


def check_fits(screen: Screen, cache: Said, boxes: list[pygame.Rect], may_cut: list[str],
               overlap: bool = True) -> None:
    """No text's ink is cropped, off the screen or outside every box; no label is cut; none overlap."""
    drawn = texts_drawn(screen, cache)
    assert len(drawn) > 10
    owners: dict[int, list[tuple[str, pygame.Rect]]] = {}
    for text, on_screen, whole in drawn:
        assert whole, f"{text!r} is cropped by its box"
        assert screen.get_rect().contains(on_screen), f"{text!r} runs off the screen"
        holders = [i for i, box in enumerate(boxes) if box.contains(on_screen)]
        assert holders, f"{text!r} at {on_screen} runs out of its box"
        owner = min(holders, key=lambda i: boxes[i].width * boxes[i].height)
        owners.setdefault(owner, []).append((text, on_screen))
        if text.endswith(ELLIPSIS):
            assert any(full.startswith(text[: -len(ELLIPSIS)]) for full in may_cut), f"label cut: {text!r}"
    if overlap:
        for texts in owners.values():
            for i, (a, ra) in enumerate(texts):
                for b, rb in texts[i + 1:]:
                    assert not ra.colliderect(rb), f"{a!r} and {b!r} overlap"


def busy_state(signal: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The prompted sample with four calls, a product and a work order (every part of the board in use)."""
    state, board = prompted()
    state.update(sample_state(andons=4), stop_prompt=state["stop_prompt"], product={"name": "Bracket"},
                 work_order={"id": "WO-42", "made": 120, "quantity": 500,
                             "expected_finish": "2026-11-28T13:40:00+00:00"})
    if signal:
        state["andon"] = signal
    return state, board


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("language", ["de", "pl", "es", "zh-Hans"])
def test_no_label_runs_out_of_its_box(language: str, size: tuple[int, int]) -> None:
    font = font_for(language)
    scenes: list[tuple[str, tuple[dict[str, Any], dict[str, Any]], dict[str, Any]]] = [
        ("busy", busy_state("escalated"), {"show_oee": True}),
        ("acknowledged", busy_state("acknowledged"), {}),
        ("stale", (sample_state(), sample_board()), {"stale": True, "last_good": SAMPLE_NOW - 12,
                                                     "problem": unknown_line("assembly-line-12")}),
        ("empty", ({"condition": "off", "reason": "not scheduled"}, {"rows": []}), {"problem": server_error(503)}),
    ]
    for name, (state, board), kw in scenes:
        cache = Said(font)
        renderer = LineBoardRenderer(size, UTC, text=cache, language=language)
        screen = Screen(size)
        view = line_view("line1", state, board, tz=UTC, language=language, stale=kw.pop("stale", False),
                         last_good=kw.pop("last_good", SAMPLE_NOW), problem=kw.pop("problem", None), **kw)
        renderer.draw_full(screen, view, SAMPLE_NOW)
        save(screen, f"fit_{language}_{name}_{size[0]}x{size[1]}.png")
        lay = renderer.layout
        boxes = [lay.name, lay.info, lay.clock, lay.plan, lay.actual, lay.delta, lay.status, lay.table,
                 lay.banner, lay.stale]
        may_cut = [view.info, *(r.reason for r in view.rows)]  # data: a long one is cut (the web board has it)
        check_fits(screen, cache, boxes, may_cut, overlap=not view.stale)
        if not view.stale:  # nothing paints over the margins between the parts, not even a text's background
            margins = [pygame.Rect(0, lay.plan.bottom, size[0], lay.status.top - lay.plan.bottom),
                       pygame.Rect(0, lay.status.bottom, size[0], lay.table.top - lay.status.bottom),
                       pygame.Rect(lay.plan.right, lay.plan.top, lay.actual.left - lay.plan.right, lay.plan.height),
                       pygame.Rect(lay.actual.right, lay.plan.top, lay.delta.left - lay.actual.right, lay.plan.height)]
            for margin in margins:
                assert pixels(screen, margin) == bytes(BACKGROUND) * (margin.width * margin.height), (name, margin)
        words = [(text, at) for text, at, _ in texts_drawn(screen, cache) if text.split(" + ")[0] == view.word]
        assert words  # the condition's word, whole
        if view.andon:  # and not under the andon call's frame
            frame = lay.px(0.012)
            assert lay.delta.inflate(-2 * frame, -2 * frame).contains(words[0][1]), words[0]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("language", ["de", "pl", "es", "zh-Hans"])
def test_no_plant_label_runs_out_of_its_tile(language: str, size: tuple[int, int]) -> None:
    states = [
        sample_state("line1", "Assembly 1", andons=2),
        sample_state("line2", "Assembly 2", andons=1, behind=False, condition="normal"),
        sample_state("line3", "Paint", condition="off"),
        sample_state("line4", "Weld", condition="warning"),
        {**sample_state("line5", "Press", behind=False, condition="normal"), "delta": 0},
        sample_state("line6", "Pack", condition="stale"),
        {**sample_state("line7", "Final assembly and test", condition="off"), "reason": "break"},
        sample_state("line8", "Pack 2", condition="abnormal") | {"reason": "line stopped"},
    ]
    for stale in (False, True):
        cache = Said(font_for(language))
        renderer = PlantRenderer(size, UTC, text=cache, language=language)
        screen = Screen(size)
        title = i18n.text(language, "display.plant_title")
        renderer.draw(screen, title, states, SAMPLE_NOW, stale=stale, last_good=SAMPLE_NOW - 30,
                      problem=UNREACHABLE if stale else None)
        save(screen, f"fit_plant_{language}{'_stale' if stale else ''}_{size[0]}x{size[1]}.png")
        head = pygame.Rect(renderer.title_rect.x, renderer.title_rect.y,
                           renderer.clock_rect.left - renderer.title_rect.x, renderer.title_rect.height)
        check_fits(screen, cache, [head, renderer.clock_rect, *renderer.tiles], may_cut=[s["name"] for s in states])
