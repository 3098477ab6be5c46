"""Live fan-out: line state and andon events to WebSocket clients, MQTT and stack lights.

Counts arrive on any thread; the hub coalesces bursts per line into one state computation on
the event loop and sends it only when something a client can see changed. A one-second tick
catches what changes with time alone (plan grows, a silent line becomes stopped).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andon import passes
from andon.andons import AndonService, andon_signal
from andon.calendar import ShiftInstance
from andon.line import LineRuntime
from andon.plant import Plant
from andon.state import AndonBrief, LineState, LiveState, StopBrief, state_document
from andon.stops import StopService
from andon.takt import ShiftPlan

log = logging.getLogger(__name__)

StateListener = Callable[[str, LiveState], None]
Brief = dict[str, Any] | None
_ANDON_FIELDS = tuple(AndonBrief.model_fields)
_STOP_FIELDS = tuple(StopBrief.model_fields)
EventListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class _KeptStops:
    """A line's open stop and stop prompt as found at ``since``, with what they were found from."""

    plan: ShiftPlan
    key: tuple[tuple[str, str], int, int]  # the shift, the line's stop version, the stop service's version
    since: float
    until: float  # time alone changes neither before this
    found: tuple[Brief, Brief]


class LineStates:
    """Every line's live state with its open andon calls: what boards, lights and publishers show."""

    def __init__(self, plant: Plant, andons: AndonService, stops: StopService) -> None:
        self.plant = plant
        self.andons = andons
        self.stops = stops
        self._kept: dict[str, _KeptStops] = {}

    def of(self, line_id: str) -> LineState:
        """Return one line's state now (raise UnknownLine for a line not in the config)."""
        return LineState.model_validate(self.document(line_id))

    def document(self, line_id: str) -> dict[str, Any]:
        """Return one line's state now as its document: plain JSON values, the model's fields in order."""
        line = self.plant.line(line_id)
        now = self.plant.clock.now()
        fields = line.state_fields(now)
        calls = self.andons.open_brief(line_id)
        fields["open_andons"] = [{k: c[k] for k in _ANDON_FIELDS} for c in calls]
        fields["andon"] = andon_signal(calls)
        instance = line.calendar.at(now)
        if instance is not None:
            stops = self._stops(line, instance, now)
            if stops is None:
                return state_document(fields)
            fields["stop"], fields["stop_prompt"] = (None if s is None else dict(s) for s in stops)
        return state_document(fields)

    def _stops(self, line: LineRuntime, instance: ShiftInstance, now: float) -> tuple[Brief, Brief] | None:
        """Return the open stop and the stop waiting for its reason, as the state shows them (None: not known).

        Kept from one state to the next while they cannot have changed: the same shift and plan, no change of
        the line's stops (a count that opens, ends or moves one changes them), and a time before which time alone
        changes neither (a busy line has a state per count; their search is most of a state's cost).
        """
        plan = line.plan_for(instance)
        key = (instance.key, line.stop_version, self.stops.versions.get(line.id, 0))
        kept = self._kept.get(line.id)
        if kept is not None and kept.plan is plan and kept.key == key and kept.since <= now < kept.until:
            return kept.found
        # The running shift's tallies are in memory once its state was computed (line.state loads them); its
        # good-count times too after the first load, so a restart shows the open stop and the prompt at once.
        line.prime(instance)
        try:
            recent = self.stops.sync(line, instance, now)[-8:]
            # The open stop, and the latest that waits for its reason: only a detected stop without a reason
            # can wait for one, so only those are described in the search.
            opened = next((r for r in recent if r.end is None), None)
            open_stop = self.stops.describe(line, opened, now) if opened is not None else None
            waiting = None
            # Until when these hold: an open stop changes as it goes on; none opens before the quiet time; a
            # closed stop without a reason comes to need one reason_after_seconds after it began.
            until = now if open_stop is not None else line.quiet_until(instance, now)
            reason_after = line.config.losses.reason_after_seconds
            for record in reversed(recent):
                if record.reason is None and record.origin == "detected":
                    described = open_stop if record is opened and open_stop is not None \
                        else self.stops.describe(line, record, now)
                    if described["needs_reason"]:
                        waiting = described
                        break
                    if not described["small"]:
                        until = min(until, record.start + reason_after)
        except Exception:
            log.exception("line %s: the stops of the state could not be brought up to date", line.id)
            return None
        found = (_brief(open_stop), _brief(waiting))
        self._kept[line.id] = _KeptStops(plan, key, now, until, found)
        return found


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    """Say whether ``loop`` runs this thread's code now."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _brief(stop: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a described stop as the state shows it (``StopBrief``'s fields in order)."""
    if stop is None:
        return None
    return {k: stop[k] for k in _STOP_FIELDS}


