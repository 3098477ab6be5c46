"""Stack lights and andon buttons at the line, in ``andon run`` or on an edge Pi (``andon edge``).

In ``andon run`` the live hub feeds each line's light (a state listener) and buttons call the andon
service in process. On an edge Pi the light follows the server's ``/ws`` stream and buttons raise
over HTTP with the edge's bearer token. Either way the latest state is shown again within the
light's fail-safe time; while the edge has no live stream nothing is shown, so the light falls to
its fail-safe pattern instead of freezing on a stale green.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.extras import missing_line
from andon.state import LineState
from devices import catalog
from devices.andon_button import AndonActions, AndonButton
from devices.base import FaultLog
from devices.connections import Connections, edge_broker
from devices.stack_light import StackLight

if TYPE_CHECKING:
    from andon.andons import AndonService
    from andon.services import Services

log = logging.getLogger(__name__)

StateGetter = Callable[[str], LineState | Mapping[str, Any] | None]


class NoOpenCall(LookupError):
    """Acknowledge or resolve found no open call for the station and category."""


def _open_call_id(calls: Sequence[Mapping[str, Any]], line: str, station: str, category: str) -> int:
    station = station.strip()
    for call in calls:
        if call.get("station") == station and call.get("category") == category:
            return int(call["id"])
    raise NoOpenCall(f"no open andon call on {line} station {station!r} for {category!r}")


class ServiceActions:
    """AndonActions over the in-process andon service (``andon run``). Thread-safe."""

    def __init__(self, service: AndonService) -> None:
        self.service = service

    def raise_call(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Raise a call (or get the open one for this station and category)."""
        call, _created = self.service.raise_call(line, station, category, source)
        return call

    def acknowledge(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Acknowledge the open call of this station and category."""
        call_id = _open_call_id(self.service.open_brief(line), line, station, category)
        return self.service.acknowledge(call_id, source)

    def resolve(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Resolve the open call of this station and category."""
        call_id = _open_call_id(self.service.open_brief(line), line, station, category)
        return self.service.resolve(call_id, source)


class RemoteAndonError(RuntimeError):
    """The server could not be reached or refused an andon action."""


class RemoteAndonActions:
    """AndonActions over the server's HTTP API (edge Pi). Thread-safe; blocks its caller's thread.

    Raising is retried after a transport error or a 5xx (the server's raise is idempotent);
    acknowledge and resolve are retried only when the request never reached the server.
    The button's id goes into the call's note ("raised by button:st3-quality"), since the server
    records the token's name as who raised, acknowledged and resolved.
    """

    def __init__(
        self, server: str, token: str | None = None, timeout: float = 5.0,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0),
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self.retry_delays = retry_delays
        self._client = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)
        self._lock = threading.Lock()

    def raise_call(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Raise a call on the server (or get the open one)."""
        body = {"line": line, "station": station, "category": category, "note": f"raised by {source}"}
        call: dict[str, Any] = self._request("POST", "/api/andons", body, idempotent=True)
        return call

    def acknowledge(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Acknowledge the open call of this station and category on the server."""
        return self._step(line, station, category, "acknowledge", f"acknowledged by {source}")

    def resolve(self, line: str, station: str, category: str, source: str) -> dict[str, Any]:
        """Resolve the open call of this station and category on the server."""
        return self._step(line, station, category, "resolve", f"resolved by {source}")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _step(self, line: str, station: str, category: str, action: str, note: str) -> dict[str, Any]:
        call_id = self._open_call(line, station, category)
        call: dict[str, Any] = self._request("POST", f"/api/andons/{call_id}/{action}", {"note": note})
        return call

    def _open_call(self, line: str, station: str, category: str) -> int:
        calls = self._request("GET", f"/api/andons?line={line}&state=open", None, idempotent=True)
        return _open_call_id(calls, line, station, category)

    def _request(self, method: str, url: str, body: Any, idempotent: bool = False) -> Any:
        delays = (*self.retry_delays, None)
        for delay in delays:
            try:
                with self._lock:
                    reply = self._client.request(method, url, json=body)
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if delay is None or not (idempotent or unsent):
                    raise RemoteAndonError(f"server {self.server} unreachable: {type(exc).__name__} {exc}") from exc
                time.sleep(delay)
                continue
            if reply.status_code >= 500 and idempotent and delay is not None:
                time.sleep(delay)
                continue
            if reply.status_code >= 400:
                try:
                    detail = reply.json().get("detail", reply.text)
                except ValueError:
                    detail = reply.text
                raise RemoteAndonError(f"server answered {reply.status_code} to {method} {url}: {detail}")
            return reply.json()
        raise AssertionError("unreachable")  # pragma: no cover - the last delay is None


class LineHardware:
    """The stack lights and andon buttons of the chosen lines, run as tasks on one event loop.

    Feed it line states with ``state_listener`` (any thread); each light shows only the latest
    state (a slow Patlite never queues old ones), and ``refresh_state`` is asked again every
    ``refresh_seconds`` (default a third of the light's fail-safe time) so the light stays fed.
    """

    def __init__(
        self, config: Config, actions: AndonActions, clock: Clock, line_ids: list[str] | None = None,
        connections: Connections | None = None, refresh_state: StateGetter | None = None,
        refresh_seconds: float | None = None, restart_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.actions = actions
        self.clock = clock
        self.connections = connections or Connections(clock, mqtt=config.mqtt)
        self.refresh_state = refresh_state or self.latest
        self.restart_delay = restart_delay
        self.lights: dict[str, StackLight] = {}
        self.buttons: list[AndonButton] = []
        wanted = [line for line in config.lines if line_ids is None or line.id in line_ids]
        lights, buttons = catalog.lights(), catalog.buttons()
        for line in wanted:
            light = line.stack_light
            if light is not None and _installed(lights[light.type], f"the {light.type} stack light of {line.id}"):
                self.lights[line.id] = lights[light.type].driver_class(light, self.connections)
            for button in line.andon.buttons:
                if _installed(buttons[button.type], f"the {button.type} andon button of {line.id}"):
                    self.buttons.append(buttons[button.type].driver_class(button, line.id, actions, self.connections))
        periods = [light.config.fail_safe_after_seconds / 3 for light in self.lights.values()]
        self.refresh_seconds = refresh_seconds or min(periods, default=5.0)
        self._latest: dict[str, LineState | Mapping[str, Any]] = {}
        self._dirty: set[str] = set()
        self._showing: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresh_fault = FaultLog(log, "stack light refresh")

    def latest(self, line_id: str) -> LineState | Mapping[str, Any] | None:
        """Return the last state received for a line."""
        return self._latest.get(line_id)

    def state_listener(self, line_id: str, state: LineState | Mapping[str, Any]) -> None:
        """Show a line's new state on its light soon; never blocks (any thread)."""
        loop = self._loop
        if loop is None or line_id not in self.lights:
            self._latest[line_id] = state
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._schedule(line_id, state)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._schedule, line_id, state)

    def _schedule(self, line_id: str, state: LineState | Mapping[str, Any]) -> None:
        self._latest[line_id] = state
        self._dirty.add(line_id)
        task = self._showing.get(line_id)
        if task is None or task.done():
            self._showing[line_id] = asyncio.create_task(self._show_latest(line_id), name=f"light {line_id}")

    async def _show_latest(self, line_id: str) -> None:
        light = self.lights[line_id]
        while line_id in self._dirty:
            self._dirty.discard(line_id)
            try:
                await light.show_state(self._latest[line_id])
            except Exception:  # a driver bug must not stop the other lights
                log.exception("stack light of %s failed to show a state", line_id)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            for line_id in self.lights:
                try:
                    state = self.refresh_state(line_id)
                except Exception as exc:  # no state we can vouch for: let the light fall to fail-safe
                    self._refresh_fault.fault(f"state of {line_id} unavailable: {exc}")
                    continue
                self._refresh_fault.ok()
                if state is not None:
                    self._schedule(line_id, state)

    async def start(self) -> None:
        """Start every light and button, and the periodic refresh."""
        self._loop = asyncio.get_running_loop()
        for line_id, light in self.lights.items():
            self._tasks.append(asyncio.create_task(
                self._keep_running(f"stack light {line_id} ({light.describe()})", light.run), name=f"light {line_id}"))
            if line_id in self._latest:
                self._schedule(line_id, self._latest[line_id])
        for button in self.buttons:
            name = f"andon button {button.line}/{button.describe()}"
            self._tasks.append(asyncio.create_task(self._keep_running(name, button.run), name=name))
        if self.lights:
            self._tasks.append(asyncio.create_task(self._refresh_forever(), name="stack light refresh"))
        if self.lights or self.buttons:
            log.info("running %d stack light(s) and %d andon button(s)", len(self.lights), len(self.buttons))

    async def _keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await run()
                return  # a driver that ends on its own (broker refused for good) said why
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s stopped with an error; restarting in %.0f s", name, self.restart_delay)
                await asyncio.sleep(self.restart_delay)

    async def stop(self) -> None:
        """Stop buttons and lights (each light closes its device) and wait for them."""
        tasks = [*self._tasks, *self._showing.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._showing.clear()
        self._loop = None


def _installed(driver: catalog.Driver, what: str) -> bool:
    """Say whether a driver's libraries are there; log one line per missing one (it is not started)."""
    absent = driver.missing()
    for library in absent:
        log.error("%s", missing_line(what, library))
    return not absent


def attach_hardware(services: Services, connections: Connections | None = None) -> LineHardware:
    """Build the lights and buttons of ``andon run`` and register their state listener with the hub."""
    hardware = LineHardware(services.config, ServiceActions(services.andons), services.clock,
                            connections=connections, refresh_state=services.states.of)
    services.hub.state_listeners.append(hardware.state_listener)
    return hardware


def stream_url(server: str) -> str:
    """Return the WebSocket URL of a server's live stream (http -> ws, https -> wss)."""
    base = server.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):] + "/ws"
    raise ValueError(f"server URL {server!r} must start with http:// or https://")


