"""The display program: the main loop on a screen, or one snapshot PNG, and its command line.

On a Raspberry Pi without a desktop SDL draws through KMS/DRM (``SDL_VIDEODRIVER=kmsdrm``): the
user needs the ``video``, ``render`` and ``input`` groups, and no other program may hold the DRM
master (stop any desktop). The loop sleeps between seconds and draws only what changed.

The board's words are in its ``--language`` (en, de, es, pl, zh-Hans); without one, in the plant's
``plant.language`` as the server's ``/api/lines`` says it (English until the server has answered).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from andon import i18n
from andon.clock import Clock, SystemClock
from andon.extras import PYGAME, missing_line
from andon.follow import stream_urls
from display.client import ApiFeed, FeedSnapshot, LineClient, PlantClient, Poller
from display.live import WebSocketListener

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1920, 1080)
MAX_SLEEP = 0.25  # how often events (keys, quit) are looked at while idle


def choose_video_driver(env: dict[str, str]) -> str | None:
    """Return the SDL video driver to set: kmsdrm on a console without X or Wayland, else None."""
    if env.get("SDL_VIDEODRIVER"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "kmsdrm" if os.path.exists("/dev/dri") else None


def parse_size(text: str) -> tuple[int, int]:
    """Parse WIDTHxHEIGHT (for example 1920x1080)."""
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise argparse.ArgumentTypeError(f"size {w}x{h} is outside 320x240 .. 7680x4320")
    return w, h


def parse_language(text: str) -> str:
    """Parse a language tag into the catalog it names (``de-DE`` -> ``de``)."""
    try:
        return i18n.resolve(text)
    except i18n.UnknownLanguage as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_font(text: str) -> str:
    """Check a font file exists."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no font file {text!r}")
    return text


class Board:
    """Draws one layout (line or plant) from a feed's snapshot onto a surface."""

    def __init__(
        self,
        layout: str,
        line: str,
        size: tuple[int, int],
        tz: tzinfo,
        show_oee: bool = False,
        language: str = i18n.DEFAULT,
        font: str | None = None,
    ) -> None:
        self.layout = layout
        self.line = line
        self.tz = tz
        self.show_oee = show_oee
        self.size = size
        self.font = font
        self.language = i18n.resolve(language)
        self._renderers()

    def _renderers(self) -> None:
        from display.plant import PlantRenderer
        from display.render import LineBoardRenderer

        self.line_renderer = None
        self.plant_renderer = None
        if self.layout == "line":
            self.line_renderer = LineBoardRenderer(self.size, self.tz, language=self.language, font=self.font)
        if self.layout == "plant":
            self.plant_renderer = PlantRenderer(self.size, self.tz, language=self.language, font=self.font)

    def use_language(self, language: str) -> None:
        """Speak ``language`` from the next frame on (the whole board is drawn anew in it)."""
        if language != self.language:
            log.info("board language: %s (the plant's)", language)
            self.language = language
            self._renderers()

    def draw(self, surface: Any, snap: FeedSnapshot, now: float, stale_after: float) -> list[Any]:
        """Draw what changed and return the dirty rectangles."""
        from display.view import line_view

        stale = snap.is_stale(now, stale_after)
        if self.line_renderer is not None:
            view = line_view(
                self.line,
                snap.state,
                snap.board,
                stale=stale,
                last_good=snap.last_good,
                problem=snap.problem,
                tz=self.tz,
                show_oee=self.show_oee,
                language=self.language,
            )
            return self.line_renderer.draw(surface, view, now)
        assert self.plant_renderer is not None
        return self.plant_renderer.draw(
            surface,
            i18n.text(self.language, "display.plant_title"),
            snap.states,
            now,
            stale=stale,
            last_good=snap.last_good,
            problem=snap.problem,
        )


def make_feed(
    server: str, line: str, layout: str, clock: Clock, stale_after: float, token: str | None = None
) -> ApiFeed:
    """Return the client for the layout (with the bearer token, when the plant's reads need one)."""
    if layout == "plant":
        return PlantClient(server, clock=clock, stale_after=stale_after, token=token)
    return LineClient(server, line, clock=clock, stale_after=stale_after, token=token)


