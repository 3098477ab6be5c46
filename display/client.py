"""Fetch line state and board from the API, and know when the data has gone stale.

HTTP polling is the baseline and the fallback: it runs all the time and is what proves the data
fresh. WebSocket pushes (``display.live``) go through ``apply_message`` and only make changes
show sooner. A failed fetch never clears the last good data; it marks it, and after
``stale_after`` seconds without a good fetch the board shows STALE with the time of the last data.
A line's state pushed while a fetch was on its way is kept over the fetched one, which may have been
read before it (the push asks for the next fetch, which reads after it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from andon import failover, i18n
from andon.clock import Clock
from display.words import BAD_DATA, UNREACHABLE, Problem, server_error, unknown_line

log = logging.getLogger(__name__)

class FetchError(Exception):
    """A fetch failed; ``problem`` is what the board shows (in its language), ``detail`` what the log says."""

    def __init__(self, problem: Problem, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class FeedSnapshot:
    """The data the display has, as of one moment: what to draw and how fresh it is."""

    state: dict[str, Any] | None = None
    board: dict[str, Any] | None = None
    states: tuple[dict[str, Any], ...] = field(default=())
    last_good: float | None = None
    problem: Problem | None = None
    version: int = 0

    def is_stale(self, now: float, stale_after: float) -> bool:
        """Return True when no good data came in the last ``stale_after`` seconds."""
        return self.last_good is None or now - self.last_good > stale_after


def _check_state(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("condition"), str):
        raise FetchError(BAD_DATA, f"{where}: expected a line state object with a 'condition'")
    return data


class ApiFeed:
    """What both layouts share: an HTTP client, the fault log, the snapshot and its lock."""

    def __init__(
        self,
        server: str,
        *,
        clock: Clock,
        stale_after: float = 5.0,
        timeout: float = 2.0,
        http: httpx.Client | None = None,
        token: str | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.clock = clock
        self.stale_after = stale_after
        # A plant with closed reads (auth.public_read false) needs the token, in a header, never the URL.
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        # One server, or an active/standby pair (comma-separated): each request follows the active one.
        self._http = http or failover.client(failover.servers(self.server), timeout=timeout, headers=self.headers)
        self._lock = threading.Lock()
        self._snapshot = FeedSnapshot()
        self._faulted = False
        self.changed = threading.Event()
        self.fetch_wanted = threading.Event()
        self._pushes: dict[str, int] = {}  # line -> states pushed for it so far

    def _push_marks(self) -> dict[str, int]:
        """Return how many states were pushed for each line so far (taken before a fetch)."""
        with self._lock:
            return dict(self._pushes)

    def _keep_pushed(self, data: dict[str, Any], pushed: set[str], old: FeedSnapshot) -> dict[str, Any]:
        """Return fetched ``data`` with the states of the ``pushed`` lines kept as they are in ``old``."""
        raise NotImplementedError

    def _apply_pushed(self, line: str, make: Callable[[FeedSnapshot], dict[str, Any]]) -> bool:
        """Count a pushed state for ``line`` and apply ``make(old)``'s changes; return True if they changed it."""
        with self._lock:
            self._pushes[line] = self._pushes.get(line, 0) + 1
            changed = self._replace(make(self._snapshot))
        if changed:
            self.changed.set()
        return changed

    def snapshot(self) -> FeedSnapshot:
        """Return the current data and its freshness."""
        with self._lock:
            return self._snapshot

    @property
    def stale(self) -> bool:
        """Return True when the data is older than ``stale_after`` seconds (or there is none)."""
        return self.snapshot().is_stale(self.clock.now(), self.stale_after)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def fetch(self) -> bool:
        """Fetch once; return True when the server gave good data."""
        raise NotImplementedError

    def plant_language(self) -> str | None:
        """Return the plant's language as the server says it (``/api/lines``), or None when it does not."""
        try:
            reply = self._http.get("/api/lines")
            listed = reply.json() if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(listed, list) or not listed or not isinstance(listed[0], dict):
            return None
        return i18n.match(str(listed[0].get("language") or "")) or None

    def apply_message(self, message: Mapping[str, Any]) -> bool:
        """Take one pushed message (WebSocket); return True when it changed what is shown."""
        raise NotImplementedError

    def _get_json(self, path: str, allow_404: bool = False) -> Any:
        try:
            response = self._http.get(path)
        except httpx.TransportError as exc:
            raise FetchError(UNREACHABLE, f"{self.server}{path}: {exc!r}") from exc
        if allow_404 and response.status_code == 404:
            return None
        if response.status_code != 200:
            problem = server_error(response.status_code)
            raise FetchError(problem, f"{self.server}{path}: HTTP {response.status_code}", response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise FetchError(BAD_DATA, f"{self.server}{path}: not JSON") from exc

    def _update(self, **changes: Any) -> None:
        with self._lock:
            changed = self._replace(changes)
        if changed:
            self.changed.set()

    def _replace(self, changes: Mapping[str, Any]) -> bool:
        """Make the snapshot with ``changes`` (the lock held); return True when the data changed."""
        old = self._snapshot
        data_changed = any(getattr(old, k) != v for k, v in changes.items() if k != "last_good")
        values = {**old.__dict__, **changes}
        if data_changed:
            values["version"] = old.version + 1
        self._snapshot = FeedSnapshot(**values)
        return data_changed

    def _good(self, marks: Mapping[str, int], **data: Any) -> None:
        """Take fetched ``data``; a line's state pushed since ``marks`` (taken before the fetch) is kept."""
        if self._faulted:
            log.info("%s answers again", self.server)
            self._faulted = False
        with self._lock:
            pushed = {line for line, n in self._pushes.items() if n != marks.get(line, 0)}
            if pushed:  # the pushed state may be newer than the one read
                data = self._keep_pushed(data, pushed, self._snapshot)
            changed = self._replace({"last_good": self.clock.now(), "problem": None, **data})
        if changed:
            self.changed.set()

    def _fault(self, error: FetchError) -> None:
        if self._faulted:
            log.debug("fetch failed again: %s", error.detail)
        else:
            log.error("fetch failed: %s", error.detail)
            self._faulted = True
        self._update(problem=error.problem)


class LineClient(ApiFeed):
    """Fetches one line's state and board."""

    def __init__(self, server: str, line: str, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self.line = line

    def fetch(self) -> bool:
        """Fetch state and board once; return True when the server gave good data."""
        marks = self._push_marks()
        try:
            state = _check_state(self._get_json(f"/api/lines/{self.line}/state"), f"line {self.line} state")
            board = self._get_json(f"/api/lines/{self.line}/board", allow_404=True)
            if board is not None and not isinstance(board, dict):
                raise FetchError(BAD_DATA, f"line {self.line} board: expected an object")
        except FetchError as error:
            if error.status == 404:
                error = FetchError(unknown_line(self.line), error.detail, error.status)
            self._fault(error)
            return False
        self._good(marks, state=state, board=board)
        return True

    def _keep_pushed(self, data: dict[str, Any], pushed: set[str], old: FeedSnapshot) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k != "state"}

    def apply_message(self, message: Mapping[str, Any]) -> bool:
        """Take one pushed message (WebSocket); return True when it changed what is shown."""
        kind = message.get("type")
        if kind == "state" and message.get("line") == self.line:
            try:
                state = _check_state(message.get("state"), "pushed state")
            except FetchError as error:
                log.warning("ignored a pushed message: %s", error.detail)
                return False
            changed = self._apply_pushed(self.line, lambda old: {"state": state})
            self.fetch_wanted.set()  # the board's rows follow the state; fetch them now
            return changed
        if kind == "andon":
            self.fetch_wanted.set()  # the state carries the open calls with their tiers
        return False


class PlantClient(ApiFeed):
    """Fetches every line's state for the plant overview."""

    def fetch(self) -> bool:
        """Fetch all line states once; return True when the server gave good data."""
        marks = self._push_marks()
        try:
            listed = self._get_json("/api/lines")
            if isinstance(listed, dict):
                listed = listed.get("lines")
            if not isinstance(listed, list):
                raise FetchError(BAD_DATA, "/api/lines: expected a list of lines")
            states = []
            for item in listed:
                # Each item is a state, or {"id", "name", "state": {...}}, or just a line id.
                if isinstance(item, dict) and isinstance(item.get("state"), dict):
                    states.append(_check_state(item["state"], "/api/lines item"))
                    continue
                if isinstance(item, dict) and "condition" in item:
                    states.append(_check_state(item, "/api/lines item"))
                    continue
                line = item.get("id") or item.get("line") if isinstance(item, dict) else item
                states.append(_check_state(self._get_json(f"/api/lines/{line}/state"), f"line {line}"))
        except FetchError as error:
            self._fault(error)
            return False
        self._good(marks, states=tuple(states))
        return True

    def _keep_pushed(self, data: dict[str, Any], pushed: set[str], old: FeedSnapshot) -> dict[str, Any]:
        held = {s.get("line"): s for s in old.states if s.get("line") in pushed}
        return {**data, "states": tuple(held.get(s.get("line"), s) for s in data["states"])}

    def apply_message(self, message: Mapping[str, Any]) -> bool:
        """Take one pushed message (WebSocket); return True when it changed what is shown."""
        if message.get("type") == "state":
            try:
                state = _check_state(message.get("state"), "pushed state")
            except FetchError as error:
                log.warning("ignored a pushed message: %s", error.detail)
                return False
            line = message.get("line")
            old = self.snapshot().states
            if not any(s.get("line") == line for s in old):
                self.fetch_wanted.set()  # a line we do not know yet: fetch the whole list
                return False
            return self._apply_pushed(
                str(line), lambda snap: {"states": tuple(state if s.get("line") == line else s for s in snap.states)}
            )
        if message.get("type") == "andon":
            self.fetch_wanted.set()
        return False


class Poller:
    """Calls ``fetch`` every ``interval`` seconds on a thread, sooner when ``wanted`` is set."""

    def __init__(
        self,
        fetch: Callable[[], bool],
        interval: float = 1.0,
        wanted: threading.Event | None = None,
    ) -> None:
        self.fetch = fetch
        self.interval = interval
        self.wanted = wanted or threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="display-poller", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread to end."""
        self._stop.set()
        self.wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.fetch()
            except Exception:  # the board must keep running whatever the server sends
                log.exception("unexpected error while fetching")
            self.wanted.wait(self.interval)
            self.wanted.clear()