class RemoteStateFeed:
    """Follow the server's ``/ws`` stream and hand each state of the chosen lines to ``on_state``.

    Reconnects with backoff. WebSocket pings every ``ping_seconds`` find a dead link within
    about twice that; while disconnected ``current`` returns None, so nothing feeds the light.
    """

    def __init__(
        self, server: str, token: str | None, line_ids: list[str],
        on_state: Callable[[str, LineState | Mapping[str, Any]], None],
        retry_min: float = 0.5, retry_max: float = 30.0, ping_seconds: float = 5.0,
    ) -> None:
        self.url = stream_url(server)
        self.token = token
        self.line_ids = set(line_ids)
        self.on_state = on_state
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.ping_seconds = ping_seconds
        self.connected = False
        self.connections = 0
        self._latest: dict[str, LineState | Mapping[str, Any]] = {}
        self.faults = FaultLog(log, f"live stream {self.url}")

    def current(self, line_id: str) -> LineState | Mapping[str, Any] | None:
        """Return the last state of a line while the stream is up, else None."""
        return self._latest.get(line_id) if self.connected else None

    def handle(self, message: Mapping[str, Any]) -> None:
        """Take one stream message; states of other lines and other messages are ignored."""
        if message.get("type") != "state":
            return
        line_id, state = message.get("line"), message.get("state")
        if line_id in self.line_ids and isinstance(state, Mapping):
            self._latest[str(line_id)] = state
            self.on_state(str(line_id), state)

    async def run(self) -> None:
        """Follow the stream until cancelled, reconnecting with backoff."""
        import json

        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        delay = self.retry_min
        while True:
            try:
                async with connect(self.url, additional_headers=headers, open_timeout=10,
                                   ping_interval=self.ping_seconds, ping_timeout=self.ping_seconds) as ws:
                    async for raw in ws:
                        if not self.connected:
                            self.connected, delay = True, self.retry_min
                            self.connections += 1
                            self.faults.ok()
                            log.info("following %s for line(s) %s", self.url, ", ".join(sorted(self.line_ids)))
                        try:
                            message = json.loads(raw)
                        except ValueError:
                            log.debug("not JSON on %s: %r", self.url, raw[:80])
                            continue
                        if isinstance(message, Mapping):
                            self.handle(message)
                    reason = f"server closed the stream ({ws.close_code} {ws.close_reason})".strip()
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.connected = False
            self.faults.fault(f"{reason}; stack light not fed (falls to fail-safe), retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)


class EdgeHardware:
    """An edge Pi's lights and buttons: states from the server's stream, presses over HTTP."""

    def __init__(
        self, config: Config, line_ids: list[str], server: str, token: str | None = None, *,
        clock: Clock | None = None, pin_factory: Any = None, name: str = "edge",
        retry_min: float = 0.5, retry_max: float = 30.0, ping_seconds: float = 5.0,
        retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0), refresh_seconds: float | None = None,
    ) -> None:
        known = [line.id for line in config.lines]
        unknown = [line_id for line_id in line_ids if line_id not in known]
        if unknown or not line_ids:
            raise ValueError(f"unknown line(s) {unknown}; the config has {known}" if unknown else "no line named")
        clock = clock or SystemClock()
        # Its own client ids: the server's (or another edge's) MQTT sessions must not be taken over.
        connections = Connections(clock, mqtt=edge_broker(config.mqtt, name), pin_factory=pin_factory)
        self.actions = RemoteAndonActions(server, token, retry_delays=retry_delays)
        self.hardware = LineHardware(config, self.actions, clock, line_ids, connections,
                                     refresh_state=self._current, refresh_seconds=refresh_seconds)
        self.feed = RemoteStateFeed(server, token, line_ids, self.hardware.state_listener,
                                    retry_min=retry_min, retry_max=retry_max, ping_seconds=ping_seconds)
        self._feed_task: asyncio.Task[None] | None = None

    def _current(self, line_id: str) -> LineState | Mapping[str, Any] | None:
        return self.feed.current(line_id)

    async def start(self) -> None:
        """Start the lights, buttons and the stream."""
        await self.hardware.start()
        self._feed_task = asyncio.create_task(self.feed.run(), name="edge live stream")

    async def stop(self) -> None:
        """Stop the stream, buttons and lights, and close the HTTP client."""
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
            self._feed_task = None
        await self.hardware.stop()
        await asyncio.to_thread(self.actions.close)

    async def run(self) -> None:
        """Run until cancelled, then stop cleanly."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def run_edge_hardware(config: Config, line_ids: list[str], server: str, token: str | None = None,
                            **options: Any) -> None:
    """Run the named lines' stack lights and andon buttons against a server until cancelled."""
    await EdgeHardware(config, line_ids, server, token, **options).run()