class LiveHub:
    """Compute and fan out line state and events; every public method is thread-safe.

    Listeners may join before ``start``; until the loop is given, changes and events wait for it.
    """

    def __init__(self, plant: Plant, states: LineStates, queue_size: int = 256, min_interval: float = 0.005) -> None:
        self.plant = plant
        self.states = states
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None  # the thread that runs the loop
        self.queue_size = queue_size
        # Leading edge: a change is computed at once, unless the line's state was computed less than
        # min_interval ago; then once when the interval ends. A line counting every 10 ms gets a state
        # per count; a flood on one line costs at most 200 states a second, and a count waits at most 5 ms.
        self.min_interval = min_interval
        self._computed_at: dict[str, float] = {}
        self._deferred: set[str] = set()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._last: dict[str, bytes] = {}
        self._latest: dict[str, LiveState] = {}
        self._clients: set[asyncio.Queue[dict[str, Any]]] = set()
        self.state_listeners: list[StateListener] = []
        self.event_listeners: list[EventListener] = []
        plant.on_change(self.line_changed)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve from ``loop`` from now on; lines that changed before it (counts at start-up) are sent at once."""
        self.loop = loop
        self._loop_thread = threading.get_ident() if _running(loop) else None
        with self._pending_lock:
            waiting = bool(self._pending)
        if waiting:
            # Their wake-up found no loop; without this the set stays non-empty, no later change wakes
            # the loop again, and states would only move with the once-a-second tick.
            loop.call_soon_threadsafe(self._flush)

    def stop(self) -> None:
        """Stop serving (changes are dropped until the next start)."""
        self.loop = None
        self._loop_thread = None
        self._clients.clear()

    # --- inputs (any thread) ------------------------------------------------------------
    def line_changed(self, line_id: str) -> None:
        """Note that a line changed; its state is recomputed on the loop, once per burst."""
        with self._pending_lock:
            if line_id in self._pending:
                return  # already due: a burst of counts costs one wake-up and one state
            wake = not self._pending
            self._pending.add(line_id)
        if wake:
            self._call(self._flush_soon)

    def event(self, message: dict[str, Any]) -> None:
        """Send an event (andon, board, problem) to every client and listener."""
        self._call(self._send_event, message)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is None:
            return
        # On the loop's thread, at once. (The thread is compared, not asyncio's running loop: asking for that is a
        # system call, getpid, in every call; a count read on the loop comes here.)
        if self._loop_thread == threading.get_ident() or (self._loop_thread is None and _running(loop)):
            fn(*args)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    # --- on the loop --------------------------------------------------------------------
    def _flush_soon(self) -> None:
        # At the end of the loop's callback that brought the change (a read of counts), else as a callback.
        if self.loop is not None and not passes.defer(self._flush):
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        loop = self.loop
        if loop is None:
            return
        with self._pending_lock:
            lines, self._pending = self._pending, set()
        now = loop.time()
        due = []
        for line_id in sorted(lines):
            wait = self._computed_at.get(line_id, -1e9) + self.min_interval - now
            if wait <= 0:
                due.append(line_id)
            elif line_id not in self._deferred:
                self._deferred.add(line_id)
                loop.call_later(wait, self._refresh_deferred, line_id)
        self.refresh(due)

    def _refresh_deferred(self, line_id: str) -> None:
        self._deferred.discard(line_id)
        self.refresh([line_id])

    def refresh(self, line_ids: list[str] | None = None, *, paced: bool = True) -> None:
        """Recompute states now and send the changed ones (call on the loop).

        ``paced``: the throttle counts this computation (changes do; the tick does not, or a count coming just
        after a line's tick would wait out the interval).
        """
        loop = self.loop
        for line_id in line_ids if line_ids is not None else list(self.plant.lines):
            if loop is not None and paced:
                self._computed_at[line_id] = loop.time()
            try:
                state = LiveState(self.states.document(line_id))
                key = state.visible()
            except Exception:
                log.exception("computing the state of line %s failed", line_id)
                continue
            if self._last.get(line_id) == key:
                continue
            self._last[line_id] = key
            self._latest[line_id] = state
            if self._clients:
                self._broadcast({"type": "state", "line": line_id, "state": state.document})
            for listener in list(self.state_listeners):
                try:
                    listener(line_id, state)
                except Exception:
                    log.exception("a state listener failed")

    def _send_event(self, message: dict[str, Any]) -> None:
        self._broadcast(message)
        for listener in list(self.event_listeners):
            try:
                listener(message)
            except Exception:
                log.exception("an event listener failed")

    def _broadcast(self, message: dict[str, Any]) -> None:
        for queue in list(self._clients):
            if queue.full():
                # A client that stopped reading is dropped rather than slowing everyone down;
                # its socket handler sees it gone and closes the connection.
                self._clients.discard(queue)
                continue
            queue.put_nowait(message)

    def connect(self) -> asyncio.Queue[dict[str, Any]]:
        """Register a client; it first receives the current state of every line."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        for line_id in self.plant.lines:
            latest = self._latest.get(line_id)
            document = latest.document if latest is not None else self.states.document(line_id)
            queue.put_nowait({"type": "state", "line": line_id, "state": document})
        self._clients.add(queue)
        return queue

    def disconnect(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Forget a client."""
        self._clients.discard(queue)

    @property
    def clients(self) -> int:
        """Return how many clients are connected."""
        return len(self._clients)

    async def tick(self, period: float = 1.0, lines_per_pass: int = 4) -> None:
        """Refresh every line (its stops, then its state) each period until cancelled.

        A few lines a pass of the loop: a plant of a hundred lines is some 10 ms of work, and a count read
        meanwhile would wait for all of it. A line whose state a change computed in the last quarter period is
        left to its next change or tick.
        """
        loop = asyncio.get_running_loop()
        while True:
            for index, line in enumerate(list(self.plant.lines.values())):
                try:
                    self.states.stops.tick_line(line)
                except Exception:
                    log.exception("line %s: bringing its stops up to date failed", line.id)
                if loop.time() - self._computed_at.get(line.id, -1e9) >= period / 4:  # a counting line is fresh
                    self.refresh([line.id], paced=False)
                if index % lines_per_pass == lines_per_pass - 1:
                    await asyncio.sleep(0)
            await asyncio.sleep(period)