def snapshot(feed: ApiFeed, board: Board, size: tuple[int, int], path: str, clock: Clock, stale_after: float) -> int:
    """Fetch once, draw one frame off-screen and write it as a PNG; return the exit status."""
    import pygame

    ok = feed.fetch()
    surface = pygame.Surface(size)
    board.draw(surface, feed.snapshot(), clock.now(), stale_after)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pygame.image.save(surface, path)
    log.info("wrote %s (%dx%d)%s", path, size[0], size[1], "" if ok else " without server data")
    return 0 if ok else 1


def run(
    server: str,
    line: str,
    layout: str = "line",
    fullscreen: bool = True,
    size: tuple[int, int] | None = None,
    snapshot_path: str | None = None,
    stale_after: float = 5.0,
    *,
    tz: tzinfo | None = None,
    clock: Clock | None = None,
    poll_interval: float = 1.0,
    websocket: bool = True,
    duration: float | None = None,
    stop: threading.Event | None = None,
    token: str | None = None,
    show_oee: bool = False,
    language: str | None = None,
    font: str | None = None,
) -> int:
    """Run the display until quit (or ``duration`` seconds, or ``stop``); return the exit status.

    ``language`` is the board's (raise ``i18n.UnknownLanguage``, a ValueError, for one without a catalog);
    None: the plant's (``plant.language``, as the server's ``/api/lines`` says it), English until it is known.
    ``font`` a font file to draw with instead of the language's own.
    """
    clock = clock or SystemClock()
    tz = tz or datetime.now().astimezone().tzinfo or ZoneInfo("UTC")
    if layout not in ("line", "plant"):
        raise ValueError(f"layout must be 'line' or 'plant', not {layout!r}")
    feed = make_feed(server, line, layout, clock, stale_after, token)
    follow_plant = language is None
    language = i18n.resolve(language or i18n.DEFAULT)
    try:
        if snapshot_path:
            if follow_plant:
                language = feed.plant_language() or language
            board = Board(layout, line, size or DEFAULT_SIZE, tz, show_oee, language, font)
            return snapshot(feed, board, size or DEFAULT_SIZE, snapshot_path, clock, stale_after)
        return _loop(
            feed,
            layout,
            line,
            fullscreen,
            size,
            stale_after,
            tz,
            clock,
            poll_interval,
            websocket,
            duration,
            stop or threading.Event(),
            show_oee,
            language,
            font,
            follow_plant,
        )
    finally:
        feed.close()


def _loop(
    feed: ApiFeed,
    layout: str,
    line: str,
    fullscreen: bool,
    size: tuple[int, int] | None,
    stale_after: float,
    tz: tzinfo,
    clock: Clock,
    poll_interval: float,
    websocket: bool,
    duration: float | None,
    stop: threading.Event,
    show_oee: bool = False,
    language: str = i18n.DEFAULT,
    font: str | None = None,
    follow_plant: bool = False,
) -> int:
    driver = choose_video_driver(dict(os.environ))
    if driver:
        os.environ["SDL_VIDEODRIVER"] = driver
    import pygame

    pygame.display.init()
    pygame.font.init()
    flags = pygame.FULLSCREEN if fullscreen else 0
    screen = pygame.display.set_mode(size or (0, 0) if fullscreen else size or DEFAULT_SIZE, flags)
    pygame.display.set_caption(f"andon {layout} {line}".strip())
    pygame.mouse.set_visible(False)
    pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN])
    log.info("display %s on %s, %dx%d", layout, pygame.display.get_driver(), *screen.get_size())
    board = Board(layout, line, screen.get_size(), tz, show_oee, language, font)
    poller = Poller(feed.fetch, poll_interval, feed.fetch_wanted)
    listener = None
    if websocket:
        listener = WebSocketListener(feed.server, feed.apply_message, token=feed.token, clock=clock)
    poller.start()
    if listener is not None:
        listener.start()
    learned: list[str] = []
    if follow_plant:
        threading.Thread(target=_learn_language, args=(feed, learned, stop), name="plant language",
                         daemon=True).start()
    started = time.monotonic()
    try:
        while not stop.is_set():
            if learned:
                board.use_language(learned.pop())
            now = clock.now()
            rects = board.draw(screen, feed.snapshot(), now, stale_after)
            if rects:
                pygame.display.update(rects)
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                    event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q)
                ):
                    stop.set()
            if duration is not None and time.monotonic() - started >= duration:
                break
            # Wake just after the next whole second (the clock), sooner on new data.
            wait = min(MAX_SLEEP, 1.0 - (clock.now() % 1.0) + 0.005)
            if feed.changed.wait(wait):
                feed.changed.clear()
    finally:
        if listener is not None:
            listener.stop()
        poller.stop()
        pygame.display.quit()
    return 0


