"""Follow the API's live stream on a thread of its own and hand each message to the client.

The follower itself (URL, token, reconnecting with backoff, logging) is the one the edge uses
(``andon.follow``); here it gets an event loop on a thread, so the pygame loop never waits on the
network. Pushes only make changes show sooner (an andon raise appears at once); the HTTP poller
keeps running underneath and is what proves the data fresh, so a silent socket never freezes the
board: after ``--stale-after`` seconds without a good fetch it shows STALE.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from andon.clock import Clock, SystemClock
from andon.follow import MessageHandler, StreamFollower


class WebSocketListener:
    """A thread that follows ``server``'s ``/ws`` and passes each JSON object to ``on_message``."""

    def __init__(
        self, server: str, on_message: MessageHandler, *, token: str | None = None, clock: Clock | None = None,
        retry_min: float = 1.0, retry_max: float = 30.0,
    ) -> None:
        self.follower = StreamFollower(
            server, on_message, clock=clock or SystemClock(), token=token, name="display live stream",
            meanwhile="polling continues, retrying", retry_min=retry_min, retry_max=retry_max,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="display-websocket", daemon=True)

    @property
    def connected(self) -> bool:
        """Return True while the stream is up."""
        return self.follower.connected

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the stream is up; return False after ``timeout`` seconds."""
        return self.follower.wait_connected(timeout)

    def start(self) -> None:
        """Start following."""
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        """Close the stream and wait for the thread to end."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended between the check and the call
                loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._follow())

    async def _follow(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.follower.run(), name="display live stream")
        self._ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
