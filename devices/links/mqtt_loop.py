"""A paho client driven by an asyncio event loop instead of its own network thread.

In ``andon run`` the loop already computes line states and serves the API; a count read on the loop is
tallied, its state computed and published without handing the message from thread to thread (with paho's
network threads every message crossed four threads, and the hand-overs cost more than the work). The loop
reads the socket when it is readable, writes what paho queued once per pass of the loop (one write for a
burst of publishes and acknowledgements), pings the broker and reconnects with backoff (1 s doubling to
30 s, as paho's own loop does with the link's settings).

paho's client is not safe to drive from two threads at once: every call into it goes through ``call``,
which runs at once on the loop and is queued for the loop from any other thread (the writer's
acknowledgements of a committed batch arrive that way, in one wake-up). The blocking part of a connection
(name lookup, TCP connect, TLS handshake) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import paho.mqtt.client as paho

from andon import passes
from devices.links.mqtt_client import Client

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_RECONNECT_SECONDS = 1.0
MAX_RECONNECT_SECONDS = 30.0
CALL_TIMEOUT_SECONDS = 5.0  # a call from another thread waits this long for the loop


class LoopDriver:
    """Drive one paho client from ``loop``: connection, reads, writes, keepalive and reconnects.

    ``on_connect_failed`` is told of every connection attempt that did not reach the broker; paho's own
    callbacks (connect, disconnect, messages) run on the loop as usual. ``closing`` says when to stop
    reconnecting (the link closed, or the broker refused it for good). ``orphaned`` is told when the loop
    ends before the link is closed (``asyncio.run`` cancels every task at its end): the link then hands the
    client over to paho's own thread (``hand_over``).
    """

    def __init__(
        self, client: Client, loop: asyncio.AbstractEventLoop, *, on_connect_failed: Callable[[], None],
        closing: Callable[[], bool], orphaned: Callable[[LoopDriver], None],
    ) -> None:
        self.client = client
        self.loop = loop
        self._on_connect_failed = on_connect_failed
        self._closing = closing
        self._orphaned = orphaned
        self._stopping = False  # close() cancels the connection task; any other cancellation ends the loop
        self._handed_over = False
        self._thread = threading.get_ident()
        self._queued: deque[Callable[[], None]] = deque()
        self._queued_lock = threading.Lock()
        self._sock: Any = None
        self._writing = False  # a write is due on this pass of the loop
        self._writer_added = False  # the socket is watched for room to write (the kernel's buffer was full)
        self._socket_closed = asyncio.Event()
        self._accepted = False  # the broker accepted the connection now open
        self._task: asyncio.Task[None] | None = None
        self._writes = 0  # passes that wrote, so a read can tell whether anything carried its acknowledgement
        client.quick_ack_per_read = False  # _readable asks for the quick acknowledgement when nothing answers
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._write_wanted
        client.on_socket_unregister_write = self._write_done

    def on_loop(self) -> bool:
        """Say whether the caller runs on the loop's thread."""
        return threading.get_ident() == self._thread

    def alive(self) -> bool:
        """Say whether the loop can still drive the client (it is not closed)."""
        return not self.loop.is_closed()

    def hand_over(self) -> None:
        """The loop is gone or ending: leave the client to paho's own network thread, then run what was queued
        for the loop."""
        client = self.client
        sock = client.socket()
        if sock is not None and self.on_loop() and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(sock)
                self.loop.remove_writer(sock)
        client.on_socket_open = None
        client.on_socket_close = None
        client.on_socket_register_write = None
        client.on_socket_unregister_write = None
        client.quick_ack_per_read = True
        self._task = None
        self._handed_over = True  # a read or write the loop still had scheduled must not race paho's thread
        client.loop_start()
        self._thread = -1  # no caller is on the loop any more
        self._run_queued()

    def start(self) -> None:
        """Connect in the background (call on the loop)."""
        self._task = self.loop.create_task(self._run(), name=f"mqtt {self.client._client_id!r}")

    def accepted(self) -> None:
        """Note that the broker accepted the connection (the next drop waits the shortest time)."""
        self._accepted = True

    # --- calls from any thread -------------------------------------------------------------

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop: now when called there, else at its next pass (in order, one wake-up a burst)."""
        if self.on_loop():
            fn()
            return
        with self._queued_lock:
            wake = not self._queued
            self._queued.append(fn)
        if wake:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing runs any more
                self.loop.call_soon_threadsafe(self._run_queued)

    def call_and_wait(self, fn: Callable[[], T], timeout: float = CALL_TIMEOUT_SECONDS) -> T | None:
        """Run ``fn`` on the loop and return its result; None when the loop did not run it within ``timeout``."""
        if self.on_loop():
            return fn()
        if self.loop.is_closed() or not self.loop.is_running():
            return fn()  # nobody else drives the client now
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.call(run)
        try:
            return done.result(timeout)
        except concurrent.futures.TimeoutError:
            log.error("MQTT client %s: the event loop did not answer within %.0f s", self.client._client_id, timeout)
            return None

    def _run_queued(self) -> None:
        while True:
            with self._queued_lock:
                if not self._queued:
                    return
                fn = self._queued.popleft()
            try:
                fn()
            except Exception:
                log.exception("MQTT client %s: a queued call failed", self.client._client_id)

    # --- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Send a clean goodbye with whatever is queued, close the socket and stop reconnecting (on the loop)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        client = self.client
        client.disconnect()
        if client.socket() is not None:
            with contextlib.suppress(Exception):
                client.loop_write()  # paho closes the socket once its DISCONNECT is written
        client.drop_socket()

    # --- paho's socket callbacks (on the loop) ----------------------------------------------

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._sock = sock
        self._socket_closed.clear()
        self._accepted = False
        self.loop.add_reader(sock, self._readable)

    def _socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._sock is sock:
            self._sock = None
        with contextlib.suppress(Exception):
            self.loop.remove_reader(sock)
        self._write_done(client, userdata, sock)
        self._socket_closed.set()

    def _write_wanted(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if not self._writing:
            self._writing = True
            if not passes.defer(self._write):  # in a read's pass: written at its end, after what the read set going
                self.loop.call_soon(self._write)

    def _write_done(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._writing = False
        if self._writer_added:
            self._writer_added = False
            with contextlib.suppress(Exception):
                self.loop.remove_writer(sock)

    def _write(self) -> None:
        """Write what paho queued in this pass; wait for room in the socket when the kernel's buffer is full."""
        self._writing = False
        client = self.client
        if self._handed_over or client.socket() is None:
            return
        self._writes += 1
        client.loop_write()
        sock = client.socket()
        if sock is not None and client.want_write() and not self._writer_added:
            self._writer_added = True
            self.loop.add_writer(sock, self._writable)

    def _writable(self) -> None:
        if not self._handed_over:
            self.client.loop_write()  # once all is written, paho's unregister callback (_write_done) stops the watch

    def _readable(self) -> None:
        client = self.client
        if self._handed_over:
            return
        outer = passes.begin()
        writes = self._writes
        try:
            for _ in range(1000):  # a TLS socket can hold decrypted bytes the selector does not see
                if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                    return
                pending = getattr(client.socket(), "pending", None)
                if pending is None or not pending():
                    return
        finally:
            if outer:
                passes.end()  # the states the counts set going, published, and what that queued, written
            if writes == self._writes and not self._handed_over:
                self._quick_ack()

    def _quick_ack(self) -> None:
        """Nothing was written back in this read's pass: have the kernel acknowledge the read at once.

        The broker holds its next small packet until the last is acknowledged (Nagle's rule), and the kernel,
        left to itself, waits up to 40 ms for data to carry an acknowledgement. A QoS 1 count is acknowledged
        only after its commit, but its state goes out in the same pass on the same connection when the
        publisher shares it, and carries the acknowledgement: then none is sent of its own (a system call and
        a packet saved). A read that only brought the broker's PUBACKs is acknowledged here.
        """
        if self.client.socket() is not None:
            self.client.quick_ack()

    # --- connecting ---------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._connect_and_watch()
        except asyncio.CancelledError:
            if not self._stopping:
                self._orphaned(self)
            raise

    async def _connect_and_watch(self) -> None:
        client = self.client
        delay = MIN_RECONNECT_SECONDS
        while not self._closing():
            try:
                client.prepare_socket(await asyncio.to_thread(client.build_socket))
                if self._closing():
                    client.prepare_socket(None)
                    return
                client.reconnect()  # opens the prepared socket (on the loop) and queues CONNECT
            except Exception as exc:  # refused, unreachable, bad name, TLS: the broker is away; retry
                log.debug("MQTT client %s: connection failed: %s", client._client_id, exc)
                client.prepare_socket(None)
                self._on_connect_failed()
            else:
                await self._watch(client)
                if self._accepted:
                    delay = MIN_RECONNECT_SECONDS
                    self._accepted = False
                    await asyncio.sleep(delay)
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)

    async def _watch(self, client: Client) -> None:
        """Keep the connection alive (pings) until its socket closes."""
        while client.socket() is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._socket_closed.wait(), timeout=1.0)
            if client.socket() is not None:
                client.loop_misc()