LANGUAGE_RETRY_SECONDS = 5.0


def _learn_language(feed: ApiFeed, learned: list[str], stop: threading.Event) -> None:
    """Ask the server for the plant's language until it answers (the board waits in English meanwhile)."""
    while not stop.is_set():
        found = feed.plant_language()
        if found is not None:
            learned.append(found)
            return
        stop.wait(LANGUAGE_RETRY_SECONDS)


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of ``andon display``."""
    p = argparse.ArgumentParser(prog="andon display", description="Fullscreen line board.")
    p.add_argument("--server", default="http://127.0.0.1:8000",
                   help="API base URL; an active/standby pair as two, comma-separated (the active one is followed)")
    p.add_argument("--token", help="bearer token, when the server's reads need one (default: $ANDON_TOKEN)")
    p.add_argument("--line", default="", help="line id (required for --layout line)")
    p.add_argument("--layout", choices=("line", "plant"), default="line")
    p.add_argument("--snapshot", metavar="OUT.PNG", help="render one frame to a PNG and exit")
    p.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT (default: the screen's)")
    p.add_argument("--stale-after", type=float, default=5.0, help="seconds until STALE")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between fetches")
    p.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    p.add_argument("--no-websocket", action="store_true", help="HTTP polling only")
    p.add_argument("--timezone", help="IANA zone for the clock (default: the machine's)")
    p.add_argument("--oee", action="store_true", help="show the shift's OEE in the status band")
    p.add_argument("--language", type=parse_language, default=None,
                   help=f"language of the board's words: {', '.join(i18n.LANGUAGES)} (default: the plant's "
                   "plant.language, as the server says it)")
    p.add_argument("--font", type=parse_font, metavar="FILE",
                   help="font file to draw with (default: pygame's own; for zh-Hans a font with Chinese glyphs)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``andon display`` with command-line arguments; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not PYGAME.installed():
        print(f"andon display: {missing_line('the display', PYGAME)}", file=sys.stderr)
        return 2
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # its greeting is no log line
    if args.layout == "line" and not args.line:
        parser.error("--line is required for --layout line")
    if args.stale_after <= 0 or args.poll_interval <= 0:
        parser.error("--stale-after and --poll-interval must be positive")
    try:
        stream_urls(args.server)  # the one rule for server URLs (one, or a pair), for polling and the stream alike
    except ValueError as exc:
        parser.error(f"--server: {exc}")
    tz: tzinfo | None = None
    if args.timezone:
        try:
            tz = ZoneInfo(args.timezone)
        except (KeyError, ValueError) as exc:
            parser.error(f"unknown timezone {args.timezone!r}: {exc}")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One request a second would fill the journal; the client logs faults and recoveries itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return run(
        args.server,
        args.line,
        args.layout,
        fullscreen=not args.windowed,
        size=args.size,
        snapshot_path=args.snapshot,
        stale_after=args.stale_after,
        tz=tz,
        poll_interval=args.poll_interval,
        websocket=not args.no_websocket,
        token=args.token or os.environ.get("ANDON_TOKEN") or None,
        show_oee=args.oee,
        language=args.language,
        font=args.font,
    )


if __name__ == "__main__":
    raise SystemExit(main())
