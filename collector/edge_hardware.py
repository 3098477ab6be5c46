"""An edge Pi's stack lights and andon buttons: states from the server's ``/ws`` stream, presses over HTTP.

The light is fed only while the stream is up (``RemoteStateFeed.current`` is None otherwise), so
with the server away it falls to its fail-safe pattern instead of freezing on a stale green.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.follow import StreamFollower, stream_urls
from andon.state import LineState
from collector.andon_actions import RemoteAndonActions
from collector.line_hardware import LineHardware
from devices.connections import Connections, edge_broker


class RemoteStateFeed:
    """Follow the server's stream and hand each state of the chosen lines to ``on_state``.

    While the stream is down ``current`` returns None, so nothing feeds the light.
    """

    def __init__(
        self, server: str, token: str | None, line_ids: list[str],
        on_state: Callable[[str, LineState | Mapping[str, Any]], None], *, clock: Clock | None = None,
        retry_min: float = 0.5, retry_max: float = 30.0, ping_seconds: float = 5.0,
    ) -> None:
        self.line_ids = set(line_ids)
        self.on_state = on_state
        self.follower = StreamFollower(
            server, self.handle, clock=clock or SystemClock(), token=token, name="live stream",
            meanwhile="stack light not fed (falls to fail-safe), retrying", retry_min=retry_min,
            retry_max=retry_max, ping_seconds=ping_seconds,
        )
        self.url = self.follower.url
        self._latest: dict[str, LineState | Mapping[str, Any]] = {}

    @property
    def connected(self) -> bool:
        """Return True while the stream is up."""
        return self.follower.connected

    @property
    def connections(self) -> int:
        """Return how many times the stream came up."""
        return self.follower.connections

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
        await self.follower.run()


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
        stream_urls(server)  # a bad server URL (of one, or of a pair) is refused before anything is opened
        clock = clock or SystemClock()
        # Its own client ids: the server's (or another edge's) MQTT sessions must not be taken over.
        connections = Connections(clock, mqtt=edge_broker(config.mqtt, name), pin_factory=pin_factory)
        self.actions = RemoteAndonActions(server, token, retry_delays=retry_delays)
        self.hardware = LineHardware(config, self.actions, clock, line_ids, connections,
                                     refresh_state=self._current, refresh_seconds=refresh_seconds)
        self.feed = RemoteStateFeed(server, token, line_ids, self.hardware.state_listener, clock=clock,
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
